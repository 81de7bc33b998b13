/* infer-server's reply assembly (tools/server/reply.c): generated tokens routed into a
 * job's text by the library's chat stream classifier, then split into text and tool calls
 * by the library's reply parser, in OpenAI's and Ollama's shapes.
 *
 * The Harmony (gpt-oss) replies are the assistant turns jinja2 printed with gpt-oss's own
 * template (chat-templates/expected), tokenized with the real gpt-oss vocabulary
 * (tokenizer/gptoss.gguf) so that <|channel|>, <|message|>, ... are the single special
 * tokens a model emits: what the scheduler feeds the router. The call read back must be
 * the conversation's: get_weather {"location": "Paris, France", "unit": "celsius"}.
 * Hermes replies check that streaming the safe prefix and then the rest gives exactly the
 * text a whole (non-streamed) answer has. */
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
#include "reply.h"
#include "testdata.h"

static const char *const TOOLS =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\"}}},"
    " {\"type\": \"function\", \"function\": {\"name\": \"search\", \"parameters\": {\"type\": \"object\"}}}]";
static const char *const PARIS = "{\"location\": \"Paris, France\", \"unit\": \"celsius\"}";

static void expect_json_equal(const char *got_text, json_t *got_obj, const char *want_text) {
    json_t *want = json_loads(want_text, 0, NULL);
    json_t *got = got_obj ? json_incref(got_obj) : json_loads(got_text, 0, NULL);
    assert_non_null(want);
    if (!got || !json_equal(got, want)) fail_msg("arguments %s, expected %s", got_text ? got_text : "(object)", want_text);
    json_decref(got);
    json_decref(want);
}

/* The gpt-oss assistant turn of the tool-call conversation, from its header on. */
static char *harmony_call_turn(void) {
    char *path = test_fixture_or_skip("chat-templates/expected/openai-gpt-oss-120b/tool_call_dict_args.txt");
    size_t len = 0;
    char *text = test_read_all(path, &len);
    free(path);
    assert_non_null(text);
    const char *a = strstr(text, " to=functions.get_weather<|channel|>");
    assert_non_null(a);
    const char *b = strstr(a, "<|call|>");   /* a stop token: never routed */
    assert_non_null(b);
    char *turn = strndup(a, (size_t)(b - a));
    free(text);
    return turn;
}

/* Routes the tokens of reply text (special tokens parsed) as the scheduler does. */
static job *route(const infer_model *m, const char *reply, const char *tools, int harmony) {
    job *j = job_new();
    assert_non_null(j);
    j->chat = 1;
    j->harmony = harmony;
    j->tools_json = tools ? strdup(tools) : NULL;
    int32_t toks[4096];
    size_t n = 0;
    assert_int_equal(infer_tokenize(m, reply, strlen(reply), 0, 1, toks, 4096, &n), INFER_OK);
    reply_router r;
    assert_int_equal(reply_router_init(&r, m), 0);
    assert_int_equal(reply_router_start(&r), 0);
    for (size_t i = 0; i < n; i++) assert_int_equal(reply_router_push(&r, j, toks[i]), 0);
    reply_router_end(&r, j, 1);
    reply_router_free(&r);
    job_set_finish(j, JOB_STOP, NULL);
    return j;
}

static infer_model *gptoss_vocab(void) {
    char *path = test_fixture_or_skip("tokenizer/gptoss.gguf");
    infer_model_params p = infer_model_default_params();
    p.vocab_only = 1;
    infer_model *m = NULL;
    infer_error err = {0};
    assert_int_equal(infer_model_load(path, &p, &m, &err), INFER_OK);
    free(path);
    assert_string_equal(infer_chat_template_name(m), "harmony");
    return m;
}

static void test_harmony_tool_call(void **state) {
    (void)state;
    infer_model *m = gptoss_vocab();
    char *call = harmony_call_turn();
    /* analysis first, then the call: what the model writes after "<|start|>assistant" */
    char reply[2048];
    snprintf(reply, sizeof reply, "<|channel|>analysis<|message|>Need the weather.<|end|><|start|>assistant%s", call);
    job *j = route(m, reply, TOOLS, 1);
    assert_string_equal(j->reasoning.p, "Need the weather.");
    assert_int_equal(j->content.n, 0);   /* commentary is not answer text */

    sbuf rest = {0};
    json_t *calls = reply_finish(j, 0, 0, &rest);
    assert_non_null(calls);
    assert_int_equal(json_array_size(calls), 1);
    json_t *c = json_array_get(calls, 0);
    assert_string_equal(json_string_value(json_object_get(c, "type")), "function");
    assert_true(json_string_length(json_object_get(c, "id")) > 0);
    json_t *fn = json_object_get(c, "function");
    assert_string_equal(json_string_value(json_object_get(fn, "name")), "get_weather");
    expect_json_equal(json_string_value(json_object_get(fn, "arguments")), NULL, PARIS);
    assert_int_equal(rest.n, 0);
    json_decref(calls);
    sbuf_free(&rest);

    calls = reply_finish(j, 0, 1, &rest);   /* Ollama: arguments as an object */
    assert_int_equal(json_array_size(calls), 1);
    fn = json_object_get(json_array_get(calls, 0), "function");
    assert_string_equal(json_string_value(json_object_get(fn, "name")), "get_weather");
    expect_json_equal(NULL, json_object_get(fn, "arguments"), PARIS);
    json_decref(calls);
    sbuf_free(&rest);
    job_release(j);

    /* the final channel is the answer, and no call: the text streamed as it came */
    j = route(m, "<|channel|>analysis<|message|>Easy.<|end|><|start|>assistant<|channel|>final<|message|>It is 22 °C.", TOOLS, 1);
    assert_string_equal(j->reasoning.p, "Easy.");
    assert_string_equal(j->content.p, "It is 22 °C.");
    calls = reply_finish(j, 4, 0, &rest);
    assert_null(calls);
    assert_string_equal(rest.p, "s 22 °C.");
    sbuf_free(&rest);
    job_release(j);
    free(call);
    infer_model_free(m);
}

/* A job whose answer text is `text` (as routed), tools offered. */
static job *answer_job(const char *text) {
    job *j = job_new();
    assert_non_null(j);
    j->chat = 1;
    j->tools_json = strdup(TOOLS);
    job_append_content(j, text, strlen(text));
    job_set_finish(j, JOB_STOP, NULL);
    return j;
}

/* Streams text as it grows one byte at a time (what reply_stream_safe allows), then the
 * end; the concatenation must equal the whole answer, and the calls must agree. */
static void check_stream_equals_whole(const char *text, size_t n_calls, const char *whole_text) {
    job *j = answer_job(text);
    sbuf whole = {0}, streamed = {0}, rest = {0};
    json_t *calls = reply_finish(j, 0, 0, &whole);
    assert_int_equal(json_array_size(calls), n_calls);
    if (whole_text) assert_string_equal(whole.p ? whole.p : "", whole_text);
    size_t sent = 0, n = strlen(text);
    for (size_t k = 1; k <= n; k++) {
        size_t safe = reply_stream_safe(text, k);
        assert_true(safe <= k);
        if (safe > sent) {
            sbuf_put(&streamed, text + sent, safe - sent);
            sent = safe;
        }
    }
    json_t *calls2 = reply_finish(j, sent, 0, &rest);
    sbuf_put(&streamed, rest.p ? rest.p : "", rest.n);
    assert_int_equal(json_array_size(calls2), n_calls);
    assert_string_equal(streamed.p ? streamed.p : "", whole.p ? whole.p : "");
    for (size_t i = 0; i < n_calls; i++) {
        json_t *a = json_object_get(json_object_get(json_array_get(calls, i), "function"), "arguments");
        json_t *b = json_object_get(json_object_get(json_array_get(calls2, i), "function"), "arguments");
        assert_string_equal(json_string_value(a), json_string_value(b));
    }
    json_decref(calls);
    json_decref(calls2);
    sbuf_free(&whole);
    sbuf_free(&streamed);
    sbuf_free(&rest);
    job_release(j);
}

static void test_stream_safe_prefix(void **state) {
    (void)state;
    assert_int_equal(reply_stream_safe("Hello", 5), 5);
    assert_int_equal(reply_stream_safe("Hello <tool_ca", 14), 5);     /* could be a marker */
    assert_int_equal(reply_stream_safe("Hello <b>", 9), 9);
    assert_int_equal(reply_stream_safe("  {\"name\"", 9), 0);          /* a bare JSON call? */
    assert_int_equal(reply_stream_safe("[TOOL_CALLS][", 13), 0);
    assert_int_equal(reply_stream_safe("\n\n", 2), 0);
    assert_int_equal(reply_stream_safe("Sure.\n<tool_call>\n{", 19), 5);
    assert_int_equal(reply_stream_safe("a <|python_tag|>x", 17), 1);

    check_stream_equals_whole("Once upon a time, there was a girl.", 0, "Once upon a time, there was a girl.");
    check_stream_equals_whole("I will check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n"
                              "</tool_call>",
                              1, "I will check.");
    check_stream_equals_whole("<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": \"a\"}}\n</tool_call>\n<tool_call>\n"
                              "{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>",
                              2, "");
    check_stream_equals_whole("{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}", 1, "");
    check_stream_equals_whole("[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {}}]", 1, "");
    check_stream_equals_whole("{not json at all", 0, "{not json at all");
    check_stream_equals_whole("Text with a <tool_call> that never closes", 0, NULL);

    /* a whole call in a code fence (Qwen2.5-Coder writes them so without a system prompt):
     * held while the opening could still be one, released once it cannot */
    assert_int_equal(reply_stream_safe("``", 2), 0);
    assert_int_equal(reply_stream_safe("```js", 5), 0);
    assert_int_equal(reply_stream_safe("```json\n {", 10), 0);
    assert_int_equal(reply_stream_safe("```python\nx", 12), 12);
    assert_int_equal(reply_stream_safe("```\nls -l", 10), 10);
    assert_int_equal(reply_stream_safe("``x", 3), 3);
    check_stream_equals_whole("```json\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n```", 1, "");
    check_stream_equals_whole("```\n[{\"name\": \"search\", \"arguments\": {\"q\": \"a\"}}]\n```", 1, "");
    check_stream_equals_whole("```json\n{\"a\": 1}\n```", 0, "```json\n{\"a\": 1}\n```");   /* JSON, not a call */
    check_stream_equals_whole("```python\nprint(1)\n```", 0, "```python\nprint(1)\n```");
}

/* Hermes calls go out as each block closes, with the ids the end's parse gives them. */
static void test_closed_calls_early(void **state) {
    (void)state;
    const char *one = "Let me look.\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": \"a\"}}\n</tool_call>\n<tool_call>\n{\"na";
    const char *two = "me\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_call>";
    job *j = job_new();
    assert_non_null(j);
    j->chat = 1;
    j->tools_json = strdup(TOOLS);
    job_append_content(j, "Let me look.", 12);
    assert_null(reply_closed_calls(j, 0, 0));   /* no block yet */
    j->content.n = 0;
    job_append_content(j, one, strlen(one));
    json_t *first = reply_closed_calls(j, 0, 0);
    assert_int_equal(json_array_size(first), 1);
    assert_null(reply_closed_calls(j, 1, 0));   /* the second is not closed */
    job_append_content(j, two, strlen(two));
    json_t *second = reply_closed_calls(j, 1, 0);
    assert_int_equal(json_array_size(second), 1);
    job_set_finish(j, JOB_STOP, NULL);
    sbuf rest = {0};
    json_t *all = reply_finish(j, 12, 0, &rest);
    assert_int_equal(json_array_size(all), 2);
    assert_int_equal(rest.n, 0);
    assert_true(json_equal(json_array_get(all, 0), json_array_get(first, 0)));
    assert_true(json_equal(json_array_get(all, 1), json_array_get(second, 0)));
    json_t *fn = json_object_get(json_array_get(second, 0), "function");
    assert_string_equal(json_string_value(json_object_get(fn, "name")), "get_weather");
    json_decref(first);
    json_decref(second);
    json_decref(all);
    sbuf_free(&rest);
    job_release(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_harmony_tool_call),
        cmocka_unit_test(test_stream_safe_prefix),
        cmocka_unit_test(test_closed_calls_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
