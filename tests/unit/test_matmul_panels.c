/* x86 panel matmuls (matmul_panels_avx512.c, 16 rows; matmul_panels_avx2.c, 8 rows) against
 * the scalar reference path, on awkward shapes, at every level this CPU runs: Q4_K, Q5_K,
 * Q6_K, MXFP4, IQ4_NL, Q4_0, Q8_0 (both levels) with rows that are no multiple
 * of the panel, rows of 32-weight blocks that end in a partial 256-column unit (gpt-oss:
 * 2880), every token count from 1 to 40 (partial register blocks of 4 and 8 tokens), several
 * super-blocks per row, row sub-ranges starting and ending inside a panel written with a
 * larger row stride, and extreme blocks (every level and scale at its top, activations at
 * +-127: the AVX2 int16 partial sums at their bound). The panel entry point is called
 * directly, so a silent fallback to another kernel cannot pass; infer_cpu_matmul with
 * INFER_CPU_ISA at that level must agree too, and with panels off as well. Both use
 * the same quantized activations: integer sums are identical, only float order differs.
 * A token's result must not depend on the batch it is in (bit for bit).
 * Exits 77 (skipped) when this CPU has no AVX2. */
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
#include "quant/blocks.h"
#include "tensor/dtype.h"
#include "matmul_case.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static char g_shape[80];   /* the shape and level under test, for messages */
static infer_cpu_isa g_isa;   /* the panel level under test */

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

/* The panel kernel of g_isa for rows [lo,hi) of mc into a strided buffer, against its
 * scalar reference. */
static void check_case(matmul_case *c, int64_t lo, int64_t hi) {
    const uint32_t type = c->type;
    const int64_t rows = c->rows, cols = c->cols, n = c->n;
    snprintf(g_shape, sizeof g_shape, "%s rows=%lld [%lld,%lld) cols=%lld n=%lld", infer_cpu_isa_str(g_isa),
             (long long)rows, (long long)lo, (long long)hi, (long long)cols, (long long)n);
    matmul_case mc = *c;
    assert_true(infer_panels_supports(g_isa, type, (infer_act_format)mc.act, cols));
    const size_t rb = mc.rb, xs = mc.xs;
    const char *W = mc.W, *xq = mc.xq;
    const float *x = mc.x, *ref = mc.ref;
    float *y2 = malloc(sizeof(float) * (size_t)(n * rows));
    const int64_t ldy = rows + 7;
    float *y = malloc(sizeof(float) * (size_t)(n * ldy));
    infer_threadpool *tp = infer_threadpool_new(2);
    assert_non_null(tp);
    for (int64_t i = 0; i < n * ldy; i++) y[i] = NAN;   /* rows outside [lo,hi) must stay untouched */
    assert_int_equal(infer_panels_matmul_rows(g_isa, type, W, rb, cols, lo, hi, xq, xs, n, y, ldy), 0);
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
    assert_int_equal(
        infer_panels_matmul_rows(g_isa, type, W, rb, cols, lo, hi, xq + xs * (size_t)(n - 1), xs, 1, y1, ldy), 0);
    for (int64_t r = lo; r < hi; r++)
        if (memcmp(&y1[r], &y[(n - 1) * ldy + r], sizeof(float)) != 0) {
            print_error("%s: token %lld alone %.9g, in a batch of %lld %.9g\n", infer_type_name(type), (long long)(n - 1),
                        y1[r], (long long)n, y[(n - 1) * ldy + r]);
            fail();
        }
    free(y1);
    /* the whole dispatcher at this level, with panels and without */
    infer_cpu_scratch *sc = infer_cpu_scratch_new();
    assert_non_null(sc);
    for (int off = 0; off < 2; off++) {
        setenv("INFER_CPU_ISA", g_isa == INFER_ISA_AVX2 ? "avx2" : "avx512", 1);
        infer_cpu_scratch_set_panels(sc, !off);
        assert_int_equal(infer_cpu_matmul(tp, sc, W, type, rows, cols, x, n, y2), 0);
        unsetenv("INFER_CPU_ISA");
        expect_close(y2, ref, n * rows, off ? "dispatch, panels off" : "dispatch", type);
    }
    infer_cpu_scratch_free(sc);
    infer_threadpool_free(tp);
    free(y2); free(y);
}

/* Scalar y for all rows of a random case, then check_case. */
static void check_shape(uint32_t type, int64_t rows, int64_t cols, int64_t n, int64_t lo, int64_t hi) {
    matmul_case mc;
    assert_int_equal(matmul_case_make(&mc, type, rows, cols, n, &rng), 0);
    check_case(&mc, lo, hi);
    matmul_case_free(&mc);
}

static const uint32_t types[] = {INFER_TYPE_Q4_K, INFER_TYPE_Q5_K, INFER_TYPE_Q6_K, INFER_TYPE_MXFP4,
                                 INFER_TYPE_IQ4_NL, INFER_TYPE_Q4_0, INFER_TYPE_Q8_0};
static const uint32_t kquants[] = {INFER_TYPE_Q4_K, INFER_TYPE_Q5_K, INFER_TYPE_Q6_K};
static const uint32_t blocks32[] = {INFER_TYPE_MXFP4, INFER_TYPE_IQ4_NL, INFER_TYPE_Q4_0, INFER_TYPE_Q8_0};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* the level under test has panels for this type (all at both levels, since the AVX2 32-weight panels) */
static int level_has(uint32_t type) {
    const infer_act_format act = infer_act_format_of(type);
    return infer_panels_supports(g_isa, type, act, 256);
}

static int panel_rows(void) { return g_isa == INFER_ISA_AVX2 ? 8 : 16; }

static void test_awkward_shapes(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {   /* rows, cols (multiples of 256), tokens */
        {16, 256, 16}, {37, 768, 17}, {5, 512, 3}, {100, 1280, 40}, {33, 256, 9}, {16, 2304, 31}, {47, 1536, 64},
    };
    for (size_t ti = 0; ti < COUNT(types); ti++)
        for (size_t si = 0; si < COUNT(shapes); si++)
            if (level_has(types[ti])) check_shape(types[ti], shapes[si][0], shapes[si][1], shapes[si][2], 0, shapes[si][0]);
}

/* 32-weight formats with rows that are no multiple of 256 columns */
static void test_partial_units(void **state) {
    (void)state;
    static const int64_t shapes[][3] = {{17, 32, 16}, {16, 96, 5}, {23, 288, 19}, {9, 2880, 21}, {40, 480, 40}};
    for (size_t ti = 0; ti < COUNT(blocks32); ti++)
        for (size_t si = 0; si < COUNT(shapes); si++)
            if (level_has(blocks32[ti]))
                check_shape(blocks32[ti], shapes[si][0], shapes[si][1], shapes[si][2], 0, shapes[si][0]);
}

/* every type at every token count 1..17 (whole and partial register blocks), then more */
static void test_token_counts(void **state) {
    (void)state;
    for (int64_t n = 1; n <= 17; n++)
        for (size_t ti = 0; ti < COUNT(types); ti++)
            if (level_has(types[ti])) check_shape(types[ti], 19 + n % 5, 512, n, 0, 19 + n % 5);
    for (int64_t n = 18; n <= 40; n++) {
        const uint32_t type = level_has(types[n % COUNT(types)]) ? types[n % COUNT(types)] : kquants[n % 3];
        check_shape(type, 19 + n % 5, 512, n, 0, 19 + n % 5);
    }
}

/* The rows-in-lanes edges: a last panel of one row and of all but one, one whole panel,
 * one row, ranges that start and end inside a panel. */
static void test_panel_edges(void **state) {
    (void)state;
    const int64_t P = panel_rows();
    const int64_t rows[] = {1, P - 1, P, P + 1, 2 * P - 1, 3 * P};
    for (size_t ti = 0; ti < COUNT(types); ti++) {
        if (!level_has(types[ti])) continue;
        for (size_t ri = 0; ri < COUNT(rows); ri++) check_shape(types[ti], rows[ri], 512, 5 + (int64_t)ri, 0, rows[ri]);
        check_shape(types[ti], 3 * P, 256, 9, 3, P + 3);          /* two panels, both partial */
        check_shape(types[ti], 3 * P, 256, 6, P, 2 * P);          /* exactly the middle panel */
        check_shape(types[ti], 3 * P, 256, 7, P - 1, P);          /* the last row of a panel */
        check_shape(types[ti], 3 * P, 256, 4, 2 * P - 1, 3 * P);  /* one row, then a whole panel */
    }
}

static void test_row_subrange(void **state) {
    (void)state;
    check_shape(INFER_TYPE_Q4_K, 60, 512, 20, 13, 47);
    check_shape(INFER_TYPE_Q6_K, 60, 768, 18, 16, 60);
    check_shape(INFER_TYPE_Q5_K, 50, 256, 17, 3, 50);
    if (level_has(INFER_TYPE_MXFP4)) check_shape(INFER_TYPE_MXFP4, 45, 2880, 24, 5, 38);
    if (level_has(INFER_TYPE_Q8_0)) check_shape(INFER_TYPE_Q8_0, 40, 256, 33, 0, 21);
}

/* The 32-weight formats at every token count 1..40 and 64 (whole and partial register
 * blocks of 4 and 8), rows that are no multiple of the panel and ranges that start and end
 * inside one, rows of 2880 columns (gpt-oss: a partial 256-column unit) now and then. */
static void test_block32_tokens(void **state) {
    (void)state;
    const int64_t P = panel_rows();
    for (size_t ti = 0; ti < COUNT(blocks32); ti++) {
        if (!level_has(blocks32[ti])) continue;
        for (int64_t n = 1; n <= 41; n++) {
            const int64_t tokens = n == 41 ? 64 : n, rows = 2 * P + 3 + n % 3;
            const int64_t lo = n % 4 == 0 ? 0 : 1 + n % (P - 1), hi = n % 3 == 0 ? rows : rows - 1 - n % 5;
            check_shape(blocks32[ti], rows, n % 10 == 0 ? 2880 : 96 + 32 * (n % 4), tokens, lo, hi);
        }
    }
}

static uint8_t rand_byte(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint8_t)(rng >> 32);
}

/* The extreme blocks' tokens: all +1, all -1, +-1 by halves of 16 (quantized to +-127),
 * the rest as drawn; then the whole range and an inner one against the reference. Frees mc. */
static void check_extreme(matmul_case *mc) {
    const int64_t cols = mc->cols, rows = mc->rows;
    for (int64_t t = 0; t < 3; t++)
        for (int64_t c = 0; c < cols; c++)
            mc->x[t * cols + c] = t == 0 ? 1.0f : t == 1 ? -1.0f : (c / 16) % 2 ? -1.0f : 1.0f;
    assert_int_equal(matmul_case_redo(mc), 0);
    for (int64_t t = 0; t < 2; t++)   /* the quantizer gives +-127 there: the bound's premise */
        for (int64_t c = 0; c < cols; c++) {
            const char *row = mc->xq + mc->xs * (size_t)t;
            const int8_t q = mc->act == INFER_ACT_Q8K ? ((const block_q8_k *)row)[c / 256].qs[c % 256]
                                                      : ((const infer_act_q8 *)row)[c / 32].qs[c % 32];
            assert_int_equal(q, t ? -127 : 127);
        }
    check_case(mc, 0, rows);
    check_case(mc, 1, rows - 2);
    matmul_case_free(mc);
}

/* Blocks at the top of their ranges, where the AVX2 int16 partial sums reach their bound:
 * by rows in turn, every level and scale at its top (Q6_K scales 127 and -128), random
 * levels under top scales, top levels under random scales; tokens all +127, all -127,
 * +-127 by halves of 16, then random. fp16 d = dmin = 2^-10 keeps the floats finite. */
static void test_extreme_blocks(void **state) {
    (void)state;
    const uint16_t d = 0x1400;
    for (size_t ti = 0; ti < COUNT(kquants); ti++) {
        const uint32_t type = kquants[ti];
        matmul_case mc;
        const int64_t rows = 3 * panel_rows() + 3, cols = 768, n = 11;
        assert_int_equal(matmul_case_make(&mc, type, rows, cols, n, &rng), 0);
        const size_t bb = infer_dtype_row_bytes(type, 256);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t i = 0; i < cols / 256; i++) {
                uint8_t *blk = (uint8_t *)mc.W + mc.rb * (size_t)r + bb * (size_t)i;
                for (size_t k = 0; k < bb; k++) blk[k] = r % 3 == 1 ? rand_byte() : 0xFF;
                uint8_t *sc;
                size_t nsc;
                if (type == INFER_TYPE_Q4_K) {
                    block_q4_k *b = (block_q4_k *)blk;
                    b->d = b->dmin = d; sc = b->scales; nsc = sizeof b->scales;
                } else if (type == INFER_TYPE_Q5_K) {
                    block_q5_k *b = (block_q5_k *)blk;
                    b->d = b->dmin = d; sc = b->scales; nsc = sizeof b->scales;
                } else {
                    block_q6_k *b = (block_q6_k *)blk;
                    b->d = d; sc = (uint8_t *)b->scales; nsc = sizeof b->scales;
                }
                for (size_t k = 0; k < nsc; k++)
                    sc[k] = r % 3 == 2 ? rand_byte()
                            : type == INFER_TYPE_Q6_K ? (r % 2 ? 0x7F : 0x80)
                            : 0xFF;
            }
        check_extreme(&mc);
    }
}

/* 32-weight blocks at the AVX2 int16 bounds (matmul_panels_avx2.c): by rows in turn, every
 * level at the top of the panel's multiply (Q4_0 level 15 -> 30480 a block; MXFP4 +12 ->
 * 24384 a half block, 48768 if the whole block were summed in int16; IQ4_NL -127 and 113,
 * Q8_0 -128 and 127 -> 32258 / 32512 a quad, over 32767 with one more pair), random levels
 * in between; tokens all +127, all -127, +-127 by halves of 16, then random. Scales 2^-10. */
static void test_extreme_blocks32(void **state) {
    (void)state;
    for (size_t ti = 0; ti < COUNT(blocks32); ti++) {
        const uint32_t type = blocks32[ti];
        if (!level_has(type)) continue;
        matmul_case mc;
        const int64_t rows = 3 * panel_rows() + 3, cols = 288, n = 11;
        assert_int_equal(matmul_case_make(&mc, type, rows, cols, n, &rng), 0);
        const size_t bb = infer_dtype_row_bytes(type, 32);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t i = 0; i < cols / 32; i++) {
                uint8_t *blk = (uint8_t *)mc.W + mc.rb * (size_t)r + bb * (size_t)i;
                uint8_t top = 0xFF;                                     /* Q4_0: level 15 */
                if (type == INFER_TYPE_MXFP4) top = r % 2 ? 0x77 : 0xFF;   /* +12, -12 */
                if (type == INFER_TYPE_IQ4_NL) top = r % 2 ? 0xFF : 0x00;  /* 113, -127 */
                if (type == INFER_TYPE_Q8_0) top = r % 2 ? 0x7F : 0x80;    /* 127, -128 */
                const size_t qs = type == INFER_TYPE_MXFP4 ? 1 : 2;
                for (size_t k = qs; k < bb; k++) blk[k] = r % 3 == 1 ? rand_byte() : top;
                if (type == INFER_TYPE_MXFP4) blk[0] = 118;                /* 2^(118 - 128) */
                else { blk[0] = 0x00; blk[1] = 0x14; }                     /* fp16 2^-10 */
            }
        check_extreme(&mc);
    }
}

static void test_rejects_what_it_lacks(void **state) {
    (void)state;
    const infer_cpu_isa L = g_isa;
    assert_false(infer_panels_supports(L, INFER_TYPE_Q4_K, INFER_ACT_Q8K, 96));   /* no whole super-block */
    assert_false(infer_panels_supports(L, INFER_TYPE_Q4_K, INFER_ACT_Q8, 256));   /* wrong act partner */
    assert_false(infer_panels_supports(L, INFER_TYPE_F32, INFER_ACT_F32, 256));
    assert_false(infer_panels_supports(L, INFER_TYPE_MXFP4, INFER_ACT_Q8K, 256));  /* wrong act partner */
    assert_false(infer_panels_supports(L, INFER_TYPE_Q8_0, INFER_ACT_Q8, 48));     /* no whole block */
    assert_false(infer_panels_supports(INFER_ISA_SCALAR, INFER_TYPE_Q4_K, INFER_ACT_Q8K, 256));
    assert_true(infer_panels_supports(L, INFER_TYPE_Q6_K, INFER_ACT_Q8K, 1536));
    assert_true(infer_panels_supports(L, INFER_TYPE_MXFP4, INFER_ACT_Q8, 2880));   /* gpt-oss rows */
    assert_int_equal(infer_panels_matmul_rows(L, INFER_TYPE_F32, NULL, 1024, 256, 0, 1, NULL, 1024, 1, NULL, 1), -1);
    assert_int_equal(infer_panels_matmul_rows(INFER_ISA_SCALAR, INFER_TYPE_Q4_K, NULL, 144, 256, 0, 1, NULL, 292, 1,
                                              NULL, 1), -1);
    /* no whole block, the wrong act partner: refused, nothing run */
    assert_int_equal(infer_panels_matmul_rows(L, INFER_TYPE_Q4_0, NULL, 18, 48, 0, 1, NULL, 40, 1, NULL, 1), -1);
    assert_int_equal(infer_panels_matmul_rows(L, INFER_TYPE_Q4_K, NULL, 144, 96, 0, 1, NULL, 292, 1, NULL, 1), -1);
}

/* The panels setting is read from INFER_CPU_PANELS once, when a backend's matmul state is
 * made, and a plan follows that state (or the setter), not the environment of the moment. */
static void test_panels_setting(void **state) {
    (void)state;
    setenv("INFER_CPU_ISA", g_isa == INFER_ISA_AVX2 ? "avx2" : "avx512", 1);
    infer_cpu_matmul_plan p;
    unsetenv("INFER_CPU_PANELS");
    infer_cpu_scratch *on = infer_cpu_scratch_new();
    setenv("INFER_CPU_PANELS", "0", 1);
    infer_cpu_scratch *off = infer_cpu_scratch_new();
    assert_non_null(on);
    assert_non_null(off);
    /* made before the switch: still on */
    assert_int_equal(infer_cpu_matmul_plan_init(&p, INFER_TYPE_Q4_K, 512, infer_cpu_scratch_opts(on)), 0);
    assert_int_equal(p.panels, g_isa);
    unsetenv("INFER_CPU_PANELS");
    /* made under INFER_CPU_PANELS=0: still off */
    assert_int_equal(infer_cpu_matmul_plan_init(&p, INFER_TYPE_Q4_K, 512, infer_cpu_scratch_opts(off)), 0);
    assert_int_equal(p.panels, INFER_ISA_SCALAR);
    infer_cpu_scratch_set_panels(off, 1);
    assert_int_equal(infer_cpu_matmul_plan_init(&p, INFER_TYPE_Q4_K, 512, infer_cpu_scratch_opts(off)), 0);
    assert_int_equal(p.panels, g_isa);
    infer_cpu_scratch_set_panels(on, 0);
    assert_int_equal(infer_cpu_matmul_plan_init(&p, INFER_TYPE_Q4_K, 512, infer_cpu_scratch_opts(on)), 0);
    assert_int_equal(p.panels, INFER_ISA_SCALAR);
    /* no state: the defaults, whatever the environment says */
    setenv("INFER_CPU_PANELS", "0", 1);
    assert_int_equal(infer_cpu_matmul_plan_init(&p, INFER_TYPE_Q4_K, 512, infer_cpu_scratch_opts(NULL)), 0);
    assert_int_equal(p.panels, g_isa);
    unsetenv("INFER_CPU_PANELS");
    unsetenv("INFER_CPU_ISA");
    infer_cpu_scratch_free(on);
    infer_cpu_scratch_free(off);
}

int main(void) {
    const infer_cpu_isa top = infer_cpu_isa_detect();
    if (top < INFER_ISA_AVX2 || infer_cpu_isa_is_arm(top)) {
        fprintf(stderr, "skip: no AVX2 on this CPU\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_awkward_shapes),
        cmocka_unit_test(test_partial_units),
        cmocka_unit_test(test_token_counts),
        cmocka_unit_test(test_panel_edges),
        cmocka_unit_test(test_row_subrange),
        cmocka_unit_test(test_extreme_blocks),
        cmocka_unit_test(test_block32_tokens),
        cmocka_unit_test(test_extreme_blocks32),
        cmocka_unit_test(test_rejects_what_it_lacks),
        cmocka_unit_test(test_panels_setting),
    };
    int failed = 0;
    g_isa = INFER_ISA_AVX2;
    failed += cmocka_run_group_tests_name("avx2 panels", tests, NULL, NULL);
    if (top >= INFER_ISA_AVX512) {
        g_isa = INFER_ISA_AVX512;
        failed += cmocka_run_group_tests_name("avx512 panels", tests, NULL, NULL);
    }
    return failed;
}
