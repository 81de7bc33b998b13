/* AMX tile matmul (matmul_amx.c) against the scalar reference path, on awkward shapes:
 * every format it covers, tokens (1..40) and rows that are no multiple of 16 (partial tiles),
 * K spanning several 256-column units or ending in a partial one (32-weight formats), row
 * sub-ranges written with a larger row stride. The AMX entry point is called
 * directly, so a silent fallback to another kernel cannot pass; and infer_cpu_matmul with
 * INFER_CPU_ISA=amx must agree too. Both paths use the same quantized activations, so the
 * integer sums are identical and only float summation order may differ.
 * Exits 77 (skipped) when this CPU/OS cannot run AMX. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "infer.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_amx.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/cpu/vec_dot.h"
#include "tensor/dtype.h"
#include "matmul_case.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;

/* Scalar y for all rows, then the AMX kernel for rows [lo,hi) into a buffer of row stride
 * ldy (64-byte aligned, so whole 16-row groups of a large y may be streamed). */
static void check_shape_ldy(uint32_t type, int64_t rows, int64_t cols, int64_t n, int64_t lo, int64_t hi,
                            int64_t ldy) {
    matmul_case mc;
    assert_int_equal(matmul_case_make(&mc, type, rows, cols, n, &rng), 0);
    assert_true(infer_amx_supports(type, (infer_act_format)mc.act, cols));
    const size_t rb = mc.rb, xs = mc.xs;
    char *W = mc.W, *xq = mc.xq;
    const float *x = mc.x, *ref = mc.ref;
    float *y = aligned_alloc(64, (sizeof(float) * (size_t)(n * ldy) + 63) / 64 * 64);
    infer_threadpool *tp = infer_threadpool_new(2);
    assert_non_null(tp);
    for (int64_t i = 0; i < n * ldy; i++) y[i] = NAN;   /* rows outside [lo,hi) must stay untouched */
    assert_int_equal(infer_amx_matmul_rows(type, W, rb, cols, lo, hi, xq, xs, n, y, ldy), 0);
    double scale = 0;
    for (int64_t i = 0; i < n * rows; i++) scale += fabs(ref[i]) / (double)(n * rows);
    for (int64_t t = 0; t < n; t++)
        for (int64_t r = 0; r < ldy; r++) {
            const float v = y[t * ldy + r];
            if (r < lo || r >= hi) {
                if (!isnan(v)) { print_error("%s: wrote outside rows [%lld,%lld) at r=%lld\n", infer_type_name(type), (long long)lo, (long long)hi, (long long)r); fail(); }
                continue;
            }
            const double e = fabs((double)v - ref[t * rows + r]);
            if (!(e <= 1e-5 * (fabs(ref[t * rows + r]) + scale) + 1e-6)) {
                print_error("%s rows=%lld cols=%lld n=%lld: y[%lld][%lld]=%.9g scalar %.9g\n", infer_type_name(type),
                            (long long)rows, (long long)cols, (long long)n, (long long)t, (long long)r, v,
                            ref[t * rows + r]);
                fail();
            }
        }
    /* the whole dispatcher with AMX selected agrees as well */
    float *y2 = malloc(sizeof(float) * (size_t)(n * rows));
    setenv("INFER_CPU_ISA", "amx", 1);
    assert_int_equal(infer_cpu_isa_active(), INFER_ISA_AMX);
    assert_int_equal(infer_cpu_matmul(tp, NULL, W, type, rows, cols, x, n, y2), 0);
    unsetenv("INFER_CPU_ISA");
    for (int64_t i = 0; i < n * rows; i++)
        if (!(fabs((double)y2[i] - ref[i]) <= 1e-5 * (fabs(ref[i]) + scale) + 1e-6)) {
            print_error("%s dispatch: [%lld] %.9g vs scalar %.9g\n", infer_type_name(type), (long long)i, y2[i], ref[i]);
            fail();
        }
    infer_threadpool_free(tp);
    free(y2); free(y);
    matmul_case_free(&mc);
}

static void check_shape(uint32_t type, int64_t rows, int64_t cols, int64_t n, int64_t lo, int64_t hi) {
    check_shape_ldy(type, rows, cols, n, lo, hi, rows + 7);
}

static const uint32_t kquants[] = {INFER_TYPE_Q2_K, INFER_TYPE_Q3_K, INFER_TYPE_Q4_K,
                                   INFER_TYPE_Q5_K, INFER_TYPE_Q6_K, INFER_TYPE_IQ4_XS};
static const uint32_t blocks32[] = {INFER_TYPE_Q4_0, INFER_TYPE_Q4_1, INFER_TYPE_Q5_0, INFER_TYPE_Q5_1,
                                    INFER_TYPE_Q8_0, INFER_TYPE_IQ4_NL, INFER_TYPE_MXFP4};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Every format on shapes whose rows and tokens are no multiple of 16. */
static void test_awkward_shapes(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {   /* rows, cols (multiples of 256), tokens */
        {16, 256, 16}, {37, 768, 17}, {5, 512, 3}, {100, 1280, 40}, {33, 256, 33}, {16, 2304, 31},
    };
    for (size_t ti = 0; ti < COUNT(kquants) + COUNT(blocks32); ti++) {
        const uint32_t type = ti < COUNT(kquants) ? kquants[ti] : blocks32[ti - COUNT(kquants)];
        for (size_t si = 0; si < COUNT(shapes); si++)
            check_shape(type, shapes[si][0], shapes[si][1], shapes[si][2], 0, shapes[si][0]);
    }
}

/* 32-weight formats with rows that end in a partial 256-column unit (gpt-oss: 2880). */
static void test_partial_units(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {{17, 32, 16}, {16, 96, 5}, {23, 288, 19}, {9, 2880, 21}, {40, 480, 40}};
    for (size_t ti = 0; ti < COUNT(blocks32); ti++)
        for (size_t si = 0; si < COUNT(shapes); si++)
            check_shape(blocks32[ti], shapes[si][0], shapes[si][1], shapes[si][2], 0, shapes[si][0]);
}

/* Every token count from 1 to 40 (partial token tiles of every size). */
static void test_token_counts(void **state) {
    (void)state;
    for (int64_t n = 1; n <= 40; n++) {
        check_shape(kquants[n % COUNT(kquants)], 19, 512, n, 0, 19);
        check_shape(blocks32[n % COUNT(blocks32)], 21, 160, n, 0, 21);
    }
}

static void test_row_subrange(void **state) {
    (void)state;
    check_shape(INFER_TYPE_Q4_K, 60, 512, 20, 13, 47);
    check_shape(INFER_TYPE_Q6_K, 60, 768, 18, 16, 60);
    check_shape(INFER_TYPE_Q2_K, 50, 256, 17, 3, 50);
    check_shape(INFER_TYPE_Q8_0, 40, 256, 33, 0, 21);
    check_shape(INFER_TYPE_MXFP4, 45, 2880, 24, 5, 38);
    check_shape(INFER_TYPE_Q4_1, 30, 224, 16, 14, 29);
}

/* Enough tokens that the K-quant rows go in several row blocks (each summed in the output
 * slab over the spans before the last, the last adding it into y), from a row range off
 * the 16-row grid. Then a y of 8 MiB and more (a wide row stride), which is written with
 * streaming stores where a 16-row group is whole and aligned, masked stores elsewhere. */
static void test_row_blocks(void **state) {
    (void)state;
    check_shape(INFER_TYPE_Q4_K, 70, 1280, 1100, 3, 67);
    check_shape(INFER_TYPE_Q6_K, 70, 1280, 1100, 3, 67);
    check_shape_ldy(INFER_TYPE_Q4_K, 70, 1280, 1100, 16, 67, 2000);
    check_shape_ldy(INFER_TYPE_Q6_K, 70, 512, 1100, 0, 70, 2000);
}

static void test_rejects_what_it_lacks(void **state) {
    (void)state;
    assert_false(infer_amx_supports(INFER_TYPE_Q4_K, INFER_ACT_Q8K, 96));    /* no whole unit */
    assert_false(infer_amx_supports(INFER_TYPE_Q4_K, INFER_ACT_Q8, 256));    /* wrong act partner */
    assert_false(infer_amx_supports(INFER_TYPE_F32, INFER_ACT_F32, 256));
    assert_false(infer_amx_supports(INFER_TYPE_Q4_0, INFER_ACT_Q8, 48));     /* no whole block */
    assert_false(infer_amx_supports(INFER_TYPE_MXFP4, INFER_ACT_Q8K, 256));  /* wrong act partner */
    assert_true(infer_amx_supports(INFER_TYPE_MXFP4, INFER_ACT_Q8, 2880));   /* gpt-oss rows */
}

int main(void) {
    if (infer_cpu_isa_detect() != INFER_ISA_AMX) {
        fprintf(stderr, "skip: no AMX-INT8 on this CPU/OS (or permission refused)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_awkward_shapes),
        cmocka_unit_test(test_partial_units),
        cmocka_unit_test(test_token_counts),
        cmocka_unit_test(test_row_subrange),
        cmocka_unit_test(test_row_blocks),
        cmocka_unit_test(test_rejects_what_it_lacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
