/* AMX-INT8 prompt matmul: blocks of 16 weight rows x 16 tokens multiplied with tile
 * instructions (TDPBSSD), for the K-quants (Q2_K..Q6_K, IQ4_XS; Q8_K activations) and the
 * 32-weight formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, MXFP4; infer_act_q8 activations).
 *
 * Weights are decoded on the fly, 16 rows x 256 columns at a time (tile_decode_amx.c, one
 * decoder per format), into int8 tiles in the VNNI layout TDPBSSD wants (no second copy of
 * the model). Activations are the already converted act rows read straight from the
 * matmul's buffer as tiles of 16 tokens. Integer sums are exactly those of the scalar
 * reference (vec_dot_scalar.c); only float summation order differs. */
#ifndef INFER_CPU_MATMUL_AMX_H
#define INFER_CPU_MATMUL_AMX_H

#include <stddef.h>
#include <stdint.h>
#include "kernels/cpu/vec_dot.h"

/* 1 when an AMX kernel exists for weights of `wtype` with `act` activations and rows of
 * `cols` (a multiple of 256 for K-quants, of 32 for the others), and this build has AMX code. Says nothing about the CPU:
 * the caller checks infer_cpu_isa_active() == INFER_ISA_AMX. */
int infer_amx_supports(uint32_t wtype, infer_act_format act, int64_t cols);

/* y[t * ldy + r] = dot(W[r], x[t]) for rows [row_lo,row_hi) and all n tokens; xq holds n
 * act rows of xs bytes. Loads the tile configuration on the calling thread and releases
 * it before returning. Returns 0, or -1 when unsupported (nothing written). */
int infer_amx_matmul_rows(uint32_t wtype, const char *W, size_t row_bytes, int64_t cols, int64_t row_lo,
                          int64_t row_hi, const char *xq, size_t xs, int64_t n, float *y, int64_t ldy);

#endif
