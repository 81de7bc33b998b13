/* GBNF grammars: llama.cpp's grammar files parse; sentences, prefixes and non-sentences
 * written by hand from the GBNF rules are told apart; malformed grammars name their line
 * and column; the grammar stage on real vocabularies (stories260K's byte tokens, Qwen's
 * 151k BPE tokens): characters split over tokens, tokens spanning several elements,
 * end-of-generation only on a whole sentence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "testdata.h"

static infer_grammar *parse_ok(const char *text) {
    infer_grammar *g = NULL;
    infer_error e = {0};
    infer_status st = infer_grammar_parse(text, strlen(text), NULL, &g, &e);
    if (st != INFER_OK) fprintf(stderr, "parse failed: %s\n", e.message);
    assert_int_equal(st, INFER_OK);
    return g;
}

static int match(const infer_grammar *g, const char *text) { return infer_grammar_match(g, text, strlen(text)); }

static void test_llama_cpp_grammars_parse(void **state) {
    (void)state;
    const char *names[] = {"json", "json_arr", "arithmetic", "list", "c", "chess"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "grammars/%s.gbnf", names[i]);
        char *path = test_fixture(rel);
        assert_non_null(path);
        size_t len = 0;
        char *text = test_read_all(path, &len);
        assert_non_null(text);
        infer_grammar *g = NULL;
        infer_error e = {0};
        infer_status st = infer_grammar_parse(text, len, NULL, &g, &e);
        if (st) fprintf(stderr, "%s: %s\n", names[i], e.message);
        assert_int_equal(st, INFER_OK);
        if (strcmp(names[i], "json") == 0) {
            assert_int_equal(match(g, "{\"a\": [1, -2.5e3, \"x\\u00e9\\n\"], \"b\": null}"), 1);
            assert_int_equal(match(g, "{\"a\": [1,"), 2);
            assert_int_equal(match(g, "{\"a\" 1}"), 0);
            assert_int_equal(match(g, "[1]"), 0);   /* root is an object */
        } else if (strcmp(names[i], "chess") == 0) {
            assert_int_equal(match(g, "1. e4 e5\n2. Nf3 Nc6\n"), 1);
            assert_int_equal(match(g, "1. e4 e5\n2. O-O-O Qxd8#\n"), 1);
            assert_int_equal(match(g, "1. e4 e9\n2. Nf3 Nc6\n"), 0);
        } else if (strcmp(names[i], "arithmetic") == 0) {
            assert_int_equal(match(g, "(a+12)*b = c\n"), 1);
            assert_int_equal(match(g, "(a+ 12)*b = c\n"), 0);   /* ws only after a term */
            assert_int_equal(match(g, "a+ = c\n"), 0);
        } else if (strcmp(names[i], "list") == 0) {
            assert_int_equal(match(g, "- one\n- two\n"), 1);
            assert_int_equal(match(g, "- one\u2028x\n"), 0);   /* excluded line separator */
        } else if (strcmp(names[i], "c") == 0) {
            assert_int_equal(match(g, "int main(){return 0;}"), 1);
        }
        infer_grammar_free(g);
        free(text);
        free(path);
    }
}

static void test_syntax(void **state) {
    (void)state;
    infer_grammar *g = parse_ok("root ::= x{2,3} y? (\"-\" | [^a-c\\x41]+)* z{,2} w{2,}\n"
                                "x ::= [a-c]  # comment\n"
                                "y::=\"\\u00e9\"\n"
                                "z ::= .\n"
                                "w ::= \"\\t\" | \"\\U0001F600\"\n");
    assert_int_equal(match(g, "ab\t\t"), 1);
    assert_int_equal(match(g, "abc\u00e9-xyz-\t\U0001F600\t"), 1);
    assert_int_equal(match(g, "a\t\t"), 0);        /* x{2,3}: one is too few */
    assert_int_equal(match(g, "abcaaa\t\t"), 0);   /* x takes 3, z at most 2 more: one a too many */
    assert_int_equal(match(g, "abAA\t\t"), 1);     /* z{,2} takes AA */
    assert_int_equal(match(g, "abAAA\t\t"), 0);    /* \x41 = A is not in the group's class */
    assert_int_equal(match(g, "ab\t"), 2);         /* w{2,} needs two */
    assert_int_equal(match(g, "ab\xc3"), 2);       /* a partial UTF-8 char is no sentence */
    infer_grammar_free(g);

    g = parse_ok("root ::= (\"a\" | \"\")  \"b\"\n");   /* empty alternative inside a group */
    assert_int_equal(match(g, "b"), 1);
    assert_int_equal(match(g, "ab"), 1);
    infer_grammar_free(g);
    g = parse_ok("root ::= item+\nitem ::= [0-9]\n");
    assert_int_equal(match(g, ""), 2);
    assert_int_equal(match(g, "123"), 1);
    infer_grammar_free(g);
    infer_error e = {0};
    assert_int_equal(infer_grammar_parse("start ::= \"s\"", 13, "start", &g, &e), INFER_OK);
    infer_grammar_free(g);
}

static void expect_error(const char *text, const char *where) {
    infer_grammar *g = NULL;
    infer_error e = {0};
    infer_status st = infer_grammar_parse(text, strlen(text), NULL, &g, &e);
    assert_int_equal(st, INFER_ERR_FORMAT);
    assert_null(g);
    if (!strstr(e.message, where)) fprintf(stderr, "expected '%s' in '%s'\n", where, e.message);
    assert_non_null(strstr(e.message, where));
}

static void test_errors(void **state) {
    (void)state;
    expect_error("root ::= \"a\"\nfoo ::= [a-\n", "line 2, column 9: unterminated character class");
    expect_error("root ::= \"a\" |\n  b\n", "line 2, column 3: undefined rule b");
    expect_error("root ::= x\nx ::= y x\ny ::= \"\" | \"a\"\n", "left recursion");   /* through a nullable y */
    expect_error("root ::= \"a\"{3,1}\n", "line 1, column 13");
    expect_error("root ::= \"a\"{99999}\n", "repetition count too large");
    expect_error("root ::= \"\\q\"\n", "line 1, column 11: unknown escape");
    expect_error("root ::= (\"a\"\n", "line 2, column 1");
    expect_error("root ::= \"a\"\nroot ::= \"b\"\n", "line 2, column 1: rule defined twice");
    expect_error("root ::= [z-a]\n", "reversed");
    expect_error("root ::= *\n", "line 1, column 10");
    expect_error("root ::= \"a\" )\n", "unbalanced ')'");
    expect_error("root ::= \"\\xZZ\"\n", "hex digit");
    expect_error("root ::= \"\xff\"\n", "invalid UTF-8");
    expect_error("", "no rule named 'root'");
    infer_grammar *g = (infer_grammar *)1;
    assert_int_equal(infer_grammar_parse(NULL, 3, NULL, &g, NULL), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_grammar_match(NULL, "a", 1), 0);
    infer_grammar_free(NULL);
}

/* ---- the grammar stage on real vocabularies */

static infer_model *load_vocab(const char *rel) {
    char *path = test_fixture(rel);
    if (!path) return NULL;
    infer_model_params mp = infer_model_default_params();
    mp.vocab_only = 1;
    infer_model *m = NULL;
    assert_int_equal(infer_model_load(path, &mp, &m, NULL), INFER_OK);
    free(path);
    return m;
}

static int32_t single_token(const infer_model *m, const char *text) {
    int32_t t[8];
    size_t n = 0;
    assert_int_equal(infer_tokenize(m, text, strlen(text), 0, 0, t, 8, &n), INFER_OK);
    return n == 1 ? t[0] : -1;
}

/* Logits that rank `order` first to last above everything else. */
static void ranked(float *l, int32_t nv, const int32_t *order, size_t n) {
    for (int32_t i = 0; i < nv; i++) l[i] = -10.0f;
    for (size_t i = 0; i < n; i++) l[order[i]] = 10.0f - (float)i;
}

static infer_sampler *greedy_grammar(const infer_model *m, const char *gbnf) {
    infer_sampler *s = NULL;
    assert_int_equal(infer_sampler_chain_new(m, 0, 1, &s, NULL), INFER_OK);
    infer_status st = infer_sampler_add_grammar(s, gbnf, strlen(gbnf), NULL);
    if (st) fprintf(stderr, "%s\n", infer_sampler_last_error(s));
    assert_int_equal(st, INFER_OK);
    assert_int_equal(infer_sampler_add_greedy(s), INFER_OK);
    return s;
}

/* stories260K encodes é as two byte tokens <0xC3><0xA9>: the first is allowed as the
 * start of a character the grammar accepts, the second must complete it. */
static void test_split_utf8_byte_tokens(void **state) {
    (void)state;
    infer_model *m = load_vocab("models/stories260K.gguf");
    if (!m) skip();
    int32_t nv = infer_model_n_vocab(m);
    int32_t c3 = single_token(m, "<0xC3>"), a9 = -1, a8 = -1;
    /* Byte tokens are <0x00>..<0xFF> in order in this vocabulary: find them by text. */
    for (int32_t i = 0; i < nv; i++) {
        if (strcmp(infer_token_text(m, i), "<0xC3>") == 0) c3 = i;
        if (strcmp(infer_token_text(m, i), "<0xA9>") == 0) a9 = i;
        if (strcmp(infer_token_text(m, i), "<0xA8>") == 0) a8 = i;
    }
    assert_true(c3 >= 0 && a9 >= 0 && a8 >= 0);
    float *l = malloc((size_t)nv * sizeof *l);
    infer_sampler *s = greedy_grammar(m, "root ::= \"\\u00e9\"+");
    int32_t e_tok = single_token(m, "e");
    int32_t order1[] = {e_tok, c3};
    ranked(l, nv, order1, 2);
    assert_int_equal(infer_sampler_sample(s, l), c3);   /* "e" is refused, the lead byte is not */
    assert_int_equal(infer_sampler_accept(s, c3), INFER_OK);
    int32_t order2[] = {a8, c3, a9};   /* è's last byte, another lead byte, é's last byte */
    ranked(l, nv, order2, 3);
    assert_int_equal(infer_sampler_sample(s, l), a9);
    assert_int_equal(infer_sampler_accept(s, a8), INFER_ERR_INVALID_ARG);   /* refused, nothing changed */
    assert_int_equal(infer_sampler_accept(s, a9), INFER_OK);
    /* Complete now: end of generation is allowed and wins when ranked first. */
    int32_t eos = infer_token_eos(m);
    int32_t order3[] = {eos, c3};
    ranked(l, nv, order3, 2);
    assert_int_equal(infer_sampler_sample(s, l), eos);
    infer_sampler_reset(s);   /* back to the start: EOS is no longer allowed */
    assert_int_equal(infer_sampler_sample(s, l), c3);
    infer_sampler_free(s);
    free(l);
    infer_model_free(m);
}

/* Qwen's vocabulary: one token spanning several grammar elements ({" = "{" ws then the
 * string's quote), whitespace runs, and a grammar that allows nothing the model ranks:
 * the sampler still finds the allowed token far down the list. */
static void test_qwen_tokens_span_elements(void **state) {
    (void)state;
    infer_model *m = load_vocab("tokenizer/qwen3.gguf");
    if (!m) skip();
    int32_t nv = infer_model_n_vocab(m);
    float *l = malloc((size_t)nv * sizeof *l);
    int32_t brace_quote = single_token(m, "{\""), brace = single_token(m, "{"), hello = single_token(m, "hello");
    assert_true(brace_quote >= 0 && brace >= 0 && hello >= 0);
    const char *gbnf = "root ::= \"{\" ws \"\\\"\" [a-z]{1,5} \"\\\"\" ws \"}\"\nws ::= [ \\n]*\n";
    infer_sampler *s = greedy_grammar(m, gbnf);
    int32_t order[] = {hello, brace_quote, brace};
    ranked(l, nv, order, 3);
    assert_int_equal(infer_sampler_sample(s, l), brace_quote);
    assert_int_equal(infer_sampler_accept(s, brace_quote), INFER_OK);
    assert_int_equal(infer_sampler_sample(s, l), hello);
    assert_int_equal(infer_sampler_accept(s, hello), INFER_OK);
    /* Only a quote continues ([a-z]{1,5} is full): the ranked tokens are refused and
     * an allowed one is found far down the list. */
    int32_t quote = single_token(m, "\"");
    for (int32_t i = 0; i < nv; i++) l[i] = (float)(i % 97) * 0.01f;
    l[quote] = -5.0f;
    int32_t t = infer_sampler_sample(s, l);
    char buf[64];
    size_t n = 0;
    assert_true(t >= 0);
    assert_int_equal(infer_token_to_bytes(m, t, buf, sizeof buf, &n), INFER_OK);
    assert_true(n >= 1 && buf[0] == '"');
    /* Accepting text outside the grammar is refused; the prompt path ignores grammars. */
    assert_int_equal(infer_sampler_accept(s, hello), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_sampler_accept(s, brace), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_sampler_accept_prompt(s, brace), INFER_OK);
    assert_int_equal(infer_sampler_accept(s, quote), INFER_OK);
    infer_sampler_free(s);

    /* A grammar stage needs the model. */
    infer_sampler *plain = NULL;
    assert_int_equal(infer_sampler_chain_new(NULL, nv, 1, &plain, NULL), INFER_OK);
    assert_int_equal(infer_sampler_add_grammar(plain, gbnf, strlen(gbnf), NULL), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(infer_sampler_last_error(plain), "without a model"));
    assert_int_equal(infer_sampler_add_grammar(plain, "x ::= ", 6, NULL), INFER_ERR_INVALID_ARG);
    infer_sampler_free(plain);

    /* Every character stays reachable through Qwen's byte tokens, even one that no
     * token spells whole: the first byte of U+10FFFD is allowed. */
    s = greedy_grammar(m, "root ::= [\\U0010FFFD]");
    int32_t t2 = infer_sampler_sample(s, l);
    assert_true(t2 >= 0);
    assert_int_equal(infer_token_to_bytes(m, t2, buf, sizeof buf, &n), INFER_OK);
    assert_true(n == 1 && (unsigned char)buf[0] == 0xF4);
    infer_sampler_free(s);
    free(l);
    infer_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_cpp_grammars_parse),
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_split_utf8_byte_tokens),
        cmocka_unit_test(test_qwen_tokens_span_elements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
