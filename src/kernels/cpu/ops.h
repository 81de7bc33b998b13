/* CPU operator kernels behind the backend ops table (backend_cpu.c).
 *
 * These work on plain host pointers: the backend resolves views to pointers, checks
 * their extents, and turns a returned status into its sticky error. Every kernel that
 * can run in parallel takes the backend's thread pool (never a global one) and splits
 * its work itself. Layouts follow backend.h: rows are contiguous, the innermost
 * dimension first.
 */
#ifndef INFER_CPU_OPS_H
#define INFER_CPU_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "infer.h"
#include "kernels/backend.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/workspace.h"

/* ---- norm (ops_norm.c) */
/* out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, for n_rows rows of row_len; w may be
 * NULL (no weight). The sum of squares is accumulated in double. out may equal x. */
void infer_cpu_rms_norm(infer_threadpool *tp, const float *x, const float *w, int64_t n_rows,
                        int64_t row_len, float eps, float *out);

/* ---- rope (ops_rope.c) */
/* The YaRN correction range [lo, hi] in rotated-pair units (as ggml computes it). */
void infer_cpu_rope_yarn_corr_dims(const infer_rope_params *p, float dims[2]);
/* cos/sin of the n_rot/2 rotation angles for one position, magnitude scaling included:
 * cs[2i] = cos(theta_i) * mscale, cs[2i+1] = sin(theta_i) * mscale. freq_factors (n_rot/2
 * values, or NULL) divide each pair's base angle before scaling. Exposed so the YaRN
 * maths can be checked in isolation. */
void infer_cpu_rope_cos_sin(const infer_rope_params *p, const float *freq_factors, int32_t pos, float *cs);
/* In place on x: n_tok rows, each n_head heads of head_dim; pos[t] per row;
 * freq_factors as above (NULL: none).
 * Returns INFER_ERR_INVALID_ARG (message in err) for an impossible n_rot. */
infer_status infer_cpu_rope(infer_threadpool *tp, infer_cpu_ws *ws, float *x, const int32_t *pos,
                            int64_t n_tok, int64_t n_head, int64_t head_dim, const float *freq_factors,
                            const infer_rope_params *p, infer_error *err);

/* ---- attention (ops_attention.c) */
/* q, out: n_tokens x n_head x head_dim (F32). k, v: cache rows of n_head_kv x head_dim,
 * of kv_type F32 or F16, at least n_kv rows. sinks: n_head logits or NULL.
 * A query row that sees no key and has no sink gets zeros. */
infer_status infer_cpu_attention(infer_threadpool *tp, infer_cpu_ws *ws, const float *q,
                                 const void *k, const void *v, uint32_t kv_type,
                                 const int32_t *pos, const float *sinks,
                                 const infer_attn_params *p, float *out, infer_error *err);

/* ---- elementwise (ops_elementwise.c) */
/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the scalar
 * reference of INFER_GLU_GEGLU (the AVX2 path and the Vulkan shader follow it). */
float infer_gelu_tanh(float x);
void infer_cpu_glu(infer_threadpool *tp, infer_glu_kind kind, const float *gate, const float *up,
                   int64_t n, float alpha, float limit, float *out);
/* Same on the calling thread only (for callers already inside a pool task). */
void infer_cpu_glu_serial(infer_glu_kind kind, const float *gate, const float *up, int64_t n, float alpha,
                          float limit, float *out);
/* glu with AVX2: handles a prefix of n and returns its length (all of n when built with
 * AVX2, 0 otherwise). Every element goes through the same vector formula, so results do
 * not depend on how the work was split. */
int64_t infer_cpu_glu_avx2(infer_glu_kind kind, const float *gate, const float *up, int64_t n, float alpha,
                           float limit, float *out);
/* The same with AVX-512 (bit for bit the AVX2 path's values, 16 lanes). */
int64_t infer_cpu_glu_avx512(infer_glu_kind kind, const float *gate, const float *up, int64_t n, float alpha,
                             float limit, float *out);
void infer_cpu_add(infer_threadpool *tp, const float *a, const float *b, int64_t n, float *out);
/* out[i] = s * x[i], then cap * tanh(out[i] / cap) when cap > 0 (see backend.h). */
void infer_cpu_scale(infer_threadpool *tp, const float *x, int64_t n, float s, float cap, float *out);
/* y[t][r] += bias[r] for n rows of `cols` values (single-threaded: it is cheap). */
void infer_cpu_add_bias_rows(float *y, const float *bias, int64_t n, int64_t cols);

/* ---- rows (ops_rows.c) */
/* out[t] = to_float(table row ids[t]); the table holds table_rows rows of row_len
 * elements of `type`. An id outside [0, table_rows) is an error naming it. */
infer_status infer_cpu_get_rows(infer_threadpool *tp, const void *table, uint32_t type,
                                int64_t table_rows, int64_t row_len, const int32_t *ids,
                                int64_t n, float *out, infer_error *err);
/* cache row pos[t] = src[t] (converted to cache_type F32/F16); cache_rows bounds pos. */
infer_status infer_cpu_kv_store(const float *src, const int32_t *pos, int64_t n_tok,
                                int64_t row_len, void *cache, uint32_t cache_type,
                                int64_t cache_rows, infer_error *err);

/* ---- mixture of experts (ops_moe.c) */
typedef struct infer_cpu_moe_args {
    const float *x;             /* n_tok x n_embd */
    const float *router;        /* n_tok x n_expert (bias already added) */
    int64_t n_tok, n_embd, n_ff;
    int32_t n_expert, k;
    const void *w_gate, *w_up;  /* n_expert x n_ff x n_embd, of w_gate_type / w_up_type */
    const void *w_down;         /* n_expert x n_embd x n_ff */
    uint32_t w_gate_type, w_up_type, w_down_type;
    const float *b_gate, *b_up; /* n_expert x n_ff, or NULL */
    const float *b_down;        /* n_expert x n_embd, or NULL */
    infer_glu_kind glu;
    float alpha, limit;
    float *out;                 /* n_tok x n_embd */
} infer_cpu_moe_args;

/* Chooses the k largest logits of one router row (ties: lower expert index first) and
 * their softmax weights. ids/w have k entries, in decreasing logit order. */
void infer_cpu_moe_route(const float *logits, int32_t n_expert, int32_t k, int32_t *ids, float *w);

infer_status infer_cpu_moe(infer_threadpool *tp, infer_cpu_scratch *scratch,
                           infer_cpu_ws *ws, const infer_cpu_moe_args *a, infer_error *err);

/* ---- attention internals shared by the portable and per-ISA tile kernels */
#define ATTN_MAX_ROWS 32      /* query rows per tile (tokens x heads of one KV group) */
#define ATTN_KEY_BLOCK 64     /* keys scored per online-softmax step */

/* A tile: rows that read the same KV head. Row r sees cache rows [lo[r], hi[r]]. */
typedef struct attn_tile {
    int rows, head_dim;
    const float *q[ATTN_MAX_ROWS];
    float *out[ATTN_MAX_ROWS];
    int64_t lo[ATTN_MAX_ROWS], hi[ATTN_MAX_ROWS];
    float sink[ATTN_MAX_ROWS];
    int has_sink;
    const void *k, *v;          /* first element of this KV head in cache row 0 */
    size_t kv_row_stride;       /* elements between cache rows (n_head_kv * head_dim) */
    uint32_t kv_type;           /* F32 or F16 */
    float scale;
    /* NULL: write normalized rows to out[r]. Otherwise (one key range of a split): write
     * each row's running state, partial + r * (head_dim + 2) = { max, sum, acc[head_dim] },
     * unnormalized, for the caller to merge. */
    float *partial;
} attn_tile;

/* Scratch floats a tile kernel needs for `rows` rows of head_dim. */
static inline size_t attn_tile_scratch_floats(int rows, int head_dim) {
    return (size_t)rows * ATTN_KEY_BLOCK + (size_t)rows * head_dim + 2 * (size_t)ATTN_KEY_BLOCK * head_dim;
}
void infer_cpu_attn_tile_generic(const attn_tile *t, float *scratch);
void infer_cpu_attn_tile_avx2(const attn_tile *t, float *scratch);
void infer_cpu_attn_tile_avx512(const attn_tile *t, float *scratch);

#endif
