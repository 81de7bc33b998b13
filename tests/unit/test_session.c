/* Saved sessions: a sequence saved and loaded (into another sequence of another
 * context, through a buffer and a file) continues with exactly the logits of the
 * sequence that never stopped; the size follows the sequence's length, not n_ctx; and
 * every hostile input (each truncation, each flipped byte, another model, another KV
 * type, a sequence too long for the context, a FIFO or directory as the file) is refused
 * with a message while the context keeps what it had. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "infer.h"
#include "logits.h"
#include "testdata.h"

static infer_model *g_m, *g_other;
static int32_t *g_prompt, g_n;
static int32_t g_V;

static infer_ctx *ctx_new(infer_model *m, uint32_t n_ctx, uint32_t n_seq, infer_kv_type kv) {
    infer_ctx_params p = infer_ctx_default_params();
    p.n_ctx = n_ctx;
    p.n_seq_max = n_seq;
    p.n_threads = 2;
    p.kv_type = kv;
    p.backend = INFER_BACKEND_CPU;
    infer_ctx *c = NULL;
    infer_error err;
    if (infer_ctx_new(m, &p, &c, &err) != INFER_OK) fail_msg("infer_ctx_new: %s", err.message);
    return c;
}

static uint8_t *save(infer_ctx *c, int32_t seq, size_t *len) {
    size_t need = 0;
    assert_int_equal(infer_ctx_seq_save(c, seq, NULL, 0, &need), INFER_ERR_BUFFER_SMALL);
    uint8_t *buf = malloc(need);
    assert_int_equal(infer_ctx_seq_save(c, seq, buf, need - 1, len), INFER_ERR_BUFFER_SMALL);
    assert_int_equal(infer_ctx_seq_save(c, seq, buf, need, len), INFER_OK);
    assert_int_equal(*len, need);
    return buf;
}

/* Logits of decoding toks[0..n) (all rows) into sequence seq, n x V. */
static float *continue_seq(infer_ctx *c, int32_t seq, const int32_t *toks, int32_t n) {
    int32_t s[16];
    int8_t w[16];
    assert_true(n <= 16);
    for (int i = 0; i < n; i++) {
        s[i] = seq;
        w[i] = 1;
    }
    infer_batch b = {.n_tokens = n, .tokens = toks, .seq_id = s, .want_logits = w};
    assert_int_equal(infer_ctx_decode_batch(c, &b), INFER_OK);
    float *out = malloc((size_t)n * g_V * sizeof *out);
    for (int i = 0; i < n; i++) memcpy(out + (size_t)i * g_V, infer_ctx_logits(c, i), (size_t)g_V * sizeof *out);
    return out;
}

static void test_round_trip(void **state) {
    (void)state;
    infer_ctx *a = ctx_new(g_m, 128, 1, INFER_KV_F32);
    assert_int_equal(infer_ctx_decode(a, g_prompt, NULL, NULL, 40), INFER_OK);
    size_t len = 0;
    uint8_t *buf = save(a, 0, &len);

    /* Proportional to the length, independent of n_ctx. */
    infer_ctx *big = ctx_new(g_m, 1024, 2, INFER_KV_F32);
    assert_int_equal(infer_ctx_decode(big, g_prompt, NULL, NULL, 20), INFER_OK);
    size_t len20 = 0;
    uint8_t *b20 = save(big, 0, &len20);
    printf("  session of 40 tokens: %zu bytes; of 20: %zu bytes (n_ctx 128 and 1024)\n", len, len20);
    assert_true(len20 < len);
    assert_true(len - len20 == (len20 - 48) );   /* header 40 + checksum 8, the rest per token */
    free(b20);

    /* Into sequence 1 of another context: same tokens, same continuation, bit for bit. */
    assert_int_equal(infer_ctx_seq_load(big, 1, buf, len), INFER_OK);
    assert_int_equal(infer_ctx_seq_len(big, 1), 40);
    assert_int_equal(infer_ctx_seq_len(big, 0), 20);   /* the other sequence untouched */
    int32_t n = 0;
    const int32_t *toks = infer_ctx_seq_tokens(big, 1, &n);
    assert_int_equal(n, 40);
    assert_memory_equal(toks, g_prompt, 40 * sizeof(int32_t));
    float *want = continue_seq(a, 0, g_prompt + 40, 8);
    float *got = continue_seq(big, 1, g_prompt + 40, 8);
    assert_memory_equal(got, want, (size_t)8 * g_V * sizeof(float));
    free(got);

    /* Through a file. */
    char path[] = "/tmp/infer_session_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    infer_ctx_seq_truncate(a, 0, 40);
    assert_int_equal(infer_ctx_seq_save_file(a, 0, path), INFER_OK);
    infer_ctx *c = ctx_new(g_m, 64, 1, INFER_KV_F32);
    assert_int_equal(infer_ctx_seq_load_file(c, 0, path), INFER_OK);
    got = continue_seq(c, 0, g_prompt + 40, 8);
    assert_memory_equal(got, want, (size_t)8 * g_V * sizeof(float));
    free(got);
    /* Too long for a context of 32 positions per sequence: refused, nothing changes. */
    infer_ctx *small = ctx_new(g_m, 32, 1, INFER_KV_F32);
    assert_int_equal(infer_ctx_seq_load_file(small, 0, path), INFER_ERR_CONTEXT_FULL);
    assert_int_equal(infer_ctx_seq_load(small, 0, buf, len), INFER_ERR_CONTEXT_FULL);
    printf("  too long: %s\n", infer_ctx_last_error(small));
    assert_int_equal(infer_ctx_seq_len(small, 0), 0);
    /* An F16 context does not take F32 rows. */
    infer_ctx *h = ctx_new(g_m, 128, 1, INFER_KV_F16);
    assert_int_equal(infer_ctx_seq_load(h, 0, buf, len), INFER_ERR_FORMAT);
    printf("  F16 context: %s\n", infer_ctx_last_error(h));
    assert_non_null(strstr(infer_ctx_last_error(h), "F16"));
    /* An empty sequence saves and loads too. */
    infer_ctx_seq_clear(h, 0);
    size_t elen = 0;
    uint8_t *empty = save(h, 0, &elen);
    assert_int_equal(elen, 48);
    assert_int_equal(infer_ctx_seq_load(h, 0, empty, elen), INFER_OK);
    free(empty);
    remove(path);
    free(want);
    free(buf);
    infer_ctx_free(a);
    infer_ctx_free(big);
    infer_ctx_free(c);
    infer_ctx_free(small);
    infer_ctx_free(h);
}

/* The context's sequence 0 holds prompt[0..12): after a refused load it must still. */
static void expect_unchanged(infer_ctx *c, const float *ref) {
    assert_int_equal(infer_ctx_seq_len(c, 0), 12);
    float *got = continue_seq(c, 0, g_prompt + 12, 2);
    assert_memory_equal(got, ref, (size_t)2 * g_V * sizeof(float));
    free(got);
    infer_ctx_seq_truncate(c, 0, 12);
}

static void test_hostile(void **state) {
    (void)state;
    infer_ctx *src = ctx_new(g_m, 64, 1, INFER_KV_F32);
    assert_int_equal(infer_ctx_decode(src, g_prompt + 20, NULL, NULL, 4), INFER_OK);
    size_t len = 0;
    uint8_t *good = save(src, 0, &len);

    infer_ctx *c = ctx_new(g_m, 64, 1, INFER_KV_F32);
    assert_int_equal(infer_ctx_decode(c, g_prompt, NULL, NULL, 12), INFER_OK);
    float *ref = continue_seq(c, 0, g_prompt + 12, 2);
    infer_ctx_seq_truncate(c, 0, 12);

    uint8_t *bad = malloc(len);
    /* Every truncation. */
    for (size_t n = 0; n < len; n++) {
        memcpy(bad, good, n);
        infer_status st = infer_ctx_seq_load(c, 0, bad, n);
        if (st == INFER_OK) fail_msg("truncation to %zu of %zu bytes accepted", n, len);
        assert_true(infer_ctx_last_error(c)[0] != 0);
    }
    printf("  truncated: %s\n", infer_ctx_last_error(c));
    expect_unchanged(c, ref);
    /* Every byte, one bit flipped. */
    int refused = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(bad, good, len);
        bad[i] ^= (uint8_t)(1u << (i % 8));
        if (infer_ctx_seq_load(c, 0, bad, len) != INFER_OK) refused++;
    }
    printf("  %d of %zu single-bit flips refused (%zu bytes); last: %s\n", refused, len, len,
           infer_ctx_last_error(c));
    assert_int_equal(refused, (int)len);
    expect_unchanged(c, ref);
    /* Extra bytes after a valid session. */
    uint8_t *longer = calloc(len + 16, 1);
    memcpy(longer, good, len);
    assert_int_equal(infer_ctx_seq_load(c, 0, longer, len + 16), INFER_ERR_FORMAT);
    free(longer);
    /* Another model's session, and ours in the other model. */
    infer_ctx *o = ctx_new(g_other, 64, 1, INFER_KV_F32);
    assert_int_equal(infer_ctx_decode(o, g_prompt, NULL, NULL, 4), INFER_OK);
    size_t olen = 0;
    uint8_t *theirs = save(o, 0, &olen);
    assert_int_not_equal(infer_ctx_seq_load(c, 0, theirs, olen), INFER_OK);
    printf("  other model: %s\n", infer_ctx_last_error(c));
    assert_int_not_equal(infer_ctx_seq_load(o, 0, good, len), INFER_OK);
    printf("  other model: %s\n", infer_ctx_last_error(o));
    assert_int_equal(infer_ctx_seq_len(o, 0), 4);
    expect_unchanged(c, ref);
    /* Bad arguments. */
    assert_int_equal(infer_ctx_seq_load(c, 1, good, len), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_ctx_seq_load(c, -1, good, len), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_ctx_seq_load(c, 0, NULL, len), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_ctx_seq_load(NULL, 0, good, len), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_ctx_seq_save(c, 3, NULL, 0, NULL), INFER_ERR_INVALID_ARG);
    /* Paths that are not regular files never block and are refused. */
    char dir[] = "/tmp/infer_session_dirXXXXXX";
    assert_non_null(mkdtemp(dir));
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const char *paths[] = {dir, fifo, "/dev/zero", "/nonexistent/session.bin"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        assert_int_equal(infer_ctx_seq_load_file(c, 0, paths[i]), INFER_ERR_IO);
        printf("  %s\n", infer_ctx_last_error(c));
    }
    remove(fifo);
    rmdir(dir);
    expect_unchanged(c, ref);
    free(theirs);
    free(bad);
    free(good);
    free(ref);
    infer_ctx_free(o);
    infer_ctx_free(c);
    infer_ctx_free(src);
}

int main(void) {
    char *model = test_fixture_or_skip("models/stories260K.gguf");
    char *other = test_fixture_or_skip("models/synth-llama-Q4_0.gguf");
    char *prompt = test_fixture_or_skip("golden/stories260K.prompt.txt");
    infer_error err;
    if (infer_model_load(model, NULL, &g_m, &err) != INFER_OK ||
        infer_model_load(other, NULL, &g_other, &err) != INFER_OK) {
        printf("cannot load: %s\n", err.message);
        return 1;
    }
    g_prompt = test_read_ids(prompt, &g_n);
    g_V = infer_model_n_vocab(g_m);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_hostile),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    infer_model_free(g_m);
    infer_model_free(g_other);
    free(g_prompt);
    free(model);
    free(other);
    free(prompt);
    return rc;
}
