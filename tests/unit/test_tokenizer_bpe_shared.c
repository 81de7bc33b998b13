/* Exact match with the reference ids for the large BPE vocabularies that live in
 * ../shared/testdata/tokenizer (Llama 3, Qwen3, gpt-oss): skipped when absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tokenizer_expect.h"

static char *g_llama3, *g_qwen3, *g_gptoss;

static void test_llama3(void **state) { (void)state; check_vocab(g_llama3, "llama3"); }
static void test_qwen3(void **state) { (void)state; check_vocab(g_qwen3, "qwen3"); }
static void test_gptoss(void **state) { (void)state; check_vocab(g_gptoss, "gptoss"); }

static size_t tok(const struct infer_vocab *v, const char *s, int32_t *out, size_t cap) {
    size_t n = 0;
    assert_int_equal(infer_vocab_tokenize(v, s, strlen(s), false, true, out, cap, &n), INFER_OK);
    return n;
}

/* Qwen2's tokenizer normalizes to NFC: decomposed and precomposed text (Unicode's own
 * canonical equivalents) give the same ids. */
static void test_qwen3_nfc(void **state) {
    (void)state;
    infer_gguf *g;
    struct infer_vocab *v = load_vocab_fixture(g_qwen3, &g);
    static const char *pairs[][2] = {
        {"caf\xc3\xa9", "cafe\xcc\x81"},                     /* U+00E9 = e + U+0301 */
        {"\xea\xb0\x81", "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8"},  /* Hangul GAG = L V T jamo */
        {"\xe1\xbb\x87", "e\xcc\xa3\xcc\x82"},               /* U+1EC7 = e + dot below + circumflex */
        {"\xe1\xbb\x87", "e\xcc\x82\xcc\xa3"},               /* marks in the other order reorder */
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        int32_t a[16], b[16];
        size_t na = tok(v, pairs[i][0], a, 16), nb = tok(v, pairs[i][1], b, 16);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof a[0]);
    }
    infer_vocab_free(v);
    infer_gguf_close(g);
}

/* End-of-generation ids from metadata and the chat formats' turn-end tokens. */
static void test_eog_ids(void **state) {
    (void)state;
    infer_gguf *g1, *g2, *g3;
    struct infer_vocab *l3 = load_vocab_fixture(g_llama3, &g1);
    struct infer_vocab *qw = load_vocab_fixture(g_qwen3, &g2);
    struct infer_vocab *oss = load_vocab_fixture(g_gptoss, &g3);
    assert_int_equal(infer_vocab_bos(l3), 128000);
    assert_false(infer_vocab_add_bos(l3));                 /* add_bos_token = false in the file */
    assert_int_equal(infer_vocab_eot(l3), 128009);         /* <|eot_id|> */
    assert_true(infer_vocab_is_eog(l3, 128001));           /* <|end_of_text|> (eos) */
    assert_true(infer_vocab_is_eog(l3, 128009));
    assert_false(infer_vocab_is_eog(l3, 128006));          /* <|start_header_id|> */
    assert_int_equal(infer_vocab_bos(qw), -1);
    assert_int_equal(infer_vocab_eos(qw), 151645);         /* <|im_end|> */
    assert_true(infer_vocab_is_eog(qw, 151645));
    assert_true(infer_vocab_is_eog(qw, 151643));           /* <|endoftext|> */
    assert_false(infer_vocab_is_eog(qw, 151644));          /* <|im_start|> */
    /* harmony: <|return|> and <|call|> end the turn, <|end|> only ends a message */
    assert_true(infer_vocab_is_eog(oss, 200002));
    assert_true(infer_vocab_is_eog(oss, 200012));
    assert_false(infer_vocab_is_eog(oss, 200007));
    assert_string_equal(infer_vocab_token_text(oss, 200007), "<|end|>");
    infer_vocab_free(l3); infer_vocab_free(qw); infer_vocab_free(oss);
    infer_gguf_close(g1); infer_gguf_close(g2); infer_gguf_close(g3);
}

/* A harmony prompt: every control token is one id with parse_special, none without;
 * Qwen's user-defined <think> is one id either way (as in the Hugging Face tokenizer). */
static void test_special_tokens_in_chat_text(void **state) {
    (void)state;
    infer_gguf *g1, *g2;
    struct infer_vocab *oss = load_vocab_fixture(g_gptoss, &g1);
    struct infer_vocab *qw = load_vocab_fixture(g_qwen3, &g2);
    const char *h = "<|start|>assistant<|channel|>final<|message|>Hi<|return|>";
    int32_t t[64];
    size_t n = tok(oss, h, t, 64);
    assert_int_equal(t[0], 200006);
    assert_int_equal(t[n - 1], 200002);
    int specials = 0;
    for (size_t i = 0; i < n; i++) specials += t[i] >= 199998;
    assert_int_equal(specials, 4);
    size_t m = 0;
    assert_int_equal(infer_vocab_tokenize(oss, h, strlen(h), false, false, t, 64, &m), INFER_OK);
    for (size_t i = 0; i < m; i++) assert_true(t[i] < 199998);
    assert_int_equal(infer_vocab_tokenize(qw, "<think>x</think>", 16, false, false, t, 64, &m), INFER_OK);
    assert_int_equal(m, 3);
    assert_int_equal(t[0], 151667);
    assert_int_equal(t[2], 151668);
    infer_vocab_free(oss); infer_vocab_free(qw);
    infer_gguf_close(g1); infer_gguf_close(g2);
}

int main(void) {
    g_llama3 = test_fixture_or_skip("tokenizer/llama3.gguf");
    g_qwen3 = test_fixture_or_skip("tokenizer/qwen3.gguf");
    g_gptoss = test_fixture_or_skip("tokenizer/gptoss.gguf");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama3),
        cmocka_unit_test(test_qwen3),
        cmocka_unit_test(test_gptoss),
        cmocka_unit_test(test_qwen3_nfc),
        cmocka_unit_test(test_eog_ids),
        cmocka_unit_test(test_special_tokens_in_chat_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
