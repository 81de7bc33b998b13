/* Writes a gpt-oss model with random weights in the full-size gpt-oss-20b layout of
 * ../shared/perf.md (12.1 GB), streamed tensor by tensor so that memory use stays at one
 * tensor (~141 MB), not the whole file. Architecture metadata (rope, YaRN, eps, ...) comes
 * from a small gpt-oss GGUF (tests' synth-gptoss-*.gguf) with its shape keys replaced, the
 * tokenizer from a vocabulary GGUF (../shared/testdata/tokenizer/gptoss.gguf: o200k_harmony,
 * 200019 tokens). Types as the real MXFP4 file: experts MXFP4, attention, embeddings and
 * output Q8_0, norms/biases/sinks/router F32. Block scales are set to small sane values
 * so that activations stay finite over 24 layers.
 *
 *   bench-gen_gptoss_layout ARCH_SRC.gguf VOCAB.gguf OUT.gguf [N_LAYER]
 *   e.g. ../shared/testdata/models/synth-gptoss-MXFP4_MOE.gguf ../shared/testdata/tokenizer/gptoss.gguf
 *        ~/.cache/libinfer/layouts/gptoss-20b-MXFP4.gguf
 */
#define _GNU_SOURCE 1   /* clock_gettime (bench_common.h) under -std=c11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf_writer.h"
#include "infer.h"
#include "quant/blocks.h"
#include "tensor/dtype.h"
#include "bench_common.h"

/* gpt-oss-20b's body */
enum { N_EMBD = 2880, N_HEAD = 64, N_HEAD_KV = 8, HEAD_DIM = 64, N_EXPERT = 32, N_EXPERT_USED = 4,
       N_FF_EXP = 2880, SLIDING_WINDOW = 128 };

typedef struct {
    char name[96];
    uint32_t type, n_dims;
    uint64_t ne[3];
    float value, noise;   /* F32 tensors: value + noise * uniform(-0.5, 0.5) */
} tensor_spec;

/* Fills `bytes` of random blocks of `type` (a multiple of its block size), with the scale
 * field of every block overwritten by a small value. */
static void fill_random(uint8_t *p, size_t bytes, uint32_t type, float value, float noise) {
    if (type == INFER_TYPE_F32) {
        float *f = (float *)p;
        for (size_t i = 0; i < bytes / 4; i++) f[i] = value + noise * 0.5f * bench_frand();
        return;
    }
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
        uint64_t v = bench_rand_u64();
        memcpy(p + i, &v, 8);
    }
    if (type == INFER_TYPE_Q8_0) {
        const uint16_t d = infer_f32_to_fp16(0.0005f);
        for (size_t b = 0; b < bytes / sizeof(block_q8_0); b++) memcpy(p + b * sizeof(block_q8_0), &d, 2);
    } else if (type == INFER_TYPE_MXFP4) {
        /* e8m0 120: scale 2^-7 (x 0.5 x doubled levels), weights up to about 0.047 */
        for (size_t b = 0; b < bytes / sizeof(block_mxfp4); b++) p[b * sizeof(block_mxfp4)] = 120;
    }
}

static int copy_kv_except(infer_gguf_writer *w, const infer_gguf *g, int (*skip)(const char *)) {
    for (int64_t i = 0; i < infer_gguf_n_kv(g); i++)
        if (!skip(infer_gguf_kv_key(g, i)) && infer_gguf_writer_copy_kv(w, g, i) != INFER_OK) return -1;
    return 0;
}

/* From the architecture source: everything but the tokenizer and the shape keys. */
static int skip_arch(const char *k) {
    static const char *shape[] = {"embedding_length", "feed_forward_length", "block_count", "head_count",
                                  "key_length", "value_length", "expert_count", "expert_used_count",
                                  "sliding_window", "context_length", NULL};
    if (!strncmp(k, "tokenizer.", 10) || !strcmp(k, "general.name")) return 1;
    for (int i = 0; shape[i]; i++)
        if (strstr(k, shape[i])) return 1;
    return 0;
}

static int skip_vocab(const char *k) { return strncmp(k, "tokenizer.", 10) != 0; }

static void add(tensor_spec *t, int *n, uint32_t type, float value, float noise, uint64_t d0, uint64_t d1,
                uint64_t d2, const char *fmt, unsigned layer) {
    tensor_spec *s = &t[(*n)++];
    snprintf(s->name, sizeof s->name, fmt, layer);
    s->type = type;
    s->ne[0] = d0; s->ne[1] = d1; s->ne[2] = d2;
    s->n_dims = d2 ? 3 : d1 ? 2 : 1;
    s->value = value;
    s->noise = noise;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s ARCH_SRC.gguf VOCAB.gguf OUT.gguf [N_LAYER (24)]\n", argv[0]);
        return 2;
    }
    const unsigned n_layer = argc == 5 ? (unsigned)strtoul(argv[4], NULL, 10) : 24;
    infer_gguf *arch, *vocab;
    infer_error err;
    if (infer_gguf_open(argv[1], &arch, &err) != INFER_OK || infer_gguf_open(argv[2], &vocab, &err) != INFER_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    const int64_t tok = infer_gguf_find_key(vocab, "tokenizer.ggml.tokens");
    if (tok < 0) {
        fprintf(stderr, "%s: no tokenizer.ggml.tokens\n", argv[2]);
        return 1;
    }
    const uint64_t n_vocab = infer_gguf_kv_arr_len(vocab, tok);

    infer_gguf_writer *w = infer_gguf_writer_new();
    infer_gguf_writer_set_str(w, "general.name", "gpt-oss-20b layout (random weights)");
    if (copy_kv_except(w, arch, skip_arch) != 0 || copy_kv_except(w, vocab, skip_vocab) != 0) {
        fprintf(stderr, "copying metadata failed\n");
        return 1;
    }
    infer_gguf_writer_set_u32(w, "gpt-oss.context_length", 131072);
    infer_gguf_writer_set_u32(w, "gpt-oss.embedding_length", N_EMBD);
    infer_gguf_writer_set_u32(w, "gpt-oss.feed_forward_length", N_FF_EXP);
    infer_gguf_writer_set_u32(w, "gpt-oss.block_count", n_layer);
    infer_gguf_writer_set_u32(w, "gpt-oss.attention.head_count", N_HEAD);
    infer_gguf_writer_set_u32(w, "gpt-oss.attention.head_count_kv", N_HEAD_KV);
    infer_gguf_writer_set_u32(w, "gpt-oss.attention.key_length", HEAD_DIM);
    infer_gguf_writer_set_u32(w, "gpt-oss.attention.value_length", HEAD_DIM);
    infer_gguf_writer_set_u32(w, "gpt-oss.expert_count", N_EXPERT);
    infer_gguf_writer_set_u32(w, "gpt-oss.expert_used_count", N_EXPERT_USED);
    infer_gguf_writer_set_u32(w, "gpt-oss.expert_feed_forward_length", N_FF_EXP);
    infer_gguf_writer_set_u32(w, "gpt-oss.attention.sliding_window", SLIDING_WINDOW);

    const int max_t = 3 + 19 * (int)n_layer;   /* must match the add() calls below */
    tensor_spec *t = calloc((size_t)max_t, sizeof *t);
    int n = 0;
    const uint32_t Q8 = INFER_TYPE_Q8_0, F32 = INFER_TYPE_F32, MX = INFER_TYPE_MXFP4;
    const uint64_t E = N_EMBD, NQ = N_HEAD * HEAD_DIM, NKV = N_HEAD_KV * HEAD_DIM, X = N_EXPERT, F = N_FF_EXP;
    add(t, &n, Q8, 0, 0, E, n_vocab, 0, "output.weight", 0);
    add(t, &n, F32, 1, 0, E, 0, 0, "output_norm.weight", 0);
    add(t, &n, Q8, 0, 0, E, n_vocab, 0, "token_embd.weight", 0);
    for (unsigned l = 0; l < n_layer; l++) {
        add(t, &n, F32, 1, 0, E, 0, 0, "blk.%u.attn_norm.weight", l);
        add(t, &n, Q8, 0, 0, E, NQ, 0, "blk.%u.attn_q.weight", l);
        add(t, &n, Q8, 0, 0, E, NKV, 0, "blk.%u.attn_k.weight", l);
        add(t, &n, Q8, 0, 0, E, NKV, 0, "blk.%u.attn_v.weight", l);
        add(t, &n, F32, 0, 0.02f, NQ, 0, 0, "blk.%u.attn_q.bias", l);
        add(t, &n, F32, 0, 0.02f, NKV, 0, 0, "blk.%u.attn_k.bias", l);
        add(t, &n, F32, 0, 0.02f, NKV, 0, 0, "blk.%u.attn_v.bias", l);
        add(t, &n, Q8, 0, 0, NQ, E, 0, "blk.%u.attn_output.weight", l);
        add(t, &n, F32, 0, 0.02f, E, 0, 0, "blk.%u.attn_output.bias", l);
        add(t, &n, F32, 0, 0.5f, N_HEAD, 0, 0, "blk.%u.attn_sinks.weight", l);
        add(t, &n, F32, 1, 0, E, 0, 0, "blk.%u.post_attention_norm.weight", l);
        /* router: spread enough that different tokens pick different experts */
        add(t, &n, F32, 0, 0.1f, E, X, 0, "blk.%u.ffn_gate_inp.weight", l);
        add(t, &n, F32, 0, 0.02f, X, 0, 0, "blk.%u.ffn_gate_inp.bias", l);
        add(t, &n, MX, 0, 0, E, F, X, "blk.%u.ffn_gate_exps.weight", l);
        add(t, &n, F32, 0, 0.02f, F, X, 0, "blk.%u.ffn_gate_exps.bias", l);
        add(t, &n, MX, 0, 0, E, F, X, "blk.%u.ffn_up_exps.weight", l);
        add(t, &n, F32, 0, 0.02f, F, X, 0, "blk.%u.ffn_up_exps.bias", l);
        add(t, &n, MX, 0, 0, F, E, X, "blk.%u.ffn_down_exps.weight", l);
        add(t, &n, F32, 0, 0.02f, E, X, 0, "blk.%u.ffn_down_exps.bias", l);
    }
    for (int i = 0; i < n; i++) infer_gguf_writer_add_tensor_info(w, t[i].name, t[i].type, t[i].n_dims, t[i].ne);

    FILE *f = fopen(argv[3], "wb");
    if (!f) {
        perror(argv[3]);
        return 1;
    }
    infer_status st = infer_gguf_writer_write_header(w, f, &err);
    /* Pieces of whole rows, about 64 MB each. */
    for (int i = 0; i < n && st == INFER_OK; i++) {
        const uint64_t total = infer_gguf_writer_tensor_bytes(w, (uint64_t)i);
        const uint64_t row = infer_dtype_row_bytes(t[i].type, (int64_t)t[i].ne[0]);
        const uint64_t piece = (64u << 20) / row * row;
        uint8_t *buf = malloc(piece < total ? piece : total);
        for (uint64_t done = 0; done < total && st == INFER_OK;) {
            const uint64_t m = total - done < piece ? total - done : piece;
            fill_random(buf, m, t[i].type, t[i].value, t[i].noise);
            st = infer_gguf_writer_write_tensor_data(w, f, (uint64_t)i, buf, m, done + m == total, &err);
            done += m;
        }
        free(buf);
    }
    if (fclose(f) != 0 && st == INFER_OK) {
        perror(argv[3]);
        st = INFER_ERR_IO;
    }
    if (st != INFER_OK) fprintf(stderr, "%s\n", err.message);
    infer_gguf_writer_free(w);
    infer_gguf_close(arch);
    infer_gguf_close(vocab);
    free(t);
    return st == INFER_OK ? 0 : 1;
}
