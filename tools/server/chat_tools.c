#include "chat_tools.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- offered tools */

static int tool_name_is(json_t *tool, const char *name) {
    json_t *n = json_object_get(json_object_get(tool, "function"), "name");
    return json_is_string(n) && strcmp(json_string_value(n), name) == 0;
}

int tools_read(json_t *body, char **tools_json, int *required, req_err *e) {
    *tools_json = NULL;
    *required = 0;
    json_t *tools = json_object_get(body, "tools");
    if (!tools || json_is_null(tools)) return 0;
    if (!json_is_array(tools)) {
        req_fail(e, 400, "tools", "invalid_type", "'tools' must be an array");
        return -1;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        json_t *type = json_object_get(t, "type"), *fn = json_object_get(t, "function");
        if (!json_is_object(t) || (type && !(json_is_string(type) && strcmp(json_string_value(type), "function") == 0)) ||
            !json_is_object(fn) || !json_is_string(json_object_get(fn, "name"))) {
            req_fail(e, 400, "tools", "invalid_value",
                     "'tools[%zu]' must be {\"type\":\"function\",\"function\":{\"name\":...,\"parameters\":{...}}}", i);
            return -1;
        }
    }
    if (json_array_size(tools) == 0) return 0;

    json_t *offered = tools;   /* borrowed unless a named function narrows it */
    json_t *choice = json_object_get(body, "tool_choice");
    if (choice && !json_is_null(choice)) {
        if (json_is_string(choice)) {
            const char *c = json_string_value(choice);
            if (strcmp(c, "none") == 0) return 0;
            if (strcmp(c, "required") == 0) *required = 1;
            else if (strcmp(c, "auto") != 0) {
                req_fail(e, 400, "tool_choice", "invalid_value", "'tool_choice' must be \"none\", \"auto\" or a function");
                return -1;
            }
        } else {
            json_t *name = json_object_get(json_object_get(choice, "function"), "name");
            if (!json_is_object(choice) || !json_is_string(name)) {
                req_fail(e, 400, "tool_choice", "invalid_type",
                         "'tool_choice' must be a string or {\"type\":\"function\",\"function\":{\"name\":...}}");
                return -1;
            }
            *required = 1;
            offered = json_array();
            json_array_foreach(tools, i, t) if (tool_name_is(t, json_string_value(name))) json_array_append(offered, t);
            if (json_array_size(offered) == 0) {
                json_decref(offered);
                req_fail(e, 400, "tool_choice", "invalid_value", "tool_choice names '%.64s', which is not in 'tools'",
                         json_string_value(name));
                return -1;
            }
        }
    }
    *tools_json = json_dumps(offered, JSON_COMPACT);
    if (offered != tools) json_decref(offered);
    if (!*tools_json) {
        req_fail(e, 500, NULL, NULL, "out of memory");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- conversation */

/* The text of a message's content: a string, or the text parts of an array. */
static int message_text(json_t *content, size_t idx, sbuf *out, req_err *e) {
    if (!content || json_is_null(content)) return 0;
    if (json_is_string(content)) return sbuf_put(out, json_string_value(content), json_string_length(content));
    if (!json_is_array(content)) {
        req_fail(e, 400, "messages", "invalid_type", "'messages[%zu].content' must be a string or an array of parts", idx);
        return -1;
    }
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part) {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") != 0 || !json_is_string(text)) {
            req_fail(e, 400, "messages", "unsupported_content",
                     "'messages[%zu].content[%zu]': only {\"type\":\"text\",\"text\":...} parts are supported", idx, i);
            return -1;
        }
        if (sbuf_put(out, json_string_value(text), json_string_length(text)) != 0) return -1;
    }
    return 0;
}

static const char *keep(chat_conv *c, char *s) {
    if (!s) return NULL;
    if (c->n_owned == c->cap_owned) {
        size_t cap = c->cap_owned ? 2 * c->cap_owned : 8;
        char **o = realloc(c->owned, cap * sizeof *o);
        if (!o) {
            free(s);
            return NULL;
        }
        c->owned = o;
        c->cap_owned = cap;
    }
    return c->owned[c->n_owned++] = s;
}

/* An assistant message's tool_calls: OpenAI gives arguments as JSON text, Ollama as an
 * object (written out here so the template sees one form). */
static int read_calls(chat_conv *c, json_t *calls, size_t idx, req_err *e) {
    infer_chat_message *m = &c->msgs[c->n];
    if (!calls || json_is_null(calls)) return 0;
    if (!json_is_array(calls)) {
        req_fail(e, 400, "messages", "invalid_type", "'messages[%zu].tool_calls' must be an array", idx);
        return -1;
    }
    size_t n = json_array_size(calls);
    if (n == 0) return 0;
    infer_chat_tool_call *tc = calloc(n, sizeof *tc);
    if (!tc) {
        req_fail(e, 500, NULL, NULL, "out of memory");
        return -1;
    }
    c->calls[c->n] = tc;
    for (size_t i = 0; i < n; i++) {
        json_t *call = json_array_get(calls, i), *fn = json_object_get(call, "function");
        json_t *name = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments"), *id = json_object_get(call, "id");
        if (!json_is_object(fn) || !json_is_string(name) || (args && !json_is_null(args) && !json_is_string(args) && !json_is_object(args))) {
            req_fail(e, 400, "messages", "invalid_value",
                     "'messages[%zu].tool_calls[%zu]' must be {\"function\":{\"name\":...,\"arguments\":...}}", idx, i);
            return -1;
        }
        tc[i].struct_size = sizeof tc[i];
        tc[i].id = json_is_string(id) ? json_string_value(id) : NULL;
        tc[i].name = json_string_value(name);
        if (json_is_string(args)) tc[i].arguments = json_string_value(args);
        else if (json_is_object(args) && !(tc[i].arguments = keep(c, json_dumps(args, JSON_COMPACT)))) {
            req_fail(e, 500, NULL, NULL, "out of memory");
            return -1;
        }
    }
    m->tool_calls = tc;
    m->n_tool_calls = n;
    return 0;
}

int chat_conv_build(json_t *messages, const char *system, chat_conv *c, req_err *e) {
    memset(c, 0, sizeof *c);
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        req_fail(e, 400, "messages", "invalid_type", "'messages' must be a non-empty array");
        return -1;
    }
    size_t cap = json_array_size(messages) + (system ? 1 : 0);
    c->cap = cap;
    c->msgs = calloc(cap, sizeof *c->msgs);
    c->calls = calloc(cap, sizeof *c->calls);
    c->texts = calloc(cap, sizeof *c->texts);
    if (!c->msgs || !c->calls || !c->texts) {
        req_fail(e, 500, NULL, NULL, "out of memory");
        goto fail;
    }
    if (system) c->msgs[c->n++] = (infer_chat_message){.struct_size = sizeof(infer_chat_message), .role = "system", .content = system};
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) {
        json_t *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role)) {
            req_fail(e, 400, "messages", "invalid_type", "'messages[%zu]' must be an object with a string 'role'", i);
            goto fail;
        }
        const char *rs = json_string_value(role);
        if (strcmp(rs, "developer") == 0) rs = "system";   /* OpenAI's newer name for it */
        if (strcmp(rs, "system") != 0 && strcmp(rs, "user") != 0 && strcmp(rs, "assistant") != 0 && strcmp(rs, "tool") != 0) {
            req_fail(e, 400, "messages", "invalid_value", "'messages[%zu].role' '%.40s' is not system, user, assistant or tool",
                     i, rs);
            goto fail;
        }
        infer_chat_message *msg = &c->msgs[c->n];
        *msg = (infer_chat_message){.struct_size = sizeof *msg, .role = rs};
        json_t *content = json_object_get(m, "content");
        if (message_text(content, i, &c->texts[c->n], e) != 0 || sbuf_put(&c->texts[c->n], "", 0) != 0) {
            if (!e->status) req_fail(e, 500, NULL, NULL, "out of memory");
            goto fail;
        }
        /* null content stays null (an assistant turn with only tool calls) */
        msg->content = content && !json_is_null(content) ? c->texts[c->n].p : NULL;
        const char *s = NULL;
        if (req_string(m, "reasoning_content", &s, NULL, e) < 0) goto fail;
        if (!s && req_string(m, "thinking", &s, NULL, e) < 0) goto fail;   /* Ollama's name */
        msg->reasoning_content = s;
        s = NULL;
        if (req_string(m, "tool_call_id", &s, NULL, e) < 0) goto fail;
        msg->tool_call_id = s;
        s = NULL;
        if (req_string(m, "name", &s, NULL, e) < 0) goto fail;
        if (!s && req_string(m, "tool_name", &s, NULL, e) < 0) goto fail;   /* Ollama's name */
        msg->name = s;
        if (read_calls(c, json_object_get(m, "tool_calls"), i, e) != 0) goto fail;
        c->n++;
    }
    return 0;
fail:
    chat_conv_free(c);
    return -1;
}

void chat_conv_free(chat_conv *c) {
    size_t cap = c->cap;   /* a message that failed half-read may hold a text or calls */
    for (size_t i = 0; i < cap && c->texts; i++) sbuf_free(&c->texts[i]);
    for (size_t i = 0; i < cap && c->calls; i++) free(c->calls[i]);
    for (size_t i = 0; i < c->n_owned; i++) free(c->owned[i]);
    free(c->texts);
    free(c->calls);
    free(c->msgs);
    free(c->owned);
    memset(c, 0, sizeof *c);
}
