/* The public chat API on real vocabularies (vocab-only GGUFs): template family, stop
 * tokens by their ids in each vocabulary, and infer_chat_render through the model
 * (template text and BOS read from the file) against the jinja2 references. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infer.h"
#include "testdata.h"

/* Loads a vocab-only model, or skips the test when the fixture is absent. */
static infer_model *load_vocab(const char *rel) {
    char *path = test_fixture(rel);
    if (!path) {
        print_message("fixture %s absent: skipped\n", rel);
        skip();
    }
    infer_model_params p = infer_model_default_params();
    p.vocab_only = 1;
    infer_model *m = NULL;
    infer_error err = {0};
    infer_status st = infer_model_load(path, &p, &m, &err);
    if (st != INFER_OK) print_error("%s: %s\n", path, err.message);
    assert_int_equal(st, INFER_OK);
    free(path);
    return m;
}

static size_t stops_of(const infer_model *m, int32_t *out) {
    size_t n = infer_model_stop_tokens(m, out, 8);
    assert_true(n <= 8);
    return n;
}

static int contains(const int32_t *ids, size_t n, int32_t id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

static char *render(const infer_model *m, const infer_chat_msg *msgs, size_t n, int gen) {
    size_t need = 0;
    assert_int_equal(infer_chat_render(m, msgs, n, gen, NULL, 0, &need), INFER_ERR_BUFFER_SMALL);
    char *buf = malloc(need + 1);
    size_t len = 0;
    assert_int_equal(infer_chat_render(m, msgs, n, gen, buf, need + 1, &len), INFER_OK);
    assert_int_equal(len, need);
    return buf;
}

/* Reads tests/data/chat/<rel>, replacing the reference date sentinel by `date`. */
static char *expected(const char *rel, const char *date) {
    char full[160];
    snprintf(full, sizeof full, "chat/%s", rel);
    char *path = test_fixture(full);
    assert_non_null(path);
    char *text = test_read_all(path, NULL);
    free(path);
    assert_non_null(text);
    char *at = date ? strstr(text, "2099-12-31") : NULL;
    if (at) memcpy(at, date, 10);
    return text;
}

static const infer_chat_msg MULTI_TURN[] = {
    {"system", "Be helpful."},
    {"user", "Hi"},
    {"assistant", "Hello! How can I help?"},
    {"user", "Tell me a joke."},
};

static void test_qwen3_vocab(void **state) {
    infer_model *m = load_vocab("tokenizer/qwen3.gguf");
    assert_string_equal(infer_chat_template_name(m), "chatml");
    assert_false(infer_chat_template_is_fallback(m));
    int32_t s[8];
    size_t n = stops_of(m, s);
    assert_true(contains(s, n, 151645));   /* <|im_end|> */
    assert_true(contains(s, n, 151643));   /* <|endoftext|> */
    assert_false(contains(s, n, 151644));  /* <|im_start|> */
    char *got = render(m, MULTI_TURN, 4, 1);
    char *want = expected("qwen3/multi_turn.gen.txt", NULL);
    assert_string_equal(got, want);
    /* The rendered special tokens are single tokens when parsed as special. */
    int32_t toks[64];
    size_t nt = 0;
    assert_int_equal(infer_tokenize(m, got, strlen(got), 0, 1, toks, 64, &nt), INFER_OK);
    assert_int_equal(toks[0], 151644);
    assert_int_equal(toks[nt - 3], 151644);   /* <|im_start|> "assistant" "\n" */
    free(got);
    free(want);
    infer_model_free(m);
}

static void test_llama3_vocab(void **state) {
    infer_model *m = load_vocab("tokenizer/llama3.gguf");
    assert_string_equal(infer_chat_template_name(m), "llama3");
    assert_false(infer_chat_template_is_fallback(m));
    int32_t s[8];
    size_t n = stops_of(m, s);
    assert_true(contains(s, n, 128009));   /* <|eot_id|> */
    assert_true(contains(s, n, 128001));   /* <|end_of_text|> (EOS) */
    assert_false(contains(s, n, 128006));  /* <|start_header_id|> */
    char *got = render(m, MULTI_TURN, 4, 1);
    char *want = expected("llama3/multi_turn.gen.txt", NULL);
    assert_string_equal(got, want);   /* BOS text comes from the vocabulary */
    free(got);
    free(want);
    infer_model_free(m);
}

static void test_gptoss_vocab(void **state) {
    infer_model *m = load_vocab("tokenizer/gptoss.gguf");   /* carries no chat template */
    assert_string_equal(infer_chat_template_name(m), "harmony");
    assert_false(infer_chat_template_is_fallback(m));
    int32_t s[8];
    size_t n = stops_of(m, s);
    assert_int_equal(n, 3);
    assert_true(contains(s, n, 200002));   /* <|return|> */
    assert_true(contains(s, n, 200012));   /* <|call|> */
    assert_true(contains(s, n, 199999));   /* <|endoftext|> */
    assert_false(contains(s, n, 200007));  /* <|end|> closes the analysis message too */
    char today[16];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(today, sizeof today, "%Y-%m-%d", &tm);
    char *got = render(m, MULTI_TURN, 4, 1);
    char *want = expected("harmony/multi_turn.gen.txt", today);
    assert_string_equal(got, want);
    free(got);
    free(want);
    infer_model_free(m);
}

static void test_unknown_template_falls_back(void **state) {
    infer_model *m = load_vocab("tokenizer/gpt2.gguf");   /* no template, arch gpt2 */
    assert_string_equal(infer_chat_template_name(m), "chatml");
    assert_true(infer_chat_template_is_fallback(m));
    int32_t s[8];
    size_t n = stops_of(m, s);
    assert_int_equal(n, 1);
    assert_int_equal(s[0], 50256);
    infer_model_free(m);

    m = load_vocab("models/stories260K.gguf");
    assert_true(infer_chat_template_is_fallback(m));
    n = stops_of(m, s);
    assert_int_equal(n, 1);
    assert_int_equal(s[0], 2);   /* </s> */
    /* cap smaller than the set: the count is still reported */
    assert_int_equal(infer_model_stop_tokens(m, NULL, 0), 1);
    infer_model_free(m);

    m = load_vocab("models/synth-qwen2-Q4_K_M.gguf");   /* qwen2 without a template */
    assert_string_equal(infer_chat_template_name(m), "chatml");
    assert_false(infer_chat_template_is_fallback(m));
    infer_model_free(m);
}

/* Tokenizes a reply (special tokens parsed), streams it through infer_chat_stream and
 * collects the text of each part. */
typedef struct parts {
    char text[4][256];
} parts;

static void stream_reply(const infer_model *m, const char *reply, parts *out) {
    memset(out, 0, sizeof *out);
    int32_t toks[128];
    size_t n = 0;
    assert_int_equal(infer_tokenize(m, reply, strlen(reply), 0, 1, toks, 128, &n), INFER_OK);
    infer_chat_stream *s = NULL;
    assert_int_equal(infer_chat_stream_init(m, &s, NULL), INFER_OK);
    assert_non_null(s);
    for (int round = 0; round < 2; round++) {   /* reset gives the same result again */
        memset(out, 0, sizeof *out);
        infer_chat_stream_reset(s);
        for (size_t i = 0; i < n; i++) {
            infer_chat_part p = infer_chat_stream_push(s, toks[i]);
            assert_true(p >= INFER_CHAT_PART_MARKUP && p <= INFER_CHAT_PART_OTHER);
            if (p == INFER_CHAT_PART_MARKUP) continue;
            char piece[64];
            size_t len = 0;
            assert_int_equal(infer_token_to_bytes(m, toks[i], piece, sizeof piece, &len), INFER_OK);
            strncat(out->text[p], piece, len);
        }
    }
    infer_chat_stream_free(s);
}

static void test_harmony_reply_channels(void **state) {
    infer_model *m = load_vocab("tokenizer/gptoss.gguf");
    parts p;
    /* The generation prompt ended with "<|start|>assistant": the reply opens a channel. */
    stream_reply(m,
                 "<|channel|>analysis<|message|>User asks 2+2. Easy.<|end|>"
                 "<|start|>assistant<|channel|>final<|message|>It is 4.",
                 &p);
    assert_string_equal(p.text[INFER_CHAT_PART_REASONING], "User asks 2+2. Easy.");
    assert_string_equal(p.text[INFER_CHAT_PART_ANSWER], "It is 4.");
    assert_string_equal(p.text[INFER_CHAT_PART_OTHER], "");
    stream_reply(m, "<|channel|>commentary to=functions.get_time json<|message|>{\"tz\":\"UTC\"}", &p);
    assert_string_equal(p.text[INFER_CHAT_PART_OTHER], "{\"tz\":\"UTC\"}");
    assert_string_equal(p.text[INFER_CHAT_PART_ANSWER], "");
    infer_model_free(m);
}

static void test_think_reply(void **state) {
    infer_model *m = load_vocab("tokenizer/qwen3.gguf");
    parts p;
    stream_reply(m, "<think>\nadd them\n</think>\n\nFour.", &p);
    assert_string_equal(p.text[INFER_CHAT_PART_REASONING], "\nadd them\n");
    assert_string_equal(p.text[INFER_CHAT_PART_ANSWER], "\n\nFour.");
    stream_reply(m, "No thinking here.", &p);
    assert_string_equal(p.text[INFER_CHAT_PART_ANSWER], "No thinking here.");
    infer_model_free(m);
    /* Llama 3: everything is answer, <|...|> text included. */
    m = load_vocab("tokenizer/llama3.gguf");
    stream_reply(m, "Plain <think> text", &p);
    assert_string_equal(p.text[INFER_CHAT_PART_ANSWER], "Plain <think> text");
    infer_model_free(m);
}

static void test_null_model(void **state) {
    assert_null(infer_chat_stream_new(NULL));
    infer_error e = {0};
    infer_chat_stream *cs = (infer_chat_stream *)&e;   /* set to NULL on failure */
    assert_int_equal(infer_chat_stream_init(NULL, &cs, &e), INFER_ERR_INVALID_ARG);
    assert_null(cs);
    assert_non_null(strstr(e.message, "model is NULL"));
    assert_int_equal(infer_chat_stream_push(NULL, 3), INFER_CHAT_PART_MARKUP);
    infer_chat_stream_reset(NULL);
    infer_chat_stream_free(NULL);
    assert_string_equal(infer_chat_template_name(NULL), "chatml");
    assert_int_equal(infer_model_stop_tokens(NULL, NULL, 0), 0);
    size_t n = 5;
    assert_int_equal(infer_chat_render(NULL, MULTI_TURN, 1, 1, NULL, 0, &n), INFER_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen3_vocab),
        cmocka_unit_test(test_llama3_vocab),
        cmocka_unit_test(test_gptoss_vocab),
        cmocka_unit_test(test_unknown_template_falls_back),
        cmocka_unit_test(test_harmony_reply_channels),
        cmocka_unit_test(test_think_reply),
        cmocka_unit_test(test_null_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
