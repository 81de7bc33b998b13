/* Reference quantizers: round trip error bounds per type (RMSE relative to the RMS of
 * the input), exact cases (zeros, values already on the grid) and no NaN/Inf on
 * awkward blocks. The dequantizers they go through are verified bit-exact against
 * the reference engine in test_dtype. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tensor/dtype.h"

/* deterministic standard normal samples (xorshift + Box-Muller) */
static uint64_t rng_state = 88172645463325252ull;
static double uniform01(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static float gauss(void) {
    return (float)(sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01()));
}

static double roundtrip_rel_rmse(uint32_t type, const float *x, int64_t n) {
    const infer_dtype_traits *t = infer_dtype_traits_get(type);
    void *q = malloc(infer_dtype_row_bytes(type, n));
    float *y = malloc((size_t)n * sizeof(float));
    t->from_float(x, q, n);
    t->to_float(q, y, n);
    double se = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(isfinite(y[i]));
        se += (double)(y[i] - x[i]) * (y[i] - x[i]);
        ss += (double)x[i] * x[i];
    }
    free(q); free(y);
    return sqrt(se / ss);
}

static const struct { uint32_t type; double max_rel_rmse; } bounds[] = {
    /* measured on gaussian data, plus ~20% margin; a wrong bit layout gives > 0.5 */
    {INFER_TYPE_F32, 0.0},     {INFER_TYPE_F16, 2.6e-4},  {INFER_TYPE_BF16, 2e-3},
    {INFER_TYPE_Q8_0, 0.0065}, {INFER_TYPE_Q8_1, 0.0065}, {INFER_TYPE_Q8_K, 0.0083},
    {INFER_TYPE_Q4_0, 0.10},   {INFER_TYPE_Q4_1, 0.093},  {INFER_TYPE_Q5_0, 0.05},
    {INFER_TYPE_Q5_1, 0.045},  {INFER_TYPE_Q4_K, 0.086},  {INFER_TYPE_Q5_K, 0.043},
    {INFER_TYPE_Q6_K, 0.0225}, {INFER_TYPE_MXFP4, 0.137},  {INFER_TYPE_Q2_K, 0.32},
    {INFER_TYPE_Q3_K, 0.17},   {INFER_TYPE_IQ4_NL, 0.088}, {INFER_TYPE_IQ4_XS, 0.089},
};

static void test_roundtrip_gaussian(void **state) {
    const int64_t n = 256 * 64;
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = gauss() * 0.02f;   /* typical weight scale */
    for (size_t k = 0; k < sizeof bounds / sizeof bounds[0]; k++) {
        double e = roundtrip_rel_rmse(bounds[k].type, x, n);
        printf("  %-6s rel rmse %.5f (bound %.5f)\n", infer_dtype_traits_get(bounds[k].type)->name, e,
               bounds[k].max_rel_rmse);
        assert_true(e <= bounds[k].max_rel_rmse);
    }
    free(x);
}

/* An outlier in a block (one weight 50x the others) must itself be recovered closely
 * and leave every value finite. */
static void test_roundtrip_outliers(void **state) {
    const int64_t n = 256 * 8;
    float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
    unsigned char *q = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) x[i] = gauss() * 0.02f;
    for (int64_t i = 0; i < n; i += 97) x[i] = (i % 2 ? 1.0f : -1.0f);
    for (size_t k = 0; k < sizeof bounds / sizeof bounds[0]; k++) {
        const infer_dtype_traits *t = infer_dtype_traits_get(bounds[k].type);
        t->from_float(x, q, n);
        t->to_float(q, y, n);
        for (int64_t i = 0; i < n; i++) assert_true(isfinite(y[i]));
        for (int64_t i = 0; i < n; i += 97) {
            if (fabsf(y[i] - x[i]) > 2 * bounds[k].max_rel_rmse + 1e-6)
                print_error("%s: outlier %lld: %g -> %g\n", t->name, (long long)i, x[i], y[i]);
            assert_true(fabsf(y[i] - x[i]) <= 2 * bounds[k].max_rel_rmse + 1e-6);
        }
    }
    free(x); free(y); free(q);
}

static void test_zero_and_constant_blocks(void **state) {
    const int64_t n = 512;
    float x[512], y[512];
    unsigned char q[2048];
    for (size_t k = 0; k < sizeof bounds / sizeof bounds[0]; k++) {
        const infer_dtype_traits *t = infer_dtype_traits_get(bounds[k].type);
        memset(x, 0, sizeof x);
        t->from_float(x, q, n);
        t->to_float(q, y, n);
        for (int i = 0; i < n; i++) assert_true(y[i] == 0.0f);
        /* one constant block next to a zero block: both finite, constant recovered closely */
        for (int i = 0; i < 256; i++) x[i] = -0.75f;
        t->from_float(x, q, n);
        t->to_float(q, y, n);
        for (int i = 0; i < n; i++) assert_true(isfinite(y[i]));
        for (int i = 0; i < 256; i++) assert_true(fabsf(y[i] + 0.75f) <= 0.75f * 0.05f);
        for (int i = 256; i < n; i++) assert_true(fabsf(y[i]) <= 1e-6f);
    }
}

/* Values already on a Q8_0 / Q4_0 / IQ4_NL grid quantize back exactly. */
static void test_exact_grid(void **state) {
    float x[64], y[64];
    unsigned char q[128];
    for (int i = 0; i < 64; i++) x[i] = (float)((i * 37) % 255 - 127) * 0.125f;
    x[5] = 127 * 0.125f; x[40] = -127 * 0.125f;            /* both blocks span the range */
    infer_dtype_traits_get(INFER_TYPE_Q8_0)->from_float(x, q, 64);
    infer_dtype_traits_get(INFER_TYPE_Q8_0)->to_float(q, y, 64);
    for (int i = 0; i < 64; i++) assert_true(y[i] == x[i]);
    for (int i = 0; i < 64; i++) x[i] = (float)((i * 5) % 16 - 8) * 0.5f;
    x[3] = -8 * 0.5f; x[33] = -8 * 0.5f;
    infer_dtype_traits_get(INFER_TYPE_Q4_0)->from_float(x, q, 64);
    infer_dtype_traits_get(INFER_TYPE_Q4_0)->to_float(q, y, 64);
    for (int i = 0; i < 64; i++) assert_true(y[i] == x[i]);
    /* IQ4_NL's non-linear levels (GGUF's kvalues_iq4nl) times an exact fp16 scale */
    static const int levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    for (int i = 0; i < 64; i++) x[i] = (float)levels[(i * 7) % 16] * 0.125f;
    infer_dtype_traits_get(INFER_TYPE_IQ4_NL)->from_float(x, q, 64);
    infer_dtype_traits_get(INFER_TYPE_IQ4_NL)->to_float(q, y, 64);
    for (int i = 0; i < 64; i++) assert_true(y[i] == x[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_gaussian),
        cmocka_unit_test(test_roundtrip_outliers),
        cmocka_unit_test(test_zero_and_constant_blocks),
        cmocka_unit_test(test_exact_grid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
