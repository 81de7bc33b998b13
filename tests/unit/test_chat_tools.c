/* Tool-call parsing of assistant replies. The main cases parse the assistant turns that
 * the models' own templates print for a tool call (jinja2's renderings in
 * tests/data/chat-templates/expected): what a model trained on its template emits. The
 * call read back must be the conversation's: get_weather {"location": "Paris, France",
 * "unit": "celsius"}. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "testdata.h"

static const char *const TOOLS =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\"}}},"
    " {\"type\": \"function\", \"function\": {\"name\": \"search\", \"parameters\": {\"type\": \"object\"}}}]";

static infer_chat_parsed *parse(const char *text, const char *tools) {
    infer_chat_parsed *p = NULL;
    infer_error err = {0};
    assert_int_equal(infer_chat_parse_reply(text, tools, &p, &err), INFER_OK);
    assert_non_null(p);
    return p;
}

static void expect_call(const infer_chat_parsed *p, size_t i, const char *name, const char *args_json, const char *id) {
    const infer_chat_tool_call *c = infer_chat_parsed_tool_call(p, i);
    assert_non_null(c);
    assert_string_equal(c->name, name);
    json_t *got = json_loads(c->arguments, JSON_DECODE_ANY, NULL), *want = json_loads(args_json, JSON_DECODE_ANY, NULL);
    if (!got || !want || !json_equal(got, want)) fail_msg("arguments %s, expected %s", c->arguments, args_json);
    json_decref(got);
    json_decref(want);
    assert_non_null(c->id);
    if (id) assert_string_equal(c->id, id);
    else assert_int_equal(strlen(c->id), 9);   /* generated: 9 alphanumerics, as Mistral needs */
}

/* The text between the first `start` (kept when keep_start) and the following `end`. */
static char *extract(const char *tmpl, const char *conv, const char *start, int keep_start, const char *end) {
    char rel[256];
    snprintf(rel, sizeof rel, "chat-templates/expected/%s/%s.txt", tmpl, conv);
    char *path = test_fixture(rel);
    assert_non_null(path);
    size_t len = 0;
    char *text = test_read_all(path, &len);
    free(path);
    assert_non_null(text);
    char *a = strstr(text, start);
    assert_non_null(a);
    if (!keep_start) a += strlen(start);
    char *b = strstr(a, end);
    assert_non_null(b);
    char *out = strndup(a, (size_t)(b - a));
    free(text);
    return out;
}

static const char *const PARIS = "{\"location\": \"Paris, France\", \"unit\": \"celsius\"}";

static void test_template_formats(void **state) {
    (void)state;
    static const struct {
        const char *tmpl, *conv, *start;
        int keep_start;
        const char *end, *id;
    } cases[] = {
        {"Qwen-Qwen2.5-7B-Instruct", "tool_call_dict_args", "<|im_start|>assistant\n<tool_call>", 0, "<|im_end|>", NULL},
        {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", "tool_call_dict_args", "<tool_call>\n{\"name\": \"get_weather\"", 1,
         "<|im_end|>", NULL},
        {"Qwen-Qwen3-0.6B", "tool_call_json_args", "<|im_start|>assistant\n<tool_call>", 0, "<|im_end|>", NULL},
        {"mistralai-Mistral-Nemo-Instruct-2407", "tool_result_null_content", "[TOOL_CALLS]", 1, "</s>", "call00001"},
        {"Mistral-Small-3.2-24B-Instruct-2506", "tool_result_null_content", "[TOOL_CALLS]", 1, "</s>", "call00001"},
        {"meta-llama-Llama-3.1-8B-Instruct", "tool_call_dict_args", "assistant<|end_header_id|>\n\n{", 0, "<|eot_id|>", NULL},
        {"openai-gpt-oss-120b", "tool_call_dict_args", "to=functions.get_weather", 1, "<|start|>functions", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *turn = extract(cases[i].tmpl, cases[i].conv, cases[i].start, cases[i].keep_start, cases[i].end);
        /* Llama 3.1's turn started at its '{', which the marker consumed */
        char *text = turn;
        if (strcmp(cases[i].tmpl, "meta-llama-Llama-3.1-8B-Instruct") == 0) {
            text = malloc(strlen(turn) + 2);
            sprintf(text, "{%s", turn);
        } else if (strcmp(cases[i].tmpl, "Qwen-Qwen2.5-7B-Instruct") == 0 || strcmp(cases[i].tmpl, "Qwen-Qwen3-0.6B") == 0) {
            text = malloc(strlen(turn) + 16);
            sprintf(text, "<tool_call>%s", turn);
        } else if (strcmp(cases[i].tmpl, "openai-gpt-oss-120b") == 0) {
            text = malloc(strlen(turn) + 32);
            sprintf(text, "<|start|>assistant %s", turn);
        }
        infer_chat_parsed *p = parse(text, TOOLS);
        if (infer_chat_parsed_n_tool_calls(p) != 1)
            fail_msg("%s: %zu calls in '%s'", cases[i].tmpl, infer_chat_parsed_n_tool_calls(p), text);
        expect_call(p, 0, "get_weather", PARIS, cases[i].id);
        assert_string_equal(infer_chat_parsed_content(p), "");
        infer_chat_parsed_free(p);
        if (text != turn) free(text);
        free(turn);
    }
}

static void test_reasoning_and_content(void **state) {
    (void)state;
    infer_chat_parsed *p = parse("<think>\nLet me check.\n</think>\n\nI will look it up.\n<tool_call>\n"
                                 "{\"name\": \"search\", \"arguments\": {\"query\": \"zürich \\\"weather\\\"\", \"max_results\": 3}}\n"
                                 "</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Zürich\"}}\n</tool_call>",
                                 TOOLS);
    assert_string_equal(infer_chat_parsed_reasoning(p), "Let me check.");
    assert_string_equal(infer_chat_parsed_content(p), "I will look it up.");
    assert_int_equal(infer_chat_parsed_n_tool_calls(p), 2);
    expect_call(p, 0, "search", "{\"query\": \"zürich \\\"weather\\\"\", \"max_results\": 3}", NULL);
    expect_call(p, 1, "get_weather", "{\"location\": \"Zürich\"}", NULL);
    assert_string_not_equal(infer_chat_parsed_tool_call(p, 0)->id, infer_chat_parsed_tool_call(p, 1)->id);
    assert_null(infer_chat_parsed_tool_call(p, 2));
    infer_chat_parsed_free(p);

    /* the generation prompt opened <think>: the reply starts inside it */
    p = parse("thinking...</think>\n\nThe answer is 4.", NULL);
    assert_string_equal(infer_chat_parsed_reasoning(p), "thinking...");
    assert_string_equal(infer_chat_parsed_content(p), "The answer is 4.");
    assert_int_equal(infer_chat_parsed_n_tool_calls(p), 0);
    infer_chat_parsed_free(p);

    /* Harmony: analysis is reasoning, final is the answer */
    p = parse("<|channel|>analysis<|message|>User asks 2+2.<|end|><|start|>assistant<|channel|>final<|message|>4", NULL);
    assert_string_equal(infer_chat_parsed_reasoning(p), "User asks 2+2.");
    assert_string_equal(infer_chat_parsed_content(p), "4");
    infer_chat_parsed_free(p);

    /* Harmony tool call with the recipient after the channel */
    p = parse("<|channel|>analysis<|message|>Need weather.<|end|><|start|>assistant<|channel|>commentary "
              "to=functions.get_weather <|constrain|>json<|message|>{\"location\":\"Paris, France\",\"unit\":\"celsius\"}<|call|>",
              TOOLS);
    assert_int_equal(infer_chat_parsed_n_tool_calls(p), 1);
    expect_call(p, 0, "get_weather", PARIS, NULL);
    assert_string_equal(infer_chat_parsed_reasoning(p), "Need weather.");
    infer_chat_parsed_free(p);
}

static void test_fallbacks(void **state) {
    (void)state;
    /* Llama 3.x plain JSON, with a fence, and the generic {"tool_calls": [...]} */
    infer_chat_parsed *p = parse("```json\n{\"type\": \"function\", \"name\": \"get_weather\", \"parameters\": "
                                 "{\"location\": \"Paris, France\", \"unit\": \"celsius\"}}\n```",
                                 TOOLS);
    assert_int_equal(infer_chat_parsed_n_tool_calls(p), 1);
    expect_call(p, 0, "get_weather", PARIS, NULL);
    infer_chat_parsed_free(p);
    p = parse("{\"tool_calls\": [{\"id\": \"abc\", \"function\": {\"name\": \"search\", \"arguments\": \"{\\\"query\\\": \\\"x\\\"}\"}}]}",
              TOOLS);
    assert_int_equal(infer_chat_parsed_n_tool_calls(p), 1);
    expect_call(p, 0, "search", "{\"query\": \"x\"}", "abc");
    infer_chat_parsed_free(p);
    p = parse("<|python_tag|>{\"name\": \"search\", \"parameters\": {\"query\": \"a\"}}; {\"name\": \"search\", \"parameters\": {\"query\": \"b\"}}",
              TOOLS);
    assert_int_equal(infer_chat_parsed_n_tool_calls(p), 2);
    expect_call(p, 1, "search", "{\"query\": \"b\"}", NULL);
    infer_chat_parsed_free(p);

    /* not calls: JSON answers without tools, unknown names, broken JSON stay content */
    static const struct { const char *text, *tools; } plain[] = {
        {"{\"name\": \"get_weather\", \"arguments\": {}}", NULL},
        {"{\"name\": \"launch_rockets\", \"arguments\": {}}", TOOLS},
        {"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\n</tool_call>", TOOLS},
        {"[TOOL_CALLS] not json", TOOLS},
        {"Plain answer with [brackets] and {braces}.", TOOLS},
        {"", TOOLS},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        p = parse(plain[i].text, plain[i].tools);
        assert_int_equal(infer_chat_parsed_n_tool_calls(p), 0);
        assert_string_equal(infer_chat_parsed_content(p), plain[i].text);
        infer_chat_parsed_free(p);
    }
}

static void test_bad_arguments(void **state) {
    (void)state;
    infer_chat_parsed *p = NULL;
    infer_error err = {0};
    assert_int_equal(infer_chat_parse_reply(NULL, NULL, &p, &err), INFER_ERR_INVALID_ARG);
    assert_null(p);
    assert_int_equal(infer_chat_parse_reply("x", "{not json", &p, &err), INFER_ERR_INVALID_ARG);
    assert_null(p);
    assert_int_equal(infer_chat_parsed_n_tool_calls(NULL), 0);
    assert_string_equal(infer_chat_parsed_content(NULL), "");
    infer_chat_parsed_free(NULL);
    /* truncated and hostile inputs never crash */
    static const char *const junk[] = {"<tool_call>", "<tool_call>{", "[TOOL_CALLS]", "[TOOL_CALLS]x[ARGS]",
                                       "<|channel|><|message|>", "<|channel|>commentary to=functions.<|message|>",
                                       "<think>", "</think>", "<|python_tag|>;;;", "[TOOL_CALLS][CALL_ID][ARGS]{}"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        assert_int_equal(infer_chat_parse_reply(junk[i], TOOLS, &p, &err), INFER_OK);
        infer_chat_parsed_free(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_formats),
        cmocka_unit_test(test_reasoning_and_content),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
