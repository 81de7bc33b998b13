/* AArch64 NEON kernel tables (vec_dot_neon*.c) against the scalar reference, called
 * directly (no dispatcher, so a silent fallback cannot pass), for every level this CPU
 * has: base NEON always, SDOT when HWCAP_ASIMDDP, SMMLA when HWCAP2_I8MM (read with
 * getauxval here, independently of the library's detection). Levels the CPU lacks are
 * never called: under `qemu-aarch64 -cpu cortex-a53` only the base level runs.
 *
 * Every weight type of the scalar table (bar the generic Q8_1/Q8_K fallbacks) must have
 * a kernel at every level. Shapes are awkward: odd block counts, float rows with tails,
 * nt = 1..max_nt tokens, the two-row SMMLA entry on row pairs with odd token counts.
 * Weights are both quantized Gaussians and random block bytes (extreme levels and
 * scales, e.g. Q8_0's -128); activations go through the scalar converters, so the
 * integer sums are identical and only the float summation order may differ. The NEON
 * activation converters must match the scalar ones byte for byte.
 * Exits 77 (skipped) on other architectures. */
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
#include "kernels/cpu/vec_dot.h"
#include "tensor/dtype.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1ul << 13)
#endif
#endif

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return rng;
}
static float gauss(void) {
    const double u1 = ((next_u64() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    const double u2 = ((next_u64() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

typedef const infer_vec_dot_kernel *(*table_fn)(uint32_t);
typedef struct { const char *name; table_fn table; int runnable; } level;

static level levels[3] = {
    {"neon", infer_vec_dot_neon, 0},
    {"dotprod", infer_vec_dot_neon_dotprod, 0},
    {"i8mm", infer_vec_dot_neon_i8mm, 0},
};

static void detect_levels(void) {
#if defined(__aarch64__) && defined(__linux__)
    levels[0].runnable = 1;
    levels[1].runnable = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
    levels[2].runnable = levels[1].runnable && (getauxval(AT_HWCAP2) & HWCAP2_I8MM) != 0;
#elif defined(__aarch64__)
    levels[0].runnable = 1;   /* other OSes: base level only in this test */
#endif
}

/* The weight types the library computes: every type of the scalar table except the
 * generic dequantize-then-dot fallbacks for Q8_1 / Q8_K (not model weight formats). */
static int is_weight_type(uint32_t type) {
    return infer_vec_dot_scalar(type) && type != INFER_TYPE_Q8_1 && type != INFER_TYPE_Q8_K;
}

/* One block of random bytes whose dequantized values are finite and moderate, so that
 * float sums neither overflow nor lose everything to one huge term. */
static void random_block(const infer_dtype_traits *tr, unsigned char *blk) {
    float *tmp = malloc(sizeof(float) * (size_t)tr->block_size);
    for (int tries = 0;; tries++) {
        for (size_t b = 0; b < tr->block_bytes; b++) blk[b] = (unsigned char)next_u64();
        tr->to_float(blk, tmp, tr->block_size);
        int ok = 1;
        for (int64_t k = 0; k < tr->block_size && ok; k++) ok = isfinite(tmp[k]) && fabsf(tmp[k]) < 1e4f;
        if (ok || tries > 1000) break;
    }
    free(tmp);
}

typedef struct {
    uint32_t type;
    int64_t rows, cols, n;
    size_t row_bytes, xs;
    unsigned char *W;
    float *Wd;     /* dequantized weights, for the error scale */
    float *x;
    char *xq;      /* activations in the kernel's format (scalar converter) */
} problem;

static void problem_make(problem *p, uint32_t type, int64_t rows, int64_t cols, int64_t n) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    const infer_act_format act = infer_act_format_of(type);
    p->type = type; p->rows = rows; p->cols = cols; p->n = n;
    p->row_bytes = infer_dtype_row_bytes(type, cols);
    p->xs = infer_act_row_bytes(act, cols);
    p->W = malloc(p->row_bytes * (size_t)rows);
    p->Wd = malloc(sizeof(float) * (size_t)(rows * cols));
    p->x = malloc(sizeof(float) * (size_t)(n * cols));
    p->xq = malloc(p->xs * (size_t)n);
    float *tmp = malloc(sizeof(float) * (size_t)cols);
    for (int64_t r = 0; r < rows; r++) {
        unsigned char *row = p->W + p->row_bytes * (size_t)r;
        if (r % 2 == 0 && tr->block_size > 1) {
            for (int64_t b = 0; b < cols / tr->block_size; b++) random_block(tr, row + (size_t)b * tr->block_bytes);
        } else {
            for (int64_t c = 0; c < cols; c++) tmp[c] = gauss() * 0.05f;
            tr->from_float(tmp, row, cols);
        }
        tr->to_float(row, p->Wd + r * cols, cols);
    }
    for (int64_t i = 0; i < n * cols; i++) p->x[i] = gauss() * ((i % cols) % 53 == 7 ? 8.0f : 1.0f);
    for (int64_t c = 0; c < cols && n > 1; c++) p->x[cols + c] = 0.0f;   /* an all-zero token */
    const infer_quantize_act_fn q = infer_quantize_act_scalar(act);
    for (int64_t t = 0; t < n; t++) q(p->x + t * cols, p->xq + (size_t)t * p->xs, cols);
    free(tmp);
}

static void problem_free(problem *p) { free(p->W); free(p->Wd); free(p->x); free(p->xq); }

/* |y - ref| bound: float reordering of sums whose terms are at most |w|*|x| each (x
 * quantized: |xq| <= |x|-block max, so 2 * sum|w| * |x| covers it). */
static double bound_for(const problem *p, int64_t r, int64_t t) {
    double sabs = 0;
    for (int64_t c = 0; c < p->cols; c++) sabs += fabs((double)p->Wd[r * p->cols + c] * p->x[t * p->cols + c]);
    return 2e-5 * 2 * sabs + 1e-6;
}

static void check(const problem *p, const char *lvl, const char *entry, int64_t r, int64_t t, int nt, float y, float ref) {
    const double e = fabs((double)y - ref);
    if (!(e <= bound_for(p, r, t))) {
        print_error("%s %s %s cols=%lld nt=%d row %lld tok %lld: %.9g vs scalar %.9g (bound %.3g)\n", lvl, entry,
                    infer_type_name(p->type), (long long)p->cols, nt, (long long)r, (long long)t, y, ref,
                    bound_for(p, r, t));
        fail();
    }
}

static void check_problem(const problem *p, const level *lv) {
    const infer_vec_dot_kernel *ks = infer_vec_dot_scalar(p->type);
    const infer_vec_dot_kernel *k = lv->table(p->type);
    assert_non_null(k);
    const int max_nt = k->max_nt > 0 ? k->max_nt : INFER_DOT_MAX_NT;
    assert_true(max_nt <= INFER_DOT_WIDE_NT);
    const int64_t nb = p->cols / infer_dtype_traits_get(p->type)->block_size;
    float ref[INFER_DOT_WIDE_NT], y[2 * INFER_DOT_WIDE_NT];
    for (int nt = 1; nt <= max_nt && nt <= p->n; nt++)
        for (int64_t t0 = 0; t0 + nt <= p->n; t0 += nt) {
            const char *xt = p->xq + (size_t)t0 * p->xs;
            for (int64_t r = 0; r < p->rows; r++) {
                const unsigned char *wr = p->W + p->row_bytes * (size_t)r;
                for (int j = 0; j < nt; j++) ks->dot(nb, wr, xt + (size_t)j * p->xs, p->xs, 1, &ref[j]);
                for (int j = 0; j < 2 * INFER_DOT_WIDE_NT; j++) y[j] = NAN;
                k->dot(nb, wr, xt, p->xs, nt, y);
                for (int j = 0; j < nt; j++) check(p, lv->name, "dot", r, t0 + j, nt, y[j], ref[j]);
                if (!k->dot2 || r + 1 >= p->rows) continue;
                /* rows r, r+1 through the two-row entry; ref holds row r */
                for (int j = 0; j < 2 * INFER_DOT_WIDE_NT; j++) y[j] = NAN;
                k->dot2(nb, wr, p->row_bytes, xt, p->xs, nt, y);
                for (int j = 0; j < nt; j++) check(p, lv->name, "dot2", r, t0 + j, nt, y[j], ref[j]);
                for (int j = 0; j < nt; j++) ks->dot(nb, wr + p->row_bytes, xt + (size_t)j * p->xs, p->xs, 1, &ref[j]);
                for (int j = 0; j < nt; j++) check(p, lv->name, "dot2", r + 1, t0 + j, nt, y[nt + j], ref[j]);
            }
        }
}

static void test_every_type_every_level(void **state) {
    int ran_dot2 = 0, checked = 0;
    for (uint32_t type = 0; type < INFER_TYPE_COUNT; type++) {
        if (!is_weight_type(type)) continue;
        const infer_dtype_traits *tr = infer_dtype_traits_get(type);
        const int64_t ab = infer_act_block(infer_act_format_of(type));
        int64_t cols_list[3];
        if (tr->block_size == 1) { cols_list[0] = 7; cols_list[1] = 99; cols_list[2] = 256; }
        else if (ab == 256 || tr->block_size == 256) { cols_list[0] = 256; cols_list[1] = 768; cols_list[2] = 0; }
        else { cols_list[0] = 32; cols_list[1] = 96; cols_list[2] = 416; }
        for (int ci = 0; ci < 3 && cols_list[ci]; ci++) {
            problem p;
            problem_make(&p, type, 5, cols_list[ci], 9);
            for (int l = 0; l < 3; l++) {
                /* every level has a complete table, runnable or not */
                assert_non_null(levels[l].table(type));
                if (!levels[l].runnable) continue;
                check_problem(&p, &levels[l]);
                ran_dot2 |= levels[l].table(type)->dot2 != NULL;
                checked++;
            }
            problem_free(&p);
        }
    }
    assert_true(checked > 0);
    /* the SMMLA level must really exercise two-row tiles */
    if (levels[2].runnable) assert_true(ran_dot2);
}

static void test_act_quantizers_match_scalar(void **state) {
    static const infer_act_format fmts[] = {INFER_ACT_Q8, INFER_ACT_Q8K};
    const int64_t cols = 768;
    float *x = malloc(sizeof(float) * cols);
    for (int64_t c = 0; c < cols; c++) x[c] = gauss() * (c % 37 == 3 ? 20.0f : 1.0f);
    for (int64_t c = 256; c < 288; c++) x[c] = 0.0f;                /* an all-zero block */
    for (int64_t c = 300; c < 310; c++) x[c] = (float)(c - 305) * 0.5f;   /* exact halves: ties */
    for (size_t f = 0; f < 2; f++) {
        const infer_quantize_act_fn qn = infer_quantize_act_neon(fmts[f]);
        assert_non_null(qn);
        const size_t bytes = infer_act_row_bytes(fmts[f], cols);
        unsigned char *a = malloc(bytes), *b = malloc(bytes);
        memset(a, 0x5A, bytes);
        memset(b, 0xA5, bytes);
        infer_quantize_act_scalar(fmts[f])(x, a, cols);
        qn(x, b, cols);
        assert_memory_equal(a, b, bytes);
        free(a);
        free(b);
    }
    assert_null(infer_quantize_act_neon(INFER_ACT_F32));
    free(x);
}

int main(void) {
    detect_levels();
    if (!levels[0].runnable) {
        fprintf(stderr, "test_vec_dot_neon: not an aarch64 build, skipped\n");
        return 77;
    }
    for (int l = 0; l < 3; l++) fprintf(stderr, "test_vec_dot_neon: level %s %s\n", levels[l].name,
                                        levels[l].runnable ? "runs" : "not on this CPU, skipped");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_every_level),
        cmocka_unit_test(test_act_quantizers_match_scalar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
