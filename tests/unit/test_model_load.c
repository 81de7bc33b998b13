/* Model loading: hyperparameters and weights bound from metadata, and every way a file
 * can be wrong reported with a status and a message naming the key or tensor. Fixtures
 * are tiny llama files written here with the GGUF writer (one defect each) in a temp
 * folder, plus the shared models and a vocab-only tokenizer file. */
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

#include "gguf/gguf_writer.h"
#include "infer.h"
#include "tensor/dtype.h"
#include "testdata.h"

enum { E = 32, H = 4, HKV = 2, FF = 64, L = 2, V = 8 };

/* What to get wrong in the tiny model. */
typedef struct defect {
    const char *arch;            /* general.architecture (default llama) */
    const char *skip_tensor;     /* leave this tensor out */
    const char *skip_key;        /* leave this metadata key out */
    const char *bad_shape;       /* give this tensor one extra row */
    const char *iq3s_tensor;     /* store this tensor as IQ3_S (unsupported) */
    int with_output;             /* write output.weight (else tied) */
    const char *set_key;         /* write this u32 key with set_val (replacing or adding) */
    uint32_t set_val;
    const char *rope_scaling;    /* llama.rope.scaling.type, if set */
} defect;

static char g_dir[256];

static float *fill(size_t n, float amp) {
    float *v = malloc(n * sizeof *v);
    uint32_t s = 12345u + (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = amp * ((float)(s >> 8) / 16777216.0f - 0.5f);
    }
    return v;
}

static void add(infer_gguf_writer *w, const defect *d, const char *name, uint64_t ne0, uint64_t ne1, float amp) {
    if (d->skip_tensor && strcmp(d->skip_tensor, name) == 0) return;
    if (d->bad_shape && strcmp(d->bad_shape, name) == 0) ne1 += 1;
    uint64_t ne[2] = {ne0, ne1};
    uint32_t nd = ne1 > 1 ? 2 : 1;
    if (d->iq3s_tensor && strcmp(d->iq3s_tensor, name) == 0) {
        /* 256-element rows of IQ3_S blocks */
        uint64_t qne[2] = {256, ne1};
        size_t bytes = (size_t)ne1 * 110;
        void *raw = calloc(1, bytes);
        infer_gguf_writer_add_tensor(w, name, INFER_TYPE_IQ3_S, 2, qne, raw);
        free(raw);
        return;
    }
    float *data = fill(ne0 * ne1, amp);
    if (amp == 0) for (uint64_t i = 0; i < ne0 * ne1; i++) data[i] = 1.0f;
    infer_gguf_writer_add_tensor(w, name, INFER_TYPE_F32, nd, ne, data);
    free(data);
}

/* Writes key = v unless the defect skips or replaces it; returns 1 when it replaced. */
static int key_u32(infer_gguf_writer *w, const defect *d, const char *key, uint32_t v) {
    if (d->skip_key && strcmp(d->skip_key, key) == 0) return 0;
    int replaced = d->set_key && strcmp(d->set_key, key) == 0;
    infer_gguf_writer_set_u32(w, key, replaced ? d->set_val : v);
    return replaced;
}

/* Writes the tiny model to <g_dir>/<file> and returns its malloc'd path. */
static char *write_model(const char *file, const defect *d) {
    const char *arch = d->arch ? d->arch : "llama";
    infer_gguf_writer *w = infer_gguf_writer_new();
    char k[128];
    infer_gguf_writer_set_str(w, "general.architecture", arch);
    infer_gguf_writer_set_str(w, "general.name", "tiny");
    int replaced = 0;
#define KEY(suffix, v) (snprintf(k, sizeof k, "%s." suffix, arch), replaced += key_u32(w, d, k, (v)))
    KEY("context_length", 64);
    KEY("embedding_length", E);
    KEY("block_count", L);
    KEY("feed_forward_length", FF);
    KEY("attention.head_count", H);
    KEY("attention.head_count_kv", HKV);
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch);
    infer_gguf_writer_set_f32(w, k, 1e-5f);
    if (d->set_key && !replaced) infer_gguf_writer_set_u32(w, d->set_key, d->set_val);   /* an extra key */
    if (d->rope_scaling) {
        snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
        infer_gguf_writer_set_str(w, k, d->rope_scaling);
    }
#undef KEY
    const char *toks[V] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81" "a", "b", "c", "d", "e"};
    float scores[V] = {0, 0, 0, -1, -2, -3, -4, -5};
    int32_t types[V] = {2, 3, 3, 1, 1, 1, 1, 1};
    infer_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, V);
    infer_gguf_writer_set_arr(w, "tokenizer.ggml.scores", INFER_GGUF_FLOAT32, scores, V);
    infer_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", INFER_GGUF_INT32, types, V);
    infer_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    infer_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);

    const int hd = E / H;
    add(w, d, "token_embd.weight", E, V, 1.0f);
    add(w, d, "output_norm.weight", E, 1, 0);
    if (d->with_output) add(w, d, "output.weight", E, V, 1.0f);
    for (int il = 0; il < L; il++) {
        char n[64];
#define T(name, a, b, amp) (snprintf(n, sizeof n, "blk.%d." name, il), add(w, d, n, (a), (b), (amp)))
        T("attn_norm.weight", E, 1, 0);
        T("attn_q.weight", E, H * hd, 0.3f);
        T("attn_k.weight", E, HKV * hd, 0.3f);
        T("attn_v.weight", E, HKV * hd, 0.3f);
        T("attn_output.weight", H * hd, E, 0.3f);
        T("ffn_norm.weight", E, 1, 0);
        T("ffn_gate.weight", E, FF, 0.3f);
        T("ffn_up.weight", E, FF, 0.3f);
        T("ffn_down.weight", FF, E, 0.3f);
#undef T
    }
    char *path = malloc(512);
    snprintf(path, 512, "%s/%s", g_dir, file);
    infer_error err;
    assert_int_equal(infer_gguf_writer_save(w, path, &err), INFER_OK);
    infer_gguf_writer_free(w);
    return path;
}

/* Loads a defective file; expects status and a message containing `needle`. */
static void expect_failure(const char *file, const defect *d, infer_status want, const char *needle) {
    char *path = write_model(file, d);
    infer_model *m = (infer_model *)1;
    infer_error err = {0};
    infer_status st = infer_model_load(path, NULL, &m, &err);
    printf("  %s: %s: %s\n", file, infer_status_str(st), err.message);
    assert_int_equal(st, want);
    assert_int_equal(err.status, want);
    assert_null(m);
    assert_non_null(strstr(err.message, needle));
    unlink(path);
    free(path);
}

static void test_tiny_model_loads_and_runs(void **s) {
    (void)s;
    defect d = {0};
    char *path = write_model("ok.gguf", &d);
    infer_model *m = NULL;
    infer_error err;
    assert_int_equal(infer_model_load(path, NULL, &m, &err), INFER_OK);
    assert_string_equal(infer_model_arch(m), "llama");
    assert_string_equal(infer_model_name(m), "tiny");
    assert_int_equal(infer_model_n_vocab(m), V);
    assert_int_equal(infer_model_n_embd(m), E);
    assert_int_equal(infer_model_n_layer(m), L);
    assert_int_equal(infer_model_n_ctx_train(m), 64);
    /* tied output: token_embd counted once */
    const uint64_t per_layer = 2 * E + (uint64_t)E * E * 2 + (uint64_t)E * (E / 2) * 2 + 3 * (uint64_t)E * FF;
    assert_int_equal(infer_model_n_params(m), (uint64_t)E * V + E + L * per_layer);
    assert_int_equal(infer_model_size_bytes(m), 4 * infer_model_n_params(m));

    infer_ctx_params p = infer_ctx_default_params();
    p.backend = INFER_BACKEND_CPU;
    p.n_threads = 2;
    infer_ctx *c = NULL;
    assert_int_equal(infer_ctx_new(m, &p, &c, &err), INFER_OK);
    assert_int_equal(infer_ctx_n_ctx(c), 64);   /* n_ctx 0: the training context */
    int32_t toks[3] = {1, 3, 4};
    assert_int_equal(infer_ctx_decode(c, toks, NULL, NULL, 3), INFER_OK);
    const float *l = infer_ctx_logits(c, 2);
    assert_non_null(l);
    for (int i = 0; i < V; i++) assert_true(isfinite(l[i]));
    infer_ctx_free(c);
    infer_model_free(m);
    unlink(path);
    free(path);
}

static int g_progress_calls;
static float g_progress_last;
static int on_progress(float p, void *user) {
    g_progress_calls++;
    g_progress_last = p;
    return user != NULL && p >= 0.5f;   /* cancel half-way when asked */
}

static void test_progress_and_cancel(void **s) {
    (void)s;
    defect d = {.with_output = 1};
    char *path = write_model("progress.gguf", &d);
    infer_model_params mp = infer_model_default_params();
    mp.progress = on_progress;
    infer_model *m = NULL;
    infer_error err;
    assert_int_equal(infer_model_load(path, &mp, &m, &err), INFER_OK);
    assert_true(g_progress_calls >= 1);
    assert_true(g_progress_last == 1.0f);
    infer_model_free(m);

    mp.progress_user = &g_progress_calls;
    assert_int_equal(infer_model_load(path, &mp, &m, &err), INFER_ERR_CANCELLED);
    assert_null(m);
    unlink(path);
    free(path);
}

/* struct_size: a struct from a header before `progress` loads without reading the callback
 * there (it would cancel); sizes no release had are refused, naming struct_size. */
static void test_params_struct_size(void **s) {
    (void)s;
    defect d = {.with_output = 1};
    char *path = write_model("params-size.gguf", &d);
    infer_model_params mp = infer_model_default_params();
    assert_int_equal(mp.struct_size, sizeof mp);
    mp.progress = on_progress;
    mp.progress_user = &g_progress_calls;   /* cancels half-way when read */
    infer_model *m = NULL;
    infer_error err;
    assert_int_equal(infer_model_load(path, &mp, &m, &err), INFER_ERR_CANCELLED);
    mp.struct_size = offsetof(infer_model_params, progress);
    assert_int_equal(infer_model_load(path, &mp, &m, &err), INFER_OK);
    assert_non_null(m);
    infer_model_free(m);
    const size_t bad[] = {0, 4, offsetof(infer_model_params, vocab_only), offsetof(infer_model_params, progress) + 4,
                          sizeof mp + 8, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mp.struct_size = bad[i];
        m = (infer_model *)&mp;
        err.message[0] = 0;
        assert_int_equal(infer_model_load(path, &mp, &m, &err), INFER_ERR_INVALID_ARG);
        assert_null(m);
        assert_non_null(strstr(err.message, "struct_size"));
    }
    unlink(path);
    free(path);
}

static void test_unsupported_arch(void **s) {
    (void)s;
    defect d = {.arch = "mamba9"};
    expect_failure("arch.gguf", &d, INFER_ERR_UNSUPPORTED, "unsupported architecture: mamba9");
}

static void test_missing_tensor(void **s) {
    (void)s;
    defect d = {.skip_tensor = "blk.1.ffn_up.weight"};
    expect_failure("missing.gguf", &d, INFER_ERR_NOT_FOUND, "blk.1.ffn_up.weight");
    defect e = {.skip_tensor = "token_embd.weight"};
    expect_failure("noembd.gguf", &e, INFER_ERR_NOT_FOUND, "token_embd.weight");
}

static void test_bad_shape(void **s) {
    (void)s;
    defect d = {.bad_shape = "blk.0.attn_k.weight"};
    expect_failure("shape.gguf", &d, INFER_ERR_TYPE, "blk.0.attn_k.weight");
    defect e = {.bad_shape = "output.weight", .with_output = 1};
    expect_failure("shape_out.gguf", &e, INFER_ERR_TYPE, "output.weight");
}

static void test_unsupported_type(void **s) {
    (void)s;
    defect d = {.iq3s_tensor = "blk.1.attn_v.weight"};
    char *path = write_model("iq3s.gguf", &d);
    infer_model *m = NULL;
    infer_error err;
    assert_int_equal(infer_model_load(path, NULL, &m, &err), INFER_ERR_UNSUPPORTED);
    printf("  iq3s.gguf: %s\n", err.message);
    assert_non_null(strstr(err.message, "blk.1.attn_v.weight"));
    assert_non_null(strstr(err.message, "IQ3_S"));
    unlink(path);
    free(path);
}

static void test_missing_key(void **s) {
    (void)s;
    defect d = {.skip_key = "llama.block_count"};
    expect_failure("nokey.gguf", &d, INFER_ERR_NOT_FOUND, "llama.block_count");
}

/* A huge block_count must fail cleanly, not size allocations by it. */
static void test_hostile_block_count(void **s) {
    (void)s;
    char path[512];
    snprintf(path, sizeof path, "%s/hostile.gguf", g_dir);
    infer_error err;
    infer_gguf_writer *w = infer_gguf_writer_new();
    infer_gguf_writer_set_str(w, "general.architecture", "llama");
    infer_gguf_writer_set_u32(w, "llama.block_count", 2000000000u);
    infer_gguf_writer_set_u32(w, "llama.embedding_length", E);
    infer_gguf_writer_set_u32(w, "llama.feed_forward_length", FF);
    infer_gguf_writer_set_u32(w, "llama.attention.head_count", H);
    const char *toks[2] = {"<unk>", "<s>"};
    infer_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 2);
    float emb[E * 2] = {0}, norm[E] = {0};
    uint64_t ne[2] = {E, 2}, ne1[1] = {E};
    infer_gguf_writer_add_tensor(w, "token_embd.weight", INFER_TYPE_F32, 2, ne, emb);
    infer_gguf_writer_add_tensor(w, "output_norm.weight", INFER_TYPE_F32, 1, ne1, norm);
    assert_int_equal(infer_gguf_writer_save(w, path, &err), INFER_OK);
    infer_gguf_writer_free(w);
    infer_model *m = NULL;
    assert_int_equal(infer_model_load(path, NULL, &m, &err), INFER_ERR_FORMAT);
    assert_non_null(strstr(err.message, "block_count"));
    unlink(path);
}

/* Hyperparameters that cannot describe a model fail naming their key (or, when only the
 * weights can tell, the first tensor whose shape disagrees). */
static void test_bad_hparams(void **s) {
    (void)s;
    defect kv = {.set_key = "llama.attention.head_count_kv", .set_val = 3};
    expect_failure("kv.gguf", &kv, INFER_ERR_FORMAT, "head_count_kv");
    defect h0 = {.set_key = "llama.attention.head_count", .set_val = 0};
    expect_failure("h0.gguf", &h0, INFER_ERR_FORMAT, "head_count");
    defect rot = {.set_key = "llama.rope.dimension_count", .set_val = 7};
    expect_failure("rot.gguf", &rot, INFER_ERR_FORMAT, "rope.dimension_count");
    defect kl = {.set_key = "llama.attention.key_length", .set_val = 16};
    expect_failure("keylen.gguf", &kl, INFER_ERR_TYPE, "blk.0.attn_q.weight");
    defect rs = {.rope_scaling = "weird"};
    expect_failure("scaling.gguf", &rs, INFER_ERR_UNSUPPORTED, "rope.scaling.type");
    defect ff = {.set_key = "llama.feed_forward_length", .set_val = 65};
    expect_failure("ff.gguf", &ff, INFER_ERR_TYPE, "blk.0.ffn_gate.weight");
}

static void test_vocab_only(void **s) {
    (void)s;
    char *path = test_fixture("tokenizer/llama-spm.gguf");
    if (!path) skip();
    infer_model_params mp = infer_model_default_params();
    mp.vocab_only = 1;
    infer_model *m = NULL;
    infer_error err;
    assert_int_equal(infer_model_load(path, &mp, &m, &err), INFER_OK);
    assert_true(infer_model_n_vocab(m) > 1000);
    infer_ctx *c = NULL;
    assert_int_equal(infer_ctx_new(m, NULL, &c, &err), INFER_ERR_INVALID_ARG);
    assert_null(c);
    infer_model_free(m);
    /* without vocab_only the same file has no weights */
    assert_int_equal(infer_model_load(path, NULL, &m, &err), INFER_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "token_embd.weight"));
    free(path);
}

static void test_bad_calls(void **s) {
    (void)s;
    infer_model *m = (infer_model *)1;
    infer_error err;
    assert_int_equal(infer_model_load(NULL, NULL, &m, &err), INFER_ERR_INVALID_ARG);
    assert_null(m);
    assert_int_equal(infer_model_load("/nonexistent/model.gguf", NULL, &m, &err), INFER_ERR_IO);
    assert_int_equal(infer_model_load("x", NULL, NULL, &err), INFER_ERR_INVALID_ARG);
    infer_model_free(NULL);
    assert_int_equal(infer_model_n_vocab(NULL), 0);
}

/* The shared model files report the hyperparameters their metadata holds. */
static void test_shared_hparams(void **s) {
    (void)s;
    char *path = test_fixture("models/synth-qwen3-Q4_K_M.gguf");
    if (!path) skip();
    infer_model *m = NULL;
    infer_error err;
    assert_int_equal(infer_model_load(path, NULL, &m, &err), INFER_OK);
    assert_string_equal(infer_model_arch(m), "qwen3");
    assert_int_equal(infer_model_n_embd(m), 256);
    assert_int_equal(infer_model_n_layer(m), 3);
    assert_int_equal(infer_model_n_vocab(m), 512);
    assert_int_equal(infer_model_n_ctx_train(m), 4096);
    infer_model_free(m);
    free(path);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/infer_test_model_load_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_model_loads_and_runs),
        cmocka_unit_test(test_progress_and_cancel),
        cmocka_unit_test(test_params_struct_size),
        cmocka_unit_test(test_unsupported_arch),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_bad_shape),
        cmocka_unit_test(test_unsupported_type),
        cmocka_unit_test(test_missing_key),
        cmocka_unit_test(test_hostile_block_count),
        cmocka_unit_test(test_bad_hparams),
        cmocka_unit_test(test_vocab_only),
        cmocka_unit_test(test_bad_calls),
        cmocka_unit_test(test_shared_hparams),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_dir);
    return rc;
}
