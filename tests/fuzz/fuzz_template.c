/* libFuzzer entry for the Jinja template engine: the input is template source, rendered
 * with a small conversation (messages with tool calls, tools, extra variables) under
 * tight limits. Every outcome must be a rendered text or an error message: no crash, no
 * hang, no read outside a buffer. Seeds: tests/corpus/template. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat/jinja/jinja.h"

static jinja_val *str(jinja_ctx *c, const char *s) { return jinja_val_str(c, s, strlen(s)); }

static void set_vars(jinja_ctx *c) {
    jinja_val *msgs = jinja_val_list(c);
    static const char *const roles[] = {"system", "user", "assistant", "tool", "user"};
    static const char *const texts[] = {"Be brief.", "Weather in Z\xc3\xbcrich?", "", "{\"t\": 22}", "\xff bad utf-8 \xc3"};
    for (int i = 0; i < 5; i++) {
        jinja_val *m = jinja_val_dict(c);
        jinja_val_dict_set(c, m, "role", str(c, roles[i]));
        jinja_val_dict_set(c, m, "content", str(c, texts[i]));
        if (i == 2) {
            jinja_val *calls = jinja_val_list(c), *call = jinja_val_dict(c), *fn = jinja_val_dict(c), *args = jinja_val_dict(c);
            jinja_val_dict_set(c, args, "city", str(c, "Z\xc3\xbcrich"));
            jinja_val_dict_set(c, args, "days", jinja_val_int(c, 3));
            jinja_val_dict_set(c, fn, "name", str(c, "get_weather"));
            jinja_val_dict_set(c, fn, "arguments", args);
            jinja_val_dict_set(c, call, "id", str(c, "call00001"));
            jinja_val_dict_set(c, call, "type", str(c, "function"));
            jinja_val_dict_set(c, call, "function", fn);
            jinja_val_list_push(c, calls, call);
            jinja_val_dict_set(c, m, "tool_calls", calls);
            jinja_val_dict_set(c, m, "reasoning_content", str(c, "thinking"));
        }
        jinja_val_list_push(c, msgs, m);
    }
    jinja_ctx_set(c, "messages", msgs);
    jinja_val *tools = jinja_val_list(c), *tool = jinja_val_dict(c), *fn = jinja_val_dict(c);
    jinja_val_dict_set(c, fn, "name", str(c, "get_weather"));
    jinja_val_dict_set(c, fn, "parameters", jinja_val_dict(c));
    jinja_val_dict_set(c, tool, "type", str(c, "function"));
    jinja_val_dict_set(c, tool, "function", fn);
    jinja_val_list_push(c, tools, tool);
    jinja_ctx_set(c, "tools", tools);
    jinja_ctx_set(c, "add_generation_prompt", jinja_val_bool(c, 1));
    jinja_ctx_set(c, "bos_token", str(c, "<s>"));
    jinja_ctx_set(c, "eos_token", str(c, "</s>"));
    jinja_ctx_set(c, "enable_thinking", jinja_val_bool(c, 0));
    jinja_ctx_set(c, "pi", jinja_val_float(c, 3.14159));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    jinja_template *t = jinja_template_parse((const char *)data, size, err, sizeof err);
    if (!t) {
        if (err[0] == 0) __builtin_trap();   /* a failure explains itself */
        return 0;
    }
    jinja_limits lim = {.max_output = 1u << 20, .max_memory = 16u << 20, .max_steps = 100000, .max_depth = 300};
    jinja_ctx *c = jinja_ctx_new(&lim);
    if (c) {
        jinja_ctx_set_date(c, 2026, 1, 15);
        set_vars(c);
        char *out = NULL;
        size_t n = 0;
        if (jinja_render(c, t, &out, &n) == 0) {
            if (!out || strlen(out) > n) __builtin_trap();
        } else if (out || jinja_ctx_error(c)[0] == 0) {
            __builtin_trap();
        }
        free(out);
        jinja_ctx_free(c);
    }
    jinja_template_free(t);
    return 0;
}
