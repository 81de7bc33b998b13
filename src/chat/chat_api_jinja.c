/* Public rendering through the model's own Jinja template: messages (structs or an
 * OpenAI-style JSON request) become the conversation object the template sees. */
#include "chat/chat_jinja.h"
#include "chat/chat_style.h"
#include "core/error.h"
#include "models/model_internal.h"

#include <stdlib.h>
#include <string.h>

const char *infer_model_chat_template_text(const infer_model *m) { return infer_model_chat_template(m); }

static const char *token_text_or_empty(const infer_model *m, int32_t tok) {
    const char *t = tok >= 0 ? infer_token_text(m, tok) : NULL;
    return t ? t : "";
}

/* A field exists in the caller's struct when its struct_size covers it. */
#define HAS_FIELD(ptr, type, field) \
    ((ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* Tool-call arguments: a JSON object becomes a dict (what most templates expect); any
 * other text stays a string, as OpenAI clients send it. */
static json_t *arguments_value(const char *args) {
    if (!args) return json_object();
    json_t *j = json_loads(args, JSON_DECODE_ANY, NULL);
    if (json_is_object(j)) return j;
    json_decref(j);
    return json_string(args);
}

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

static json_t *messages_to_json(const infer_chat_message *msgs, size_t n, infer_error *err) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        const infer_chat_message *m = &msgs[i];
        if (m->struct_size < offsetof(infer_chat_message, content) + sizeof(m->content) || !m->role) {
            json_decref(arr);
            infer_err(err, INFER_ERR_INVALID_ARG, "message %zu: no role (or struct_size not set)", i);
            return NULL;
        }
        json_t *o = json_object();
        json_object_set_new(o, "role", json_string(m->role));
        json_object_set_new(o, "content", str_or_null(m->content));
        if (HAS_FIELD(m, infer_chat_message, reasoning_content) && m->reasoning_content)
            json_object_set_new(o, "reasoning_content", json_string(m->reasoning_content));
        if (HAS_FIELD(m, infer_chat_message, n_tool_calls) && m->n_tool_calls && m->tool_calls) {
            json_t *calls = json_array();
            for (size_t k = 0; k < m->n_tool_calls; k++) {
                const infer_chat_tool_call *tc = &m->tool_calls[k];
                json_t *c = json_object(), *f = json_object();
                if (tc->id) json_object_set_new(c, "id", json_string(tc->id));
                json_object_set_new(c, "type", json_string("function"));
                json_object_set_new(f, "name", json_string(tc->name ? tc->name : ""));
                json_object_set_new(f, "arguments", arguments_value(tc->arguments));
                json_object_set_new(c, "function", f);
                json_array_append_new(calls, c);
            }
            json_object_set_new(o, "tool_calls", calls);
        }
        if (HAS_FIELD(m, infer_chat_message, tool_call_id) && m->tool_call_id)
            json_object_set_new(o, "tool_call_id", json_string(m->tool_call_id));
        if (HAS_FIELD(m, infer_chat_message, name) && m->name) json_object_set_new(o, "name", json_string(m->name));
        json_array_append_new(arr, o);
    }
    if (!arr) infer_err(err, INFER_ERR_NOMEM, "out of memory");
    return arr;
}

/* OpenAI requests may carry arguments as JSON text: give templates a dict, as HF does
 * when serving code parses them. */
static void normalize_request(json_t *req) {
    json_t *msgs = json_object_get(req, "messages");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        json_t *calls = json_object_get(m, "tool_calls"), *c;
        size_t k;
        json_array_foreach(calls, k, c) {
            json_t *f = json_object_get(c, "function");
            json_t *a = json_object_get(f, "arguments");
            if (json_is_string(a)) json_object_set_new(f, "arguments", arguments_value(json_string_value(a)));
        }
    }
}

/* Renders a conversation object with the model's template; without one, with the
 * built-in family (plain role/content turns). */
static infer_status render_conv(const infer_model *m, json_t *conv, char *buf, size_t cap, size_t *n_out,
                                infer_error *err) {
    const char *tmpl = infer_model_chat_template(m);
    const json_t *d = json_object_get(conv, "date");
    const char *date = json_is_string(d) ? json_string_value(d) : NULL;
    if (tmpl && tmpl[0]) {
        char *text;
        size_t n;
        infer_status st = infer_chat_jinja_render(tmpl, conv, token_text_or_empty(m, infer_token_bos(m)),
                                                  token_text_or_empty(m, infer_token_eos(m)), date, &text, &n, err);
        if (st != INFER_OK) return st;
        st = infer_chat_copy_out(text, n, buf, cap, n_out);
        free(text);
        return st;
    }
    json_t *msgs = json_object_get(conv, "messages");
    size_t n = json_array_size(msgs);
    infer_chat_msg *plain = calloc(n ? n : 1, sizeof *plain);
    if (!plain) return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *mm = json_array_get(msgs, i);
        plain[i].role = json_string_value(json_object_get(mm, "role"));
        plain[i].content = json_string_value(json_object_get(mm, "content"));
        if (!plain[i].role) {
            free(plain);
            return infer_err(err, INFER_ERR_INVALID_ARG, "message %zu: no role", i);
        }
    }
    infer_status st = infer_chat_render_builtin(m, plain, n, json_is_true(json_object_get(conv, "add_generation_prompt")),
                                                buf, cap, n_out);
    free(plain);
    if (st != INFER_OK && st != INFER_ERR_BUFFER_SMALL) infer_err(err, st, "built-in chat template failed");
    return st;
}

infer_status infer_chat_render_messages(const infer_model *m, const infer_chat_message *msgs, size_t n_msgs,
                                        const infer_chat_render_opts *opts, char *buf, size_t cap, size_t *n_out,
                                        infer_error *err) {
    if (n_out) *n_out = 0;
    if (!m || (!msgs && n_msgs)) return infer_err(err, INFER_ERR_INVALID_ARG, "chat render: NULL model or messages");
    json_t *arr = messages_to_json(msgs, n_msgs, err);
    if (!arr) return err ? err->status : INFER_ERR_INVALID_ARG;
    json_t *conv = json_object();
    json_object_set_new(conv, "messages", arr);
    if (opts && opts->struct_size) {
        if (HAS_FIELD(opts, infer_chat_render_opts, add_generation_prompt))
            json_object_set_new(conv, "add_generation_prompt", json_boolean(opts->add_generation_prompt));
        if (HAS_FIELD(opts, infer_chat_render_opts, tools_json) && opts->tools_json) {
            json_error_t je;
            json_t *tools = json_loads(opts->tools_json, 0, &je);
            if (!json_is_array(tools)) {
                json_decref(tools);
                json_decref(conv);
                return infer_err(err, INFER_ERR_INVALID_ARG, "tools: expected a JSON array (%s)", je.text);
            }
            json_object_set_new(conv, "tools", tools);
        }
        if (HAS_FIELD(opts, infer_chat_render_opts, extra_json) && opts->extra_json) {
            json_error_t je;
            json_t *extra = json_loads(opts->extra_json, 0, &je);
            if (!json_is_object(extra)) {
                json_decref(extra);
                json_decref(conv);
                return infer_err(err, INFER_ERR_INVALID_ARG, "extra variables: expected a JSON object (%s)", je.text);
            }
            json_object_set_new(conv, "extra", extra);
        }
        if (HAS_FIELD(opts, infer_chat_render_opts, date) && opts->date)
            json_object_set_new(conv, "date", json_string(opts->date));
    }
    infer_status st = render_conv(m, conv, buf, cap, n_out, err);
    json_decref(conv);
    return st;
}

infer_status infer_chat_render_json(const infer_model *m, const char *request_json, char *buf, size_t cap,
                                    size_t *n_out, infer_error *err) {
    if (n_out) *n_out = 0;
    if (!m || !request_json) return infer_err(err, INFER_ERR_INVALID_ARG, "chat render: NULL model or request");
    json_error_t je;
    json_t *req = json_loads(request_json, 0, &je);
    if (!json_is_object(req) || !json_is_array(json_object_get(req, "messages"))) {
        json_decref(req);
        return infer_err(err, INFER_ERR_INVALID_ARG, "request: expected an object with a \"messages\" array%s%s",
                         req ? "" : ": ", req ? "" : je.text);
    }
    normalize_request(req);
    infer_status st = render_conv(m, req, buf, cap, n_out, err);
    json_decref(req);
    return st;
}
