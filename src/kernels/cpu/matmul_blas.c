/* OpenBLAS behind infer_blas_matmul_rows (see matmul_blas.h); without it (INFER_HAVE_OPENBLAS
 * undefined) nothing is supported and matmul.c keeps its own kernels. */
#include "kernels/cpu/matmul_blas.h"
#include <stdlib.h>
#include "tensor/dtype.h"

#ifdef INFER_HAVE_OPENBLAS
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>

/* BF16 rows are converted this many at a time (1.5 MiB of floats at 1536 columns:
 * stays in L2 while sgemm packs it, and the buffer is small). */
#define BLAS_CONVERT_ROWS 256

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

/* Our thread pool runs one sgemm per thread on its own rows; OpenBLAS's own threads would
 * compete with it for the same cores. (This is OpenBLAS's process-wide setting.) */
static void blas_single_threaded(void) { openblas_set_num_threads(1); }

int infer_blas_supports(uint32_t wtype) {
    /* F16 measured level with our kernels (their inline F16C conversion is as cheap as
     * converting rows for sgemm): only F32 and BF16 gain */
    return wtype == INFER_TYPE_F32 || wtype == INFER_TYPE_BF16;
}

int infer_blas_matmul_rows(uint32_t wtype, const char *W, size_t row_bytes, int64_t cols, int64_t row_lo,
                           int64_t row_hi, const float *x, int64_t n, float *y, int64_t ldy) {
    if ((wtype != INFER_TYPE_F32 && wtype != INFER_TYPE_F16 && wtype != INFER_TYPE_BF16) || cols <= 0 || cols > INT32_MAX || n > INT32_MAX || ldy > INT32_MAX ||
        row_hi - row_lo > INT32_MAX)
        return -1;
    pthread_once(&blas_once, blas_single_threaded);
    float *conv = NULL;
    if (wtype != INFER_TYPE_F32) {
        conv = malloc(sizeof(float) * BLAS_CONVERT_ROWS * (size_t)cols);
        if (!conv) return -1;
    }
    const infer_dtype_traits *tr = infer_dtype_traits_get(wtype);
    const int64_t step = conv ? BLAS_CONVERT_ROWS : row_hi - row_lo;
    for (int64_t r0 = row_lo; r0 < row_hi; r0 += step) {
        const int64_t r1 = r0 + step < row_hi ? r0 + step : row_hi;
        const float *wf = (const float *)(W + (size_t)r0 * row_bytes);
        if (conv) {
            tr->to_float(W + (size_t)r0 * row_bytes, conv, (r1 - r0) * cols);
            wf = conv;
        }
        /* Y[n x rows] = X[n x cols] * W^T, only this range's columns of Y */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)(r1 - r0), (int)cols, 1.0f, x, (int)cols,
                    wf, (int)cols, 0.0f, y + r0, (int)ldy);
    }
    free(conv);
    return 0;
}

#else
int infer_blas_supports(uint32_t wtype) {
    (void)wtype;
    return 0;
}

int infer_blas_matmul_rows(uint32_t wtype, const char *W, size_t row_bytes, int64_t cols, int64_t row_lo,
                           int64_t row_hi, const float *x, int64_t n, float *y, int64_t ldy) {
    (void)wtype; (void)W; (void)row_bytes; (void)cols; (void)row_lo; (void)row_hi; (void)x; (void)n; (void)y; (void)ldy;
    return -1;
}
#endif

int infer_blas_env_allows(void) {
    const char *env = getenv("INFER_OPENBLAS");   /* "0": our kernels */
    return !(env && env[0] == '0' && env[1] == '\0');
}
