/* The backends' supports(op, type) query and the check a context makes with it when it
 * binds the weights: every weight-reading op of every weight must have a kernel, and the
 * first one missing is named (backend, op, type, tensor). */
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
#include "models/model.h"
#include "models/weights.h"
#include "tensor/dtype.h"
#include "testdata.h"

/* The formats README.md lists as running on both backends. */
static const uint32_t k_types[] = {
    INFER_TYPE_F32,  INFER_TYPE_F16,  INFER_TYPE_BF16, INFER_TYPE_Q4_0, INFER_TYPE_Q4_1, INFER_TYPE_Q5_0,
    INFER_TYPE_Q5_1, INFER_TYPE_Q8_0, INFER_TYPE_Q4_K, INFER_TYPE_Q5_K, INFER_TYPE_Q6_K, INFER_TYPE_MXFP4,
};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

static void expect_all(infer_backend *be) {
    assert_non_null(be->ops->supports);
    for (size_t i = 0; i < N_TYPES; i++)
        for (int op = 0; op < INFER_OP_COUNT; op++)
            if (!be->ops->supports(be, (infer_op)op, k_types[i]))
                fail_msg("%s: no kernel for op %d, type %s", be->ops->name, op, infer_type_name(k_types[i]));
    /* An id no format has, and one beyond the table: never claimed. */
    assert_false(be->ops->supports(be, INFER_OP_MATMUL, 4));
    assert_false(be->ops->supports(be, INFER_OP_GET_ROWS, 100000));
}

static void test_cpu_supports(void **state) {
    (void)state;
    infer_backend *be = NULL;
    infer_error err;
    assert_int_equal(infer_backend_cpu_new(1, &be, &err), INFER_OK);
    expect_all(be);
    be->ops->destroy(be);
}

static void test_vulkan_supports(void **state) {
    (void)state;
    test_pin_vulkan_drivers();
    infer_backend *be = NULL;
    infer_error err;
    if (infer_backend_vulkan_new(-1, 0, &be, &err) != INFER_OK) {
        printf("  no Vulkan device: %s\n", err.message);
        skip();
    }
    expect_all(be);
    be->ops->destroy(be);
}

/* A backend that has every kernel except (g_missing_op, g_missing_type). */
static infer_op g_missing_op;
static uint32_t g_missing_type;
static bool stub_supports(infer_backend *be, infer_op op, uint32_t type) {
    (void)be;
    return !(op == g_missing_op && type == g_missing_type);
}
static const infer_backend_ops stub_ops = {.name = "stub", .supports = stub_supports};

static void expect_refused(const infer_model *m, infer_op op, uint32_t type, const char *want) {
    infer_backend be = {.ops = &stub_ops};
    char msg[256] = "";
    g_missing_op = op;
    g_missing_type = type;
    assert_int_equal(infer_weights_check_backend(m, &be, msg, sizeof msg), INFER_ERR_UNSUPPORTED);
    if (!strstr(msg, want)) fail_msg("message '%s' lacks '%s'", msg, want);
}

static void test_check_names_the_weight(void **state) {
    (void)state;
    char *path = test_fixture("models/synth-llama-Q4_K_M.gguf");
    if (!path) skip();
    infer_model *m = NULL;
    infer_error err;
    assert_int_equal(infer_model_load(path, NULL, &m, &err), INFER_OK);
    infer_backend be = {.ops = &stub_ops};
    char msg[256] = "";
    g_missing_op = INFER_OP_MOE;   /* a dense model reads no expert weights */
    g_missing_type = INFER_TYPE_Q4_K;
    assert_int_equal(infer_weights_check_backend(m, &be, msg, sizeof msg), INFER_OK);

    expect_refused(m, INFER_OP_MATMUL, INFER_TYPE_Q4_K, "the stub backend has no matmul kernel for type Q4_K (tensor 'blk.");
    const uint32_t embd_type = m->weights[m->tok_embd].type;
    char want[128];
    snprintf(want, sizeof want, "no get_rows kernel for type %s (tensor 'token_embd.weight')", infer_type_name(embd_type));
    expect_refused(m, INFER_OP_GET_ROWS, embd_type, want);
    infer_model_free(m);
    free(path);

    /* gpt-oss: experts are read by the moe op. */
    path = test_fixture("models/synth-gptoss-MXFP4_MOE.gguf");
    if (!path) return;
    assert_int_equal(infer_model_load(path, NULL, &m, &err), INFER_OK);
    expect_refused(m, INFER_OP_MOE, INFER_TYPE_MXFP4, "no moe kernel for type MXFP4 (tensor 'blk.0.ffn_");
    infer_model_free(m);
    free(path);
}

/* A tied output makes the embedding table a matmul operand as well. */
static void test_tied_output_is_a_matmul(void **state) {
    (void)state;
    char *path = test_fixture("models/synth-qwen2-Q4_K_M.gguf");
    if (!path) skip();
    infer_model *m = NULL;
    infer_error err;
    assert_int_equal(infer_model_load(path, NULL, &m, &err), INFER_OK);
    assert_int_equal(m->output, m->tok_embd);
    assert_true(m->weights[m->tok_embd].ops & (1u << INFER_OP_MATMUL));
    assert_true(m->weights[m->tok_embd].ops & (1u << INFER_OP_GET_ROWS));
    infer_model_free(m);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_supports),
        cmocka_unit_test(test_vulkan_supports),
        cmocka_unit_test(test_check_names_the_weight),
        cmocka_unit_test(test_tied_output_is_a_matmul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
