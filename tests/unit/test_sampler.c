/* Sampler chain: greedy, top-k/top-p/min-p truncation on hand-made distributions,
 * penalties on exactly the tokens seen, seeded determinism, and the empirical
 * distribution of temperature sampling (chi-square). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "sample/sampler_internal.h"

static infer_sampler_params plain_params(float temperature) {
    infer_sampler_params p = infer_sampler_default_params();
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.seed = 1234;
    return p;
}

/* Deterministic test logits (an LCG, independent of the sampler's RNG). */
static void fill_logits(float *l, int n, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 1;
    for (int i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        l[i] = (float)((x >> 8) & 0xFFFF) / 4096.0f - 8.0f;
    }
}

static int argmax_first(const float *l, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

static void test_greedy_is_argmax(void **state) {
    enum { N = 1000 };
    float l[N];
    infer_sampler_params p = plain_params(0.0f);
    p.top_k = 40;   /* ignored when greedy */
    infer_sampler *s = infer_sampler_new(&p, N);
    assert_non_null(s);
    for (uint32_t t = 0; t < 50; t++) {
        fill_logits(l, N, t);
        assert_int_equal(infer_sampler_sample(s, l), argmax_first(l, N));
    }
    /* Ties go to the lowest id, like a first-maximum argmax. */
    for (int i = 0; i < N; i++) l[i] = 0.0f;
    l[700] = 3.0f;
    l[123] = 3.0f;
    assert_int_equal(infer_sampler_sample(s, l), 123);
    infer_sampler_free(s);
}

static void test_top_k_1_is_greedy_at_any_temperature(void **state) {
    enum { N = 5000 };
    float *l = malloc(N * sizeof *l);
    const float temps[] = {0.3f, 1.0f, 5.0f, 100.0f};
    for (size_t ti = 0; ti < sizeof temps / sizeof temps[0]; ti++) {
        infer_sampler_params p = plain_params(temps[ti]);
        p.top_k = 1;
        p.seed = 77 + ti;
        infer_sampler *s = infer_sampler_new(&p, N);
        assert_non_null(s);
        for (uint32_t t = 0; t < 20; t++) {
            fill_logits(l, N, 100 + t);
            assert_int_equal(infer_sampler_sample(s, l), argmax_first(l, N));
        }
        infer_sampler_free(s);
    }
    free(l);
}

static void sample_sequence(uint64_t seed, const float *l, int n, int32_t *out, int count) {
    infer_sampler_params p = plain_params(1.0f);
    p.top_k = 50;
    p.top_p = 0.9f;
    p.seed = seed;
    infer_sampler *s = infer_sampler_new(&p, n);
    assert_non_null(s);
    for (int i = 0; i < count; i++) out[i] = infer_sampler_sample(s, l);
    infer_sampler_free(s);
}

static void test_seeded_determinism(void **state) {
    enum { N = 300, COUNT = 200 };
    float l[N];
    for (int i = 0; i < N; i++) l[i] = 0.01f * (float)(i % 37);   /* flat: many choices */
    int32_t a[COUNT], b[COUNT], c[COUNT];
    sample_sequence(42, l, N, a, COUNT);
    sample_sequence(42, l, N, b, COUNT);
    sample_sequence(43, l, N, c, COUNT);
    assert_memory_equal(a, b, sizeof a);
    int differ = 0;
    for (int i = 0; i < COUNT; i++) differ += a[i] != c[i];
    assert_true(differ > COUNT / 2);

    /* Reset restarts the RNG stream from the seed. */
    infer_sampler_params p = plain_params(1.0f);
    p.top_k = 50;
    p.top_p = 0.9f;
    p.seed = 42;
    infer_sampler *s = infer_sampler_new(&p, N);
    for (int i = 0; i < 10; i++) infer_sampler_sample(s, l);
    infer_sampler_reset(s);
    for (int i = 0; i < COUNT; i++) assert_int_equal(infer_sampler_sample(s, l), a[i]);
    infer_sampler_free(s);
}

/* struct_size: a struct from a header before `seed` draws as seed 0 (the default), however
 * the bytes past its size are set; sizes no release had are refused by both entry points. */
static void test_params_struct_size(void **state) {
    (void)state;
    enum { N = 300, COUNT = 100 };
    float l[N];
    for (int i = 0; i < N; i++) l[i] = 0.01f * (float)(i % 37);
    int32_t seed0[COUNT], old[COUNT], seed9[COUNT];
    sample_sequence(0, l, N, seed0, COUNT);
    sample_sequence(999, l, N, seed9, COUNT);
    infer_sampler_params p = plain_params(1.0f);
    assert_int_equal(p.struct_size, sizeof p);
    p.top_k = 50;
    p.top_p = 0.9f;
    p.seed = 999;
    p.struct_size = offsetof(infer_sampler_params, seed);
    infer_sampler *s = infer_sampler_new(&p, N);
    assert_non_null(s);
    for (int i = 0; i < COUNT; i++) old[i] = infer_sampler_sample(s, l);
    infer_sampler_free(s);
    assert_memory_equal(old, seed0, sizeof old);
    int differ = 0;
    for (int i = 0; i < COUNT; i++) differ += old[i] != seed9[i];
    assert_true(differ > COUNT / 2);

    const size_t bad[] = {0, 2, offsetof(infer_sampler_params, temperature), sizeof p + 8, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p.struct_size = bad[i];
        infer_error err = {0};
        s = (infer_sampler *)&p;
        assert_int_equal(infer_sampler_init(NULL, N, &p, &s, &err), INFER_ERR_INVALID_ARG);
        assert_null(s);
        assert_non_null(strstr(err.message, "struct_size"));
        assert_null(infer_sampler_new(&p, N));
        assert_int_equal(infer_sampler_chain_new(NULL, N, 1, &s, NULL), INFER_OK);
        assert_int_equal(infer_sampler_add_defaults(s, &p), INFER_ERR_INVALID_ARG);
        assert_non_null(strstr(infer_sampler_last_error(s), "struct_size"));
        infer_sampler_free(s);
    }
}

/* Logits of a hand-made distribution, padded with `pad` near-impossible tokens. */
static float *distribution(const double *prob, int k, int pad) {
    float *l = malloc((size_t)(k + pad) * sizeof *l);
    for (int i = 0; i < k; i++) l[i] = (float)log(prob[i]);
    for (int i = 0; i < pad; i++) l[k + i] = -60.0f;
    return l;
}

/* Samples `draws` times and counts hits per token. */
static void histogram(const infer_sampler_params *p, const float *l, int n, int draws, int *hist) {
    infer_sampler *s = infer_sampler_new(p, n);
    assert_non_null(s);
    memset(hist, 0, (size_t)n * sizeof *hist);
    for (int i = 0; i < draws; i++) {
        int32_t t = infer_sampler_sample(s, l);
        assert_true(t >= 0 && t < n);
        hist[t]++;
    }
    infer_sampler_free(s);
}

static void test_top_p_excludes_the_tail(void **state) {
    const double prob[] = {0.5, 0.3, 0.15, 0.05};
    enum { PAD = 2000, N = 4 + PAD };
    float *l = distribution(prob, 4, PAD);
    int *hist = malloc(N * sizeof *hist);
    infer_sampler_params p = plain_params(1.0f);

    /* 0.5 < 0.75 <= 0.8: exactly tokens 0 and 1 survive (no top-k: selection path). */
    p.top_p = 0.75f;
    histogram(&p, l, N, 3000, hist);
    assert_true(hist[0] > 0 && hist[1] > 0);
    for (int i = 2; i < N; i++) assert_int_equal(hist[i], 0);
    /* Renormalized: token 0 has 0.5/0.8 = 62.5%. */
    assert_true(hist[0] > 1700 && hist[0] < 2050);

    /* 0.8 < 0.9 <= 0.95: tokens 0..2; with top-k set (sorted path) the same. */
    p.top_p = 0.9f;
    p.top_k = 10;
    histogram(&p, l, N, 3000, hist);
    assert_true(hist[0] > 0 && hist[1] > 0 && hist[2] > 0);
    for (int i = 3; i < N; i++) assert_int_equal(hist[i], 0);

    /* top_p = 0 keeps only the best token. */
    p.top_p = 0.0f;
    p.top_k = 0;
    histogram(&p, l, N, 200, hist);
    assert_int_equal(hist[0], 200);
    free(hist);
    free(l);
}

static void test_top_p_needs_many_tokens(void **state) {
    /* 2000 equally likely tokens and 2000 negligible ones: top_p 0.5 must keep ~1000,
     * more than the first selection step, and never the negligible half. */
    enum { N = 4000 };
    float *l = malloc(N * sizeof *l);
    for (int i = 0; i < N; i++) l[i] = (i % 2 == 0) ? 0.0f : -50.0f;
    int *hist = malloc(N * sizeof *hist);
    infer_sampler_params p = plain_params(1.0f);
    p.top_p = 0.5f;
    histogram(&p, l, N, 4000, hist);
    int distinct = 0;
    for (int i = 0; i < N; i++) {
        if (i % 2) assert_int_equal(hist[i], 0);
        distinct += hist[i] > 0;
    }
    /* Ties rank by id, so the kept half is ids 0..~1998; sampled ids stay there. */
    for (int i = 2100; i < N; i++) assert_int_equal(hist[i], 0);
    assert_true(distinct > 600);
    free(hist);
    free(l);
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

static void test_top_p_matches_a_full_sort(void **state) {
    /* Random logits: the kept set computed here by sorting everything must contain
     * every sampled token (the sampler avoids the full sort). */
    enum { N = 3000 };
    float *l = malloc(N * sizeof *l), *sorted = malloc(N * sizeof *sorted);
    fill_logits(l, N, 31);
    memcpy(sorted, l, N * sizeof *l);
    qsort(sorted, N, sizeof *sorted, cmp_desc);
    const float top_p = 0.6f;
    double z = 0.0, cum = 0.0;
    for (int i = 0; i < N; i++) z += exp((double)sorted[i] - sorted[0]);
    int kept = 0;
    while (cum < top_p * z) cum += exp((double)sorted[kept++] - sorted[0]);
    float lowest_kept = sorted[kept - 1];
    assert_true(kept > 20 && kept < N / 2);
    int *hist = malloc(N * sizeof *hist);
    infer_sampler_params p = plain_params(1.0f);
    p.top_p = top_p;
    histogram(&p, l, N, 5000, hist);
    int distinct = 0;
    for (int i = 0; i < N; i++) {
        if (hist[i]) assert_true(l[i] >= lowest_kept);
        distinct += hist[i] > 0;
    }
    assert_true(distinct > kept / 2);
    free(hist);
    free(sorted);
    free(l);
}

static void test_min_p_excludes_unlikely_tokens(void **state) {
    const double prob[] = {0.4, 0.3, 0.2, 0.1};
    enum { N = 4 };
    float *l = distribution(prob, 4, 0);
    int hist[N];
    infer_sampler_params p = plain_params(1.0f);
    p.min_p = 0.6f;   /* threshold 0.24: tokens 0 and 1 */
    histogram(&p, l, N, 2000, hist);
    assert_true(hist[0] > 0 && hist[1] > 0);
    assert_int_equal(hist[2], 0);
    assert_int_equal(hist[3], 0);
    p.min_p = 0.4f;   /* threshold 0.16: tokens 0..2 */
    histogram(&p, l, N, 2000, hist);
    assert_true(hist[0] > 0 && hist[1] > 0 && hist[2] > 0);
    assert_int_equal(hist[3], 0);
    p.min_p = 1.0f;   /* only the best */
    histogram(&p, l, N, 100, hist);
    assert_int_equal(hist[0], 100);
    free(l);
}

static void test_penalties_change_exactly_the_seen_tokens(void **state) {
    enum { N = 10 };
    const float l[N] = {2.0f, -1.0f, 4.0f, -3.0f, 0.5f, 1.0f, 0.0f, -0.5f, 3.0f, 6.0f};
    infer_sampler_params p = plain_params(0.0f);
    p.repeat_penalty = 2.0f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    p.penalty_last_n = 4;
    infer_sampler *s = infer_sampler_new(&p, N);
    assert_non_null(s);
    float out[N];

    infer_sampler_penalized_logits(s, l, out);
    assert_memory_equal(out, l, sizeof l);   /* nothing seen yet */

    /* Window (last 4): 9, 3, 3, 2 after accepting 1, 9, 3, 3, 2. */
    const int32_t seen[] = {1, 9, 3, 3, 2};
    for (size_t i = 0; i < 5; i++) infer_sampler_accept(s, seen[i]);
    infer_sampler_penalized_logits(s, l, out);
    float want[N];
    memcpy(want, l, sizeof l);
    want[9] = 6.0f / 2.0f - 0.25f * 1 - 0.5f;
    want[3] = -3.0f * 2.0f - 0.25f * 2 - 0.5f;
    want[2] = 4.0f / 2.0f - 0.25f * 1 - 0.5f;
    /* token 1 has left the window */
    for (int i = 0; i < N; i++) assert_float_equal(out[i], want[i], 1e-6);

    /* Greedy now prefers token 8 (3.0) over the penalized 9 (2.25). */
    assert_int_equal(infer_sampler_sample(s, l), 8);

    /* Reset forgets the window. */
    infer_sampler_reset(s);
    infer_sampler_penalized_logits(s, l, out);
    assert_memory_equal(out, l, sizeof l);
    assert_int_equal(infer_sampler_sample(s, l), 9);

    /* Out-of-range tokens are ignored, not a crash. */
    infer_sampler_accept(s, -1);
    infer_sampler_accept(s, N);
    infer_sampler_penalized_logits(s, l, out);
    assert_memory_equal(out, l, sizeof l);
    infer_sampler_free(s);
}

static double chi_square(const int *hist, const double *expect_p, int k, int draws) {
    double chi = 0.0;
    for (int i = 0; i < k; i++) {
        double e = expect_p[i] * draws;
        chi += (hist[i] - e) * (hist[i] - e) / e;
    }
    return chi;
}

static void test_temperature_distribution_chi_square(void **state) {
    enum { K = 8, DRAWS = 20000 };
    const float l[K] = {1.0f, 0.5f, 0.0f, -0.5f, 0.8f, 0.2f, -1.0f, 0.3f};
    const float temp = 0.7f;
    double want[K], flat[K], zw = 0.0, zf = 0.0;
    for (int i = 0; i < K; i++) {
        want[i] = exp(l[i] / temp);
        flat[i] = exp(l[i]);
        zw += want[i];
        zf += flat[i];
    }
    for (int i = 0; i < K; i++) {
        want[i] /= zw;
        flat[i] /= zf;
    }
    int hist[K];
    infer_sampler_params p = plain_params(temp);
    p.seed = 2024;
    histogram(&p, l, K, DRAWS, hist);
    /* 7 degrees of freedom: P(chi2 > 24.32) = 0.001. */
    assert_true(chi_square(hist, want, K, DRAWS) < 24.32);
    /* The same counts are far from the untempered distribution: the check has teeth. */
    assert_true(chi_square(hist, flat, K, DRAWS) > 100.0);
}

static void test_large_vocab_top_k(void **state) {
    enum { N = 200000 };
    float *l = malloc(N * sizeof *l);
    fill_logits(l, N, 9);
    /* The 40 best logits, found independently by a threshold from a sorted copy. */
    float *sorted = malloc(N * sizeof *sorted);
    memcpy(sorted, l, N * sizeof *l);
    for (int i = 0; i < 40; i++) {   /* selection of the 40th best by repeated max */
        int b = i;
        for (int j = i + 1; j < N; j++)
            if (sorted[j] > sorted[b]) b = j;
        float t = sorted[i];
        sorted[i] = sorted[b];
        sorted[b] = t;
    }
    float kth = sorted[39];
    infer_sampler_params p = plain_params(1.5f);
    p.top_k = 40;
    infer_sampler *s = infer_sampler_new(&p, N);
    for (int i = 0; i < 200; i++) {
        int32_t t = infer_sampler_sample(s, l);
        assert_true(t >= 0 && t < N);
        assert_true(l[t] >= kth);
    }
    infer_sampler_free(s);
    free(sorted);
    free(l);
}

static void test_bad_input(void **state) {
    infer_sampler_params p = plain_params(1.0f);
    assert_null(infer_sampler_new(&p, 0));
    assert_null(infer_sampler_new(&p, -5));
    infer_sampler_free(NULL);
    infer_sampler_reset(NULL);
    infer_sampler_accept(NULL, 3);
    infer_sampler *s = infer_sampler_new(&p, 4);
    assert_int_equal(infer_sampler_sample(s, NULL), -1);
    /* NaN logits are never chosen. */
    const float l[4] = {NAN, 1.0f, NAN, 0.5f};
    for (int i = 0; i < 100; i++) {
        int32_t t = infer_sampler_sample(s, l);
        assert_true(t == 1 || t == 3);
    }
    infer_sampler_free(s);
    /* NULL params means defaults. */
    s = infer_sampler_new(NULL, 4);
    assert_non_null(s);
    infer_sampler_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_is_argmax),
        cmocka_unit_test(test_top_k_1_is_greedy_at_any_temperature),
        cmocka_unit_test(test_seeded_determinism),
        cmocka_unit_test(test_params_struct_size),
        cmocka_unit_test(test_top_p_excludes_the_tail),
        cmocka_unit_test(test_top_p_needs_many_tokens),
        cmocka_unit_test(test_top_p_matches_a_full_sort),
        cmocka_unit_test(test_min_p_excludes_unlikely_tokens),
        cmocka_unit_test(test_penalties_change_exactly_the_seen_tokens),
        cmocka_unit_test(test_temperature_distribution_chi_square),
        cmocka_unit_test(test_large_vocab_top_k),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
