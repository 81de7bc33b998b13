/* The one-token decode kernels (vec_dot_decode_avx512.c) on every ISA path this machine
 * runs: (1) a token's outputs alone equal, bit for bit, its outputs inside a batch of 3
 * (which takes the tile kernels), so generation is batch-invariant; (2) they match the
 * scalar path up to float summation order (test_matmul checks scalar against dequantized
 * double-precision dots). Awkward shapes: odd row counts and row ranges that start on an
 * odd row (pairs of rows per kernel step), one row, and rows too long for the decode
 * kernel's activation buffer (it must hand them back to the tiles). */
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
#include "kernels/cpu/gemv.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/vec_dot.h"
#include "tensor/dtype.h"

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static float uniform_pm1(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

static const uint32_t types[] = {INFER_TYPE_Q4_K, INFER_TYPE_Q6_K, INFER_TYPE_Q5_K, INFER_TYPE_Q8_0};
static const char *isas[] = {"avx2", "avx512", "amx"};
static const infer_cpu_isa isa_levels[] = {INFER_ISA_AVX2, INFER_ISA_AVX512, INFER_ISA_AMX};
#define NTOK 3

static void check_shape(uint32_t type, int64_t rows, int64_t cols, int64_t row_lo) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    const size_t rb = infer_dtype_row_bytes(type, cols);
    char *W = malloc(rb * (size_t)rows);
    float *tmp = malloc(sizeof(float) * (size_t)cols), *x = malloc(sizeof(float) * (size_t)(NTOK * cols));
    float *yb = malloc(sizeof(float) * (size_t)(NTOK * rows)), *y1 = malloc(sizeof(float) * (size_t)rows);
    float *ys = malloc(sizeof(float) * (size_t)rows);
    assert_true(W && tmp && x && yb && y1 && ys);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) tmp[c] = uniform_pm1() * (1.0f + (float)(c % 7));
        tr->from_float(tmp, W + rb * (size_t)r, cols);
    }
    for (int64_t k = 0; k < NTOK * cols; k++) x[k] = uniform_pm1() * (k % 5 == 0 ? 4.0f : 1.0f);
    for (int t = 0; t < NTOK; t++) {
        /* float sums in another order: error bounded by the size of the terms (|w| < 8) */
        double mag = 0;
        for (int64_t c = 0; c < cols; c++) mag += 8.0 * fabs(x[t * cols + c]);
        setenv("INFER_CPU_ISA", "scalar", 1);
        memset(ys, 0xFF, sizeof(float) * (size_t)rows);
        assert_int_equal(infer_cpu_matmul_rows(W, type, cols, row_lo, rows, x + t * cols, 1, ys, rows), 0);
        for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
            if (infer_cpu_isa_detect() < isa_levels[i] || infer_cpu_isa_is_arm(infer_cpu_isa_detect())) continue;
            setenv("INFER_CPU_ISA", isas[i], 1);
            memset(yb, 0xFF, sizeof(float) * (size_t)(NTOK * rows));
            memset(y1, 0xFF, sizeof(float) * (size_t)rows);   /* NaN: every output must be written */
            assert_int_equal(infer_cpu_matmul_rows(W, type, cols, row_lo, rows, x, NTOK, yb, rows), 0);
            assert_int_equal(infer_cpu_matmul_rows(W, type, cols, row_lo, rows, x + t * cols, 1, y1, rows), 0);
            for (int64_t r = row_lo; r < rows; r++) {
                if (memcmp(&y1[r], &yb[t * rows + r], sizeof(float)) != 0) {
                    print_error("%s %s %lldx%lld row %lld token %d: alone %.9g, in a batch %.9g\n", isas[i],
                                infer_type_name(type), (long long)rows, (long long)cols, (long long)r, t, y1[r],
                                yb[t * rows + r]);
                    fail();
                }
                const double e = fabs((double)y1[r] - ys[r]);
                if (!(e <= 1e-6 * mag + 1e-5 * fabs(ys[r]))) {
                    print_error("%s %s row %lld: %.9g vs scalar %.9g\n", isas[i], infer_type_name(type), (long long)r,
                                y1[r], ys[r]);
                    fail();
                }
            }
        }
    }
    unsetenv("INFER_CPU_ISA");
    free(W); free(tmp); free(x); free(yb); free(y1); free(ys);
}

static void test_decode_matches_batch_and_scalar(void **state) {
    (void)state;
    static const int64_t rows_list[] = {1, 2, 7, 38};
    static const int64_t cols_list[] = {256, 1536, 2816};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t ri = 0; ri < sizeof rows_list / sizeof rows_list[0]; ri++)
            for (size_t ci = 0; ci < sizeof cols_list / sizeof cols_list[0]; ci++) {
                check_shape(types[ti], rows_list[ri], cols_list[ci], 0);
                if (rows_list[ri] > 2) check_shape(types[ti], rows_list[ri], cols_list[ci], 3);
            }
}

/* 65792 columns = 257 K-quant blocks: past the decode kernels' buffer, the tiles take it */
static void test_long_rows_fall_back(void **state) {
    (void)state;
    check_shape(INFER_TYPE_Q4_K, 3, 257 * 256, 0);
    check_shape(INFER_TYPE_Q6_K, 3, 257 * 256, 1);
}

/* On an AVX-512 VNNI build and CPU the kernels this file tests must exist (otherwise the
 * checks above only compared the tiles with themselves). */
static void test_decode_kernels_present(void **state) {
    (void)state;
    if (infer_cpu_isa_detect() < INFER_ISA_AVX512 || infer_cpu_isa_is_arm(infer_cpu_isa_detect())) skip();
    assert_non_null(infer_decode_rows_avx512(INFER_TYPE_Q4_K));
    assert_non_null(infer_decode_rows_avx512(INFER_TYPE_Q6_K));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_kernels_present),
        cmocka_unit_test(test_decode_matches_batch_and_scalar),
        cmocka_unit_test(test_long_rows_fall_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
