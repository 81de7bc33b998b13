/* Float-weight prompt matmuls through OpenBLAS's sgemm, where the build found OpenBLAS.
 *
 * Measured in bench/RESULTS.md ("OpenBLAS for F32/F16/BF16 prompt matmuls"): for F32 and
 * BF16 weights and a prompt-sized batch, one sgemm per chunk of rows (BF16 rows converted
 * to F32 256 at a time) beats our dot-product tiles, which are bound by loading the
 * activations for every multiply-add; F16 came out level, so it stays on our kernels, as
 * does generation (a few tokens). */
#ifndef INFER_CPU_MATMUL_BLAS_H
#define INFER_CPU_MATMUL_BLAS_H

#include <stddef.h>
#include <stdint.h>

/* Fewer tokens than this: our kernels (sgemm's packing does not pay off). */
#define INFER_BLAS_MIN_TOKENS 32

/* 1 when this build has OpenBLAS and weights of `wtype` (F32, BF16) go to it. Says nothing
 * about INFER_OPENBLAS (see infer_blas_env_allows). */
int infer_blas_supports(uint32_t wtype);

/* 0 when INFER_OPENBLAS=0 is set in the environment (side-by-side measurements, batch-
 * invariant tests). Read once per backend, when its matmul state is made
 * (infer_cpu_scratch_new), never per call. */
int infer_blas_env_allows(void);

/* y[t * ldy + r] = dot(W[r], x[t]) for rows [row_lo,row_hi) and all n tokens (x: n rows of
 * cols floats), for F32, F16 or BF16 weights (infer_blas_supports decides which of them
 * matmul.c sends here), on the calling thread (OpenBLAS is kept single-threaded: our pool already
 * splits the rows). Returns 0, or -1 when unsupported or out of memory (nothing written). */
int infer_blas_matmul_rows(uint32_t wtype, const char *W, size_t row_bytes, int64_t cols, int64_t row_lo,
                           int64_t row_hi, const float *x, int64_t n, float *y, int64_t ldy);

#endif
