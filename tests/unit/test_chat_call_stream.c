/* infer_chat_call_stream: Hermes/Qwen tool calls followed while a reply streams. Each
 * reply is fed whole, byte by byte, cut once at every position and in token-like pieces
 * of 1-7 bytes (so markers, escapes, \u sequences and UTF-8 characters are split every
 * way). At every step a reported call's arguments may only grow by appending and hold
 * whole UTF-8 characters; the end state must be the expected one, written out here by
 * hand, and equal to what infer_chat_parse_reply says of the finished reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"

#define MAX_CALLS 4

typedef struct seen {
    size_t n_calls;
    char name[MAX_CALLS][64];
    char args[MAX_CALLS][512];
    size_t n_args[MAX_CALLS];
    int complete[MAX_CALLS];
    int stopped;
    int growths;   /* times call 0's arguments grew */
} seen;

static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!l || i + l > n) return 0;
        for (size_t k = 1; k < l; k++)
            if (((unsigned char)s[i + k] & 0xC0) != 0x80) return 0;
        i += l;
    }
    return 1;
}

/* Reads the stream's calls into sn, checking they only grew since so. */
static void observe(const infer_chat_call_stream *cs, const seen *so, seen *sn) {
    *sn = *so;
    sn->n_calls = infer_chat_call_stream_n_calls(cs);
    assert_true(sn->n_calls >= so->n_calls);
    assert_true(sn->n_calls <= MAX_CALLS);
    for (size_t i = 0; i < sn->n_calls; i++) {
        infer_chat_call_progress p = {.struct_size = sizeof p};
        assert_int_equal(infer_chat_call_stream_call(cs, i, &p), INFER_OK);
        assert_non_null(p.name);
        assert_true(p.n_arguments < sizeof sn->args[i]);
        assert_true(valid_utf8(p.arguments, p.n_arguments));
        if (i < so->n_calls) {   /* what was reported stays: same name, arguments appended to */
            assert_string_equal(p.name, so->name[i]);
            assert_true(p.n_arguments >= so->n_args[i]);
            assert_memory_equal(p.arguments, so->args[i], so->n_args[i]);
            if (so->complete[i]) assert_int_equal(p.n_arguments, so->n_args[i]);
        }
        if (i == 0 && p.n_arguments > (i < so->n_calls ? so->n_args[i] : 0)) sn->growths++;
        snprintf(sn->name[i], sizeof sn->name[i], "%s", p.name);
        memcpy(sn->args[i], p.arguments, p.n_arguments);
        sn->args[i][p.n_arguments] = 0;
        sn->n_args[i] = p.n_arguments;
        sn->complete[i] = p.complete;
    }
    sn->stopped = infer_chat_call_stream_stopped(cs);
    if (so->stopped) assert_true(sn->stopped);
}

/* Feeds text in pieces: cut (> 0) splits once there; else pieces of 1..7 bytes from seed. */
static seen run(const char *text, size_t cut, unsigned seed, size_t piece) {
    infer_chat_call_stream *cs = NULL;
    assert_int_equal(infer_chat_call_stream_new(&cs), INFER_OK);
    seen s = {0}, t;
    size_t n = strlen(text);
    for (size_t i = 0; i < n;) {
        size_t k = cut ? (i < cut ? cut - i : n - i) : piece ? piece : 1 + (seed = seed * 1103515245u + 12345u) % 7;
        if (k > n - i) k = n - i;
        assert_int_equal(infer_chat_call_stream_push(cs, text + i, k), INFER_OK);
        i += k;
        observe(cs, &s, &t);
        s = t;
    }
    infer_chat_call_stream_free(cs);
    return s;
}

typedef struct want {
    size_t n_calls;
    const char *name[MAX_CALLS];
    const char *args[MAX_CALLS];
    int complete[MAX_CALLS];
    int stopped;
    size_t n_parsed;   /* calls infer_chat_parse_reply finds in the finished reply */
    int min_growths;   /* fed byte by byte, call 0's arguments grow at least this often */
} want;

static void expect(const seen *s, const want *w, const char *how) {
    if (s->n_calls != w->n_calls) fail_msg("%s: %zu calls, expected %zu", how, s->n_calls, w->n_calls);
    for (size_t i = 0; i < w->n_calls; i++) {
        if (strcmp(s->name[i], w->name[i]) != 0 || strcmp(s->args[i], w->args[i]) != 0 || s->complete[i] != w->complete[i])
            fail_msg("%s: call %zu is %s %s (complete %d), expected %s %s (%d)", how, i, s->name[i], s->args[i],
                     s->complete[i], w->name[i], w->args[i], w->complete[i]);
    }
    if (s->stopped != w->stopped) fail_msg("%s: stopped %d, expected %d", how, s->stopped, w->stopped);
}

/* Every way of feeding text ends in w; the finished reply parses into the same calls. */
static void check(const char *text, const want *w) {
    char how[64];
    seen s = run(text, 0, 0, 1);
    expect(&s, w, "byte by byte");
    if (s.growths < w->min_growths) fail_msg("call 0's arguments grew %d times, expected %d", s.growths, w->min_growths);
    s = run(text, 0, 0, strlen(text));
    expect(&s, w, "whole");
    for (size_t cut = 1; cut < strlen(text); cut++) {
        snprintf(how, sizeof how, "cut at %zu", cut);
        s = run(text, cut, 0, 0);
        expect(&s, w, how);
    }
    for (unsigned seed = 1; seed < 40; seed++) {
        snprintf(how, sizeof how, "pieces, seed %u", seed);
        s = run(text, 0, seed, 0);
        expect(&s, w, how);
    }
    infer_chat_parsed *p = NULL;
    infer_error err = {0};
    assert_int_equal(infer_chat_parse_reply(text, NULL, &p, &err), INFER_OK);
    assert_int_equal(infer_chat_parsed_n_tool_calls(p), w->n_parsed);
    for (size_t i = 0; i < w->n_parsed && i < w->n_calls; i++) {
        const infer_chat_tool_call *c = infer_chat_parsed_tool_call(p, i);
        assert_string_equal(c->name, w->name[i]);
        assert_string_equal(c->arguments, w->args[i]);
    }
    infer_chat_parsed_free(p);
}

static void test_one_call_after_text(void **state) {
    (void)state;
    want w = {1, {"get_weather"}, {"{\"location\":\"Paris, France\",\"unit\":\"celsius\",\"days\":[1,2.5e3,-3],\"ok\":true}"},
              {1}, 0, 1, 60};
    check("Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris, France\", "
          "\"unit\": \"celsius\",\n  \"days\": [1, 2.5e3, -3], \"ok\" : true}}\n</tool_call>",
          &w);
}

/* Escapes and non-ASCII text inside the arguments stay as the model wrote them. */
static void test_escapes_and_unicode(void **state) {
    (void)state;
    want w = {1, {"search"}, {"{\"q\":\"z\xc3\xbcrich \\\"weather\\\" \\u00e9 \\ud83d\\ude00 \xf0\x9f\x98\x80 a\\\\b \\/\"}"}, {1}, 0, 1, 40};
    check("<tool_call>{\"name\": \"search\", \"arguments\": {\"q\": \"z\xc3\xbcrich \\\"weather\\\" \\u00e9 \\ud83d\\ude00 "
          "\xf0\x9f\x98\x80 a\\\\b \\/\"}}</tool_call>",
          &w);
}

/* Arguments written as a JSON string are that string decoded. */
static void test_string_arguments(void **state) {
    (void)state;
    want w = {1, {"f"}, {"{\"a\": \"\xc3\xa9\xf0\x9f\x98\x80\", \"b\": [1]}"}, {1}, 0, 1, 15};
    check("<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": \\\"\\u00e9\\ud83d\\ude00\\\", \\\"b\\\": [1]}\"}</tool_call>",
          &w);
}

/* The name comes first to a client: arguments written before it wait for it. */
static void test_arguments_before_name(void **state) {
    (void)state;
    want w = {1, {"get_weather"}, {"{\"city\":\"Oslo\"}"}, {1}, 0, 1, 0};
    check("<tool_call>{\"arguments\": {\"city\": \"Oslo\"}, \"id\": 7, \"name\": \"get_weather\"}</tool_call>", &w);
    seen s = run("<tool_call>{\"arguments\": {\"city\": \"Oslo\"}, \"na", 0, 0, 1);
    assert_int_equal(s.n_calls, 0);
}

static void test_two_calls_and_defaults(void **state) {
    (void)state;
    /* "parameters" as the arguments key, none at all ({}), a second arguments key ignored */
    want w = {3, {"a", "b", "c"}, {"{\"x\":[{}]}", "{}", "{\"y\":1}"}, {1, 1, 1}, 0, 3, 0};
    check("<tool_call>\n{\"name\": \"a\", \"parameters\": {\"x\": [ { } ]}}\n</tool_call>\nand\n"
          "<tool_call>{\"name\":\"b\"}</tool_call> <tool_call>{\"name\":\"c\",\"arguments\":{\"y\":1},\"arguments\":{\"z\":2}}"
          "</tool_call>",
          &w);
}

/* A marker-like text inside an argument string ends the block, as for the whole-reply
 * parser: the call stays reported but incomplete, and nothing after it is followed. */
static void test_invalid_and_cut_short(void **state) {
    (void)state;
    want bad = {1, {"f"}, {"{\"x\":"}, {0}, 1, 0, 0};
    check("<tool_call>{\"name\": \"f\", \"arguments\": {\"x\": }}</tool_call><tool_call>{\"name\":\"g\"}</tool_call>", &bad);
    want early = {1, {"f"}, {"{\"x\":\""}, {0}, 1, 0, 0};
    check("<tool_call>{\"name\": \"f\", \"arguments\": {\"x\": \"</tool_call>\"}}</tool_call>", &early);
    want cut = {1, {"f"}, {"{\"x\":\"ab"}, {0}, 0, 0, 0};
    check("<tool_call>{\"name\": \"f\", \"arguments\": {\"x\": \"ab", &cut);
    /* the block's close is optional at the end of the reply */
    want open = {1, {"f"}, {"{\"x\":1}"}, {1}, 0, 1, 0};
    check("<tool_call>{\"name\": \"f\", \"arguments\": {\"x\": 1}}", &open);
}

/* Shapes the stream leaves to the finished reply's parse. */
static void test_other_shapes_stop(void **state) {
    (void)state;
    want list = {0, {0}, {0}, {0}, 1, 2, 0};
    check("<tool_call>[{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": {}}]</tool_call>", &list);
    want fn = {0, {0}, {0}, {0}, 1, 1, 0};
    check("<tool_call>{\"function\": {\"name\": \"a\", \"arguments\": {}}}</tool_call>", &fn);
    want text = {0, {0}, {0}, {0}, 0, 0, 0};
    check("No calls here, not even a <tool_call but <tool_c...", &text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_call_after_text),   cmocka_unit_test(test_escapes_and_unicode),
        cmocka_unit_test(test_string_arguments),      cmocka_unit_test(test_arguments_before_name),
        cmocka_unit_test(test_two_calls_and_defaults), cmocka_unit_test(test_invalid_and_cut_short),
        cmocka_unit_test(test_other_shapes_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
