/* RoPE frequency factors (rope_freqs.weight, Llama 3.1+): the rope op divides pair i's
 * base angle by factor[i] before linear/YaRN scaling, as ggml_rope_ext does with its
 * third source.
 *   - CPU op against a double-precision reference written here (NORMAL and NEOX, with and
 *     without YaRN, partial rotation, realistic Llama 3 factors, threaded and not),
 *     and operand errors (short or non-F32 factor views) reported by end().
 *   - Model wiring, on copies of stories260K made with the GGUF writer: factors of one
 *     change nothing; uniform factors c equal linear scaling by c (an independent route
 *     through the same maths); uneven factors change the logits; hostile tensors refused.
 *   - With --vulkan (registered separately by tests/rope_freqs.cmake): the Vulkan op
 *     against the same reference, and the model with uneven factors matching the CPU.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kernels/backend.h"
#include "rope_ref.h"
#include "test_hostile_model.h"

static infer_backend *be;   /* the backend under test in the op cases */

/* ---- helpers */
static uint64_t rng = 0x2545F4914F6CDD1Dull;
static double urand(void) {   /* uniform in [-1, 1) */
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return ((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0 - 1.0;
}

/* A backend buffer holding `bytes` of data after `pad` bytes of zeros (a view at an
 * offset, as model weights are). */
static infer_bview upload(infer_bbuf **hold, const void *data, size_t bytes, size_t pad, uint32_t type) {
    assert_int_equal(be->ops->alloc(be, pad + bytes, hold), INFER_OK);
    infer_bview v = { *hold, pad, type };
    if (data) be->ops->write(be, v, data, bytes);
    return v;
}

/* The Llama 3.1 "llama3" rope scaling as its converters write it into rope_freqs: pairs
 * whose wavelength is short against the original context keep factor 1, long ones get
 * `factor`, and the band between is blended smoothly. */
static void llama3_factors(float *ff, int n_rot, double base, double factor, double lo_ff, double hi_ff, double orig) {
    const double lo_wavelen = orig / lo_ff, hi_wavelen = orig / hi_ff;
    for (int i = 0; i < n_rot / 2; i++) {
        const double freq = pow(base, -2.0 * i / n_rot);
        const double wavelen = 2.0 * M_PI / freq;
        double f;
        if (wavelen < hi_wavelen) f = 1.0;
        else if (wavelen > lo_wavelen) f = factor;
        else {
            const double smooth = (orig / wavelen - lo_ff) / (hi_ff - lo_ff);
            f = 1.0 / ((1.0 - smooth) / factor + smooth);
        }
        ff[i] = (float)f;
    }
}

typedef struct {
    const char *what;
    int n_tok, n_head, head_dim;
    infer_rope_params p;
    int max_pos;
} rope_case;

/* Runs one case through be->ops->rope with factors (or none) and checks every element,
 * unrotated tail dims included, against test_rope_ref. */
static void check_rope_case(const rope_case *rc, const float *ff, double atol, double rtol) {
    const size_t n = (size_t)rc->n_tok * rc->n_head * rc->head_dim;
    float *x = malloc(n * sizeof *x), *got = malloc(n * sizeof *got);
    double *want = malloc(n * sizeof *want);
    int32_t *pos = malloc((size_t)rc->n_tok * sizeof *pos);
    assert_true(x && got && want && pos);
    for (size_t i = 0; i < n; i++) want[i] = x[i] = (float)urand();
    for (int t = 0; t < rc->n_tok; t++) pos[t] = t == 0 ? 0 : (int32_t)((urand() * 0.5 + 0.5) * rc->max_pos);
    test_rope_ref(want, rc->n_tok, rc->n_head, rc->head_dim, pos, ff, &rc->p);

    infer_bbuf *bx, *bp, *bf = NULL;
    be->ops->begin(be);
    infer_bview vx = upload(&bx, x, n * sizeof *x, 0, INFER_TYPE_F32);
    infer_bview vp = upload(&bp, pos, (size_t)rc->n_tok * sizeof *pos, 0, INFER_TYPE_I32);
    infer_bview vf = { 0 };
    if (ff) vf = upload(&bf, ff, (size_t)rc->p.n_rot / 2 * sizeof *ff, 48, INFER_TYPE_F32);
    be->ops->rope(be, vx, vp, rc->n_tok, rc->n_head, rc->head_dim, vf, &rc->p);
    be->ops->read(be, vx, got, n * sizeof *got);
    infer_error err = { 0 };
    infer_status st = be->ops->end(be, &err);
    if (st != INFER_OK) fail_msg("%s: end(): %s", rc->what, err.message);

    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs(got[i] - want[i]) - (atol + rtol * fabs(want[i]));
        if (!(d <= 0) && (isnan(d) || d > worst)) { worst = isnan(d) ? INFINITY : d; wi = i; }
    }
    print_message("  %-34s %s factors: %zu values\n", rc->what, ff ? "with" : "without", n);
    if (worst > 0) fail_msg("%s: element %zu got %.9g want %.9g", rc->what, wi, got[wi], want[wi]);
    be->ops->release(be, bx);
    be->ops->release(be, bp);
    if (bf) be->ops->release(be, bf);
    free(x); free(got); free(want); free(pos);
}

/* NORMAL/NEOX x plain/YaRN; partial rotation; Llama 3 shapes (base 500000, n_rot 64/128)
 * with positions up to a few thousand. The first cases are large enough that the CPU
 * backend splits them over its threads. */
static const rope_case rope_cases[] = {
    { "normal, llama3 8B shape", 40, 8, 128,
      { INFER_ROPE_NORMAL, 128, 500000.0f, 1.0f, 1.0f, 0, 32, 1, 1.0f }, 3000 },
    { "neox, llama3 shape", 40, 8, 128,
      { INFER_ROPE_NEOX, 128, 500000.0f, 1.0f, 1.0f, 0, 32, 1, 1.0f }, 3000 },
    { "normal, partial rotation", 3, 5, 72,
      { INFER_ROPE_NORMAL, 64, 10000.0f, 1.0f, 1.0f, 0, 32, 1, 1.0f }, 500 },
    { "neox, partial rotation + attn_factor", 3, 5, 72,
      { INFER_ROPE_NEOX, 64, 10000.0f, 1.0f, 1.0f, 0, 32, 1, 0.75f }, 500 },
    { "normal, yarn x8", 5, 3, 64,
      { INFER_ROPE_NORMAL, 64, 500000.0f, 0.125f, 8.0f, 8192, 32, 1, 1.0f }, 2000 },
    { "neox, yarn x32 partial", 5, 3, 80,
      { INFER_ROPE_NEOX, 64, 150000.0f, 1.0f / 32, 32.0f, 4096, 32, 1, 1.0f }, 2000 },
    { "normal, linear x4", 4, 2, 64,
      { INFER_ROPE_NORMAL, 64, 500000.0f, 0.25f, 1.0f, 0, 32, 1, 1.0f }, 2000 },
};
#define N_ROPE_CASES (sizeof rope_cases / sizeof rope_cases[0])

/* Llama 3 factors for each case's n_rot, plus a rougher synthetic set (0.5 .. 40) that
 * also has factors below one. */
static void case_factors(const rope_case *rc, int which, float *ff) {
    if (which == 0) llama3_factors(ff, rc->p.n_rot, rc->p.freq_base, 32.0, 1.0, 4.0, 8192.0);
    else for (int i = 0; i < rc->p.n_rot / 2; i++) ff[i] = (float)(0.5 + 39.5 * (urand() * 0.5 + 0.5));
}

static void run_op_cases(double atol, double rtol, int max_pos_cap) {
    for (size_t c = 0; c < N_ROPE_CASES; c++) {
        rope_case rc = rope_cases[c];
        if (rc.max_pos > max_pos_cap) rc.max_pos = max_pos_cap;
        float ff[64];
        check_rope_case(&rc, NULL, atol, rtol);
        case_factors(&rc, 0, ff);
        check_rope_case(&rc, ff, atol, rtol);
        case_factors(&rc, 1, ff);
        check_rope_case(&rc, ff, atol, rtol);
    }
}

/* Factors must change the result where they are not one: a guard against a reference
 * and an op that both ignore them. */
static void test_factors_matter(void **state) {
    float ff[64];
    llama3_factors(ff, 128, 500000.0, 32.0, 1.0, 4.0, 8192.0);
    int n_one = 0, n_full = 0;
    for (int i = 0; i < 64; i++) { n_one += ff[i] == 1.0f; n_full += ff[i] == 32.0f; }
    assert_true(n_one > 0 && n_full > 0 && n_one + n_full < 64);   /* all three bands present */
    const int32_t pos[1] = { 1000 };
    infer_rope_params p = rope_cases[0].p;
    double a[128], b[128];
    for (int i = 0; i < 128; i++) a[i] = b[i] = 1.0;
    test_rope_ref(a, 1, 1, 128, pos, NULL, &p);
    test_rope_ref(b, 1, 1, 128, pos, ff, &p);
    double diff = 0;
    for (int i = 0; i < 128; i++) diff = fmax(diff, fabs(a[i] - b[i]));
    assert_true(diff > 0.1);
}

static void test_cpu_rope_freq_factors(void **state) {
    /* The CPU op computes angles in double: only the float rounding of cos/sin and x. */
    run_op_cases(2e-6, 2e-6, 1 << 30);
}

static void expect_end_error(const char *needle) {
    infer_error err = { 0 };
    infer_status st = be->ops->end(be, &err);
    print_message("  %s: %s\n", infer_status_str(st), err.message);
    assert_int_not_equal(st, INFER_OK);
    assert_non_null(strstr(err.message, needle));
}

/* A factor view shorter than n_rot/2 floats, or not F32, is an error, not a read. */
static void test_bad_factor_views(void **state) {
    const rope_case *rc = &rope_cases[2];
    float x[3 * 5 * 72] = { 0 }, ff[32] = { 0 };
    int32_t pos[3] = { 0, 1, 2 };
    infer_bbuf *bx, *bp, *bf;
    be->ops->begin(be);
    infer_bview vx = upload(&bx, x, sizeof x, 0, INFER_TYPE_F32);
    infer_bview vp = upload(&bp, pos, sizeof pos, 0, INFER_TYPE_I32);
    infer_bview vf = upload(&bf, ff, 31 * sizeof(float), 0, INFER_TYPE_F32);   /* one short */
    be->ops->rope(be, vx, vp, 3, 5, 72, vf, &rc->p);
    expect_end_error("freq_factors");
    be->ops->release(be, bf);

    be->ops->begin(be);
    vf = upload(&bf, ff, sizeof ff, 0, INFER_TYPE_F16);
    be->ops->rope(be, vx, vp, 3, 5, 72, vf, &rc->p);
    expect_end_error("freq_factors");
    be->ops->release(be, bf);
    be->ops->release(be, bx);
    be->ops->release(be, bp);
}

/* ---- model wiring on copies of stories260K */
#define N_PROMPT 12
static const int32_t prompt[N_PROMPT] = { 1, 403, 407, 261, 378, 316, 292, 269, 417, 301, 334, 259 };

typedef struct {
    int n_vocab;
    float *logits;   /* N_PROMPT x n_vocab */
} run_logits;

/* Every prompt position's logits of the model in `path` on the given backend; returns
 * false (skip) when that backend cannot be had. */
static bool run_model_at(infer_model *m, infer_backend_kind kind, run_logits *out) {
    infer_ctx_params cp = infer_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 2;
    cp.backend = kind;
    infer_ctx *c = NULL;
    infer_error err = { 0 };
    infer_status st = infer_ctx_new(m, &cp, &c, &err);
    if (st == INFER_ERR_NO_DEVICE) return false;
    if (st != INFER_OK) fail_msg("context: %s", err.message);
    int8_t want[N_PROMPT];
    memset(want, 1, sizeof want);
    st = infer_ctx_decode(c, prompt, NULL, want, N_PROMPT);
    if (st != INFER_OK) fail_msg("decode: %s", infer_ctx_last_error(c));
    out->n_vocab = infer_model_n_vocab(m);
    out->logits = malloc((size_t)N_PROMPT * out->n_vocab * sizeof(float));
    assert_non_null(out->logits);
    for (int i = 0; i < N_PROMPT; i++) {
        const float *l = infer_ctx_logits(c, i);
        assert_non_null(l);
        memcpy(out->logits + (size_t)i * out->n_vocab, l, (size_t)out->n_vocab * sizeof(float));
    }
    infer_ctx_free(c);
    return true;
}

static infer_gguf *g_src;   /* stories260K, the copy source */

/* stories260K with rope_freqs.weight = ff (n_pairs values) and, if linear_factor > 0,
 * linear RoPE scaling by that factor; NULL ff adds no tensor. */
static infer_model *load_variant(const char *file, const float *ff, int n_pairs, float linear_factor) {
    infer_gguf_writer *w = hm_clone(g_src, NULL, NULL);
    if (ff) {
        uint64_t ne[1] = { (uint64_t)n_pairs };
        hm_add_tensor(w, "rope_freqs.weight", INFER_TYPE_F32, 1, ne, ff);
    }
    if (linear_factor > 0) {
        infer_gguf_writer_set_str(w, "llama.rope.scaling.type", "linear");
        infer_gguf_writer_set_f32(w, "llama.rope.scaling.factor", linear_factor);
    }
    return hm_expect_loads(w, file, 0);
}

static int stories_pairs(void) {
    int64_t k = infer_gguf_find_key(g_src, "llama.rope.dimension_count");
    if (k >= 0) return (int)infer_gguf_kv_uint(g_src, k) / 2;
    int64_t e = infer_gguf_find_key(g_src, "llama.embedding_length");
    int64_t h = infer_gguf_find_key(g_src, "llama.attention.head_count");
    assert_true(e >= 0 && h >= 0);
    return (int)(infer_gguf_kv_uint(g_src, e) / infer_gguf_kv_uint(g_src, h)) / 2;
}

/* Largest |a - b| over positions >= from (position 0 has angle 0 whatever the factors). */
static double max_diff(const run_logits *a, const run_logits *b, int from) {
    double d = 0;
    for (size_t i = (size_t)from * a->n_vocab; i < (size_t)N_PROMPT * a->n_vocab; i++)
        d = fmax(d, fabs((double)a->logits[i] - b->logits[i]));
    return d;
}

static void test_model_factors(void **state) {
    const int n_pairs = stories_pairs();
    assert_true(n_pairs >= 2 && n_pairs <= 64);
    float ones[64], fours[64], uneven[64];
    for (int i = 0; i < n_pairs; i++) {
        ones[i] = 1.0f;
        fours[i] = 4.0f;
        uneven[i] = 1.0f + 7.0f * (float)i / (float)(n_pairs - 1);   /* 1 .. 8 */
    }
    infer_model *m_orig = load_variant("orig.gguf", NULL, 0, 0);
    infer_model *m_ones = load_variant("ones.gguf", ones, n_pairs, 0);
    infer_model *m_four = load_variant("fours.gguf", fours, n_pairs, 0);
    infer_model *m_lin4 = load_variant("linear4.gguf", NULL, 0, 4.0f);
    infer_model *m_uneven = load_variant("uneven.gguf", uneven, n_pairs, 0);
    run_logits orig, r_ones, r_four, r_lin4, r_uneven;
    assert_true(run_model_at(m_orig, INFER_BACKEND_CPU, &orig));
    assert_true(run_model_at(m_ones, INFER_BACKEND_CPU, &r_ones));
    assert_true(run_model_at(m_four, INFER_BACKEND_CPU, &r_four));
    assert_true(run_model_at(m_lin4, INFER_BACKEND_CPU, &r_lin4));
    assert_true(run_model_at(m_uneven, INFER_BACKEND_CPU, &r_uneven));

    const double d_ones = max_diff(&orig, &r_ones, 0);
    const double d_four_lin = max_diff(&r_four, &r_lin4, 0);
    const double d_four_orig = max_diff(&r_four, &orig, 1);
    const double d_uneven = max_diff(&r_uneven, &orig, 1);
    const double d_pos0 = max_diff(&r_uneven, &orig, 0) - max_diff(&r_uneven, &orig, 1);
    print_message("  max |logit diff|: ones vs none %.3g, factors 4 vs linear x4 %.3g, factors 4 vs none %.3g, "
                  "uneven vs none %.3g\n", d_ones, d_four_lin, d_four_orig, d_uneven);
    assert_true(d_ones == 0.0);          /* dividing by one is exact */
    assert_true(d_four_lin <= 1e-5);     /* theta / 4 == theta * 0.25 */
    assert_true(d_four_orig > 1e-2);     /* the factors reach the logits... */
    assert_true(d_uneven > 1e-2);
    assert_true(d_pos0 <= 0.0);          /* ...and position 0 (no rotation) is untouched */

    free(orig.logits); free(r_ones.logits); free(r_four.logits); free(r_lin4.logits); free(r_uneven.logits);
    infer_model_free(m_orig); infer_model_free(m_ones); infer_model_free(m_four); infer_model_free(m_lin4);
    infer_model_free(m_uneven);
}

/* rope_freqs.weight of the wrong length, type or with an unusable factor is refused by
 * name; "llama3" as the scaling type (factors carried by the tensor) loads. */
static void test_model_hostile_factors(void **state) {
    const int n_pairs = stories_pairs();
    float ff[65];
    for (int i = 0; i < 65; i++) ff[i] = 2.0f;
    uint64_t ne_long[1] = { (uint64_t)n_pairs + 1 }, ne[1] = { (uint64_t)n_pairs };

    infer_gguf_writer *w = hm_clone(g_src, NULL, NULL);
    hm_add_tensor(w, "rope_freqs.weight", INFER_TYPE_F32, 1, ne_long, ff);
    hm_expect_refused(w, "long.gguf", 0, INFER_ERR_TYPE, "rope_freqs.weight", "shape");

    uint16_t half[64] = { 0 };
    w = hm_clone(g_src, NULL, NULL);
    hm_add_tensor(w, "rope_freqs.weight", INFER_TYPE_F16, 1, ne, half);
    hm_expect_refused(w, "f16.gguf", 0, INFER_ERR_TYPE, "rope_freqs.weight", "F32");

    const float bad[3] = { 0.0f, -1.0f, NAN };
    for (int k = 0; k < 3; k++) {
        ff[n_pairs - 1] = bad[k];
        w = hm_clone(g_src, NULL, NULL);
        hm_add_tensor(w, "rope_freqs.weight", INFER_TYPE_F32, 1, ne, ff);
        hm_expect_refused(w, "bad.gguf", 0, INFER_ERR_FORMAT, "rope_freqs.weight", "index");
    }

    w = hm_clone(g_src, NULL, NULL);
    infer_gguf_writer_set_str(w, "llama.rope.scaling.type", "llama3");
    infer_gguf_writer_set_f32(w, "llama.rope.scaling.factor", 32.0f);
    infer_model *m = hm_expect_loads(w, "llama3type.gguf", 0);
    infer_model_free(m);
}

/* ---- Vulkan (--vulkan) */
static void test_vulkan_rope_freq_factors(void **state) {
    /* Angles in float on the device: positions kept moderate, tolerance as the Vulkan op tests. */
    run_op_cases(3e-4, 2e-4, 300);
}

static void test_vulkan_model_factors(void **state) {
    const int n_pairs = stories_pairs();
    float uneven[64];
    for (int i = 0; i < n_pairs; i++) uneven[i] = 1.0f + 7.0f * (float)i / (float)(n_pairs - 1);
    infer_model *m_orig = load_variant("orig.gguf", NULL, 0, 0);
    infer_model *m_uneven = load_variant("uneven.gguf", uneven, n_pairs, 0);
    run_logits cpu_orig, cpu_uneven, vk_uneven;
    assert_true(run_model_at(m_orig, INFER_BACKEND_CPU, &cpu_orig));
    assert_true(run_model_at(m_uneven, INFER_BACKEND_CPU, &cpu_uneven));
    assert_true(run_model_at(m_uneven, INFER_BACKEND_VULKAN, &vk_uneven));
    const double d_vk = max_diff(&vk_uneven, &cpu_uneven, 0), d_ff = max_diff(&cpu_uneven, &cpu_orig, 1);
    print_message("  max |logit diff|: vulkan vs cpu with factors %.3g; factors vs none on cpu %.3g\n", d_vk, d_ff);
    assert_true(d_vk <= 2e-3);
    assert_true(d_ff > 50 * d_vk);
    free(cpu_orig.logits); free(cpu_uneven.logits); free(vk_uneven.logits);
    infer_model_free(m_orig);
    infer_model_free(m_uneven);
}

static int setup_cpu(void **state) {
    infer_error err = { 0 };
    return infer_backend_cpu_new(3, &be, &err) == INFER_OK ? 0 : -1;
}
static int teardown_backend(void **state) {
    be->ops->destroy(be);
    return 0;
}

int main(int argc, char **argv) {
    const bool vulkan = argc > 1 && strcmp(argv[1], "--vulkan") == 0;
    if (vulkan) test_pin_vulkan_drivers();
    hm_make_dir("ropefreqs");
    g_src = hm_open_fixture("models/stories260K.gguf");
    int rc;
    if (!vulkan) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_factors_matter),
            cmocka_unit_test(test_cpu_rope_freq_factors),
            cmocka_unit_test(test_bad_factor_views),
            cmocka_unit_test(test_model_factors),
            cmocka_unit_test(test_model_hostile_factors),
        };
        rc = cmocka_run_group_tests(tests, setup_cpu, teardown_backend);
    } else {
        infer_error err = { 0 };
        infer_status st = infer_backend_vulkan_new(-1, 0, &be, &err);
        if (st != INFER_OK) {
            printf("%s: %s\n", st == INFER_ERR_NO_DEVICE ? "SKIPPED" : "FAIL", err.message);
            infer_gguf_close(g_src);
            rmdir(hm_dir);
            return st == INFER_ERR_NO_DEVICE ? TEST_SKIP_EXIT : 1;
        }
        printf("device: %s\n", be->ops->device_name(be));
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_vulkan_rope_freq_factors),
            cmocka_unit_test(test_bad_factor_views),
            cmocka_unit_test(test_vulkan_model_factors),
        };
        rc = cmocka_run_group_tests(tests, NULL, teardown_backend);
    }
    infer_gguf_close(g_src);
    rmdir(hm_dir);
    return rc;
}
