/* Shared by the tokenizer tests: runs every string of a vocabulary's .inp file through
 * the tokenizer and compares with the reference ids of its .out file (made with the
 * model's own Hugging Face / llama.cpp tokenizer; the edge/ set with the Hugging Face
 * tokenizers and sentencepiece libraries, see tests/data/tokenizer/edge/gen.py).
 * Include after cmocka.h. */
#ifndef TEST_TOKENIZER_EXPECT_H
#define TEST_TOKENIZER_EXPECT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "testdata.h"
#include "tokenizer/vocab.h"

#define VOCAB_TEST_SEP "\n__ggml_vocab_test__\n"

static inline struct infer_vocab *load_vocab_fixture(const char *path, infer_gguf **g_out) {
    infer_error err = {0};
    infer_gguf *g = NULL;
    infer_status st = infer_gguf_open(path, &g, &err);
    if (st) fprintf(stderr, "%s: %s\n", path, err.message);
    assert_int_equal(st, INFER_OK);
    struct infer_vocab *v = NULL;
    st = infer_vocab_load(g, &v, &err);
    if (st) fprintf(stderr, "%s: %s\n", path, err.message);
    assert_int_equal(st, INFER_OK);
    *g_out = g;
    return v;
}

/* Compares every .inp string with its .out line; returns the number of mismatches
 * (each one printed with both id lists). */
static inline int check_expectations(const struct infer_vocab *v, const char *inp_path, const char *out_path) {
    size_t inp_len = 0, out_len = 0;
    char *inp = test_read_all(inp_path, &inp_len);
    char *out = test_read_all(out_path, &out_len);
    assert_non_null(inp);
    assert_non_null(out);
    int bad = 0, cases = 0;
    size_t sep_len = strlen(VOCAB_TEST_SEP);
    char *s = inp, *line = out;
    int32_t *toks = malloc((1 << 16) * sizeof *toks);
    assert_non_null(toks);
    for (;;) {
        /* memmem, not strstr: a test string may hold a NUL byte. */
        char *end = memmem(s, (size_t)(inp + inp_len - s), VOCAB_TEST_SEP, sep_len);
        if (!end) break;
        char *eol = strchr(line, '\n');
        assert_non_null(eol);
        *eol = 0;
        size_t n = 0;
        infer_status st = infer_vocab_tokenize(v, s, (size_t)(end - s), false, true, toks, 1 << 16, &n);
        assert_int_equal(st, INFER_OK);
        char got[65536];
        size_t g = 0;
        got[0] = 0;
        for (size_t i = 0; i < n && g + 16 < sizeof got; i++)
            g += (size_t)snprintf(got + g, sizeof got - g, i ? " %d" : "%d", toks[i]);
        if (strcmp(got, line) != 0) {
            bad++;
            printf("MISMATCH case %d: \"%.*s\"\n  want: %s\n  got:  %s\n", cases, (int)(end - s), s, line, got);
        }
        cases++;
        s = end + sep_len;
        line = eol + 1;
    }
    assert_true(cases > 0);
    printf("%s: %d/%d strings match\n", inp_path, cases - bad, cases);
    free(toks);
    free(inp);
    free(out);
    return bad;
}

/* One vocabulary checked against a fixture pair: gguf_path is the vocab file, inp_rel
 * and out_rel the strings and expected ids (fixture-relative paths). */
static inline void check_vocab_files(const char *gguf_path, const char *inp_rel, const char *out_rel) {
    infer_gguf *g = NULL;
    struct infer_vocab *v = load_vocab_fixture(gguf_path, &g);
    char *inp = test_fixture(inp_rel), *out = test_fixture(out_rel);
    assert_non_null(inp);
    assert_non_null(out);
    assert_int_equal(check_expectations(v, inp, out), 0);
    free(inp);
    free(out);
    infer_vocab_free(v);
    infer_gguf_close(g);
}

/* The reference lists tokenizer/<name>.inp/.out and the edge cases
 * tokenizer/edge/edge.inp with tokenizer/edge/<name>.out. */
static inline void check_vocab(const char *gguf_path, const char *name) {
    char rel_inp[128], rel_out[128];
    snprintf(rel_inp, sizeof rel_inp, "tokenizer/%s.inp", name);
    snprintf(rel_out, sizeof rel_out, "tokenizer/%s.out", name);
    check_vocab_files(gguf_path, rel_inp, rel_out);
    snprintf(rel_out, sizeof rel_out, "tokenizer/edge/%s.out", name);
    check_vocab_files(gguf_path, "tokenizer/edge/edge.inp", rel_out);
}

#endif
