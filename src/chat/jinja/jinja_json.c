/* tojson as transformers defines it: Python's json.dumps(x, ensure_ascii=False,
 * indent=None, separators=None, sort_keys=False) with no HTML escaping. */
#include "chat/jinja/jinja_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int put(jinja_ctx *c, jbuf *b, const char *s) { return jbuf_put(c, b, s, strlen(s)); }

static int json_string(jinja_ctx *c, jbuf *b, const char *p, size_t n, int ensure_ascii) {
    if (jbuf_putc(c, b, '"')) return -1;
    size_t i = 0, run = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)p[i];
        char esc[16];
        const char *o = NULL;
        size_t len = 1;
        if (ch == '"') o = "\\\"";
        else if (ch == '\\') o = "\\\\";
        else if (ch == '\n') o = "\\n";
        else if (ch == '\r') o = "\\r";
        else if (ch == '\t') o = "\\t";
        else if (ch == '\b') o = "\\b";
        else if (ch == '\f') o = "\\f";
        else if (ch < 0x20 || (ensure_ascii && ch == 0x7F)) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            o = esc;
        } else if (ch >= 0x80) {
            uint32_t cp;
            len = jutf8_next(p + i, n - i, &cp);
            if (ensure_ascii) {
                if (cp >= 0x10000) {
                    uint32_t v = cp - 0x10000;
                    snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
                } else {
                    snprintf(esc, sizeof esc, "\\u%04x", cp);
                }
                o = esc;
            }
        }
        if (o) {
            if (run && jbuf_put(c, b, p + i - run, run)) return -1;
            run = 0;
            if (put(c, b, o)) return -1;
        } else {
            run += len;
        }
        i += len;
    }
    if (run && jbuf_put(c, b, p + n - run, run)) return -1;
    return jbuf_putc(c, b, '"');
}

static int newline_indent(jinja_ctx *c, jbuf *b, const char *indent, size_t indent_n, int level) {
    if (jbuf_putc(c, b, '\n')) return -1;
    for (int i = 0; i < level; i++)
        if (jbuf_put(c, b, indent, indent_n)) return -1;
    return 0;
}

/* json.dumps turns non-string keys into strings: True -> "true", 1 -> "1". */
static int json_key(jinja_ctx *c, const jnode *at, jbuf *b, jv k, int ensure_ascii) {
    char num[64];
    switch (k.k) {
    case JV_STR: return json_string(c, b, k.u.s->p, k.u.s->n, ensure_ascii);
    case JV_BOOL: return put(c, b, k.u.i ? "\"true\"" : "\"false\"");
    case JV_NONE: return put(c, b, "\"null\"");
    case JV_INT: snprintf(num, sizeof num, "\"%lld\"", (long long)k.u.i); return put(c, b, num);
    case JV_FLOAT:
        jv_fmt_float(k.u.f, num + 1, sizeof num - 2);
        num[0] = '"';
        strcat(num, "\"");
        return put(c, b, num);
    default:
        jinja_fail(c, at, "TypeError: keys must be str, int, float, bool or None, not %s", jv_type_name(k));
        return -1;
    }
}

typedef struct key_order { jv key; size_t idx; } key_order;

static int key_cmp(const void *a, const void *b) {
    const key_order *x = a, *y = b;
    int r = jv_compare(x->key, y->key);
    if (r == -2 || r == 0) return x->idx < y->idx ? -1 : x->idx > y->idx;
    return r;
}

int jinja_tojson(jinja_ctx *c, const jnode *at, jbuf *b, jv v, const char *indent, size_t indent_n,
                 const char *item_sep, const char *key_sep, int ensure_ascii, int sort_keys, int level) {
    char num[64];
    if (c->failed) return -1;
    if (level > 256 || c->depth + level > c->lim.max_depth) {
        jinja_fail(c, at, "ValueError: value nested too deeply for tojson");
        return -1;
    }
    switch (v.k) {
    case JV_NONE: return put(c, b, "null");
    case JV_BOOL: return put(c, b, v.u.i ? "true" : "false");
    case JV_INT: snprintf(num, sizeof num, "%lld", (long long)v.u.i); return put(c, b, num);
    case JV_FLOAT:
        if (isnan(v.u.f)) return put(c, b, "NaN");
        if (isinf(v.u.f)) return put(c, b, v.u.f > 0 ? "Infinity" : "-Infinity");
        jv_fmt_float(v.u.f, num, sizeof num);
        return put(c, b, num);
    case JV_STR: return json_string(c, b, v.u.s->p, v.u.s->n, ensure_ascii);
    case JV_LIST: {
        const jlist *l = v.u.l;
        if (l->gen) {
            jinja_fail(c, at, "TypeError: Object of type generator is not JSON serializable");
            return -1;
        }
        if (l->n == 0) return put(c, b, "[]");
        if (jbuf_putc(c, b, '[')) return -1;
        for (size_t i = 0; i < l->n; i++) {
            if (i && put(c, b, item_sep)) return -1;
            if (indent && newline_indent(c, b, indent, indent_n, level + 1)) return -1;
            if (jinja_tojson(c, at, b, l->v[i], indent, indent_n, item_sep, key_sep, ensure_ascii, sort_keys,
                             level + 1))
                return -1;
        }
        if (indent && newline_indent(c, b, indent, indent_n, level)) return -1;
        return jbuf_putc(c, b, ']');
    }
    case JV_DICT: {
        const jdict *d = v.u.d;
        if (d->n == 0) return put(c, b, "{}");
        key_order *order = jinja_arena_alloc(&c->arena, d->n * sizeof *order);
        if (!order) {
            jinja_fail(c, at, "template memory limit exceeded");
            return -1;
        }
        for (size_t i = 0; i < d->n; i++) order[i] = (key_order){d->keys[i], i};
        if (sort_keys) qsort(order, d->n, sizeof *order, key_cmp);
        if (jbuf_putc(c, b, '{')) return -1;
        for (size_t k = 0; k < d->n; k++) {
            size_t i = order[k].idx;
            if (k && put(c, b, item_sep)) return -1;
            if (indent && newline_indent(c, b, indent, indent_n, level + 1)) return -1;
            if (json_key(c, at, b, d->keys[i], ensure_ascii) || put(c, b, key_sep)) return -1;
            if (jinja_tojson(c, at, b, d->vals[i], indent, indent_n, item_sep, key_sep, ensure_ascii, sort_keys,
                             level + 1))
                return -1;
        }
        if (indent && newline_indent(c, b, indent, indent_n, level)) return -1;
        return jbuf_putc(c, b, '}');
    }
    default:
        jinja_fail(c, at, "TypeError: Object of type %s is not JSON serializable", jv_type_name(v));
        return -1;
    }
}
