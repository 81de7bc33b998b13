/* infer-tokenize end to end: every .inp string of a bundled vocabulary, written to a
 * file, tokenized by the tool (--no-bos --parse-special -f FILE) must print exactly the
 * reference ids of the .out file (GPT-2: one vocabulary is enough here, the library
 * test covers the others). Also checks -p, --pieces and BOS handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testdata.h"

#define SEP "\n__ggml_vocab_test__\n"

/* Runs the tool with args; returns its stdout (malloc'd, NUL-terminated). */
static char *run_tool(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s/infer-tokenize' %s", INFER_TOOLS_DIR, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 4096, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    size_t got;
    while ((got = fread(out + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) { cap *= 2; out = realloc(out, cap); assert_non_null(out); }
    }
    out[n] = 0;
    assert_int_equal(pclose(p), 0);
    return out;
}

static void check_tool_on(const char *gguf_rel, const char *name) {
    char rel[128];
    char *model = test_fixture(gguf_rel);
    snprintf(rel, sizeof rel, "tokenizer/%s.inp", name);
    char *inp_path = test_fixture(rel);
    snprintf(rel, sizeof rel, "tokenizer/%s.out", name);
    char *out_path = test_fixture(rel);
    assert_non_null(model);
    assert_non_null(inp_path);
    assert_non_null(out_path);
    char *inp = test_read_all(inp_path, NULL), *want = test_read_all(out_path, NULL);
    assert_non_null(inp);
    assert_non_null(want);
    char tmp[] = "/tmp/infer-tokenize-test-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    int cases = 0, bad = 0;
    char *s = inp, *line = want, *end;
    while ((end = strstr(s, SEP))) {
        char *eol = strchr(line, '\n');
        assert_non_null(eol);
        *eol = 0;
        FILE *f = fopen(tmp, "wb");
        assert_non_null(f);
        fwrite(s, 1, (size_t)(end - s), f);
        fclose(f);
        char args[2048];
        snprintf(args, sizeof args, "-m '%s' --no-bos --parse-special -f '%s'", model, tmp);
        char *got = run_tool(args);
        char *nl = strchr(got, '\n');
        assert_non_null(nl);   /* one line of ids, even when empty */
        *nl = 0;
        if (strcmp(got, line) != 0) {
            bad++;
            printf("MISMATCH %s case %d\n  want: %s\n  got:  %s\n", name, cases, line, got);
        }
        free(got);
        cases++;
        s = end + strlen(SEP);
        line = eol + 1;
    }
    unlink(tmp);
    printf("%s: %d/%d strings match through infer-tokenize\n", name, cases - bad, cases);
    assert_true(cases > 0);
    assert_int_equal(bad, 0);
    free(inp); free(want); free(model); free(inp_path); free(out_path);
}

static void test_tool_gpt2(void **state) { (void)state; check_tool_on("tokenizer/gpt2.gguf", "gpt2"); }

/* BOS by default for a vocabulary whose add_bos_token is true (Llama 2), none with
 * --no-bos; the pieces listing shows the SPM space marker as a space. The ids are
 * those of the reference llama-spm.out for the case "Hello world". */
static void test_tool_bos_and_pieces(void **state) {
    (void)state;
    char *model = test_fixture("tokenizer/llama-spm.gguf");
    assert_non_null(model);
    char args[1024];
    snprintf(args, sizeof args, "-m '%s' -p 'Hello world'", model);
    char *got = run_tool(args);
    assert_string_equal(got, "1 15043 3186\n");
    free(got);
    snprintf(args, sizeof args, "-m '%s' --no-bos --pieces -p 'Hello world'", model);
    got = run_tool(args);
    assert_string_equal(got, "15043\t Hello\n3186\t world\n");
    free(got);
    free(model);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tool_gpt2),
        cmocka_unit_test(test_tool_bos_and_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
