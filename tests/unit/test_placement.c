/* The placement rules on their own (no device needed): llama.cpp's -ngl convention
 * (the last N layers and the output head on the GPU, the embedding with layer 0), the
 * automatic fit within a budget (never over it, more budget never fewer layers, experts
 * before layers for a MoE model), n_cpu_moe, the weight -> device mapping by name, and
 * refused parameters. The numbers come from the real layouts of the shared test models. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "infer.h"
#include "models/model.h"
#include "models/placement.h"
#include "testdata.h"

static infer_model *g_llama, *g_gptoss;

enum { KV_PER_LAYER = 4096, SCRATCH = 100000 };

static infer_placement plan(infer_model *m, int32_t ngl, int32_t cpu_moe, uint64_t gpu_free) {
    infer_placement_req req = {.n_gpu_layers = ngl, .n_cpu_moe = cpu_moe, .kv_bytes_per_layer = KV_PER_LAYER,
                               .scratch_bytes = SCRATCH, .gpu_free = gpu_free};
    infer_placement pl;
    infer_error err;
    if (infer_placement_plan(m, &req, &pl, &err) != INFER_OK) fail_msg("%s", err.message);
    return pl;
}

static uint64_t model_bytes(const infer_model *m) {
    uint64_t b = 0;
    for (int32_t i = 0; i < m->n_weights; i++) b += m->weights[i].bytes;
    return b;
}

static void test_explicit_layers(void **state) {
    (void)state;
    const uint32_t L = g_llama->hp.n_layer;
    for (int32_t ngl = 0; ngl <= (int32_t)L + 2; ngl++) {
        infer_placement pl = plan(g_llama, ngl, 0, 0);   /* an explicit count ignores the budget */
        const uint32_t want = (uint32_t)ngl < L ? (uint32_t)ngl : L;
        assert_int_equal(pl.n_gpu_layers, want);
        for (uint32_t il = 0; il < L; il++)
            assert_int_equal(pl.layer_dev[il], il >= L - want ? INFER_DEV_GPU : INFER_DEV_CPU);
        assert_int_equal(pl.output_dev, ngl > 0 ? INFER_DEV_GPU : INFER_DEV_CPU);
        assert_int_equal(pl.embed_dev, pl.layer_dev[0]);
        /* every weight of a GPU layer is bound there, none of a CPU layer */
        uint64_t gpu = 0;
        for (int32_t i = 0; i < g_llama->n_weights; i++) {
            const char *name = g_llama->weights[i].name;
            int dev = infer_placement_weight_dev(&pl, g_llama, i);
            if (dev == INFER_DEV_GPU) gpu += g_llama->weights[i].bytes;
            unsigned il;
            if (sscanf(name, "blk.%u.", &il) == 1) assert_int_equal(dev, pl.layer_dev[il]);
            if (!strcmp(name, "output_norm.weight")) assert_int_equal(dev, pl.output_dev);
        }
        assert_int_equal(gpu, pl.gpu_weight_bytes);
        assert_int_equal(pl.gpu_kv_bytes, (uint64_t)want * KV_PER_LAYER);
        infer_placement_free(&pl);
    }
    infer_placement pl = plan(g_llama, INFER_GPU_LAYERS_ALL, 0, 0);
    assert_int_equal(pl.n_gpu_layers, L);
    assert_int_equal(pl.embed_dev, INFER_DEV_GPU);
    assert_int_equal(pl.gpu_weight_bytes, model_bytes(g_llama));
    infer_placement_free(&pl);
}

static void test_auto_fit(void **state) {
    (void)state;
    const uint32_t L = g_llama->hp.n_layer;
    const uint64_t all = model_bytes(g_llama) + L * KV_PER_LAYER + SCRATCH;
    uint32_t prev = 0;
    for (uint64_t budget = 0; budget <= all + 4096; budget += all / 64) {
        infer_placement pl = plan(g_llama, INFER_GPU_LAYERS_AUTO, 0, budget);
        /* never over the budget, never fewer layers with more of it */
        if (infer_placement_uses_gpu(&pl)) assert_true(pl.gpu_weight_bytes + pl.gpu_kv_bytes + SCRATCH <= budget);
        assert_true(pl.n_gpu_layers >= prev);
        if (pl.n_gpu_layers > 0) assert_int_equal(pl.output_dev, INFER_DEV_GPU);   /* the head goes first */
        prev = pl.n_gpu_layers;
        infer_placement_free(&pl);
    }
    infer_placement pl = plan(g_llama, INFER_GPU_LAYERS_AUTO, 0, all);   /* exactly enough */
    assert_int_equal(pl.n_gpu_layers, L);
    infer_placement_free(&pl);
    pl = plan(g_llama, INFER_GPU_LAYERS_AUTO, 0, all - 1);   /* one byte short: the first layer stays */
    assert_int_equal(pl.n_gpu_layers, L - 1);
    infer_placement_free(&pl);
    pl = plan(g_llama, INFER_GPU_LAYERS_AUTO, 0, UINT64_MAX);
    assert_int_equal(pl.n_gpu_layers, L);
    infer_placement_free(&pl);
    pl = plan(g_llama, INFER_GPU_LAYERS_AUTO, 0, SCRATCH);   /* room for nothing */
    assert_false(infer_placement_uses_gpu(&pl));
    char text[256];
    infer_placement_describe(&pl, g_llama, "vulkan", text, sizeof text);
    assert_string_equal(text, "all 3 layers + output cpu");
    infer_placement_free(&pl);
}

static void test_experts(void **state) {
    (void)state;
    const uint32_t L = g_gptoss->hp.n_layer;
    infer_placement pl = plan(g_gptoss, INFER_GPU_LAYERS_ALL, 2, 0);
    for (uint32_t il = 0; il < L; il++) {
        assert_int_equal(pl.layer_dev[il], INFER_DEV_GPU);
        assert_int_equal(pl.exps_dev[il], il < 2 ? INFER_DEV_CPU : INFER_DEV_GPU);
    }
    for (int32_t i = 0; i < g_gptoss->n_weights; i++) {
        unsigned il;
        const char *name = g_gptoss->weights[i].name;
        if (sscanf(name, "blk.%u.", &il) == 1 && strstr(name, "_exps"))
            assert_int_equal(infer_placement_weight_dev(&pl, g_gptoss, i), il < 2 ? INFER_DEV_CPU : INFER_DEV_GPU);
        else if (sscanf(name, "blk.%u.", &il) == 1)   /* the router and attention stay on the GPU */
            assert_int_equal(infer_placement_weight_dev(&pl, g_gptoss, i), INFER_DEV_GPU);
    }
    char text[256];
    infer_placement_describe(&pl, g_gptoss, "vulkan", text, sizeof text);
    assert_non_null(strstr(text, "all 3 layers + output vulkan, experts of layers 0-1 cpu"));
    infer_placement_free(&pl);

    /* The fit: just short of everything keeps all layers and moves the first experts. */
    const uint64_t all = model_bytes(g_gptoss) + L * KV_PER_LAYER + SCRATCH;
    pl = plan(g_gptoss, INFER_GPU_LAYERS_AUTO, 0, all);
    assert_int_equal(pl.n_gpu_layers, L);
    assert_int_equal(pl.n_cpu_moe, 0);
    infer_placement_free(&pl);
    pl = plan(g_gptoss, INFER_GPU_LAYERS_AUTO, 0, all - 1);
    assert_int_equal(pl.n_gpu_layers, L);
    assert_int_equal(pl.n_cpu_moe, 1);
    assert_int_equal(pl.exps_dev[0], INFER_DEV_CPU);
    assert_int_equal(pl.exps_dev[1], INFER_DEV_GPU);
    infer_placement_free(&pl);
}

static void test_refused(void **state) {
    (void)state;
    infer_placement_req req = {.n_gpu_layers = -3};
    infer_placement pl;
    infer_error err;
    assert_int_equal(infer_placement_plan(g_llama, &req, &pl, &err), INFER_ERR_INVALID_ARG);
    req.n_gpu_layers = 1;
    req.n_cpu_moe = -1;
    assert_int_equal(infer_placement_plan(g_llama, &req, &pl, &err), INFER_ERR_INVALID_ARG);
}

static infer_model *load(const char *rel) {
    char *path = test_fixture_or_skip(rel);
    infer_model *m = NULL;
    infer_error err;
    if (infer_model_load(path, NULL, &m, &err) != INFER_OK) {
        printf("cannot load %s: %s\n", path, err.message);
        exit(1);
    }
    free(path);
    return m;
}

int main(void) {
    g_llama = load("models/synth-llama-Q4_K_M.gguf");
    g_gptoss = load("models/synth-gptoss-MXFP4_MOE.gguf");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_explicit_layers),
        cmocka_unit_test(test_auto_fit),
        cmocka_unit_test(test_experts),
        cmocka_unit_test(test_refused),
    };
    int rc = cmocka_run_group_tests_name("placement", tests, NULL, NULL);
    infer_model_free(g_llama);
    infer_model_free(g_gptoss);
    return rc;
}
