/* Writes a qwen2 model with random weights in a full-size layout, so that backends can be
 * timed at real shapes where the real file cannot travel (the GPU machine only receives
 * a small working tree). Metadata and tokenizer come from a small qwen2 GGUF (e.g.
 * tests/data/models/synth-qwen2-Q4_K_M.gguf); the shapes from the command line. Matrices
 * are Q4_K (token_embd Q6_K) with sane block scales, norms 1, biases small; MATRIX_TYPE
 * q6_k, q8_0 or q4_0 makes them all that type, q4_k_m gives attn_v and ffn_down of every
 * other layer Q6_K (roughly the mix of real Q4_K_M files).
 *
 *   bench-gen_qwen2_layout SRC.gguf OUT.gguf N_EMBD N_LAYER N_HEAD N_HEAD_KV N_FF [MATRIX_TYPE]
 *   e.g. Qwen2.5-1.5B's body: 1536 28 12 2 8960 (the vocabulary stays SRC's)
 */
#define _GNU_SOURCE 1   /* clock_gettime (bench_common.h) under -std=c11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf_writer.h"
#include "infer.h"
#include "tensor/dtype.h"
#include "bench_common.h"

/* Random blocks of a K-quant with its f16 scale fields overwritten by small values. */
static void *rand_matrix(uint32_t type, uint64_t cols, uint64_t rows) {
    size_t bytes = infer_dtype_row_bytes(type, (int64_t)cols) * rows;
    uint8_t *p = malloc(bytes);
    if (!p) return NULL;
    for (size_t i = 0; i + 8 <= bytes; i += 8) {
        uint64_t v = bench_rand_u64();
        memcpy(p + i, &v, 8);
    }
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    uint16_t d = infer_f32_to_fp16(0.002f), dmin = infer_f32_to_fp16(0.001f);
    for (size_t b = 0; b < bytes / tr->block_bytes; b++) {
        uint8_t *blk = p + b * tr->block_bytes;
        if (type == INFER_TYPE_Q4_K) {
            memcpy(blk, &d, 2);
            memcpy(blk + 2, &dmin, 2);
        } else if (type == INFER_TYPE_Q6_K) {
            memcpy(blk + 208, &d, 2);
        } else if (type == INFER_TYPE_Q8_0 || type == INFER_TYPE_Q4_0) {
            uint16_t d0 = infer_f32_to_fp16(type == INFER_TYPE_Q8_0 ? 0.0005f : 0.004f);
            memcpy(blk, &d0, 2);
        }
    }
    return p;
}

static float *const_vec(uint64_t n, float v, float noise) {
    float *p = malloc(n * sizeof *p);
    for (uint64_t i = 0; i < n; i++) p[i] = v + noise * ((float)(bench_rand_u64() >> 40) / (float)(1 << 24) - 0.5f);
    return p;
}

static void copy_kv(infer_gguf_writer *w, const infer_gguf *g, int64_t i) {
    const char *key = infer_gguf_kv_key(g, i);
    infer_gguf_type t = infer_gguf_kv_type(g, i);
    if (t == INFER_GGUF_STRING) {
        uint64_t len;
        const char *s = infer_gguf_kv_str(g, i, &len);
        infer_gguf_writer_set_strn(w, key, s, len);
    } else if (t == INFER_GGUF_ARRAY) {
        infer_gguf_type at = infer_gguf_kv_arr_type(g, i);
        uint64_t n = infer_gguf_kv_arr_len(g, i);
        if (at == INFER_GGUF_STRING) {
            const char **s = malloc(n * sizeof *s);
            uint64_t *l = malloc(n * sizeof *l);
            for (uint64_t j = 0; j < n; j++) s[j] = infer_gguf_kv_arr_str(g, i, j, &l[j]);
            infer_gguf_writer_set_arr_str(w, key, s, l, n);
            free(s);
            free(l);
        } else if (at == INFER_GGUF_FLOAT32) {
            float *v = malloc(n * sizeof *v);
            for (uint64_t j = 0; j < n; j++) v[j] = (float)infer_gguf_kv_arr_float(g, i, j);
            infer_gguf_writer_set_arr(w, key, at, v, n);
            free(v);
        } else if (at == INFER_GGUF_INT32) {
            int32_t *v = malloc(n * sizeof *v);
            for (uint64_t j = 0; j < n; j++) v[j] = (int32_t)infer_gguf_kv_arr_int(g, i, j);
            infer_gguf_writer_set_arr(w, key, at, v, n);
            free(v);
        }
    } else if (t == INFER_GGUF_FLOAT32) {
        infer_gguf_writer_set_f32(w, key, (float)infer_gguf_kv_float(g, i));
    } else if (t == INFER_GGUF_UINT32) {
        infer_gguf_writer_set_u32(w, key, (uint32_t)infer_gguf_kv_uint(g, i));
    } else if (t == INFER_GGUF_INT32) {
        infer_gguf_writer_set_i32(w, key, (int32_t)infer_gguf_kv_int(g, i));
    } else if (t == INFER_GGUF_BOOL) {
        infer_gguf_writer_set_bool(w, key, infer_gguf_kv_int(g, i) != 0);
    }
}

int main(int argc, char **argv) {
    if (argc != 8 && argc != 9) {
        fprintf(stderr, "usage: %s SRC.gguf OUT.gguf N_EMBD N_LAYER N_HEAD N_HEAD_KV N_FF [q4_k|q4_k_m|q6_k|q8_0|q4_0]\n", argv[0]);
        return 2;
    }
    const char *mt = argc == 9 ? argv[8] : "q4_k";
    bool mix = strcmp(mt, "q4_k_m") == 0;
    uint32_t mat = !strcmp(mt, "q6_k") ? INFER_TYPE_Q6_K : !strcmp(mt, "q8_0") ? INFER_TYPE_Q8_0 : !strcmp(mt, "q4_0") ? INFER_TYPE_Q4_0 : INFER_TYPE_Q4_K;
    if (!mix && mat == INFER_TYPE_Q4_K && strcmp(mt, "q4_k") != 0) {
        fprintf(stderr, "unknown matrix type '%s'\n", mt);
        return 2;
    }
    uint64_t n_embd = strtoull(argv[3], NULL, 10), n_layer = strtoull(argv[4], NULL, 10);
    uint64_t n_head = strtoull(argv[5], NULL, 10), n_head_kv = strtoull(argv[6], NULL, 10), n_ff = strtoull(argv[7], NULL, 10);
    uint64_t n_kv = n_embd / n_head * n_head_kv;
    infer_gguf *g;
    infer_error err;
    if (infer_gguf_open(argv[1], &g, &err) != INFER_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    int64_t ti = infer_gguf_find_tensor(g, "token_embd.weight");
    if (ti < 0) { fprintf(stderr, "no token_embd.weight in %s\n", argv[1]); return 1; }
    uint64_t n_vocab = infer_gguf_tensor_dim(g, ti, 1);

    infer_gguf_writer *w = infer_gguf_writer_new();
    for (int64_t i = 0; i < infer_gguf_n_kv(g); i++) {
        const char *k = infer_gguf_kv_key(g, i);
        if (!strncmp(k, "qwen2.", 6) && (strstr(k, "length") || strstr(k, "count"))) continue;
        copy_kv(w, g, i);
    }
    infer_gguf_writer_set_u32(w, "qwen2.context_length", 32768);
    infer_gguf_writer_set_u32(w, "qwen2.embedding_length", (uint32_t)n_embd);
    infer_gguf_writer_set_u32(w, "qwen2.feed_forward_length", (uint32_t)n_ff);
    infer_gguf_writer_set_u32(w, "qwen2.block_count", (uint32_t)n_layer);
    infer_gguf_writer_set_u32(w, "qwen2.attention.head_count", (uint32_t)n_head);
    infer_gguf_writer_set_u32(w, "qwen2.attention.head_count_kv", (uint32_t)n_head_kv);

    uint64_t ne[2];
#define ADD(name, type, d0, d1, data) do { ne[0] = (d0); ne[1] = (d1); void *p_ = (data); \
        infer_gguf_writer_add_tensor(w, name, type, (d1) ? 2 : 1, ne, p_); free(p_); } while (0)
    ADD("output_norm.weight", INFER_TYPE_F32, n_embd, 0, const_vec(n_embd, 1, 0));
    ADD("token_embd.weight", INFER_TYPE_Q6_K, n_embd, n_vocab, rand_matrix(INFER_TYPE_Q6_K, n_embd, n_vocab));
    char name[96];
    for (uint64_t l = 0; l < n_layer; l++) {
#define NAME(s) (snprintf(name, sizeof name, "blk.%llu.%s", (unsigned long long)l, s), name)
        const uint32_t mv = mix && l % 2 == 0 ? INFER_TYPE_Q6_K : mat;   /* attn_v, ffn_down */
        ADD(NAME("attn_norm.weight"), INFER_TYPE_F32, n_embd, 0, const_vec(n_embd, 1, 0));
        ADD(NAME("ffn_norm.weight"), INFER_TYPE_F32, n_embd, 0, const_vec(n_embd, 1, 0));
        ADD(NAME("attn_q.weight"), mat, n_embd, n_embd, rand_matrix(mat, n_embd, n_embd));
        ADD(NAME("attn_k.weight"), mat, n_embd, n_kv, rand_matrix(mat, n_embd, n_kv));
        ADD(NAME("attn_v.weight"), mv, n_embd, n_kv, rand_matrix(mv, n_embd, n_kv));
        ADD(NAME("attn_q.bias"), INFER_TYPE_F32, n_embd, 0, const_vec(n_embd, 0, 0.02f));
        ADD(NAME("attn_k.bias"), INFER_TYPE_F32, n_kv, 0, const_vec(n_kv, 0, 0.02f));
        ADD(NAME("attn_v.bias"), INFER_TYPE_F32, n_kv, 0, const_vec(n_kv, 0, 0.02f));
        ADD(NAME("attn_output.weight"), mat, n_embd, n_embd, rand_matrix(mat, n_embd, n_embd));
        ADD(NAME("ffn_gate.weight"), mat, n_embd, n_ff, rand_matrix(mat, n_embd, n_ff));
        ADD(NAME("ffn_up.weight"), mat, n_embd, n_ff, rand_matrix(mat, n_embd, n_ff));
        ADD(NAME("ffn_down.weight"), mv, n_ff, n_embd, rand_matrix(mv, n_ff, n_embd));
    }
    infer_status st = infer_gguf_writer_save(w, argv[2], &err);
    infer_gguf_writer_free(w);
    infer_gguf_close(g);
    if (st != INFER_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    return 0;
}
