/* infer_cpu_matmul on every supported weight type and every ISA path this machine has,
 * against a double-precision dot of the dequantized weights (the dequantizers are
 * bit-exact with the reference engine, see test_dtype). The tolerance is derived from
 * the activation rounding: an activation quantized to 8 bits with block maximum a is
 * off by at most a/254, so |err| <= sum_c |w_c| * a(c) / 254 (+ float rounding).
 * SIMD paths are also compared with the scalar path directly (same integer sums, only
 * the float accumulation order differs). Shapes are awkward on purpose. */
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
#include "kernels/cpu/threadpool.h"
#include "kernels/cpu/vec_dot.h"
#include "tensor/dtype.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform01(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static float gauss(void) { return (float)(sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01())); }

static const uint32_t all_types[] = {
    INFER_TYPE_F32, INFER_TYPE_F16, INFER_TYPE_BF16, INFER_TYPE_Q4_0, INFER_TYPE_Q4_1, INFER_TYPE_Q5_0,
    INFER_TYPE_Q5_1, INFER_TYPE_Q8_0, INFER_TYPE_Q8_1, INFER_TYPE_Q4_K, INFER_TYPE_Q5_K, INFER_TYPE_Q6_K,
    INFER_TYPE_Q8_K, INFER_TYPE_MXFP4, INFER_TYPE_Q2_K, INFER_TYPE_Q3_K, INFER_TYPE_IQ4_NL, INFER_TYPE_IQ4_XS,
};

static const char *isa_env[] = {"scalar", "avx2", "avx512", "neon", "amx", "dotprod", "i8mm"};
static const infer_cpu_isa isa_val[] = {INFER_ISA_SCALAR, INFER_ISA_AVX2, INFER_ISA_AVX512, INFER_ISA_NEON,
                                        INFER_ISA_AMX, INFER_ISA_NEON_DOTPROD, INFER_ISA_NEON_I8MM};
#define N_ISA 7

/* Paths this machine can run: the levels of its own family (x86 or aarch64) up to the
 * detected one, and scalar. */
static int isa_runnable(int i) {
    const infer_cpu_isa have = infer_cpu_isa_detect();
    if (isa_val[i] == INFER_ISA_SCALAR) return 1;
    return infer_cpu_isa_is_arm(isa_val[i]) == infer_cpu_isa_is_arm(have) && isa_val[i] <= have;
}

typedef struct {
    uint32_t type;
    int64_t rows, cols, n;
    void *W;        /* quantized */
    float *Wd;      /* dequantized, rows x cols */
    float *x;       /* n x cols */
    double *ref;    /* n x rows */
    double *tol;    /* n x rows */
} problem;

static int64_t act_block_of(uint32_t type) { return infer_act_block(infer_act_format_of(type)); }

static void problem_make(problem *p, uint32_t type, int64_t rows, int64_t cols, int64_t n) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    p->type = type; p->rows = rows; p->cols = cols; p->n = n;
    const size_t rb = infer_dtype_row_bytes(type, cols);
    p->W = malloc(rb * (size_t)rows);
    p->Wd = malloc(sizeof(float) * (size_t)(rows * cols));
    p->x = malloc(sizeof(float) * (size_t)(n * cols));
    p->ref = malloc(sizeof(double) * (size_t)(n * rows));
    p->tol = malloc(sizeof(double) * (size_t)(n * rows));
    float *tmp = malloc(sizeof(float) * (size_t)cols);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) tmp[c] = gauss() * 0.05f;
        tr->from_float(tmp, (char *)p->W + rb * (size_t)r, cols);
        tr->to_float((char *)p->W + rb * (size_t)r, p->Wd + r * cols, cols);
    }
    /* activations with a few large channels, as real hidden states have */
    for (int64_t i = 0; i < n * cols; i++) p->x[i] = gauss() * ((i % cols) % 53 == 7 ? 8.0f : 1.0f);
    const int64_t ab = act_block_of(type);
    for (int64_t t = 0; t < n; t++) {
        const float *xt = p->x + t * cols;
        for (int64_t r = 0; r < rows; r++) {
            const float *w = p->Wd + r * cols;
            double s = 0, sabs = 0, q = 0;
            for (int64_t c = 0; c < cols; c++) {
                s += (double)w[c] * xt[c];
                sabs += fabs((double)w[c] * xt[c]);
            }
            double var = 0;
            if (ab > 1) {
                for (int64_t c0 = 0; c0 < cols; c0 += ab) {
                    double amax = 0, wabs = 0, w2 = 0;
                    for (int64_t c = c0; c < c0 + ab; c++) {
                        amax = fmax(amax, fabs(xt[c]));
                        wabs += fabs(w[c]);
                        w2 += (double)w[c] * w[c];
                    }
                    const double step = amax / 127.0;    /* rounding error uniform in +-step/2 */
                    q += wabs * step / 2;
                    var += w2 * step * step / 12;
                }
            }
            /* worst case, or 6 standard deviations of independent rounding errors */
            p->ref[t * rows + r] = s;
            p->tol[t * rows + r] = fmin(1.01 * q, 6 * sqrt(var)) + 2e-5 * sabs + 1e-6;
        }
    }
    free(tmp);
}

static void problem_free(problem *p) { free(p->W); free(p->Wd); free(p->x); free(p->ref); free(p->tol); }

static void check_against_ref(const problem *p, const float *y, const char *what) {
    for (int64_t t = 0; t < p->n; t++)
        for (int64_t r = 0; r < p->rows; r++) {
            const double e = fabs(y[t * p->rows + r] - p->ref[t * p->rows + r]);
            if (!(e <= p->tol[t * p->rows + r])) {
                print_error("%s %s rows=%lld cols=%lld n=%lld: y[%lld][%lld]=%.7g ref %.7g tol %.3g\n", what,
                            infer_type_name(p->type), (long long)p->rows, (long long)p->cols, (long long)p->n,
                            (long long)t, (long long)r, y[t * p->rows + r], p->ref[t * p->rows + r],
                            p->tol[t * p->rows + r]);
                fail();
            }
        }
}

static void run_all_isas(infer_threadpool *tp, infer_cpu_scratch *sc, const problem *p) {
    float *y = malloc(sizeof(float) * (size_t)(p->n * p->rows));
    float *y_scalar = malloc(sizeof(float) * (size_t)(p->n * p->rows));
    for (int i = 0; i < N_ISA; i++) {
        if (!isa_runnable(i)) continue;
        setenv("INFER_CPU_ISA", isa_env[i], 1);
        memset(y, 0xFF, sizeof(float) * (size_t)(p->n * p->rows));   /* NaN: every output must be written */
        assert_int_equal(infer_cpu_matmul(tp, sc, p->W, p->type, p->rows, p->cols, p->x, p->n, y), 0);
        check_against_ref(p, y, isa_env[i]);
        if (i == 0) {
            memcpy(y_scalar, y, sizeof(float) * (size_t)(p->n * p->rows));
            continue;
        }
        /* same activation rounding as scalar: only float summation order may differ */
        for (int64_t k = 0; k < p->n * p->rows; k++) {
            const double e = fabs((double)y[k] - y_scalar[k]);
            const double bound = 1e-5 * (fabs(p->ref[k]) + p->tol[k] * 50) + 1e-6;
            if (!(e <= bound)) {
                print_error("%s vs scalar %s: [%lld] %.9g vs %.9g\n", isa_env[i], infer_type_name(p->type),
                            (long long)k, y[k], y_scalar[k]);
                fail();
            }
        }
    }
    unsetenv("INFER_CPU_ISA");
    free(y);
    free(y_scalar);
}

static void test_all_types_awkward_shapes(void **state) {
    infer_threadpool *tp = infer_threadpool_new(2);
    infer_cpu_scratch *sc = infer_cpu_scratch_new();
    assert_non_null(tp);
    static const int64_t ns[] = {1, 3, 17};
    static const int64_t rows_list[] = {1, 37};
    for (size_t ti = 0; ti < sizeof all_types / sizeof all_types[0]; ti++) {
        const uint32_t type = all_types[ti];
        const int64_t bs = infer_dtype_traits_get(type)->block_size;
        /* K-quant rows are whole super-blocks; 32-blocks also get an odd block count */
        /* float rows also get a length that is no multiple of the SIMD width (tails) */
        const int64_t cols_list[2] = {512, bs >= 256 || act_block_of(type) == 256 ? 768 : bs == 1 ? 99 : 96};
        for (int ci = 0; ci < 2; ci++)
            for (size_t ri = 0; ri < 2; ri++)
                for (size_t ni = 0; ni < 3; ni++) {
                    problem p;
                    problem_make(&p, type, rows_list[ri], cols_list[ci], ns[ni]);
                    run_all_isas(tp, sc, &p);
                    problem_free(&p);
                }
    }
    infer_cpu_scratch_free(sc);
    infer_threadpool_free(tp);
}

/* More rows than threads x alignment units, and more tokens than one token block. */
static void test_larger_tiles(void **state) {
    infer_threadpool *tp = infer_threadpool_new(3);
    static const uint32_t types[] = {INFER_TYPE_Q4_K, INFER_TYPE_Q6_K, INFER_TYPE_Q8_0, INFER_TYPE_MXFP4,
                                     INFER_TYPE_F16, INFER_TYPE_Q2_K, INFER_TYPE_Q3_K, INFER_TYPE_IQ4_NL,
                                     INFER_TYPE_IQ4_XS};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        problem p;
        problem_make(&p, types[ti], 75, 256, 37);
        run_all_isas(tp, NULL, &p);
        problem_free(&p);
    }
    infer_threadpool_free(tp);
}

/* Float weights with a prompt-sized batch: with OpenBLAS built in, the SIMD ISAs take its
 * sgemm for F32/BF16 (matmul_blas.c) from INFER_BLAS_MIN_TOKENS tokens on, chunk by chunk
 * (F16 stays on our tiles, covered here alike); row counts
 * that are no multiple of the chunk alignment and odd row lengths check its edges. */
static void test_float_prompt_batches(void **state) {
    infer_threadpool *tp = infer_threadpool_new(2);
    infer_cpu_scratch *sc = infer_cpu_scratch_new();
    static const uint32_t types[] = {INFER_TYPE_F32, INFER_TYPE_F16, INFER_TYPE_BF16};
    static const int64_t shapes[][3] = {{75, 99, 33}, {300, 256, 64}};   /* rows, cols, n */
    for (int blas = 1; blas >= 0; blas--) {   /* then our own tiles at the same sizes */
        infer_cpu_scratch_set_blas(sc, blas);
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
            for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
                problem p;
                problem_make(&p, types[ti], shapes[si][0], shapes[si][1], shapes[si][2]);
                run_all_isas(tp, sc, &p);
                problem_free(&p);
            }
    }
    infer_cpu_scratch_free(sc);
    infer_threadpool_free(tp);
}

/* INFER_CPU_PANELS and INFER_OPENBLAS are read once, when the matmul state is made (each
 * CPU backend makes one), not on every call; setters flip them without the environment. */
static void test_settings_read_at_creation(void **state) {
    (void)state;
    setenv("INFER_CPU_PANELS", "0", 1);
    setenv("INFER_OPENBLAS", "0", 1);
    infer_cpu_scratch *off = infer_cpu_scratch_new();
    unsetenv("INFER_CPU_PANELS");
    unsetenv("INFER_OPENBLAS");
    infer_cpu_scratch *on = infer_cpu_scratch_new();
    assert_non_null(off);
    assert_non_null(on);
    setenv("INFER_OPENBLAS", "0", 1);   /* too late for both */
    assert_int_equal(infer_cpu_scratch_opts(off)->panels, 0);
    assert_int_equal(infer_cpu_scratch_opts(off)->blas, 0);
    assert_int_equal(infer_cpu_scratch_opts(on)->panels, 1);
    assert_int_equal(infer_cpu_scratch_opts(on)->blas, 1);
    assert_int_equal(infer_cpu_scratch_opts(NULL)->blas, 1);   /* no state: defaults, env unread */
    unsetenv("INFER_OPENBLAS");
    infer_cpu_scratch_set_blas(off, 1);
    infer_cpu_scratch_set_panels(on, 0);
    assert_int_equal(infer_cpu_scratch_opts(off)->blas, 1);
    assert_int_equal(infer_cpu_scratch_opts(on)->panels, 0);
    infer_cpu_scratch_free(off);
    infer_cpu_scratch_free(on);
}

static void test_rows_subrange_and_stride(void **state) {
    problem p;
    problem_make(&p, INFER_TYPE_Q4_K, 20, 512, 5);
    const int64_t ldy = 33;
    float *y = malloc(sizeof(float) * (size_t)(ldy * p.n));
    for (int64_t i = 0; i < ldy * p.n; i++) y[i] = -12345.0f;
    assert_int_equal(infer_cpu_matmul_rows(p.W, p.type, p.cols, 4, 17, p.x, p.n, y, ldy), 0);
    for (int64_t t = 0; t < p.n; t++)
        for (int64_t r = 0; r < ldy; r++) {
            if (r < 4 || r >= 17 || r >= p.rows) { assert_true(y[t * ldy + r] == -12345.0f); continue; }
            assert_true(fabs(y[t * ldy + r] - p.ref[t * p.rows + r]) <= p.tol[t * p.rows + r]);
        }
    free(y);
    problem_free(&p);
}

static void test_rejects_unsupported(void **state) {
    float x[256] = {0}, y[4];
    unsigned char w[4096] = {0};
    assert_int_equal(infer_cpu_matmul(NULL, NULL, w, INFER_TYPE_IQ3_S, 1, 256, x, 1, y), -1);
    assert_int_equal(infer_cpu_matmul(NULL, NULL, w, INFER_TYPE_IQ2_XXS, 1, 256, x, 1, y), -1);
    assert_int_equal(infer_cpu_matmul(NULL, NULL, w, 4, 1, 256, x, 1, y), -1);
    assert_int_equal(infer_cpu_matmul(NULL, NULL, w, 99, 1, 256, x, 1, y), -1);
    assert_int_equal(infer_cpu_matmul(NULL, NULL, w, INFER_TYPE_Q4_K, 1, 100, x, 1, y), -1);
    assert_int_equal(infer_cpu_matmul_rows(w, INFER_TYPE_Q4_0, 33, 0, 1, x, 1, y, 1), -1);
    assert_non_null(infer_cpu_isa_name());
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_types_awkward_shapes),
        cmocka_unit_test(test_larger_tiles),
        cmocka_unit_test(test_float_prompt_batches),
        cmocka_unit_test(test_settings_read_at_creation),
        cmocka_unit_test(test_rows_subrange_and_stride),
        cmocka_unit_test(test_rejects_unsupported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
