/* Tokenizer behaviour beyond the reference lists: byte round trips (invalid UTF-8
 * included), the streaming detokenizer, special-token parsing on/off, BOS/EOS/EOG ids,
 * buffer-size reporting, SPM merge order on a hand-made vocabulary, and load errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "tokenizer_expect.h"

#define MAX_TOKS 65536

/* Independent UTF-8 validity check for the detokenizer's output (RFC 3629). */
static bool valid_utf8(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (!len || i + len > n) return false;
        uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

static struct infer_vocab *load_bundled(const char *rel, infer_gguf **g) {
    char *p = test_fixture(rel);
    assert_non_null(p);
    struct infer_vocab *v = load_vocab_fixture(p, g);
    free(p);
    return v;
}

static size_t tokenize(const struct infer_vocab *v, const char *s, size_t len, bool special, int32_t *toks) {
    size_t n = 0;
    assert_int_equal(infer_vocab_tokenize(v, s, len, false, special, toks, MAX_TOKS, &n), INFER_OK);
    return n;
}

/* Concatenated bytes of the tokens (malloc'd). */
static char *detokenize(const struct infer_vocab *v, const int32_t *toks, size_t n, size_t *len) {
    size_t cap = 64, k = 0;
    char *out = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        size_t need = 0;
        infer_vocab_token_to_bytes(v, toks[i], NULL, 0, &need);
        while (k + need > cap) { cap *= 2; out = realloc(out, cap); }
        assert_int_equal(infer_vocab_token_to_bytes(v, toks[i], out + k, need, &need), INFER_OK);
        k += need;
    }
    *len = k;
    return out;
}

static void assert_round_trip(const struct infer_vocab *v, const char *prefix, const char *s, size_t len, bool special) {
    int32_t *toks = malloc(MAX_TOKS * sizeof *toks);
    size_t n = tokenize(v, s, len, special, toks), got_len;
    char *got = detokenize(v, toks, n, &got_len);
    size_t pl = strlen(prefix);
    assert_int_equal(got_len, pl + len);
    assert_memory_equal(got, prefix, pl);
    if (len) assert_memory_equal(got + pl, s, len);
    free(got);
    free(toks);
}

static const char INVALID[] = "\xff\xfe abc \xc3( \xe2\x82 \xed\xa0\x80 \xc0\xaf x\x80\x80 \xf4\x90\x80\x80 end \xe4\xb8";

static void test_invalid_utf8_bytes_survive(void **state) {
    (void)state;
    infer_gguf *g1, *g2;
    struct infer_vocab *bpe = load_bundled("tokenizer/gpt2.gguf", &g1);
    struct infer_vocab *spm = load_bundled("tokenizer/llama-spm.gguf", &g2);
    assert_round_trip(bpe, "", INVALID, sizeof INVALID - 1, true);
    /* SentencePiece prepends its space; invalid bytes come back through <0xNN> tokens. */
    assert_round_trip(spm, " ", INVALID, sizeof INVALID - 1, true);
    infer_vocab_free(bpe); infer_vocab_free(spm);
    infer_gguf_close(g1); infer_gguf_close(g2);
}

/* Every reference string decodes back to itself (GPT-2 keeps every byte; special
 * tokens come back as their literal text). */
static void test_bpe_round_trip_reference_strings(void **state) {
    (void)state;
    infer_gguf *g;
    struct infer_vocab *v = load_bundled("tokenizer/gpt2.gguf", &g);
    char *path = test_fixture("tokenizer/gpt2.inp");
    char *inp = test_read_all(path, NULL);
    assert_non_null(inp);
    for (char *s = inp, *end; (end = strstr(s, VOCAB_TEST_SEP)); s = end + strlen(VOCAB_TEST_SEP))
        assert_round_trip(v, "", s, (size_t)(end - s), true);
    const char *edge = "x\t\ty  \n\n\r\n  z 1234567890123 don't DON'T it's 'll\x01\x1f\x7f";
    assert_round_trip(v, "", edge, strlen(edge), true);
    free(inp); free(path);
    infer_vocab_free(v);
    infer_gguf_close(g);
}

/* A character split across byte tokens is held back until complete; the stream's
 * pieces are always valid UTF-8 and add up to the text. */
static void test_detok_stream_holds_partial_chars(void **state) {
    (void)state;
    infer_gguf *g;
    struct infer_vocab *v = load_bundled("tokenizer/gpt2.gguf", &g);
    const char *text = "Hello \xf0\x9f\xa6\x99 \xe4\xb8\x96\xe7\x95\x8c na\xc3\xafve \xf0\x9f\x98\xb6\xe2\x80\x8d\xf0\x9f\x8c\xab\xef\xb8\x8f!\n";
    int32_t toks[256];
    size_t n = 0;
    assert_int_equal(infer_vocab_tokenize(v, text, strlen(text), false, false, toks, 256, &n), INFER_OK);
    struct infer_detok *d = infer_vocab_detok_new(v);
    assert_non_null(d);
    char all[512] = "", piece[64];
    int held_back = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        assert_int_equal(infer_vocab_detok_push(d, toks[i], piece, sizeof piece, &k), INFER_OK);
        assert_int_equal(strlen(piece), k);
        assert_true(valid_utf8((const unsigned char *)piece, k));
        size_t raw = 0;
        infer_vocab_token_to_bytes(v, toks[i], NULL, 0, &raw);
        if (k < raw) held_back++;
        strcat(all, piece);
    }
    size_t k = 1;
    assert_int_equal(infer_vocab_detok_flush(d, piece, sizeof piece, &k), INFER_OK);
    assert_int_equal(k, 0);
    assert_string_equal(all, text);
    assert_true(held_back > 0);   /* the emoji are split into byte tokens by GPT-2 */
    infer_vocab_detok_free(d);
    infer_vocab_free(v);
    infer_gguf_close(g);
}

/* SPM byte tokens: <0xNN> is token 3 + NN in Llama 2. A lone lead byte is held, then
 * flushed as U+FFFD; a byte that can never start a character is U+FFFD at once. */
static void test_detok_invalid_sequences(void **state) {
    (void)state;
    infer_gguf *g;
    struct infer_vocab *v = load_bundled("tokenizer/llama-spm.gguf", &g);
    assert_string_equal(infer_vocab_token_text(v, 3 + 0xE4), "<0xE4>");
    struct infer_detok *d = infer_vocab_detok_new(v);
    char buf[32];
    size_t k = 9;
    assert_int_equal(infer_vocab_detok_push(d, 3 + 0xE4, buf, sizeof buf, &k), INFER_OK);
    assert_int_equal(k, 0);
    assert_int_equal(infer_vocab_detok_push(d, 3 + 0xB8, buf, sizeof buf, &k), INFER_OK);
    assert_int_equal(k, 0);
    assert_int_equal(infer_vocab_detok_push(d, 3 + 0x96, buf, sizeof buf, &k), INFER_OK);
    assert_string_equal(buf, "\xe4\xb8\x96");
    assert_int_equal(infer_vocab_detok_push(d, 3 + 0xFF, buf, sizeof buf, &k), INFER_OK);
    assert_string_equal(buf, "\xef\xbf\xbd");
    assert_int_equal(infer_vocab_detok_push(d, 3 + 0xE4, buf, sizeof buf, &k), INFER_OK);
    assert_int_equal(k, 0);
    /* A too-small buffer changes nothing and reports the size needed. */
    assert_int_equal(infer_vocab_detok_flush(d, buf, 2, &k), INFER_ERR_BUFFER_SMALL);
    assert_int_equal(k, 3);
    assert_int_equal(infer_vocab_detok_flush(d, buf, sizeof buf, &k), INFER_OK);
    assert_string_equal(buf, "\xef\xbf\xbd");
    assert_int_equal(infer_vocab_detok_flush(d, buf, sizeof buf, &k), INFER_OK);
    assert_int_equal(k, 0);
    infer_vocab_detok_free(d);
    infer_vocab_free(v);
    infer_gguf_close(g);
}

static bool contains(const int32_t *t, size_t n, int32_t id) {
    for (size_t i = 0; i < n; i++)
        if (t[i] == id) return true;
    return false;
}

static void test_parse_special_switch(void **state) {
    (void)state;
    infer_gguf *g;
    struct infer_vocab *v = load_bundled("tokenizer/gpt2.gguf", &g);
    const char *text = "a<|endoftext|>b<|endoftext|";
    int32_t toks[64];
    size_t n = tokenize(v, text, strlen(text), true, toks);
    assert_int_equal(toks[1], 50256);
    size_t count = 0;
    for (size_t i = 0; i < n; i++) count += toks[i] == 50256;
    assert_int_equal(count, 1);   /* the unterminated second one is plain text */
    n = tokenize(v, text, strlen(text), false, toks);
    assert_false(contains(toks, n, 50256));
    assert_round_trip(v, "", text, strlen(text), false);
    infer_vocab_free(v);
    infer_gguf_close(g);
}

static void test_ids_and_flags(void **state) {
    (void)state;
    infer_gguf *g1, *g2, *g3;
    struct infer_vocab *gpt2 = load_bundled("tokenizer/gpt2.gguf", &g1);
    struct infer_vocab *spm = load_bundled("tokenizer/llama-spm.gguf", &g2);
    struct infer_vocab *st = load_bundled("models/stories260K.gguf", &g3);
    assert_int_equal(infer_vocab_bos(gpt2), 50256);
    assert_int_equal(infer_vocab_eos(gpt2), 50256);
    assert_true(infer_vocab_is_eog(gpt2, 50256));
    assert_false(infer_vocab_add_bos(gpt2));
    assert_string_equal(infer_vocab_model_name(gpt2), "gpt2");
    assert_int_equal(infer_vocab_bos(spm), 1);
    assert_int_equal(infer_vocab_eos(spm), 2);
    assert_true(infer_vocab_add_bos(spm));
    assert_true(infer_vocab_is_eog(spm, 2));
    assert_false(infer_vocab_is_eog(spm, 1));
    assert_int_equal(infer_vocab_n_tokens(spm), 32000);
    assert_true(infer_vocab_add_bos(st));   /* no add_bos_token key: SentencePiece default */
    assert_null(infer_vocab_token_text(st, 512));
    assert_null(infer_vocab_token_text(st, -1));
    /* With BOS, and the needed count reported when the buffer is short. */
    int32_t toks[4];
    size_t n = 0;
    assert_int_equal(infer_vocab_tokenize(spm, "Hello world", 11, true, false, toks, 4, &n), INFER_OK);
    assert_int_equal(n, 3);
    assert_int_equal(toks[0], 1);
    assert_int_equal(toks[1], 15043);
    assert_int_equal(infer_vocab_tokenize(spm, "Hello world", 11, true, false, toks, 2, &n), INFER_ERR_BUFFER_SMALL);
    assert_int_equal(n, 3);
    assert_int_equal(infer_vocab_tokenize(spm, "", 0, false, false, NULL, 0, &n), INFER_OK);
    assert_int_equal(n, 0);
    char b[8];
    assert_int_equal(infer_vocab_token_to_bytes(spm, 15043, b, 2, &n), INFER_ERR_BUFFER_SMALL);
    assert_int_equal(n, 6);   /* " Hello" */
    assert_int_equal(infer_vocab_token_to_bytes(spm, 32000, b, 8, &n), INFER_ERR_NOT_FOUND);
    infer_vocab_free(gpt2); infer_vocab_free(spm); infer_vocab_free(st);
    infer_gguf_close(g1); infer_gguf_close(g2); infer_gguf_close(g3);
}

/* The whole perplexity text through stories260K: its first 64 ids are the reference
 * engine's golden prompt (BOS first). */
static void test_stories_golden_prompt(void **state) {
    (void)state;
    infer_gguf *g;
    struct infer_vocab *v = load_bundled("models/stories260K.gguf", &g);
    char *tp = test_fixture("text/stories-public.txt"), *pp = test_fixture("golden/stories260K.prompt.txt");
    assert_non_null(tp);
    assert_non_null(pp);
    size_t len = 0;
    char *text = test_read_all(tp, &len), *prompt = test_read_all(pp, NULL);
    int32_t *toks = malloc(((size_t)len + 2) * sizeof *toks);
    size_t n = 0;
    assert_int_equal(infer_vocab_tokenize(v, text, len, true, false, toks, len + 2, &n), INFER_OK);
    assert_true(n >= 64);
    char *p = prompt;
    for (int i = 0; i < 64; i++) assert_int_equal(toks[i], strtol(p, &p, 10));
    free(toks); free(text); free(prompt); free(tp); free(pp);
    infer_vocab_free(v);
    infer_gguf_close(g);
}

/* ---------------------------------------------------------------- hand-made vocabularies */

static infer_gguf *make_vocab(const char *model, const char *pre, const char *const *tokens, const float *scores,
                              const int32_t *types, uint64_t n, void **mem) {
    infer_gguf_writer *w = infer_gguf_writer_new();
    if (model) infer_gguf_writer_set_str(w, "tokenizer.ggml.model", model);
    if (pre) infer_gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    if (tokens) infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, NULL, n);
    if (scores) infer_gguf_writer_set_arr(w, "tokenizer.ggml.scores", INFER_GGUF_FLOAT32, scores, n);
    if (types) infer_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", INFER_GGUF_INT32, types, n);
    if (model && !strcmp(model, "gpt2")) {
        const char *merges[] = {"a b"};
        infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 1);
    }
    size_t size = 0;
    infer_error err = {0};
    assert_int_equal(infer_gguf_writer_to_memory(w, mem, &size, &err), INFER_OK);
    infer_gguf_writer_free(w);
    infer_gguf *g = NULL;
    assert_int_equal(infer_gguf_open_memory(*mem, size, &g, &err), INFER_OK);
    return g;
}

/* SentencePiece merges the highest-scoring pair first: with "bc" scored above "ab",
 * "abc" becomes a|bc; scores swapped, ab|c. Unknown characters fall back to <0xNN>. */
static void test_spm_merge_order(void **state) {
    (void)state;
    const char *tokens[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "c", "ab", "bc", "<0x21>"};
    float scores[] = {0, 0, 0, -1, -1, -1, -1, -2, -1, 0};
    int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1, 1, 6};
    for (int swap = 0; swap < 2; swap++) {
        if (swap) { scores[7] = -1; scores[8] = -2; }
        void *mem = NULL;
        infer_gguf *g = make_vocab("llama", NULL, tokens, scores, types, 10, &mem);
        struct infer_vocab *v = NULL;
        infer_error err = {0};
        assert_int_equal(infer_vocab_load(g, &v, &err), INFER_OK);
        int32_t toks[16];
        size_t n = tokenize(v, "abc!", 4, false, toks);
        assert_int_equal(n, 4);
        assert_int_equal(toks[0], 3);                   /* the leading-space marker */
        assert_int_equal(toks[1], swap ? 7 : 4);
        assert_int_equal(toks[2], swap ? 6 : 8);
        assert_int_equal(toks[3], 9);                   /* '!' through its byte token */
        n = tokenize(v, "?", 1, false, toks);           /* no byte token for '?': <unk> */
        assert_int_equal(n, 2);
        assert_int_equal(toks[1], 0);
        infer_vocab_free(v);
        infer_gguf_close(g);
        free(mem);
    }
}

static void expect_load_error(const char *model, const char *pre, bool with_tokens, infer_status want,
                              const char *needle1, const char *needle2) {
    const char *tokens[] = {"a", "b", "ab"};
    void *mem = NULL;
    infer_gguf *g = make_vocab(model, pre, with_tokens ? tokens : NULL, NULL, NULL, 3, &mem);
    struct infer_vocab *v = (struct infer_vocab *)1;
    infer_error err = {0};
    assert_int_equal(infer_vocab_load(g, &v, &err), want);
    assert_null(v);
    printf("expected error: %s\n", err.message);
    assert_non_null(strstr(err.message, needle1));
    assert_non_null(strstr(err.message, needle2));
    infer_gguf_close(g);
    free(mem);
}

static void test_load_errors_name_the_key(void **state) {
    (void)state;
    expect_load_error("gpt2", "mystery-pre", true, INFER_ERR_UNSUPPORTED, "tokenizer.ggml.pre", "mystery-pre");
    expect_load_error("bert", NULL, true, INFER_ERR_UNSUPPORTED, "tokenizer.ggml.model", "bert");
    expect_load_error("llama", NULL, false, INFER_ERR_NOT_FOUND, "tokenizer.ggml.tokens", "not found");
    expect_load_error(NULL, NULL, true, INFER_ERR_NOT_FOUND, "tokenizer.ggml.model", "not found");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_invalid_utf8_bytes_survive),
        cmocka_unit_test(test_bpe_round_trip_reference_strings),
        cmocka_unit_test(test_detok_stream_holds_partial_chars),
        cmocka_unit_test(test_detok_invalid_sequences),
        cmocka_unit_test(test_parse_special_switch),
        cmocka_unit_test(test_ids_and_flags),
        cmocka_unit_test(test_stories_golden_prompt),
        cmocka_unit_test(test_spm_merge_order),
        cmocka_unit_test(test_load_errors_name_the_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
