/* libFuzzer entry for the MODEL path: the input does not become GGUF bytes (the reader
 * has its own target) but drives edits of a small valid model, so every run reaches
 * hyperparameter checks, weight binding, the tokenizer, the forward pass, the sampler
 * and the chat renderer with hostile-but-well-formed contents.
 *
 * Input layout (every read past the end gives 0, so any input is valid):
 *   byte 0        architecture (llama, qwen2, qwen3, gpt-oss; 0xF8 and 0xFC: gemma3), vocab_only bit, and
 *                 the tokenizer: SentencePiece or byte-level BPE with one of the
 *                 pre-tokenizers
 *   then edits    until a 0xFF byte: op, target and value bytes (see apply_edit)
 *   then a script for the loaded model: context size, tokens, positions, text.
 * The model is written with the GGUF writer into a memfd and loaded by its path.
 *
 * Second mode, for reach: an input that starts with "GGUF" IS the model file. It is
 * loaded as is (then, if that fails, vocab-only) and driven by a fixed script, so the
 * fuzzer mutates real model bytes: tensor infos, type ids, offsets, vocabulary arrays,
 * merges, hyperparameters. Seeds (tests/corpus/model/NAME.gguf, 20-60 kB each) are
 * the models of the first mode written out unedited, one per architecture and tokenizer:
 *   FUZZ_MODEL_WRITE_SEEDS=tests/corpus/model build-fuzz/tests/fuzz/fuzz_model -runs=0
 * writes them again (scripts/run-fuzz.sh builds the target). They are larger than the
 * edit scripts, so targets.txt gives this target a max_len above them and
 * -len_control=0 (mutations up to max_len at once, not after hours of growth). */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gguf/gguf_writer.h"
#include "infer.h"
#include "tensor/dtype.h"

/* ---------------------------------------------------------------- input cursor */

typedef struct cursor { const uint8_t *p; size_t n, i; } cursor;

static uint8_t u8(cursor *c) { return c->i < c->n ? c->p[c->i++] : 0; }
static uint32_t u32(cursor *c) {
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) v |= (uint32_t)u8(c) << (8 * k);
    return v;
}
static bool at_end(const cursor *c) { return c->i >= c->n; }

/* ---------------------------------------------------------------- the model */

enum { E = 32, H = 4, HKV = 2, HD = 8, FF = 64, L = 2, V = 24, X = 4, XU = 2 };
enum { MAX_KEYS = 40, MAX_TENSORS = 64 };
enum kv_kind { KV_U32, KV_I32, KV_F32, KV_STR, KV_U64, KV_DROP };

typedef struct kv { char key[64]; enum kv_kind kind; uint64_t u; double f; char s[48]; size_t slen; } kv;
typedef struct tensor { char name[48]; uint32_t type, nd; uint64_t ne[3]; bool dropped; } tensor;

typedef struct model_spec {
    char arch[16];
    kv kvs[MAX_KEYS];
    int n_kv;
    tensor t[MAX_TENSORS];
    int n_t;
    char tok[V][16];
    size_t tok_len[V];
    int32_t tok_type[V];
    float score[V];
    bool bpe;
    char merge[8][16];
    size_t merge_len[8];
} model_spec;

static void add_u32(model_spec *m, const char *suffix, uint32_t v) {
    kv *k = &m->kvs[m->n_kv++];
    snprintf(k->key, sizeof k->key, "%s.%s", m->arch, suffix);
    k->kind = KV_U32;
    k->u = v;
}
static void add_f32(model_spec *m, const char *suffix, float v) {
    kv *k = &m->kvs[m->n_kv++];
    snprintf(k->key, sizeof k->key, "%s.%s", m->arch, suffix);
    k->kind = KV_F32;
    k->f = v;
}
static void add_key_u32(model_spec *m, const char *key, uint32_t v) {
    kv *k = &m->kvs[m->n_kv++];
    snprintf(k->key, sizeof k->key, "%s", key);
    k->kind = KV_U32;
    k->u = v;
}
static void add_key_str(model_spec *m, const char *key, const char *s) {
    kv *k = &m->kvs[m->n_kv++];
    snprintf(k->key, sizeof k->key, "%s", key);
    k->kind = KV_STR;
    k->slen = strlen(s);
    memcpy(k->s, s, k->slen);
}

static void add_t(model_spec *m, uint32_t type, uint32_t nd, uint64_t a, uint64_t b, uint64_t c, const char *fmt, int il) {
    tensor *t = &m->t[m->n_t++];
    snprintf(t->name, sizeof t->name, fmt, il);
    t->type = type;
    t->nd = nd;
    t->ne[0] = a;
    t->ne[1] = b;
    t->ne[2] = c;
}

/* Byte-level BPE vocabulary (GPT-2 alphabet: U+0120 "Ġ" is the space byte). */
static const char *const BPE_TOKS[V] = {"a", "b", "c", "x", "y", "z", "\xc4\xa0", "!", "ab", "bc", "abc", "xy",
                                        "\xc4\xa0\x61", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "1", "2",
                                        "12", "\xc3\xa9", "\xc4\x8a", "<think>", "</think>", "\xc4\xa0\x78"};
static const char *const BPE_MERGES[8] = {"a b", "ab c", "b c", "x y", "\xc4\xa0 a", "1 2", "\xc4\xa0 x", "zz qq"};
static const char *const PRETOKS[4] = {"gpt2", "llama-bpe", "qwen2", "gpt-4o"};

static void build_spec(model_spec *m, int arch, int bpe) {
    static const char *const archs[] = {"llama", "qwen2", "qwen3", "gpt-oss", "gemma3"};
    memset(m, 0, sizeof *m);
    snprintf(m->arch, sizeof m->arch, "%s", archs[arch]);
    const bool moe = arch == 3, gemma = arch == 4;
    add_key_str(m, "general.architecture", m->arch);
    add_u32(m, "context_length", 64);
    add_u32(m, "embedding_length", E);
    add_u32(m, "block_count", L);
    add_u32(m, "feed_forward_length", FF);
    add_u32(m, "attention.head_count", H);
    add_u32(m, "attention.head_count_kv", HKV);
    add_u32(m, "attention.key_length", HD);
    add_u32(m, "rope.dimension_count", HD);
    add_f32(m, "rope.freq_base", 10000.0f);
    add_f32(m, "attention.layer_norm_rms_epsilon", 1e-5f);
    if (moe) {
        add_u32(m, "expert_count", X);
        add_u32(m, "expert_used_count", XU);
        add_u32(m, "expert_feed_forward_length", FF);
        add_u32(m, "attention.sliding_window", 4);
        kv *k = &m->kvs[m->n_kv++];
        snprintf(k->key, sizeof k->key, "%s.rope.scaling.type", m->arch);
        k->kind = KV_STR;
        k->slen = 4;
        memcpy(k->s, "yarn", 4);
        add_f32(m, "rope.scaling.factor", 8.0f);
        add_u32(m, "rope.scaling.original_context_length", 16);
    }
    if (gemma) {
        add_u32(m, "attention.sliding_window", 4);
        add_f32(m, "final_logit_softcapping", 30.0f);
    }
    m->bpe = bpe != 0;
    add_key_str(m, "tokenizer.ggml.model", m->bpe ? "gpt2" : "llama");
    if (m->bpe) add_key_str(m, "tokenizer.ggml.pre", PRETOKS[(bpe - 1) % 4]);
    add_key_u32(m, "tokenizer.ggml.bos_token_id", 1);
    add_key_u32(m, "tokenizer.ggml.eos_token_id", 2);
    add_key_u32(m, "tokenizer.ggml.unknown_token_id", 0);
    add_key_str(m, "tokenizer.chat_template", "<|im_start|>system\nYou are a test.<|im_end|>");

    static const char *const toks[V] = {"<unk>", "<s>", "</s>", "<0x41>", "<0x42>", "<0xE2>", "<0x96>", "<0x81>",
                                        "\xe2\x96\x81", "a", "b", "c", "ab", "bc", "\xe2\x96\x81\x61", "<|im_start|>",
                                        "<|im_end|>", "<think>", "</think>", "x", "y", "xy", "\xc3\xa9", "z"};
    for (int i = 0; i < V; i++) {
        const char *t = m->bpe ? BPE_TOKS[i] : toks[i];
        m->tok_len[i] = strlen(t);
        memcpy(m->tok[i], t, m->tok_len[i]);
        if (m->bpe) m->tok_type[i] = (i >= 13 && i <= 15) || i == 21 || i == 22 ? 3 : 1;
        else m->tok_type[i] = i == 0 ? 2 : i < 3 ? 3 : i < 8 ? 6 : (i >= 15 && i <= 18) ? 3 : 1;
        m->score[i] = -(float)i;
    }
    for (int i = 0; i < 8; i++) {
        m->merge_len[i] = strlen(BPE_MERGES[i]);
        memcpy(m->merge[i], BPE_MERGES[i], m->merge_len[i]);
    }

    const uint32_t F32 = INFER_TYPE_F32, Q8 = INFER_TYPE_Q8_0;
    add_t(m, Q8, 2, E, V, 1, "token_embd.weight", 0);
    add_t(m, F32, 1, E, 1, 1, "output_norm.weight", 0);
    if (arch == 0) add_t(m, F32, 2, E, V, 1, "output.weight", 0);
    for (int il = 0; il < L; il++) {
        add_t(m, F32, 1, E, 1, 1, "blk.%d.attn_norm.weight", il);
        add_t(m, Q8, 2, E, H * HD, 1, "blk.%d.attn_q.weight", il);
        add_t(m, F32, 2, E, HKV * HD, 1, "blk.%d.attn_k.weight", il);
        add_t(m, INFER_TYPE_F16, 2, E, HKV * HD, 1, "blk.%d.attn_v.weight", il);
        add_t(m, F32, 2, H * HD, E, 1, "blk.%d.attn_output.weight", il);
        if (arch == 1 || moe) {
            add_t(m, F32, 1, H * HD, 1, 1, "blk.%d.attn_q.bias", il);
            add_t(m, F32, 1, HKV * HD, 1, 1, "blk.%d.attn_k.bias", il);
            add_t(m, F32, 1, HKV * HD, 1, 1, "blk.%d.attn_v.bias", il);
        }
        if (arch == 2 || gemma) {
            add_t(m, F32, 1, HD, 1, 1, "blk.%d.attn_q_norm.weight", il);
            add_t(m, F32, 1, HD, 1, 1, "blk.%d.attn_k_norm.weight", il);
        }
        if (moe) {
            add_t(m, F32, 1, E, 1, 1, "blk.%d.attn_output.bias", il);
            add_t(m, F32, 1, H, 1, 1, "blk.%d.attn_sinks.weight", il);
            add_t(m, F32, 1, E, 1, 1, "blk.%d.post_attention_norm.weight", il);
            add_t(m, F32, 2, E, X, 1, "blk.%d.ffn_gate_inp.weight", il);
            add_t(m, F32, 1, X, 1, 1, "blk.%d.ffn_gate_inp.bias", il);
            add_t(m, INFER_TYPE_MXFP4, 3, E, FF, X, "blk.%d.ffn_gate_exps.weight", il);
            add_t(m, INFER_TYPE_MXFP4, 3, E, FF, X, "blk.%d.ffn_up_exps.weight", il);
            add_t(m, INFER_TYPE_MXFP4, 3, FF, E, X, "blk.%d.ffn_down_exps.weight", il);
            add_t(m, F32, 2, FF, X, 1, "blk.%d.ffn_gate_exps.bias", il);
            add_t(m, F32, 2, FF, X, 1, "blk.%d.ffn_up_exps.bias", il);
            add_t(m, F32, 2, E, X, 1, "blk.%d.ffn_down_exps.bias", il);
        } else {
            if (gemma) {
                add_t(m, F32, 1, E, 1, 1, "blk.%d.post_attention_norm.weight", il);
                add_t(m, F32, 1, E, 1, 1, "blk.%d.post_ffw_norm.weight", il);
            }
            add_t(m, F32, 1, E, 1, 1, "blk.%d.ffn_norm.weight", il);
            add_t(m, Q8, 2, E, FF, 1, "blk.%d.ffn_gate.weight", il);
            add_t(m, F32, 2, E, FF, 1, "blk.%d.ffn_up.weight", il);
            add_t(m, INFER_TYPE_Q4_0, 2, FF, E, 1, "blk.%d.ffn_down.weight", il);
        }
    }
}

/* One edit read from the input. Values are drawn from small sets that keep most edits
 * near the edge of validity, plus raw 32-bit values. */
static void apply_edit(model_spec *m, cursor *c) {
    static const uint32_t interesting[] = {0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 33, 64, 255, 256, 0x7FFFFFFF,
                                           0x80000000u, 0xFFFFFFFFu};
    const size_t n_int = sizeof interesting / sizeof interesting[0];
    uint8_t op = u8(c);
    switch (op % 8) {
    case 0: case 1: {   /* a metadata value */
        kv *k = &m->kvs[u8(c) % m->n_kv];
        uint8_t how = u8(c);
        uint32_t v = how & 0x80 ? u32(c) : interesting[u8(c) % n_int];
        switch (how % 6) {
        case 0: k->kind = KV_U32; k->u = v; break;
        case 1: k->kind = KV_I32; k->u = v; break;
        case 2: k->kind = KV_F32; { float f; memcpy(&f, &v, 4); k->f = how & 0x40 ? (double)f : (double)(int32_t)v; } break;
        case 3: k->kind = KV_U64; k->u = (uint64_t)v << (how & 0x40 ? 32 : 0); break;
        case 4: k->kind = KV_DROP; break;
        default:
            k->kind = KV_STR;
            k->slen = u8(c) % sizeof k->s;
            for (size_t i = 0; i < k->slen; i++) k->s[i] = (char)u8(c);
            break;
        }
        break;
    }
    case 2: {   /* a tensor dimension */
        tensor *t = &m->t[u8(c) % m->n_t];
        uint8_t d = u8(c) % 3;
        t->ne[d] = interesting[u8(c) % n_int] % 97 + 1;
        if (d + 1 > t->nd) t->nd = d + 1;
        break;
    }
    case 3: {   /* a tensor type (unsupported ones included) */
        tensor *t = &m->t[u8(c) % m->n_t];
        t->type = u8(c) % INFER_TYPE_COUNT;
        break;
    }
    case 4: m->t[u8(c) % m->n_t].dropped = true; break;
    case 5: {   /* a token's text */
        int i = u8(c) % V;
        m->tok_len[i] = u8(c) % sizeof m->tok[i];
        for (size_t j = 0; j < m->tok_len[i]; j++) m->tok[i][j] = (char)u8(c);
        break;
    }
    case 6: m->tok_type[u8(c) % V] = (int8_t)u8(c); break;
    default: {
        uint8_t b = u8(c);
        if (m->bpe && (b & 1)) {   /* a merge rule */
            int i = (b >> 1) % 8;
            m->merge_len[i] = u8(c) % sizeof m->merge[i];
            for (size_t j = 0; j < m->merge_len[i]; j++) m->merge[i][j] = (char)u8(c);
        } else {
            uint32_t v = u32(c);
            memcpy(&m->score[b % V], &v, 4);
        }
        break;
    }
    }
}

static void write_kv(infer_gguf_writer *w, const kv *k) {
    switch (k->kind) {
    case KV_U32: infer_gguf_writer_set_u32(w, k->key, (uint32_t)k->u); break;
    case KV_I32: infer_gguf_writer_set_i32(w, k->key, (int32_t)(uint32_t)k->u); break;
    case KV_F32: infer_gguf_writer_set_f32(w, k->key, (float)k->f); break;
    case KV_U64: infer_gguf_writer_set_u64(w, k->key, k->u); break;
    case KV_STR: infer_gguf_writer_set_strn(w, k->key, k->s, k->slen); break;
    case KV_DROP: break;
    }
}

/* Writes the model; NULL when the writer refuses an edit (a shape that is not a
 * multiple of its type's block: not a model file at all). */
static void *write_model(const model_spec *m, size_t *size, uint32_t seed) {
    infer_gguf_writer *w = infer_gguf_writer_new();
    if (!w) return NULL;
    for (int i = 0; i < m->n_kv; i++) write_kv(w, &m->kvs[i]);
    const char *toks[V];
    uint64_t lens[V];
    for (int i = 0; i < V; i++) {
        toks[i] = m->tok[i];
        lens[i] = m->tok_len[i];
    }
    infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, lens, V);
    infer_gguf_writer_set_arr(w, "tokenizer.ggml.scores", INFER_GGUF_FLOAT32, m->score, V);
    infer_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", INFER_GGUF_INT32, m->tok_type, V);
    if (m->bpe) {
        const char *merges[8];
        uint64_t mlens[8];
        for (int i = 0; i < 8; i++) {
            merges[i] = m->merge[i];
            mlens[i] = m->merge_len[i];
        }
        infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, mlens, 8);
    }
    uint8_t *data = NULL;
    for (int i = 0; i < m->n_t; i++) {
        const tensor *t = &m->t[i];
        if (t->dropped) continue;
        size_t row = infer_dtype_row_bytes(t->type, (int64_t)t->ne[0]);
        size_t bytes = row * (size_t)t->ne[1] * (size_t)t->ne[2];
        if (row == 0) continue;   /* the writer would refuse it */
        uint8_t *grown = realloc(data, bytes);
        if (!grown) break;
        data = grown;
        if (t->type == INFER_TYPE_F32) {
            for (size_t j = 0; j < bytes / 4; j++) {
                seed = seed * 1664525u + 1013904223u;
                float f = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.5f;
                memcpy(data + 4 * j, &f, 4);
            }
        } else {
            for (size_t j = 0; j < bytes; j++) data[j] = (uint8_t)((seed = seed * 1664525u + 1013904223u) >> 24);
        }
        infer_gguf_writer_add_tensor(w, t->name, t->type, t->nd, t->ne, data);
    }
    free(data);
    void *image = NULL;
    infer_error err;
    if (infer_gguf_writer_to_memory(w, &image, size, &err) != INFER_OK) image = NULL;
    infer_gguf_writer_free(w);
    return image;
}

/* ---------------------------------------------------------------- using the model */

static volatile unsigned sink;

static void check(bool ok) {
    if (!ok) __builtin_trap();
}

static void run_script(infer_model *m, bool vocab_only, cursor *c) {
    const int32_t n_vocab = infer_model_n_vocab(m);
    check(n_vocab > 0);
    /* text: the rest of the input, tokenized both ways */
    const char *text = (const char *)c->p + c->i;
    size_t text_len = c->n - c->i;
    int32_t toks[256] = {0};
    size_t n = 0;
    for (int flags = 0; flags < 4; flags++) {
        infer_status st = infer_tokenize(m, text, text_len, flags & 1, flags & 2, toks, 256, &n);
        check(st == INFER_OK || st == INFER_ERR_BUFFER_SMALL);
        if (st == INFER_OK)
            for (size_t i = 0; i < n; i++) check(toks[i] >= 0 && toks[i] < n_vocab);
    }
    if (n > 256) n = 256;
    infer_detok *d = infer_detok_new(m);
    char buf[128];
    size_t got;
    for (size_t i = 0; d && i < n; i++) infer_detok_push(d, toks[i], buf, sizeof buf, &got);
    if (d) infer_detok_flush(d, buf, sizeof buf, &got);
    infer_detok_free(d);

    char *content = malloc(text_len + 1);
    if (content) {
        memcpy(content, text, text_len);
        content[text_len] = 0;
        infer_chat_msg msgs[2] = {{"system", "s"}, {"user", content}};
        char *out = malloc(4096);
        if (out) infer_chat_render(m, msgs, 2, 1, out, 4096, &got);
        free(out);
        free(content);
    }
    int32_t stops[8];
    sink = (unsigned)infer_model_stop_tokens(m, stops, 8);
    if (vocab_only) return;

    infer_ctx_params p = infer_ctx_default_params();
    p.backend = INFER_BACKEND_CPU;
    p.n_threads = 1;
    p.n_ctx = 1 + u8(c) % 48;
    p.n_batch = u8(c) % 16;
    p.kv_type = u8(c) & 1 ? INFER_KV_F16 : INFER_KV_F32;
    infer_ctx *ctx = NULL;
    infer_error err;
    if (infer_ctx_new(m, &p, &ctx, &err) != INFER_OK) return;
    infer_sampler_params sp = infer_sampler_default_params();
    sp.repeat_penalty = 1.1f;
    infer_sampler *s = infer_sampler_new(&sp, n_vocab);
    for (int step = 0; step < 3 && !at_end(c); step++) {
        int32_t batch[24], pos[24];
        int8_t want[24];
        int32_t nb = u8(c) % 25;
        bool explicit_pos = u8(c) & 1;
        for (int32_t i = 0; i < nb; i++) {
            uint8_t b = u8(c);
            batch[i] = b < 250 ? b % (n_vocab + 2) - 1 : (int32_t)u32(c);   /* mostly valid, some not */
            pos[i] = explicit_pos ? (int32_t)(u8(c) % 64) - 4 : 0;
            want[i] = (int8_t)(u8(c) & 1);
        }
        infer_status st = infer_ctx_decode(ctx, batch, explicit_pos ? pos : NULL, want, nb);
        if (st != INFER_OK) {
            check(infer_ctx_last_error(ctx)[0] != 0);
            continue;
        }
        for (int32_t i = 0; i < nb; i++) {
            const float *l = infer_ctx_logits(ctx, i);
            check((l != NULL) == (want[i] != 0));
            if (!l || !s) continue;
            int32_t t = infer_sampler_sample(s, l);
            check(t >= 0 && t < n_vocab);
            infer_sampler_accept(s, t);
        }
        if (u8(c) & 1) infer_ctx_kv_truncate(ctx, (int32_t)u8(c) - 8);
    }
    infer_sampler_free(s);
    infer_ctx_free(ctx);
}

/* Writes img to a memfd and loads it by path; returns the model or NULL. */
static infer_model *load_image(const void *img, size_t size, int vocab_only, int *fd_out) {
    *fd_out = memfd_create("fuzz_model", 0);
    if (*fd_out < 0) return NULL;
    if (write(*fd_out, img, size) != (ssize_t)size) return NULL;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", *fd_out);
    infer_model_params mp = infer_model_default_params();
    mp.vocab_only = vocab_only;
    infer_model *model = NULL;
    infer_error err;
    infer_status st = infer_model_load(path, &mp, &model, &err);
    if (getenv("FUZZ_MODEL_VERBOSE")) fprintf(stderr, "load: %s: %s\n", infer_status_str(st), err.message);
    if (st != INFER_OK) check(model == NULL && err.message[0] != 0 && err.status == st);   /* a failure explains itself */
    return st == INFER_OK ? model : NULL;
}

/* The script run on a model given as GGUF bytes: a 24-token context, two batches of
 * ids spread over a small vocabulary (out-of-range ones refused by decode), and a text
 * with a special token, an SPM marker, a byte-fallback character and digits. */
static const uint8_t FIXED_SCRIPT[] = "\x18\x08\x00\x06\x00\x01\x01\x05\x01\x09\x01\x0d\x01\x11\x01\x15\x01"
                                      "\x01\x04\x01\x03\x00\x02\x01\x07\x01\x00"
                                      "Hello <|im_start|>ab\xe2\x96\x81x 12 \xc3\xa9!";

static int run_gguf_input(const uint8_t *data, size_t size) {
    for (int vocab_only = 0; vocab_only < 2; vocab_only++) {
        int fd = -1;
        infer_model *model = load_image(data, size, vocab_only, &fd);
        if (model) {
            cursor script = {FIXED_SCRIPT, sizeof FIXED_SCRIPT - 1, 0};
            run_script(model, vocab_only, &script);
            infer_model_free(model);
        }
        if (fd >= 0) close(fd);
        if (model) break;   /* the full load worked: the vocab-only one adds nothing */
    }
    return 0;
}

/* FUZZ_MODEL_WRITE_SEEDS=DIR: writes the unedited model of every architecture and
 * tokenizer as DIR/<arch>-<tokenizer>.gguf and exits (see the header comment). */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = getenv("FUZZ_MODEL_WRITE_SEEDS");
    if (!dir) return 0;
    static const char *const arch_names[] = {"llama", "qwen2", "qwen3", "gptoss"};
    static const char *const tok_names[] = {"spm", "bpe-gpt2", "bpe-llama3", "bpe-qwen2", "bpe-gpt4o"};
    static const int pairs[][2] = {{0, 0}, {0, 2}, {1, 3}, {2, 3}, {3, 4}, {0, 1}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        model_spec *m = malloc(sizeof *m);
        if (!m) return 1;
        build_spec(m, pairs[i][0], pairs[i][1]);
        size_t size = 0;
        void *img = write_model(m, &size, 12345u);
        free(m);
        char path[512];
        snprintf(path, sizeof path, "%s/%s-%s.gguf", dir, arch_names[pairs[i][0]], tok_names[pairs[i][1]]);
        FILE *f = img ? fopen(path, "wb") : NULL;
        if (!f || fwrite(img, 1, size, f) != size) {
            fprintf(stderr, "cannot write %s\n", path);
            exit(1);
        }
        fclose(f);
        free(img);
        fprintf(stderr, "wrote %s (%zu bytes)\n", path, size);
    }
    exit(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size >= 4 && memcmp(data, "GGUF", 4) == 0) return run_gguf_input(data, size);
    cursor c = {data, size, 0};
    uint8_t head = u8(&c);
    model_spec *m = malloc(sizeof *m);
    if (!m) return 0;
    int arch = head % 4;
    if (arch == 0 && head >= 0xF8) arch = 4;   /* gemma3, keeping every older seed's meaning */
    build_spec(m, arch, (head >> 3) % 5);   /* 0: SentencePiece, 1-4: BPE with a pre-tokenizer */
    bool vocab_only = (head >> 2) & 1;
    for (int e = 0; e < 32 && !at_end(&c) && c.p[c.i] != 0xFF; e++) apply_edit(m, &c);
    u8(&c);   /* the 0xFF separator */

    size_t img_size = 0;
    void *img = write_model(m, &img_size, 12345u + head);
    free(m);
    if (!img) return 0;
    int fd = -1;
    infer_model *model = load_image(img, img_size, vocab_only, &fd);
    free(img);
    if (model) {
        run_script(model, vocab_only, &c);
        infer_model_free(model);
    }
    if (fd >= 0) close(fd);
    return 0;
}
