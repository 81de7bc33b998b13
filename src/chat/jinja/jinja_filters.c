/* jinja2's built-in filters and tests (the subset chat templates use), plus transformers'
 * tojson. Semantics follow jinja2/filters.py and jinja2/tests.py. */
#include "chat/jinja/jinja_internal.h"
#include "chat/jinja/jinja_str.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static jv from_buf(jinja_ctx *c, jbuf *b, size_t before) {
    c->out_total = before;
    jv r = c->failed ? jv_undef(NULL) : jv_strn(c, b->p ? b->p : "", b->n);
    free(b->p);
    return r;
}

static int truthy_arg(const jargs *a, size_t i, const char *name, int def) {
    const jv *x = jargs_get(a, i, name);
    return x ? jv_truthy(*x) : def;
}

/* str(v), with Undefined printing as "" */
static jv as_str(jinja_ctx *c, jv v) { return jv_stringify(c, v); }

/* jinja2's make_attrgetter: "a.b.0" looked up part by part (item first, then attribute). */
static jv attr_path(jinja_ctx *c, jv v, const jstr *path) {
    size_t i = 0;
    while (i <= path->n) {
        size_t j = i;
        while (j < path->n && path->p[j] != '.') j++;
        jv key;
        int digits = j > i;
        for (size_t k = i; k < j; k++) digits &= path->p[k] >= '0' && path->p[k] <= '9';
        if (digits) key = jv_int(strtoll(path->p + i, NULL, 10));
        else key = jv_strn(c, path->p + i, j - i);
        if (c->failed) return jv_undef(NULL);
        if (v.k == JV_DICT || v.k == JV_NS) {
            jv *x = jdict_get(v.u.d, key);
            v = x ? *x : jv_undef(NULL);
        } else if (v.k == JV_LIST && key.k == JV_INT) {
            int64_t idx = key.u.i < 0 ? key.u.i + (int64_t)v.u.l->n : key.u.i;
            v = idx >= 0 && (uint64_t)idx < v.u.l->n ? v.u.l->v[idx] : jv_undef(NULL);
        } else {
            v = jv_undef(NULL);
        }
        i = j + 1;
    }
    return v;
}

static jv lower_if_str(jinja_ctx *c, jv v, int case_sensitive) {
    if (!case_sensitive && v.k == JV_STR) return jstr_case(c, v, JCASE_LOWER);
    return v;
}

/* ---------------------------------------------------------------- sorting */

typedef struct sort_item { jv key; jv val; size_t idx; } sort_item;
typedef struct sort_ctx { jinja_ctx *c; const jnode *at; int failed; } sort_ctx;

/* qsort has no context argument: sorting happens in a merge sort of our own, which also
 * keeps Python's stability. */
static int item_cmp(sort_ctx *sc, const sort_item *x, const sort_item *y) {
    int r = jv_compare(x->key, y->key);
    if (r == -2) {
        if (!sc->failed)
            jinja_fail(sc->c, sc->at, "TypeError: '<' not supported between instances of '%s' and '%s'",
                       jv_type_name(x->key), jv_type_name(y->key));
        sc->failed = 1;
        return 0;
    }
    return r == 2 ? 0 : r;
}

static void merge_sort(sort_ctx *sc, sort_item *v, sort_item *tmp, size_t n, int reverse) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(sc, v, tmp, h, reverse);
    merge_sort(sc, v + h, tmp, n - h, reverse);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int r = item_cmp(sc, &v[j], &v[i]);
        if (reverse) r = -r;
        tmp[k++] = r < 0 ? v[j++] : v[i++];
    }
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

static int sort_items(jinja_ctx *c, const jnode *at, sort_item *v, size_t n, int reverse) {
    sort_item *tmp = jinja_arena_alloc(&c->arena, (n ? n : 1) * sizeof *tmp);
    if (!tmp) {
        jinja_fail(c, at, "template memory limit exceeded");
        return -1;
    }
    sort_ctx sc = {c, at, 0};
    merge_sort(&sc, v, tmp, n, reverse);
    return sc.failed ? -1 : 0;
}

/* ---------------------------------------------------------------- tests */

static const char *const TESTS[] = {"defined", "undefined", "none", "string", "number", "integer", "float", "boolean",
                                    "true", "false", "mapping", "iterable", "sequence", "callable", "equalto", "eq",
                                    "==", "ne", "!=", "lt", "<", "le", "<=", "gt", ">", "ge", ">=", "lessthan", "greaterthan", "in", "odd",
                                    "even", "divisibleby", "sameas", "lower", "upper", "escaped", "filter", "test", NULL};

/* The filters filter_value() knows, for `'name' is filter` (keep in step with it). */
static const char *const FILTERS[] = {"abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort",
                                      "e", "escape", "first", "float", "format", "indent", "int", "items", "join", "last",
                                      "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace",
                                      "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum", "title",
                                      "tojson", "trim", "truncate", "unique", "upper", "wordcount", NULL};

static int in_names(const char *const *names, const char *name) {
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(names[i], name)) return 1;
    return 0;
}

int jinja_has_test(const char *name) { return in_names(TESTS, name); }

int jinja_test(jinja_ctx *c, const jnode *at, const char *t, jv v, const jargs *a) {
    const jv *x = jargs_get(a, 0, NULL);
    if (!strcmp(t, "defined")) return v.k != JV_UNDEF;
    if (!strcmp(t, "undefined")) return v.k == JV_UNDEF;
    if (!strcmp(t, "none")) return v.k == JV_NONE;
    if (!strcmp(t, "string")) return v.k == JV_STR;
    if (!strcmp(t, "number")) return v.k == JV_INT || v.k == JV_FLOAT || v.k == JV_BOOL;
    if (!strcmp(t, "integer")) return v.k == JV_INT;
    if (!strcmp(t, "float")) return v.k == JV_FLOAT;
    if (!strcmp(t, "boolean")) return v.k == JV_BOOL;
    if (!strcmp(t, "true")) return v.k == JV_BOOL && v.u.i;
    if (!strcmp(t, "false")) return v.k == JV_BOOL && !v.u.i;
    if (!strcmp(t, "mapping")) return v.k == JV_DICT;
    if (!strcmp(t, "iterable")) return v.k == JV_STR || v.k == JV_LIST || v.k == JV_DICT || v.k == JV_UNDEF || v.k == JV_NS;
    if (!strcmp(t, "sequence")) return v.k == JV_STR || (v.k == JV_LIST && !v.u.l->gen) || v.k == JV_DICT || v.k == JV_UNDEF;
    if (!strcmp(t, "callable")) return v.k == JV_FUNC;
    if (!strcmp(t, "lower") || !strcmp(t, "upper")) {
        if (v.k != JV_STR) return 0;
        jv conv = jstr_case(c, v, t[0] == 'l' ? JCASE_LOWER : JCASE_UPPER);
        return c->failed ? -1 : jv_equal(conv, v);
    }
    if (!strcmp(t, "escaped")) return v.k == JV_STR && v.safe;   /* a Markup string (|safe, |escape) */
    if (!strcmp(t, "odd") || !strcmp(t, "even") || !strcmp(t, "divisibleby")) {
        if (v.k != JV_INT && v.k != JV_BOOL) {
            jinja_fail(c, at, "TypeError: test '%s' needs an integer, got %s", t, jv_type_name(v));
            return -1;
        }
        if (t[0] == 'o') return (v.u.i & 1) != 0;
        if (t[0] == 'e') return (v.u.i & 1) == 0;
        if (!x || (x->k != JV_INT && x->k != JV_BOOL) || x->u.i == 0) {
            jinja_fail(c, at, "divisibleby needs a non-zero integer");
            return -1;
        }
        return v.u.i % x->u.i == 0;
    }
    if (!strcmp(t, "filter") || !strcmp(t, "test"))   /* jinja2 3: does a filter / test of that name exist */
        return v.k == JV_STR && in_names(t[0] == 'f' ? FILTERS : TESTS, v.u.s->p);
    if (!x) {
        if (!jinja_has_test(t)) jinja_fail(c, at, "TemplateRuntimeError: no test named '%s'", t);
        else jinja_fail(c, at, "TypeError: test '%s' needs an argument", t);
        return -1;
    }
    if (!strcmp(t, "equalto") || !strcmp(t, "eq") || !strcmp(t, "==")) return jv_equal(v, *x);
    if (!strcmp(t, "ne") || !strcmp(t, "!=")) return !jv_equal(v, *x);
    if (!strcmp(t, "sameas")) {
        if (v.k != x->k) return 0;
        if (v.k == JV_NONE || v.k == JV_UNDEF) return 1;
        if (v.k == JV_BOOL || v.k == JV_INT) return v.u.i == x->u.i;
        return jv_equal(v, *x) && (v.k != JV_LIST || v.u.l == x->u.l) && (v.k != JV_DICT || v.u.d == x->u.d);
    }
    if (!strcmp(t, "in")) {
        if (x->k == JV_STR && v.k == JV_STR) return memmem(x->u.s->p, x->u.s->n, v.u.s->p, v.u.s->n) != NULL || v.u.s->n == 0;
        if (x->k == JV_LIST) {
            for (size_t i = 0; i < x->u.l->n; i++)
                if (jv_equal(v, x->u.l->v[i])) return 1;
            return 0;
        }
        if (x->k == JV_DICT) return jdict_get(x->u.d, v) != NULL;
        jinja_fail(c, at, "TypeError: argument of type '%s' is not iterable", jv_type_name(*x));
        return -1;
    }
    int r = jv_compare(v, *x);
    if (r == -2) {
        jinja_fail(c, at, "TypeError: '%s' not supported between instances of '%s' and '%s'", t, jv_type_name(v),
                   jv_type_name(*x));
        return -1;
    }
    if (r == 2) return 0;
    if (!strcmp(t, "lt") || !strcmp(t, "<") || !strcmp(t, "lessthan")) return r < 0;
    if (!strcmp(t, "le") || !strcmp(t, "<=")) return r <= 0;
    if (!strcmp(t, "gt") || !strcmp(t, ">") || !strcmp(t, "greaterthan")) return r > 0;
    if (!strcmp(t, "ge") || !strcmp(t, ">=")) return r >= 0;
    jinja_fail(c, at, "TemplateRuntimeError: no test named '%s'", t);
    return -1;
}

/* select / reject / selectattr / rejectattr */
static jv select_items(jinja_ctx *c, const jnode *at, jv v, const jargs *a, int by_attr, int keep) {
    jv items;
    if (!jv_truthy(v)) return jv_list(c, 0);   /* jinja2: `if value:` before iterating */
    if (jv_iter_list(c, at, v, &items)) return jv_undef(NULL);
    size_t first = 0;
    const jstr *attr = NULL;
    if (by_attr) {
        const jv *an = jargs_get(a, 0, NULL);
        if (!an || an->k != JV_STR) return jinja_fail(c, at, "TypeError: missing attribute name");
        attr = an->u.s;
        first = 1;
    }
    const jv *tn = jargs_get(a, first, NULL);
    if (tn && tn->k != JV_STR) return jinja_fail(c, at, "TypeError: test name must be a string");
    if (tn && !jinja_has_test(tn->u.s->p)) return jinja_fail(c, at, "TemplateRuntimeError: no test named '%s'", tn->u.s->p);
    jargs rest = {.pos = a->pos + (a->n_pos > first + 1 ? first + 1 : a->n_pos),
                  .n_pos = a->n_pos > first + 1 ? a->n_pos - first - 1 : 0};
    jv out = jv_list(c, 0);
    for (size_t i = 0; i < items.u.l->n && !c->failed; i++) {
        jv it = items.u.l->v[i];
        jv probe = attr ? attr_path(c, it, attr) : it;
        int r = tn ? jinja_test(c, at, tn->u.s->p, probe, &rest) : jv_truthy(probe);
        if (r < 0) return jv_undef(NULL);
        if ((r != 0) == keep && jv_list_push(c, out, it)) return jv_undef(NULL);
    }
    return c->failed ? jv_undef(NULL) : out;
}

static jv f_map(jinja_ctx *c, const jnode *at, jv v, const jargs *a) {
    jv items;
    if (!jv_truthy(v)) return jv_list(c, 0);
    if (jv_iter_list(c, at, v, &items)) return jv_undef(NULL);
    const jv *attr = jargs_get(a, a->n_pos, "attribute");
    jv out = jv_list(c, items.u.l->n);
    if (c->failed) return out;
    if (attr) {
        if (attr->k != JV_STR) return jinja_fail(c, at, "TypeError: map attribute must be a string");
        const jv *def = jargs_get(a, a->n_pos, "default");
        for (size_t i = 0; i < items.u.l->n && !c->failed; i++) {
            jv x = attr_path(c, items.u.l->v[i], attr->u.s);
            if (x.k == JV_UNDEF && def) x = *def;
            out.u.l->v[out.u.l->n++] = x;
        }
        return c->failed ? jv_undef(NULL) : out;
    }
    const jv *fname = jargs_get(a, 0, NULL);
    if (!fname || fname->k != JV_STR) return jinja_fail(c, at, "TypeError: map needs a filter name or attribute=");
    jargs rest = {.pos = a->pos + 1, .n_pos = a->n_pos - 1, .kwn = a->kwn, .kwv = a->kwv, .n_kw = a->n_kw};
    for (size_t i = 0; i < items.u.l->n && !c->failed; i++)
        out.u.l->v[out.u.l->n++] = jinja_filter(c, at, fname->u.s->p, items.u.l->v[i], &rest);
    return c->failed ? jv_undef(NULL) : out;
}

static jv f_join(jinja_ctx *c, const jnode *at, jv v, const jargs *a) {
    jv items;
    if (jv_iter_list(c, at, v, &items)) return jv_undef(NULL);
    const jv *sep = jargs_get(a, 0, "d"), *attr = jargs_get(a, 1, "attribute");
    jv sepv = sep ? as_str(c, *sep) : jv_strn(c, "", 0);
    if (c->failed) return jv_undef(NULL);
    jbuf b = {0};
    size_t before = c->out_total;
    for (size_t i = 0; i < items.u.l->n && !c->failed; i++) {
        jv it = items.u.l->v[i];
        if (attr && attr->k == JV_STR) it = attr_path(c, it, attr->u.s);
        if (i) jbuf_put(c, &b, sepv.u.s->p, sepv.u.s->n);
        jv_to_str(c, &b, it);
    }
    return from_buf(c, &b, before);
}

static jv f_length(jinja_ctx *c, const jnode *at, jv v) {
    switch (v.k) {
    case JV_STR: return jv_int((int64_t)jutf8_count(v.u.s->p, v.u.s->n));
    case JV_LIST:
        if (v.u.l->gen) return jinja_fail(c, at, "TypeError: object of type 'generator' has no len()");
        return jv_int((int64_t)v.u.l->n);
    case JV_DICT: case JV_NS: return jv_int((int64_t)v.u.d->n);
    case JV_UNDEF: return jv_int(0);
    case JV_LOOP: return jv_int((int64_t)v.u.loop->items->n);
    default: return jinja_fail(c, at, "TypeError: object of type '%s' has no len()", jv_type_name(v));
    }
}

static jv f_tojson(jinja_ctx *c, const jnode *at, jv v, const jargs *a) {
    /* transformers: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) */
    int ensure_ascii = truthy_arg(a, 0, "ensure_ascii", 0);
    const jv *ind = jargs_get(a, 1, "indent"), *seps = jargs_get(a, 2, "separators");
    int sort_keys = truthy_arg(a, 3, "sort_keys", 0);
    char spaces[256];
    const char *indent = NULL;
    size_t indent_n = 0;
    if (ind && ind->k != JV_NONE) {
        if (ind->k == JV_INT) {
            int64_t k = ind->u.i < 0 ? 0 : ind->u.i > 255 ? 255 : ind->u.i;
            memset(spaces, ' ', (size_t)k);
            indent = spaces;
            indent_n = (size_t)k;
        } else if (ind->k == JV_STR) {
            indent = ind->u.s->p;
            indent_n = ind->u.s->n;
        } else {
            return jinja_fail(c, at, "TypeError: tojson indent must be an integer or a string");
        }
    }
    const char *item_sep = indent ? "," : ", ", *key_sep = ": ";
    if (seps && seps->k == JV_LIST && seps->u.l->n == 2 && seps->u.l->v[0].k == JV_STR && seps->u.l->v[1].k == JV_STR) {
        item_sep = seps->u.l->v[0].u.s->p;
        key_sep = seps->u.l->v[1].u.s->p;
    } else if (seps && seps->k != JV_NONE) {
        return jinja_fail(c, at, "TypeError: tojson separators must be a pair of strings");
    }
    jbuf b = {0};
    size_t before = c->out_total;
    jinja_tojson(c, at, &b, v, indent, indent_n, item_sep, key_sep, ensure_ascii, sort_keys, 0);
    return from_buf(c, &b, before);
}

static jv f_indent(jinja_ctx *c, const jnode *at, jv v, const jargs *a) {
    const jv *w = jargs_get(a, 0, "width");
    int first = truthy_arg(a, 1, "first", 0), blank = truthy_arg(a, 2, "blank", 0);
    jv ind;
    if (w && w->k == JV_STR) ind = *w;
    else {
        int64_t k = w && w->k == JV_INT ? w->u.i : 4;
        if (k < 0) k = 0;
        if (k > 1024) return jinja_fail(c, at, "indent width too large");
        char sp[1025];
        memset(sp, ' ', (size_t)k);
        ind = jv_strn(c, sp, (size_t)k);
    }
    jv s = as_str(c, v);
    if (c->failed) return jv_undef(NULL);
    /* jinja2 appends a newline before splitlines(), so a trailing newline survives */
    jbuf tmpb = {0};
    size_t before = c->out_total;
    jbuf_put(c, &tmpb, s.u.s->p, s.u.s->n);
    jbuf_putc(c, &tmpb, '\n');
    jv withnl = from_buf(c, &tmpb, before);
    if (c->failed) return jv_undef(NULL);
    jv lines = jstr_splitlines(c, withnl, 0);
    if (c->failed) return jv_undef(NULL);
    jbuf b = {0};
    before = c->out_total;
    if (first) jbuf_put(c, &b, ind.u.s->p, ind.u.s->n);
    for (size_t i = 0; i < lines.u.l->n && !c->failed; i++) {
        jv ln = lines.u.l->v[i];
        if (i) {
            jbuf_putc(c, &b, '\n');
            if (blank || ln.u.s->n) jbuf_put(c, &b, ind.u.s->p, ind.u.s->n);
        }
        jbuf_put(c, &b, ln.u.s->p, ln.u.s->n);
    }
    return from_buf(c, &b, before);
}

static jv f_int(jinja_ctx *c, jv v, const jargs *a) {
    const jv *def = jargs_get(a, 0, "default");
    int64_t base = 10;
    const jv *bv = jargs_get(a, 1, "base");
    if (bv && bv->k == JV_INT) base = bv->u.i;
    switch (v.k) {
    case JV_INT: case JV_BOOL: return jv_int(v.u.i);
    case JV_FLOAT:
        if (isfinite(v.u.f) && fabs(v.u.f) < 9.2e18) return jv_int((int64_t)v.u.f);
        break;
    case JV_STR: {
        char *end;
        errno = 0;
        long long r = strtoll(v.u.s->p, &end, (int)(base >= 2 && base <= 36 ? base : 10));
        while (*end == ' ' || *end == '\t' || *end == '\n') end++;
        if (!errno && end != v.u.s->p && *end == 0) return jv_int(r);
        double d = strtod(v.u.s->p, &end);
        if (end != v.u.s->p && *end == 0 && isfinite(d) && fabs(d) < 9.2e18) return jv_int((int64_t)d);
        break;
    }
    default: break;
    }
    return def ? *def : jv_int(0);
}

static jv f_float(jinja_ctx *c, jv v, const jargs *a) {
    (void)c;
    const jv *def = jargs_get(a, 0, "default");
    if (v.k == JV_INT || v.k == JV_BOOL) return jv_float((double)v.u.i);
    if (v.k == JV_FLOAT) return v;
    if (v.k == JV_STR) {
        char *end;
        double d = strtod(v.u.s->p, &end);
        if (end != v.u.s->p && *end == 0) return jv_float(d);
    }
    return def ? *def : jv_float(0.0);
}

/* min / max / unique / sort / dictsort share the key computation */
static int keyed_items(jinja_ctx *c, const jnode *at, jv v, const jargs *a, size_t attr_pos, size_t cs_pos,
                       sort_item **out, size_t *n) {
    jv items;
    if (jv_iter_list(c, at, v, &items)) return -1;
    int cs = truthy_arg(a, cs_pos, "case_sensitive", 0);
    const jv *attr = jargs_get(a, attr_pos, "attribute");
    sort_item *si = jinja_arena_alloc(&c->arena, (items.u.l->n ? items.u.l->n : 1) * sizeof *si);
    if (!si) {
        jinja_fail(c, at, "template memory limit exceeded");
        return -1;
    }
    for (size_t i = 0; i < items.u.l->n && !c->failed; i++) {
        jv it = items.u.l->v[i];
        jv k = attr && attr->k == JV_STR ? attr_path(c, it, attr->u.s) : it;
        si[i] = (sort_item){lower_if_str(c, k, cs), it, i};
    }
    *out = si;
    *n = items.u.l->n;
    return c->failed ? -1 : 0;
}

static jv list_of_vals(jinja_ctx *c, const sort_item *si, size_t n) {
    jv out = jv_list(c, n);
    if (c->failed) return out;
    for (size_t i = 0; i < n; i++) out.u.l->v[i] = si[i].val;
    out.u.l->n = n;
    return out;
}

static jv filter_value(jinja_ctx *c, const jnode *at, const char *f, jv v, const jargs *a);

/* Filters that are generator functions in jinja2 */
static int returns_generator(const char *f) {
    static const char *const names[] = {"select", "reject", "selectattr", "rejectattr", "map", "unique", "batch", NULL};
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(f, names[i])) return 1;
    return 0;
}

jv jinja_filter(jinja_ctx *c, const jnode *at, const char *f, jv v, const jargs *a) {
    jv r = filter_value(c, at, f, v, a);
    if (!c->failed && r.k == JV_LIST && returns_generator(f)) r.u.l->gen = 1;
    if (!c->failed && r.k == JV_LIST && !strcmp(f, "reverse") && v.k != JV_STR) r.u.l->gen = 1;   /* reversed() */
    return r;
}

static jv filter_value(jinja_ctx *c, const jnode *at, const char *f, jv v, const jargs *a) {
    if (!strcmp(f, "default") || !strcmp(f, "d")) {
        const jv *def = jargs_get(a, 0, "default_value");
        int boolean = truthy_arg(a, 1, "boolean", 0);
        if (v.k == JV_UNDEF || (boolean && !jv_truthy(v))) return def ? *def : jv_strn(c, "", 0);
        return v;
    }
    if (!strcmp(f, "tojson")) return f_tojson(c, at, v, a);
    if (!strcmp(f, "length") || !strcmp(f, "count")) return f_length(c, at, v);
    if (!strcmp(f, "string")) return as_str(c, v);
    if (!strcmp(f, "safe")) {
        jv s = as_str(c, v);
        s.safe = !c->failed;
        return s;
    }
    if (!strcmp(f, "trim")) {
        jv s = as_str(c, v);
        const jv *chars = jargs_get(a, 0, "chars");
        if (c->failed) return s;
        return jstr_strip(c, s, chars && chars->k == JV_STR ? chars->u.s : NULL, 1, 1);
    }
    if (!strcmp(f, "lower") || !strcmp(f, "upper") || !strcmp(f, "capitalize") || !strcmp(f, "title")) {
        jv s = as_str(c, v);
        if (c->failed) return s;
        /* jinja2's |title is not str.title(): words start after spaces, '-', '(', '{', '[' or '<' */
        int mode = f[0] == 'l' ? JCASE_LOWER : f[0] == 'u' ? JCASE_UPPER : f[0] == 'c' ? JCASE_CAPITALIZE : JCASE_TITLE_WORDS;
        return jstr_case(c, s, mode);
    }
    if (!strcmp(f, "replace")) {
        jv s = as_str(c, v);
        const jv *o = jargs_get(a, 0, "old"), *r = jargs_get(a, 1, "new"), *cnt = jargs_get(a, 2, "count");
        if (!o || !r) return jinja_fail(c, at, "TypeError: replace needs old and new");
        jv os = as_str(c, *o), rs = as_str(c, *r);
        if (c->failed) return jv_undef(NULL);
        return jstr_replace(c, s, os, rs, cnt && cnt->k == JV_INT ? cnt->u.i : -1);
    }
    if (!strcmp(f, "join")) return f_join(c, at, v, a);
    if (!strcmp(f, "items")) {
        if (v.k == JV_UNDEF) return jv_list(c, 0);
        if (v.k != JV_DICT) return jinja_fail(c, at, "TypeError: Can only get item pairs from a mapping.");
        return jinja_method(c, at, v, "items", a);
    }
    if (!strcmp(f, "list")) {
        jv items;
        if (jv_iter_list(c, at, v, &items)) return jv_undef(NULL);
        if (items.u.l == (v.k == JV_LIST ? v.u.l : NULL)) {   /* a copy: never a tuple or generator */
            jv out = jv_list(c, items.u.l->n);
            if (c->failed) return out;
            if (items.u.l->n) memcpy(out.u.l->v, items.u.l->v, items.u.l->n * sizeof(jv));
            out.u.l->n = items.u.l->n;
            return out;
        }
        return items;
    }
    if (!strcmp(f, "first") || !strcmp(f, "last")) {
        jv items;
        if (jv_iter_list(c, at, v, &items)) return jv_undef(NULL);
        if (items.u.l->n == 0) return jv_undef("No first item, sequence was empty.");
        return items.u.l->v[f[0] == 'f' ? 0 : items.u.l->n - 1];
    }
    if (!strcmp(f, "reverse")) {
        if (v.k == JV_STR) {
            jv items;
            if (jv_iter_list(c, at, v, &items)) return jv_undef(NULL);
            jbuf b = {0};
            size_t before = c->out_total;
            for (size_t i = items.u.l->n; i-- > 0 && !c->failed;) jv_to_str(c, &b, items.u.l->v[i]);
            return from_buf(c, &b, before);
        }
        jv items;
        if (jv_iter_list(c, at, v, &items)) return jv_undef(NULL);
        jv out = jv_list(c, items.u.l->n);
        if (c->failed) return out;
        for (size_t i = 0; i < items.u.l->n; i++) out.u.l->v[i] = items.u.l->v[items.u.l->n - 1 - i];
        out.u.l->n = items.u.l->n;
        return out;
    }
    if (!strcmp(f, "selectattr")) return select_items(c, at, v, a, 1, 1);
    if (!strcmp(f, "rejectattr")) return select_items(c, at, v, a, 1, 0);
    if (!strcmp(f, "select")) return select_items(c, at, v, a, 0, 1);
    if (!strcmp(f, "reject")) return select_items(c, at, v, a, 0, 0);
    if (!strcmp(f, "map")) return f_map(c, at, v, a);
    if (!strcmp(f, "indent")) return f_indent(c, at, v, a);
    if (!strcmp(f, "int")) return f_int(c, v, a);
    if (!strcmp(f, "float")) return f_float(c, v, a);
    if (!strcmp(f, "abs")) {
        if (v.k == JV_INT || v.k == JV_BOOL) {
            if (v.u.i == INT64_MIN) return jinja_fail(c, at, "integer overflow in abs");
            return jv_int(v.u.i < 0 ? -v.u.i : v.u.i);
        }
        if (v.k == JV_FLOAT) return jv_float(fabs(v.u.f));
        return jinja_fail(c, at, "TypeError: bad operand type for abs(): '%s'", jv_type_name(v));
    }
    if (!strcmp(f, "round")) {
        const jv *p = jargs_get(a, 0, "precision"), *m = jargs_get(a, 1, "method");
        if (v.k != JV_INT && v.k != JV_FLOAT && v.k != JV_BOOL) return jinja_fail(c, at, "TypeError: round needs a number");
        double x = v.k == JV_FLOAT ? v.u.f : (double)v.u.i;
        int64_t prec = p && p->k == JV_INT ? p->u.i : 0;
        if (prec < -30 || prec > 30) prec = prec < 0 ? -30 : 30;
        const char *method = m && m->k == JV_STR ? m->u.s->p : "common";
        if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
            return jinja_fail(c, at, "FilterArgumentError: method must be common, ceil or floor");
        if (strcmp(method, "common") == 0) {
            if (v.k != JV_FLOAT && prec >= 0) return jv_int(v.u.i);   /* round(int, n) stays that int */
            if (prec < 0) {   /* to a multiple of 10**-prec, ties to even (the default rounding mode) */
                double unit = pow(10.0, (double)-prec), r = nearbyint(x / unit) * unit;
                return v.k == JV_FLOAT ? jv_float(r) : jv_int((int64_t)r);
            }
            /* Python's round(): the correctly rounded decimal, ties to even, as printf does */
            char tmp[400];
            snprintf(tmp, sizeof tmp, "%.*f", (int)prec, x);
            return jv_float(strtod(tmp, NULL));
        }
        double scale = pow(10.0, (double)prec);
        return jv_float((!strcmp(method, "ceil") ? ceil(x * scale) : floor(x * scale)) / scale);
    }
    if (!strcmp(f, "sum")) {
        jv items;
        if (jv_iter_list(c, at, v, &items)) return jv_undef(NULL);
        const jv *attr = jargs_get(a, 0, "attribute"), *start = jargs_get(a, 1, "start");
        jv acc = start ? *start : jv_int(0);
        for (size_t i = 0; i < items.u.l->n && !c->failed; i++) {
            jv it = attr && attr->k == JV_STR ? attr_path(c, items.u.l->v[i], attr->u.s) : items.u.l->v[i];
            if ((acc.k == JV_INT || acc.k == JV_BOOL) && (it.k == JV_INT || it.k == JV_BOOL)) {
                int64_t r;
                if (__builtin_add_overflow(acc.u.i, it.u.i, &r)) return jinja_fail(c, at, "integer overflow in sum");
                acc = jv_int(r);
            } else if ((acc.k == JV_INT || acc.k == JV_FLOAT || acc.k == JV_BOOL) &&
                       (it.k == JV_INT || it.k == JV_FLOAT || it.k == JV_BOOL)) {
                acc = jv_float((acc.k == JV_FLOAT ? acc.u.f : (double)acc.u.i) + (it.k == JV_FLOAT ? it.u.f : (double)it.u.i));
            } else if (acc.k == JV_LIST && it.k == JV_LIST && acc.u.l->tuple == it.u.l->tuple) {   /* sum(lists, start=[]) */
                jv cat = jv_list(c, acc.u.l->n + it.u.l->n);
                for (size_t k = 0; k < acc.u.l->n && !c->failed; k++) jv_list_push(c, cat, acc.u.l->v[k]);
                for (size_t k = 0; k < it.u.l->n && !c->failed; k++) jv_list_push(c, cat, it.u.l->v[k]);
                if (c->failed) return jv_undef(NULL);
                cat.u.l->tuple = acc.u.l->tuple;
                acc = cat;
            } else {
                return jinja_fail(c, at, "TypeError: unsupported operand type(s) for +: '%s' and '%s'", jv_type_name(acc),
                                  jv_type_name(it));
            }
        }
        return acc;
    }
    if (!strcmp(f, "min") || !strcmp(f, "max")) {
        sort_item *si;
        size_t n;
        if (keyed_items(c, at, v, a, 1, 0, &si, &n)) return jv_undef(NULL);
        if (n == 0) return jv_undef("No aggregated item, sequence was empty.");
        sort_ctx sc = {c, at, 0};
        size_t best = 0;
        for (size_t i = 1; i < n; i++) {
            int r = item_cmp(&sc, &si[i], &si[best]);
            if (f[1] == 'i' ? r < 0 : r > 0) best = i;
        }
        return sc.failed ? jv_undef(NULL) : si[best].val;
    }
    if (!strcmp(f, "unique")) {
        sort_item *si;
        size_t n;
        if (keyed_items(c, at, v, a, 1, 0, &si, &n)) return jv_undef(NULL);
        jv out = jv_list(c, 0);
        for (size_t i = 0; i < n && !c->failed; i++) {
            size_t k;
            for (k = 0; k < i; k++)
                if (jv_equal(si[k].key, si[i].key)) break;
            if (k == i) jv_list_push(c, out, si[i].val);
        }
        return c->failed ? jv_undef(NULL) : out;
    }
    if (!strcmp(f, "sort")) {
        sort_item *si;
        size_t n;
        int rev = truthy_arg(a, 0, "reverse", 0);
        if (keyed_items(c, at, v, a, 2, 1, &si, &n) || sort_items(c, at, si, n, rev)) return jv_undef(NULL);
        return list_of_vals(c, si, n);
    }
    if (!strcmp(f, "dictsort")) {
        if (v.k != JV_DICT) return jinja_fail(c, at, "TypeError: dictsort needs a mapping");
        int cs = truthy_arg(a, 0, "case_sensitive", 0), rev = truthy_arg(a, 2, "reverse", 0);
        const jv *by = jargs_get(a, 1, "by");
        int by_value = by && by->k == JV_STR && !strcmp(by->u.s->p, "value");
        jv pairs = jinja_method(c, at, v, "items", a);
        if (c->failed) return pairs;
        size_t n = pairs.u.l->n;
        sort_item *si = jinja_arena_alloc(&c->arena, (n ? n : 1) * sizeof *si);
        if (!si) return jinja_fail(c, at, "template memory limit exceeded");
        for (size_t i = 0; i < n; i++) si[i] = (sort_item){lower_if_str(c, pairs.u.l->v[i].u.l->v[by_value], cs), pairs.u.l->v[i], i};
        if (c->failed || sort_items(c, at, si, n, rev)) return jv_undef(NULL);
        return list_of_vals(c, si, n);
    }
    if (!strcmp(f, "wordcount")) {
        jv s = as_str(c, v);
        if (c->failed) return s;
        int64_t k = 0;
        int in = 0;
        /* runs of regex \w: Unicode letters and numbers, and '_' */
        for (size_t i = 0; i < s.u.s->n;) {
            uint32_t cp;
            i += jutf8_next(s.u.s->p + i, s.u.s->n - i, &cp);
            int w = cp == '_' || juni_is_alpha(cp) || juni_is_digit(cp);
            if (w && !in) k++;
            in = w;
        }
        return jv_int(k);
    }
    if (!strcmp(f, "escape") || !strcmp(f, "e")) {
        if (v.k == JV_STR && v.safe) return v;
        jv s = as_str(c, v);
        return c->failed ? s : jv_html_escape(c, s);
    }
    if (!strcmp(f, "center")) {
        jv s = as_str(c, v);
        int64_t w = 80;
        const jv *wv = jargs_get(a, 0, "width");
        if (wv && wv->k == JV_INT) w = wv->u.i;
        if (c->failed) return s;
        int64_t len = (int64_t)jutf8_count(s.u.s->p, s.u.s->n);
        if (w <= len) return s;
        if (w > 100000) return jinja_fail(c, at, "center width too large");
        int64_t pad = w - len, left = pad / 2 + (pad & w & 1);
        jbuf b = {0};
        size_t before = c->out_total;
        for (int64_t i = 0; i < left; i++) jbuf_putc(c, &b, ' ');
        jbuf_put(c, &b, s.u.s->p, s.u.s->n);
        for (int64_t i = 0; i < pad - left; i++) jbuf_putc(c, &b, ' ');
        return from_buf(c, &b, before);
    }
    if (!strcmp(f, "format")) {
        /* jinja2: value % args (keyword arguments are not supported with % either) */
        jv s = as_str(c, v);
        if (c->failed) return s;
        if (a->n_pos == 1 && !(a->pos[0].k == JV_LIST && a->pos[0].u.l->tuple)) return jinja_percent_format(c, at, s, a->pos[0]);
        jv args = jv_list(c, a->n_pos);
        if (c->failed) return args;
        args.u.l->tuple = 1;
        for (size_t i = 0; i < a->n_pos; i++) args.u.l->v[i] = a->pos[i];
        args.u.l->n = a->n_pos;
        return jinja_percent_format(c, at, s, args);
    }
    if (!strcmp(f, "batch")) {
        const jv *cnt = jargs_get(a, 0, "linecount"), *fill = jargs_get(a, 1, "fill_with");
        if (!cnt || cnt->k != JV_INT || cnt->u.i <= 0) return jinja_fail(c, at, "ValueError: batch needs a positive count");
        jv items;
        if (jv_iter_list(c, at, v, &items)) return jv_undef(NULL);
        jv out = jv_list(c, 0), cur = jv_undef(NULL);
        for (size_t i = 0; i < items.u.l->n && !c->failed; i++) {
            if (cur.k != JV_LIST || (int64_t)cur.u.l->n == cnt->u.i) {
                cur = jv_list(c, 0);
                if (!c->failed) jv_list_push(c, out, cur);
            }
            if (!c->failed) jv_list_push(c, cur, items.u.l->v[i]);
        }
        if (fill && fill->k != JV_UNDEF && cur.k == JV_LIST)
            while ((int64_t)cur.u.l->n < cnt->u.i && !c->failed) jv_list_push(c, cur, *fill);
        return c->failed ? jv_undef(NULL) : out;
    }
    if (!strcmp(f, "attr")) {
        const jv *name = jargs_get(a, 0, "name");
        if (!name || name->k != JV_STR) return jinja_fail(c, at, "TypeError: attr needs a name");
        if (v.k == JV_NS) {   /* attributes only: a dict's keys are not attributes */
            jv *x = jdict_get(v.u.d, *name);
            return x ? *x : jv_undef(NULL);
        }
        return jv_undef(NULL);
    }
    if (!strcmp(f, "truncate")) {
        jv s = as_str(c, v);
        const jv *lv = jargs_get(a, 0, "length"), *kw = jargs_get(a, 1, "killwords"), *endv = jargs_get(a, 2, "end"),
                 *lev = jargs_get(a, 3, "leeway");
        if (c->failed) return s;
        int64_t length = lv && lv->k == JV_INT ? lv->u.i : 255, leeway = lev && lev->k == JV_INT ? lev->u.i : 5;
        const char *end = endv && endv->k == JV_STR ? endv->u.s->p : "...";
        int64_t len = (int64_t)jutf8_count(s.u.s->p, s.u.s->n);
        if (len <= length + leeway) return s;
        int64_t keep = length - (int64_t)jutf8_count(end, strlen(end));
        if (keep < 0) keep = 0;
        size_t off = 0;
        uint32_t cp;
        for (int64_t i = 0; i < keep; i++) off += jutf8_next(s.u.s->p + off, s.u.s->n - off, &cp);
        if (!(kw && jv_truthy(*kw))) {   /* back to the last space, as jinja2's rsplit(" ", 1) */
            size_t sp = off;
            while (sp > 0 && s.u.s->p[sp - 1] != ' ') sp--;
            if (sp > 0) off = sp - 1;
        }
        jbuf b = {0};
        size_t before = c->out_total;
        jbuf_put(c, &b, s.u.s->p, off);
        jbuf_put(c, &b, end, strlen(end));
        return from_buf(c, &b, before);
    }
    return jinja_fail(c, at, "TemplateAssertionError: no filter named '%s'", f);
}
