/* Rendering a model's own Jinja chat template: the conversation (JSON, read with jansson)
 * becomes the template variables Hugging Face's apply_chat_template passes. */
#include "chat/chat_jinja.h"
#include "chat/jinja/jinja.h"
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_JSON_DEPTH 64

static jinja_val *from_json(jinja_ctx *c, const json_t *j, int depth) {
    if (depth > MAX_JSON_DEPTH) return NULL;
    switch (json_typeof(j)) {
    case JSON_NULL: return jinja_val_none(c);
    case JSON_TRUE: return jinja_val_bool(c, 1);
    case JSON_FALSE: return jinja_val_bool(c, 0);
    case JSON_INTEGER: return jinja_val_int(c, (int64_t)json_integer_value(j));
    case JSON_REAL: return jinja_val_float(c, json_real_value(j));
    case JSON_STRING: return jinja_val_str(c, json_string_value(j), json_string_length(j));
    case JSON_ARRAY: {
        jinja_val *l = jinja_val_list(c);
        size_t i;
        json_t *x;
        json_array_foreach(j, i, x) {
            jinja_val *v = from_json(c, x, depth + 1);
            if (!v || jinja_val_list_push(c, l, v)) return NULL;
        }
        return l;
    }
    case JSON_OBJECT: {
        jinja_val *d = jinja_val_dict(c);
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)j, k, x) {
            jinja_val *v = from_json(c, x, depth + 1);
            if (!v || jinja_val_dict_set(c, d, k, v)) return NULL;
        }
        return d;
    }
    }
    return NULL;
}

static int parse_date(const char *s, int *y, int *m, int *d) {
    return s && sscanf(s, "%4d-%2d-%2d", y, m, d) == 3 && *m >= 1 && *m <= 12 && *d >= 1 && *d <= 31;
}

static int set_var(jinja_ctx *c, const char *name, const json_t *j) {
    jinja_val *v = from_json(c, j, 0);
    return v ? jinja_ctx_set(c, name, v) : -1;
}

infer_status infer_chat_jinja_render(const char *tmpl, const json_t *conv, const char *bos, const char *eos,
                                     const char *date, char **out, size_t *out_len, infer_error *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!tmpl || !json_is_object(conv)) return infer_err(err, INFER_ERR_INVALID_ARG, "chat template: no template or conversation");
    char perr[400];
    jinja_template *t = jinja_template_parse(tmpl, strlen(tmpl), perr, sizeof perr);
    if (!t) return infer_err(err, INFER_ERR_FORMAT, "chat template: %s", perr);
    jinja_ctx *c = jinja_ctx_new(NULL);
    if (!c) {
        jinja_template_free(t);
        return infer_err(err, INFER_ERR_NOMEM, "chat template: out of memory");
    }
    int y, mo, d;
    if (parse_date(date, &y, &mo, &d)) jinja_ctx_set_date(c, y, mo, d);
    int bad = 0;
    const json_t *msgs = json_object_get(conv, "messages");
    if (!json_is_array(msgs)) {
        jinja_ctx_free(c);
        jinja_template_free(t);
        return infer_err(err, INFER_ERR_INVALID_ARG, "conversation: \"messages\" must be an array");
    }
    bad |= set_var(c, "messages", msgs);
    const json_t *tools = json_object_get(conv, "tools");
    if (tools && !json_is_null(tools)) bad |= set_var(c, "tools", tools);   /* absent: undefined, as HF */
    const json_t *agp = json_object_get(conv, "add_generation_prompt");
    jinja_val *agpv = jinja_val_bool(c, json_is_true(agp));
    bad |= !agpv || jinja_ctx_set(c, "add_generation_prompt", agpv);
    jinja_val *bv = jinja_val_str(c, bos ? bos : "", bos ? strlen(bos) : 0);
    jinja_val *ev = jinja_val_str(c, eos ? eos : "", eos ? strlen(eos) : 0);
    bad |= !bv || jinja_ctx_set(c, "bos_token", bv);
    bad |= !ev || jinja_ctx_set(c, "eos_token", ev);
    static const char *const extra_keys[] = {"extra", "chat_template_kwargs"};
    for (size_t k = 0; k < 2; k++) {
        const json_t *extra = json_object_get(conv, extra_keys[k]);
        const char *name;
        json_t *x;
        if (json_is_object(extra))
            json_object_foreach((json_t *)extra, name, x) bad |= set_var(c, name, x);
    }
    if (bad) {
        jinja_ctx_free(c);
        jinja_template_free(t);
        return infer_err(err, INFER_ERR_INVALID_ARG, "conversation: values too large or nested too deeply");
    }
    char *text = NULL;
    size_t n = 0;
    infer_status st = INFER_OK;
    if (jinja_render(c, t, &text, &n)) st = infer_err(err, INFER_ERR_FORMAT, "%s", jinja_ctx_error(c));
    jinja_ctx_free(c);
    jinja_template_free(t);
    *out = text;
    if (out_len) *out_len = n;
    return st;
}

infer_status infer_chat_copy_out(const char *text, size_t n, char *buf, size_t cap, size_t *n_out) {
    if (n_out) *n_out = n;
    if (!buf || cap < n + 1) return INFER_ERR_BUFFER_SMALL;
    memcpy(buf, text, n);
    buf[n] = 0;
    return INFER_OK;
}

/* ---------------------------------------------------------------- public API */

infer_status infer_template_render(const char *template_src, const char *conversation_json,
                                   const infer_template_opts *opts, char *buf, size_t cap, size_t *n_out,
                                   infer_error *err) {
    if (n_out) *n_out = 0;
    if (!template_src || !conversation_json) return infer_err(err, INFER_ERR_INVALID_ARG, "template or conversation is NULL");
    json_error_t je;
    json_t *conv = json_loads(conversation_json, JSON_REJECT_DUPLICATES, &je);
    if (!conv) return infer_err(err, INFER_ERR_FORMAT, "conversation JSON, line %d: %s", je.line, je.text);
    const char *bos = NULL, *eos = NULL, *date = NULL;
    if (opts && opts->struct_size >= sizeof(size_t) + 3 * sizeof(char *)) {
        bos = opts->bos_token;
        eos = opts->eos_token;
        date = opts->date;
    }
    char *text;
    size_t n;
    infer_status st = infer_chat_jinja_render(template_src, conv, bos, eos, date, &text, &n, err);
    json_decref(conv);
    if (st != INFER_OK) return st;
    st = infer_chat_copy_out(text, n, buf, cap, n_out);
    free(text);
    return st;
}
