/* CPU backend ops, through the backend ops table, against plain double-precision
 * references written here (random inputs of awkward sizes), the reference engine's
 * dequantized rows (tests/data/dequant) and its layer activations for stories260K.
 * Every case runs on a 3-thread backend so the work splits unevenly. */
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
#include "kernels/backend.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/ops.h"
#include "tensor/dtype.h"
#include "rope_ref.h"
#include "testdata.h"

static infer_backend *be;

/* ---- helpers */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) {   /* uniform in [-1, 1) */
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return ((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0 - 1.0;
}
static float *rand_vec(size_t n, double amp) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = (float)(urand() * amp);
    return v;
}

#define MAX_BUFS 64
static infer_bbuf *bufs[MAX_BUFS];
static int n_bufs;

static infer_bview buf_new(const void *data, size_t bytes, uint32_t type) {
    infer_bbuf *b = NULL;
    assert_int_equal(be->ops->alloc(be, bytes, &b), INFER_OK);
    assert_true(n_bufs < MAX_BUFS);
    bufs[n_bufs++] = b;
    infer_bview v = { b, 0, type };
    if (data) be->ops->write(be, v, data, bytes);
    return v;
}
static infer_bview no_view(void) { infer_bview v = { NULL, 0, INFER_TYPE_F32 }; return v; }
static void bufs_release(void) {
    for (int i = 0; i < n_bufs; i++) be->ops->release(be, bufs[i]);
    n_bufs = 0;
}
static void end_ok(void) {
    infer_error err = { 0 };
    infer_status st = be->ops->end(be, &err);
    if (st != INFER_OK) printf("  end(): %s\n", err.message);
    assert_int_equal(st, INFER_OK);
}
/* |got - ref| <= atol + rtol * |ref| everywhere; prints the worst element. */
static void expect_close(const float *got, const double *ref, size_t n, double atol, double rtol, const char *what) {
    double worst = 0; size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - ref[i]) - (atol + rtol * fabs(ref[i]));
        if (!(d <= 0) && (d > worst || isnan(d))) { worst = isnan(d) ? INFINITY : d; wi = i; }
    }
    if (worst > 0) printf("  %s: element %zu got %.9g want %.9g\n", what, wi, got[wi], ref[wi]);
    assert_true(worst == 0);
}

static int setup(void **state) {
    infer_error err;
    return infer_backend_cpu_new(3, &be, &err) == INFER_OK ? 0 : -1;
}
static int teardown(void **state) {
    be->ops->destroy(be);
    return 0;
}

/* ---- rms_norm */
static void check_rms_norm(int64_t rows, int64_t len, bool weight) {
    float *x = rand_vec((size_t)(rows * len), 3.0), *w = rand_vec((size_t)len, 1.5);
    const float eps = 1e-5f;
    double *ref = malloc(sizeof(double) * (size_t)(rows * len));
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0;
        for (int64_t i = 0; i < len; i++) ss += (double)x[r * len + i] * x[r * len + i];
        const double s = 1.0 / sqrt(ss / len + eps);
        for (int64_t i = 0; i < len; i++) ref[r * len + i] = x[r * len + i] * s * (weight ? w[i] : 1.0);
    }
    be->ops->begin(be);
    infer_bview vx = buf_new(x, sizeof(float) * rows * len, INFER_TYPE_F32);
    infer_bview vw = weight ? buf_new(w, sizeof(float) * len, INFER_TYPE_F32) : no_view();
    infer_bview vo = buf_new(NULL, sizeof(float) * rows * len, INFER_TYPE_F32);
    be->ops->rms_norm(be, vx, vw, rows, len, eps, vo);
    float *got = malloc(sizeof(float) * rows * len);
    be->ops->read(be, vo, got, sizeof(float) * rows * len);
    end_ok();
    expect_close(got, ref, (size_t)(rows * len), 1e-6, 2e-6, "rms_norm");
    bufs_release();
    free(x); free(w); free(ref); free(got);
}

static void test_rms_norm(void **state) {
    check_rms_norm(7, 4099, true);
    check_rms_norm(1, 64, false);
    check_rms_norm(33, 1536, true);   /* enough rows to use every thread */
}

/* ---- get_rows from the reference engine's dequantized data */
static void check_get_rows(const char *type_name, uint32_t type, int64_t row_len) {
    char rel[64];
    snprintf(rel, sizeof rel, "dequant/%s.raw", type_name);
    char *raw_path = test_fixture(rel);
    snprintf(rel, sizeof rel, "dequant/%s.f32", type_name);
    char *f32_path = test_fixture(rel);
    assert_non_null(raw_path);
    assert_non_null(f32_path);
    size_t raw_len, f32_len;
    void *raw = test_read_all(raw_path, &raw_len);
    float *want = test_read_all(f32_path, &f32_len);
    const int64_t n_rows = 4096 / row_len;
    assert_int_equal(raw_len, infer_dtype_row_bytes(type, row_len) * n_rows);
    /* odd count, repeats, first and last rows */
    const int32_t ids[] = { (int32_t)n_rows - 1, 0, 3, 3, 1, (int32_t)n_rows - 2, 2 };
    const int64_t n = sizeof ids / sizeof ids[0];
    be->ops->begin(be);
    infer_bbuf *wb = NULL;
    assert_int_equal(be->ops->weight(be, raw, raw_len, &wb), INFER_OK);
    infer_bview table = { wb, 0, type };
    infer_bview vids = buf_new(ids, sizeof ids, INFER_TYPE_I32);
    infer_bview vo = buf_new(NULL, sizeof(float) * n * row_len, INFER_TYPE_F32);
    be->ops->get_rows(be, table, row_len, vids, n, vo);
    float *got = malloc(sizeof(float) * n * row_len);
    be->ops->read(be, vo, got, sizeof(float) * n * row_len);
    end_ok();
    for (int64_t t = 0; t < n; t++)
        assert_memory_equal(got + t * row_len, want + (int64_t)ids[t] * row_len, sizeof(float) * row_len);
    be->ops->release(be, wb);
    bufs_release();
    free(raw); free(want); free(got); free(raw_path); free(f32_path);
}

static void test_get_rows_every_type(void **state) {
    check_get_rows("F16", INFER_TYPE_F16, 128);
    check_get_rows("BF16", INFER_TYPE_BF16, 128);
    check_get_rows("Q8_0", INFER_TYPE_Q8_0, 256);
    check_get_rows("Q4_0", INFER_TYPE_Q4_0, 512);
    check_get_rows("Q4_1", INFER_TYPE_Q4_1, 256);
    check_get_rows("Q5_0", INFER_TYPE_Q5_0, 256);
    check_get_rows("Q5_1", INFER_TYPE_Q5_1, 256);
    check_get_rows("Q4_K", INFER_TYPE_Q4_K, 256);
    check_get_rows("Q5_K", INFER_TYPE_Q5_K, 512);
    check_get_rows("Q6_K", INFER_TYPE_Q6_K, 256);
    check_get_rows("MXFP4", INFER_TYPE_MXFP4, 256);
    check_get_rows("Q2_K", INFER_TYPE_Q2_K, 256);
    check_get_rows("Q3_K", INFER_TYPE_Q3_K, 512);
    check_get_rows("IQ4_NL", INFER_TYPE_IQ4_NL, 128);
    check_get_rows("IQ4_XS", INFER_TYPE_IQ4_XS, 256);
}

/* get_rows + rms_norm reproduce llama.cpp's attn_norm-0 of stories260K (embedding
 * lookup of the prompt, RMSNorm with the layer-0 weight). */
static void test_stories_attn_norm0(void **state) {
    char *model = test_fixture("models/stories260K.gguf");
    char *golden = test_fixture("layers/stories260K/attn_norm-0.f32");
    char *prompt = test_fixture("layers/stories260K/prompt16.txt");
    if (!model || !golden || !prompt) { free(model); free(golden); free(prompt); skip(); }
    infer_gguf *g = NULL;
    infer_error err;
    assert_int_equal(infer_gguf_open(model, &g, &err), INFER_OK);
    const int64_t te = infer_gguf_find_tensor(g, "token_embd.weight");
    const int64_t nw = infer_gguf_find_tensor(g, "blk.0.attn_norm.weight");
    const int64_t ke = infer_gguf_find_key(g, "llama.attention.layer_norm_rms_epsilon");
    assert_true(te >= 0 && nw >= 0 && ke >= 0);
    const int64_t n_embd = (int64_t)infer_gguf_tensor_dim(g, te, 0);
    const int64_t n_vocab = (int64_t)infer_gguf_tensor_dim(g, te, 1);
    const float eps = (float)infer_gguf_kv_float(g, ke);

    int32_t ids[16];
    FILE *f = fopen(prompt, "r");
    assert_non_null(f);
    for (int i = 0; i < 16; i++) assert_int_equal(fscanf(f, "%d", &ids[i]), 1);
    fclose(f);
    size_t glen;
    float *want = test_read_all(golden, &glen);
    assert_int_equal(glen, sizeof(float) * 16 * n_embd);

    be->ops->begin(be);
    infer_bbuf *tb = NULL, *wb = NULL;
    assert_int_equal(be->ops->weight(be, infer_gguf_tensor_data(g, te), infer_gguf_tensor_bytes(g, te), &tb), INFER_OK);
    assert_int_equal(be->ops->weight(be, infer_gguf_tensor_data(g, nw), infer_gguf_tensor_bytes(g, nw), &wb), INFER_OK);
    infer_bview table = { tb, 0, infer_gguf_tensor_type(g, te) };
    infer_bview wv = { wb, 0, infer_gguf_tensor_type(g, nw) };
    assert_int_equal(wv.type, INFER_TYPE_F32);
    infer_bview vids = buf_new(ids, sizeof ids, INFER_TYPE_I32);
    infer_bview emb = buf_new(NULL, sizeof(float) * 16 * n_embd, INFER_TYPE_F32);
    be->ops->get_rows(be, table, n_embd, vids, 16, emb);
    be->ops->rms_norm(be, emb, wv, 16, n_embd, eps, emb);   /* in place */
    float *got = malloc(sizeof(float) * 16 * n_embd);
    be->ops->read(be, emb, got, sizeof(float) * 16 * n_embd);
    end_ok();
    double *ref = malloc(sizeof(double) * 16 * n_embd);
    for (int64_t i = 0; i < 16 * n_embd; i++) ref[i] = want[i];
    expect_close(got, ref, (size_t)(16 * n_embd), 1e-5, 1e-5, "attn_norm-0");
    (void)n_vocab;
    be->ops->release(be, tb);
    be->ops->release(be, wb);
    bufs_release();
    infer_gguf_close(g);
    free(want); free(got); free(ref); free(model); free(golden); free(prompt);
}

/* ---- rope */
static void check_rope(infer_rope_params p, int64_t n_tok, int64_t n_head, int64_t hd, int32_t pos0, double atol) {
    const size_t n = (size_t)(n_tok * n_head * hd);
    float *x = rand_vec(n, 2.0);
    int32_t *pos = malloc(sizeof(int32_t) * n_tok);
    for (int64_t t = 0; t < n_tok; t++) pos[t] = pos0 + (int32_t)(t * 7 % 11) + (int32_t)t;  /* unordered */
    double *ref = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) ref[i] = x[i];
    test_rope_ref(ref, n_tok, n_head, hd, pos, NULL, &p);
    be->ops->begin(be);
    infer_bview vx = buf_new(x, sizeof(float) * n, INFER_TYPE_F32);
    infer_bview vp = buf_new(pos, sizeof(int32_t) * n_tok, INFER_TYPE_I32);
    be->ops->rope(be, vx, vp, n_tok, n_head, hd, (infer_bview){0}, &p);
    float *got = malloc(sizeof(float) * n);
    be->ops->read(be, vx, got, sizeof(float) * n);
    end_ok();
    expect_close(got, ref, n, atol, 2e-6, p.mode == INFER_ROPE_NEOX ? "rope neox" : "rope normal");
    bufs_release();
    free(x); free(pos); free(ref); free(got);
}

static infer_rope_params rope_plain(infer_rope_mode mode, int n_rot, float base) {
    infer_rope_params p = { .mode = mode, .n_rot = n_rot, .freq_base = base, .freq_scale = 1.0f,
                            .yarn_factor = 1.0f, .yarn_orig_ctx = 0, .yarn_beta_fast = 32.0f,
                            .yarn_beta_slow = 1.0f, .attn_factor = 1.0f };
    return p;
}

static void test_rope_normal_neox(void **state) {
    /* Angles are exact in double on both sides: only the final float rounding differs. */
    check_rope(rope_plain(INFER_ROPE_NORMAL, 64, 10000.0f), 5, 3, 64, 0, 2e-6);
    check_rope(rope_plain(INFER_ROPE_NORMAL, 32, 10000.0f), 9, 4, 48, 100, 2e-6);   /* partial rotation */
    check_rope(rope_plain(INFER_ROPE_NEOX, 128, 1000000.0f), 7, 5, 128, 1500, 2e-6);
    check_rope(rope_plain(INFER_ROPE_NEOX, 64, 10000.0f), 33, 2, 96, 3, 2e-6);      /* partial, NEOX */
    /* linear scaling without YaRN */
    infer_rope_params p = rope_plain(INFER_ROPE_NORMAL, 64, 10000.0f);
    p.freq_scale = 0.25f;
    check_rope(p, 6, 2, 64, 40, 2e-6);
}

static infer_rope_params rope_gptoss(void) {
    infer_rope_params p = { .mode = INFER_ROPE_NEOX, .n_rot = 64, .freq_base = 150000.0f,
                            .freq_scale = 1.0f / 32.0f, .yarn_factor = 32.0f, .yarn_orig_ctx = 4096,
                            .yarn_beta_fast = 32.0f, .yarn_beta_slow = 1.0f, .attn_factor = 1.0f };
    return p;
}

static void test_rope_yarn(void **state) {
    check_rope(rope_gptoss(), 11, 4, 64, 17, 2e-6);
    infer_rope_params p = rope_gptoss();
    p.mode = INFER_ROPE_NORMAL;
    p.attn_factor = 0.5f;
    check_rope(p, 3, 2, 80, 900, 2e-6);

    /* The YaRN correction range for gpt-oss (n_rot 64, base 150000, original context 4096,
     * beta 32/1): 64 ln(4096 / (2 pi b)) / (2 ln 150000) = 8.09 and 17.40 -> [8, 18]. */
    float corr[2];
    infer_rope_params gp = rope_gptoss();
    infer_cpu_rope_yarn_corr_dims(&gp, corr);
    assert_true(corr[0] == 8.0f && corr[1] == 18.0f);

    /* Facts independent of the formula above: at position 0 nothing rotates and every
     * rotated value is scaled by 1 + 0.1 ln 32 = 1.3465736; the tail dims are untouched. */
    const int64_t hd = 72;
    float x[72], got[72];
    for (int i = 0; i < hd; i++) x[i] = (float)(i + 1) * 0.1f;
    int32_t pos = 0;
    infer_rope_params g = rope_gptoss();
    be->ops->begin(be);
    infer_bview vx = buf_new(x, sizeof x, INFER_TYPE_F32);
    infer_bview vp = buf_new(&pos, sizeof pos, INFER_TYPE_I32);
    be->ops->rope(be, vx, vp, 1, 1, hd, (infer_bview){0}, &g);
    be->ops->read(be, vx, got, sizeof got);
    end_ok();
    for (int i = 0; i < hd; i++) {
        const double want = i < 64 ? x[i] * 1.3465735902799727 : x[i];
        assert_true(fabs(got[i] - want) <= 1e-6 * fabs(want) + 1e-7);
    }
    bufs_release();
}

/* ---- kv_store + attention */
typedef struct {
    int n_tokens, n_head, n_head_kv, head_dim, pos0, window;
    bool sinks;
    uint32_t kv_type;
} attn_case;

static double rt16(float v) { return infer_fp16_to_f32(infer_f32_to_fp16(v)); }

static void check_attention(attn_case c) {
    const int n_kv = c.pos0 + c.n_tokens;        /* this batch continues a cached prefix */
    const int64_t kv_row = (int64_t)c.n_head_kv * c.head_dim;
    const int64_t q_row = (int64_t)c.n_head * c.head_dim;
    float *q = rand_vec((size_t)c.n_tokens * q_row, 2.5);
    float *k = rand_vec((size_t)n_kv * kv_row, 1.0), *v = rand_vec((size_t)n_kv * kv_row, 1.0);
    float *sinks = rand_vec((size_t)c.n_head, 2.0);
    int32_t *pos = malloc(sizeof(int32_t) * c.n_tokens);
    for (int t = 0; t < c.n_tokens; t++) pos[t] = c.pos0 + t;
    /* The cache is filled in a scrambled position order to check kv_store's placement. */
    int32_t *kv_pos = malloc(sizeof(int32_t) * n_kv);
    float *k_rows = malloc(sizeof(float) * n_kv * kv_row), *v_rows = malloc(sizeof(float) * n_kv * kv_row);
    for (int i = 0; i < n_kv; i++) {
        kv_pos[i] = (int32_t)(((int64_t)i * 7919 + 11) % n_kv);
        memcpy(k_rows + i * kv_row, k + (int64_t)kv_pos[i] * kv_row, sizeof(float) * kv_row);
        memcpy(v_rows + i * kv_row, v + (int64_t)kv_pos[i] * kv_row, sizeof(float) * kv_row);
    }
    /* n_kv below the prime 7919 keeps the scramble a permutation; checked here. */
    {
        char *seen = calloc((size_t)n_kv, 1);
        for (int i = 0; i < n_kv; i++) seen[kv_pos[i]]++;
        for (int i = 0; i < n_kv; i++) assert_int_equal(seen[i], 1);
        free(seen);
    }

    /* Reference in double over the values the cache actually holds. */
    const int group = c.n_head / c.n_head_kv;
    const double scale = 1.0 / sqrt((double)c.head_dim);
    double *ref = calloc((size_t)c.n_tokens * q_row, sizeof(double));
    double *sc = malloc(sizeof(double) * n_kv);
    for (int t = 0; t < c.n_tokens; t++)
        for (int h = 0; h < c.n_head; h++) {
            const int kvh = h / group;
            const float *qh = q + t * q_row + h * c.head_dim;
            double m = c.sinks ? sinks[h] : -INFINITY;
            for (int j = 0; j < n_kv; j++) {
                const bool visible = j <= pos[t] && (c.window == 0 || pos[t] - j < c.window);
                sc[j] = -INFINITY;
                if (!visible) continue;
                double d = 0;
                for (int i = 0; i < c.head_dim; i++) {
                    const float kv = k[(int64_t)j * kv_row + kvh * c.head_dim + i];
                    d += qh[i] * (c.kv_type == INFER_TYPE_F16 ? rt16(kv) : kv);
                }
                sc[j] = d * scale;
                m = fmax(m, sc[j]);
            }
            double sum = c.sinks ? exp(sinks[h] - m) : 0;
            for (int j = 0; j < n_kv; j++) sum += sc[j] == -INFINITY ? 0 : exp(sc[j] - m);
            double *o = ref + t * q_row + h * c.head_dim;
            for (int j = 0; j < n_kv; j++) {
                if (sc[j] == -INFINITY) continue;
                const double pj = exp(sc[j] - m) / sum;
                for (int i = 0; i < c.head_dim; i++) {
                    const float vv = v[(int64_t)j * kv_row + kvh * c.head_dim + i];
                    o[i] += pj * (c.kv_type == INFER_TYPE_F16 ? rt16(vv) : vv);
                }
            }
        }

    const size_t elem = c.kv_type == INFER_TYPE_F16 ? 2 : 4;
    be->ops->begin(be);
    infer_bview vq = buf_new(q, sizeof(float) * c.n_tokens * q_row, INFER_TYPE_F32);
    infer_bview vkr = buf_new(k_rows, sizeof(float) * n_kv * kv_row, INFER_TYPE_F32);
    infer_bview vvr = buf_new(v_rows, sizeof(float) * n_kv * kv_row, INFER_TYPE_F32);
    infer_bview vkp = buf_new(kv_pos, sizeof(int32_t) * n_kv, INFER_TYPE_I32);
    /* Caches with spare rows beyond n_kv, as a real context has. */
    infer_bview kc = buf_new(NULL, elem * (n_kv + 5) * kv_row, c.kv_type);
    infer_bview vc = buf_new(NULL, elem * (n_kv + 5) * kv_row, c.kv_type);
    infer_bview vp = buf_new(pos, sizeof(int32_t) * c.n_tokens, INFER_TYPE_I32);
    infer_bview vs = c.sinks ? buf_new(sinks, sizeof(float) * c.n_head, INFER_TYPE_F32) : no_view();
    infer_bview vo = buf_new(NULL, sizeof(float) * c.n_tokens * q_row, INFER_TYPE_F32);
    be->ops->kv_store(be, vkr, vkp, n_kv, kv_row, kc);
    be->ops->kv_store(be, vvr, vkp, n_kv, kv_row, vc);
    infer_attn_params p = { .n_tokens = c.n_tokens, .n_head = c.n_head, .n_head_kv = c.n_head_kv,
                            .head_dim = c.head_dim, .n_kv = n_kv, .scale = (float)scale, .window = c.window };
    be->ops->attention(be, vq, kc, vc, vp, vs, &p, vo);
    float *got = malloc(sizeof(float) * c.n_tokens * q_row);
    be->ops->read(be, vo, got, sizeof(float) * c.n_tokens * q_row);
    end_ok();
    char what[128];
    snprintf(what, sizeof what, "attention T%d H%d/%d D%d pos0 %d win %d sinks %d %s", c.n_tokens, c.n_head,
             c.n_head_kv, c.head_dim, c.pos0, c.window, c.sinks, c.kv_type == INFER_TYPE_F16 ? "F16" : "F32");
    expect_close(got, ref, (size_t)c.n_tokens * q_row, 6e-7, 1e-5, what);
    bufs_release();
    free(q); free(k); free(v); free(sinks); free(pos); free(kv_pos); free(k_rows); free(v_rows);
    free(ref); free(sc); free(got);
}

static void test_attention_prompt(void **state) {
    /* GQA ratios 1, 2, 4, 8; odd token counts; cached prefixes; window and sinks. */
    check_attention((attn_case){ 7, 4, 4, 64, 0, 0, false, INFER_TYPE_F32 });
    check_attention((attn_case){ 13, 8, 4, 128, 20, 0, false, INFER_TYPE_F32 });
    check_attention((attn_case){ 37, 8, 2, 64, 0, 16, true, INFER_TYPE_F32 });
    check_attention((attn_case){ 19, 16, 2, 64, 51, 16, false, INFER_TYPE_F16 });
    check_attention((attn_case){ 45, 8, 1, 128, 3, 0, true, INFER_TYPE_F16 });
    check_attention((attn_case){ 9, 12, 2, 128, 100, 0, false, INFER_TYPE_F32 });   /* qwen 1.5B layout */
    check_attention((attn_case){ 5, 2, 2, 40, 0, 1, true, INFER_TYPE_F32 });       /* window 1: self only */
}

/* A query row's output must not depend on the rows it was batched with: the prompt as
 * one batch equals the same rows one at a time, bit for bit (the models rely on this for
 * batch == token-by-token decoding). Key ranges stay under the decode key-split size. */
static void check_batch_invariance(int n_tok, int n_head, int n_head_kv, int hd, int window, bool sinks,
                                   uint32_t kv_type) {
    const int n_kv = n_tok + 137;
    const int64_t q_row = (int64_t)n_head * hd, kv_row = (int64_t)n_head_kv * hd;
    float *q = rand_vec((size_t)n_tok * q_row, 2.5), *k = rand_vec((size_t)n_kv * kv_row, 1.0);
    float *v = rand_vec((size_t)n_kv * kv_row, 1.0), *sk = rand_vec((size_t)n_head, 2.0);
    int32_t *pos = malloc(sizeof(int32_t) * n_kv);
    for (int i = 0; i < n_kv; i++) pos[i] = i;
    const size_t elem = kv_type == INFER_TYPE_F16 ? 2 : 4;
    be->ops->begin(be);
    infer_bview vk = buf_new(k, sizeof(float) * n_kv * kv_row, INFER_TYPE_F32);
    infer_bview vv = buf_new(v, sizeof(float) * n_kv * kv_row, INFER_TYPE_F32);
    infer_bview vpos = buf_new(pos, sizeof(int32_t) * n_kv, INFER_TYPE_I32);
    infer_bview kc = buf_new(NULL, elem * n_kv * kv_row, kv_type), vc = buf_new(NULL, elem * n_kv * kv_row, kv_type);
    be->ops->kv_store(be, vk, vpos, n_kv, kv_row, kc);
    be->ops->kv_store(be, vv, vpos, n_kv, kv_row, vc);
    infer_bview vq = buf_new(q, sizeof(float) * n_tok * q_row, INFER_TYPE_F32);
    infer_bview vs = sinks ? buf_new(sk, sizeof(float) * n_head, INFER_TYPE_F32) : no_view();
    infer_bview batch = buf_new(NULL, sizeof(float) * n_tok * q_row, INFER_TYPE_F32);
    infer_bview single = buf_new(NULL, sizeof(float) * n_tok * q_row, INFER_TYPE_F32);
    const int32_t first = n_kv - n_tok;   /* the batch continues a 137-token prefix */
    infer_attn_params p = { .n_tokens = n_tok, .n_head = n_head, .n_head_kv = n_head_kv, .head_dim = hd,
                            .n_kv = n_kv, .scale = 0.125f, .window = window };
    be->ops->attention(be, vq, kc, vc, infer_bview_at(vpos, sizeof(int32_t) * first), vs, &p, batch);
    for (int t = 0; t < n_tok; t++) {
        infer_attn_params p1 = p;
        p1.n_tokens = 1;
        p1.n_kv = first + t + 1;   /* what a token-by-token decode has cached */
        const size_t off = sizeof(float) * t * q_row;
        be->ops->attention(be, infer_bview_at(vq, off), kc, vc, infer_bview_at(vpos, sizeof(int32_t) * (first + t)),
                           vs, &p1, infer_bview_at(single, off));
    }
    float *a = malloc(sizeof(float) * n_tok * q_row), *b = malloc(sizeof(float) * n_tok * q_row);
    be->ops->read(be, batch, a, sizeof(float) * n_tok * q_row);
    be->ops->read(be, single, b, sizeof(float) * n_tok * q_row);
    end_ok();
    assert_memory_equal(a, b, sizeof(float) * n_tok * q_row);
    bufs_release();
    free(q); free(k); free(v); free(sk); free(pos); free(a); free(b);
}

static void test_attention_batch_invariance(void **state) {
    check_batch_invariance(41, 8, 2, 64, 0, false, INFER_TYPE_F32);
    check_batch_invariance(29, 16, 2, 64, 16, true, INFER_TYPE_F16);
    check_batch_invariance(31, 8, 1, 64, 100, true, INFER_TYPE_F32);   /* ranges straddle key blocks */
    check_batch_invariance(70, 12, 2, 128, 0, true, INFER_TYPE_F32);
    setenv("INFER_CPU_ISA", "scalar", 1);
    check_batch_invariance(23, 8, 2, 64, 16, true, INFER_TYPE_F16);
    unsetenv("INFER_CPU_ISA");
}

/* The portable tile kernel (what non-AVX2 machines run), forced through INFER_CPU_ISA. */
static void test_attention_portable(void **state) {
    setenv("INFER_CPU_ISA", "scalar", 1);
    check_attention((attn_case){ 13, 8, 2, 64, 70, 16, true, INFER_TYPE_F16 });
    check_attention((attn_case){ 1, 12, 2, 128, 300, 0, false, INFER_TYPE_F32 });
    check_attention((attn_case){ 6, 4, 4, 40, 2, 0, true, INFER_TYPE_F32 });
    check_attention((attn_case){ 1, 6, 2, 64, 1300, 0, true, INFER_TYPE_F16 });    /* key split */
    unsetenv("INFER_CPU_ISA");
}

/* The AVX2 and AVX-512 tile kernels, each forced (the default picks the widest): head
 * sizes that are and are not multiples of 16 and 64, F16/F32 caches, sinks, windows. */
static void test_attention_per_isa(void **state) {
    (void)state;
    static const char *isas[] = {"avx2", "avx512"};
    for (int i = 0; i < 2; i++) {
        setenv("INFER_CPU_ISA", isas[i], 1);
        check_attention((attn_case){ 37, 8, 2, 64, 0, 16, true, INFER_TYPE_F32 });
        check_attention((attn_case){ 19, 16, 2, 96, 51, 0, false, INFER_TYPE_F16 });
        check_attention((attn_case){ 21, 12, 2, 128, 70, 0, true, INFER_TYPE_F16 });
        check_attention((attn_case){ 11, 4, 2, 144, 9, 0, false, INFER_TYPE_F32 });
        check_attention((attn_case){ 7, 4, 1, 200, 40, 0, true, INFER_TYPE_F16 });
        check_attention((attn_case){ 3, 2, 2, 256, 130, 0, false, INFER_TYPE_F32 });
        check_attention((attn_case){ 6, 4, 4, 40, 2, 0, true, INFER_TYPE_F32 });
        check_attention((attn_case){ 1, 6, 2, 64, 1300, 0, true, INFER_TYPE_F16 });    /* key split */
        unsetenv("INFER_CPU_ISA");
    }
}

static void test_attention_decode(void **state) {
    /* One query over many keys: several key blocks, online rescaling across them. */
    check_attention((attn_case){ 1, 8, 8, 64, 700, 0, false, INFER_TYPE_F32 });
    check_attention((attn_case){ 1, 16, 2, 64, 420, 128, true, INFER_TYPE_F16 });
    check_attention((attn_case){ 1, 12, 2, 128, 1000, 0, true, INFER_TYPE_F32 });
    check_attention((attn_case){ 3, 64, 8, 64, 300, 0, true, INFER_TYPE_F16 });    /* gpt-oss layout */
    /* Fewer tiles than the 3 threads over long key ranges: the keys are split and merged. */
    check_attention((attn_case){ 1, 16, 2, 64, 2000, 0, true, INFER_TYPE_F16 });
    check_attention((attn_case){ 1, 8, 1, 128, 3000, 1500, true, INFER_TYPE_F32 });
    check_attention((attn_case){ 1, 4, 1, 64, 900, 0, false, INFER_TYPE_F32 });
}

/* ---- glu, add, scale */
/* GELU (tanh approximation) in double: the definition INFER_GLU_GEGLU follows. */
static double gelu_ref(double x) {
    return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

static const char *glu_name(infer_glu_kind kind) {
    return kind == INFER_GLU_SWIGLU ? "swiglu" : kind == INFER_GLU_GEGLU ? "geglu" : "swiglu_oai";
}

static void check_glu(infer_glu_kind kind, int64_t n) {
    float *g = rand_vec((size_t)n, 10.0), *u = rand_vec((size_t)n, 10.0);
    const float alpha = 1.702f, limit = 7.0f;
    double *ref = malloc(sizeof(double) * n);
    for (int64_t i = 0; i < n; i++) {
        if (kind == INFER_GLU_SWIGLU) {
            ref[i] = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
        } else if (kind == INFER_GLU_GEGLU) {
            ref[i] = gelu_ref(g[i]) * u[i];
        } else {
            const double x = fmin(g[i], limit), y = fmax(-limit, fmin(limit, u[i]));
            ref[i] = x / (1.0 + exp(-alpha * x)) * (y + 1.0);
        }
    }
    be->ops->begin(be);
    infer_bview vg = buf_new(g, sizeof(float) * n, INFER_TYPE_F32);
    infer_bview vu = buf_new(u, sizeof(float) * n, INFER_TYPE_F32);
    infer_bview vo = buf_new(NULL, sizeof(float) * n, INFER_TYPE_F32);
    be->ops->glu(be, kind, vg, vu, n, alpha, limit, vo);
    float *got = malloc(sizeof(float) * n);
    be->ops->read(be, vo, got, sizeof(float) * n);
    end_ok();
    expect_close(got, ref, (size_t)n, 1e-6, 2e-6, glu_name(kind));
    bufs_release();
    free(g); free(u); free(ref); free(got);
}

/* The scalar GELU over its whole range: tails that saturate (tanh -> +-1), the region
 * near 0 where 1 + tanh loses digits, and non-finite inputs. */
static void test_gelu_scalar(void **state) {
    (void)state;
    for (double x = -30.0; x <= 30.0; x += 0.0137) {
        const double want = gelu_ref((float)x), got = infer_gelu_tanh((float)x);
        if (fabs(got - want) > 1e-6 * fabs(want) + 1e-7) fail_msg("gelu(%g): %.9g, reference %.9g", x, got, want);
    }
    assert_true(infer_gelu_tanh(0.0f) == 0.0f);
    assert_true(infer_gelu_tanh(1e30f) == 1e30f);
    assert_true(infer_gelu_tanh(-1e30f) == 0.0f);
    assert_true(isnan(infer_gelu_tanh(NAN)));
}

static void check_scale(int64_t n, float s, float cap) {
    float *x = rand_vec((size_t)n, 40.0), *got = malloc(sizeof(float) * n);
    double *ref = malloc(sizeof(double) * n);
    for (int64_t i = 0; i < n; i++) ref[i] = cap > 0 ? cap * tanh((double)s * x[i] / cap) : (double)s * x[i];
    be->ops->begin(be);
    infer_bview vx = buf_new(x, sizeof(float) * n, INFER_TYPE_F32);
    be->ops->scale(be, vx, n, s, cap, vx);   /* in place, as the model uses it */
    be->ops->read(be, vx, got, sizeof(float) * n);
    end_ok();
    expect_close(got, ref, (size_t)n, 1e-6, 2e-6, cap > 0 ? "softcap" : "scale");
    bufs_release();
    free(x); free(got); free(ref);
}

static void test_scale(void **state) {
    (void)state;
    check_scale(1001, 16.0f, 0.0f);          /* Gemma's sqrt(n_embd) */
    check_scale(70001, 1.0f, 30.0f);         /* final logit soft-cap, threaded */
    check_scale(999, 0.5f, 5.0f);
}

/* The AVX-512 glu gives the AVX2 path's bits (same formulas, 16 lanes), masked tails,
 * huge, tiny and clamped inputs included. */
static void test_glu_avx512_matches_avx2(void **state) {
    (void)state;
    if (infer_cpu_isa_detect() < INFER_ISA_AVX512) skip();
    const int64_t n = 1013;
    float *g = rand_vec((size_t)n, 10.0), *u = rand_vec((size_t)n, 10.0);
    g[0] = 100.0f; g[1] = -100.0f; g[2] = 0.0f; g[3] = 1e-30f; u[4] = -50.0f; u[5] = 50.0f;
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    for (int kind = 0; kind < INFER_GLU_COUNT; kind++)
        for (int64_t len = n - 15; len <= n; len++) {   /* every tail length */
            assert_int_equal(infer_cpu_glu_avx512((infer_glu_kind)kind, g, u, len, 1.702f, 7.0f, a), len);
            assert_int_equal(infer_cpu_glu_avx2((infer_glu_kind)kind, g, u, len, 1.702f, 7.0f, b), len);
            assert_memory_equal(a, b, sizeof(float) * (size_t)len);
        }
    free(g); free(u); free(a); free(b);
}

static void test_glu_add(void **state) {
    check_glu(INFER_GLU_SWIGLU, 1001);
    check_glu(INFER_GLU_SWIGLU, 70001);      /* threaded */
    check_glu(INFER_GLU_SWIGLU_OAI, 999);
    check_glu(INFER_GLU_SWIGLU_OAI, 65537);
    check_glu(INFER_GLU_GEGLU, 1003);
    check_glu(INFER_GLU_GEGLU, 70001);
    setenv("INFER_CPU_ISA", "scalar", 1);    /* the portable loops too */
    check_glu(INFER_GLU_SWIGLU, 1001);
    check_glu(INFER_GLU_SWIGLU_OAI, 999);
    check_glu(INFER_GLU_GEGLU, 1003);
    unsetenv("INFER_CPU_ISA");

    const int64_t n = 40003;
    float *a = rand_vec(n, 5), *b = rand_vec(n, 5), *got = malloc(sizeof(float) * n);
    double *ref = malloc(sizeof(double) * n);
    for (int64_t i = 0; i < n; i++) ref[i] = (double)a[i] + b[i];
    be->ops->begin(be);
    infer_bview va = buf_new(a, sizeof(float) * n, INFER_TYPE_F32);
    infer_bview vb = buf_new(b, sizeof(float) * n, INFER_TYPE_F32);
    be->ops->add(be, va, vb, n, va);         /* in place, like a residual */
    be->ops->read(be, va, got, sizeof(float) * n);
    end_ok();
    expect_close(got, ref, (size_t)n, 0, 6e-8, "add");
    bufs_release();
    free(a); free(b); free(got); free(ref);
}

/* ---- matmul with bias (F32 weights: the op's bias path and views) */
static void test_matmul_bias(void **state) {
    const int64_t rows = 37, cols = 96, n = 5;
    float *W = rand_vec(rows * cols, 1), *x = rand_vec(n * cols, 1), *bias = rand_vec(rows, 1);
    double *ref = malloc(sizeof(double) * n * rows);
    for (int64_t t = 0; t < n; t++)
        for (int64_t r = 0; r < rows; r++) {
            double d = bias[r];
            for (int64_t i = 0; i < cols; i++) d += (double)W[r * cols + i] * x[t * cols + i];
            ref[t * rows + r] = d;
        }
    be->ops->begin(be);
    infer_bview vw = buf_new(W, sizeof(float) * rows * cols, INFER_TYPE_F32);
    infer_bview vx = buf_new(x, sizeof(float) * n * cols, INFER_TYPE_F32);
    infer_bview vb = buf_new(bias, sizeof(float) * rows, INFER_TYPE_F32);
    infer_bview vy = buf_new(NULL, sizeof(float) * n * rows, INFER_TYPE_F32);
    be->ops->matmul(be, vw, rows, cols, vx, n, vb, vy);
    float *got = malloc(sizeof(float) * n * rows);
    be->ops->read(be, vy, got, sizeof(float) * n * rows);
    end_ok();
    expect_close(got, ref, (size_t)(n * rows), 1e-5, 1e-5, "matmul+bias");
    bufs_release();
    free(W); free(x); free(bias); free(ref); free(got);
}

/* ---- moe */
static void test_moe(void **state) {
    const int64_t T = 9, E = 64, F = 32;
    const int32_t NE = 5, K = 2;
    const float alpha = 1.702f, limit = 7.0f;
    float *x = rand_vec(T * E, 1.5), *router = rand_vec(T * NE, 3.0);
    float *wg = rand_vec(NE * F * E, 0.5), *wu = rand_vec(NE * F * E, 0.5), *wd = rand_vec(NE * E * F, 0.5);
    float *bg = rand_vec(NE * F, 0.5), *bu = rand_vec(NE * F, 0.5), *bd = rand_vec(NE * E, 0.5);
    /* A tie for the last slot: the lower expert index is chosen. */
    router[0 * NE + 0] = 12.0f;
    router[0 * NE + 3] = router[0 * NE + 1] = 9.0f;

    double *ref = calloc((size_t)(T * E), sizeof(double));
    double h[32];
    for (int64_t t = 0; t < T; t++) {
        int32_t ids[2];
        for (int s = 0; s < K; s++) {
            int32_t best = -1;
            for (int32_t e = 0; e < NE; e++)
                if ((s == 0 || e != ids[0]) && (best < 0 || router[t * NE + e] > router[t * NE + best])) best = e;
            ids[s] = best;
        }
        const double l0 = router[t * NE + ids[0]], l1 = router[t * NE + ids[1]];
        const double w0 = 1.0 / (1.0 + exp(l1 - l0)), wts[2] = { w0, 1.0 - w0 };
        for (int s = 0; s < K; s++) {
            const int32_t e = ids[s];
            for (int64_t f = 0; f < F; f++) {
                double g = bg[e * F + f], u = bu[e * F + f];
                for (int64_t i = 0; i < E; i++) {
                    g += (double)wg[(e * F + f) * E + i] * x[t * E + i];
                    u += (double)wu[(e * F + f) * E + i] * x[t * E + i];
                }
                g = fmin(g, limit);
                u = fmax(-limit, fmin(limit, u));
                h[f] = g / (1.0 + exp(-alpha * g)) * (u + 1.0);
            }
            for (int64_t o = 0; o < E; o++) {
                double d = bd[e * E + o];
                for (int64_t f = 0; f < F; f++) d += (double)wd[(e * E + o) * F + f] * h[f];
                ref[t * E + o] += wts[s] * d;
            }
        }
    }
    assert_int_equal(ref[0] != 0, 1);

    be->ops->begin(be);
    infer_bview vx = buf_new(x, sizeof(float) * T * E, INFER_TYPE_F32);
    infer_bview vr = buf_new(router, sizeof(float) * T * NE, INFER_TYPE_F32);
    infer_bview vwg = buf_new(wg, sizeof(float) * NE * F * E, INFER_TYPE_F32);
    infer_bview vwu = buf_new(wu, sizeof(float) * NE * F * E, INFER_TYPE_F32);
    infer_bview vwd = buf_new(wd, sizeof(float) * NE * E * F, INFER_TYPE_F32);
    infer_bview vbg = buf_new(bg, sizeof(float) * NE * F, INFER_TYPE_F32);
    infer_bview vbu = buf_new(bu, sizeof(float) * NE * F, INFER_TYPE_F32);
    infer_bview vbd = buf_new(bd, sizeof(float) * NE * E, INFER_TYPE_F32);
    infer_bview vo = buf_new(NULL, sizeof(float) * T * E, INFER_TYPE_F32);
    be->ops->moe(be, vx, vr, T, E, F, NE, K, vwg, vbg, vwu, vbu, vwd, vbd, INFER_GLU_SWIGLU_OAI, alpha, limit, vo);
    float *got = malloc(sizeof(float) * T * E);
    be->ops->read(be, vo, got, sizeof(float) * T * E);
    end_ok();
    expect_close(got, ref, (size_t)(T * E), 1e-4, 1e-4, "moe");
    bufs_release();
    free(x); free(router); free(wg); free(wu); free(wd); free(bg); free(bu); free(bd); free(ref); free(got);
}

/* ---- errors: sticky, named, never a stray write */
static void test_errors_sticky(void **state) {
    const float table[4 * 8] = { 0 };
    const int32_t ids[2] = { 1, 4 };            /* 4 is past the table */
    float marker[8];
    for (int i = 0; i < 8; i++) marker[i] = 42.0f;
    be->ops->begin(be);
    infer_bview vt = buf_new(table, sizeof table, INFER_TYPE_F32);
    infer_bview vi = buf_new(ids, sizeof ids, INFER_TYPE_I32);
    infer_bview vo = buf_new(marker, sizeof marker, INFER_TYPE_F32);
    infer_bview small = buf_new(NULL, 16, INFER_TYPE_F32);
    be->ops->get_rows(be, vt, 8, vi, 2, small);   /* too small an output: first error */
    be->ops->get_rows(be, vt, 8, vi, 1, vo);      /* fine, but after an error: skipped */
    infer_error err = { 0 };
    assert_int_equal(be->ops->end(be, &err), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "get_rows"));
    assert_non_null(strstr(err.message, "out"));
    float got[8];
    be->ops->begin(be);
    be->ops->read(be, vo, got, sizeof got);
    end_ok();
    assert_true(got[0] == 42.0f);

    be->ops->begin(be);
    infer_bview vo2 = buf_new(NULL, 2 * sizeof marker, INFER_TYPE_F32);
    be->ops->get_rows(be, vt, 8, vi, 2, vo2);     /* id 4 out of range */
    assert_int_equal(be->ops->end(be, &err), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "id 4"));

    /* A cache too short for the position. */
    be->ops->begin(be);
    int32_t p = 3;
    infer_bview vp = buf_new(&p, sizeof p, INFER_TYPE_I32);
    infer_bview cache = buf_new(NULL, 3 * 8 * 2, INFER_TYPE_F16);
    be->ops->kv_store(be, vo, vp, 1, 8, cache);
    assert_int_equal(be->ops->end(be, &err), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "position 3"));

    /* An activation operand that is not F32 (here a cache-typed view) is refused. */
    be->ops->begin(be);
    be->ops->add(be, cache, vo, 8, vo);
    assert_int_equal(be->ops->end(be, &err), INFER_ERR_TYPE);
    assert_non_null(strstr(err.message, "add: operand 'a' must be F32"));

    /* The next pass starts clean. */
    be->ops->begin(be);
    be->ops->add(be, vo, vo, 8, vo);
    end_ok();
    bufs_release();

    infer_backend *vk = NULL;
    infer_status st = infer_backend_vulkan_new(-1, 0, &vk, &err);
    assert_true(st == INFER_OK || st == INFER_ERR_NO_DEVICE);
    if (vk) vk->ops->destroy(vk);
}

int main(void) {
    test_pin_vulkan_drivers();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rms_norm),
        cmocka_unit_test(test_get_rows_every_type),
        cmocka_unit_test(test_stories_attn_norm0),
        cmocka_unit_test(test_rope_normal_neox),
        cmocka_unit_test(test_rope_yarn),
        cmocka_unit_test(test_attention_prompt),
        cmocka_unit_test(test_attention_decode),
        cmocka_unit_test(test_attention_portable),
        cmocka_unit_test(test_attention_per_isa),
        cmocka_unit_test(test_attention_batch_invariance),
        cmocka_unit_test(test_glu_add),
        cmocka_unit_test(test_glu_avx512_matches_avx2),
        cmocka_unit_test(test_gelu_scalar),
        cmocka_unit_test(test_scale),
        cmocka_unit_test(test_matmul_bias),
        cmocka_unit_test(test_moe),
        cmocka_unit_test(test_errors_sticky),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
