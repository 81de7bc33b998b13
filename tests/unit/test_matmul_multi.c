/* infer_cpu_matmul_multi (several weights over one x, x converted once, one threaded pass
 * over all their rows) and infer_cpu_matmul_glu (glu rows converted straight into the
 * matmul's activations) against the scalar reference path (for glu: infer_cpu_glu, then
 * infer_cpu_matmul, both under INFER_CPU_ISA=scalar). matmul_multi weight by weight: groups whose
 * kernels share the activation format (Q/K/V-like: Q4_K + Q6_K), groups that must be
 * split into runs (Q4_K, Q8_0, Q6_K take Q8_K, Q8, Q8_K), float weights, an empty weight in
 * the middle, rows and token counts off every tile grid (1, 3, 17, 70 tokens: the one-token
 * kernel, VNNI tiles, AMX partial token tiles), under every x86 ISA this CPU has. */
#define _POSIX_C_SOURCE 200809L
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
#include "kernels/cpu/ops.h"
#include "kernels/cpu/threadpool.h"
#include "tensor/dtype.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float gauss(void) {
    double u[2];
    for (int i = 0; i < 2; i++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        u[i] = ((rng >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    }
    return (float)(sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

/* rows x cols random weights of type (Gaussian, sd 0.05, quantized by the reference). */
static char *make_weights(uint32_t type, int64_t rows, int64_t cols) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    const size_t rb = infer_dtype_row_bytes(type, cols);
    char *W = malloc(rb * (size_t)(rows > 0 ? rows : 1));
    float *tmp = malloc(sizeof(float) * (size_t)cols);
    assert_non_null(W);
    assert_non_null(tmp);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < cols; i++) tmp[i] = gauss() * 0.05f;
        tr->from_float(tmp, W + rb * (size_t)r, cols);
    }
    free(tmp);
    return W;
}

/* The parts of one group over n tokens: each weight's y from infer_cpu_matmul_multi under
 * the ISA `isa` must match infer_cpu_matmul's scalar path, and the padding after y (its
 * guard) must stay untouched. */
static void check_group(const uint32_t *types, const int64_t *rows, int count, int64_t cols, int64_t n,
                        const char *isa) {
    infer_threadpool *tp = infer_threadpool_new(2);
    assert_non_null(tp);
    float *x = malloc(sizeof(float) * (size_t)(n * cols));
    assert_non_null(x);
    for (int64_t i = 0; i < n * cols; i++) x[i] = gauss() * ((i % cols) % 53 == 7 ? 8.0f : 1.0f);
    infer_cpu_matmul_part parts[INFER_CPU_MATMUL_MAX_PARTS];
    float *ref[INFER_CPU_MATMUL_MAX_PARTS];
    const int64_t guard = 16;
    for (int i = 0; i < count; i++) {
        const size_t ny = (size_t)(n * rows[i]);
        parts[i] = (infer_cpu_matmul_part){make_weights(types[i], rows[i], cols), types[i], rows[i],
                                           malloc(sizeof(float) * (ny + (size_t)guard))};
        ref[i] = malloc(sizeof(float) * (ny + 1));
        assert_non_null(parts[i].y);
        assert_non_null(ref[i]);
        for (size_t k = 0; k < ny + (size_t)guard; k++) parts[i].y[k] = NAN;
        setenv("INFER_CPU_ISA", "scalar", 1);
        assert_int_equal(infer_cpu_matmul(tp, NULL, parts[i].W, types[i], rows[i], cols, x, n, ref[i]), 0);
    }
    setenv("INFER_CPU_ISA", isa, 1);
    assert_int_equal(infer_cpu_matmul_multi(tp, NULL, parts, count, cols, x, n), 0);
    unsetenv("INFER_CPU_ISA");
    for (int i = 0; i < count; i++) {
        const int64_t ny = n * rows[i];
        double scale = 0;
        for (int64_t k = 0; k < ny; k++) scale += fabs(ref[i][k]) / (double)ny;
        for (int64_t k = 0; k < ny + guard; k++) {
            const float v = parts[i].y[k];
            if (k >= ny) {
                if (!isnan(v)) { print_error("%s part %d: wrote past y at %lld\n", isa, i, (long long)k); fail(); }
                continue;
            }
            if (!(fabs((double)v - ref[i][k]) <= 4e-5 * (fabs(ref[i][k]) + scale) + 1e-6)) {
                print_error("%s part %d (%s, %lld x %lld, n=%lld): y[%lld] = %.9g, scalar %.9g\n", isa, i,
                            infer_type_name(types[i]), (long long)rows[i], (long long)cols, (long long)n,
                            (long long)k, v, ref[i][k]);
                fail();
            }
        }
        free((void *)parts[i].W);
        free(parts[i].y);
        free(ref[i]);
    }
    free(x);
    infer_threadpool_free(tp);
}

/* The x86 levels this CPU runs, best first (scalar always). */
static int isas(const char *out[4]) {
    const infer_cpu_isa best = infer_cpu_isa_detect();
    int k = 0;
    if (best == INFER_ISA_AMX) out[k++] = "amx";
    if (best >= INFER_ISA_AVX512 && !infer_cpu_isa_is_arm(best)) out[k++] = "avx512";
    if (best >= INFER_ISA_AVX2 && !infer_cpu_isa_is_arm(best)) out[k++] = "avx2";
    out[k++] = "scalar";
    return k;
}

static const int64_t token_counts[] = {1, 3, 17, 70};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void run_group(const uint32_t *types, const int64_t *rows, int count, int64_t cols) {
    const char *levels[4];
    const int nl = isas(levels);
    for (int l = 0; l < nl; l++)
        for (size_t ni = 0; ni < COUNT(token_counts); ni++) check_group(types, rows, count, cols, token_counts[ni], levels[l]);
}

/* Q/K/V-like: one conversion for all three (Q8_K), rows off the 16- and 32-row grids. */
static void test_shared_conversion(void **state) {
    (void)state;
    const uint32_t types[] = {INFER_TYPE_Q4_K, INFER_TYPE_Q6_K, INFER_TYPE_Q4_K};
    const int64_t rows[] = {37, 16, 100};
    run_group(types, rows, 3, 512);
}

/* Kernels that take different activation formats: split into runs, each right. */
static void test_mixed_conversions(void **state) {
    (void)state;
    const uint32_t types[] = {INFER_TYPE_Q4_K, INFER_TYPE_Q8_0, INFER_TYPE_Q6_K, INFER_TYPE_Q4_0};
    const int64_t rows[] = {19, 33, 5, 48};
    run_group(types, rows, 4, 768);
}

/* Float weights (x used as it is) and an empty weight between two others. */
static void test_float_and_empty(void **state) {
    (void)state;
    const uint32_t types[] = {INFER_TYPE_F32, INFER_TYPE_F16, INFER_TYPE_F16};
    const int64_t rows[] = {21, 0, 40};
    run_group(types, rows, 3, 96);
}

/* y = W glu(gate, up) for one kind, type, cols and n under `isa`, against the scalar path. */
static void check_glu(infer_glu_kind kind, uint32_t type, int64_t rows, int64_t cols, int64_t n, const char *isa) {
    infer_threadpool *tp = infer_threadpool_new(2);
    const size_t nx = (size_t)(n * cols), ny = (size_t)(n * rows);
    float *gate = malloc(sizeof(float) * nx), *up = malloc(sizeof(float) * nx), *g2 = malloc(sizeof(float) * nx);
    float *y = malloc(sizeof(float) * (ny + 16)), *ref = malloc(sizeof(float) * ny);
    assert_true(tp && gate && up && g2 && y && ref);
    for (size_t i = 0; i < nx; i++) {
        gate[i] = gauss() * 2.0f;
        up[i] = gauss() * ((i % (size_t)cols) % 53 == 7 ? 8.0f : 1.0f);
    }
    char *W = make_weights(type, rows, cols);
    setenv("INFER_CPU_ISA", "scalar", 1);
    infer_cpu_glu(tp, kind, gate, up, n * cols, 1.702f, 7.0f, g2);
    assert_int_equal(infer_cpu_matmul(tp, NULL, W, type, rows, cols, g2, n, ref), 0);
    for (size_t i = 0; i < ny + 16; i++) y[i] = NAN;
    setenv("INFER_CPU_ISA", isa, 1);
    assert_int_equal(infer_cpu_matmul_glu(tp, NULL, W, type, rows, cols, kind, gate, up, 1.702f, 7.0f, n, y), 0);
    unsetenv("INFER_CPU_ISA");
    double scale = 0;
    for (size_t k = 0; k < ny; k++) scale += fabs(ref[k]) / (double)ny;
    for (size_t k = 0; k < ny + 16; k++) {
        if (k >= ny) {
            if (!isnan(y[k])) { print_error("glu %s: wrote past y at %zu\n", isa, k); fail(); }
            continue;
        }
        /* the glu itself may differ by an ulp between ISAs (vector exp): a looser bound */
        if (!(fabs((double)y[k] - ref[k]) <= 2e-4 * (fabs(ref[k]) + scale) + 1e-6)) {
            print_error("glu kind %d %s %s (%lld x %lld, n=%lld): y[%zu] = %.9g, scalar %.9g\n", (int)kind, isa,
                        infer_type_name(type), (long long)rows, (long long)cols, (long long)n, k, y[k], ref[k]);
            fail();
        }
    }
    free(W); free(gate); free(up); free(g2); free(y); free(ref);
    infer_threadpool_free(tp);
}

/* Every glu kind, a K-quant, a 32-block format and a float type (the unfused path). */
static void test_glu_fused(void **state) {
    (void)state;
    const char *levels[4];
    const int nl = isas(levels);
    static const struct { uint32_t type; int64_t cols; } cases[] = {
        {INFER_TYPE_Q4_K, 512}, {INFER_TYPE_Q8_0, 96}, {INFER_TYPE_F16, 72}};
    for (int l = 0; l < nl; l++)
        for (int kind = 0; kind < INFER_GLU_COUNT; kind++)
            for (size_t c = 0; c < COUNT(cases); c++)
                for (size_t ni = 0; ni < COUNT(token_counts); ni++)
                    check_glu((infer_glu_kind)kind, cases[c].type, 37, cases[c].cols, token_counts[ni], levels[l]);
}

static void test_rejects_bad_calls(void **state) {
    (void)state;
    infer_threadpool *tp = infer_threadpool_new(1);
    float x[256] = {0}, y[4];
    char W[512] = {0};
    const infer_cpu_matmul_part ok = {W, INFER_TYPE_Q8_0, 1, y};
    assert_int_equal(infer_cpu_matmul_multi(tp, NULL, &ok, 0, 256, x, 1), -1);   /* no weights */
    infer_cpu_matmul_part many[INFER_CPU_MATMUL_MAX_PARTS + 1];
    for (int i = 0; i <= INFER_CPU_MATMUL_MAX_PARTS; i++) many[i] = ok;
    assert_int_equal(infer_cpu_matmul_multi(tp, NULL, many, INFER_CPU_MATMUL_MAX_PARTS + 1, 256, x, 1), -1);
    const infer_cpu_matmul_part bad[2] = {ok, {W, INFER_TYPE_Q4_K, 1, y}};   /* Q4_K needs 256-multiples */
    assert_int_equal(infer_cpu_matmul_multi(tp, NULL, bad, 2, 96, x, 1), -1);
    infer_threadpool_free(tp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_conversion),
        cmocka_unit_test(test_mixed_conversions),
        cmocka_unit_test(test_float_and_empty),
        cmocka_unit_test(test_glu_fused),
        cmocka_unit_test(test_rejects_bad_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
