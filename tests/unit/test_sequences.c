/* Sequences in one context (continuous batching), checked two ways on every shared
 * architecture: each sequence decoded in a mixed batch must give the logits of the same
 * sequence decoded alone in its own context (bit for bit on the CPU, within the golden
 * tolerance on Vulkan), and the sequence that is the golden prompt must match the
 * reference engine's logits. Then the per-sequence operations: copy (fork a prefix),
 * truncate, clear, context full per sequence, bad sequence ids.
 *
 *   test_sequences [cpu|vulkan]
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

#define N_SEQ 3
#define N_GEN 4      /* single-token steps after the prompts */
#define N_CTX_SEQ 128

static infer_backend_kind g_backend = INFER_BACKEND_CPU;

typedef struct model_case {
    const char *name;
    double golden_bound;   /* mean KL against the reference engine (shared/README.md) */
    int cpu_only;          /* lavapipe is slow: its architecture and type are covered by another file */
} model_case;

static const model_case g_models[] = {
    {"stories260K", 1e-5, 0},        {"synth-llama-F32", 1e-5, 1},        {"synth-qwen2-F32", 1e-5, 0},
    {"synth-qwen3-F32", 1e-5, 0},    {"synth-gptoss-F32", 5e-5, 0},       {"synth-llama-Q4_K_M", 5e-3, 0},
    {"synth-gptoss-MXFP4_MOE", 2.5e-2, 1}, {"synth-gemma3-F32", 1e-5, 0},
};

typedef struct loaded {
    infer_model *m;
    int32_t *prompt, n_prompt, V;
    float *ref;                       /* reference engine logits, n_prompt x V */
    int32_t *seq_tok[N_SEQ];          /* each sequence's prompt followed by N_GEN tokens */
    int32_t seq_prompt[N_SEQ];        /* prompt length of each */
} loaded;

/* Loads a model case; 0 when it is unavailable (absent fixture, an architecture this
 * build does not know yet), which the caller reports and skips. */
static int load(const model_case *mc, loaded *L) {
    memset(L, 0, sizeof *L);
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s.gguf", mc->name);
    char *model = test_fixture(rel);
    snprintf(rel, sizeof rel, "golden/%s.prompt.txt", mc->name);
    char *prompt = test_fixture(rel);
    snprintf(rel, sizeof rel, "golden/%s.logits.f32", mc->name);
    char *logits = test_fixture(rel);
    int ok = model && prompt && logits;
    infer_error err;
    if (ok && infer_model_load(model, NULL, &L->m, &err) != INFER_OK) {
        printf("  %s: not loadable here (%s): skipped\n", mc->name, err.message);
        ok = 0;
    }
    if (ok) {
        L->prompt = test_read_ids(prompt, &L->n_prompt);
        L->ref = test_read_all(logits, NULL);
        L->V = infer_model_n_vocab(L->m);
        /* Three prompts of different lengths: the golden prompt, a permutation of it, a
         * prefix of it; then different continuations. */
        const int32_t lens[N_SEQ] = {L->n_prompt, 50, 30};
        for (int s = 0; s < N_SEQ; s++) {
            L->seq_prompt[s] = lens[s];
            L->seq_tok[s] = malloc((size_t)(lens[s] + N_GEN) * sizeof(int32_t));
            for (int32_t i = 0; i < lens[s] + N_GEN; i++) {
                int32_t t = i < L->n_prompt ? L->prompt[i] : (i * 37 + 11) % L->V;
                if (s == 1 && i > 0) t = L->prompt[(i * 13) % L->n_prompt];
                if (i >= lens[s]) t = (i * 31 + 7 * s + 3) % L->V;
                L->seq_tok[s][i] = t;
            }
        }
    } else if (!model || !prompt || !logits) {
        printf("  %s: fixtures absent: skipped\n", mc->name);
    }
    free(model);
    free(prompt);
    free(logits);
    return ok;
}

static void unload(loaded *L) {
    infer_model_free(L->m);
    free(L->prompt);
    free(L->ref);
    for (int s = 0; s < N_SEQ; s++) free(L->seq_tok[s]);
}

static infer_ctx *ctx_new(infer_model *m, uint32_t n_seq, uint32_t n_batch) {
    infer_ctx_params p = infer_ctx_default_params();
    p.n_ctx = n_seq * N_CTX_SEQ;
    p.n_seq_max = n_seq;
    p.n_batch = n_batch;
    p.n_threads = 2;
    p.backend = g_backend;
    infer_ctx *c = NULL;
    infer_error err;
    if (infer_ctx_new(m, &p, &c, &err) != INFER_OK) fail_msg("infer_ctx_new: %s", err.message);
    return c;
}

/* Sequence s alone: its prompt as one batch (every row), then N_GEN single tokens.
 * Returns (prompt + N_GEN) x V logits. */
static float *alone(const loaded *L, infer_ctx *c, int s) {
    infer_ctx_kv_clear(c);
    const int32_t np = L->seq_prompt[s], V = L->V;
    float *out = malloc((size_t)(np + N_GEN) * V * sizeof *out);
    int8_t *want = malloc((size_t)np);
    memset(want, 1, (size_t)np);
    assert_int_equal(infer_ctx_decode(c, L->seq_tok[s], NULL, want, np), INFER_OK);
    for (int32_t i = 0; i < np; i++) memcpy(out + (size_t)i * V, infer_ctx_logits(c, i), (size_t)V * sizeof *out);
    for (int32_t g = 0; g < N_GEN; g++) {
        assert_int_equal(infer_ctx_decode(c, &L->seq_tok[s][np + g], NULL, NULL, 1), INFER_OK);
        memcpy(out + (size_t)(np + g) * V, infer_ctx_logits(c, 0), (size_t)V * sizeof *out);
    }
    free(want);
    return out;
}

typedef struct diff {
    double max_abs, max_kl;
} diff;

static void compare(diff *d, const float *ref, const float *got, int32_t V) {
    assert_non_null(got);
    for (int32_t k = 0; k < V; k++) {
        double a = fabs((double)ref[k] - got[k]);
        if (!(a <= d->max_abs)) d->max_abs = a;   /* NaN propagates as a failure below */
    }
    double kl = test_kl_row(ref, got, V);
    if (!(kl <= d->max_kl)) d->max_kl = kl;
}

/* All sequences' prompts interleaved in one batch (round robin, so every step mixes
 * sequences), then N_GEN steps of one token per sequence in a shuffled order. */
static void batched(const loaded *L, const float *const ref[N_SEQ], uint32_t n_batch, diff *d, double *golden_kl) {
    infer_ctx *c = ctx_new(L->m, N_SEQ, n_batch);
    const int32_t V = L->V;
    int32_t total = 0;
    for (int s = 0; s < N_SEQ; s++) total += L->seq_prompt[s];
    int32_t *tok = malloc((size_t)total * sizeof *tok), *seq = malloc((size_t)total * sizeof *seq);
    int32_t *idx = malloc((size_t)total * sizeof *idx);
    int32_t next[N_SEQ] = {0}, k = 0;
    while (k < total)
        for (int s = N_SEQ - 1; s >= 0; s--)
            if (next[s] < L->seq_prompt[s]) {
                tok[k] = L->seq_tok[s][next[s]];
                seq[k] = s;
                idx[k] = next[s]++;
                k++;
            }
    const size_t nt = total > 0 && total < 4096 ? (size_t)total : 1;   /* bounded for the compiler */
    int8_t *want = malloc(nt);
    memset(want, 1, nt);
    infer_batch b = {.n_tokens = total, .tokens = tok, .seq_id = seq, .want_logits = want};
    assert_int_equal(infer_ctx_decode_batch(c, &b), INFER_OK);
    double kl0 = 0.0;
    for (int32_t i = 0; i < total; i++) {
        compare(d, ref[seq[i]] + (size_t)idx[i] * V, infer_ctx_logits(c, i), V);
        if (seq[i] == 0) kl0 += test_kl_row(L->ref + (size_t)idx[i] * V, infer_ctx_logits(c, i), V);
    }
    *golden_kl = kl0 / L->seq_prompt[0];
    for (int s = 0; s < N_SEQ; s++) assert_int_equal(infer_ctx_seq_len(c, s), L->seq_prompt[s]);

    for (int32_t g = 0; g < N_GEN; g++) {
        int32_t t3[N_SEQ], s3[N_SEQ];
        for (int j = 0; j < N_SEQ; j++) {
            s3[j] = (j + g) % N_SEQ;
            t3[j] = L->seq_tok[s3[j]][L->seq_prompt[s3[j]] + g];
        }
        infer_batch step = {.n_tokens = N_SEQ, .tokens = t3, .seq_id = s3};   /* pos, want: defaults */
        assert_int_equal(infer_ctx_decode_batch(c, &step), INFER_OK);
        for (int j = 0; j < N_SEQ; j++)
            compare(d, ref[s3[j]] + (size_t)(L->seq_prompt[s3[j]] + g) * V, infer_ctx_logits(c, j), V);
    }
    int32_t n = 0;
    const int32_t *kept = infer_ctx_seq_tokens(c, 1, &n);
    assert_int_equal(n, L->seq_prompt[1] + N_GEN);
    assert_memory_equal(kept, L->seq_tok[1], (size_t)n * sizeof(int32_t));
    free(tok);
    free(seq);
    free(idx);
    free(want);
    infer_ctx_free(c);
}

static void test_batched_equals_alone(void **state) {
    (void)state;
    int ran = 0;
    for (size_t mi = 0; mi < sizeof g_models / sizeof g_models[0]; mi++) {
        loaded L;
        if (g_models[mi].cpu_only && g_backend != INFER_BACKEND_CPU) continue;
        if (!load(&g_models[mi], &L)) continue;
        float *ref[N_SEQ];
        infer_ctx *one = ctx_new(L.m, 1, 0);
        for (int s = 0; s < N_SEQ; s++) ref[s] = alone(&L, one, s);
        infer_ctx_free(one);
        /* One step; steps of 16 that cut runs (CPU only: lavapipe is slow, and the
         * step split is backend-independent code). */
        const uint32_t n_batches[2] = {0, 16};
        for (int bi = 0; bi < (g_backend == INFER_BACKEND_CPU ? 2 : 1); bi++) {
            diff d = {0, 0};
            double golden_kl = 0;
            batched(&L, (const float *const *)ref, n_batches[bi], &d, &golden_kl);
            printf("  %-24s n_batch %-3u batched vs alone: max |diff| %.3g, max KL %.3g; "
                   "golden mean KL %.3g (bound %.3g)\n",
                   g_models[mi].name, n_batches[bi], d.max_abs, d.max_kl, golden_kl, g_models[mi].golden_bound);
            /* The CPU runs each sequence's attention as its own call and every other op
             * row by row: the same numbers as decoding it alone. Vulkan quantizes a decode
             * step's activations differently from a batch's: within the golden tolerance. */
            if (g_backend == INFER_BACKEND_CPU) assert_true(d.max_abs == 0.0);
            else assert_true(d.max_kl <= g_models[mi].golden_bound);
            assert_true(golden_kl <= g_models[mi].golden_bound);
        }
        for (int s = 0; s < N_SEQ; s++) free(ref[s]);
        unload(&L);
        ran++;
    }
    assert_true(ran >= 5);   /* llama, qwen2, qwen3, gpt-oss at least */
}

/* ---- per-sequence operations on stories260K */

static loaded g_st;

static void logits_of(infer_ctx *c, int32_t i, float *out, int32_t V) {
    const float *l = infer_ctx_logits(c, i);
    assert_non_null(l);
    memcpy(out, l, (size_t)V * sizeof *out);
}

/* Same logits as the reference row: bit for bit on the CPU, closely on Vulkan. */
static void same_row(const float *got, const float *ref, int32_t V) {
    assert_non_null(got);
    if (g_backend == INFER_BACKEND_CPU) assert_memory_equal(got, ref, (size_t)V * sizeof *got);
    else assert_true(test_kl_row(ref, got, V) <= 1e-6);
}

static void test_copy_truncate_clear(void **state) {
    (void)state;
    const loaded *L = &g_st;
    const int32_t V = L->V;
    /* Reference: prompt[0..48) alone, every row. */
    infer_ctx *r = ctx_new(L->m, 1, 0);
    int8_t want[48];
    memset(want, 1, sizeof want);
    assert_int_equal(infer_ctx_decode(r, L->prompt, NULL, want, 48), INFER_OK);
    float *ref = malloc((size_t)48 * V * sizeof *ref);
    for (int32_t i = 0; i < 48; i++) logits_of(r, i, ref + (size_t)i * V, V);

    infer_ctx *c = ctx_new(L->m, 2, 0);
    assert_int_equal(infer_ctx_n_seq_max(c), 2);
    assert_int_equal(infer_ctx_n_ctx_seq(c), N_CTX_SEQ);
    /* Shared prefix in sequence 0, forked into 1, both continued in one batch. */
    assert_int_equal(infer_ctx_decode(c, L->prompt, NULL, NULL, 30), INFER_OK);
    assert_int_equal(infer_ctx_seq_copy(c, 0, 1), INFER_OK);
    assert_int_equal(infer_ctx_seq_len(c, 1), 30);
    int32_t tok[11], seq[11];
    for (int i = 0; i < 10; i++) {
        tok[i] = L->prompt[30 + i];
        seq[i] = 1;
    }
    tok[10] = 7;   /* sequence 0 goes elsewhere */
    seq[10] = 0;
    int8_t w[11];
    memset(w, 1, sizeof w);
    infer_batch b = {.n_tokens = 11, .tokens = tok, .seq_id = seq, .want_logits = w};
    assert_int_equal(infer_ctx_decode_batch(c, &b), INFER_OK);
    for (int i = 0; i < 10; i++) same_row(infer_ctx_logits(c, i), ref + (size_t)(30 + i) * V, V);
    assert_int_equal(infer_ctx_seq_len(c, 0), 31);
    assert_int_equal(infer_ctx_seq_len(c, 1), 40);

    /* Truncate sequence 1 at 35 and decode 35..48: the reference rows again. */
    assert_int_equal(infer_ctx_seq_truncate(c, 1, 35), INFER_OK);
    assert_int_equal(infer_ctx_seq_len(c, 1), 35);
    int32_t s1[13];
    for (int i = 0; i < 13; i++) s1[i] = 1;
    infer_batch b2 = {.n_tokens = 13, .tokens = L->prompt + 35, .seq_id = s1, .want_logits = want};
    assert_int_equal(infer_ctx_decode_batch(c, &b2), INFER_OK);
    for (int i = 0; i < 13; i++) same_row(infer_ctx_logits(c, i), ref + (size_t)(35 + i) * V, V);

    /* Clearing sequence 0 leaves sequence 1 alone. */
    assert_int_equal(infer_ctx_seq_clear(c, 0), INFER_OK);
    assert_int_equal(infer_ctx_seq_len(c, 0), 0);
    assert_int_equal(infer_ctx_seq_len(c, 1), 48);
    assert_int_equal(infer_ctx_n_past(c), 0);

    /* Full, per sequence: position N_CTX_SEQ of sequence 1 fails, nothing changes. */
    int32_t p_full = N_CTX_SEQ, one = 1, t1 = 5;
    infer_batch full = {.n_tokens = 1, .tokens = &t1, .pos = &p_full, .seq_id = &one};
    assert_int_equal(infer_ctx_decode_batch(c, &full), INFER_ERR_CONTEXT_FULL);
    assert_non_null(strstr(infer_ctx_last_error(c), "sequence 1"));
    assert_int_equal(infer_ctx_seq_len(c, 1), 48);
    /* A bad sequence id anywhere in the batch: nothing runs. */
    int32_t tt[2] = {5, 6}, ss[2] = {0, 2};
    infer_batch bad = {.n_tokens = 2, .tokens = tt, .seq_id = ss};
    assert_int_equal(infer_ctx_decode_batch(c, &bad), INFER_ERR_INVALID_ARG);
    ss[1] = -1;
    assert_int_equal(infer_ctx_decode_batch(c, &bad), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_ctx_seq_len(c, 0), 0);
    assert_int_equal(infer_ctx_seq_len(c, 1), 48);
    assert_int_equal(infer_ctx_seq_copy(c, 0, 2), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_ctx_seq_copy(c, -1, 0), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_ctx_seq_truncate(c, 5, 0), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_ctx_seq_truncate(c, 1, -1), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_ctx_seq_len(c, 2), -1);
    assert_int_equal(infer_ctx_decode_batch(NULL, &bad), INFER_ERR_INVALID_ARG);
    /* Sequence-0 shorthands still act on sequence 0; kv_clear clears every sequence. */
    infer_ctx_kv_clear(c);
    assert_int_equal(infer_ctx_seq_len(c, 1), 0);
    free(ref);
    infer_ctx_free(r);
    infer_ctx_free(c);
}

static void test_bad_params(void **state) {
    (void)state;
    infer_ctx_params p = infer_ctx_default_params();
    assert_int_equal(p.n_seq_max, 1);
    p.n_ctx = 4;
    p.n_seq_max = 5;
    p.backend = g_backend;
    infer_ctx *c = NULL;
    infer_error err;
    assert_int_equal(infer_ctx_new(g_st.m, &p, &c, &err), INFER_ERR_INVALID_ARG);
    assert_null(c);
    assert_non_null(strstr(err.message, "n_seq_max"));
    /* n_ctx not a multiple of n_seq_max: whole regions only */
    p.n_ctx = 100;
    p.n_seq_max = 3;
    assert_int_equal(infer_ctx_new(g_st.m, &p, &c, &err), INFER_OK);
    assert_int_equal(infer_ctx_n_ctx_seq(c), 33);
    assert_int_equal(infer_ctx_n_ctx(c), 99);
    infer_ctx_free(c);
}

int main(int argc, char **argv) {
    test_pin_vulkan_drivers();
    test_pin_batch_invariant_cpu();
    if (argc > 1 && strcmp(argv[1], "vulkan") == 0) g_backend = INFER_BACKEND_VULKAN;
    if (!load(&g_models[0], &g_st)) return TEST_SKIP_EXIT;
    if (g_backend == INFER_BACKEND_VULKAN) {
        infer_ctx_params p = infer_ctx_default_params();
        p.n_ctx = 16;
        p.backend = g_backend;
        infer_ctx *c = NULL;
        infer_error err;
        if (infer_ctx_new(g_st.m, &p, &c, &err) != INFER_OK) {
            printf("%s: vulkan backend unavailable: %s\n", err.status == INFER_ERR_NO_DEVICE ? "SKIPPED" : "FAIL",
                   err.message);
            unload(&g_st);
            return err.status == INFER_ERR_NO_DEVICE ? TEST_SKIP_EXIT : 1;
        }
        infer_ctx_free(c);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batched_equals_alone),
        cmocka_unit_test(test_copy_truncate_clear),
        cmocka_unit_test(test_bad_params),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unload(&g_st);
    return rc;
}
