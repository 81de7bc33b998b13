/* One-token matrix-vector kernels (generation): y[r] = dot(W[r], x) for a run of rows.
 *
 * Why apart from the per-row tiles of vec_dot.h: a decode step streams every weight row
 * once from memory, and the per-row tile call with one token leaves the core waiting on
 * misses (bench/RESULTS.md, "gpt-oss-20b decode"). These kernels
 *  - (AVX-512) prepare the activation side once per call (the token's bytes of a block pair
 *    lined up in one register, the offset correction and the token scales), shared by all rows;
 *  - walk the row range as 4 parts side by side (gemv_streams.h), so the hardware
 *    prefetchers follow 4 sequential streams, and prefetch each a few KiB ahead into L1;
 *  - keep the float arithmetic of each row exactly that of the ISA's tile kernel with one
 *    token (same integer lanes, same products, same order of additions), so a token gives
 *    the same bits alone as in a batch (tests/common/batch_invariant.c).
 * They have vec_dot.h's infer_dot_rows_fn signature and go into the matmul plan's `decode`
 * slot for the types that have no dedicated kernel in vec_dot_decode_avx512.c (Q4_K, Q6_K). */
#ifndef INFER_CPU_GEMV_H
#define INFER_CPU_GEMV_H

#include <stddef.h>
#include <stdint.h>
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/vec_dot.h"

/* The AVX-512 kernels prepare the activation side on the stack (96 bytes per block): rows
 * longer than this many blocks return -1 (the tile kernels take them). */
#define INFER_GEMV_MAX_BLOCKS 320

/* The plan's one-token kernel for weights of `wtype` when the matmul runs on the table of
 * `level` (vec_dot_decode_avx512.c for Q4_K/Q6_K, then gemv_avx512.c / gemv_avx2.c);
 * NULL when that level has none. The one place matmul.c asks. */
infer_dot_rows_fn infer_gemv_for(infer_cpu_isa level, uint32_t wtype);

/* AVX-512 K-quant kernels of vec_dot_decode_avx512.c (Q4_K, Q6_K); NULL for other types. */
infer_dot_rows_fn infer_decode_rows_avx512(uint32_t type);
/* The AVX-512 VNNI table's one-token kernel for a weight type, bit-identical to that
 * table's tile with nt = 1; NULL when there is none (or AVX-512 was not compiled in). */
infer_dot_rows_fn infer_gemv_avx512(uint32_t wtype);
/* The same with the AVX512-VBMI kernels (vbmi = 1) or without them; infer_gemv_avx512
 * asks the CPU. Tests call both so the fallback stays checked on VBMI machines too. */
infer_dot_rows_fn infer_gemv_avx512_variant(uint32_t wtype, int vbmi);
/* The same for the AVX2 table (any row length). */
infer_dot_rows_fn infer_gemv_avx2(uint32_t wtype);

#endif
