/* Partial offload under a memory budget, and state that lives on two backends.
 *
 * - A budget (INFER_VK_MEMORY_BUDGET) of 60% of what the whole model needs on the GPU:
 *   the automatic fit places only some layers there, says so, and the logits still match
 *   the reference engine's (../shared golden, the F32 tolerances of ../shared/README.md).
 * - gpt-oss under a ladder of budgets: the fit keeps every layer on the GPU with the
 *   experts of the first ones on the CPU, with the reference's logits.
 * - A budget of one byte: everything runs on the CPU, with the same logits; an explicit
 *   n_gpu_layers = all under it fails with INFER_ERR_NOMEM instead (only AUTO adapts).
 * - Parameters out of range are refused.
 * - A session saved from a split context (KV on both backends) loads into a CPU-only one
 *   and continues with the logits of the reference; copying a sequence in a split context
 *   gives the copy the same next-token logits as the original.
 * Needs a Vulkan device (lavapipe in CI); without one it is skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "infer.h"
#include "logits.h"
#include "testdata.h"

#define MODEL "synth-llama-F32"
#define KL_BOUND 1e-5   /* F32 weights (../shared/README.md) */

static infer_model *g_model;
static int32_t *g_ids, g_n;
static float *g_ref;   /* g_n rows of reference logits */

static infer_status new_ctx(int32_t ngl, uint32_t n_seq, infer_ctx **c, infer_error *err) {
    infer_ctx_params cp = infer_ctx_default_params();
    cp.n_ctx = 256;
    cp.n_batch = 32;
    cp.n_threads = 2;
    cp.n_seq_max = n_seq;
    cp.backend = INFER_BACKEND_VULKAN;
    cp.n_gpu_layers = ngl;
    return infer_ctx_new(g_model, &cp, c, err);
}

/* Mean KL of all prompt rows against the reference, decoded as one batch. */
static double decode_kl(infer_ctx *c) {
    int8_t *want = malloc((size_t)g_n);
    memset(want, 1, (size_t)g_n);
    infer_status st = infer_ctx_decode(c, g_ids, NULL, want, g_n);
    free(want);
    if (st != INFER_OK) fail_msg("decode: %s", infer_ctx_last_error(c));
    const int32_t V = infer_model_n_vocab(g_model);
    double kl = 0;
    for (int32_t i = 0; i < g_n; i++) kl += test_kl_row(g_ref + (size_t)i * V, infer_ctx_logits(c, i), V);
    return kl / g_n;
}

static void test_budget_partial(void **state) {
    (void)state;
    infer_error err;
    infer_ctx *c = NULL;
    unsetenv("INFER_VK_MEMORY_BUDGET");
    if (new_ctx(INFER_GPU_LAYERS_ALL, 1, &c, &err) != INFER_OK) fail_msg("%s", err.message);
    const uint64_t full = infer_ctx_gpu_weight_bytes(c) + infer_ctx_kv_bytes(c);
    infer_ctx_free(c);
    char budget[32];
    snprintf(budget, sizeof budget, "%llu", (unsigned long long)(full * 6 / 10));
    setenv("INFER_VK_MEMORY_BUDGET", budget, 1);
    if (new_ctx(INFER_GPU_LAYERS_AUTO, 1, &c, &err) != INFER_OK) fail_msg("auto under %s bytes: %s", budget, err.message);
    const char *pl = infer_ctx_placement(c);
    printf("  budget %s of %llu bytes: %s\n", budget, (unsigned long long)full, pl);
    assert_non_null(strstr(pl, " cpu, "));      /* some layers on the CPU ... */
    assert_non_null(strstr(pl, "+ output vulkan"));   /* ... the rest on the GPU */
    assert_true(infer_ctx_gpu_weight_bytes(c) > 0 && infer_ctx_gpu_weight_bytes(c) < full);
    const double kl = decode_kl(c);
    printf("  mean KL %.3g (bound %.3g)\n", kl, KL_BOUND);
    assert_true(kl <= KL_BOUND);
    infer_ctx_free(c);
    unsetenv("INFER_VK_MEMORY_BUDGET");
}

static void test_budget_tiny(void **state) {
    (void)state;
    infer_error err;
    infer_ctx *c = NULL;
    setenv("INFER_VK_MEMORY_BUDGET", "1", 1);
    if (new_ctx(INFER_GPU_LAYERS_AUTO, 1, &c, &err) != INFER_OK) fail_msg("auto under 1 byte: %s", err.message);
    printf("  budget 1 byte: %s\n", infer_ctx_placement(c));
    assert_non_null(strstr(infer_ctx_placement(c), "+ output cpu"));
    assert_string_equal(infer_ctx_backend_name(c), "cpu");
    assert_int_equal(infer_ctx_gpu_weight_bytes(c), 0);
    assert_true(decode_kl(c) <= KL_BOUND);
    infer_ctx_free(c);
    c = NULL;
    assert_int_equal(new_ctx(INFER_GPU_LAYERS_ALL, 1, &c, &err), INFER_ERR_NOMEM);
    printf("  all layers under 1 byte: %s\n", err.message);
    assert_null(c);
    unsetenv("INFER_VK_MEMORY_BUDGET");
}

/* gpt-oss under shrinking budgets: the first that cannot hold everything keeps every
 * layer on the GPU with the experts of the first ones on the CPU (experts go before whole
 * layers), and that split matches the reference's logits. */
static void test_budget_moe(void **state) {
    (void)state;
    char *path = test_fixture("models/synth-gptoss-MXFP4_MOE.gguf");
    char *prompt_path = test_fixture("golden/synth-gptoss-MXFP4_MOE.prompt.txt");
    char *logits_path = test_fixture("golden/synth-gptoss-MXFP4_MOE.logits.f32");
    if (!path || !prompt_path || !logits_path) skip();
    infer_model *m = NULL;
    infer_error err;
    if (infer_model_load(path, NULL, &m, &err) != INFER_OK) fail_msg("%s", err.message);
    int32_t n = 0;
    int32_t *ids = test_read_ids(prompt_path, &n);
    float *ref = test_read_all(logits_path, NULL);
    assert_non_null(ids);
    assert_non_null(ref);
    const int32_t V = infer_model_n_vocab(m);

    infer_model *keep = g_model;
    g_model = m;
    infer_ctx *c = NULL;
    unsetenv("INFER_VK_MEMORY_BUDGET");
    if (new_ctx(INFER_GPU_LAYERS_ALL, 1, &c, &err) != INFER_OK) fail_msg("%s", err.message);
    const uint64_t full = infer_ctx_gpu_weight_bytes(c) + infer_ctx_kv_bytes(c);
    infer_ctx_free(c);
    /* Down from three times that, by an eighth: the first budget that does not hold
     * everything must move experts, not layers, and only those of the first layers. */
    int found = 0;
    for (int i = 24; i >= 4 && !found; i--) {
        char budget[32];
        snprintf(budget, sizeof budget, "%llu", (unsigned long long)(full * (uint64_t)i / 8));
        setenv("INFER_VK_MEMORY_BUDGET", budget, 1);
        if (new_ctx(INFER_GPU_LAYERS_AUTO, 1, &c, &err) != INFER_OK) fail_msg("auto under %s: %s", budget, err.message);
        const char *pl = infer_ctx_placement(c);
        if (strncmp(pl, "all 3 layers + output vulkan;", 29) != 0) {
            printf("  budget %s: %s\n", budget, pl);
            if (strncmp(pl, "all 3 layers + output vulkan, experts of layer", 46) != 0 || strstr(pl, "0-2"))
                fail_msg("the first split under %s bytes is '%s'", budget, pl);
            found = 1;
            int8_t *want = malloc((size_t)n);
            memset(want, 1, (size_t)n);
            if (infer_ctx_decode(c, ids, NULL, want, n) != INFER_OK) fail_msg("decode: %s", infer_ctx_last_error(c));
            free(want);
            double kl = 0;
            for (int32_t t = 0; t < n; t++) kl += test_kl_row(ref + (size_t)t * V, infer_ctx_logits(c, t), V);
            printf("  mean KL %.3g (bound 2.5e-2, gpt-oss quantized)\n", kl / n);
            assert_true(kl / n <= 2.5e-2);
        }
        infer_ctx_free(c);
    }
    unsetenv("INFER_VK_MEMORY_BUDGET");
    g_model = keep;
    assert_true(found);
    infer_model_free(m);
    free(ids);
    free(ref);
    free(path);
    free(prompt_path);
    free(logits_path);
}

static void test_bad_params(void **state) {
    (void)state;
    infer_error err;
    infer_ctx *c = NULL;
    assert_int_equal(new_ctx(-3, 1, &c, &err), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "n_gpu_layers"));
    infer_ctx_params cp = infer_ctx_default_params();
    cp.n_cpu_moe = -1;
    assert_int_equal(infer_ctx_new(g_model, &cp, &c, &err), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "n_cpu_moe"));
    assert_null(c);
}

/* Logits of token tok at the end of sequence seq. */
static const float *next_logits(infer_ctx *c, int32_t seq, int32_t tok) {
    infer_batch b = {.n_tokens = 1, .tokens = &tok, .seq_id = &seq};
    if (infer_ctx_decode_batch(c, &b) != INFER_OK) fail_msg("decode: %s", infer_ctx_last_error(c));
    return infer_ctx_logits(c, 0);
}

static void test_state_across_backends(void **state) {
    (void)state;
    const int32_t V = infer_model_n_vocab(g_model);
    const int32_t half = g_n / 2;
    infer_error err;
    infer_ctx *split = NULL, *cpu = NULL;
    if (new_ctx(1, 2, &split, &err) != INFER_OK) fail_msg("%s", err.message);
    if (new_ctx(0, 2, &cpu, &err) != INFER_OK) fail_msg("%s", err.message);
    printf("  split: %s\n", infer_ctx_placement(split));
    assert_int_equal(infer_ctx_decode(split, g_ids, NULL, NULL, half), INFER_OK);

    /* Saved from the split context (KV rows read from both backends), loaded on the CPU. */
    size_t need = 0;
    assert_int_equal(infer_ctx_seq_save(split, 0, NULL, 0, &need), INFER_ERR_BUFFER_SMALL);
    void *buf = malloc(need);
    assert_int_equal(infer_ctx_seq_save(split, 0, buf, need, &need), INFER_OK);
    assert_int_equal(infer_ctx_seq_load(cpu, 0, buf, need), INFER_OK);
    const float *ref = g_ref + (size_t)half * V;   /* the reference's row after token `half` */
    double kl = test_kl_row(ref, next_logits(cpu, 0, g_ids[half]), V);
    printf("  loaded on the CPU, next row: KL %.3g\n", kl);
    assert_true(kl <= KL_BOUND);

    /* And back: the CPU context's state into the split one's sequence 1. */
    assert_int_equal(infer_ctx_seq_save(cpu, 0, NULL, 0, &need), INFER_ERR_BUFFER_SMALL);
    free(buf);
    buf = malloc(need);
    assert_int_equal(infer_ctx_seq_save(cpu, 0, buf, need, &need), INFER_OK);
    assert_int_equal(infer_ctx_seq_load(split, 1, buf, need), INFER_OK);
    kl = test_kl_row(g_ref + (size_t)(half + 1) * V, next_logits(split, 1, g_ids[half + 1]), V);
    printf("  loaded into the split context, next row: KL %.3g\n", kl);
    assert_true(kl <= KL_BOUND);
    free(buf);

    /* A copy inside the split context continues exactly like its source. */
    assert_int_equal(infer_ctx_seq_copy(split, 0, 1), INFER_OK);
    float *a = malloc((size_t)V * sizeof *a);
    memcpy(a, next_logits(split, 0, g_ids[half]), (size_t)V * sizeof *a);
    const float *b = next_logits(split, 1, g_ids[half]);
    assert_memory_equal(a, b, (size_t)V * sizeof *a);
    assert_true(test_kl_row(ref, a, V) <= KL_BOUND);
    free(a);
    infer_ctx_free(split);
    infer_ctx_free(cpu);
}

int main(void) {
    test_pin_vulkan_drivers();
    char *model_path = test_fixture_or_skip("models/" MODEL ".gguf");
    char *prompt_path = test_fixture_or_skip("golden/" MODEL ".prompt.txt");
    char *logits_path = test_fixture_or_skip("golden/" MODEL ".logits.f32");
    infer_error err;
    if (infer_model_load(model_path, NULL, &g_model, &err) != INFER_OK) {
        printf("cannot load %s: %s\n", model_path, err.message);
        return 1;
    }
    g_ids = test_read_ids(prompt_path, &g_n);
    size_t ref_bytes = 0;
    g_ref = test_read_all(logits_path, &ref_bytes);
    if (!g_ids || !g_ref || g_n < 4 || ref_bytes != (size_t)g_n * infer_model_n_vocab(g_model) * sizeof(float)) {
        printf("bad fixtures for %s\n", MODEL);
        return 1;
    }
    infer_ctx *c = NULL;
    if (new_ctx(INFER_GPU_LAYERS_ALL, 1, &c, &err) != INFER_OK) {
        infer_model_free(g_model);
        if (err.status != INFER_ERR_NO_DEVICE) {
            printf("FAIL: vulkan context: %s\n", err.message);
            return 1;
        }
        printf("SKIPPED: vulkan backend unavailable: %s\n", err.message);
        return TEST_SKIP_EXIT;
    }
    infer_ctx_free(c);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_partial),
        cmocka_unit_test(test_budget_tiny),
        cmocka_unit_test(test_budget_moe),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_state_across_backends),
    };
    int rc = cmocka_run_group_tests_name("offload", tests, NULL, NULL);
    infer_model_free(g_model);
    free(g_ids);
    free(g_ref);
    free(model_path);
    free(prompt_path);
    free(logits_path);
    return rc;
}
