/* Per-type dot-product kernels behind infer_cpu_matmul, one table per ISA.
 *
 * A weight row is multiplied with activations converted once per matmul call into the
 * row type's partner format (the "act" format): F32 for float weights, infer_act_q8
 * blocks for the 32-weight formats, Q8_K blocks for K-quants. Integer sums are exact in
 * every ISA; only the float accumulation order differs between them. */
#ifndef INFER_CPU_VEC_DOT_H
#define INFER_CPU_VEC_DOT_H

#include <stddef.h>
#include <stdint.h>

typedef enum infer_act_format {
    INFER_ACT_F32 = 0,   /* plain floats, 1 per "block" */
    INFER_ACT_Q8,        /* infer_act_q8, 32 per block */
    INFER_ACT_Q8K,       /* block_q8_k, 256 per block */
} infer_act_format;

/* 32 activations: x ~= d * qs[i], qs in [-127,127]; s = d * sum(qs) so that formats with
 * an offset (Q4_0's -8, Q4_1's min, ...) correct the integer dot with one multiply. */
typedef struct { float d; float s; int8_t qs[32]; } infer_act_q8;

/* Converts one row of `cols` floats into `cols / block` act blocks. */
typedef void (*infer_quantize_act_fn)(const float *x, void *dst, int64_t cols);

/* Dot of one weight row (nb blocks) with nt activation rows (1 <= nt <= INFER_DOT_MAX_NT),
 * the first at x, the next at x + xs bytes, ...; writes out[0..nt). Kernels decode each
 * weight block once and reuse it for all nt rows. */
#define INFER_DOT_MAX_NT 4
/* A kernel may accept wider tiles (its max_nt), up to this many tokens. */
#define INFER_DOT_WIDE_NT 8
typedef void (*infer_dot_tile_fn)(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out);

/* Two weight rows at once (w and w + ws bytes) against nt tokens: out[j] for row 0 and
 * out[nt + j] for row 1, j < nt. For instructions that need two rows per operand
 * (AArch64 SMMLA, see vec_dot_neon_mmla.inc); nt up to the kernel's max_nt. */
typedef void (*infer_dot_rows2_fn)(int64_t nb, const void *w, size_t ws, const void *x, size_t xs, int nt, float *out);

/* A weight type's act format is not stated here but read from its dtype traits
 * (infer_act_format_of), so that every ISA table and the GPU round alike. */
typedef struct infer_vec_dot_kernel {
    infer_dot_tile_fn dot;
    int max_nt;   /* tokens per call it takes; 0 means INFER_DOT_MAX_NT */
    infer_dot_rows2_fn dot2;   /* NULL: one row per call only */
} infer_vec_dot_kernel;

/* One token against `nrows` weight rows (w, w + ws bytes, ...): y[r] = dot(row r, x).
 * Dedicated decode kernels walk the whole range in one call; the result must equal the
 * tile kernel's for that token bit for bit (batch invariance). Returns -1 when it does
 * not take this shape (the caller then uses the tile kernel), else 0. */
typedef int (*infer_dot_rows_fn)(int64_t nb, const void *w, size_t ws, int64_t nrows, const void *x, float *y);

/* Bytes of one activation row of `cols` values in format f. */
size_t infer_act_row_bytes(infer_act_format f, int64_t cols);
/* Elements per act block. */
int64_t infer_act_block(infer_act_format f);
/* The act format a weight type's kernels take: its dtype traits' vec_dot_type (Q8_0 ->
 * INFER_ACT_Q8, Q8_K -> INFER_ACT_Q8K), INFER_ACT_F32 for float and unknown types. */
infer_act_format infer_act_format_of(uint32_t wtype);

/* Kernel tables: NULL when the type has no kernel for that ISA (or the ISA was not
 * compiled in); the scalar table covers every supported type. */
const infer_vec_dot_kernel *infer_vec_dot_scalar(uint32_t type);
const infer_vec_dot_kernel *infer_vec_dot_avx2(uint32_t type);
const infer_vec_dot_kernel *infer_vec_dot_avx512(uint32_t type);
/* AArch64 levels (NULL on other targets): base ARMv8 NEON, +dotprod (SDOT), and
 * +i8mm (SMMLA for multi-token prompt tiles). Each level's table is complete on its own. */
const infer_vec_dot_kernel *infer_vec_dot_neon(uint32_t type);
const infer_vec_dot_kernel *infer_vec_dot_neon_dotprod(uint32_t type);
const infer_vec_dot_kernel *infer_vec_dot_neon_i8mm(uint32_t type);

infer_quantize_act_fn infer_quantize_act_scalar(infer_act_format f);
infer_quantize_act_fn infer_quantize_act_avx2(infer_act_format f);   /* NULL if absent */
infer_quantize_act_fn infer_quantize_act_avx512(infer_act_format f);
infer_quantize_act_fn infer_quantize_act_neon(infer_act_format f);  /* same for all levels */

#endif
