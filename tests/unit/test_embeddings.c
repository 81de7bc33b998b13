/* Embeddings (final hidden states, as llama.cpp's --embedding gives for decoder models)
 * against the reference engine's final-norm activations (layers/<model>/result_norm.f32,
 * 16 tokens x n_embd): per token, and pooled (mean, last, cls) and L2-normalized here
 * from those reference rows, for every F32 model with layer data; pooled per sequence
 * when two sequences share a batch.
 *
 *   test_embeddings [cpu|vulkan]
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

#include "infer.h"
#include "logits.h"
#include "testdata.h"

#define N_TOK 16

static infer_backend_kind g_backend = INFER_BACKEND_CPU;
static const char *g_models[] = {"stories260K", "synth-llama-F32", "synth-qwen2-F32", "synth-qwen3-F32",
                                 "synth-gptoss-F32"};

/* max |a - b| / max |a| (the layer tests' measure). */
static double rel_err(const float *ref, const float *ours, size_t n) {
    double scale = 1e-6, err = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
        double d = fabs((double)ref[i] - ours[i]);
        if (!(d <= err)) err = d;
    }
    return err / scale;
}

static void normalize(float *v, int n) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (double)v[i] * v[i];
    for (int i = 0; i < n; i++) v[i] = (float)(v[i] / sqrt(ss));
}

static infer_ctx *ctx_new(infer_model *m, infer_pooling pool, int norm, uint32_t n_seq) {
    infer_ctx_params p = infer_ctx_default_params();
    p.n_ctx = 64 * n_seq;
    p.n_seq_max = n_seq;
    p.n_threads = 2;
    p.backend = g_backend;
    p.embeddings = 1;
    p.pooling = pool;
    p.embd_normalize = norm;
    infer_ctx *c = NULL;
    infer_error err;
    if (infer_ctx_new(m, &p, &c, &err) != INFER_OK) fail_msg("infer_ctx_new: %s", err.message);
    return c;
}

static int check_model(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s.gguf", name);
    char *model = test_fixture(rel);
    snprintf(rel, sizeof rel, "layers/%s/prompt16.txt", name);
    char *prompt = test_fixture(rel);
    snprintf(rel, sizeof rel, "layers/%s/result_norm.f32", name);
    char *norm = test_fixture(rel);
    if (!model || !prompt || !norm) {
        printf("  %s: fixtures absent, skipped\n", name);
        free(model);
        free(prompt);
        free(norm);
        return 0;
    }
    infer_model *m = NULL;
    infer_error err;
    assert_int_equal(infer_model_load(model, NULL, &m, &err), INFER_OK);
    const int E = infer_model_n_embd(m);
    int32_t n = 0;
    int32_t *ids = test_read_ids(prompt, &n);
    assert_true(n >= N_TOK);
    size_t bytes = 0;
    float *ref = test_read_all(norm, &bytes);
    assert_int_equal(bytes, (size_t)N_TOK * E * sizeof(float));

    /* Independent pooled references, computed here from the reference rows. */
    float *mean = calloc((size_t)E, sizeof *mean), *last = malloc((size_t)E * sizeof *last);
    float *cls = malloc((size_t)E * sizeof *cls);
    for (int i = 0; i < E; i++) {
        double s = 0;
        for (int t = 0; t < N_TOK; t++) s += ref[(size_t)t * E + i];
        mean[i] = (float)(s / N_TOK);
        last[i] = ref[(size_t)(N_TOK - 1) * E + i];
        cls[i] = ref[i];
    }

    /* Per token, no pooling. */
    infer_ctx *c = ctx_new(m, INFER_POOLING_NONE, 0, 1);
    assert_int_equal(infer_ctx_decode(c, ids, NULL, NULL, N_TOK), INFER_OK);
    double worst = 0;
    for (int t = 0; t < N_TOK; t++) {
        const float *e = infer_ctx_embeddings(c, t);
        assert_non_null(e);
        double r = rel_err(ref + (size_t)t * E, e, (size_t)E);
        if (r > worst) worst = r;
    }
    assert_null(infer_ctx_embeddings_seq(c, 0));
    assert_null(infer_ctx_embeddings(c, N_TOK));
    infer_ctx_free(c);
    printf("  %-18s per-token rows vs result_norm: max relative error %.3g\n", name, worst);
    assert_true(worst <= 1e-4);

    /* Pooled, plain and normalized. */
    const infer_pooling pools[3] = {INFER_POOLING_MEAN, INFER_POOLING_LAST, INFER_POOLING_CLS};
    const float *want[3] = {mean, last, cls};
    const char *pname[3] = {"mean", "last", "cls"};
    /* Pooling runs on the host, the same code for every backend: on Vulkan (slow
     * contexts under lavapipe) one case shows the device rows feed it. */
    const int vk = g_backend != INFER_BACKEND_CPU;
    for (int k = 0; k < (vk ? 1 : 3); k++) {
        for (int nrm = vk; nrm < 2; nrm++) {
            c = ctx_new(m, pools[k], nrm, 1);
            assert_int_equal(infer_ctx_decode(c, ids, NULL, NULL, N_TOK), INFER_OK);
            const float *e = infer_ctx_embeddings_seq(c, 0);
            assert_non_null(e);
            float *w = malloc((size_t)E * sizeof *w);
            memcpy(w, want[k], (size_t)E * sizeof *w);
            if (nrm) normalize(w, E);
            double r = rel_err(w, e, (size_t)E);
            if (nrm) {
                double len = 0;
                for (int i = 0; i < E; i++) len += (double)e[i] * e[i];
                assert_true(fabs(sqrt(len) - 1.0) < 1e-5);
            }
            printf("  %-18s %-4s%s: max relative error %.3g\n", name, pname[k], nrm ? " normalized" : "", r);
            assert_true(r <= 1e-4);
            free(w);
            infer_ctx_free(c);
        }
    }

    /* Two sequences in one batch pool separately: sequence 1 gets the prompt, sequence 0
     * only its first 5 tokens (its mean is that of the first 5 reference rows). */
    c = vk ? NULL : ctx_new(m, INFER_POOLING_MEAN, 0, 2);
    int32_t tok[N_TOK + 5], seq[N_TOK + 5];
    for (int t = 0; t < N_TOK; t++) {
        tok[t] = ids[t];
        seq[t] = 1;
    }
    for (int t = 0; t < 5; t++) {
        tok[N_TOK + t] = ids[t];
        seq[N_TOK + t] = 0;
    }
    infer_batch b = {.n_tokens = N_TOK + 5, .tokens = tok, .seq_id = seq};
    if (vk) goto done;
    assert_int_equal(infer_ctx_decode_batch(c, &b), INFER_OK);
    float mean5[4096];
    assert_true(E <= 4096);
    for (int i = 0; i < E; i++) {
        double s = 0;
        for (int t = 0; t < 5; t++) s += ref[(size_t)t * E + i];
        mean5[i] = (float)(s / 5);
    }
    assert_true(rel_err(mean, infer_ctx_embeddings_seq(c, 1), (size_t)E) <= 1e-4);
    assert_true(rel_err(mean5, infer_ctx_embeddings_seq(c, 0), (size_t)E) <= 1e-4);
    assert_true(rel_err(ref + (size_t)2 * E, infer_ctx_embeddings(c, N_TOK + 2), (size_t)E) <= 1e-4);
    infer_ctx_free(c);
done:
    free(mean);
    free(last);
    free(cls);
    free(ref);
    free(ids);
    infer_model_free(m);
    free(model);
    free(prompt);
    free(norm);
    return 1;
}

static void test_embeddings(void **state) {
    (void)state;
    int ran = 0;
    for (size_t i = 0; i < sizeof g_models / sizeof g_models[0]; i++) ran += check_model(g_models[i]);
    assert_true(ran >= 1);
}

/* Without params.embeddings nothing is kept; a bad pooling is refused. */
static void test_off_and_bad(void **state) {
    (void)state;
    char *model = test_fixture("models/stories260K.gguf");
    if (!model) skip();
    infer_model *m = NULL;
    infer_error err;
    assert_int_equal(infer_model_load(model, NULL, &m, &err), INFER_OK);
    infer_ctx_params p = infer_ctx_default_params();
    p.n_ctx = 32;
    p.backend = g_backend;
    infer_ctx *c = NULL;
    assert_int_equal(infer_ctx_new(m, &p, &c, &err), INFER_OK);
    int32_t t[2] = {1, 5};
    assert_int_equal(infer_ctx_decode(c, t, NULL, NULL, 2), INFER_OK);
    assert_null(infer_ctx_embeddings(c, 0));
    assert_null(infer_ctx_embeddings_seq(c, 0));
    infer_ctx_free(c);
    p.embeddings = 1;
    p.pooling = (infer_pooling)7;
    assert_int_equal(infer_ctx_new(m, &p, &c, &err), INFER_ERR_INVALID_ARG);
    assert_null(c);
    infer_model_free(m);
    free(model);
}

int main(int argc, char **argv) {
    test_pin_vulkan_drivers();
    if (argc > 1 && strcmp(argv[1], "vulkan") == 0) g_backend = INFER_BACKEND_VULKAN;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_off_and_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
