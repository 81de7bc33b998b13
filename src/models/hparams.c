#include "models/hparams.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "gguf/gguf.h"
#include "models/arch.h"

/* "<arch>.<suffix>" */
static const char *key(char *buf, size_t cap, const infer_arch *a, const char *suffix) {
    snprintf(buf, cap, "%s.%s", a->name, suffix);
    return buf;
}

#define REQ_U32(field, suffix) \
    do { \
        st = infer_gguf_get_u32(g, key(k, sizeof k, a, suffix), &hp->field, err); \
        if (st != INFER_OK) return st; \
    } while (0)
#define OPT_U32(field, suffix, def) \
    do { \
        st = infer_gguf_opt_u32(g, key(k, sizeof k, a, suffix), (def), &hp->field, err); \
        if (st != INFER_OK) return st; \
    } while (0)

/* An optional float key that must hold a finite value (NaN or inf would turn every
 * activation into NaN without an error). */
static infer_status opt_finite(const infer_gguf *g, const char *k, float def, float *out, infer_error *err) {
    infer_status st = infer_gguf_opt_f32(g, k, def, out, err);
    if (st != INFER_OK) return st;
    if (!isfinite(*out)) return infer_err(err, INFER_ERR_FORMAT, "%s: invalid value %g", k, *out);
    return INFER_OK;
}

/* YaRN magnitude helper as the reference engine defines it: 0.1 * mul * ln(scale) + 1. */
static float yarn_mscale(float scale, float mul) {
    return scale <= 1.0f ? 1.0f : 0.1f * mul * logf(scale) + 1.0f;
}

static infer_status load_rope(infer_hparams *hp, const infer_gguf *g, const infer_arch *a, infer_error *err) {
    char k[128];
    infer_status st;
    infer_rope_params *r = &hp->rope;
    uint32_t n_rot;
    st = infer_gguf_opt_u32(g, key(k, sizeof k, a, "rope.dimension_count"), hp->head_dim, &n_rot, err);
    if (st != INFER_OK) return st;
    if (n_rot == 0 || n_rot > hp->head_dim || n_rot % 2 != 0)
        return infer_err(err, INFER_ERR_FORMAT, "%s: %u invalid for head_dim %u", k, n_rot, hp->head_dim);
    r->mode = a->rope_mode;
    r->n_rot = (int32_t)n_rot;
    st = opt_finite(g, key(k, sizeof k, a, "rope.freq_base"), 10000.0f, &r->freq_base, err);
    if (st != INFER_OK) return st;
    if (!(r->freq_base > 0.0f)) return infer_err(err, INFER_ERR_FORMAT, "%s: invalid value %g", k, r->freq_base);

    /* Scaling: none, linear (positions divided by factor) or yarn. */
    char type[16] = "none";
    const char *s;
    uint64_t len;
    if (infer_gguf_find_key(g, key(k, sizeof k, a, "rope.scaling.type")) >= 0) {
        st = infer_gguf_get_str(g, k, &s, &len, err);
        if (st != INFER_OK) return st;
        if (len >= sizeof type) len = sizeof type - 1;
        memcpy(type, s, len);
        type[len] = 0;
    }
    float factor;
    st = infer_gguf_opt_f32(g, key(k, sizeof k, a, "rope.scaling.factor"), 1.0f, &factor, err);
    if (st != INFER_OK) return st;
    if (infer_gguf_find_key(g, key(k, sizeof k, a, "rope.scale_linear")) >= 0) {   /* older spelling */
        st = infer_gguf_get_f32(g, k, &factor, err);
        if (st != INFER_OK) return st;
        if (strcmp(type, "none") == 0) strcpy(type, "linear");
    }
    if (!(factor > 0.0f) || !isfinite(factor))
        return infer_err(err, INFER_ERR_FORMAT, "%s.rope.scaling.factor: invalid value %g", a->name, factor);

    r->freq_scale = 1.0f;
    r->yarn_factor = 1.0f;
    r->yarn_orig_ctx = (int32_t)hp->n_ctx_train;
    r->yarn_beta_fast = 32.0f;
    r->yarn_beta_slow = 1.0f;
    r->attn_factor = 1.0f;
    if (strcmp(type, "none") == 0 || strcmp(type, "llama3") == 0) {
        /* no scaling; "llama3" scaling is carried by the rope_freqs tensor (model.c) */
    } else if (strcmp(type, "linear") == 0) {
        r->freq_scale = 1.0f / factor;
    } else if (strcmp(type, "yarn") == 0) {
        r->freq_scale = 1.0f / factor;
        r->yarn_factor = factor;
        uint32_t orig;
        st = infer_gguf_opt_u32(g, key(k, sizeof k, a, "rope.scaling.original_context_length"), hp->n_ctx_train,
                                &orig, err);
        if (st != INFER_OK) return st;
        r->yarn_orig_ctx = (int32_t)orig;
        st = opt_finite(g, key(k, sizeof k, a, "rope.scaling.yarn_beta_fast"), 32.0f, &r->yarn_beta_fast, err);
        if (st != INFER_OK) return st;
        st = opt_finite(g, key(k, sizeof k, a, "rope.scaling.yarn_beta_slow"), 1.0f, &r->yarn_beta_slow, err);
        if (st != INFER_OK) return st;
        /* The rope op multiplies by 0.1 ln(factor) + 1 itself; a yarn_log_multiplier
         * (DeepSeek-style mscale_all_dim) replaces that magnitude by mscale(1)/mscale(mul). */
        float log_mul;
        st = opt_finite(g, key(k, sizeof k, a, "rope.scaling.yarn_log_multiplier"), 0.0f, &log_mul, err);
        if (st != INFER_OK) return st;
        if (log_mul != 0.0f)
            r->attn_factor = yarn_mscale(factor, 1.0f) / yarn_mscale(factor, log_mul) / yarn_mscale(factor, 1.0f);
    } else {
        return infer_err(err, INFER_ERR_UNSUPPORTED, "%s.rope.scaling.type: unsupported value '%s'", a->name, type);
    }
    float attn_factor;
    st = opt_finite(g, key(k, sizeof k, a, "rope.scaling.attn_factor"), 1.0f, &attn_factor, err);
    if (st != INFER_OK) return st;
    r->attn_factor *= attn_factor;
    return INFER_OK;
}

infer_status infer_hparams_load(infer_hparams *hp, const infer_gguf *g, const infer_arch *a, infer_error *err) {
    char k[128];
    infer_status st;
    memset(hp, 0, sizeof *hp);

    REQ_U32(n_embd, "embedding_length");
    REQ_U32(n_layer, "block_count");
    REQ_U32(n_head, "attention.head_count");
    OPT_U32(n_ctx_train, "context_length", 2048);
    if (a->moe) OPT_U32(n_ff, "feed_forward_length", 0);
    else REQ_U32(n_ff, "feed_forward_length");
    OPT_U32(n_head_kv, "attention.head_count_kv", hp->n_head);
    if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_head == 0)
        return infer_err(err, INFER_ERR_FORMAT, "%s: embedding_length, block_count and head_count must be > 0",
                         a->name);
    if (hp->n_head_kv == 0 || hp->n_head % hp->n_head_kv != 0)
        return infer_err(err, INFER_ERR_FORMAT, "%s.attention.head_count_kv = %u does not divide head_count %u",
                         a->name, hp->n_head_kv, hp->n_head);
    OPT_U32(head_dim, "attention.key_length", hp->n_embd / hp->n_head);
    OPT_U32(head_dim_v, "attention.value_length", hp->head_dim);
    if (hp->head_dim == 0 || hp->head_dim_v == 0)
        return infer_err(err, INFER_ERR_FORMAT, "%s: key_length %u / value_length %u (must be > 0)", a->name,
                         hp->head_dim, hp->head_dim_v);
    if (hp->head_dim_v != hp->head_dim)
        return infer_err(err, INFER_ERR_UNSUPPORTED, "%s: key_length %u / value_length %u (must be equal and > 0)",
                         a->name, hp->head_dim, hp->head_dim_v);
    st = opt_finite(g, key(k, sizeof k, a, "attention.layer_norm_rms_epsilon"), 1e-5f, &hp->rms_eps, err);
    if (st != INFER_OK) return st;
    if (hp->rms_eps < 0.0f) return infer_err(err, INFER_ERR_FORMAT, "%s: invalid value %g", k, hp->rms_eps);

    st = load_rope(hp, g, a, err);
    if (st != INFER_OK) return st;

    if (a->moe) {
        REQ_U32(n_expert, "expert_count");
        REQ_U32(n_expert_used, "expert_used_count");
        OPT_U32(n_ff_exp, "expert_feed_forward_length", hp->n_ff);
        hp->n_ff = 0;   /* no dense FFN: nothing may be sized by a value no tensor checks */
        if (hp->n_expert == 0 || hp->n_expert_used == 0 || hp->n_expert_used > hp->n_expert || hp->n_ff_exp == 0)
            return infer_err(err, INFER_ERR_FORMAT, "%s: expert_count %u, expert_used_count %u, expert ffn %u invalid",
                             a->name, hp->n_expert, hp->n_expert_used, hp->n_ff_exp);
    }
    if (a->swa_pattern) {
        OPT_U32(sliding_window, "attention.sliding_window", 0);
        if (hp->sliding_window > INT32_MAX)   /* the attention op takes the window as int32 */
            return infer_err(err, INFER_ERR_FORMAT, "%s: window %u too large", k, hp->sliding_window);
        hp->swa_pattern = a->swa_pattern;
    }
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    hp->ffn_glu = a->ffn_glu;
    hp->moe_glu = a->moe_glu;
    hp->glu_alpha = a->glu_alpha;
    hp->glu_limit = a->glu_limit;
    return a->load_hparams ? a->load_hparams(hp, g, a, err) : INFER_OK;
}

infer_status infer_hparams_opt_f32(const infer_gguf *g, const infer_arch *a, const char *suffix, float def,
                                   float *out, infer_error *err) {
    char k[128];
    return opt_finite(g, key(k, sizeof k, a, suffix), def, out, err);
}

infer_status infer_hparams_opt_u32(const infer_gguf *g, const infer_arch *a, const char *suffix, uint32_t def,
                                   uint32_t *out, infer_error *err) {
    char k[128];
    return infer_gguf_opt_u32(g, key(k, sizeof k, a, suffix), def, out, err);
}
