/* Continuous batching: k sequences stepped one token each per infer_ctx_decode_batch
 * call, against the same k sequences decoded one call per token. Each sequence first
 * gets a prompt of P tokens; then G generation steps are timed both ways.
 *
 *   bench-bench_sequences MODEL.gguf [k=8] [P=64] [G=32] [threads=0] [cpu|vulkan]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "infer.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [k] [P] [G] [threads] [cpu|vulkan]\n", argv[0]);
        return 2;
    }
    const int k = argc > 2 ? atoi(argv[2]) : 8, P = argc > 3 ? atoi(argv[3]) : 64, G = argc > 4 ? atoi(argv[4]) : 32;
    const int threads = argc > 5 ? atoi(argv[5]) : 0;
    const int vulkan = argc > 6 && strcmp(argv[6], "vulkan") == 0;
    if (k < 1 || k > 256 || P < 1 || G < 1) return 2;
    infer_model *m = NULL;
    infer_error err;
    if (infer_model_load(argv[1], NULL, &m, &err) != INFER_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    infer_ctx_params p = infer_ctx_default_params();
    p.n_seq_max = (uint32_t)k;
    p.n_ctx = (uint32_t)(k * (P + G + 8));
    p.n_threads = threads;
    p.backend = vulkan ? INFER_BACKEND_VULKAN : INFER_BACKEND_CPU;
    infer_ctx *c = NULL;
    if (infer_ctx_new(m, &p, &c, &err) != INFER_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    const int32_t V = infer_model_n_vocab(m);
    int32_t *tok = malloc((size_t)k * P * sizeof *tok), *seq = malloc((size_t)k * P * sizeof *seq);
    for (int s = 0; s < k; s++)
        for (int i = 0; i < P; i++) {
            tok[s * P + i] = (int32_t)(bench_rand_u64() % (uint64_t)V);
            seq[s * P + i] = s;
        }
    double best[2] = {1e9, 1e9};
    for (int rep = 0; rep < 2; rep++) {
        for (int mode = 0; mode < 2; mode++) {   /* 0: one call per token, 1: one call per step */
            infer_ctx_kv_clear(c);
            infer_batch pb = {.n_tokens = k * P, .tokens = tok, .seq_id = seq};
            if (infer_ctx_decode_batch(c, &pb) != INFER_OK) {
                fprintf(stderr, "%s\n", infer_ctx_last_error(c));
                return 1;
            }
            double t0 = bench_now_s();
            for (int g = 0; g < G; g++) {
                int32_t t[256], s_id[256];
                for (int s = 0; s < k; s++) {
                    t[s] = (int32_t)((g * 31 + s * 7) % V);
                    s_id[s] = s;
                }
                if (mode == 1) {
                    infer_batch b = {.n_tokens = k, .tokens = t, .seq_id = s_id};
                    if (infer_ctx_decode_batch(c, &b) != INFER_OK) return 1;
                } else {
                    for (int s = 0; s < k; s++) {
                        infer_batch b = {.n_tokens = 1, .tokens = &t[s], .seq_id = &s_id[s]};
                        if (infer_ctx_decode_batch(c, &b) != INFER_OK) return 1;
                    }
                }
            }
            double dt = bench_now_s() - t0;
            if (dt < best[mode]) best[mode] = dt;
        }
    }
    printf("%s on %s: %d sequences, prompt %d, %d steps\n", argv[1], infer_ctx_device_name(c), k, P, G);
    printf("  one call per token : %8.1f tokens/s\n", k * G / best[0]);
    printf("  one call per step  : %8.1f tokens/s (%.2fx)\n", k * G / best[1], best[0] / best[1]);
    free(tok);
    free(seq);
    infer_ctx_free(c);
    infer_model_free(m);
    return 0;
}
