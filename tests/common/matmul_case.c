/* See matmul_case.h. */
#define _POSIX_C_SOURCE 200809L
#include "matmul_case.h"
#include <math.h>
#include <stdlib.h>
#include "infer.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/cpu/vec_dot.h"
#include "tensor/dtype.h"

static float gauss(uint64_t *rng) {
    double u[2];
    for (int i = 0; i < 2; i++) {
        *rng ^= *rng << 13; *rng ^= *rng >> 7; *rng ^= *rng << 17;
        u[i] = ((*rng >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    }
    return (float)(sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

void matmul_case_free(matmul_case *c) {
    free(c->W); free(c->x); free(c->xq); free(c->ref);
    c->W = c->xq = NULL;
    c->x = c->ref = NULL;
}

int matmul_case_make(matmul_case *c, uint32_t type, int64_t rows, int64_t cols, int64_t n, uint64_t *rng) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    const infer_vec_dot_kernel *k = infer_vec_dot_scalar(type);
    if (!tr || !k) return -1;
    const infer_act_format act = infer_act_format_of(type);
    *c = (matmul_case){.type = type, .rows = rows, .cols = cols, .n = n, .act = (int)act,
                       .rb = infer_dtype_row_bytes(type, cols), .xs = infer_act_row_bytes(act, cols)};
    c->W = malloc(c->rb * (size_t)rows);
    c->xq = malloc(c->xs * (size_t)n);
    c->x = malloc(sizeof(float) * (size_t)(n * cols));
    c->ref = malloc(sizeof(float) * (size_t)(n * rows));
    float *tmp = malloc(sizeof(float) * (size_t)cols);
    int rc = -1;
    if (c->W && c->xq && c->x && c->ref && tmp) {
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t i = 0; i < cols; i++) tmp[i] = gauss(rng) * 0.05f;
            tr->from_float(tmp, c->W + c->rb * (size_t)r, cols);
        }
        for (int64_t i = 0; i < n * cols; i++) c->x[i] = gauss(rng) * ((i % cols) % 53 == 7 ? 8.0f : 1.0f);
        rc = matmul_case_redo(c);
    }
    free(tmp);
    if (rc != 0) matmul_case_free(c);
    return rc;
}

int matmul_case_redo(matmul_case *c) {
    const infer_vec_dot_kernel *k = infer_vec_dot_scalar(c->type);
    if (!k) return -1;
    infer_threadpool *tp = infer_threadpool_new(2);
    if (!tp) return -1;
    for (int64_t t = 0; t < c->n; t++)
        infer_quantize_act_scalar((infer_act_format)c->act)(c->x + t * c->cols, c->xq + c->xs * (size_t)t, c->cols);
    setenv("INFER_CPU_ISA", "scalar", 1);
    const int rc = infer_cpu_matmul(tp, NULL, c->W, c->type, c->rows, c->cols, c->x, c->n, c->ref);
    unsetenv("INFER_CPU_ISA");
    infer_threadpool_free(tp);
    return rc;
}
