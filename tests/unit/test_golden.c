/* Golden test of one model file against the reference engine's outputs:
 *
 *   test_golden [MODEL-NAME] [cpu|vulkan]      (default: stories260K cpu)
 *
 * loads models/<name>.gguf, feeds golden/<name>.prompt.txt as one batch from an empty
 * cache and compares all rows of logits with golden/<name>.logits.f32 using the
 * tolerances of ../shared/README.md: mean KL(ref || ours) and argmax agreement at the
 * positions where the reference's top-2 gap exceeds 0.05. The tolerance class comes from
 * the file's weight types (all F32 / 16-bit floats / quantized), the gpt-oss bounds from
 * its architecture. For stories260K also: the greedy continuation (one decode per token)
 * must equal golden/<name>.greedy.txt and the perplexity of text/stories-public.txt at
 * context 128 must be within 0.5% of golden/<name>.ppl.txt, and infer-cli --tokens-file /
 * infer-perplexity must reproduce the same. Fixtures absent -> exit 77.
 * INFER_TEST_GOLDEN_STEP=K feeds the prompt in batches of K tokens (1: token by token). */
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
#include "tensor/dtype.h"
#include "logits.h"
#include "testdata.h"

#define N_THREADS 2
#define ARGMAX_GAP 0.05

typedef enum { CLASS_F32, CLASS_HALF, CLASS_QUANT } tol_class;

static const char *g_name = "stories260K";
static infer_backend_kind g_backend = INFER_BACKEND_CPU;
static int32_t g_ngl = INFER_GPU_LAYERS_AUTO;   /* [NGL [N-CPU-MOE]]: a partial offload */
static int32_t g_cpu_moe = 0;
static int g_split;                             /* NGL given: check the placement too */
static char *g_model_path;
static infer_model *g_model;

/* ---- fixtures */

static char *fixture(const char *fmt, const char *name) {
    char rel[512];
    snprintf(rel, sizeof rel, fmt, name);
    return test_fixture_or_skip(rel);
}

static tol_class class_of(const char *path) {
    infer_gguf *g = NULL;
    infer_error err;
    assert_int_equal(infer_gguf_open(path, &g, &err), INFER_OK);
    tol_class c = CLASS_F32;
    for (int64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
        uint32_t t = infer_gguf_tensor_type(g, i);
        if (t == INFER_TYPE_F16 || t == INFER_TYPE_BF16) {
            if (c == CLASS_F32) c = CLASS_HALF;
        } else if (t != INFER_TYPE_F32) {
            c = CLASS_QUANT;
        }
    }
    infer_gguf_close(g);
    return c;
}

static infer_ctx *new_ctx(uint32_t n_ctx) {
    infer_ctx_params cp = infer_ctx_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = N_THREADS;
    cp.backend = g_backend;
    cp.n_gpu_layers = g_ngl;
    cp.n_cpu_moe = g_cpu_moe;
    infer_ctx *c = NULL;
    infer_error err;
    infer_status st = infer_ctx_new(g_model, &cp, &c, &err);
    if (st != INFER_OK) fail_msg("infer_ctx_new: %s", err.message);
    return c;
}

/* A partial offload must be placed as asked: layers 0..L-ngl-1 on the CPU, the rest and
 * the output head on the GPU, the experts of layers < n_cpu_moe on the CPU. */
static void check_placement(const infer_ctx *c) {
    const char *pl = infer_ctx_placement(c);
    const int L = infer_model_n_layer(g_model);
    const int ngl = g_ngl == INFER_GPU_LAYERS_ALL || g_ngl > L ? L : g_ngl;
    char want[128];
    if (ngl == 0) snprintf(want, sizeof want, "all %d layers + output cpu", L);
    else if (ngl == L) snprintf(want, sizeof want, "all %d layers + output vulkan", L);
    else snprintf(want, sizeof want, "layers 0-%d cpu, %d-%d + output vulkan", L - ngl - 1, L - ngl, L - 1);
    printf("  placement: %s\n", pl);
    if (strncmp(pl, want, strlen(want)) != 0) fail_msg("placement '%s' does not start with '%s'", pl, want);
    assert_string_equal(infer_ctx_backend_name(c), ngl ? "vulkan" : "cpu");
    const int moe_on_gpu_layers = g_cpu_moe > L - ngl;   /* some GPU layer keeps its experts on the CPU */
    if (ngl && moe_on_gpu_layers && !strstr(pl, "experts of layer")) fail_msg("placement '%s' lacks the experts", pl);
}

/* ---- tests */

static void test_logits(void **state) {
    (void)state;
    char *prompt_path = fixture("golden/%s.prompt.txt", g_name);
    char *logits_path = fixture("golden/%s.logits.f32", g_name);
    int32_t n = 0;
    int32_t *ids = test_read_ids(prompt_path, &n);
    assert_non_null(ids);
    size_t ref_bytes = 0;
    float *ref = test_read_all(logits_path, &ref_bytes);
    const int32_t V = infer_model_n_vocab(g_model);
    assert_true(n > 0);
    assert_int_equal(ref_bytes, (size_t)n * V * sizeof(float));

    infer_ctx *c = new_ctx(0);
    if (g_split) check_placement(c);
    int8_t *want = malloc((size_t)n);
    memset(want, 1, (size_t)n);
    /* INFER_TEST_GOLDEN_STEP=K: the prompt goes in batches of K tokens (1: one decode per
     * token, the path of generation), the logits of each batch copied out. */
    const char *step_env = getenv("INFER_TEST_GOLDEN_STEP");
    const int32_t step = step_env ? (int32_t)atoi(step_env) : 0;
    float *stepped = step > 0 ? malloc(sizeof(float) * (size_t)n * V) : NULL;
    for (int32_t i0 = 0; i0 < n; i0 += step > 0 ? step : n) {
        const int32_t m = step > 0 && step < n - i0 ? step : n - i0;
        infer_status st = infer_ctx_decode(c, ids + i0, NULL, want + i0, m);
        if (st != INFER_OK) fail_msg("decode at %d: %s", i0, infer_ctx_last_error(c));
        for (int32_t j = 0; stepped && j < m; j++) memcpy(stepped + (size_t)(i0 + j) * V, infer_ctx_logits(c, j), sizeof(float) * V);
    }
    if (step > 0) printf("  prompt fed in batches of %d token(s)\n", step);

    double kl_sum = 0, kl_max = 0;
    int checked = 0, agree = 0;
    for (int32_t i = 0; i < n; i++) {
        const float *ours = stepped ? stepped + (size_t)i * V : infer_ctx_logits(c, i);
        const float *r = ref + (size_t)i * V;
        assert_non_null(ours);
        double kl = test_kl_row(r, ours, V);
        kl_sum += kl;
        if (kl > kl_max) kl_max = kl;
        if (test_top2_gap(r, V) > ARGMAX_GAP) {
            checked++;
            if (test_argmax(r, V) == test_argmax(ours, V)) agree++;
            else printf("  argmax differs at position %d: ref %d ours %d\n", i, test_argmax(r, V), test_argmax(ours, V));
        }
    }
    const double kl_mean = kl_sum / n;
    const int gptoss = strcmp(infer_model_arch(g_model), "gpt-oss") == 0;
    const tol_class cls = class_of(g_model_path);
    double kl_bound;
    double agree_min;
    switch (cls) {
    case CLASS_F32: kl_bound = gptoss ? 5e-5 : 1e-5; agree_min = 1.0; break;
    case CLASS_HALF: kl_bound = 2e-4; agree_min = 1.0; break;
    default: kl_bound = gptoss ? 2.5e-2 : 5e-3; agree_min = 0.93; break;
    }
    const double agree_frac = checked ? (double)agree / checked : 1.0;
    printf("  %s [%s]: mean KL %.3g (bound %.3g), max KL %.3g, argmax %d/%d (min %.0f%%)\n", g_name,
           cls == CLASS_F32 ? "F32" : cls == CLASS_HALF ? "F16/BF16" : "quantized", kl_mean, kl_bound, kl_max,
           agree, checked, agree_min * 100);
    assert_true(kl_mean <= kl_bound);
    assert_true(agree_frac >= agree_min);

    free(want);
    free(stepped);
    free(ids);
    free(ref);
    free(prompt_path);
    free(logits_path);
    infer_ctx_free(c);
}

static void test_greedy(void **state) {
    (void)state;
    if (strcmp(g_name, "stories260K") != 0) skip();   /* exact continuation is required of stories260K only */
    char *prompt_path = fixture("golden/%s.prompt.txt", g_name);
    char *greedy_path = fixture("golden/%s.greedy.txt", g_name);
    int32_t n = 0, n_ref = 0;
    int32_t *ids = test_read_ids(prompt_path, &n);
    assert_non_null(ids);
    int32_t *ref = test_read_ids(greedy_path, &n_ref);
    assert_non_null(ref);
    const int32_t V = infer_model_n_vocab(g_model);
    infer_ctx *c = new_ctx(0);

    assert_int_equal(infer_ctx_decode(c, ids, NULL, NULL, n), INFER_OK);
    int32_t tok = test_argmax(infer_ctx_logits(c, n - 1), V);
    for (int32_t i = 0; i < n_ref; i++) {
        if (tok != ref[i]) fail_msg("greedy token %d: ours %d, reference %d", i, tok, ref[i]);
        if (i + 1 == n_ref) break;
        assert_int_equal(infer_ctx_decode(c, &tok, NULL, NULL, 1), INFER_OK);
        assert_int_equal(infer_ctx_n_past(c), n + i + 1);
        tok = test_argmax(infer_ctx_logits(c, 0), V);
    }
    free(ids);
    free(ref);
    free(prompt_path);
    free(greedy_path);
    infer_ctx_free(c);
}

/* llama.cpp's perplexity: chunks of n_ctx tokens (first replaced by BOS), each from an
 * empty cache, scoring positions n_ctx/2 .. n_ctx-2 against the next token. */
static void test_perplexity(void **state) {
    (void)state;
    if (strcmp(g_name, "stories260K") != 0) skip();
    enum { N_CTX = 128 };
    char *text_path = fixture("%s", "text/stories-public.txt");
    char *ppl_path = fixture("golden/%s.ppl.txt", g_name);
    size_t len = 0;
    char *text = test_read_all(text_path, &len);
    char *ppl_text = test_read_all(ppl_path, NULL);
    const double ref_ppl = strtod(ppl_text, NULL);

    size_t n_tok = 0;
    infer_tokenize(g_model, text, len, 1, 0, NULL, 0, &n_tok);
    int32_t *toks = malloc(n_tok * sizeof *toks);
    assert_int_equal(infer_tokenize(g_model, text, len, 1, 0, toks, n_tok, &n_tok), INFER_OK);
    infer_ctx *c = new_ctx(N_CTX);
    int n_chunk = 0;
    const double ppl = test_chunk_perplexity(c, g_model, toks, n_tok, N_CTX, &n_chunk);
    assert_true(n_chunk >= 2);
    printf("  perplexity %.4f over %d chunks (reference %.4f)\n", ppl, n_chunk, ref_ppl);
    assert_true(fabs(ppl - ref_ppl) <= 0.005 * ref_ppl);

    free(toks);
    free(text);
    free(ppl_text);
    free(text_path);
    free(ppl_path);
    infer_ctx_free(c);
}

/* The tools the reference files were made with: infer-cli --tokens-file must write the
 * same logits and print the greedy continuation, infer-perplexity must end with the
 * reference's perplexity. Run for stories260K only (they are tested through the library
 * for every model above). Skipped when the tools are not built. */
static char *run_tool(const char *cmd) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    size_t got;
    while (len + 1 < cap && (got = fread(out + len, 1, cap - 1 - len, p)) > 0) len += got;
    if (pclose(p) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static void test_tools(void **state) {
    (void)state;
    if (strcmp(g_name, "stories260K") != 0) skip();
    char cli[512], ppl_tool[512];
    snprintf(cli, sizeof cli, "%s/infer-cli", INFER_TOOLS_DIR);
    snprintf(ppl_tool, sizeof ppl_tool, "%s/infer-perplexity", INFER_TOOLS_DIR);
    if (access(cli, X_OK) != 0 || access(ppl_tool, X_OK) != 0) skip();
    char *prompt_path = fixture("golden/%s.prompt.txt", g_name);
    char *greedy_path = fixture("golden/%s.greedy.txt", g_name);
    char *logits_path = fixture("golden/%s.logits.f32", g_name);
    char *text_path = fixture("%s", "text/stories-public.txt");
    char *ppl_path = fixture("golden/%s.ppl.txt", g_name);
    char out_path[] = "/tmp/infer_test_golden_XXXXXX";
    int fd = mkstemp(out_path);
    assert_true(fd >= 0);
    close(fd);

    /* a cross build runs the tools under its emulator (tests/golden.cmake) */
    const char *emu = getenv("INFER_TEST_EMULATOR");
    if (!emu) emu = "";
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s '%s' -m '%s' --tokens-file '%s' --logits-out '%s' --greedy 32 -t %d --backend %s 2>/dev/null",
             emu, cli, g_model_path, prompt_path, out_path, N_THREADS, g_backend == INFER_BACKEND_VULKAN ? "vulkan" : "cpu");
    char *out = run_tool(cmd);
    assert_non_null(out);
    char *ref_greedy = test_read_all(greedy_path, NULL);
    int32_t n_ours = 0, n_ref = 0;
    FILE *a = fmemopen(out, strlen(out), "r"), *b = fmemopen(ref_greedy, strlen(ref_greedy), "r");
    int x, y;
    while (fscanf(b, "%d", &y) == 1) {
        n_ref++;
        if (fscanf(a, "%d", &x) != 1 || x != y) fail_msg("infer-cli greedy token %d differs", n_ref);
        n_ours++;
    }
    fclose(a);
    fclose(b);
    assert_int_equal(n_ours, 32);

    size_t na = 0, nb = 0;
    float *ours = test_read_all(out_path, &na), *ref = test_read_all(logits_path, &nb);
    assert_int_equal(na, nb);
    const int32_t V = infer_model_n_vocab(g_model);
    double kl = 0;
    for (size_t i = 0; i < na / sizeof(float) / (size_t)V; i++) kl += test_kl_row(ref + i * V, ours + i * V, V);
    assert_true(kl / (na / sizeof(float) / (size_t)V) <= 1e-5);
    unlink(out_path);

    snprintf(cmd, sizeof cmd, "%s '%s' -m '%s' -f '%s' -c 128 -t %d --backend %s 2>/dev/null", emu, ppl_tool, g_model_path,
             text_path, N_THREADS, g_backend == INFER_BACKEND_VULKAN ? "vulkan" : "cpu");
    char *ppl_out = run_tool(cmd);
    assert_non_null(ppl_out);
    const char *line = strstr(ppl_out, "Final estimate: PPL = ");
    assert_non_null(line);
    char *ppl_text = test_read_all(ppl_path, NULL);
    const double ppl = strtod(line + strlen("Final estimate: PPL = "), NULL), ref_ppl = strtod(ppl_text, NULL);
    printf("  infer-perplexity: %s", line);
    assert_true(fabs(ppl - ref_ppl) <= 0.005 * ref_ppl);

    free(out);
    free(ref_greedy);
    free(ours);
    free(ref);
    free(ppl_out);
    free(ppl_text);
    free(prompt_path);
    free(greedy_path);
    free(logits_path);
    free(text_path);
    free(ppl_path);
}

int main(int argc, char **argv) {
    if (argc > 1) g_name = argv[1];
    if (argc > 2) {
        if (strcmp(argv[2], "vulkan") == 0) g_backend = INFER_BACKEND_VULKAN;
        else if (strcmp(argv[2], "cpu") != 0) {
            fprintf(stderr, "usage: %s [MODEL-NAME] [cpu|vulkan [NGL|all [N-CPU-MOE]]]\n", argv[0]);
            return 2;
        }
    }
    if (argc > 3) {
        g_split = 1;
        g_ngl = strcmp(argv[3], "all") == 0 ? INFER_GPU_LAYERS_ALL : atoi(argv[3]);
        if (argc > 4) g_cpu_moe = atoi(argv[4]);
    }
    g_model_path = fixture("models/%s.gguf", g_name);
    infer_error err;
    if (infer_model_load(g_model_path, NULL, &g_model, &err) != INFER_OK) {
        printf("cannot load %s: %s\n", g_model_path, err.message);
        return 1;
    }
    if (g_backend == INFER_BACKEND_VULKAN) {   /* no usable device: skipped, not failed */
        infer_ctx_params cp = infer_ctx_default_params();
        cp.n_ctx = 16;
        cp.backend = g_backend;
        infer_ctx *c = NULL;
        if (infer_ctx_new(g_model, &cp, &c, &err) != INFER_OK) {
            if (err.status != INFER_ERR_NO_DEVICE) {   /* a device that fails is a failure */
                printf("FAIL: vulkan context: %s\n", err.message);
                infer_model_free(g_model);
                return 1;
            }
            printf("SKIPPED: vulkan backend unavailable: %s\n", err.message);
            infer_model_free(g_model);
            return TEST_SKIP_EXIT;
        }
        infer_ctx_free(c);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logits),
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_perplexity),
        cmocka_unit_test(test_tools),
    };
    int rc = cmocka_run_group_tests_name(g_name, tests, NULL, NULL);
    infer_model_free(g_model);
    free(g_model_path);
    return rc;
}
