/* One random matmul problem and its scalar-path answer, for the tests that check a fast
 * matmul path (AMX tiles, VNNI panels) against the scalar reference. */
#ifndef INFER_TEST_MATMUL_CASE_H
#define INFER_TEST_MATMUL_CASE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t type;
    int64_t rows, cols, n;
    size_t rb, xs;      /* bytes of one weight row / one converted activation row */
    int act;            /* infer_act_format of the scalar kernel's activations */
    char *W;            /* rows x cols weights of `type` (Gaussian, sd 0.05, quantized) */
    float *x;           /* n x cols activations (Gaussian, every 53rd column 8x larger) */
    char *xq;           /* x converted by the scalar converter */
    float *ref;         /* n x rows: infer_cpu_matmul with INFER_CPU_ISA=scalar */
} matmul_case;

/* Draws the case from the xorshift state *rng. Returns 0, or -1 (nothing to free). */
int matmul_case_make(matmul_case *c, uint32_t type, int64_t rows, int64_t cols, int64_t n, uint64_t *rng);
void matmul_case_free(matmul_case *c);
/* After the caller changed W or x: converts x again and recomputes ref. Returns 0 or -1. */
int matmul_case_redo(matmul_case *c);

#endif
