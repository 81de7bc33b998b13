/* Hostile input at run time, on a model that loaded fine: decode with token ids out of
 * range, positions negative / beyond the window / out of order, n = 0, a prompt longer
 * than the context; tokenizing invalid UTF-8; detokenizing ids out of range; sampling
 * NaN and infinite logits; weights full of NaN (a MoE router among them). Each call must
 * return a status (with a message on the context) and leave the cache usable. */
#include "test_hostile_model.h"

#include <math.h>

static infer_model *g_model;   /* stories260K */
static infer_ctx *g_ctx;       /* n_ctx 64, CPU, 1 thread */

#define N_CTX 64

static void assert_finite_row(const float *l, int32_t n) {
    assert_non_null(l);
    for (int32_t i = 0; i < n; i++)
        if (!isfinite(l[i])) fail_msg("logit %d is %g", (int)i, l[i]);
}

/* INFER_HOSTILE_BACKEND=vulkan runs the same cases on the GPU backend (on a machine
 * that has one); the default is the CPU. */
static infer_backend_kind test_backend(void) {
    const char *b = getenv("INFER_HOSTILE_BACKEND");
    return b && strcmp(b, "vulkan") == 0 ? INFER_BACKEND_VULKAN : INFER_BACKEND_CPU;
}

static infer_ctx *new_ctx(infer_model *m, uint32_t n_ctx) {
    infer_ctx_params p = infer_ctx_default_params();
    p.backend = test_backend();
    p.n_threads = 1;
    p.n_ctx = n_ctx;
    infer_ctx *c = NULL;
    infer_error err = {0};
    if (infer_ctx_new(m, &p, &c, &err) != INFER_OK) fail_msg("infer_ctx_new: %s", err.message);
    return c;
}

/* A refused decode leaves the cache as it was and says why on the context. */
static void expect_decode_refused(const int32_t *toks, const int32_t *pos, int32_t n, infer_status want,
                                  const char *needle) {
    int32_t before = infer_ctx_n_past(g_ctx);
    infer_status st = infer_ctx_decode(g_ctx, toks, pos, NULL, n);
    const char *msg = infer_ctx_last_error(g_ctx);
    print_message("  decode n=%d: %s: %s\n", (int)n, infer_status_str(st), msg);
    assert_int_equal(st, want);
    if (!strstr(msg, needle)) fail_msg("message '%s' lacks '%s'", msg, needle);
    assert_int_equal(infer_ctx_n_past(g_ctx), before);
}

static void test_decode_bad_tokens(void **s) {
    (void)s;
    infer_ctx_kv_clear(g_ctx);
    const int32_t bad[] = {-1, 512, INT32_MIN, INT32_MAX, 1000000000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t toks[3] = {1, 100, bad[i]};
        expect_decode_refused(toks, NULL, 3, INFER_ERR_INVALID_ARG, "token");
    }
    int32_t toks[2] = {1, 100};
    expect_decode_refused(toks, NULL, 0, INFER_ERR_INVALID_ARG, "n = 0");
    expect_decode_refused(toks, NULL, -5, INFER_ERR_INVALID_ARG, "n = -5");
    expect_decode_refused(NULL, NULL, 2, INFER_ERR_INVALID_ARG, "no tokens");
    assert_int_equal(infer_ctx_decode(NULL, toks, NULL, NULL, 2), INFER_ERR_INVALID_ARG);
    /* still usable */
    assert_int_equal(infer_ctx_decode(g_ctx, toks, NULL, NULL, 2), INFER_OK);
    assert_finite_row(infer_ctx_logits(g_ctx, 1), 512);
}

static void test_decode_bad_positions(void **s) {
    (void)s;
    infer_ctx_kv_clear(g_ctx);
    int32_t toks[3] = {1, 100, 200};
    int32_t neg[3] = {0, 1, -1}, far[3] = {0, 1, N_CTX}, huge[3] = {0, INT32_MAX, 2}, minus[3] = {INT32_MIN, 0, 1};
    expect_decode_refused(toks, neg, 3, INFER_ERR_INVALID_ARG, "negative position");
    expect_decode_refused(toks, minus, 3, INFER_ERR_INVALID_ARG, "negative position");
    expect_decode_refused(toks, far, 3, INFER_ERR_CONTEXT_FULL, "context window");
    expect_decode_refused(toks, huge, 3, INFER_ERR_CONTEXT_FULL, "context window");

    /* Out of order, repeated, and with gaps: no error is owed, but the logits must be
     * numbers and the cache keeps working. */
    int32_t shuffled[3] = {2, 0, 1}, same[3] = {5, 5, 5}, gap[3] = {10, 40, N_CTX - 1};
    const int8_t all[3] = {1, 1, 1};
    const int32_t *cases[] = {shuffled, same, gap};
    for (int k = 0; k < 3; k++) {
        infer_ctx_kv_clear(g_ctx);
        assert_int_equal(infer_ctx_decode(g_ctx, toks, cases[k], all, 3), INFER_OK);
        for (int32_t i = 0; i < 3; i++) assert_finite_row(infer_ctx_logits(g_ctx, i), 512);
    }
    assert_int_equal(infer_ctx_n_past(g_ctx), N_CTX);
    /* the window is full: one more token without positions does not fit */
    expect_decode_refused(toks, NULL, 1, INFER_ERR_CONTEXT_FULL, "context window");
    /* truncation with odd arguments is ignored or clamps, never breaks the cache */
    infer_ctx_kv_truncate(g_ctx, -7);
    infer_ctx_kv_truncate(g_ctx, INT32_MAX);
    assert_int_equal(infer_ctx_n_past(g_ctx), N_CTX);
    infer_ctx_kv_truncate(g_ctx, 3);
    assert_int_equal(infer_ctx_n_past(g_ctx), 3);
    assert_int_equal(infer_ctx_decode(g_ctx, toks, NULL, NULL, 1), INFER_OK);
    assert_int_equal(infer_ctx_n_past(g_ctx), 4);
    infer_ctx_kv_truncate(NULL, 0);
    infer_ctx_kv_clear(NULL);
}

/* A prompt longer than the window: INFER_ERR_CONTEXT_FULL before anything runs. */
static void test_prompt_longer_than_context(void **s) {
    (void)s;
    infer_ctx_kv_clear(g_ctx);
    char text[2048];
    size_t len = 0;
    while (len + 32 < sizeof text) len += (size_t)snprintf(text + len, sizeof text - len, "Once upon a time, ");
    int32_t toks[1024];
    size_t n = 0;
    assert_int_equal(infer_tokenize(g_model, text, len, 1, 0, toks, 1024, &n), INFER_OK);
    assert_true(n > N_CTX);
    expect_decode_refused(toks, NULL, (int32_t)n, INFER_ERR_CONTEXT_FULL, "context window");
    assert_int_equal(infer_ctx_n_past(g_ctx), 0);
    /* exactly the window fits; one more token does not */
    assert_int_equal(infer_ctx_decode(g_ctx, toks, NULL, NULL, N_CTX), INFER_OK);
    assert_finite_row(infer_ctx_logits(g_ctx, N_CTX - 1), 512);
    expect_decode_refused(toks, NULL, 1, INFER_ERR_CONTEXT_FULL, "context window");
    /* half in, half out: refused as a whole */
    infer_ctx_kv_truncate(g_ctx, N_CTX - 2);
    expect_decode_refused(toks, NULL, 3, INFER_ERR_CONTEXT_FULL, "context window");
    assert_int_equal(infer_ctx_n_past(g_ctx), N_CTX - 2);
}

static void test_logits_access(void **s) {
    (void)s;
    infer_ctx_kv_clear(g_ctx);
    int32_t toks[4] = {1, 2, 3, 4};
    const int8_t none[4] = {0, 0, 0, 0};
    assert_int_equal(infer_ctx_decode(g_ctx, toks, NULL, none, 4), INFER_OK);
    for (int32_t i = -2; i < 6; i++) assert_null(infer_ctx_logits(g_ctx, i));
    assert_null(infer_ctx_logits(g_ctx, INT32_MAX));
    assert_null(infer_ctx_logits(g_ctx, INT32_MIN));
    assert_null(infer_ctx_logits(NULL, 0));
    /* a refused decode does not leave stale rows readable as the new call's */
    assert_int_equal(infer_ctx_decode(g_ctx, toks, NULL, NULL, 4), INFER_OK);
    assert_non_null(infer_ctx_logits(g_ctx, 3));
}

static bool valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!k || i + k > n) return false;
        uint32_t cp = k == 1 ? c : k == 2 ? (c & 0x1Fu) : k == 3 ? (c & 0x0Fu) : (c & 0x07u);
        for (size_t j = 1; j < k; j++) {
            unsigned char d = (unsigned char)s[i + j];
            if ((d & 0xC0) != 0x80) return false;
            cp = cp << 6 | (d & 0x3Fu);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += k;
    }
    return true;
}

/* Random bytes (seeded) as prompts: every id in range, the batch decodes, and the
 * streaming detokenizer only ever hands out valid UTF-8. */
static void test_invalid_utf8_prompts(void **s) {
    (void)s;
    uint32_t seed = 0x9e3779b9u;
    char text[96];
    int32_t toks[512];
    char out[256];
    for (int round = 0; round < 200; round++) {
        size_t len = 1 + round % 64;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1664525u + 1013904223u;
            uint8_t b = (uint8_t)(seed >> 24);
            /* bias towards UTF-8 lead/continuation bytes and the SPM space marker */
            text[i] = (char)(round % 3 == 0 ? (b | 0x80) : round % 3 == 1 ? (b & 0x3F) + 0xC0 : b);
        }
        size_t n = 0;
        assert_int_equal(infer_tokenize(g_model, text, len, 1, round & 1, toks, 512, &n), INFER_OK);
        assert_true(n >= 1 && n <= 512);
        for (size_t i = 0; i < n; i++) assert_true(toks[i] >= 0 && toks[i] < 512);
        if (n > N_CTX) n = N_CTX;
        infer_ctx_kv_clear(g_ctx);
        assert_int_equal(infer_ctx_decode(g_ctx, toks, NULL, NULL, (int32_t)n), INFER_OK);
        assert_finite_row(infer_ctx_logits(g_ctx, (int32_t)n - 1), 512);

        infer_detok *d = infer_detok_new(g_model);
        assert_non_null(d);
        for (size_t i = 0; i < n; i++) {
            size_t m = 0;
            assert_int_equal(infer_detok_push(d, toks[i], out, sizeof out, &m), INFER_OK);
            assert_true(valid_utf8(out, m));
        }
        size_t m = 0;
        assert_int_equal(infer_detok_flush(d, out, sizeof out, &m), INFER_OK);
        assert_true(valid_utf8(out, m));
        /* ids outside the vocabulary are refused, the stream goes on */
        assert_int_not_equal(infer_detok_push(d, -1, out, sizeof out, &m), INFER_OK);
        assert_int_not_equal(infer_detok_push(d, 512, out, sizeof out, &m), INFER_OK);
        infer_detok_free(d);
    }
    /* tiny buffers and NULL arguments */
    size_t n = 0;
    assert_int_equal(infer_tokenize(g_model, "hello", 5, 1, 0, NULL, 0, &n), INFER_ERR_BUFFER_SMALL);
    assert_true(n > 1);
    assert_int_equal(infer_tokenize(g_model, NULL, 0, 1, 0, toks, 4, &n), INFER_OK);
    assert_int_not_equal(infer_tokenize(g_model, NULL, 5, 1, 0, toks, 4, &n), INFER_OK);
    assert_int_not_equal(infer_tokenize(NULL, "x", 1, 1, 0, toks, 4, &n), INFER_OK);
    assert_int_equal(infer_token_to_bytes(g_model, 300, NULL, 0, &n), INFER_ERR_BUFFER_SMALL);
    assert_int_equal(infer_token_to_bytes(g_model, INT32_MIN, out, sizeof out, &n), INFER_ERR_NOT_FOUND);
    assert_null(infer_token_text(g_model, 512));
    assert_null(infer_token_text(g_model, -1));
    assert_false(infer_token_is_eog(g_model, INT32_MAX));
    assert_null(infer_detok_new(NULL));
    infer_detok *dt = (infer_detok *)&n;   /* set to NULL on failure */
    infer_error e = {0};
    assert_int_equal(infer_detok_init(NULL, &dt, &e), INFER_ERR_INVALID_ARG);
    assert_null(dt);
    assert_non_null(strstr(e.message, "infer_detok_init"));
    assert_int_equal(infer_detok_init(g_model, NULL, NULL), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_detok_init(g_model, &dt, NULL), INFER_OK);
    assert_non_null(dt);
    infer_detok_free(dt);

    /* chat rendering with malformed messages */
    infer_chat_msg msgs[2] = {{"user", NULL}, {NULL, "x"}};
    assert_int_equal(infer_chat_render(g_model, msgs, 1, 1, out, sizeof out, &n), INFER_OK);
    assert_int_equal(infer_chat_render(g_model, msgs, 2, 1, out, sizeof out, &n), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_chat_render(g_model, NULL, 3, 1, out, sizeof out, &n), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_chat_render(g_model, NULL, 0, 1, out, sizeof out, &n), INFER_OK);
    assert_int_equal(infer_chat_render(g_model, msgs, 1, 0, NULL, 0, &n), INFER_ERR_BUFFER_SMALL);
    assert_true(n > 0);
}

/* ---------------------------------------------------------------- sampling */

static void test_sampler_nan_inf(void **s) {
    (void)s;
    enum { NV = 64 };
    float logits[NV];
    infer_sampler_params base = infer_sampler_default_params();
    infer_sampler_params ps[12];
    for (int i = 0; i < 12; i++) ps[i] = base;
    ps[1].temperature = 0.0f;
    ps[2].top_k = 1;
    ps[3].top_k = INT32_MAX; ps[3].top_p = 0.0f; ps[3].min_p = 1.0f;
    ps[4].temperature = 1e-30f; ps[4].top_k = 0; ps[4].top_p = 1.0f; ps[4].min_p = 0.0f;
    ps[5].temperature = INFINITY; ps[5].top_k = -3;
    ps[6].temperature = NAN; ps[6].top_p = NAN; ps[6].min_p = NAN;
    ps[7].repeat_penalty = NAN; ps[7].presence_penalty = INFINITY; ps[7].frequency_penalty = -INFINITY;
    ps[8].repeat_penalty = 0.0f; ps[8].penalty_last_n = 3;
    ps[9].repeat_penalty = 1e-30f; ps[9].frequency_penalty = 1e30f; ps[9].penalty_last_n = 1000;
    ps[10].top_p = -1.0f; ps[10].min_p = 1e30f; ps[10].temperature = 1e30f;
    ps[11].min_p = -INFINITY; ps[11].top_p = INFINITY; ps[11].top_k = 0; ps[11].seed = UINT64_MAX;
    for (int pi = 0; pi < 12; pi++) {
        infer_sampler *sm = infer_sampler_new(&ps[pi], NV);
        assert_non_null(sm);
        for (int t = -3; t < NV + 3; t++) infer_sampler_accept(sm, t % 7 == 0 ? INT32_MIN : t);
        for (int pattern = 0; pattern < 9; pattern++) {
            for (int i = 0; i < NV; i++) {
                switch (pattern) {
                case 0: logits[i] = NAN; break;
                case 1: logits[i] = INFINITY; break;
                case 2: logits[i] = -INFINITY; break;
                case 3: logits[i] = i == 17 ? 1.0f : NAN; break;
                case 4: logits[i] = i == 33 ? INFINITY : (float)i; break;
                case 5: logits[i] = i % 2 ? -INFINITY : 3e38f; break;
                case 6: logits[i] = i % 3 ? 1e-45f : -3e38f; break;
                case 7: logits[i] = i % 5 == 0 ? NAN : i % 5 == 1 ? INFINITY : i % 5 == 2 ? -INFINITY : (float)i; break;
                default: logits[i] = 0.0f; break;
                }
            }
            int32_t tok = infer_sampler_sample(sm, logits);
            if (tok < 0 || tok >= NV) fail_msg("params %d, pattern %d: token %d", pi, pattern, (int)tok);
            if (pattern == 3) assert_int_equal(tok, 17);
            if (pattern == 4 && ps[pi].repeat_penalty == 1.0f && ps[pi].presence_penalty == 0.0f &&
                ps[pi].frequency_penalty == 0.0f)
                assert_int_equal(tok, 33);
            infer_sampler_accept(sm, tok);
        }
        infer_sampler_reset(sm);
        infer_sampler_free(sm);
    }
    assert_null(infer_sampler_new(&base, 0));
    assert_null(infer_sampler_new(&base, -5));
    assert_int_equal(infer_sampler_sample(NULL, logits), -1);
    infer_sampler *sm = infer_sampler_new(NULL, NV);
    assert_non_null(sm);
    assert_int_equal(infer_sampler_sample(sm, NULL), -1);
    infer_sampler_accept(NULL, 3);
    infer_sampler_free(sm);
    infer_sampler_free(NULL);
}

/* ---------------------------------------------------------------- hostile weights */

/* Fills every listed tensor of g with `value` (F32 tensors only) and decodes a prompt.
 * The logits may be NaN; what matters is that nothing crashes and sampling still picks
 * a token inside the vocabulary. */
static void decode_with_poisoned(const infer_gguf *g, const char *const *names, float value, const char *file) {
    infer_gguf_writer *w = hm_clone(g, NULL, names);
    for (const char *const *n = names; *n; n++) {
        int64_t ti = infer_gguf_find_tensor(g, *n);
        assert_true(ti >= 0);
        assert_int_equal(infer_gguf_tensor_type(g, ti), INFER_TYPE_F32);
        uint64_t ne[4] = {1, 1, 1, 1}, count = 1;
        uint32_t nd = infer_gguf_tensor_n_dims(g, ti);
        for (uint32_t d = 0; d < nd; d++) count *= (ne[d] = infer_gguf_tensor_dim(g, ti, d));
        float *data = malloc(count * sizeof *data);
        assert_non_null(data);
        for (uint64_t i = 0; i < count; i++) data[i] = value;
        hm_add_tensor(w, *n, INFER_TYPE_F32, nd, ne, data);
        free(data);
    }
    infer_model *m = hm_expect_loads(w, file, 0);
    infer_ctx *c = new_ctx(m, 32);
    int32_t toks[8] = {1, 20, 30, 40, 50, 60, 70, 80};
    assert_int_equal(infer_ctx_decode(c, toks, NULL, NULL, 8), INFER_OK);
    const float *l = infer_ctx_logits(c, 7);
    assert_non_null(l);
    int32_t nv = infer_model_n_vocab(m);
    infer_sampler *sm = infer_sampler_new(NULL, nv);
    int32_t t = infer_sampler_sample(sm, l);
    assert_true(t >= 0 && t < nv);
    assert_int_equal(infer_ctx_decode(c, &t, NULL, NULL, 1), INFER_OK);
    infer_sampler_free(sm);
    infer_ctx_free(c);
    infer_model_free(m);
}

static void test_poisoned_weights(void **s) {
    (void)s;
    infer_gguf *llama = hm_open_fixture("models/stories260K.gguf");
    const char *embd[] = {"token_embd.weight", NULL};
    decode_with_poisoned(llama, embd, NAN, "nan_embd.gguf");
    decode_with_poisoned(llama, embd, INFINITY, "inf_embd.gguf");
    const char *norm[] = {"blk.0.attn_norm.weight", "output_norm.weight", NULL};
    decode_with_poisoned(llama, norm, 3e38f, "huge_norm.gguf");
    infer_gguf_close(llama);

    /* NaN activations into quantized matmuls (activation quantization sees NaN) */
    infer_gguf *q4 = hm_open_fixture("models/synth-llama-Q4_K_M.gguf");
    const char *q4_norm[] = {"blk.0.attn_norm.weight", "blk.1.ffn_norm.weight", NULL};
    decode_with_poisoned(q4, q4_norm, NAN, "nan_q4.gguf");
    decode_with_poisoned(q4, q4_norm, INFINITY, "inf_q4.gguf");
    infer_gguf_close(q4);

    /* NaN router logits must not select an expert outside [0, n_expert) */
    infer_gguf *moe = hm_open_fixture("models/synth-gptoss-MXFP4_MOE.gguf");
    const char *router[] = {"blk.0.ffn_gate_inp.weight", "blk.1.ffn_gate_inp.weight", NULL};
    decode_with_poisoned(moe, router, NAN, "nan_router.gguf");
    decode_with_poisoned(moe, router, -INFINITY, "ninf_router.gguf");
    const char *sinks[] = {"blk.0.attn_sinks.weight", "blk.1.attn_sinks.weight", NULL};
    decode_with_poisoned(moe, sinks, INFINITY, "inf_sinks.gguf");
    decode_with_poisoned(moe, sinks, NAN, "nan_sinks.gguf");
    infer_gguf_close(moe);
}

/* Odd values that are still a model: each loads, decodes and samples inside the
 * vocabulary (the logits may be poor; nothing may crash or read out of bounds). */
typedef struct odd_key { const char *key; int is_float; double value; } odd_key;

static void decode_with_key(const infer_gguf *g, const odd_key *k, const char *file) {
    const char *skip[] = {k->key, NULL};
    infer_gguf_writer *w = hm_clone(g, skip, NULL);
    if (k->is_float) infer_gguf_writer_set_f32(w, k->key, (float)k->value);
    else infer_gguf_writer_set_u32(w, k->key, (uint32_t)k->value);
    infer_model *m = hm_expect_loads(w, file, 0);
    infer_ctx *c = new_ctx(m, 32);
    int32_t toks[8] = {1, 20, 30, 40, 50, 60, 70, 80};
    const int8_t all[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    infer_status st = infer_ctx_decode(c, toks, NULL, all, 8);
    if (st != INFER_OK) fail_msg("%s = %g: decode %s: %s", k->key, k->value, infer_status_str(st), infer_ctx_last_error(c));
    int32_t nv = infer_model_n_vocab(m);
    infer_sampler *sm = infer_sampler_new(NULL, nv);
    for (int32_t i = 0; i < 8; i++) {
        int32_t t = infer_sampler_sample(sm, infer_ctx_logits(c, i));
        assert_true(t >= 0 && t < nv);
    }
    infer_sampler_free(sm);
    infer_ctx_free(c);
    infer_model_free(m);
}

static void test_odd_but_valid_hparams(void **s) {
    (void)s;
    infer_gguf *llama = hm_open_fixture("models/stories260K.gguf");
    const odd_key llama_keys[] = {
        {"llama.attention.layer_norm_rms_epsilon", 1, 0.0},
        {"llama.rope.dimension_count", 0, 2},
        {"llama.rope.freq_base", 1, 1e-30},
        {"llama.rope.freq_base", 1, 1e30},
        {"llama.context_length", 0, 4294967295.0},
        {"llama.rope.scale_linear", 1, 1e-30},
    };
    for (size_t i = 0; i < sizeof llama_keys / sizeof llama_keys[0]; i++) {
        char file[32];
        snprintf(file, sizeof file, "oddl%zu.gguf", i);
        decode_with_key(llama, &llama_keys[i], file);
    }
    infer_gguf_close(llama);
    infer_gguf *moe = hm_open_fixture("models/synth-gptoss-MXFP4_MOE.gguf");
    const odd_key moe_keys[] = {
        {"gpt-oss.expert_used_count", 0, 8},
        {"gpt-oss.expert_used_count", 0, 1},
        {"gpt-oss.attention.sliding_window", 0, 1},
        {"gpt-oss.attention.sliding_window", 0, 2147483647.0},
        {"gpt-oss.rope.scaling.original_context_length", 0, 0},
        {"gpt-oss.rope.scaling.original_context_length", 0, 4294967295.0},
        {"gpt-oss.rope.scaling.factor", 1, 1e30},
        {"gpt-oss.rope.scaling.factor", 1, 1e-30},
        {"gpt-oss.rope.scaling.yarn_beta_fast", 1, 0.0},
        {"gpt-oss.rope.scaling.yarn_beta_fast", 1, -5.0},
        {"gpt-oss.rope.scaling.yarn_beta_slow", 1, 1e30},
        {"gpt-oss.rope.scaling.yarn_log_multiplier", 1, 1e30},
        {"gpt-oss.rope.scaling.attn_factor", 1, 0.0},
        {"gpt-oss.rope.freq_base", 1, 1.0},
    };
    for (size_t i = 0; i < sizeof moe_keys / sizeof moe_keys[0]; i++) {
        char file[32];
        snprintf(file, sizeof file, "oddm%zu.gguf", i);
        decode_with_key(moe, &moe_keys[i], file);
    }
    infer_gguf_close(moe);
}

/* Every weight type the traits table calls supported, in a matmul slot and in the
 * embedding: either refused at load with the tensor's name or computed without a crash. */
static void test_every_type_in_every_slot(void **s) {
    (void)s;
    infer_gguf *llama = hm_open_fixture("models/stories260K.gguf");
    for (uint32_t type = 0; type < INFER_TYPE_COUNT; type++) {
        const infer_dtype_traits *tr = infer_dtype_traits_get(type);
        if (!tr || !tr->supported || 64 % tr->block_size != 0) continue;
        for (int slot = 0; slot < 3; slot++) {
            const char *name = slot == 0 ? "blk.1.attn_q.weight" : slot == 1 ? "token_embd.weight" : "output.weight";
            uint64_t ne[2] = {64, slot == 0 ? 64 : 512};
            const char *skip[] = {name, NULL};
            infer_gguf_writer *w = hm_clone(llama, NULL, skip);
            size_t bytes = infer_dtype_row_bytes(type, 64) * ne[1];
            uint8_t *data = malloc(bytes);
            assert_non_null(data);
            uint32_t x = 1234567u + type;
            for (size_t i = 0; i < bytes; i++) data[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
            hm_add_tensor(w, name, type, 2, ne, data);
            free(data);
            char file[64];
            snprintf(file, sizeof file, "type%u_%d.gguf", type, slot);
            char *path = hm_save(w, file);
            infer_model *m = NULL;
            infer_error err = {0};
            infer_status st = infer_model_load(path, NULL, &m, &err);
            if (st != INFER_OK) {
                print_message("  %s %s: %s\n", tr->name, name, err.message);
                assert_non_null(strstr(err.message, name));
            } else {
                infer_ctx *c = new_ctx(m, 16);
                int32_t toks[4] = {1, 2, 300, 511};
                st = infer_ctx_decode(c, toks, NULL, NULL, 4);
                print_message("  %s %s: decode %s %s\n", tr->name, name, infer_status_str(st),
                              infer_ctx_last_error(c));
                if (st != INFER_OK) assert_true(strlen(infer_ctx_last_error(c)) > 0);
                infer_ctx_free(c);
                infer_model_free(m);
            }
            unlink(path);
            free(path);
        }
    }
    infer_gguf_close(llama);
}

/* Context parameters a caller can get wrong. */
static void test_bad_ctx_params(void **s) {
    (void)s;
    infer_ctx_params p = infer_ctx_default_params();
    p.backend = test_backend();
    p.n_threads = 1;
    infer_ctx *c = (infer_ctx *)&p;
    infer_error err = {0};
    p.kv_type = (infer_kv_type)7;
    assert_int_equal(infer_ctx_new(g_model, &p, &c, &err), INFER_ERR_INVALID_ARG);
    assert_null(c);
    p.kv_type = INFER_KV_F16;
    p.backend = (infer_backend_kind)99;
    assert_int_equal(infer_ctx_new(g_model, &p, &c, &err), INFER_ERR_INVALID_ARG);
    p.backend = test_backend();
    p.n_ctx = 0xFFFFFFFFu;
    assert_int_equal(infer_ctx_new(g_model, &p, &c, &err), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "n_ctx"));
    assert_int_equal(infer_ctx_new(NULL, &p, &c, &err), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_ctx_new(g_model, &p, NULL, &err), INFER_ERR_INVALID_ARG);
    /* n_batch larger than the window, n_threads negative: clamped */
    p.n_ctx = 8;
    p.n_batch = 0xFFFFFFFFu;
    p.n_threads = -9;
    assert_int_equal(infer_ctx_new(g_model, &p, &c, &err), INFER_OK);
    int32_t toks[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(infer_ctx_decode(c, toks, NULL, NULL, 9), INFER_ERR_CONTEXT_FULL);
    assert_int_equal(infer_ctx_decode(c, toks, NULL, NULL, 8), INFER_OK);
    infer_ctx_free(c);

    /* a model whose training context is 0 needs an explicit n_ctx */
    infer_gguf *llama = hm_open_fixture("models/stories260K.gguf");
    const char *skip[] = {"llama.context_length", NULL};
    infer_gguf_writer *w = hm_clone(llama, skip, NULL);
    infer_gguf_writer_set_u32(w, "llama.context_length", 0);
    infer_model *m = hm_expect_loads(w, "ctx0.gguf", 0);
    p = infer_ctx_default_params();
    p.backend = test_backend();
    p.n_threads = 1;
    c = NULL;
    assert_int_equal(infer_ctx_new(m, &p, &c, &err), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "n_ctx"));
    infer_model_free(m);
    infer_gguf_close(llama);
}

/* struct_size: a struct from an older header (cut before a later field) is read up to its
 * size, the fields past it taking their defaults even when the bytes there are garbage; a
 * size no release had is refused with a message naming struct_size. */
static void test_ctx_params_size(void **s) {
    (void)s;
    infer_error err = {0};
    infer_ctx_params p = infer_ctx_default_params();
    assert_int_equal(p.struct_size, sizeof p);
    p.backend = test_backend();
    p.n_threads = 1;
    p.n_ctx = 8;
    p.n_cpu_moe = -5;   /* refused if read */
    infer_ctx *c = NULL;
    assert_int_equal(infer_ctx_new(g_model, &p, &c, &err), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "n_cpu_moe"));
    /* the same bytes from a header before n_cpu_moe: taken up to n_gpu_layers */
    p.struct_size = offsetof(infer_ctx_params, n_cpu_moe);
    assert_int_equal(infer_ctx_new(g_model, &p, &c, &err), INFER_OK);
    assert_int_equal(infer_ctx_n_ctx(c), 8);
    infer_ctx_free(c);
    /* a header with n_ctx alone: every later field its default (kv_type 7 would be refused) */
    p.kv_type = (infer_kv_type)7;
    p.struct_size = offsetof(infer_ctx_params, n_ctx) + sizeof p.n_ctx;
    c = NULL;
    assert_int_equal(infer_ctx_new(g_model, &p, &c, &err), INFER_OK);
    assert_int_equal(infer_ctx_n_ctx(c), 8);
    infer_ctx_free(c);
    /* no struct_size, too small, inside a field, larger than this header, garbage */
    const size_t bad[] = {0, 3, offsetof(infer_ctx_params, n_ctx), offsetof(infer_ctx_params, n_batch) + 2,
                          sizeof p + 4, (size_t)0xDEADBEEFu, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p.struct_size = bad[i];
        c = (infer_ctx *)&p;
        err.message[0] = 0;
        assert_int_equal(infer_ctx_new(g_model, &p, &c, &err), INFER_ERR_INVALID_ARG);
        assert_null(c);
        assert_non_null(strstr(err.message, "struct_size"));
    }
}

int main(void) {
    hm_make_dir("hostile_run");
    char *path = test_fixture_or_skip("models/stories260K.gguf");
    infer_error err = {0};
    if (infer_model_load(path, NULL, &g_model, &err) != INFER_OK) {
        fprintf(stderr, "%s: %s\n", path, err.message);
        return 1;
    }
    free(path);
    g_ctx = new_ctx(g_model, N_CTX);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_bad_tokens),
        cmocka_unit_test(test_decode_bad_positions),
        cmocka_unit_test(test_prompt_longer_than_context),
        cmocka_unit_test(test_logits_access),
        cmocka_unit_test(test_invalid_utf8_prompts),
        cmocka_unit_test(test_sampler_nan_inf),
        cmocka_unit_test(test_poisoned_weights),
        cmocka_unit_test(test_odd_but_valid_hparams),
        cmocka_unit_test(test_every_type_in_every_slot),
        cmocka_unit_test(test_bad_ctx_params),
        cmocka_unit_test(test_ctx_params_size),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    infer_ctx_free(g_ctx);
    infer_model_free(g_model);
    rmdir(hm_dir);
    return rc;
}
