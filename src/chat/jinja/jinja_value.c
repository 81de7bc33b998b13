/* The value type: arena, constructors, Python truthiness, equality, ordering, str()/repr(). */
#include "chat/jinja/jinja_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- arena */

struct jinja_arena_chunk {
    jinja_arena_chunk *next;
    size_t cap, used;
    _Alignas(16) unsigned char mem[];
};

void *jinja_arena_alloc(jinja_arena *a, size_t n) {
    if (a->exhausted) return NULL;
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (a->budget && (n > a->budget || a->used > a->budget - n)) {
        a->exhausted = 1;
        return NULL;
    }
    jinja_arena_chunk *h = a->head;
    if (!h || h->cap - h->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        h = malloc(sizeof(*h) + cap);
        if (!h) {
            a->exhausted = 1;
            return NULL;
        }
        h->cap = cap;
        h->used = 0;
        h->next = a->head;
        a->head = h;
    }
    void *p = h->mem + h->used;
    h->used += n;
    a->used += n;
    memset(p, 0, n);
    return p;
}

void jinja_arena_free(jinja_arena *a) {
    jinja_arena_chunk *h = a->head;
    while (h) {
        jinja_arena_chunk *n = h->next;
        free(h);
        h = n;
    }
    a->head = NULL;
    a->used = 0;
}

/* ---------------------------------------------------------------- constructors */

jv jv_undef(const char *what) { return (jv){.k = JV_UNDEF, .u.undef = what}; }
jv jv_none(void) { return (jv){.k = JV_NONE}; }
jv jv_bool(int b) { return (jv){.k = JV_BOOL, .u.i = b != 0}; }
jv jv_int(int64_t i) { return (jv){.k = JV_INT, .u.i = i}; }
jv jv_float(double f) { return (jv){.k = JV_FLOAT, .u.f = f}; }

jstr *jstr_new(jinja_arena *a, const char *p, size_t n) {
    if (n > SIZE_MAX / 2) return NULL;
    jstr *s = jinja_arena_alloc(a, sizeof(jstr) + n + 1);
    if (!s) return NULL;
    s->n = n;
    if (n) memcpy(s->p, p, n);
    s->p[n] = 0;
    return s;
}

static jv out_of_memory(jinja_ctx *c) {
    jinja_fail(c, NULL, "template memory limit exceeded (%zu bytes)", c->lim.max_memory);
    return jv_undef(NULL);
}

jv jv_strn(jinja_ctx *c, const char *p, size_t n) {
    jstr *s = jstr_new(&c->arena, p, n);
    if (!s) return out_of_memory(c);
    return (jv){.k = JV_STR, .u.s = s};
}

jv jv_cstr(jinja_ctx *c, const char *s) { return jv_strn(c, s, strlen(s)); }

jv jv_list(jinja_ctx *c, size_t cap) {
    jlist *l = jinja_arena_alloc(&c->arena, sizeof(jlist));
    if (!l) return out_of_memory(c);
    if (cap) {
        if (cap > SIZE_MAX / sizeof(jv) || !(l->v = jinja_arena_alloc(&c->arena, cap * sizeof(jv))))
            return out_of_memory(c);
        l->cap = cap;
    }
    return (jv){.k = JV_LIST, .u.l = l};
}

int jv_list_push(jinja_ctx *c, jv list, jv item) {
    jlist *l = list.u.l;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jv *v = cap < SIZE_MAX / sizeof(jv) ? jinja_arena_alloc(&c->arena, cap * sizeof(jv)) : NULL;
        if (!v) {
            out_of_memory(c);
            return -1;
        }
        if (l->n) memcpy(v, l->v, l->n * sizeof(jv));
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = item;
    return 0;
}

jv jv_dict(jinja_ctx *c) {
    jdict *d = jinja_arena_alloc(&c->arena, sizeof(jdict));
    if (!d) return out_of_memory(c);
    return (jv){.k = JV_DICT, .u.d = d};
}

/* Dicts are small in templates (messages, tool specs): a linear scan keeps order for free. */
jv *jdict_get(const jdict *d, jv key) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_equal(d->keys[i], key)) return &d->vals[i];
    return NULL;
}

jv *jdict_get_str(const jdict *d, const char *key, size_t n) {
    for (size_t i = 0; i < d->n; i++)
        if (d->keys[i].k == JV_STR && d->keys[i].u.s->n == n && memcmp(d->keys[i].u.s->p, key, n) == 0)
            return &d->vals[i];
    return NULL;
}

int jdict_set(jinja_arena *a, jdict *d, jv key, jv val) {
    jv *slot = jdict_get(d, key);
    if (slot) {
        *slot = val;
        return 0;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        jv *k = jinja_arena_alloc(a, cap * sizeof(jv));
        jv *v = jinja_arena_alloc(a, cap * sizeof(jv));
        if (!k || !v) return -1;
        if (d->n) {
            memcpy(k, d->keys, d->n * sizeof(jv));
            memcpy(v, d->vals, d->n * sizeof(jv));
        }
        d->keys = k;
        d->vals = v;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
    return 0;
}

/* ---------------------------------------------------------------- Python semantics */

int jv_is_str(jv v) { return v.k == JV_STR; }

int jv_truthy(jv v) {
    switch (v.k) {
    case JV_UNDEF: case JV_NONE: return 0;
    case JV_BOOL: case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return v.u.s->n != 0;
    case JV_LIST: return v.u.l->gen || v.u.l->n != 0;
    case JV_DICT: return v.u.d->n != 0;
    default: return 1;
    }
}

static int is_num(jv v) { return v.k == JV_BOOL || v.k == JV_INT || v.k == JV_FLOAT; }
static double num_f(jv v) { return v.k == JV_FLOAT ? v.u.f : (double)v.u.i; }

/* Values built by a template can nest without bound ({% set x = [x] %} in a loop): past
 * this depth comparisons give up (unequal, unordered) instead of exhausting the stack. */
#define MAX_COMPARE_DEPTH 256

static int equal_at(jv a, jv b, int depth);
int jv_equal(jv a, jv b) { return equal_at(a, b, 0); }

static int equal_at(jv a, jv b, int depth) {
    if (depth > MAX_COMPARE_DEPTH) return 0;
    if (is_num(a) && is_num(b)) {
        if (a.k != JV_FLOAT && b.k != JV_FLOAT) return a.u.i == b.u.i;
        return num_f(a) == num_f(b);
    }
    if (a.k != b.k) return 0;
    switch (a.k) {
    case JV_UNDEF: case JV_NONE: return 1;
    case JV_STR: return a.u.s->n == b.u.s->n && memcmp(a.u.s->p, b.u.s->p, a.u.s->n) == 0;
    case JV_LIST:
        if (a.u.l->n != b.u.l->n || a.u.l->tuple != b.u.l->tuple) return 0;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!equal_at(a.u.l->v[i], b.u.l->v[i], depth + 1)) return 0;
        return 1;
    case JV_DICT:
        if (a.u.d->n != b.u.d->n) return 0;
        for (size_t i = 0; i < a.u.d->n; i++) {
            jv *o = jdict_get(b.u.d, a.u.d->keys[i]);
            if (!o || !equal_at(a.u.d->vals[i], *o, depth + 1)) return 0;
        }
        return 1;
    case JV_NS: return a.u.d == b.u.d;
    case JV_FUNC: return a.u.fn == b.u.fn;
    case JV_LOOP: return a.u.loop == b.u.loop;
    default: return 0;
    }
}

static int compare_at(jv a, jv b, int depth);
int jv_compare(jv a, jv b) { return compare_at(a, b, 0); }

static int compare_at(jv a, jv b, int depth) {
    if (depth > MAX_COMPARE_DEPTH) return -2;
    if (is_num(a) && is_num(b)) {
        if (a.k != JV_FLOAT && b.k != JV_FLOAT) return a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
        double x = num_f(a), y = num_f(b);
        if (isnan(x) || isnan(y)) return 2;   /* unordered: every comparison false */
        return x < y ? -1 : x > y;
    }
    if (a.k == JV_STR && b.k == JV_STR) {
        /* UTF-8 byte order is code point order. */
        size_t n = a.u.s->n < b.u.s->n ? a.u.s->n : b.u.s->n;
        int r = memcmp(a.u.s->p, b.u.s->p, n);
        if (r) return r < 0 ? -1 : 1;
        return a.u.s->n < b.u.s->n ? -1 : a.u.s->n > b.u.s->n;
    }
    if (a.k == JV_LIST && b.k == JV_LIST) {
        size_t n = a.u.l->n < b.u.l->n ? a.u.l->n : b.u.l->n;
        for (size_t i = 0; i < n; i++) {
            if (equal_at(a.u.l->v[i], b.u.l->v[i], depth + 1)) continue;
            return compare_at(a.u.l->v[i], b.u.l->v[i], depth + 1);
        }
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
    }
    return -2;
}

const char *jv_type_name(jv v) {
    switch (v.k) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return v.u.l->gen ? "generator" : v.u.l->tuple ? "tuple" : "list";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_FUNC: return "function";
    case JV_LOOP: return "LoopContext";
    }
    return "object";
}

/* ---------------------------------------------------------------- output buffers */

int jbuf_put(jinja_ctx *c, jbuf *b, const char *p, size_t n) {
    if (c->failed) return -1;
    if (n == 0) return 0;
    if (n > c->lim.max_output || c->out_total > c->lim.max_output - n) {
        jinja_fail(c, NULL, "output limit exceeded (%zu bytes)", c->lim.max_output);
        return -1;
    }
    if (b->cap - b->n <= n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n <= n) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            jinja_fail(c, NULL, "out of memory");
            return -1;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
    c->out_total += n;
    return 0;
}

int jbuf_putc(jinja_ctx *c, jbuf *b, char ch) { return jbuf_put(c, b, &ch, 1); }

static int jbuf_puts(jinja_ctx *c, jbuf *b, const char *s) { return jbuf_put(c, b, s, strlen(s)); }

/* ---------------------------------------------------------------- str() and repr() */

/* Python's repr(float): the shortest digits that read back to the same double, in fixed
 * notation for exponents -4..15 and scientific notation otherwise. */
void jv_fmt_float(double f, char *out, size_t cap) {
    if (isnan(f)) { snprintf(out, cap, "nan"); return; }
    if (isinf(f)) { snprintf(out, cap, f < 0 ? "-inf" : "inf"); return; }
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp = [-]D[.DDD]e[+-]XX */
    const char *p = tmp;
    int neg = *p == '-';
    if (neg) p++;
    char digits[24];
    size_t nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
    int exp10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    char res[64];
    size_t r = 0;
    if (neg) res[r++] = '-';
    if (exp10 >= -5 + 1 && exp10 < 16) {   /* Python: scientific if exp < -4 or exp >= 16 */
        if (exp10 < 0) {
            res[r++] = '0';
            res[r++] = '.';
            for (int i = -1; i > exp10; i--) res[r++] = '0';
            for (size_t i = 0; i < nd; i++) res[r++] = digits[i];
        } else {
            for (int i = 0; i <= exp10; i++) res[r++] = (size_t)i < nd ? digits[i] : '0';
            res[r++] = '.';
            if ((size_t)exp10 + 1 < nd)
                for (size_t i = (size_t)exp10 + 1; i < nd; i++) res[r++] = digits[i];
            else
                res[r++] = '0';
        }
        res[r] = 0;
    } else {
        res[r++] = digits[0];
        if (nd > 1) {
            res[r++] = '.';
            for (size_t i = 1; i < nd; i++) res[r++] = digits[i];
        }
        res[r] = 0;
        snprintf(res + r, sizeof res - r, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    }
    snprintf(out, cap, "%s", res);
}

static int repr_str(jinja_ctx *c, jbuf *b, const jstr *s) {
    int has_sq = memchr(s->p, '\'', s->n) != NULL, has_dq = memchr(s->p, '"', s->n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    if (jbuf_putc(c, b, q)) return -1;
    size_t i = 0;
    while (i < s->n) {
        uint32_t cp;
        size_t len = jutf8_next(s->p + i, s->n - i, &cp);
        char esc[16];
        const char *o = NULL;
        if (cp == '\\') o = "\\\\";
        else if (cp == (uint32_t)q) o = q == '\'' ? "\\'" : "\\\"";
        else if (cp == '\n') o = "\\n";
        else if (cp == '\r') o = "\\r";
        else if (cp == '\t') o = "\\t";
        else if (cp >= 0xDC80 && cp <= 0xDCFF && len == 1) {   /* an invalid byte */
            snprintf(esc, sizeof esc, "\\x%02x", (unsigned)(unsigned char)s->p[i]);
            o = esc;
        } else if (!juni_is_printable(cp)) {
            if (cp < 0x100) snprintf(esc, sizeof esc, "\\x%02x", (unsigned)cp);
            else if (cp < 0x10000) snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
            else snprintf(esc, sizeof esc, "\\U%08x", (unsigned)cp);
            o = esc;
        }
        if (o ? jbuf_puts(c, b, o) : jbuf_put(c, b, s->p + i, len)) return -1;
        i += len;
    }
    return jbuf_putc(c, b, q);
}

static int to_text(jinja_ctx *c, jbuf *b, jv v, int repr) {
    char num[64];
    if (c->depth > c->lim.max_depth) {
        jinja_fail(c, NULL, "value nesting too deep");
        return -1;
    }
    switch (v.k) {
    case JV_UNDEF: return repr ? jbuf_puts(c, b, "Undefined") : 0;
    case JV_NONE: return jbuf_puts(c, b, "None");
    case JV_BOOL: return jbuf_puts(c, b, v.u.i ? "True" : "False");
    case JV_INT:
        snprintf(num, sizeof num, "%lld", (long long)v.u.i);
        return jbuf_puts(c, b, num);
    case JV_FLOAT:
        jv_fmt_float(v.u.f, num, sizeof num);
        return jbuf_puts(c, b, num);
    case JV_STR: return repr ? repr_str(c, b, v.u.s) : jbuf_put(c, b, v.u.s->p, v.u.s->n);
    case JV_LIST: {
        const jlist *l = v.u.l;
        if (l->gen) return jbuf_puts(c, b, "<generator object>");
        if (jbuf_putc(c, b, l->tuple ? '(' : '[')) return -1;
        c->depth++;
        for (size_t i = 0; i < l->n; i++) {
            if ((i && jbuf_puts(c, b, ", ")) || to_text(c, b, l->v[i], 1)) { c->depth--; return -1; }
        }
        c->depth--;
        if (l->tuple && l->n == 1 && jbuf_putc(c, b, ',')) return -1;
        return jbuf_putc(c, b, l->tuple ? ')' : ']');
    }
    case JV_NS:
        if (jbuf_puts(c, b, "<Namespace ")) return -1;
        /* fallthrough */
    case JV_DICT: {
        const jdict *d = v.u.d;
        if (jbuf_putc(c, b, '{')) return -1;
        c->depth++;
        for (size_t i = 0; i < d->n; i++) {
            if ((i && jbuf_puts(c, b, ", ")) || to_text(c, b, d->keys[i], 1) || jbuf_puts(c, b, ": ") ||
                to_text(c, b, d->vals[i], 1)) { c->depth--; return -1; }
        }
        c->depth--;
        if (jbuf_putc(c, b, '}')) return -1;
        return v.k == JV_NS ? jbuf_putc(c, b, '>') : 0;
    }
    case JV_FUNC: return jbuf_puts(c, b, "<function>");
    case JV_LOOP: return jbuf_puts(c, b, "<LoopContext>");
    }
    return 0;
}

int jv_to_str(jinja_ctx *c, jbuf *b, jv v) { return to_text(c, b, v, 0); }
int jv_repr(jinja_ctx *c, jbuf *b, jv v) { return to_text(c, b, v, 1); }

jv jv_stringify(jinja_ctx *c, jv v) {
    if (v.k == JV_STR) return v;
    jbuf b = {0};
    size_t before = c->out_total;
    int r = jv_to_str(c, &b, v);
    c->out_total = before;   /* a temporary, not output */
    if (r) {
        free(b.p);
        return jv_undef(NULL);
    }
    jv s = jv_strn(c, b.p ? b.p : "", b.n);
    free(b.p);
    return s;
}

jv jv_html_escape(jinja_ctx *c, jv s) {
    jbuf b = {0};
    size_t before = c->out_total;
    for (size_t i = 0; i < s.u.s->n && !c->failed; i++) {
        char ch = s.u.s->p[i];
        const char *r = ch == '&' ? "&amp;" : ch == '<' ? "&lt;" : ch == '>' ? "&gt;" : ch == '"' ? "&#34;"
                      : ch == '\'' ? "&#39;" : NULL;
        if (r) jbuf_puts(c, &b, r);
        else jbuf_putc(c, &b, ch);
    }
    c->out_total = before;
    jv r = c->failed ? jv_undef(NULL) : jv_strn(c, b.p ? b.p : "", b.n);
    free(b.p);
    r.safe = !c->failed;
    return r;
}

/* ---------------------------------------------------------------- iteration */

int jv_iter_list(jinja_ctx *c, const jnode *at, jv v, jv *out) {
    switch (v.k) {
    case JV_UNDEF:
        *out = jv_list(c, 0);
        return c->failed ? -1 : 0;
    case JV_LIST:
        *out = v;
        return 0;
    case JV_DICT: case JV_NS: {
        jv l = jv_list(c, v.u.d->n);
        if (c->failed) return -1;
        for (size_t i = 0; i < v.u.d->n; i++) l.u.l->v[i] = v.u.d->keys[i];
        l.u.l->n = v.u.d->n;
        *out = l;
        return 0;
    }
    case JV_STR: {
        jv l = jv_list(c, 0);
        if (c->failed) return -1;
        size_t i = 0;
        while (i < v.u.s->n) {
            uint32_t cp;
            size_t len = jutf8_next(v.u.s->p + i, v.u.s->n - i, &cp);
            jv ch = jv_strn(c, v.u.s->p + i, len);
            if (c->failed || jv_list_push(c, l, ch)) return -1;
            i += len;
        }
        *out = l;
        return 0;
    }
    default:
        jinja_fail(c, at, "TypeError: '%s' object is not iterable", jv_type_name(v));
        return -1;
    }
}

/* ---------------------------------------------------------------- public builders */

struct jinja_val { jv v; };

static jinja_val *wrap(jinja_ctx *c, jv v) {
    if (c->failed) return NULL;
    jinja_val *w = jinja_arena_alloc(&c->arena, sizeof *w);
    if (!w) {
        out_of_memory(c);
        return NULL;
    }
    w->v = v;
    return w;
}

jinja_val *jinja_val_none(jinja_ctx *c) { return wrap(c, jv_none()); }
jinja_val *jinja_val_bool(jinja_ctx *c, int b) { return wrap(c, jv_bool(b)); }
jinja_val *jinja_val_int(jinja_ctx *c, int64_t i) { return wrap(c, jv_int(i)); }
jinja_val *jinja_val_float(jinja_ctx *c, double f) { return wrap(c, jv_float(f)); }
jinja_val *jinja_val_str(jinja_ctx *c, const char *p, size_t n) { return wrap(c, jv_strn(c, p, n)); }
jinja_val *jinja_val_list(jinja_ctx *c) { return wrap(c, jv_list(c, 0)); }
jinja_val *jinja_val_dict(jinja_ctx *c) { return wrap(c, jv_dict(c)); }

int jinja_val_list_push(jinja_ctx *c, jinja_val *list, const jinja_val *item) {
    if (!list || !item || list->v.k != JV_LIST || c->failed) return -1;
    return jv_list_push(c, list->v, item->v);
}

int jinja_val_dict_set(jinja_ctx *c, jinja_val *dict, const char *key, const jinja_val *val) {
    if (!dict || !val || dict->v.k != JV_DICT || c->failed) return -1;
    jv k = jv_cstr(c, key);
    if (c->failed || jdict_set(&c->arena, dict->v.u.d, k, val->v)) {
        out_of_memory(c);
        return -1;
    }
    return 0;
}

int jinja_ctx_set(jinja_ctx *c, const char *name, const jinja_val *val) {
    if (!val || c->failed) return -1;
    jv k = jv_cstr(c, name);
    if (c->failed || jdict_set(&c->arena, &c->globals.vars, k, val->v)) {
        out_of_memory(c);
        return -1;
    }
    return 0;
}
