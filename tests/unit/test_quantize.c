/* infer_model_quantize against llama.cpp's quantizer, on the shared synthetic F32 models.
 * For each file type, the F32 model of the architecture named on the command line is
 * quantized and compared with synth-<arch>-<TYPE>.gguf made by llama-quantize:
 *   - every tensor has the type llama.cpp chose (the mix rules, fallbacks, kept tensors);
 *   - for the types whose llama.cpp algorithm is deterministic without an importance
 *     matrix and reproduced here, the tensor bytes are identical;
 *   - the file loads and its logits' mean KL from the F32 model's (both from libinfer) is
 *     within 10% of the reference file's KL.
 * A type with no reference file is still quantized, loaded and checked for finite logits
 * (its rules and algorithm are the ones checked on the other architectures). A type this
 * build cannot write is reported as skipped; so are the logits of an architecture the
 * library does not run yet (the tensor checks still apply). Usage: test_quantize ARCH */
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
#include "logits.h"
#include "testdata.h"

#define N_THREADS 2
#define KL_SLACK 1.10      /* ours may be 10% above the reference file's KL */
#define KL_FLOOR 1e-6      /* below this, KL differences are rounding noise */

static const char *g_arch;
static char *g_f32_path;
static int32_t *g_prompt, g_n_prompt;
static float *g_f32_logits;   /* [g_n_prompt][n_vocab] from libinfer on the F32 model */
static int32_t g_vocab;
static char g_tmpdir[256];
static int g_can_run;         /* the library runs this architecture */

/* File types whose bytes must equal llama.cpp's (its reference algorithm, no imatrix). */
static int byte_exact(const char *type) {
    static const char *const exact[] = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                        "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "MXFP4_MOE",
                                        "Q2_K", "Q3_K_S", "Q3_K_M", "IQ4_NL", "IQ4_XS", NULL};
    for (int i = 0; exact[i]; i++)
        if (strcmp(exact[i], type) == 0) return 1;
    return 0;
}

static char *fmt(const char *f, ...) {
    char *s = NULL;
    va_list ap;
    va_start(ap, f);
    if (vasprintf(&s, f, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

/* Logits for every prompt position; malloc'd [n][V]. */
static float *model_logits(const char *path) {
    infer_model *m = NULL;
    infer_ctx *c = NULL;
    infer_error err;
    infer_status st = infer_model_load(path, NULL, &m, &err);
    if (st != INFER_OK) fail_msg("load %s: %s", path, err.message);
    infer_ctx_params cp = infer_ctx_default_params();
    cp.n_threads = N_THREADS;
    cp.backend = INFER_BACKEND_CPU;
    if (infer_ctx_new(m, &cp, &c, &err) != INFER_OK) fail_msg("ctx %s: %s", path, err.message);
    int8_t *want = malloc((size_t)g_n_prompt);
    memset(want, 1, (size_t)g_n_prompt);
    if (infer_ctx_decode(c, g_prompt, NULL, want, g_n_prompt) != INFER_OK) fail_msg("decode %s: %s", path, infer_ctx_last_error(c));
    g_vocab = infer_model_n_vocab(m);
    float *out = malloc((size_t)g_n_prompt * (size_t)g_vocab * sizeof(float));
    for (int32_t i = 0; i < g_n_prompt; i++) {
        const float *l = infer_ctx_logits(c, i);
        assert_non_null(l);
        for (int32_t v = 0; v < g_vocab; v++) assert_true(isfinite(l[v]));
        memcpy(out + (size_t)i * g_vocab, l, (size_t)g_vocab * sizeof(float));
    }
    free(want);
    infer_ctx_free(c);
    infer_model_free(m);
    return out;
}

static double mean_kl(const float *logits) {
    double s = 0;
    for (int32_t i = 0; i < g_n_prompt; i++)
        s += test_kl_row(g_f32_logits + (size_t)i * g_vocab, logits + (size_t)i * g_vocab, g_vocab);
    return s / g_n_prompt;
}

/* Same tensor names, types (and bytes if exact) in both files. */
static void compare_tensors(const char *ours_path, const char *ref_path, int exact) {
    infer_gguf *a = NULL, *b = NULL;
    infer_error err;
    assert_int_equal(infer_gguf_open(ours_path, &a, &err), INFER_OK);
    assert_int_equal(infer_gguf_open(ref_path, &b, &err), INFER_OK);
    assert_int_equal(infer_gguf_n_tensors(a), infer_gguf_n_tensors(b));
    int type_mismatch = 0, byte_mismatch = 0;
    for (int64_t i = 0; i < infer_gguf_n_tensors(b); i++) {
        const char *name = infer_gguf_tensor_name(b, i);
        int64_t j = infer_gguf_find_tensor(a, name);
        if (j < 0) fail_msg("tensor %s missing from our file", name);
        if (infer_gguf_tensor_type(a, j) != infer_gguf_tensor_type(b, i)) {
            printf("  %s: ours %s, llama.cpp %s\n", name, infer_type_name(infer_gguf_tensor_type(a, j)),
                   infer_type_name(infer_gguf_tensor_type(b, i)));
            type_mismatch++;
            continue;
        }
        if (exact && (infer_gguf_tensor_bytes(a, j) != infer_gguf_tensor_bytes(b, i) ||
                      memcmp(infer_gguf_tensor_data(a, j), infer_gguf_tensor_data(b, i), infer_gguf_tensor_bytes(b, i)) != 0)) {
            printf("  %s (%s): bytes differ from llama.cpp's\n", name, infer_type_name(infer_gguf_tensor_type(b, i)));
            byte_mismatch++;
        }
    }
    /* the file type is recorded as llama.cpp records it */
    int64_t ka = infer_gguf_find_key(a, "general.file_type"), kb = infer_gguf_find_key(b, "general.file_type");
    assert_true(ka >= 0 && kb >= 0);
    assert_int_equal(infer_gguf_kv_uint(a, ka), infer_gguf_kv_uint(b, kb));
    infer_gguf_close(a);
    infer_gguf_close(b);
    assert_int_equal(type_mismatch, 0);
    assert_int_equal(byte_mismatch, 0);
}

static void check_type(void **state) {
    const char *type = *state;
    char *out = fmt("%s/%s.gguf", g_tmpdir, type);
    infer_quantize_params qp = infer_quantize_default_params();
    qp.type = type;
    qp.n_threads = N_THREADS;
    infer_quantize_stats stats;
    infer_error err;
    infer_status st = infer_model_quantize(g_f32_path, out, &qp, &stats, &err);
    if (st == INFER_ERR_UNSUPPORTED) {
        printf("  %s: %s\n", type, err.message);
        free(out);
        skip();
    }
    if (st != INFER_OK) fail_msg("quantize %s: %s", type, err.message);
    assert_true(stats.n_quantized > 0 && stats.bytes_out > 0);

    char *rel = fmt("models/synth-%s-%s.gguf", g_arch, type);
    char *ref = test_fixture(rel);
    if (ref) compare_tensors(out, ref, byte_exact(type));
    if (!g_can_run) {
        printf("  %-9s tensors %s; logits not checked: the library does not run %s\n", type,
               ref ? "match llama.cpp's" : "not compared (no llama.cpp file)", g_arch);
        free(ref);
        free(rel);
        unlink(out);
        free(out);
        return;
    }
    float *ours = model_logits(out);
    const double kl_ours = mean_kl(ours);
    if (ref) {
        float *theirs = model_logits(ref);
        const double kl_ref = mean_kl(theirs);
        printf("  %-9s mean KL vs F32: ours %.3g, llama.cpp %.3g (%.2f bits/weight)\n", type, kl_ours, kl_ref,
               8.0 * (double)stats.bytes_out / (double)stats.n_elements);
        assert_true(kl_ours <= KL_SLACK * kl_ref + KL_FLOOR);
        free(theirs);
        free(ref);
    } else {
        printf("  %-9s mean KL vs F32: ours %.3g (no llama.cpp file to compare)\n", type, kl_ours);
        assert_true(isfinite(kl_ours));
    }
    free(rel);
    free(ours);
    unlink(out);
    free(out);
}

static int cancel_at_once(const infer_quantize_progress *pr, void *user) {
    (void)pr; (void)user;
    return 1;
}

/* struct_size: a struct from a header before `progress` quantizes without reading the
 * callback there (it would cancel); sizes no release had are refused, naming struct_size. */
static void check_params_struct_size(void **state) {
    (void)state;
    char *out = fmt("%s/struct-size.gguf", g_tmpdir);
    infer_quantize_params qp = infer_quantize_default_params();
    assert_int_equal(qp.struct_size, sizeof qp);
    qp.type = "Q8_0";
    qp.n_threads = N_THREADS;
    qp.progress = cancel_at_once;
    infer_quantize_stats stats;
    infer_error err;
    assert_int_equal(infer_model_quantize(g_f32_path, out, &qp, &stats, &err), INFER_ERR_CANCELLED);
    qp.struct_size = offsetof(infer_quantize_params, progress);
    assert_int_equal(infer_model_quantize(g_f32_path, out, &qp, &stats, &err), INFER_OK);
    unlink(out);
    const size_t bad[] = {0, 3, offsetof(infer_quantize_params, type), offsetof(infer_quantize_params, n_threads) + 2,
                          sizeof qp + 8, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qp.struct_size = bad[i];
        err.message[0] = 0;
        assert_int_equal(infer_model_quantize(g_f32_path, out, &qp, &stats, &err), INFER_ERR_INVALID_ARG);
        assert_non_null(strstr(err.message, "struct_size"));
        assert_int_equal(access(out, F_OK), -1);
    }
    free(out);
}

static const char *const TYPES[] = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_S",
                                    "Q3_K_M", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS",
                                    "MXFP4_MOE"};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])

int main(int argc, char **argv) {
    g_arch = argc > 1 ? argv[1] : "llama";
    char *rel = fmt("models/synth-%s-F32.gguf", g_arch);
    g_f32_path = test_fixture_or_skip(rel);
    free(rel);
    rel = fmt("golden/synth-%s-F32.prompt.txt", g_arch);
    char *prompt = test_fixture_or_skip(rel);
    free(rel);
    g_prompt = test_read_ids(prompt, &g_n_prompt);
    free(prompt);
    if (!g_prompt) return 1;
    snprintf(g_tmpdir, sizeof g_tmpdir, "%s/infer-test-quantize-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_tmpdir)) return 1;
    infer_model *probe = NULL;
    infer_error err;
    g_can_run = infer_model_load(g_f32_path, NULL, &probe, &err) == INFER_OK;
    if (!g_can_run) printf("note: %s\n", err.message);
    infer_model_free(probe);
    if (g_can_run) g_f32_logits = model_logits(g_f32_path);

    struct CMUnitTest tests[N_TYPES + 1];
    for (size_t i = 0; i < N_TYPES; i++) {
        tests[i] = (struct CMUnitTest){.name = TYPES[i], .test_func = check_type, .initial_state = (void *)TYPES[i]};
    }
    tests[N_TYPES] = (struct CMUnitTest){.name = "params struct_size", .test_func = check_params_struct_size};
    int rc = cmocka_run_group_tests_name(g_arch, tests, NULL, NULL);
    rmdir(g_tmpdir);
    free(g_f32_logits);
    free(g_prompt);
    free(g_f32_path);
    return rc;
}
