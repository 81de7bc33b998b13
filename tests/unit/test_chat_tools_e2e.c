/* A tool-call round trip with the real Qwen2.5-Coder-1.5B-Instruct through the library
 * only: the tools are offered through the model's own template, the model (greedy)
 * calls get_weather for Paris, the call is parsed, the result is fed back as a tool
 * message, and the model answers with the result's temperature.
 * Needs $INFER_MODELS (default ~/.cache/libinfer/models)/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
 * (scripts/fetch-models.sh qwen2.5-coder-1.5b) and INFER_REAL_MODELS=1 (real-model runs belong
 * to scripts/test-real-models.sh, which sets it, not to the default suite); exits 77
 * (skipped) otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "infer.h"
#include "testdata.h"

static char g_model_path[1024];

static const char *const TOOLS =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the current weather "
    "for a city.\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", "
    "\"description\": \"The city name\"}}, \"required\": [\"city\"]}}}]";

/* Renders the conversation, evaluates it from scratch and generates greedily until a stop
 * token (at most max_new). Returns the reply text (malloc'ed). */
static char *generate(infer_model *m, infer_ctx *ctx, const infer_chat_message *msgs, size_t n, int max_new) {
    infer_chat_render_opts o = {.struct_size = sizeof o, .add_generation_prompt = 1, .tools_json = TOOLS};
    size_t need = 0;
    infer_error err = {0};
    static char prompt[65536];
    infer_status st = infer_chat_render_messages(m, msgs, n, &o, prompt, sizeof prompt, &need, &err);
    if (st != INFER_OK) fail_msg("render: %s (%s)", infer_status_str(st), err.message);
    /* the prompt is the model's template output: tools listed, calls in <tool_call> blocks */
    assert_non_null(strstr(prompt, "\"name\": \"get_weather\""));
    static int32_t toks[16384];
    size_t nt = 0;
    assert_int_equal(infer_tokenize(m, prompt, need, 0, 1, toks, 16384, &nt), INFER_OK);
    infer_ctx_kv_clear(ctx);
    assert_int_equal(infer_ctx_decode(ctx, toks, NULL, NULL, (int32_t)nt), INFER_OK);
    int32_t stop[16];
    size_t n_stop = infer_model_stop_tokens(m, stop, 16);
    infer_sampler_params sp = infer_sampler_default_params();
    sp.temperature = 0;
    infer_sampler *smp = infer_sampler_new(&sp, infer_model_n_vocab(m));
    infer_detok *dt = infer_detok_new(m);
    assert_non_null(smp);
    assert_non_null(dt);
    size_t cap = 8192, len = 0;
    char *out = calloc(cap, 1);
    int32_t row = (int32_t)nt - 1;
    for (int i = 0; i < max_new; i++) {
        const float *logits = infer_ctx_logits(ctx, row);
        assert_non_null(logits);
        int32_t tok = infer_sampler_sample(smp, logits);
        int is_stop = 0;
        for (size_t k = 0; k < n_stop && k < 16; k++) is_stop |= tok == stop[k];
        if (is_stop) break;
        char buf[256];
        size_t nb = 0;
        if (infer_detok_push(dt, tok, buf, sizeof buf, &nb) == INFER_OK && len + nb < cap) {
            memcpy(out + len, buf, nb);
            len += nb;
        }
        assert_int_equal(infer_ctx_decode(ctx, &tok, NULL, NULL, 1), INFER_OK);
        row = 0;
    }
    infer_detok_free(dt);
    infer_sampler_free(smp);
    return out;
}

static void test_round_trip(void **state) {
    (void)state;
    infer_model *m = NULL;
    infer_error err = {0};
    infer_model_params mp = infer_model_default_params();
    assert_int_equal(infer_model_load(g_model_path, &mp, &m, &err), INFER_OK);
    infer_ctx_params cp = infer_ctx_default_params();
    cp.n_ctx = 1024;
    cp.backend = INFER_BACKEND_CPU;
    infer_ctx *ctx = NULL;
    assert_int_equal(infer_ctx_new(m, &cp, &ctx, &err), INFER_OK);

    infer_chat_message msgs[4] = {
        {.struct_size = sizeof msgs[0], .role = "system",
         .content = "You are a helpful assistant. Use tools when needed; once you have a tool result, answer the user "
                    "in one plain sentence."},
        {.struct_size = sizeof msgs[0], .role = "user", .content = "What is the weather in Paris right now?"},
    };
    char *reply = generate(m, ctx, msgs, 2, 64);
    printf("first reply: %s\n", reply);
    infer_chat_parsed *p = NULL;
    assert_int_equal(infer_chat_parse_reply(reply, TOOLS, &p, &err), INFER_OK);
    assert_int_equal(infer_chat_parsed_n_tool_calls(p), 1);
    const infer_chat_tool_call *call = infer_chat_parsed_tool_call(p, 0);
    assert_string_equal(call->name, "get_weather");
    json_t *args = json_loads(call->arguments, 0, NULL);
    assert_non_null(args);
    assert_non_null(strstr(json_string_value(json_object_get(args, "city")), "Paris"));
    json_decref(args);

    msgs[2] = (infer_chat_message){.struct_size = sizeof msgs[2], .role = "assistant",
                                   .content = infer_chat_parsed_content(p), .tool_calls = call, .n_tool_calls = 1};
    msgs[3] = (infer_chat_message){.struct_size = sizeof msgs[3], .role = "tool",
                                   .content = "{\"temperature_celsius\": 17, \"condition\": \"light rain\"}",
                                   .tool_call_id = call->id, .name = "get_weather"};
    char *answer = generate(m, ctx, msgs, 4, 64);
    printf("answer: %s\n", answer);
    infer_chat_parsed *q = NULL;
    assert_int_equal(infer_chat_parse_reply(answer, TOOLS, &q, &err), INFER_OK);
    assert_int_equal(infer_chat_parsed_n_tool_calls(q), 0);   /* an answer this time, not another call */
    assert_non_null(strstr(answer, "17"));
    infer_chat_parsed_free(q);
    infer_chat_parsed_free(p);
    free(answer);
    free(reply);
    infer_ctx_free(ctx);
    infer_model_free(m);
}

int main(void) {
    if (!getenv("INFER_REAL_MODELS")) {
        printf("skipped: real-model test (INFER_REAL_MODELS unset; scripts/test-real-models.sh runs it)\n");
        return TEST_SKIP_EXIT;
    }
    const char *dir = getenv("INFER_MODELS");
    char def[900];
    if (!dir) {
        snprintf(def, sizeof def, "%s/.cache/libinfer/models", getenv("HOME") ? getenv("HOME") : "");
        dir = def;
    }
    snprintf(g_model_path, sizeof g_model_path, "%s/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", dir);
    if (access(g_model_path, R_OK) != 0) {
        printf("skipped: %s is absent (scripts/fetch-models.sh qwen2.5-coder-1.5b)\n", g_model_path);
        return TEST_SKIP_EXIT;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_round_trip)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
