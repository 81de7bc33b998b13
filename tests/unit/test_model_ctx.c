/* Context and KV-cache behaviour, measured against the reference engine's logits or
 * against the same model run another way: a batch equals token-by-token decoding, a
 * batch split into n_batch steps equals one step, truncating the cache and decoding
 * again reproduces the logits, an F16 cache stays within tolerance of the reference,
 * positions beyond the window fail with INFER_ERR_CONTEXT_FULL leaving the cache as it
 * was, and logits exist exactly for the rows that asked for them. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "infer.h"
#include "logits.h"
#include "testdata.h"

#define N_THREADS 2

typedef struct fixture {
    const char *name;
    infer_model *m;
    int32_t *prompt;
    int32_t n;
    int32_t V;
    float *ref;       /* reference logits (n x V) */
} fixture;

static fixture g_llama = {.name = "stories260K"};
static fixture g_gptoss = {.name = "synth-gptoss-MXFP4_MOE"};   /* sinks, window 16, MoE */

static void load_fixture(fixture *f) {
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s.gguf", f->name);
    char *model = test_fixture_or_skip(rel);
    snprintf(rel, sizeof rel, "golden/%s.prompt.txt", f->name);
    char *prompt = test_fixture_or_skip(rel);
    snprintf(rel, sizeof rel, "golden/%s.logits.f32", f->name);
    char *logits = test_fixture_or_skip(rel);
    infer_error err;
    if (infer_model_load(model, NULL, &f->m, &err) != INFER_OK) {
        printf("cannot load %s: %s\n", model, err.message);
        exit(1);
    }
    f->prompt = test_read_ids(prompt, &f->n);
    f->V = infer_model_n_vocab(f->m);
    f->ref = test_read_all(logits, NULL);
    free(model);
    free(prompt);
    free(logits);
}

static void free_fixture(fixture *f) {
    infer_model_free(f->m);
    free(f->prompt);
    free(f->ref);
}

static infer_ctx *ctx_new(const fixture *f, uint32_t n_ctx, uint32_t n_batch, infer_kv_type kv) {
    infer_ctx_params p = infer_ctx_default_params();
    p.n_ctx = n_ctx;
    p.n_batch = n_batch;
    p.n_threads = N_THREADS;
    p.kv_type = kv;
    p.backend = INFER_BACKEND_CPU;
    infer_ctx *c = NULL;
    infer_error err;
    if (infer_ctx_new(f->m, &p, &c, &err) != INFER_OK) fail_msg("infer_ctx_new: %s", err.message);
    return c;
}

/* All rows of the prompt as one batch from an empty cache (n x V, malloc'd). */
static float *batch_logits(const fixture *f, infer_ctx *c) {
    int8_t *want = malloc((size_t)f->n);
    memset(want, 1, (size_t)f->n);
    infer_ctx_kv_clear(c);
    assert_int_equal(infer_ctx_decode(c, f->prompt, NULL, want, f->n), INFER_OK);
    float *out = malloc((size_t)f->n * f->V * sizeof *out);
    for (int32_t i = 0; i < f->n; i++) memcpy(out + (size_t)i * f->V, infer_ctx_logits(c, i), f->V * sizeof *out);
    free(want);
    return out;
}

static double mean_kl(const fixture *f, const float *a, const float *b, int32_t rows) {
    double s = 0;
    for (int32_t i = 0; i < rows; i++) s += test_kl_row(a + (size_t)i * f->V, b + (size_t)i * f->V, f->V);
    return s / rows;
}

/* ---- tests */

static void check_batch_vs_sequential(const fixture *f, double bound) {
    infer_ctx *c = ctx_new(f, 128, 0, INFER_KV_F32);
    float *batch = batch_logits(f, c);
    infer_ctx_kv_clear(c);
    float *seq = malloc((size_t)f->n * f->V * sizeof *seq);
    for (int32_t i = 0; i < f->n; i++) {
        assert_int_equal(infer_ctx_decode(c, &f->prompt[i], NULL, NULL, 1), INFER_OK);
        assert_int_equal(infer_ctx_n_past(c), i + 1);
        memcpy(seq + (size_t)i * f->V, infer_ctx_logits(c, 0), f->V * sizeof *seq);
    }
    double kl = mean_kl(f, batch, seq, f->n);
    printf("  %s: batch vs token-by-token mean KL %.3g\n", f->name, kl);
    assert_true(kl <= bound);
    /* and both agree with the reference */
    assert_true(mean_kl(f, f->ref, seq, f->n) <= (f == &g_llama ? 1e-5 : 2.5e-2));
    free(batch);
    free(seq);
    infer_ctx_free(c);
}

static void test_batch_equals_sequential(void **s) {
    (void)s;
    check_batch_vs_sequential(&g_llama, 1e-9);
    check_batch_vs_sequential(&g_gptoss, 1e-4);
}

static void test_n_batch_split(void **s) {
    (void)s;
    infer_ctx *one = ctx_new(&g_llama, 128, 0, INFER_KV_F32);
    infer_ctx *split = ctx_new(&g_llama, 128, 7, INFER_KV_F32);   /* 64 tokens = 9 steps of <= 7 */
    float *a = batch_logits(&g_llama, one);
    float *b = batch_logits(&g_llama, split);
    assert_int_equal(infer_ctx_n_past(split), g_llama.n);
    double kl = mean_kl(&g_llama, a, b, g_llama.n);
    printf("  n_batch 7 vs one step: mean KL %.3g\n", kl);
    assert_true(kl <= 1e-9);
    free(a);
    free(b);
    infer_ctx_free(one);
    infer_ctx_free(split);
}

static void check_truncate(const fixture *f) {
    infer_ctx *c = ctx_new(f, 128, 0, INFER_KV_F32);
    float *full = batch_logits(f, c);
    const int32_t cut = 40;
    /* garbage after the cut must not matter: overwrite positions 40.. with other tokens */
    infer_ctx_kv_truncate(c, cut);
    assert_int_equal(infer_ctx_n_past(c), cut);
    int32_t other[8] = {5, 6, 7, 8, 9, 10, 11, 12};
    assert_int_equal(infer_ctx_decode(c, other, NULL, NULL, 8), INFER_OK);
    infer_ctx_kv_truncate(c, cut);
    assert_int_equal(infer_ctx_n_past(c), cut);

    int32_t rest = f->n - cut;
    int8_t *want = malloc((size_t)rest);
    memset(want, 1, (size_t)rest);
    assert_int_equal(infer_ctx_decode(c, f->prompt + cut, NULL, want, rest), INFER_OK);
    float *again = malloc((size_t)rest * f->V * sizeof *again);
    for (int32_t i = 0; i < rest; i++) memcpy(again + (size_t)i * f->V, infer_ctx_logits(c, i), f->V * sizeof *again);
    double kl = mean_kl(f, full + (size_t)cut * f->V, again, rest);
    printf("  %s: truncate + re-decode mean KL %.3g\n", f->name, kl);
    assert_true(kl <= 1e-6);
    /* truncating beyond n_past changes nothing */
    infer_ctx_kv_truncate(c, 1000);
    assert_int_equal(infer_ctx_n_past(c), f->n);
    free(want);
    free(again);
    free(full);
    infer_ctx_free(c);
}

static void test_truncate_redecode(void **s) {
    (void)s;
    check_truncate(&g_llama);
    check_truncate(&g_gptoss);
}

static void test_kv_f16(void **s) {
    (void)s;
    infer_ctx *c = ctx_new(&g_llama, 128, 0, INFER_KV_F16);
    float *l = batch_logits(&g_llama, c);
    double kl = mean_kl(&g_llama, g_llama.ref, l, g_llama.n);
    int agree = 0, checked = 0;
    for (int32_t i = 0; i < g_llama.n; i++) {
        const float *r = g_llama.ref + (size_t)i * g_llama.V;
        float sorted0 = r[test_argmax(r, g_llama.V)], second = -INFINITY;
        for (int32_t k = 0; k < g_llama.V; k++)
            if (k != test_argmax(r, g_llama.V) && r[k] > second) second = r[k];
        if (sorted0 - second > 0.05f) {
            checked++;
            agree += test_argmax(r, g_llama.V) == test_argmax(l + (size_t)i * g_llama.V, g_llama.V);
        }
    }
    printf("  F16 KV cache: mean KL %.3g vs reference, argmax %d/%d\n", kl, agree, checked);
    assert_true(kl <= 1e-4);
    assert_true(kl > 0.0);   /* the cache really was F16 */
    assert_int_equal(agree, checked);
    free(l);
    infer_ctx_free(c);
}

static void test_context_full(void **s) {
    (void)s;
    infer_ctx *c = ctx_new(&g_llama, 32, 0, INFER_KV_F32);
    assert_int_equal(infer_ctx_n_ctx(c), 32);
    assert_int_equal(infer_ctx_decode(c, g_llama.prompt, NULL, NULL, 40), INFER_ERR_CONTEXT_FULL);
    assert_int_equal(infer_ctx_n_past(c), 0);
    assert_true(strlen(infer_ctx_last_error(c)) > 0);

    assert_int_equal(infer_ctx_decode(c, g_llama.prompt, NULL, NULL, 20), INFER_OK);
    assert_int_equal(infer_ctx_decode(c, g_llama.prompt + 20, NULL, NULL, 13), INFER_ERR_CONTEXT_FULL);
    assert_int_equal(infer_ctx_n_past(c), 20);
    /* the cache is intact: continuing fills it exactly */
    assert_int_equal(infer_ctx_decode(c, g_llama.prompt + 20, NULL, NULL, 12), INFER_OK);
    assert_int_equal(infer_ctx_n_past(c), 32);
    assert_true(test_kl_row(g_llama.ref + 31 * (size_t)g_llama.V, infer_ctx_logits(c, 11), g_llama.V) < 1e-5);
    assert_int_equal(infer_ctx_decode(c, g_llama.prompt, NULL, NULL, 1), INFER_ERR_CONTEXT_FULL);
    int32_t bad_pos = 32;
    assert_int_equal(infer_ctx_decode(c, g_llama.prompt, &bad_pos, NULL, 1), INFER_ERR_CONTEXT_FULL);
    assert_int_equal(infer_ctx_n_past(c), 32);
    infer_ctx_free(c);
}

static void test_logit_rows(void **s) {
    (void)s;
    const fixture *f = &g_llama;
    infer_ctx *c = ctx_new(f, 128, 16, INFER_KV_F32);
    int8_t want[64];
    for (int i = 0; i < 64; i++) want[i] = (i % 5 == 3);
    assert_int_equal(infer_ctx_decode(c, f->prompt, NULL, want, 64), INFER_OK);
    for (int32_t i = 0; i < 64; i++) {
        const float *l = infer_ctx_logits(c, i);
        if (!want[i]) {
            assert_null(l);
            continue;
        }
        assert_non_null(l);
        assert_true(test_kl_row(f->ref + (size_t)i * f->V, l, f->V) < 1e-5);
    }
    assert_null(infer_ctx_logits(c, 64));
    assert_null(infer_ctx_logits(c, -1));

    /* NULL want: only the last token */
    infer_ctx_kv_clear(c);
    assert_int_equal(infer_ctx_n_past(c), 0);
    assert_int_equal(infer_ctx_decode(c, f->prompt, NULL, NULL, 10), INFER_OK);
    for (int32_t i = 0; i < 9; i++) assert_null(infer_ctx_logits(c, i));
    assert_true(test_kl_row(f->ref + 9 * (size_t)f->V, infer_ctx_logits(c, 9), f->V) < 1e-5);

    /* explicit positions equal to the implicit ones give the same result */
    int32_t pos[6] = {10, 11, 12, 13, 14, 15};
    assert_int_equal(infer_ctx_decode(c, f->prompt + 10, pos, NULL, 6), INFER_OK);
    assert_int_equal(infer_ctx_n_past(c), 16);
    assert_true(test_kl_row(f->ref + 15 * (size_t)f->V, infer_ctx_logits(c, 5), f->V) < 1e-5);
    infer_ctx_free(c);
}

static void test_invalid_args(void **s) {
    (void)s;
    const fixture *f = &g_llama;
    infer_ctx *c = ctx_new(f, 64, 0, INFER_KV_F32);
    int32_t bad[2] = {1, f->V};
    assert_int_equal(infer_ctx_decode(c, bad, NULL, NULL, 2), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(infer_ctx_last_error(c), "token"));
    bad[1] = -3;
    assert_int_equal(infer_ctx_decode(c, bad, NULL, NULL, 2), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_ctx_decode(c, f->prompt, NULL, NULL, 0), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_ctx_decode(c, NULL, NULL, NULL, 3), INFER_ERR_INVALID_ARG);
    int32_t neg = -1;
    assert_int_equal(infer_ctx_decode(c, f->prompt, &neg, NULL, 1), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_ctx_n_past(c), 0);
    assert_int_equal(infer_ctx_decode(NULL, f->prompt, NULL, NULL, 1), INFER_ERR_INVALID_ARG);
    assert_null(infer_ctx_logits(c, 0));
    assert_string_equal(infer_ctx_backend_name(c), "cpu");

    infer_ctx *out = (infer_ctx *)1;
    infer_error err;
    assert_int_equal(infer_ctx_new(NULL, NULL, &out, &err), INFER_ERR_INVALID_ARG);
    assert_null(out);
    infer_ctx_free(NULL);
    infer_ctx_free(c);
}

/* AUTO picks a real GPU or the CPU and computes the same logits; an impossible Vulkan
 * device fails the context with the backend's message. */
static void test_backend_choice(void **s) {
    (void)s;
    const fixture *f = &g_llama;
    infer_ctx_params p = infer_ctx_default_params();
    p.n_ctx = 64;
    p.n_threads = N_THREADS;
    p.backend = INFER_BACKEND_AUTO;
    infer_ctx *c = NULL;
    infer_error err;
    assert_int_equal(infer_ctx_new(f->m, &p, &c, &err), INFER_OK);
    const char *name = infer_ctx_backend_name(c);
    assert_true(strcmp(name, "cpu") == 0 || strcmp(name, "vulkan") == 0);
    assert_true(strlen(infer_ctx_device_name(c)) > 0);
    float *l = batch_logits(f, c);
    assert_true(mean_kl(f, f->ref, l, f->n) <= 1e-5);
    free(l);
    infer_ctx_free(c);

    p.backend = INFER_BACKEND_VULKAN;
    p.device_index = 999;
    c = (infer_ctx *)1;
    err.message[0] = 0;
    infer_status st = infer_ctx_new(f->m, &p, &c, &err);
    printf("  vulkan device 999: %s: %s\n", infer_status_str(st), err.message);
    assert_int_not_equal(st, INFER_OK);
    assert_null(c);
    assert_true(strlen(err.message) > 0);
}

/* Several contexts may share one model, each used from its own thread. */
typedef struct share_job {
    const fixture *f;
    double kl;
    infer_status st;
} share_job;

static void *share_worker(void *arg) {
    share_job *j = arg;
    infer_ctx_params p = infer_ctx_default_params();
    p.n_ctx = 128;
    p.n_threads = 1;
    p.backend = INFER_BACKEND_CPU;
    infer_ctx *c = NULL;
    j->st = infer_ctx_new(j->f->m, &p, &c, NULL);
    if (j->st != INFER_OK) return NULL;
    int8_t want[64];
    memset(want, 1, sizeof want);
    j->kl = 0;
    for (int rep = 0; rep < 3 && j->st == INFER_OK; rep++) {
        infer_ctx_kv_clear(c);
        j->st = infer_ctx_decode(c, j->f->prompt, NULL, want, 64);
        for (int32_t i = 0; j->st == INFER_OK && i < 64; i++)
            j->kl += test_kl_row(j->f->ref + (size_t)i * j->f->V, infer_ctx_logits(c, i), j->f->V) / 192.0;
    }
    infer_ctx_free(c);
    return NULL;
}

static void test_contexts_share_model(void **s) {
    (void)s;
    pthread_t th[3];
    share_job jobs[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (share_job){.f = &g_llama, .st = INFER_ERR_INVALID_ARG};
        assert_int_equal(pthread_create(&th[i], NULL, share_worker, &jobs[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].st, INFER_OK);
        assert_true(jobs[i].kl <= 1e-5);
    }
}

int main(void) {
    test_pin_vulkan_drivers();
    test_pin_batch_invariant_cpu();
    load_fixture(&g_llama);
    load_fixture(&g_gptoss);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_equals_sequential),
        cmocka_unit_test(test_n_batch_split),
        cmocka_unit_test(test_truncate_redecode),
        cmocka_unit_test(test_kv_f16),
        cmocka_unit_test(test_context_full),
        cmocka_unit_test(test_logit_rows),
        cmocka_unit_test(test_invalid_args),
        cmocka_unit_test(test_contexts_share_model),
        cmocka_unit_test(test_backend_choice),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free_fixture(&g_llama);
    free_fixture(&g_gptoss);
    return rc;
}
