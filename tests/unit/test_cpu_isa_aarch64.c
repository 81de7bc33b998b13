/* The aarch64 ISA dispatcher: what the CPU reports, what INFER_CPU_ISA forces, and which
 * kernel table infer_cpu_matmul takes for every weight type at every level.
 *
 * The expected default level comes from outside the library: INFER_TEST_EXPECT_ISA (set
 * by tests/cpu_isa_aarch64.cmake from the CPU model qemu emulates: "max" has SDOT and
 * SMMLA, "cortex-a53" neither), else the "Features" line of /proc/cpuinfo on a real
 * machine. Each forced level must be honoured up to the detected one and clamped above
 * it, and at each level every type must run on the best table at or below it that has
 * the type. A small matmul per type and level is checked against the scalar path so that
 * every dispatched path actually runs here. Skipped (77) on other CPUs. */
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
#include "kernels/cpu/vec_dot.h"
#include "tensor/dtype.h"

#if defined(__aarch64__)
typedef struct {
    const char *env;   /* INFER_CPU_ISA value */
    infer_cpu_isa isa;
} level;

static const level levels[] = {
    {"scalar", INFER_ISA_SCALAR},
    {"neon", INFER_ISA_NEON},
    {"dotprod", INFER_ISA_NEON_DOTPROD},
    {"i8mm", INFER_ISA_NEON_I8MM},
};
#define N_LEVELS (sizeof levels / sizeof levels[0])

static const char *expect_name(void) {
    const char *e = getenv("INFER_TEST_EXPECT_ISA");
    if (e && *e) return e;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return NULL;
    char line[4096];
    const char *r = NULL;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Features", 8) != 0) continue;
        /* word match: " asimddp", " i8mm" followed by a space or the line end */
        const int dp = strstr(line, " asimddp ") || strstr(line, " asimddp\n");
        const int mm = strstr(line, " i8mm ") || strstr(line, " i8mm\n");
        r = dp && mm ? "i8mm" : dp ? "dotprod" : strstr(line, " asimd") ? "neon" : "scalar";
        break;
    }
    fclose(f);
    return r;
}

static infer_cpu_isa isa_of(const char *name) {
    for (size_t i = 0; i < N_LEVELS; i++)
        if (!strcmp(name, levels[i].env)) return levels[i].isa;
    fail_msg("INFER_TEST_EXPECT_ISA=%s is not one of scalar|neon|dotprod|i8mm", name);
    return INFER_ISA_SCALAR;
}

static void test_detect(void **state) {
    (void)state;
    unsetenv("INFER_CPU_ISA");
    const infer_cpu_isa have = infer_cpu_isa_detect();
    const char *want = expect_name();
    printf("aarch64 ISA: detected %s, active %s (expected %s)\n", infer_cpu_isa_str(have),
           infer_cpu_isa_name(), want ? want : "unknown");
    assert_true(infer_cpu_isa_is_arm(have));
    assert_int_equal(infer_cpu_isa_active(), have);
    if (want) assert_int_equal(have, isa_of(want));
}

static void test_force(void **state) {
    (void)state;
    const infer_cpu_isa have = infer_cpu_isa_detect();
    for (size_t i = 0; i < N_LEVELS; i++) {
        setenv("INFER_CPU_ISA", levels[i].env, 1);
        const infer_cpu_isa want = levels[i].isa <= have ? levels[i].isa : have;   /* never above */
        printf("INFER_CPU_ISA=%-8s -> %s\n", levels[i].env, infer_cpu_isa_name());
        assert_int_equal(infer_cpu_isa_active(), want);
    }
    /* another family's name and nonsense are ignored */
    const char *ignored[] = {"avx2", "avx512", "amx", "bogus"};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
        setenv("INFER_CPU_ISA", ignored[i], 1);
        assert_int_equal(infer_cpu_isa_active(), have);
    }
    unsetenv("INFER_CPU_ISA");
}

/* The table the dispatch rule names: the best level <= L whose table has the type. */
static infer_cpu_isa expected_table(infer_cpu_isa L, uint32_t type) {
    if (L >= INFER_ISA_NEON_I8MM && infer_vec_dot_neon_i8mm(type)) return INFER_ISA_NEON_I8MM;
    if (L >= INFER_ISA_NEON_DOTPROD && infer_vec_dot_neon_dotprod(type)) return INFER_ISA_NEON_DOTPROD;
    if (L >= INFER_ISA_NEON && infer_vec_dot_neon(type)) return INFER_ISA_NEON;
    return INFER_ISA_SCALAR;
}

/* Deterministic values in [-1, 1). */
static float noise(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

/* rows x cols weights of `type` times n activations at the active level, vs scalar. */
static void check_matmul(uint32_t type, const char *level_env) {
    const int64_t rows = 5, cols = 512, n = 9;   /* n = 9: a full tile, then leftovers */
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    const size_t rb = infer_dtype_row_bytes(type, cols);
    char *W = malloc(rb * rows);
    float *row = malloc(sizeof(float) * cols), *x = malloc(sizeof(float) * cols * n);
    float *y = malloc(sizeof(float) * rows * n), *yref = malloc(sizeof(float) * rows * n);
    uint64_t s = 0x1234 + type;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) row[c] = 0.1f * noise(&s);
        tr->from_float(row, W + rb * (size_t)r, cols);
    }
    for (int64_t i = 0; i < cols * n; i++) x[i] = noise(&s);
    setenv("INFER_CPU_ISA", level_env, 1);
    assert_int_equal(infer_cpu_matmul_rows(W, type, cols, 0, rows, x, n, y, rows), 0);
    setenv("INFER_CPU_ISA", "scalar", 1);
    assert_int_equal(infer_cpu_matmul_rows(W, type, cols, 0, rows, x, n, yref, rows), 0);
    /* same integer sums, another float summation order: relative to the row's scale */
    for (int64_t i = 0; i < rows * n; i++) {
        const double tol = 5e-4 * (1.0 + fabs(yref[i])) * sqrt((double)cols);
        if (fabs(y[i] - yref[i]) > tol)
            fail_msg("%s at %s: [%lld] %.9g vs scalar %.9g", infer_type_name(type), level_env, (long long)i,
                     y[i], yref[i]);
    }
    free(W); free(row); free(x); free(y); free(yref);
}

static void test_dispatch(void **state) {
    (void)state;
    const infer_cpu_isa have = infer_cpu_isa_detect();
    for (size_t i = 0; i < N_LEVELS; i++) {
        if (levels[i].isa > have) continue;
        setenv("INFER_CPU_ISA", levels[i].env, 1);
        printf("level %-8s:", levels[i].env);
        for (uint32_t t = 0; t < INFER_TYPE_COUNT; t++) {
            const infer_dtype_traits *tr = infer_dtype_traits_get(t);
            if (!tr || !tr->supported || !tr->from_float || !infer_vec_dot_scalar(t)) continue;
            setenv("INFER_CPU_ISA", levels[i].env, 1);
            const infer_cpu_isa got = infer_cpu_matmul_isa(t);
            printf(" %s=%s", infer_type_name(t), infer_cpu_isa_str(got));
            assert_int_equal(got, expected_table(levels[i].isa, t));
            if (got != INFER_ISA_SCALAR) check_matmul(t, levels[i].env);
        }
        printf("\n");
    }
    unsetenv("INFER_CPU_ISA");
}

#endif

int main(void) {
#if !defined(__aarch64__)
    printf("SKIPPED: not an aarch64 build\n");
    return 77;
#else
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_force),
        cmocka_unit_test(test_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
