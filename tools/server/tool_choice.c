#include "tool_choice.h"

#include "chat_tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { CALLS_HERMES, CALLS_LLAMA3, CALLS_MISTRAL, CALLS_HARMONY } call_syntax;

/* The syntax the model's template writes tool calls in (Hermes when nothing says). */
static call_syntax syntax_of(const infer_model *m) {
    const char *family = infer_chat_template_name(m);
    const char *tpl = infer_model_chat_template_text(m);
    if (strcmp(family, "harmony") == 0) return CALLS_HARMONY;
    if (tpl && strstr(tpl, "<tool_call>")) return CALLS_HERMES;
    if (tpl && strstr(tpl, "[TOOL_CALLS]")) return CALLS_MISTRAL;
    if (strcmp(family, "llama3") == 0 || (tpl && strstr(tpl, "<|python_tag|>"))) return CALLS_LLAMA3;
    return CALLS_HERMES;
}

/* {"type":"object","properties":{"name":{"const":NAME},ARGS_KEY:PARAMETERS},...}: one
 * call of the tool, its keys in the order the family writes them. */
static json_t *call_schema(json_t *tool, const char *args_key) {
    json_t *fn = json_object_get(tool, "function");
    json_t *params = json_object_get(fn, "parameters");
    json_t *props = json_object();
    json_object_set_new(props, "name", json_pack("{s:O}", "const", json_object_get(fn, "name")));
    json_object_set_new(props, args_key, json_is_object(params) ? json_incref(params) : json_pack("{s:s}", "type", "object"));
    return json_pack("{s:s,s:o,s:[s,s],s:b}", "type", "object", "properties", props, "required", "name", args_key,
                     "additionalProperties", 0);
}

/* Appends the reply's opening markup to the prompt; the scheduler routes those tokens as
 * the start of the reply. */
static int open_reply(const model_entry *me, job *j, const char *text, req_err *e) {
    infer_status st;
    size_t n = 0;
    int32_t *toks = tool_tokenize(me->model, text, strlen(text), 0, 1, &n, &st);
    int32_t *all = toks ? realloc(j->prompt, (j->n_prompt + n) * sizeof *all) : NULL;
    if (!all) {
        free(toks);
        req_fail(e, 500, NULL, NULL, "out of memory");
        return -1;
    }
    memcpy(all + j->n_prompt, toks, n * sizeof *toks);
    free(toks);
    j->prompt = all;
    j->n_prompt += n;
    j->n_reply_prefix = n;
    return 0;
}

/* The grammar of the converted schema under a new start rule wrapping it. */
static int wrap_grammar(job *j, const char *rule, const char *before, const char *after, req_err *e) {
    size_t n = strlen(j->grammar) + strlen(rule) + strlen(before) + strlen(after) + 32;
    char *g = malloc(n);
    if (!g) {
        req_fail(e, 500, NULL, NULL, "out of memory");
        return -1;
    }
    snprintf(g, n, "%s\n%s ::= %s root %s\n", j->grammar, rule, before, after);
    free(j->grammar);
    j->grammar = g;
    j->grammar_root = rule;
    return 0;
}

int tool_choice_constrain(const model_entry *me, job *j, req_err *e) {
    if (j->grammar) {
        req_fail(e, 400, "tool_choice", "invalid_value", "tool_choice \"required\" or a function cannot be combined with response_format");
        return -1;
    }
    json_t *tools = json_loads(j->tools_json, 0, NULL);
    if (!json_is_array(tools) || json_array_size(tools) == 0) {
        json_decref(tools);
        req_fail(e, 500, NULL, NULL, "out of memory");
        return -1;
    }
    call_syntax syn = syntax_of(me->model);
    json_t *schema = NULL;
    char opening[320] = "";
    if (syn == CALLS_HARMONY) {
        /* The function's name is written in the message header, which is markup. */
        json_t *fn = json_object_get(json_array_get(tools, 0), "function");
        if (json_array_size(tools) != 1) {
            json_decref(tools);
            req_fail(e, 400, "tool_choice", "unsupported",
                     "tool_choice \"required\" with several tools is not supported for Harmony (gpt-oss) models: name the function");
            return -1;
        }
        json_t *params = json_object_get(fn, "parameters");
        schema = json_is_object(params) ? json_incref(params) : json_pack("{s:s}", "type", "object");
        snprintf(opening, sizeof opening, "<|channel|>commentary to=functions.%.200s <|constrain|>json<|message|>",
                 json_string_value(json_object_get(fn, "name")));
    } else {
        json_t *any = json_array();
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t) json_array_append_new(any, call_schema(t, syn == CALLS_LLAMA3 ? "parameters" : "arguments"));
        schema = json_array_size(any) == 1 ? json_incref(json_array_get(any, 0)) : json_pack("{s:O}", "anyOf", any);
        json_decref(any);
        if (syn == CALLS_MISTRAL) snprintf(opening, sizeof opening, "[TOOL_CALLS]");
    }
    json_decref(tools);
    int rc = schema ? req_json_schema(schema, "tools", j, e) : -1;
    json_decref(schema);
    if (rc != 0) {
        if (!e->status) req_fail(e, 500, NULL, NULL, "out of memory");
        return -1;
    }
    if (syn == CALLS_HERMES) rc = wrap_grammar(j, "tool-call-reply", "\"<tool_call>\\n\"", "\"\\n</tool_call>\"", e);
    else if (syn == CALLS_MISTRAL) rc = wrap_grammar(j, "tool-call-reply", "\"[\"", "\"]\"", e);
    if (rc == 0 && opening[0]) rc = open_reply(me, j, opening, e);
    return rc;
}

int tools_chat_prompt(const model_entry *me, json_t *body, json_t *messages, job *j, req_err *e) {
    int required = 0;
    if (tools_read(body, &j->tools_json, &required, e) < 0 || req_chat_prompt(me, messages, NULL, j->tools_json, j, e) < 0)
        return -1;
    return required ? tool_choice_constrain(me, j, e) : 0;
}
