/* Every Vulkan op and weight-format variant against references computed here in double
 * precision, on small, awkward shapes (row lengths that are not multiples of 8 or of the
 * workgroup size, views at offsets that are not binding-aligned). Quantized weights are
 * the shared dequant fixtures: <TYPE>.raw blocks whose exact values are <TYPE>.f32, so
 * decoding is checked bit for bit and matmuls against the reference engine's values.
 *
 *   test_vulkan_ops              the op tests (needs a Vulkan device, lavapipe is fine)
 *   test_vulkan_ops --no-device  run with VK_ICD_FILENAMES pointing nowhere: the
 *                                constructor must fail cleanly with INFER_ERR_NO_DEVICE
 *
 * Without a usable device the op tests FAIL, except on a machine with no Vulkan driver
 * installed at all (no ICD manifest), where they exit 77 (Skipped). */
#include <dirent.h>
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
#include "kernels/backend.h"
#include "tensor/dtype.h"
#include "testdata.h"

static infer_backend *g_be;

/* ------------------------------------------------------------------ helpers */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {   /* uniform in [-1, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}
static float *rand_vec(size_t n, float scale) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = frand() * scale;
    return v;
}

/* A device buffer holding `bytes` at an offset that is deliberately not a multiple of
 * the binding alignment (the ops must pass the remainder to the shaders). */
#define ODD_OFFSET 20
static size_t g_offset = ODD_OFFSET;   /* 0 while testing kernels that need aligned inputs */
typedef struct dev {
    infer_bbuf *buf;
    infer_bview v;
} dev;

static dev dev_new(const void *host, size_t bytes, uint32_t type) {
    dev d;
    assert_int_equal(g_be->ops->alloc(g_be, bytes + ODD_OFFSET + 64, &d.buf), INFER_OK);
    d.v = (infer_bview){d.buf, g_offset, type};
    if (host) g_be->ops->write(g_be, d.v, host, bytes);
    return d;
}
static void dev_free(dev d) { g_be->ops->release(g_be, d.buf); }
static infer_bview none(void) { return (infer_bview){NULL, 0, INFER_TYPE_F32}; }

/* A second backend created with one environment knob set (probed at creation only). */
static infer_backend *backend_with_env(const char *var, const char *value) {
    setenv(var, value, 1);
    infer_backend *be = NULL;
    infer_error err = {0};
    infer_status st = infer_backend_vulkan_new(-1, 0, &be, &err);
    unsetenv(var);
    if (st != INFER_OK) fail_msg("backend with %s=%s: %s", var, value, err.message);
    return be;
}

static void end_ok(void) {
    infer_error err = {0};
    infer_status st = g_be->ops->end(g_be, &err);
    if (st != INFER_OK) fail_msg("end() failed: %s", err.message);
}

static void check_close(const char *what, const float *got, const double *want, size_t n, double atol, double rtol) {
    for (size_t i = 0; i < n; i++) {
        double tol = atol + rtol * fabs(want[i]);
        if (!(fabs((double)got[i] - want[i]) <= tol))
            fail_msg("%s[%zu]: got %.9g want %.9g (tol %.3g)", what, i, (double)got[i], want[i], tol);
    }
}

typedef struct fixture {
    uint32_t type;
    const char *name;
    uint8_t *raw;
    float *val;       /* 4096 decoded values */
    size_t raw_bytes;
} fixture;

static const struct { uint32_t type; const char *name; } k_types[] = {
    {INFER_TYPE_F32, "F32"},   {INFER_TYPE_F16, "F16"},   {INFER_TYPE_BF16, "BF16"}, {INFER_TYPE_Q4_0, "Q4_0"},
    {INFER_TYPE_Q4_1, "Q4_1"}, {INFER_TYPE_Q5_0, "Q5_0"}, {INFER_TYPE_Q5_1, "Q5_1"}, {INFER_TYPE_Q8_0, "Q8_0"},
    {INFER_TYPE_Q4_K, "Q4_K"}, {INFER_TYPE_Q5_K, "Q5_K"}, {INFER_TYPE_Q6_K, "Q6_K"}, {INFER_TYPE_MXFP4, "MXFP4"},
    {INFER_TYPE_Q2_K, "Q2_K"}, {INFER_TYPE_Q3_K, "Q3_K"}, {INFER_TYPE_IQ4_NL, "IQ4_NL"}, {INFER_TYPE_IQ4_XS, "IQ4_XS"},
};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

/* F32 has no .raw fixture: the decoded values of another fixture serve as F32 weights. */
static fixture load_fixture(uint32_t type, const char *name) {
    fixture f = {.type = type, .name = name};
    char rel[64];
    size_t len;
    snprintf(rel, sizeof rel, "dequant/%s.f32", type == INFER_TYPE_F32 ? "Q8_0" : name);
    char *p = test_fixture(rel);
    assert_non_null(p);
    f.val = test_read_all(p, &len);
    assert_int_equal(len, 4096 * 4);
    free(p);
    if (type == INFER_TYPE_F32) {
        f.raw = malloc(len);
        memcpy(f.raw, f.val, len);
        f.raw_bytes = len;
        return f;
    }
    snprintf(rel, sizeof rel, "dequant/%s.raw", name);
    p = test_fixture(rel);
    assert_non_null(p);
    f.raw = test_read_all(p, &f.raw_bytes);
    assert_int_equal(f.raw_bytes, infer_dtype_row_bytes(type, 4096));
    free(p);
    return f;
}
static void free_fixture(fixture *f) {
    free(f->raw);
    free(f->val);
}

/* ------------------------------------------------------------------ get_rows */

/* Rows of 256 (one K-quant block) picked from the fixture, compared bit for bit. */
static void test_get_rows_all_types(void **state) {
    (void)state;
    const int32_t ids[] = {3, 0, 15, 7, 3, 12};
    const int n = 6, row_len = 256;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        fixture f = load_fixture(k_types[ti].type, k_types[ti].name);
        dev table = dev_new(f.raw, f.raw_bytes, f.type);
        dev did = dev_new(ids, sizeof ids, INFER_TYPE_I32);
        dev out = dev_new(NULL, (size_t)n * row_len * 4, INFER_TYPE_F32);
        float *got = malloc((size_t)n * row_len * 4);
        g_be->ops->begin(g_be);
        g_be->ops->get_rows(g_be, table.v, row_len, did.v, n, out.v);
        g_be->ops->read(g_be, out.v, got, (size_t)n * row_len * 4);
        end_ok();
        for (int t = 0; t < n; t++)
            for (int i = 0; i < row_len; i++) {
                float want = f.val[ids[t] * row_len + i];
                if (memcmp(&got[t * row_len + i], &want, 4) != 0)
                    fail_msg("get_rows %s: row %d [%d]: got %.9g want %.9g", f.name, ids[t], i, (double)got[t * row_len + i], (double)want);
            }
        free(got);
        dev_free(table);
        dev_free(did);
        dev_free(out);
        free_fixture(&f);
    }
}

/* Plain types with a row length that is not a multiple of 8. */
static void test_get_rows_awkward_plain(void **state) {
    (void)state;
    const uint32_t types[] = {INFER_TYPE_F32, INFER_TYPE_F16, INFER_TYPE_BF16};
    const char *names[] = {"F32", "F16", "BF16"};
    const int row_len = 67, n_rows = 61;
    const int32_t ids[] = {60, 0, 33, 1};
    for (int ti = 0; ti < 3; ti++) {
        fixture f = load_fixture(types[ti], names[ti]);
        size_t es = types[ti] == INFER_TYPE_F32 ? 4 : 2;
        dev table = dev_new(f.raw, (size_t)n_rows * row_len * es, f.type);
        dev did = dev_new(ids, sizeof ids, INFER_TYPE_I32);
        dev out = dev_new(NULL, 4 * row_len * 4, INFER_TYPE_F32);
        float got[4 * 67];
        g_be->ops->begin(g_be);
        g_be->ops->get_rows(g_be, table.v, row_len, did.v, 4, out.v);
        g_be->ops->read(g_be, out.v, got, sizeof got);
        end_ok();
        for (int t = 0; t < 4; t++)
            for (int i = 0; i < row_len; i++)
                if (memcmp(&got[t * row_len + i], &f.val[ids[t] * row_len + i], 4) != 0)
                    fail_msg("get_rows %s awkward: row %d [%d]", names[ti], ids[t], i);
        dev_free(table);
        dev_free(did);
        dev_free(out);
        free_fixture(&f);
    }
}

/* ------------------------------------------------------------------ matmul */

/* The reference engine's activation rounding for quantized weights: per block of 32
 * (the 32-value formats; Q8_0) or 256 (K-quants; Q8_K), d = amax/127 and
 * x' = d * round_half_even(x/d), clamped to +-127. Float weights use x as is. */
static float round_act(uint32_t type, float *x, size_t n) {
    int qb = 0;
    switch (type) {
    case INFER_TYPE_F32: case INFER_TYPE_F16: case INFER_TYPE_BF16: return 0;
    case INFER_TYPE_Q4_K: case INFER_TYPE_Q5_K: case INFER_TYPE_Q6_K:
    case INFER_TYPE_Q2_K: case INFER_TYPE_Q3_K: case INFER_TYPE_IQ4_XS: qb = 256; break;
    default: qb = 32;
    }
    float d_max = 0;
    for (size_t b = 0; b < n; b += (size_t)qb) {
        float amax = 0;
        for (int j = 0; j < qb; j++) amax = fmaxf(amax, fabsf(x[b + j]));
        /* the reciprocal exactly as the reference forms it for each format */
        float d = amax / 127.0f, id = qb == 32 ? (amax > 0 ? 127.0f / amax : 0) : (d > 0 ? 1.0f / d : 0);
        for (int j = 0; j < qb; j++) {
            float q = nearbyintf(x[b + j] * id);
            x[b + j] = fminf(127, fmaxf(-127, q)) * d;
        }
        d_max = fmaxf(d_max, d);
    }
    return d_max;   /* a device whose division is not correctly rounded may land a
                       value exactly between two steps on the other one */
}

/* The value a 16-bit float holds nearest to v (ties to even, overflow to infinity,
 * subnormals kept), found in double arithmetic: what cooperative-matrix operands hold. */
static double round_f16(double v) {
    double a = fabs(v);
    if (a >= 65520.0) return v > 0 ? INFINITY : -INFINITY;
    int e;
    frexp(a, &e);                        /* a = m * 2^e, m in [0.5, 1): 11 significant bits */
    int shift = e < -13 ? 24 : 11 - e;   /* below 2^-14 the step stays 2^-24 */
    return nearbyint(v * ldexp(1.0, shift)) * ldexp(1.0, -shift);
}

/* Which products a matmul kernel may form: the operands as given (fp32 kernels), rounded
 * to 16-bit floats (the cooperative-matrix kernel), or either (INFER_VK_COOPMAT=1, which
 * takes the units where the device has them and the tiled kernel elsewhere). */
enum { OPS_F32, OPS_F16, OPS_EITHER };
static int g_operands = OPS_F32;

/* First output outside 1e-5 of its magnitude (fp32 accumulation), or -1. */
static long first_bad(const float *got, const double *want, const double *mag, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= 1e-5 * mag[i] + 1e-6)) return (long)i;
    return -1;
}

/* W: `rows` rows of `cols` taken from the fixture (row r is fixture row perm(r), so there
 * are more rows than the fixture has and tiles are partial); x random; optional bias.
 * Two references in double: the exact products, and the products of operands rounded to
 * 16 bits. Exact in fp32 (11 x 11 significant bits), those are what the cooperative-matrix
 * units sum in fp32, so that kernel is held to the same fp32 tolerance against them. */
static void run_matmul(const fixture *f, int rows, int cols, int n, bool with_bias) {
    int fix_rows = 4096 / cols;
    size_t rb = infer_dtype_row_bytes(f->type, cols);
    uint8_t *w = malloc(rb * (size_t)rows);
    double *wv = malloc(sizeof(double) * (size_t)rows * (size_t)cols);
    for (int r = 0; r < rows; r++) {
        int src = (r * 7 + 3) % fix_rows;
        memcpy(w + rb * (size_t)r, f->raw + rb * (size_t)src, rb);
        for (int c = 0; c < cols; c++) wv[(size_t)r * cols + c] = f->val[(size_t)src * cols + c];
    }
    float *x = rand_vec((size_t)n * cols, 1.0f);
    float *xr = malloc(sizeof(float) * (size_t)n * cols);
    memcpy(xr, x, sizeof(float) * (size_t)n * cols);
    float step = round_act(f->type, xr, (size_t)n * cols);
    float *bias = rand_vec((size_t)rows, 0.5f);
    size_t ny = (size_t)n * rows;
    double *want = malloc(sizeof(double) * ny), *mag = malloc(sizeof(double) * ny);
    double *want16 = malloc(sizeof(double) * ny), *mag16 = malloc(sizeof(double) * ny);
    for (int t = 0; t < n; t++)
        for (int r = 0; r < rows; r++) {
            double s = with_bias ? bias[r] : 0.0, m = with_bias ? fabs(bias[r]) : 0.0, s16 = s, m16 = m;
            for (int c = 0; c < cols; c++) {
                double a = wv[(size_t)r * cols + c], b = xr[(size_t)t * cols + c];
                s += a * b;
                m += fabs(a * b);
                double p16 = round_f16(a) * round_f16(b);
                s16 += p16;
                m16 += fabs(p16);
            }
            double wmax = 0;
            for (int c = 0; c < cols; c++) wmax = fmax(wmax, fabs(wv[(size_t)r * cols + c]));
            size_t i = (size_t)t * rows + r;
            want[i] = s;
            want16[i] = s16;
            mag[i] = m + 1e5 * 2 * wmax * step;   /* allows two flipped roundings */
            mag16[i] = m16 + 1e5 * 2 * wmax * step;
        }
    infer_bbuf *wb;
    assert_int_equal(g_be->ops->weight(g_be, w, rb * (size_t)rows, &wb), INFER_OK);
    dev dx = dev_new(x, (size_t)n * cols * 4, INFER_TYPE_F32);
    dev db = dev_new(bias, (size_t)rows * 4, INFER_TYPE_F32);
    dev dy = dev_new(NULL, ny * 4, INFER_TYPE_F32);
    float *got = malloc(ny * 4);
    g_be->ops->begin(g_be);
    g_be->ops->matmul(g_be, (infer_bview){wb, 0, f->type}, rows, cols, dx.v, n, with_bias ? db.v : none(), dy.v);
    g_be->ops->read(g_be, dy.v, got, ny * 4);
    end_ok();
    long bad32 = first_bad(got, want, mag, ny), bad16 = first_bad(got, want16, mag16, ny);
    bool f16 = g_operands == OPS_F16 || (g_operands == OPS_EITHER && bad32 >= 0);
    long bad = f16 ? bad16 : bad32;
    if (bad >= 0)
        fail_msg("matmul %s %dx%d n=%d (%s operands): y[%ld] got %.9g want %.9g", f->name, rows, cols, n, f16 ? "fp16" : "fp32", bad,
                 (double)got[bad], f16 ? want16[bad] : want[bad]);
    g_be->ops->release(g_be, wb);
    dev_free(dx);
    dev_free(db);
    dev_free(dy);
    free(w);
    free(wv);
    free(x);
    free(xr);
    free(bias);
    free(want);
    free(mag);
    free(want16);
    free(mag16);
    free(got);
}

static void test_matmul_all_types(void **state) {
    (void)state;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        fixture f = load_fixture(k_types[ti].type, k_types[ti].name);
        run_matmul(&f, 40, 256, 1, false);    /* decode: one workgroup per row */
        run_matmul(&f, 37, 1024, 1, true);    /* decode: several blocks a row, partial row group, bias */
        run_matmul(&f, 9, 2304, 1, false);    /* decode: x staged in two chunks, the second partial */
        run_matmul(&f, 40, 256, 5, true);     /* several rows at once, bias */
        run_matmul(&f, 40, 256, 37, true);    /* tiled: partial row and token tiles */
        run_matmul(&f, 100, 256, 70, false);  /* tiled: several row and token tiles */
        if (f.type == INFER_TYPE_F32 || f.type == INFER_TYPE_F16 || f.type == INFER_TYPE_BF16) {
            run_matmul(&f, 37, 67, 3, true);   /* columns not a multiple of 8 */
            run_matmul(&f, 37, 67, 1, true);
            run_matmul(&f, 37, 67, 11, false);
        }
        free_fixture(&f);
    }
}

/* Decode with x on 16 bytes: the path devices take for a model's activations (the Q4_K
 * wide-load kernel needs it; the odd offsets above send it to the general kernel).
 * Rows of 1, 4, 8 and 16 blocks of 256 (1 to 4 steps of that kernel's row loop). */
static void test_matvec_aligned_inputs(void **state) {
    (void)state;
    g_offset = 0;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        fixture f = load_fixture(k_types[ti].type, k_types[ti].name);
        run_matmul(&f, 40, 256, 1, false);
        run_matmul(&f, 37, 1024, 1, true);
        run_matmul(&f, 37, 2048, 1, false);
        run_matmul(&f, 37, 4096, 1, true);
        free_fixture(&f);
    }
    g_offset = ODD_OFFSET;
}

static void run_attention(uint32_t cache_type, int window, bool sinks);
static void test_rope_kv_store_fused(void **state);
static void test_rms_norm(void **state);
static void test_add_rms_norm_fused(void **state);

/* The plain 32-bit variants (decode matmul and norms without subgroups, F16 cache through
 * 32-bit words), which devices without those features use. */
static void test_matmul_portable_variants(void **state) {
    (void)state;
    infer_backend *saved = g_be, *portable = backend_with_env("INFER_VK_PORTABLE", "1");
    g_be = portable;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        fixture f = load_fixture(k_types[ti].type, k_types[ti].name);
        run_matmul(&f, 40, 256, 1, false);
        run_matmul(&f, 40, 256, 6, true);
        free_fixture(&f);
    }
    run_attention(INFER_TYPE_F16, 0, true);
    run_attention(INFER_TYPE_F16, 100, false);
    test_rope_kv_store_fused(NULL);
    test_rms_norm(NULL);             /* the shared-memory reductions */
    test_add_rms_norm_fused(NULL);
    g_be = saved;
    portable->ops->destroy(portable);
}

/* The integer dot-product decode kernels (Q4_0, Q8_0; a device with an accelerated
 * packed 4x8-bit dot product takes them, INFER_VK_INT_DOT=1 forces them where the
 * feature exists, as on lavapipe): x staged in one and in two chunks, partial row groups. */
static void test_matvec_int_dot(void **state) {
    (void)state;
    infer_backend *saved = g_be;
    for (int portable = 0; portable < 2; portable++) {   /* with subgroups, then the shared-memory form */
        if (portable) setenv("INFER_VK_PORTABLE", "1", 1);
        infer_backend *idot = backend_with_env("INFER_VK_INT_DOT", "1");
        unsetenv("INFER_VK_PORTABLE");
        g_be = idot;
        static const uint32_t types[] = {INFER_TYPE_Q4_0, INFER_TYPE_Q8_0};
        for (size_t ti = 0; ti < N_TYPES; ti++) {
            if (k_types[ti].type != types[0] && k_types[ti].type != types[1]) continue;
            fixture f = load_fixture(k_types[ti].type, k_types[ti].name);
            run_matmul(&f, 40, 256, 1, false);
            run_matmul(&f, 37, 1024, 1, true);
            run_matmul(&f, 9, 2304, 1, false);
            free_fixture(&f);
        }
        g_be = saved;
        idot->ops->destroy(idot);
    }
}

/* Weights above the allocation limit are split into overlapping parts; the ops serve them
 * window by window. The limit is lowered so that small tensors split into many parts. */
static void test_split_weights(void **state) {
    (void)state;
    infer_backend *saved = g_be, *split = backend_with_env("INFER_VK_WEIGHT_SPLIT", "8192");
    g_be = split;
    const uint32_t types[] = {INFER_TYPE_F32, INFER_TYPE_Q4_K, INFER_TYPE_Q6_K, INFER_TYPE_MXFP4};
    const char *names[] = {"F32", "Q4_K", "Q6_K", "MXFP4"};
    for (int ti = 0; ti < 4; ti++) {
        fixture f = load_fixture(types[ti], names[ti]);
        run_matmul(&f, 100, 256, 1, true);
        run_matmul(&f, 100, 256, 20, false);
        /* every row of a split table, in reverse */
        infer_bbuf *tb;
        assert_int_equal(g_be->ops->weight(g_be, f.raw, f.raw_bytes, &tb), INFER_OK);
        int32_t ids[16];
        for (int i = 0; i < 16; i++) ids[i] = 15 - i;
        dev did = dev_new(ids, sizeof ids, INFER_TYPE_I32);
        dev out = dev_new(NULL, 4096 * 4, INFER_TYPE_F32);
        float *got = malloc(4096 * 4);
        g_be->ops->begin(g_be);
        g_be->ops->get_rows(g_be, (infer_bview){tb, 0, f.type}, 256, did.v, 16, out.v);
        g_be->ops->read(g_be, out.v, got, 4096 * 4);
        end_ok();
        for (int t = 0; t < 16; t++)
            if (memcmp(got + t * 256, f.val + ids[t] * 256, 256 * 4) != 0) fail_msg("split get_rows %s: row %d", f.name, ids[t]);
        free(got);
        dev_free(did);
        dev_free(out);
        g_be->ops->release(g_be, tb);
        free_fixture(&f);
    }
    g_be = saved;
    split->ops->destroy(split);
}

/* ------------------------------------------------------------------ norms, glu, add */

static void test_rms_norm(void **state) {
    (void)state;
    const int n_rows = 5, row_len = 67;
    float *x = rand_vec((size_t)n_rows * row_len, 3.0f);
    float *w = rand_vec((size_t)row_len, 1.0f);
    const float eps = 1e-5f;
    for (int with_w = 0; with_w < 2; with_w++) {
        dev dx = dev_new(x, sizeof(float) * n_rows * row_len, INFER_TYPE_F32);
        dev dw = dev_new(w, sizeof(float) * row_len, INFER_TYPE_F32);
        dev dout = dev_new(NULL, sizeof(float) * n_rows * row_len, INFER_TYPE_F32);
        float got[5 * 67], got_inplace[5 * 67];
        g_be->ops->begin(g_be);
        g_be->ops->rms_norm(g_be, dx.v, with_w ? dw.v : none(), n_rows, row_len, eps, dout.v);
        g_be->ops->rms_norm(g_be, dx.v, with_w ? dw.v : none(), n_rows, row_len, eps, dx.v);   /* in place */
        g_be->ops->read(g_be, dout.v, got, sizeof got);
        g_be->ops->read(g_be, dx.v, got_inplace, sizeof got_inplace);
        end_ok();
        double want[5 * 67];
        for (int r = 0; r < n_rows; r++) {
            double ss = 0;
            for (int i = 0; i < row_len; i++) ss += (double)x[r * row_len + i] * x[r * row_len + i];
            double s = 1.0 / sqrt(ss / row_len + eps);
            for (int i = 0; i < row_len; i++) want[r * row_len + i] = x[r * row_len + i] * s * (with_w ? w[i] : 1.0);
        }
        check_close("rms_norm", got, want, (size_t)n_rows * row_len, 1e-6, 1e-5);
        check_close("rms_norm in place", got_inplace, want, (size_t)n_rows * row_len, 1e-6, 1e-5);
        dev_free(dx);
        dev_free(dw);
        dev_free(dout);
    }
    free(x);
    free(w);
}

/* A residual add followed by the norm of its output is one fused dispatch on Vulkan: the
 * stored sum and the normed rows both match the reference, in place (out = a, as the
 * forward pass does) and not, and a norm of some other view still sees the add done. */
static void test_add_rms_norm_fused(void **state) {
    (void)state;
    const int n_rows = 3, row_len = 300;
    const size_t n = (size_t)n_rows * row_len;
    float *a = rand_vec(n, 2.0f), *b = rand_vec(n, 2.0f), *w = rand_vec((size_t)row_len, 1.0f);
    const float eps = 1e-6f;
    double *sum = malloc(sizeof(double) * n), *want = malloc(sizeof(double) * n), *want_row0 = malloc(sizeof(double) * row_len);
    for (size_t i = 0; i < n; i++) sum[i] = (double)(a[i] + b[i]);   /* the add is in float */
    for (int r = 0; r < n_rows; r++) {
        double ss = 0;
        for (int i = 0; i < row_len; i++) ss += sum[r * row_len + i] * sum[r * row_len + i];
        double sc = 1.0 / sqrt(ss / row_len + eps);
        for (int i = 0; i < row_len; i++) want[r * row_len + i] = sum[r * row_len + i] * sc * w[i];
    }
    /* Row 0 alone with half its length: not the add's output view, so not fused. */
    double ss0 = 0;
    for (int i = 0; i < row_len / 2; i++) ss0 += sum[row_len + i] * sum[row_len + i];
    for (int i = 0; i < row_len / 2; i++) want_row0[i] = sum[row_len + i] / sqrt(ss0 / (row_len / 2) + eps);
    float *got = malloc(sizeof(float) * n), *got_sum = malloc(sizeof(float) * n), *got_sep = malloc(sizeof(float) * n);
    for (int in_place = 0; in_place < 2; in_place++) {
        dev da = dev_new(a, sizeof(float) * n, INFER_TYPE_F32), db = dev_new(b, sizeof(float) * n, INFER_TYPE_F32);
        dev ds = dev_new(NULL, sizeof(float) * n, INFER_TYPE_F32), dw = dev_new(w, sizeof(float) * row_len, INFER_TYPE_F32);
        dev dout = dev_new(NULL, sizeof(float) * n, INFER_TYPE_F32), dsep = dev_new(NULL, sizeof(float) * n, INFER_TYPE_F32);
        infer_bview s = in_place ? da.v : ds.v;
        g_be->ops->begin(g_be);
        g_be->ops->add(g_be, da.v, db.v, (int64_t)n, s);
        g_be->ops->rms_norm(g_be, s, dw.v, n_rows, row_len, eps, dout.v);
        g_be->ops->add(g_be, s, db.v, (int64_t)n, s);   /* s + b again, then undone below */
        g_be->ops->scale(g_be, db.v, (int64_t)n, -1.0f, 0.0f, dsep.v);
        g_be->ops->add(g_be, s, dsep.v, (int64_t)n, s);
        g_be->ops->rms_norm(g_be, infer_bview_at(s, sizeof(float) * row_len), none(), 1, row_len / 2, eps, dsep.v);
        g_be->ops->read(g_be, dout.v, got, sizeof(float) * n);
        g_be->ops->read(g_be, s, got_sum, sizeof(float) * n);
        g_be->ops->read(g_be, dsep.v, got_sep, sizeof(float) * (size_t)(row_len / 2));
        end_ok();
        check_close("add+rms_norm: normed", got, want, n, 1e-6, 1e-5);
        check_close("add+rms_norm: sum", got_sum, sum, n, 1e-5, 1e-5);
        check_close("add then a norm of another view", got_sep, want_row0, (size_t)(row_len / 2), 1e-5, 1e-4);
        dev_free(da); dev_free(db); dev_free(ds); dev_free(dw); dev_free(dout); dev_free(dsep);
    }
    free(a); free(b); free(w); free(sum); free(want); free(want_row0); free(got); free(got_sum); free(got_sep);
}

static void test_glu_add(void **state) {
    (void)state;
    const int n = 1000;
    float *g = rand_vec(n, 12.0f), *u = rand_vec(n, 12.0f);
    dev dg = dev_new(g, n * 4, INFER_TYPE_F32), du = dev_new(u, n * 4, INFER_TYPE_F32);
    dev o1 = dev_new(NULL, n * 4, INFER_TYPE_F32), o2 = dev_new(NULL, n * 4, INFER_TYPE_F32), o3 = dev_new(NULL, n * 4, INFER_TYPE_F32);
    float *r1 = malloc(n * 4), *r2 = malloc(n * 4), *r3 = malloc(n * 4);
    const float alpha = 1.702f, limit = 7.0f;
    g_be->ops->begin(g_be);
    g_be->ops->glu(g_be, INFER_GLU_SWIGLU, dg.v, du.v, n, 0, 0, o1.v);
    g_be->ops->glu(g_be, INFER_GLU_SWIGLU_OAI, dg.v, du.v, n, alpha, limit, o2.v);
    g_be->ops->add(g_be, dg.v, du.v, n, o3.v);
    g_be->ops->read(g_be, o1.v, r1, n * 4);
    g_be->ops->read(g_be, o2.v, r2, n * 4);
    g_be->ops->read(g_be, o3.v, r3, n * 4);
    end_ok();
    double *w1 = malloc(n * 8), *w2 = malloc(n * 8), *w3 = malloc(n * 8);
    for (int i = 0; i < n; i++) {
        double a = g[i], b = u[i];
        w1[i] = a / (1 + exp(-a)) * b;
        double gc = fmin(a, limit), uc = fmax(-limit, fmin(b, limit));
        w2[i] = gc / (1 + exp(-alpha * gc)) * (uc + 1);
        w3[i] = a + b;
    }
    check_close("swiglu", r1, w1, n, 1e-5, 1e-5);
    check_close("swiglu_oai", r2, w2, n, 1e-5, 1e-5);
    check_close("add", r3, w3, n, 0, 1e-7);

    /* GEGLU (GELU tanh form) and scale / soft-cap, against double references. */
    g_be->ops->begin(g_be);
    g_be->ops->glu(g_be, INFER_GLU_GEGLU, dg.v, du.v, n, 0, 0, o1.v);
    g_be->ops->scale(g_be, dg.v, n, 3.5f, 0.0f, o2.v);
    g_be->ops->scale(g_be, du.v, n, 2.0f, 5.0f, o3.v);
    g_be->ops->read(g_be, o1.v, r1, n * 4);
    g_be->ops->read(g_be, o2.v, r2, n * 4);
    g_be->ops->read(g_be, o3.v, r3, n * 4);
    end_ok();
    for (int i = 0; i < n; i++) {
        double a = g[i], b = u[i];
        w1[i] = 0.5 * a * (1.0 + tanh(sqrt(2.0 / M_PI) * (a + 0.044715 * a * a * a))) * b;
        w2[i] = 3.5 * a;
        w3[i] = 5.0 * tanh(2.0 * b / 5.0);
    }
    check_close("geglu", r1, w1, n, 1e-5, 1e-5);
    check_close("scale", r2, w2, n, 0, 1e-7);
    check_close("softcap", r3, w3, n, 1e-5, 1e-5);
    dev_free(dg); dev_free(du); dev_free(o1); dev_free(o2); dev_free(o3);
    free(g); free(u); free(r1); free(r2); free(r3); free(w1); free(w2); free(w3);
}

/* ------------------------------------------------------------------ rope */

/* ggml's definition, in double: theta_i = pos * base^(-2i/n_rot); YaRN mixes the
 * interpolated angle (times freq_scale) and the extrapolated one with a ramp over the
 * pair index between the corrected dims, and scales cos/sin by 1 + 0.1 ln(1/freq_scale). */
static void rope_ref(double *x, int n_tok, int n_head, int head_dim, const int32_t *pos, const float *ff, const infer_rope_params *p) {
    double low = 0, high = 0;
    bool yarn = p->yarn_factor > 1;
    if (yarn) {
        double d = 2 * log(p->freq_base);
        low = fmax(0, floor(p->n_rot * log(p->yarn_orig_ctx / (p->yarn_beta_fast * 2 * M_PI)) / d));
        high = fmin(p->n_rot - 1, ceil(p->n_rot * log(p->yarn_orig_ctx / (p->yarn_beta_slow * 2 * M_PI)) / d));
    }
    double ms = p->attn_factor * (yarn ? 1 + 0.1 * log(1.0 / p->freq_scale) : 1);
    for (int t = 0; t < n_tok; t++)
        for (int h = 0; h < n_head; h++)
            for (int i = 0; i < p->n_rot / 2; i++) {
                double te = pos[t] * pow(p->freq_base, -2.0 * i / p->n_rot) / (ff ? ff[i] : 1.0), th = te * p->freq_scale;
                if (yarn) {
                    double ramp = 1 - fmin(1, fmax(0, (i - low) / fmax(0.001, high - low)));
                    th = th * (1 - ramp) + te * ramp;
                }
                double *v = x + ((size_t)t * n_head + h) * head_dim;
                int i0 = p->mode == INFER_ROPE_NEOX ? i : 2 * i, i1 = p->mode == INFER_ROPE_NEOX ? i + p->n_rot / 2 : 2 * i + 1;
                double a = v[i0], b = v[i1], c = cos(th) * ms, s = sin(th) * ms;
                v[i0] = a * c - b * s;
                v[i1] = a * s + b * c;
            }
}

static void test_rope(void **state) {
    (void)state;
    const int n_tok = 3, n_head = 4, head_dim = 20;
    const int32_t pos[] = {0, 7, 300};
    infer_rope_params ps[3] = {
        {.mode = INFER_ROPE_NORMAL, .n_rot = 16, .freq_base = 10000, .freq_scale = 1, .yarn_factor = 1, .attn_factor = 1},
        {.mode = INFER_ROPE_NEOX, .n_rot = 20, .freq_base = 1000000, .freq_scale = 1, .yarn_factor = 1, .attn_factor = 1},
        {.mode = INFER_ROPE_NEOX, .n_rot = 20, .freq_base = 150000, .freq_scale = 1.0f / 32, .yarn_factor = 32,
         .yarn_orig_ctx = 4096, .yarn_beta_fast = 32, .yarn_beta_slow = 1, .attn_factor = 1},
    };
    size_t n = (size_t)n_tok * n_head * head_dim;
    float *x = rand_vec(n, 1.0f);
    float ff[10];   /* Llama 3.1-style per-pair divisors */
    for (int i = 0; i < 10; i++) ff[i] = 1.0f + (float)i * 0.75f;
    dev dff = dev_new(ff, sizeof ff, INFER_TYPE_F32);
    for (int k = 0; k < 5; k++) {
        const infer_rope_params *rp = &ps[k % 3];
        bool with_ff = k >= 3;
        dev dx = dev_new(x, n * 4, INFER_TYPE_F32), dp = dev_new(pos, sizeof pos, INFER_TYPE_I32);
        float *got = malloc(n * 4);
        g_be->ops->begin(g_be);
        g_be->ops->rope(g_be, dx.v, dp.v, n_tok, n_head, head_dim, with_ff ? dff.v : none(), rp);
        g_be->ops->read(g_be, dx.v, got, n * 4);
        end_ok();
        double *want = malloc(n * 8);
        for (size_t i = 0; i < n; i++) want[i] = x[i];
        rope_ref(want, n_tok, n_head, head_dim, pos, with_ff ? ff : NULL, rp);
        const char *what[] = {"rope normal", "rope neox", "rope yarn", "rope normal freq_factors", "rope neox freq_factors"};
        check_close(what[k], got, want, n, 2e-4, 1e-4);
        free(got);
        free(want);
        dev_free(dx);
        dev_free(dp);
    }
    dev_free(dff);
    free(x);
}

/* A rope followed by the kv_store of its output at the same positions is one fused
 * dispatch on Vulkan: x is roped in place and the cache rows hold the roped values
 * (the unrotated tail too, n_rot < head_dim), F32 and F16 caches, both rope modes; a
 * position outside the cache is dropped. */
static void test_rope_kv_store_fused(void **state) {
    (void)state;
    const int n_tok = 3, n_head = 2, head_dim = 20, row = n_head * head_dim, cache_rows = 8;
    const int32_t pos[] = {5, 1000, 2};
    infer_rope_params ps[2] = {
        {.mode = INFER_ROPE_NORMAL, .n_rot = 16, .freq_base = 10000, .freq_scale = 1, .yarn_factor = 1, .attn_factor = 1},
        {.mode = INFER_ROPE_NEOX, .n_rot = 12, .freq_base = 1000000, .freq_scale = 1, .yarn_factor = 1, .attn_factor = 1},
    };
    const size_t n = (size_t)n_tok * row;
    float *x = rand_vec(n, 1.0f);
    for (int k = 0; k < 4; k++) {
        const infer_rope_params *rp = &ps[k % 2];
        bool f16 = k >= 2;
        size_t es = f16 ? 2 : 4;
        dev dx = dev_new(x, n * 4, INFER_TYPE_F32), dp = dev_new(pos, sizeof pos, INFER_TYPE_I32);
        dev dc = dev_new(NULL, (size_t)cache_rows * row * es, f16 ? INFER_TYPE_F16 : INFER_TYPE_F32);
        float *got = malloc(n * 4);
        uint8_t *cache = malloc((size_t)cache_rows * row * es);
        g_be->ops->begin(g_be);
        g_be->ops->rope(g_be, dx.v, dp.v, n_tok, n_head, head_dim, none(), rp);
        g_be->ops->kv_store(g_be, dx.v, dp.v, n_tok, row, dc.v);
        g_be->ops->read(g_be, dx.v, got, n * 4);
        g_be->ops->read(g_be, dc.v, cache, (size_t)cache_rows * row * es);
        end_ok();
        double *want = malloc(n * 8);
        for (size_t i = 0; i < n; i++) want[i] = x[i];
        rope_ref(want, n_tok, n_head, head_dim, pos, NULL, rp);
        check_close("rope then kv_store: x", got, want, n, 2e-4, 1e-4);
        for (int r = 0; r < cache_rows; r++) {
            int t = r == 5 ? 0 : r == 2 ? 2 : -1;
            for (int i = 0; i < row; i++) {
                size_t e = (size_t)r * row + i;
                double v = f16 ? infer_fp16_to_f32(((uint16_t *)cache)[e]) : ((float *)cache)[e];
                double w = t < 0 ? 0.0 : want[(size_t)t * row + i];
                if (!(fabs(v - w) <= (f16 ? fabs(w) / 1024.0 + 1e-7 : 2e-4 + 1e-4 * fabs(w))))
                    fail_msg("rope then kv_store (%s, mode %d): cache row %d [%d] got %g want %g", f16 ? "F16" : "F32", rp->mode, r, i, v, w);
            }
        }
        free(got);
        free(cache);
        free(want);
        dev_free(dx);
        dev_free(dp);
        dev_free(dc);
    }
    free(x);
}

/* ------------------------------------------------------------------ KV cache + attention */

static void run_attention_kv(uint32_t cache_type, int window, bool sinks, int n_kv);
static void run_attention(uint32_t cache_type, int window, bool sinks) { run_attention_kv(cache_type, window, sinks, 150); }

/* n_kv must be coprime with 37 (the shuffled store order below). */
static void run_attention_kv(uint32_t cache_type, int window, bool sinks, int n_kv) {
    const int n_head = 6, n_head_kv = 2, head_dim = 72, n_tok = 3;
    const int32_t pos[] = {n_kv * 2 / 3, n_kv - 10, n_kv - 1};
    const int row = n_head_kv * head_dim;
    bool f16 = cache_type == INFER_TYPE_F16;
    size_t es = f16 ? 2 : 4;
    float *kall = rand_vec((size_t)n_kv * row, 1.0f), *vall = rand_vec((size_t)n_kv * row, 1.0f);
    float *q = rand_vec((size_t)n_tok * n_head * head_dim, 1.0f);
    float *snk = rand_vec(n_head, 2.0f);
    /* The cache is filled by kv_store: all rows in one call with positions 0..n_kv-1 in
     * a shuffled order, so row placement is checked too. */
    int32_t *perm = malloc(sizeof(int32_t) * n_kv);
    float *ks = malloc(sizeof(float) * (size_t)n_kv * row), *vs = malloc(sizeof(float) * (size_t)n_kv * row);
    for (int j = 0; j < n_kv; j++) perm[j] = (j * 37 + 11) % n_kv;   /* a permutation: 37 is coprime with n_kv */
    for (int j = 0; j < n_kv; j++) {
        memcpy(ks + (size_t)j * row, kall + (size_t)perm[j] * row, sizeof(float) * row);
        memcpy(vs + (size_t)j * row, vall + (size_t)perm[j] * row, sizeof(float) * row);
    }
    dev dk = dev_new(NULL, (size_t)n_kv * row * es, cache_type), dv = dev_new(NULL, (size_t)n_kv * row * es, cache_type);
    dev dks = dev_new(ks, sizeof(float) * (size_t)n_kv * row, INFER_TYPE_F32);
    dev dvs = dev_new(vs, sizeof(float) * (size_t)n_kv * row, INFER_TYPE_F32);
    dev dperm = dev_new(perm, sizeof(int32_t) * n_kv, INFER_TYPE_I32);
    dev dq = dev_new(q, sizeof(float) * (size_t)n_tok * n_head * head_dim, INFER_TYPE_F32);
    dev dpos = dev_new(pos, sizeof pos, INFER_TYPE_I32);
    dev dsnk = dev_new(snk, sizeof(float) * n_head, INFER_TYPE_F32);
    dev dout = dev_new(NULL, sizeof(float) * (size_t)n_tok * n_head * head_dim, INFER_TYPE_F32);
    infer_attn_params ap = {.n_tokens = n_tok, .n_head = n_head, .n_head_kv = n_head_kv, .head_dim = head_dim, .n_kv = n_kv,
                            .scale = 1.0f / sqrtf((float)head_dim), .window = window};
    float *got = malloc(sizeof(float) * (size_t)n_tok * n_head * head_dim);
    void *kback = malloc((size_t)n_kv * row * es);
    g_be->ops->begin(g_be);
    g_be->ops->kv_store(g_be, dks.v, dperm.v, n_kv, row, dk.v);
    g_be->ops->kv_store(g_be, dvs.v, dperm.v, n_kv, row, dv.v);
    g_be->ops->attention(g_be, dq.v, dk.v, dv.v, dpos.v, sinks ? dsnk.v : none(), &ap, dout.v);
    g_be->ops->read(g_be, dout.v, got, sizeof(float) * (size_t)n_tok * n_head * head_dim);
    g_be->ops->read(g_be, dk.v, kback, (size_t)n_kv * row * es);
    end_ok();

    /* The stored cache row p is kall[p] (F16: within binary16 rounding). */
    for (size_t i = 0; i < (size_t)n_kv * row; i++) {
        float v = f16 ? infer_fp16_to_f32(((uint16_t *)kback)[i]) : ((float *)kback)[i];
        double tol = f16 ? fabs(kall[i]) / 1024.0 + 1e-7 : 0;
        if (!(fabs(v - kall[i]) <= tol)) fail_msg("kv_store %s: element %zu got %g want %g", f16 ? "F16" : "F32", i, (double)v, (double)kall[i]);
    }
    double *want = malloc(sizeof(double) * (size_t)n_tok * n_head * head_dim);
    for (int t = 0; t < n_tok; t++)
        for (int h = 0; h < n_head; h++) {
            int kh = h / (n_head / n_head_kv);
            const float *qv = q + ((size_t)t * n_head + h) * head_dim;
            double *sc = malloc(sizeof(double) * (size_t)n_kv), m = sinks ? snk[h] : -INFINITY, l = 0;
            int lo = window > 0 ? (pos[t] - window + 1 > 0 ? pos[t] - window + 1 : 0) : 0;
            for (int j = lo; j <= pos[t]; j++) {
                double s = 0;
                for (int d = 0; d < head_dim; d++) s += (double)qv[d] * kall[(size_t)j * row + kh * head_dim + d];
                sc[j] = s / sqrt((double)head_dim);
                if (sc[j] > m) m = sc[j];
            }
            if (sinks) l += exp(snk[h] - m);
            for (int j = lo; j <= pos[t]; j++) l += exp(sc[j] - m);
            for (int d = 0; d < head_dim; d++) {
                double o = 0;
                for (int j = lo; j <= pos[t]; j++) o += exp(sc[j] - m) * vall[(size_t)j * row + kh * head_dim + d];
                want[((size_t)t * n_head + h) * head_dim + d] = o / l;
            }
            free(sc);
        }
    char what[64];
    snprintf(what, sizeof what, "attention %s window %d sinks %d n_kv %d", f16 ? "F16" : "F32", window, sinks, n_kv);
    check_close(what, got, want, (size_t)n_tok * n_head * head_dim, f16 ? 2e-3 : 2e-6, f16 ? 2e-3 : 1e-5);
    dev_free(dk); dev_free(dv); dev_free(dks); dev_free(dvs); dev_free(dperm); dev_free(dq); dev_free(dpos); dev_free(dsnk); dev_free(dout);
    free(kall); free(vall); free(q); free(snk); free(perm); free(ks); free(vs); free(got); free(kback); free(want);
}

static void test_attention(void **state) {
    (void)state;
    run_attention(INFER_TYPE_F32, 0, false);
    run_attention(INFER_TYPE_F32, 16, true);
    run_attention(INFER_TYPE_F16, 0, true);
    run_attention(INFER_TYPE_F16, 100, false);
}

/* Split-K attention: the default choice splits long caches with few query rows (1000
 * and 1234 keys for 18 rows); INFER_VK_ATTN_SPLIT forces parts of 64 and 37 keys, so
 * contexts that are not multiples of the part, parts left empty by a window, and the
 * sink (added once, at the merge) are all checked against the reference. */
static void test_attention_split(void **state) {
    (void)state;
    run_attention_kv(INFER_TYPE_F32, 0, false, 1000);
    run_attention_kv(INFER_TYPE_F16, 0, true, 1234);
    static const char *lens[] = {"64", "37"};
    for (int li = 0; li < 2; li++) {
        infer_backend *saved = g_be, *split = backend_with_env("INFER_VK_ATTN_SPLIT", lens[li]);
        g_be = split;
        run_attention_kv(INFER_TYPE_F32, 0, false, 150);
        run_attention_kv(INFER_TYPE_F32, 16, true, 150);
        run_attention_kv(INFER_TYPE_F16, 0, true, 301);
        run_attention_kv(INFER_TYPE_F16, 100, false, 129);
        g_be = saved;
        split->ops->destroy(split);
    }
}

/* ------------------------------------------------------------------ MoE */

/* Bits of a 16-bit float from a double it holds exactly (round_f16's results). */
static uint16_t f16_bits(double v) {
    uint16_t sign = signbit(v) ? 0x8000 : 0;
    double a = fabs(v);
    int e;
    double m = frexp(a, &e);   /* a = m * 2^e, m in [0.5, 1) */
    if (a == 0) return sign;
    if (e <= -14) return sign | (uint16_t)(a * 16777216.0);   /* subnormal: units of 2^-24 */
    return sign | (uint16_t)((e + 14) << 10) | (uint16_t)(m * 2048.0 - 1024.0);
}

/* n weights as a device tensor of type F32 or F16 (then w is first rounded to what F16
 * holds, so that the reference uses the values the device reads). */
static dev weights_dev(float *w, size_t n, uint32_t type) {
    if (type == INFER_TYPE_F32) return dev_new(w, n * 4, type);
    uint16_t *h = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        w[i] = (float)round_f16(w[i]);
        h[i] = f16_bits(w[i]);
    }
    dev d = dev_new(h, n * 2, type);
    free(h);
    return d;
}

/* Expert weights of type wtype (F32 or F16).
 * With OPS_F16 (OPS_EITHER: failing that of fp32) and a batch that takes the tiled
 * kernel (8 tokens or more), the reference rounds each matmul's operands to 16 bits as the
 * cooperative-matrix kernel does; then a GLU output next to a 16-bit rounding boundary may
 * round the other way on the device: one 16-bit step of h (2^-10 |h|) per term is allowed
 * for that. */
static void run_moe(int n_tok, infer_glu_kind glu, uint32_t wtype) {
    int r16_first = g_operands == OPS_F16 && n_tok >= 8, r16_last = g_operands != OPS_F32 && n_tok >= 8;
#define R16(v) (r16 ? round_f16(v) : (double)(v))
    const int n_expert = 5, k = 2, n_embd = 40, n_ff = 24;
    const float alpha = 1.702f, limit = 7.0f;
    float *x = rand_vec((size_t)n_tok * n_embd, 1.0f), *lg = rand_vec((size_t)n_tok * n_expert, 3.0f);
    float *wg = rand_vec((size_t)n_expert * n_ff * n_embd, 0.3f), *wu = rand_vec((size_t)n_expert * n_ff * n_embd, 0.3f);
    float *wd = rand_vec((size_t)n_expert * n_embd * n_ff, 0.3f);
    float *bg = rand_vec((size_t)n_expert * n_ff, 0.2f), *bu = rand_vec((size_t)n_expert * n_ff, 0.2f), *bd = rand_vec((size_t)n_expert * n_embd, 0.2f);
    dev dx = dev_new(x, sizeof(float) * n_tok * n_embd, INFER_TYPE_F32), dl = dev_new(lg, sizeof(float) * n_tok * n_expert, INFER_TYPE_F32);
    size_t nw = (size_t)n_expert * n_ff * n_embd;
    dev dwg = weights_dev(wg, nw, wtype), dwu = weights_dev(wu, nw, wtype), dwd = weights_dev(wd, nw, wtype);
    dev dbg = dev_new(bg, sizeof(float) * n_expert * n_ff, INFER_TYPE_F32), dbu = dev_new(bu, sizeof(float) * n_expert * n_ff, INFER_TYPE_F32);
    dev dbd = dev_new(bd, sizeof(float) * n_expert * n_embd, INFER_TYPE_F32);
    dev dout = dev_new(NULL, sizeof(float) * n_tok * n_embd, INFER_TYPE_F32);
    float *got = malloc(sizeof(float) * n_tok * n_embd);
    g_be->ops->begin(g_be);
    g_be->ops->moe(g_be, dx.v, dl.v, n_tok, n_embd, n_ff, n_expert, k, dwg.v, dbg.v, dwu.v, dbu.v, dwd.v, dbd.v, glu, alpha, limit, dout.v);
    g_be->ops->read(g_be, dout.v, got, sizeof(float) * n_tok * n_embd);
    end_ok();
    double *want = malloc((size_t)n_tok * n_embd * sizeof(double)), *flip = malloc((size_t)n_tok * n_embd * sizeof(double));
    for (int r16 = r16_first; r16 <= r16_last; r16++) {
    memset(want, 0, (size_t)n_tok * n_embd * sizeof(double));
    memset(flip, 0, (size_t)n_tok * n_embd * sizeof(double));
    for (int t = 0; t < n_tok; t++) {
        int sel[2];
        double w[2], sum = 0;
        for (int s = 0; s < k; s++) {
            int best = -1;
            for (int e = 0; e < n_expert; e++) {
                if (s == 1 && e == sel[0]) continue;
                if (best < 0 || lg[t * n_expert + e] > lg[t * n_expert + best]) best = e;
            }
            sel[s] = best;
        }
        for (int s = 0; s < k; s++) sum += w[s] = exp(lg[t * n_expert + sel[s]] - lg[t * n_expert + sel[0]]);
        for (int s = 0; s < k; s++) {
            int e = sel[s];
            double h[24];
            for (int f = 0; f < n_ff; f++) {
                double a = bg[e * n_ff + f], b = bu[e * n_ff + f];
                for (int c = 0; c < n_embd; c++) {
                    a += R16(wg[((size_t)e * n_ff + f) * n_embd + c]) * R16(x[t * n_embd + c]);
                    b += R16(wu[((size_t)e * n_ff + f) * n_embd + c]) * R16(x[t * n_embd + c]);
                }
                if (glu == INFER_GLU_SWIGLU) h[f] = a / (1 + exp(-a)) * b;
                else {
                    double gc = fmin(a, limit), uc = fmax(-limit, fmin(b, limit));
                    h[f] = gc / (1 + exp(-alpha * gc)) * (uc + 1);
                }
            }
            for (int o = 0; o < n_embd; o++) {
                double d = bd[e * n_embd + o], fl = 0;
                for (int f = 0; f < n_ff; f++) {
                    double wdf = R16(wd[((size_t)e * n_embd + o) * n_ff + f]);
                    d += wdf * R16(h[f]);
                    if (r16) fl += fabs(wdf) * ldexp(fabs(h[f]), -10);
                }
                want[t * n_embd + o] += w[s] / sum * d;
                flip[t * n_embd + o] += w[s] / sum * fl;
            }
        }
    }
    char what[64];
    snprintf(what, sizeof what, "moe n_tok %d glu %d%s", n_tok, glu, r16 ? " fp16 operands" : "");
    size_t bad = SIZE_MAX;
    for (size_t i = 0; i < (size_t)n_tok * n_embd && bad == SIZE_MAX; i++)
        if (!(fabs((double)got[i] - want[i]) <= 1e-5 + 1e-4 * fabs(want[i]) + flip[i])) bad = i;
    if (bad == SIZE_MAX) break;
    if (r16 == r16_last)
        fail_msg("%s[%zu]: got %.9g want %.9g (tol %.3g)", what, bad, (double)got[bad], want[bad], 1e-5 + 1e-4 * fabs(want[bad]) + flip[bad]);
    }
#undef R16
    free(flip);
    dev_free(dx); dev_free(dl); dev_free(dwg); dev_free(dwu); dev_free(dwd); dev_free(dbg); dev_free(dbu); dev_free(dbd); dev_free(dout);
    free(x); free(lg); free(wg); free(wu); free(wd); free(bg); free(bu); free(bd); free(got); free(want);
}

static void test_moe(void **state) {
    (void)state;
    run_moe(1, INFER_GLU_SWIGLU_OAI, INFER_TYPE_F32);   /* decode path */
    run_moe(3, INFER_GLU_SWIGLU, INFER_TYPE_F32);
    run_moe(19, INFER_GLU_SWIGLU_OAI, INFER_TYPE_F32);  /* per-expert tiled path */
    run_moe(19, INFER_GLU_SWIGLU_OAI, INFER_TYPE_F16);
}

/* ------------------------------------------------------------------ cooperative matrices */

/* The prompt kernel's cases: partial row and token tiles, several of each, many steps of
 * the shared dimension, with and without bias; plain types also with rows that are not
 * whole units of 8; the MoE form with experts of one partial and of two token tiles.
 * F32 weights keep the fp32 tiled kernel (vk_ops.c's mat_shader says why). */
static void run_prompt_cases(int ops) {
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        fixture f = load_fixture(k_types[ti].type, k_types[ti].name);
        g_operands = f.type == INFER_TYPE_F32 ? OPS_F32 : ops;
        run_matmul(&f, 40, 256, 37, true);
        run_matmul(&f, 100, 256, 70, false);
        run_matmul(&f, 130, 256, 65, true);   /* 64 + 64 + 2 rows x 64 + 1 tokens */
        if (f.type == INFER_TYPE_F32 || f.type == INFER_TYPE_F16 || f.type == INFER_TYPE_BF16) {
            run_matmul(&f, 37, 67, 11, false);
            run_matmul(&f, 70, 67, 9, true);
        }
        free_fixture(&f);
    }
    g_operands = ops;
    run_moe(19, INFER_GLU_SWIGLU_OAI, INFER_TYPE_F16);
    run_moe(150, INFER_GLU_SWIGLU, INFER_TYPE_F16);       /* ~60 assignments an expert: some take two token tiles */
    g_operands = OPS_F32;
    run_moe(19, INFER_GLU_SWIGLU_OAI, INFER_TYPE_F32);    /* the tiled kernel */
}

/* matmul_coop.comp (INFER_VK_COOPMAT): its emulated form on any device, held to the
 * products of fp16-rounded operands; then =1, which is the NV cooperative-matrix kernel on
 * a device that has the units (same check) and the tiled fp32 kernel elsewhere (its own
 * check), so that this test is the first thing to run on a GPU before timing it. */
static void test_matmul_coopmat(void **state) {
    (void)state;
    infer_backend *saved = g_be;
    static const struct { const char *value; int ops; } modes[] = {{"emu", OPS_F16}, {"1", OPS_EITHER}};
    for (size_t m = 0; m < 2; m++) {
        g_be = backend_with_env("INFER_VK_COOPMAT", modes[m].value);
        run_prompt_cases(modes[m].ops);
        g_be->ops->destroy(g_be);
        g_be = saved;
    }
}

/* ------------------------------------------------------------------ errors */

static void test_errors_are_sticky_and_reported(void **state) {
    (void)state;
    dev a = dev_new(NULL, 64, INFER_TYPE_F32);
    infer_bview ids = {a.buf, 0, INFER_TYPE_I32};
    infer_bview q2k = {a.buf, 0, INFER_TYPE_Q2_K};   /* a format without a shader */
    g_be->ops->begin(g_be);
    g_be->ops->get_rows(g_be, q2k, 256, ids, 1, a.v);
    g_be->ops->add(g_be, a.v, a.v, 4, a.v);
    infer_error err = {0};
    infer_status st = g_be->ops->end(g_be, &err);
    assert_int_not_equal(st, INFER_OK);
    assert_non_null(strstr(err.message, "get_rows"));
    /* A view past the end of its buffer. */
    g_be->ops->begin(g_be);
    g_be->ops->add(g_be, a.v, a.v, 1000, a.v);
    st = g_be->ops->end(g_be, &err);
    assert_int_equal(st, INFER_ERR_INVALID_ARG);
    /* A row id outside the table: reported by end(), never read. */
    {
        float tab[4 * 8] = {0};
        int32_t bad[2] = {1, 4};
        dev dt = dev_new(tab, sizeof tab, INFER_TYPE_F32), di = dev_new(bad, sizeof bad, INFER_TYPE_I32);
        dev dout = dev_new(NULL, 2 * 8 * 4, INFER_TYPE_F32);
        /* the table view ends where its buffer does: 4 rows from ODD_OFFSET with the slack cut */
        infer_bview tv = dt.v;
        tv.offset = dt.v.offset + 64;   /* fewer than the buffer's slack rows remain beyond */
        g_be->ops->begin(g_be);
        g_be->ops->get_rows(g_be, tv, 8, di.v, 2, dout.v);
        st = g_be->ops->end(g_be, &err);
        assert_int_equal(st, INFER_ERR_INVALID_ARG);
        assert_non_null(strstr(err.message, "outside its table"));
        dev_free(dt);
        dev_free(di);
        dev_free(dout);
    }
    /* The next pass is clean. */
    g_be->ops->begin(g_be);
    g_be->ops->add(g_be, a.v, a.v, 4, a.v);
    end_ok();
    dev_free(a);
}

/* Positions outside the cache are dropped on the device, never written out of bounds. */
static void test_kv_store_out_of_range_positions(void **state) {
    (void)state;
    const int row = 8;
    float src[3 * 8], cache[4 * 8];
    for (int i = 0; i < 3 * row; i++) src[i] = (float)(i + 1);
    int32_t pos[3] = {2, 1000000, -5};
    dev ds = dev_new(src, sizeof src, INFER_TYPE_F32), dp = dev_new(pos, sizeof pos, INFER_TYPE_I32);
    dev dc = dev_new(NULL, sizeof cache, INFER_TYPE_F32);
    g_be->ops->begin(g_be);
    g_be->ops->kv_store(g_be, ds.v, dp.v, 3, row, dc.v);
    g_be->ops->read(g_be, dc.v, cache, sizeof cache);
    end_ok();
    for (int r = 0; r < 4; r++)
        for (int i = 0; i < row; i++) assert_true(cache[r * row + i] == (r == 2 ? src[i] : 0.0f));
    dev_free(ds);
    dev_free(dp);
    dev_free(dc);
}

/* ------------------------------------------------------------------ main */

/* True when no Vulkan driver is installed (or the loader is pointed at none). */
static bool no_icd_installed(void) {
    const char *env[] = {"VK_ICD_FILENAMES", "VK_DRIVER_FILES"};
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(env[i]);
        if (v && *v) {
            FILE *f = fopen(v, "r");
            if (f) { fclose(f); return false; }
            return true;
        }
    }
    const char *dirs[] = {"/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"};
    for (int i = 0; i < 3; i++) {
        DIR *d = opendir(dirs[i]);
        if (!d) continue;
        struct dirent *e;
        bool any = false;
        while ((e = readdir(d)))
            if (strstr(e->d_name, ".json")) any = true;
        closedir(d);
        if (any) return false;
    }
    return true;
}

static int no_device_mode(void) {
    infer_backend *be = (infer_backend *)1;
    infer_error err = {0};
    infer_status st = infer_backend_vulkan_new(-1, 0, &be, &err);
    printf("status %d: %s\n", st, err.message);
    if (st != INFER_ERR_NO_DEVICE || be != NULL || err.message[0] == 0) {
        printf("FAIL: expected INFER_ERR_NO_DEVICE with a message and no backend\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--no-device") == 0) return no_device_mode();
#ifndef INFER_TEST_HAVE_VULKAN
    printf("SKIPPED: built without the Vulkan backend\n");
    return TEST_SKIP_EXIT;
#endif
    test_pin_vulkan_drivers();
    infer_error err = {0};
    infer_status st = infer_backend_vulkan_new(-1, 0, &g_be, &err);
    if (st != INFER_OK) {
        if (st == INFER_ERR_NO_DEVICE && no_icd_installed()) {
            printf("SKIPPED: no Vulkan driver installed: %s\n", err.message);
            return TEST_SKIP_EXIT;
        }
        printf("FAIL: Vulkan was built in but no device opened: %s\n", err.message);
        return 1;
    }
    printf("device: %s\n", g_be->ops->device_name(g_be));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_rows_all_types),
        cmocka_unit_test(test_get_rows_awkward_plain),
        cmocka_unit_test(test_matmul_all_types),
        cmocka_unit_test(test_matmul_portable_variants),
        cmocka_unit_test(test_matvec_aligned_inputs),
        cmocka_unit_test(test_matvec_int_dot),
        cmocka_unit_test(test_split_weights),
        cmocka_unit_test(test_rms_norm),
        cmocka_unit_test(test_glu_add),
        cmocka_unit_test(test_add_rms_norm_fused),
        cmocka_unit_test(test_rope),
        cmocka_unit_test(test_rope_kv_store_fused),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_attention_split),
        cmocka_unit_test(test_moe),
        cmocka_unit_test(test_matmul_coopmat),
        cmocka_unit_test(test_errors_are_sticky_and_reported),
        cmocka_unit_test(test_kv_store_out_of_range_positions),
    };
    int rc = cmocka_run_group_tests_name("vulkan_ops", tests, NULL, NULL);
    g_be->ops->destroy(g_be);
    return rc;
}
