/* Cancel: another thread raises a flag while a long decode runs; the decode must return
 * INFER_ERR_CANCELLED within a bound measured from the moment the flag was raised, leave
 * every sequence's length as before the call, and the next decode must give the logits
 * of a context that was never interrupted (bit for bit on the CPU).
 *
 *   test_cancel [cpu|vulkan]
 *
 * On Vulkan the callback is polled between layers only (a submitted layer runs to the
 * end: on lavapipe a layer of this prompt takes seconds), so there only the state after
 * a cancel is checked, not the latency.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "infer.h"
#include "testdata.h"

#define N_MIN 1536           /* tokens of the decode that gets cancelled: doubled until it */
#define N_MAX 16384          /* takes long enough to be worth cancelling on this machine */
#define CANCEL_AFTER_MS 40   /* the flag goes up this long after the decode starts */
#define BOUND_MS 150         /* ...and the decode must be back this soon after */

static infer_model *g_m;
static infer_backend_kind g_backend = INFER_BACKEND_CPU;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct flag {
    atomic_int raised;
    atomic_long polls;
    double raised_at;
} flag;

static int abort_cb(void *user) {
    flag *f = user;
    atomic_fetch_add_explicit(&f->polls, 1, memory_order_relaxed);
    return atomic_load_explicit(&f->raised, memory_order_acquire);
}

static void *raiser(void *arg) {
    flag *f = arg;
    usleep(CANCEL_AFTER_MS * 1000);
    f->raised_at = now_ms();
    atomic_store_explicit(&f->raised, 1, memory_order_release);
    return NULL;
}

static infer_ctx *ctx_new(uint32_t n_seq, int32_t n_long) {
    infer_ctx_params p = infer_ctx_default_params();
    p.n_ctx = n_seq * (uint32_t)n_long;
    p.n_seq_max = n_seq;
    p.n_batch = (uint32_t)n_long;   /* one step: the cancel must land inside a forward pass */
    p.n_threads = 2;
    p.backend = g_backend;
    infer_ctx *c = NULL;
    infer_error err;
    if (infer_ctx_new(g_m, &p, &c, &err) != INFER_OK) fail_msg("infer_ctx_new: %s", err.message);
    return c;
}

static int32_t *long_prompt(int32_t n) {
    int32_t *t = malloc((size_t)n * sizeof *t);
    for (int i = 0; i < n; i++) t[i] = i == 0 ? 1 : 3 + (i * 7919) % 500;
    return t;
}

/* Milliseconds of an uncancelled decode of n tokens. */
static double decode_ms(int32_t n) {
    int32_t *toks = long_prompt(n);
    infer_ctx *c = ctx_new(1, n);
    double t0 = now_ms();
    assert_int_equal(infer_ctx_decode(c, toks, NULL, NULL, n - 16), INFER_OK);
    const double ms = now_ms() - t0;
    infer_ctx_free(c);
    free(toks);
    return ms;
}

static void test_cancel_within_bound(void **state) {
    (void)state;
    if (g_backend != INFER_BACKEND_CPU) skip();
    /* The uncancelled time of the long decode must leave room for the bound, or the
     * test could not fail: attention makes it grow with the square of the length. */
    int32_t n_long = N_MIN;
    double full_ms = decode_ms(n_long);
    while (full_ms < CANCEL_AFTER_MS + 3 * BOUND_MS && n_long < N_MAX) {
        n_long *= 2;
        full_ms = decode_ms(n_long);
    }
    assert_true(full_ms >= CANCEL_AFTER_MS + 3 * BOUND_MS);
    int32_t *toks = long_prompt(n_long);
    infer_ctx *c = ctx_new(2, n_long);
    /* Sequence 0 holds 8 tokens, sequence 1 holds 5, before the cancelled call. */
    int32_t pre[13], seq[13];
    for (int i = 0; i < 13; i++) {
        pre[i] = toks[i % 8];
        seq[i] = i < 8 ? 0 : 1;
    }
    infer_batch b0 = {.n_tokens = 13, .tokens = pre, .seq_id = seq};
    assert_int_equal(infer_ctx_decode_batch(c, &b0), INFER_OK);

    flag f = {0};
    infer_ctx_set_abort_callback(c, abort_cb, &f);
    pthread_t th;
    pthread_create(&th, NULL, raiser, &f);
    /* Sequence 1 continues with a long prompt (positions 5 ..). */
    int32_t *s1 = malloc((size_t)n_long * sizeof *s1);
    for (int i = 0; i < n_long; i++) s1[i] = 1;
    infer_batch b = {.n_tokens = n_long - 16, .tokens = toks, .seq_id = s1};
    infer_status st = infer_ctx_decode_batch(c, &b);
    const double back = now_ms();
    pthread_join(th, NULL);
    const double latency = back - f.raised_at;
    printf("  uncancelled decode of %d tokens: %.0f ms; cancelled: returned %.1f ms after the flag "
           "(bound %d ms), callback polled %ld times: %s\n",
           n_long - 16, full_ms, latency, BOUND_MS, atomic_load(&f.polls), infer_ctx_last_error(c));
    assert_int_equal(st, INFER_ERR_CANCELLED);
    assert_true(latency <= BOUND_MS);
    assert_int_equal(infer_ctx_seq_len(c, 0), 8);
    assert_int_equal(infer_ctx_seq_len(c, 1), 5);

    /* Without the flag, both sequences continue as if nothing had happened. */
    atomic_store(&f.raised, 0);
    int32_t nxt[2] = {42, 43}, ns[2] = {0, 1};
    infer_batch b2 = {.n_tokens = 2, .tokens = nxt, .seq_id = ns};
    assert_int_equal(infer_ctx_decode_batch(c, &b2), INFER_OK);
    infer_ctx *ref = ctx_new(2, n_long);
    assert_int_equal(infer_ctx_decode_batch(ref, &b0), INFER_OK);
    assert_int_equal(infer_ctx_decode_batch(ref, &b2), INFER_OK);
    for (int i = 0; i < 2; i++)
        assert_memory_equal(infer_ctx_logits(c, i), infer_ctx_logits(ref, i), infer_model_n_vocab(g_m) * sizeof(float));
    /* Removing the callback: a raised flag no longer matters. */
    atomic_store(&f.raised, 1);
    infer_ctx_set_abort_callback(c, NULL, NULL);
    assert_int_equal(infer_ctx_decode_batch(c, &b2), INFER_OK);
    free(s1);
    free(toks);
    infer_ctx_free(ref);
    infer_ctx_free(c);
}

/* A flag raised before the call: nothing runs, nothing changes. */
static void test_cancel_before(void **state) {
    (void)state;
    infer_ctx *c = ctx_new(1, 64);
    int32_t t[4] = {1, 5, 6, 7};
    assert_int_equal(infer_ctx_decode(c, t, NULL, NULL, 4), INFER_OK);
    flag f = {0};
    atomic_store(&f.raised, 1);
    infer_ctx_set_abort_callback(c, abort_cb, &f);
    assert_int_equal(infer_ctx_decode(c, t, NULL, NULL, 4), INFER_ERR_CANCELLED);
    assert_int_equal(infer_ctx_n_past(c), 4);
    assert_null(infer_ctx_logits(c, 0));
    infer_ctx_free(c);
}

int main(int argc, char **argv) {
    test_pin_vulkan_drivers();
    if (argc > 1 && strcmp(argv[1], "vulkan") == 0) g_backend = INFER_BACKEND_VULKAN;
    char *model = test_fixture_or_skip("models/stories260K.gguf");
    infer_error err;
    if (infer_model_load(model, NULL, &g_m, &err) != INFER_OK) {
        printf("cannot load %s: %s\n", model, err.message);
        return 1;
    }
    free(model);
    if (g_backend == INFER_BACKEND_VULKAN) {
        infer_ctx_params p = infer_ctx_default_params();
        p.n_ctx = 16;
        p.backend = g_backend;
        infer_ctx *c = NULL;
        if (infer_ctx_new(g_m, &p, &c, &err) != INFER_OK) {
            printf("SKIPPED: vulkan backend unavailable: %s\n", err.message);
            infer_model_free(g_m);
            return err.status == INFER_ERR_NO_DEVICE ? TEST_SKIP_EXIT : 1;
        }
        infer_ctx_free(c);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_within_bound),
        cmocka_unit_test(test_cancel_before),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    infer_model_free(g_m);
    return rc;
}
