/* infer-gguf end to end: runs the built tool, checks exit codes, that --json output is
 * one valid JSON document (checked by a strict validator below, UTF-8 included), and
 * that it reports the values read independently from the files (see test_gguf_reader.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "infer.h"
#include "gguf/gguf_writer.h"
#include "tensor/dtype.h"
#include "testdata.h"

static char tool[1024], out_path[64], err_path[64];
static char *stories_path, *q4km_path;
static char *out_text, *err_text;
static size_t out_len;

/* Runs infer-gguf with args; captures stdout/stderr; returns the exit status. */
static int run_tool(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s > '%s' 2> '%s'", tool, args, out_path, err_path);
    int rc = system(cmd);
    free(out_text);
    free(err_text);
    out_text = test_read_all(out_path, &out_len);
    err_text = test_read_all(err_path, NULL);
    assert_non_null(out_text);
    assert_non_null(err_text);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* ---- a strict JSON validator (RFC 8259), including UTF-8 validity of strings */
typedef struct jp { const unsigned char *s, *end; int depth; } jp;

static void ws(jp *p) { while (p->s < p->end && (*p->s == ' ' || *p->s == '\n' || *p->s == '\r' || *p->s == '\t')) p->s++; }
static int value(jp *p);

static int utf8_len(const unsigned char *s, const unsigned char *end) {
    unsigned c = s[0], cp, min;
    int n;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (end - s < n) return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    return cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? n : 0;
}

static int string(jp *p) {
    if (p->s >= p->end || *p->s != '"') return 0;
    for (p->s++; p->s < p->end;) {
        unsigned c = *p->s;
        if (c == '"') { p->s++; return 1; }
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (++p->s >= p->end) return 0;
            if (strchr("\"\\/bfnrt", *p->s)) { p->s++; continue; }
            if (*p->s != 'u' || p->end - p->s < 5) return 0;
            for (int i = 1; i <= 4; i++) if (!strchr("0123456789abcdefABCDEF", p->s[i])) return 0;
            p->s += 5;
            continue;
        }
        int n = utf8_len(p->s, p->end);
        if (!n) return 0;
        p->s += n;
    }
    return 0;
}

static int digits(jp *p) {
    const unsigned char *b = p->s;
    while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    return p->s > b;
}

static int number(jp *p) {
    if (p->s < p->end && *p->s == '-') p->s++;
    if (p->s < p->end && *p->s == '0') p->s++;
    else if (!digits(p)) return 0;
    if (p->s < p->end && *p->s == '.') { p->s++; if (!digits(p)) return 0; }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-')) p->s++;
        if (!digits(p)) return 0;
    }
    return 1;
}

static int literal(jp *p, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n)) return 0;
    p->s += n;
    return 1;
}

static int container(jp *p, char close, int is_obj) {
    if (++p->depth > 64) return 0;
    p->s++;
    ws(p);
    if (p->s < p->end && *p->s == close) { p->s++; p->depth--; return 1; }
    for (;;) {
        ws(p);
        if (is_obj) {
            if (!string(p)) return 0;
            ws(p);
            if (p->s >= p->end || *p->s++ != ':') return 0;
        }
        if (!value(p)) return 0;
        ws(p);
        if (p->s >= p->end) return 0;
        if (*p->s == ',') { p->s++; continue; }
        if (*p->s == close) { p->s++; p->depth--; return 1; }
        return 0;
    }
}

static int value(jp *p) {
    ws(p);
    if (p->s >= p->end) return 0;
    switch (*p->s) {
    case '{': return container(p, '}', 1);
    case '[': return container(p, ']', 0);
    case '"': return string(p);
    case 't': return literal(p, "true");
    case 'f': return literal(p, "false");
    case 'n': return literal(p, "null");
    default: return number(p);
    }
}

static int valid_json(const char *s, size_t n) {
    jp p = {(const unsigned char *)s, (const unsigned char *)s + n, 0};
    if (!value(&p)) return 0;
    ws(&p);
    return p.s == p.end;
}

static void assert_contains(const char *hay, const char *needle) {
    if (!strstr(hay, needle)) print_error("output lacks: %s\n", needle);
    assert_non_null(strstr(hay, needle));
}

/* ---- tests */

static void test_validator_rejects_bad_json(void **state) {
    /* the validator must be able to fail, or the tests below prove nothing */
    const char *good = "{\"a\": [1, -0.5, 2.5e-3, \"x\\u00e9\", true, null, {}]}";
    assert_true(valid_json(good, strlen(good)));
    const char *bad[] = {"{\"a\": 1,}", "[1 2]", "\"\x01\"", "\"\xff\"", "{\"a\" 1}", "[nan]", "01", "\"\xed\xa0\x80\"", "{} {}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_false(valid_json(bad[i], strlen(bad[i])));
}

static void test_json_stories(void **state) {
    char args[1200];
    snprintf(args, sizeof args, "--json '%s'", stories_path);
    assert_int_equal(run_tool(args), 0);
    assert_true(valid_json(out_text, out_len));
    assert_contains(out_text, "\"version\": 3");
    assert_contains(out_text, "\"data_offset\": 14176");
    assert_contains(out_text, "\"llama.embedding_length\": 64");
    assert_contains(out_text, "\"general.architecture\": \"llama\"");
    assert_contains(out_text, "\"tokenizer.ggml.padding_token_id\": 4294967295");
    assert_contains(out_text, "\"tokenizer.ggml.tokens\": [\"<unk>\", \"<s>\", \"</s>\", \"<0x00>\"");
    assert_contains(out_text, "{\"name\": \"token_embd.weight\", \"type\": \"F32\", \"shape\": [64, 512], \"offset\": 0, \"bytes\": 131072}");
    assert_contains(out_text, "{\"name\": \"blk.4.ffn_norm.weight\", \"type\": \"F32\", \"shape\": [64], \"offset\": 1170944, \"bytes\": 256}");
    /* 64*512*2 + 64 + 5 layers * (64*64*2 + 64*32*2 + 64*2 + 64*172*3) */
    assert_contains(out_text, "\"params\": 292800, \"bytes\": 1171200");
}

static void test_json_quantized(void **state) {
    char args[1200];
    snprintf(args, sizeof args, "'%s' --json", q4km_path);
    assert_int_equal(run_tool(args), 0);
    assert_true(valid_json(out_text, out_len));
    assert_contains(out_text, "{\"name\": \"output.weight\", \"type\": \"Q6_K\", \"shape\": [256, 512], \"offset\": 0, \"bytes\": 107520}");
    assert_contains(out_text, "{\"name\": \"token_embd.weight\", \"type\": \"Q4_K\", \"shape\": [256, 512], \"offset\": 108544");
    assert_contains(out_text, "\"llama.rope.freq_base\": 500000");
}

static void test_text_mode(void **state) {
    char args[1200];
    snprintf(args, sizeof args, "'%s'", stories_path);
    assert_int_equal(run_tool(args), 0);
    assert_contains(out_text, "version:     3");
    assert_contains(out_text, "string[512]");
    assert_contains(out_text, "... (512 items)");   /* long arrays abbreviated */
    assert_contains(out_text, "totals: 48 tensors, 292800 params, 1171200 bytes, 32.0000 bits per weight");
    snprintf(args, sizeof args, "--full '%s'", stories_path);
    assert_int_equal(run_tool(args), 0);
    assert_null(strstr(out_text, "(512 items)"));
}

/* Strings with control characters, quotes and invalid UTF-8 still give valid JSON. */
static void test_json_escaping(void **state) {
    char path[] = "/tmp/infer_gguf_tool_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    infer_gguf_writer *w = infer_gguf_writer_new();
    infer_gguf_writer_set_strn(w, "ctl", "\x01\x1f\"\\\n\t", 6);
    infer_gguf_writer_set_strn(w, "bad", "\xff\xc0\xaf\xed\xa0\x80\xe2\x82", 8);
    infer_gguf_writer_set_str(w, "good", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    infer_gguf_writer_set_str(w, "key\nwith\x7f" "ctl", "v");
    const char *arr[] = {"ok", "\x80", "\"q\""};
    infer_gguf_writer_set_arr_str(w, "arr", arr, NULL, 3);
    float nan_inf[2] = {__builtin_nanf(""), __builtin_inff()};
    infer_gguf_writer_set_arr(w, "nonfinite", INFER_GGUF_FLOAT32, nan_inf, 2);
    uint64_t ne = 2;
    float t[2] = {1, 2};
    infer_gguf_writer_add_tensor(w, "na\"me", INFER_TYPE_F32, 1, &ne, t);
    assert_int_equal(infer_gguf_writer_save(w, path, NULL), INFER_OK);
    infer_gguf_writer_free(w);

    char args[1200];
    snprintf(args, sizeof args, "--json '%s'", path);
    assert_int_equal(run_tool(args), 0);
    if (!valid_json(out_text, out_len)) print_error("%s\n", out_text);
    assert_true(valid_json(out_text, out_len));
    assert_contains(out_text, "\"ctl\": \"\\u0001\\u001f\\\"\\\\\\n\\t\"");
    assert_contains(out_text, "\"bad\": \"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
    assert_contains(out_text, "\"good\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    assert_contains(out_text, "\"key\\nwith\\u007fctl\": \"v\"");
    assert_contains(out_text, "\"arr\": [\"ok\", \"\\ufffd\", \"\\\"q\\\"\"]");
    assert_contains(out_text, "\"nonfinite\": [null, null]");
    assert_contains(out_text, "\"name\": \"na\\\"me\"");
    snprintf(args, sizeof args, "'%s'", path);     /* text mode escapes too */
    assert_int_equal(run_tool(args), 0);
    assert_contains(out_text, "\"\\x01\\x1f\\\"\\\\\\n\\t\"");
    unlink(path);
}

static void test_bad_files_exit_1(void **state) {
    char path[] = "/tmp/infer_gguf_tool_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = 0;
    char *img = test_read_all(stories_path, &len);
    assert_non_null(img);
    assert_int_equal(write(fd, img, 5000), 5000);     /* cut inside the token array */
    close(fd);
    free(img);
    char args[1200];
    snprintf(args, sizeof args, "--json '%s'", path);
    assert_int_equal(run_tool(args), 1);
    assert_int_equal(out_len, 0);
    assert_int_equal(strncmp(err_text, "error: ", 7), 0);
    assert_contains(err_text, "tokenizer.ggml.tokens");
    unlink(path);
    assert_int_equal(run_tool("/nonexistent/file.gguf"), 1);
    assert_int_equal(strncmp(err_text, "error: ", 7), 0);
    assert_int_equal(run_tool("--bogus x"), 2);
}

int main(void) {
    snprintf(tool, sizeof tool, "%s/infer-gguf", INFER_TOOLS_DIR);
    if (access(tool, X_OK) != 0) {
        printf("infer-gguf not built at %s\n", tool);
        return 1;
    }
    stories_path = test_fixture_or_skip("models/stories260K.gguf");
    q4km_path = test_fixture_or_skip("models/synth-llama-Q4_K_M.gguf");
    snprintf(out_path, sizeof out_path, "/tmp/infer_gguf_tool_out_%d", (int)getpid());
    snprintf(err_path, sizeof err_path, "/tmp/infer_gguf_tool_err_%d", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validator_rejects_bad_json),
        cmocka_unit_test(test_json_stories),
        cmocka_unit_test(test_json_quantized),
        cmocka_unit_test(test_text_mode),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_bad_files_exit_1),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(out_path);
    unlink(err_path);
    free(out_text);
    free(err_text);
    free(stories_path);
    free(q4km_path);
    return rc;
}
