/* VNNI panel matmul (matmul_panels_avx512.c) against the scalar reference path, on awkward
 * shapes: Q4_K, Q5_K, Q6_K, MXFP4, IQ4_NL, Q4_0, Q8_0 with rows that are no multiple of the
 * 16-row panel, rows of 32-weight blocks that end in a partial 256-column unit (gpt-oss: 2880), every token
 * count from 1 to 40 (partial 8-token register blocks), several super-blocks per row, row
 * sub-ranges written with a larger row stride. The panel entry point is called directly,
 * so a silent fallback to another kernel cannot pass; infer_cpu_matmul with
 * INFER_CPU_ISA=avx512 must agree too, and with INFER_CPU_PANELS=0 as well. Both use the
 * same quantized activations: integer sums are identical, only float order differs.
 * A token's result must not depend on the batch it is in (bit for bit).
 * Exits 77 (skipped) when this CPU cannot run AVX-512 VNNI. */
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
#include "kernels/cpu/matmul_panels.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/cpu/vec_dot.h"
#include "tensor/dtype.h"
#include "matmul_case.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static char g_shape[64];   /* the shape under test, for messages */

static void expect_close(const float *y, const float *ref, int64_t count, const char *what, uint32_t type) {
    double scale = 0;
    for (int64_t i = 0; i < count; i++) scale += fabs(ref[i]) / (double)count;
    for (int64_t i = 0; i < count; i++)
        /* float sums of up to 90 block terms that cancel to a far smaller total, added in
         * another order than the reference: a few float ulps of the terms, not of the total */
        if (!(fabs((double)y[i] - ref[i]) <= 4e-5 * (fabs(ref[i]) + scale) + 1e-6)) {
            print_error("%s %s %s: [%lld] %.9g vs scalar %.9g\n", infer_type_name(type), g_shape, what, (long long)i, y[i],
                        ref[i]);
            fail();
        }
}

/* Scalar y for all rows, then the panel kernel for rows [lo,hi) into a strided buffer. */
static void check_shape(uint32_t type, int64_t rows, int64_t cols, int64_t n, int64_t lo, int64_t hi) {
    snprintf(g_shape, sizeof g_shape, "rows=%lld cols=%lld n=%lld", (long long)rows, (long long)cols, (long long)n);
    matmul_case mc;
    assert_int_equal(matmul_case_make(&mc, type, rows, cols, n, &rng), 0);
    assert_true(infer_panels_supports(type, (infer_act_format)mc.act, cols));
    const size_t rb = mc.rb, xs = mc.xs;
    const char *W = mc.W, *xq = mc.xq;
    const float *x = mc.x, *ref = mc.ref;
    float *y2 = malloc(sizeof(float) * (size_t)(n * rows));
    const int64_t ldy = rows + 7;
    float *y = malloc(sizeof(float) * (size_t)(n * ldy));
    infer_threadpool *tp = infer_threadpool_new(2);
    assert_non_null(tp);
    for (int64_t i = 0; i < n * ldy; i++) y[i] = NAN;   /* rows outside [lo,hi) must stay untouched */
    assert_int_equal(infer_panels_matmul_rows(type, W, rb, cols, lo, hi, xq, xs, n, y, ldy), 0);
    for (int64_t t = 0; t < n; t++)
        for (int64_t r = 0; r < ldy; r++) {
            const float v = y[t * ldy + r];
            if (r < lo || r >= hi) {
                if (!isnan(v)) { print_error("%s: wrote outside rows [%lld,%lld) at r=%lld\n", infer_type_name(type), (long long)lo, (long long)hi, (long long)r); fail(); }
                continue;
            }
            expect_close(&v, &ref[t * rows + r], 1, "panel", type);
        }
    /* the last token alone (as the tail of a register block) gives the same bits */
    float *y1 = malloc(sizeof(float) * (size_t)ldy);
    assert_int_equal(infer_panels_matmul_rows(type, W, rb, cols, lo, hi, xq + xs * (size_t)(n - 1), xs, 1, y1, ldy), 0);
    for (int64_t r = lo; r < hi; r++)
        if (memcmp(&y1[r], &y[(n - 1) * ldy + r], sizeof(float)) != 0) {
            print_error("%s: token %lld alone %.9g, in a batch of %lld %.9g\n", infer_type_name(type), (long long)(n - 1),
                        y1[r], (long long)n, y[(n - 1) * ldy + r]);
            fail();
        }
    free(y1);
    /* the whole dispatcher at AVX-512, with panels and without */
    for (int off = 0; off < 2; off++) {
        setenv("INFER_CPU_ISA", "avx512", 1);
        if (off) setenv("INFER_CPU_PANELS", "0", 1);
        assert_int_equal(infer_cpu_matmul(tp, NULL, W, type, rows, cols, x, n, y2), 0);
        unsetenv("INFER_CPU_ISA");
        unsetenv("INFER_CPU_PANELS");
        expect_close(y2, ref, n * rows, off ? "dispatch, panels off" : "dispatch", type);
    }
    infer_threadpool_free(tp);
    free(y2); free(y);
    matmul_case_free(&mc);
}

static const uint32_t types[] = {INFER_TYPE_Q4_K, INFER_TYPE_Q5_K, INFER_TYPE_Q6_K, INFER_TYPE_MXFP4,
                                 INFER_TYPE_IQ4_NL, INFER_TYPE_Q4_0, INFER_TYPE_Q8_0};
static const uint32_t blocks32[] = {INFER_TYPE_MXFP4, INFER_TYPE_IQ4_NL, INFER_TYPE_Q4_0, INFER_TYPE_Q8_0};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void test_awkward_shapes(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {   /* rows, cols (multiples of 256), tokens */
        {16, 256, 16}, {37, 768, 17}, {5, 512, 3}, {100, 1280, 40}, {33, 256, 9}, {16, 2304, 31}, {47, 1536, 64},
    };
    for (size_t ti = 0; ti < COUNT(types); ti++)
        for (size_t si = 0; si < COUNT(shapes); si++)
            check_shape(types[ti], shapes[si][0], shapes[si][1], shapes[si][2], 0, shapes[si][0]);
}

/* 32-weight formats with rows that are no multiple of 256 columns */
static void test_partial_units(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {{17, 32, 16}, {16, 96, 5}, {23, 288, 19}, {9, 2880, 21}, {40, 480, 40}};
    for (size_t ti = 0; ti < COUNT(blocks32); ti++)
        for (size_t si = 0; si < COUNT(shapes); si++)
            check_shape(blocks32[ti], shapes[si][0], shapes[si][1], shapes[si][2], 0, shapes[si][0]);
}

static void test_token_counts(void **state) {
    (void)state;
    for (int64_t n = 1; n <= 40; n++) check_shape(types[n % COUNT(types)], 19 + n % 5, 512, n, 0, 19 + n % 5);
}

static void test_row_subrange(void **state) {
    (void)state;
    check_shape(INFER_TYPE_Q4_K, 60, 512, 20, 13, 47);
    check_shape(INFER_TYPE_Q6_K, 60, 768, 18, 16, 60);
    check_shape(INFER_TYPE_Q5_K, 50, 256, 17, 3, 50);
    check_shape(INFER_TYPE_MXFP4, 45, 2880, 24, 5, 38);
    check_shape(INFER_TYPE_Q8_0, 40, 256, 33, 0, 21);
}

static void test_rejects_what_it_lacks(void **state) {
    (void)state;
    assert_false(infer_panels_supports(INFER_TYPE_Q4_K, INFER_ACT_Q8K, 96));   /* no whole super-block */
    assert_false(infer_panels_supports(INFER_TYPE_Q4_K, INFER_ACT_Q8, 256));   /* wrong act partner */
    assert_false(infer_panels_supports(INFER_TYPE_F32, INFER_ACT_F32, 256));
    assert_false(infer_panels_supports(INFER_TYPE_MXFP4, INFER_ACT_Q8K, 256));  /* wrong act partner */
    assert_false(infer_panels_supports(INFER_TYPE_Q8_0, INFER_ACT_Q8, 48));     /* no whole block */
    assert_true(infer_panels_supports(INFER_TYPE_MXFP4, INFER_ACT_Q8, 2880));   /* gpt-oss rows */
    assert_int_equal(infer_panels_matmul_rows(INFER_TYPE_F32, NULL, 1024, 256, 0, 1, NULL, 1024, 1, NULL, 1), -1);
}

int main(void) {
    if (infer_cpu_isa_detect() < INFER_ISA_AVX512 || infer_cpu_isa_is_arm(infer_cpu_isa_detect())) {
        fprintf(stderr, "skip: no AVX-512 VNNI on this CPU\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_awkward_shapes),
        cmocka_unit_test(test_partial_units),
        cmocka_unit_test(test_token_counts),
        cmocka_unit_test(test_row_subrange),
        cmocka_unit_test(test_rejects_what_it_lacks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
