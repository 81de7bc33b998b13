/* x86 prompt matmul without AMX: "decode once, multiply many".
 *
 * The per-row tiles of vec_dot_avx512.c / vec_dot_avx2.c re-decode a weight block for
 * every 8 (4) tokens and end every block with a per-token float tail. Here 16 weight rows
 * (AVX-512 VNNI) or 8 (AVX2) are decoded once per call into a small per-thread panel (uint8 levels laid out rows-in-lanes, sub-block
 * scales, min/offset factors as int16 pairs, row scales as floats), and then every token
 * of the batch runs against it: one vpdpbusd per 4 columns x 16 rows with the token's 4
 * activation bytes broadcast, the sub-block scales applied once per sub-block in integers
 * (vpmulld), the mins / level offset from the Q8_K bsums with vpdpwssd, one float
 * multiply-add per super-block and token. The 16 outputs of
 * a token are 16 consecutive floats of y. AVX2 (matmul_panels_avx2.c) has
 * no vpdpbusd: vpmaddubsw gives int16 pairs, several of a sub-block summed in int16 (as
 * many as cannot overflow for the format) before one vpmaddwd with the sub-block scale
 * (with ones for the 32-weight formats; IQ4_NL and Q8_0, signed, move w's sign onto the
 * activation). No second copy of the weights: the panel is 16 rows x one row length.
 *
 * Integer dot products are exactly the scalar reference's; each token's float work is the
 * same whatever the batch size or its place in the batch (so every batch that takes panels
 * gives a token the same bits), but not the same bits as the one-token dot kernels. */
#ifndef INFER_CPU_MATMUL_PANELS_H
#define INFER_CPU_MATMUL_PANELS_H

#include <stddef.h>
#include <stdint.h>
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/vec_dot.h"

/* The fewest tokens for which the panels of level `isa` beat the tiles for weights of
 * `wtype` (bench-bench_matmul --cpu -t 1 -n 2,3,4,6,8, bench/RESULTS.md): the K-quants 8
 * at both levels (scales to unpack; AVX2 on Zen 2, 2048x2048: 8 tokens even, 6 tokens
 * 1.2x slower than the 4-token tiles, 16 tokens 1.3x faster); the 32-weight formats 2
 * (cheap to lay out), except IQ4_NL and Q8_0 at AVX2: 4 (their signed multiply takes two
 * multiplies a quad; Zen 2, 2880x2880: even at 2 and 3 tokens, 1.2x faster at 4). */
int infer_panels_min_tokens(infer_cpu_isa isa, uint32_t wtype);

/* 1 when panels beat the AMX tiles for weights of `wtype` at every batch size measured,
 * so the plan takes panels even where AMX is active: the 32-weight formats (MXFP4, IQ4_NL,
 * Q4_0, Q8_0), whose AMX products end in one int32->float scale per 16x16x32 tile (2880x2880,
 * 1 thread: panels 1.2x AMX at 512 tokens, 2.4x at 64; bench/RESULTS.md, end of session 4).
 * The K-quants keep AMX (1.3-2x the panels at 512 tokens). */
int infer_panels_beat_amx(uint32_t wtype);

/* 1 when this build has panel code of level `isa` (INFER_ISA_AVX2, or INFER_ISA_AVX512 and
 * above: AMX runs the AVX-512 panels) for weights of `wtype` with `act` activations and
 * rows of `cols`: the K-quants and the 32-weight formats, at both levels. Says
 * nothing about the CPU (the caller checks the active ISA) and nothing about
 * INFER_CPU_PANELS (see infer_panels_env_allows). */
int infer_panels_supports(infer_cpu_isa isa, uint32_t wtype, infer_act_format act, int64_t cols);

/* 0 when INFER_CPU_PANELS=0 is set in the environment. Read once per backend, when its
 * matmul state is made (infer_cpu_scratch_new), never per plan. The tests that compare a
 * batch with token-by-token decoding bit for bit turn panels off, since the one-token
 * kernels sum floats in another order. */
int infer_panels_env_allows(void);

/* y[t * ldy + r] = dot(W[r], x[t]) for rows [row_lo,row_hi) and all n tokens with the
 * panels of level `isa`; xq holds n act rows of xs bytes. Returns 0, or -1 when that level
 * lacks the format or shape, the CPU cannot run it, or out of memory (nothing written). */
int infer_panels_matmul_rows(infer_cpu_isa isa, uint32_t wtype, const char *W, size_t row_bytes, int64_t cols,
                             int64_t row_lo, int64_t row_hi, const char *xq, size_t xs, int64_t n, float *y,
                             int64_t ldy);

/* The two levels behind infer_panels_matmul_rows, same arguments (each -1 in a build
 * without that ISA's compiler flags). */
int infer_panels_avx512_rows(uint32_t wtype, const char *W, size_t row_bytes, int64_t cols, int64_t row_lo,
                             int64_t row_hi, const char *xq, size_t xs, int64_t n, float *y, int64_t ldy);
int infer_panels_avx2_rows(uint32_t wtype, const char *W, size_t row_bytes, int64_t cols, int64_t row_lo,
                           int64_t row_hi, const char *xq, size_t xs, int64_t n, float *y, int64_t ldy);

#endif
