/* The public rendering API over a real model file's own template: the tokenizer GGUFs in
 * ../shared/testdata/tokenizer carry Qwen3's and Llama 3's tokenizer.chat_template, whose
 * texts are byte-identical to chat-templates/Qwen-Qwen3-0.6B and Meta-Llama-3-8B-Instruct.
 * Messages given as structs (tool calls, tool results, reasoning) and as a JSON request
 * must render exactly as jinja2 rendered the same conversation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "testdata.h"

static infer_model *g_qwen3, *g_llama3;

static char *expected(const char *tmpl, const char *conv, size_t *len) {
    char rel[256];
    snprintf(rel, sizeof rel, "chat-templates/expected/%s/%s.txt", tmpl, conv);
    char *path = test_fixture(rel);
    assert_non_null(path);
    char *text = test_read_all(path, len);
    free(path);
    assert_non_null(text);
    return text;
}

static void assert_render_equals(const char *got, size_t n, const char *tmpl, const char *conv) {
    size_t len = 0;
    char *want = expected(tmpl, conv, &len);
    if (n != len || memcmp(got, want, len) != 0) fail_msg("%s x %s differs:\n%s\n---- expected ----\n%s", tmpl, conv, got, want);
    free(want);
}

static const char *const TOOLS =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the current weather for a location.\", "
    "\"parameters\": {\"type\": \"object\", \"properties\": {\"location\": {\"type\": \"string\", \"description\": \"City and "
    "country, e.g. \\\"Paris, France\\\" or \\\"Zürich, Schweiz\\\"\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"celsius\", "
    "\"fahrenheit\"], \"description\": \"Temperature unit\"}}, \"required\": [\"location\"]}}}, {\"type\": \"function\", "
    "\"function\": {\"name\": \"search\", \"description\": \"Search the web and return the top results.\", \"parameters\": "
    "{\"type\": \"object\", \"properties\": {\"query\": {\"type\": \"string\", \"description\": \"The search query\"}, "
    "\"max_results\": {\"type\": \"integer\", \"description\": \"Maximum number of results\", \"default\": 5}}, \"required\": "
    "[\"query\"]}}}]";

/* tool_call_dict_args.json as structs */
static void test_messages_with_tool_calls(void **state) {
    (void)state;
    infer_chat_tool_call call = {sizeof call, "call_1", "get_weather", "{\"location\": \"Paris, France\", \"unit\": \"celsius\"}"};
    infer_chat_message msgs[] = {
        {.struct_size = sizeof msgs[0], .role = "system", .content = "You are a helpful assistant."},
        {.struct_size = sizeof msgs[0], .role = "user", .content = "What's the weather like in Paris right now?"},
        {.struct_size = sizeof msgs[0], .role = "assistant", .content = "", .tool_calls = &call, .n_tool_calls = 1},
        {.struct_size = sizeof msgs[0], .role = "tool",
         .content = "{\"temperature\": 22, \"unit\": \"celsius\", \"condition\": \"sunny\"}", .tool_call_id = "call_1",
         .name = "get_weather"},
        {.struct_size = sizeof msgs[0], .role = "assistant", .content = "It is 22 °C and sunny in Paris right now."},
        {.struct_size = sizeof msgs[0], .role = "user", .content = "Thanks! Should I take an umbrella?"},
    };
    infer_chat_render_opts o = {.struct_size = sizeof o, .add_generation_prompt = 1, .tools_json = TOOLS};
    char buf[16384];
    size_t n = 0;
    infer_error err = {0};
    assert_int_equal(infer_chat_render_messages(g_qwen3, msgs, 6, &o, buf, sizeof buf, &n, &err), INFER_OK);
    assert_render_equals(buf, n, "Qwen-Qwen3-0.6B", "tool_call_dict_args");

    /* too small a buffer reports the size needed */
    size_t need = 0;
    assert_int_equal(infer_chat_render_messages(g_qwen3, msgs, 6, &o, buf, 10, &need, &err), INFER_ERR_BUFFER_SMALL);
    assert_int_equal(need, n);
}

/* reasoning_content.json (assistant turns carrying reasoning) as structs, no generation prompt;
 * plus the extra variable enable_thinking=false */
static void test_reasoning_and_extra(void **state) {
    (void)state;
    char rel[] = "chat-templates/conversations/reasoning_content.json";
    char *path = test_fixture(rel);
    assert_non_null(path);
    size_t len = 0;
    char *conv = test_read_all(path, &len);
    free(path);
    char buf[16384];
    size_t n = 0;
    infer_error err = {0};
    assert_int_equal(infer_chat_render_json(g_qwen3, conv, buf, sizeof buf, &n, &err), INFER_OK);
    assert_render_equals(buf, n, "Qwen-Qwen3-0.6B", "reasoning_content");
    free(conv);

    infer_chat_message user = {.struct_size = sizeof user, .role = "user", .content = "Hello! What is the capital of France?"};
    infer_chat_render_opts o = {.struct_size = sizeof o, .add_generation_prompt = 1, .extra_json = "{\"enable_thinking\": false}"};
    assert_int_equal(infer_chat_render_messages(g_qwen3, &user, 1, &o, buf, sizeof buf, &n, &err), INFER_OK);
    /* enable_thinking_false.json holds exactly this user turn */
    assert_render_equals(buf, n, "Qwen-Qwen3-0.6B", "enable_thinking_false");
}

/* The older infer_chat_render (plain turns) now renders the model's template too, with the
 * model's own BOS text for bos_token. */
static void test_plain_render_uses_template(void **state) {
    (void)state;
    infer_chat_msg msgs[] = {{"user", "Hello! What is the capital of France?"}};
    char buf[4096];
    size_t n = 0;
    assert_int_equal(infer_chat_render(g_llama3, msgs, 1, 1, buf, sizeof buf, &n), INFER_OK);
    assert_render_equals(buf, n, "Meta-Llama-3-8B-Instruct", "user_only");
    assert_string_equal(infer_chat_template_name(g_llama3), "llama3");
    assert_int_equal(infer_chat_template_is_fallback(g_llama3), 0);
}

static void test_errors(void **state) {
    (void)state;
    char buf[256];
    size_t n = 0;
    infer_error err = {0};
    infer_chat_message m = {.struct_size = sizeof m, .role = NULL, .content = "x"};
    assert_int_equal(infer_chat_render_messages(g_qwen3, &m, 1, NULL, buf, sizeof buf, &n, &err), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "message 0"));
    m.role = "user";
    infer_chat_render_opts o = {.struct_size = sizeof o, .tools_json = "{\"not\": \"a list\"}"};
    assert_int_equal(infer_chat_render_messages(g_qwen3, &m, 1, &o, buf, sizeof buf, &n, &err), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_chat_render_json(g_qwen3, "{\"messages\": 5}", buf, sizeof buf, &n, &err), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_chat_render_json(g_qwen3, "not json", buf, sizeof buf, &n, &err), INFER_ERR_INVALID_ARG);
    /* a template that raises: its message comes back */
    infer_template_opts to = {sizeof to, NULL, NULL, NULL};
    assert_int_equal(infer_template_render("{{ raise_exception('no system role') }}", "{\"messages\": []}", &to, buf,
                                           sizeof buf, &n, &err),
                     INFER_ERR_FORMAT);
    assert_string_equal(err.message, "raise_exception: no system role");
    assert_int_equal(infer_template_render("{% if %}", "{\"messages\": []}", &to, buf, sizeof buf, &n, &err), INFER_ERR_FORMAT);
    assert_non_null(strstr(err.message, "line 1"));
}

int main(void) {
    char *q = test_fixture_or_skip("tokenizer/qwen3.gguf");
    char *l = test_fixture_or_skip("tokenizer/llama3.gguf");
    infer_model_params mp = infer_model_default_params();
    mp.vocab_only = 1;
    infer_error err = {0};
    if (infer_model_load(q, &mp, &g_qwen3, &err) != INFER_OK || infer_model_load(l, &mp, &g_llama3, &err) != INFER_OK) {
        fprintf(stderr, "cannot load the tokenizer models: %s\n", err.message);
        return 1;
    }
    free(q);
    free(l);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_with_tool_calls),
        cmocka_unit_test(test_reasoning_and_extra),
        cmocka_unit_test(test_plain_render_uses_template),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    infer_model_free(g_qwen3);
    infer_model_free(g_llama3);
    return rc;
}
