/* Per-tensor type rules of llama.cpp's quantizer (facts read from its llama-quant.cpp:
 * llama_tensor_get_type_impl, tensor_allows_quantization, tensor_type_fallback), for the
 * file types we make. Rules for architectures we do not run (Falcon, 70B-only tweaks)
 * are left out. */
#include "models/quant_mix.h"
#include "tensor/dtype.h"
#include "infer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const quant_ftype_info FTYPES[] = {
    {"F32", QF_ALL_F32, INFER_TYPE_F32},     {"F16", QF_F16, INFER_TYPE_F16},
    {"BF16", QF_BF16, INFER_TYPE_BF16},      {"Q8_0", QF_Q8_0, INFER_TYPE_Q8_0},
    {"Q4_0", QF_Q4_0, INFER_TYPE_Q4_0},      {"Q4_1", QF_Q4_1, INFER_TYPE_Q4_1},
    {"Q5_0", QF_Q5_0, INFER_TYPE_Q5_0},      {"Q5_1", QF_Q5_1, INFER_TYPE_Q5_1},
    {"Q2_K", QF_Q2_K, INFER_TYPE_Q2_K},      {"Q3_K_S", QF_Q3_K_S, INFER_TYPE_Q3_K},
    {"Q3_K_M", QF_Q3_K_M, INFER_TYPE_Q3_K},  {"Q3_K_L", QF_Q3_K_L, INFER_TYPE_Q3_K},
    {"Q4_K_S", QF_Q4_K_S, INFER_TYPE_Q4_K},  {"Q4_K_M", QF_Q4_K_M, INFER_TYPE_Q4_K},
    {"Q5_K_S", QF_Q5_K_S, INFER_TYPE_Q5_K},  {"Q5_K_M", QF_Q5_K_M, INFER_TYPE_Q5_K},
    {"Q6_K", QF_Q6_K, INFER_TYPE_Q6_K},      {"IQ4_NL", QF_IQ4_NL, INFER_TYPE_IQ4_NL},
    {"IQ4_XS", QF_IQ4_XS, INFER_TYPE_IQ4_XS}, {"MXFP4_MOE", QF_MXFP4_MOE, INFER_TYPE_MXFP4},
};

const quant_ftype_info *quant_ftype_find(const char *name) {
    for (size_t i = 0; name && i < sizeof FTYPES / sizeof FTYPES[0]; i++)
        if (strcasecmp(FTYPES[i].name, name) == 0) return &FTYPES[i];
    return NULL;
}

const quant_ftype_info *quant_ftype_all(int *n) {
    *n = (int)(sizeof FTYPES / sizeof FTYPES[0]);
    return FTYPES;
}

/* ---------------------------------------------------------------- tensor categories */

typedef enum category {
    CAT_TOKEN_EMBD, CAT_OUTPUT, CAT_ATTN_Q, CAT_ATTN_K, CAT_ATTN_V, CAT_ATTN_QKV, CAT_ATTN_KV_B,
    CAT_ATTN_OUTPUT, CAT_FFN_UP, CAT_FFN_GATE, CAT_FFN_DOWN, CAT_OTHER,
} category;

/* By substring, in llama.cpp's order of tests (ffn_up also matches ffn_up_exps, ...). */
static category categorize(const char *name) {
    if (strcmp(name, "output.weight") == 0) return CAT_OUTPUT;
    if (strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0) return CAT_TOKEN_EMBD;
    if (strstr(name, "attn_qkv.weight")) return CAT_ATTN_QKV;
    if (strstr(name, "attn_kv_b.weight")) return CAT_ATTN_KV_B;
    if (strstr(name, "attn_v.weight")) return CAT_ATTN_V;
    if (strstr(name, "attn_k.weight")) return CAT_ATTN_K;
    if (strstr(name, "attn_q.weight")) return CAT_ATTN_Q;
    if (strstr(name, "attn_output.weight")) return CAT_ATTN_OUTPUT;
    if (strstr(name, "ffn_up")) return CAT_FFN_UP;
    if (strstr(name, "ffn_gate")) return CAT_FFN_GATE;
    if (strstr(name, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

static bool is_attn_v_like(category c) { return c == CAT_ATTN_V || c == CAT_ATTN_QKV || c == CAT_ATTN_KV_B; }

void quant_mix_count(quant_mix_model *m, const char *const *names, int64_t n) {
    m->n_attn_v = 0;
    m->tied_embeddings = true;
    for (int64_t i = 0; i < n; i++) {
        category c = categorize(names[i]);
        if (is_attn_v_like(c)) m->n_attn_v++;
        if (c == CAT_OUTPUT) m->tied_embeddings = false;
    }
}

/* N of a "blk.N." name, -1 for other names (N beyond int range too: names are input). */
static int layer_of(const char *name) {
    if (strncmp(name, "blk.", 4) != 0 || name[4] < '0' || name[4] > '9') return -1;
    char *end;
    errno = 0;
    long v = strtol(name + 4, &end, 10);
    return *end == '.' && errno == 0 && v <= INT_MAX ? (int)v : -1;
}

int quant_mix_order(const char *a, const char *b) {
    int la = layer_of(a), lb = layer_of(b);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a, b);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

bool quant_mix_allows(const char *name, uint32_t n_dims) {
    if (n_dims < 2 || !ends_with(name, "weight")) return false;
    static const char *const never[] = {
        "_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj",
        "ssm_conv1d", "shortconv.conv.weight", "attn_rel_b.weight", "position_embd", "token_types",
        "time_mix_", ".rel_pos", ".patch_embd", ".patch_merger",
    };
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strstr(name, never[i])) return false;
    return true;
}

/* ---------------------------------------------------------------- model facts */

static int64_t meta_int(const infer_gguf *g, const char *arch, const char *suffix, int64_t def) {
    char key[256];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t i = infer_gguf_find_key(g, key);
    if (i < 0) return def;
    if (infer_gguf_kv_type(g, i) == INFER_GGUF_ARRAY)   /* per-layer values: layer 0's */
        return infer_gguf_kv_arr_len(g, i) > 0 ? infer_gguf_kv_arr_int(g, i, 0) : def;
    return infer_gguf_kv_int(g, i);
}

void quant_mix_model_from_gguf(quant_mix_model *m, const infer_gguf *g, const char *const *names, int64_t n) {
    int64_t ka = infer_gguf_find_key(g, "general.architecture");
    uint64_t len = 0;
    const char *arch = ka >= 0 && infer_gguf_kv_type(g, ka) == INFER_GGUF_STRING ? infer_gguf_kv_str(g, ka, &len) : "";
    char a[64];
    snprintf(a, sizeof a, "%.*s", (int)(len < 63 ? len : 63), arch);
    m->n_layer = (int)meta_int(g, a, "block_count", 0);
    m->n_head = (int)meta_int(g, a, "attention.head_count", 0);
    m->n_head_kv = (int)meta_int(g, a, "attention.head_count_kv", m->n_head);
    m->n_expert = (int)meta_int(g, a, "expert_count", 0);
    quant_mix_count(m, names, n);
}

/* ---------------------------------------------------------------- the mix */

/* The "more bits" layers: the first and last eighth and every third in between. */
static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static bool is_quantized(uint32_t t) { return t != INFER_TYPE_F32 && t != INFER_TYPE_F16 && t != INFER_TYPE_BF16; }

static int64_t block_of(uint32_t type) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    return tr ? tr->block_size : 1;
}

/* The layer a per-layer rule uses: for MoE models the number in the name (experts can be
 * listed out of order), else the running count of such tensors. */
static int rule_layer(const quant_mix_model *m, int counter, const char *name) {
    if (m->n_expert > 1) {
        int l = layer_of(name);
        if (l >= 0) return l;
    }
    return counter;
}

static uint32_t mix_rules(const quant_mix_model *m, quant_mix_state *st, enum quant_ftype ft, const char *name,
                          const uint64_t ne[4], uint32_t t) {
    const category c = categorize(name);
    const int n_gqa = m->n_head_kv > 0 ? m->n_head / m->n_head_kv : 1;
    if (c == CAT_OUTPUT || (m->tied_embeddings && c == CAT_TOKEN_EMBD)) {
        if (ft == QF_MXFP4_MOE || ne[0] % (uint64_t)block_of(t) != 0) return INFER_TYPE_Q8_0;
        return t == INFER_TYPE_Q8_0 ? t : INFER_TYPE_Q6_K;
    }
    if (ft == QF_MXFP4_MOE) return ne[2] > 1 ? INFER_TYPE_MXFP4 : INFER_TYPE_Q8_0;
    if (c == CAT_TOKEN_EMBD) return t;
    if (is_attn_v_like(c)) {
        const int i = st->i_attn_v++;
        if (ft == QF_Q2_K) t = n_gqa >= 4 ? INFER_TYPE_Q4_K : INFER_TYPE_Q3_K;
        else if (ft == QF_Q3_K_M) t = i < 2 ? INFER_TYPE_Q5_K : INFER_TYPE_Q4_K;
        else if (ft == QF_Q3_K_L) t = INFER_TYPE_Q5_K;
        else if ((ft == QF_IQ4_NL || ft == QF_IQ4_XS) && n_gqa >= 4) t = INFER_TYPE_Q5_K;
        else if ((ft == QF_Q4_K_M || ft == QF_Q5_K_M) && use_more_bits(i, m->n_attn_v)) t = INFER_TYPE_Q6_K;
        else if (ft == QF_Q4_K_S && i < 4) t = INFER_TYPE_Q5_K;
        if (m->n_expert == 8) t = INFER_TYPE_Q8_0;
        return t;
    }
    if (c == CAT_ATTN_K) return m->n_expert == 8 ? INFER_TYPE_Q8_0 : t;
    if (c == CAT_FFN_DOWN) {
        const int i = rule_layer(m, st->i_ffn_down++, name), n = m->n_layer;
        if (ft == QF_Q2_K) t = INFER_TYPE_Q3_K;
        else if (ft == QF_Q3_K_M) t = i < n / 16 ? INFER_TYPE_Q5_K : INFER_TYPE_Q4_K;
        else if (ft == QF_Q3_K_L) t = INFER_TYPE_Q5_K;
        else if (ft == QF_Q4_K_M) { if (use_more_bits(i, n)) t = INFER_TYPE_Q6_K; }
        else if (i < n / 8 && (ft == QF_IQ4_NL || ft == QF_IQ4_XS)) t = INFER_TYPE_Q5_K;
        else if (ft == QF_Q5_K_M && use_more_bits(i, n)) t = INFER_TYPE_Q6_K;
        else if (ft == QF_Q4_K_S && i < n / 8) t = INFER_TYPE_Q5_K;
        return t;
    }
    if (c == CAT_ATTN_OUTPUT) {
        if (m->n_expert == 8) {
            if (ft == QF_Q2_K || ft == QF_Q3_K_S || ft == QF_Q3_K_M || ft == QF_IQ4_NL || ft == QF_Q4_K_S ||
                ft == QF_Q4_K_M || ft == QF_IQ4_XS)
                t = INFER_TYPE_Q5_K;
        } else if (ft == QF_Q2_K) t = INFER_TYPE_Q3_K;
        else if (ft == QF_Q3_K_M) t = INFER_TYPE_Q4_K;
        else if (ft == QF_Q3_K_L) t = INFER_TYPE_Q5_K;
        return t;
    }
    if (c == CAT_FFN_GATE) st->i_ffn_gate++;
    if (c == CAT_FFN_UP) st->i_ffn_up++;
    return t;
}

/* When ne0 is not a multiple of the type's block: the nearest type with 32-wide blocks. */
static uint32_t fallback(quant_mix_state *st, const uint64_t ne[4], uint32_t t) {
    if (ne[0] % (uint64_t)block_of(t) == 0) return t;
    st->n_fallback++;
    uint32_t r;
    switch (t) {
    case INFER_TYPE_IQ4_XS: r = INFER_TYPE_IQ4_NL; break;
    case INFER_TYPE_Q2_K: case INFER_TYPE_Q3_K: r = INFER_TYPE_Q4_0; break;
    case INFER_TYPE_Q4_K: r = INFER_TYPE_Q5_0; break;
    case INFER_TYPE_Q5_K: r = INFER_TYPE_Q5_1; break;
    case INFER_TYPE_Q6_K: r = INFER_TYPE_Q8_0; break;
    default: r = INFER_TYPE_F16; break;
    }
    return ne[0] % (uint64_t)block_of(r) == 0 ? r : INFER_TYPE_F16;
}

uint32_t quant_mix_choose(const quant_mix_model *m, quant_mix_state *st, const quant_ftype_info *ft,
                          const char *name, const uint64_t ne[4], bool pure, uint32_t forced) {
    uint32_t t = ft->base_type;
    if (!is_quantized(t)) return forced != UINT32_MAX ? forced : t;
    if (forced != UINT32_MAX) t = forced;
    else if (!pure) t = mix_rules(m, st, ft->ftype, name, ne, t);
    if (!is_quantized(t)) return t;
    return fallback(st, ne, t);
}
