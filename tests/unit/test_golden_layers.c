/* Per-layer activations against the reference engine (../shared/testdata/layers): the
 * first 16 prompt tokens of each F32 model run as one batch with INFER_DUMP_DIR set, and
 * every tensor the reference recorded (attn_norm-L, attn_out-L, ffn_out-L,
 * ffn_moe_out-L, l_out-L, result_norm) compared row by row. This is where a mismatch is
 * found when the logits of a model drift; it also tests the dump hook itself.
 *
 *   test_golden_layers [MODEL-NAME ...]     (default: every F32 model with layer data)
 */
#include <dirent.h>
#include <math.h>
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
#include "testdata.h"

static const char *k_default_models[] = {"stories260K", "synth-llama-F32", "synth-qwen2-F32", "synth-qwen3-F32",
                                         "synth-gptoss-F32"};
static const char **g_models = k_default_models;
static int g_n_models = 5;
static char g_dump[256];

static int32_t read_ids(const char *path, int32_t *ids, int32_t cap) {
    char *text = test_read_all(path, NULL);
    assert_non_null(text);
    int32_t n = 0;
    char *p = text, *end;
    for (long v = strtol(p, &end, 10); end != p && n < cap; v = strtol(p, &end, 10)) {
        ids[n++] = (int32_t)v;
        p = end;
    }
    free(text);
    return n;
}

/* Largest |ours - ref| relative to the reference's largest magnitude. */
static double rel_err(const float *ref, const float *ours, size_t n) {
    double scale = 1e-6, err = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
        if (fabs((double)ref[i] - ours[i]) > err) err = fabs((double)ref[i] - ours[i]);
    }
    return err / scale;
}

static int check_model(const char *name) {
    char rel[512];
    snprintf(rel, sizeof rel, "models/%s.gguf", name);
    char *model_path = test_fixture(rel);
    snprintf(rel, sizeof rel, "layers/%s/prompt16.txt", name);
    char *prompt_path = test_fixture(rel);
    if (!model_path || !prompt_path) {
        printf("  %s: fixtures absent, skipped\n", name);
        free(model_path);
        free(prompt_path);
        return 0;
    }
    char *layer_dir = strdup(prompt_path);
    *strrchr(layer_dir, '/') = 0;

    infer_model *m = NULL;
    infer_error err;
    assert_int_equal(infer_model_load(model_path, NULL, &m, &err), INFER_OK);
    setenv("INFER_DUMP_DIR", g_dump, 1);
    infer_ctx_params cp = infer_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 2;
    cp.backend = INFER_BACKEND_CPU;
    infer_ctx *c = NULL;
    assert_int_equal(infer_ctx_new(m, &cp, &c, &err), INFER_OK);
    unsetenv("INFER_DUMP_DIR");
    int32_t ids[16];
    int32_t n = read_ids(prompt_path, ids, 16);
    assert_int_equal(n, 16);
    assert_int_equal(infer_ctx_decode(c, ids, NULL, NULL, n), INFER_OK);

    /* every reference tensor must have been dumped and match */
    DIR *d = opendir(layer_dir);
    assert_non_null(d);
    int compared = 0, bad = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".f32") != 0) continue;
        char a[768], b[768];
        snprintf(a, sizeof a, "%s/%s", layer_dir, e->d_name);
        snprintf(b, sizeof b, "%s/%s", g_dump, e->d_name);
        size_t na = 0, nb = 0;
        float *ref = test_read_all(a, &na);
        float *ours = test_read_all(b, &nb);
        if (!ours || na != nb) {
            printf("  %s: %s missing or of another size (%zu vs %zu bytes)\n", name, e->d_name, nb, na);
            bad++;
        } else {
            double r = rel_err(ref, ours, na / sizeof(float));
            if (r > 1e-4) {
                printf("  %s: %s differs, max relative error %.3g\n", name, e->d_name, r);
                bad++;
            }
            compared++;
        }
        free(ref);
        free(ours);
        unlink(b);
    }
    closedir(d);
    printf("  %s: %d reference tensors compared, %d differ\n", name, compared, bad);
    assert_int_equal(bad, 0);
    assert_true(compared >= 5);

    infer_ctx_free(c);
    infer_model_free(m);
    free(model_path);
    free(prompt_path);
    free(layer_dir);
    return compared;
}

static void test_layers(void **state) {
    (void)state;
    int total = 0;
    for (int i = 0; i < g_n_models; i++) total += check_model(g_models[i]);
    if (total == 0) skip();
}

/* Without the variable nothing is written. */
static void test_no_dump_by_default(void **state) {
    (void)state;
    char *model_path = test_fixture("models/stories260K.gguf");
    if (!model_path) skip();
    unsetenv("INFER_DUMP_DIR");
    infer_model *m = NULL;
    infer_error err;
    assert_int_equal(infer_model_load(model_path, NULL, &m, &err), INFER_OK);
    infer_ctx_params cp = infer_ctx_default_params();
    cp.n_ctx = 16;
    cp.n_threads = 1;
    cp.backend = INFER_BACKEND_CPU;
    infer_ctx *c = NULL;
    assert_int_equal(infer_ctx_new(m, &cp, &c, &err), INFER_OK);
    int32_t tok = 1;
    assert_int_equal(infer_ctx_decode(c, &tok, NULL, NULL, 1), INFER_OK);
    DIR *d = opendir(g_dump);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) files += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(files, 0);
    infer_ctx_free(c);
    infer_model_free(m);
    free(model_path);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        g_models = (const char **)(argv + 1);
        g_n_models = argc - 1;
    }
    snprintf(g_dump, sizeof g_dump, "/tmp/infer_test_layers_XXXXXX");
    if (!mkdtemp(g_dump)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_no_dump_by_default),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* leftovers (tensors the reference does not record) */
    DIR *d = opendir(g_dump);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", g_dump, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(g_dump);
    return rc;
}
