/* Python methods on values (str, dict, list, loop) and the globals HF templates call
 * (range, namespace, dict, raise_exception, strftime_now). The sandbox is immutable, as in
 * ImmutableSandboxedEnvironment: methods that would change a list or dict are refused. */
#include "chat/jinja/jinja_internal.h"
#include "chat/jinja/jinja_str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const jv *jargs_get(const jargs *a, size_t i, const char *name) {
    if (i < a->n_pos) return &a->pos[i];
    if (name)
        for (size_t k = 0; k < a->n_kw; k++)
            if (!strcmp(a->kwn[k]->p, name)) return &a->kwv[k];
    return NULL;
}

/* ---------------------------------------------------------------- string helpers */

static jv from_buf(jinja_ctx *c, jbuf *b, size_t before) {
    c->out_total = before;
    jv r = c->failed ? jv_undef(NULL) : jv_strn(c, b->p ? b->p : "", b->n);
    free(b->p);
    return r;
}

static int in_set(uint32_t cp, const jstr *chars) {
    size_t i = 0;
    while (i < chars->n) {
        uint32_t x;
        i += jutf8_next(chars->p + i, chars->n - i, &x);
        if (x == cp) return 1;
    }
    return 0;
}

jv jstr_strip(jinja_ctx *c, jv s, const jstr *chars, int left, int right) {
    const char *p = s.u.s->p;
    size_t n = s.u.s->n, start = 0, end = n, i = 0;
    int seen = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = jutf8_next(p + i, n - i, &cp);
        int strip = chars ? in_set(cp, chars) : juni_is_space(cp);
        if (!strip) {
            if (!seen) start = i;
            seen = 1;
            end = i + len;
        }
        i += len;
    }
    if (!seen) return jv_strn(c, "", 0);
    if (!left) start = 0;
    if (!right) end = n;
    if (start == 0 && end == n) return s;
    return jv_strn(c, p + start, end - start);
}

jv jstr_case(jinja_ctx *c, jv s, int mode) {
    jbuf b = {0};
    size_t before = c->out_total, i = 0;
    int word_start = 1, first = 1;
    while (i < s.u.s->n && !c->failed) {
        uint32_t cp;
        size_t len = jutf8_next(s.u.s->p + i, s.u.s->n - i, &cp);
        uint32_t o = cp;
        if (mode == JCASE_LOWER) o = juni_lower(cp);
        else if (mode == JCASE_UPPER) o = juni_upper(cp);
        else if (mode == JCASE_CAPITALIZE) o = first ? juni_upper(cp) : juni_lower(cp);
        else if (mode == JCASE_TITLE || mode == JCASE_TITLE_WORDS) o = word_start ? juni_upper(cp) : juni_lower(cp);
        else if (mode == JCASE_SWAP) o = juni_upper(cp) != cp ? juni_upper(cp) : juni_lower(cp);
        if (mode == JCASE_TITLE) word_start = juni_upper(cp) == cp && juni_lower(cp) == cp;   /* uncased */
        if (mode == JCASE_TITLE_WORDS) word_start = juni_is_space(cp) || (cp < 0x80 && strchr("-({[<", (int)cp) && cp);
        first = 0;
        if (o == cp || (cp >= 0xDC80 && cp <= 0xDCFF)) {
            jbuf_put(c, &b, s.u.s->p + i, len);
        } else {
            char u[4];
            jbuf_put(c, &b, u, jutf8_put(o, u));
        }
        i += len;
    }
    return from_buf(c, &b, before);
}

jv jstr_replace(jinja_ctx *c, jv s, jv old, jv rep, int64_t count) {
    jbuf b = {0};
    size_t before = c->out_total;
    const char *p = s.u.s->p;
    size_t n = s.u.s->n, on = old.u.s->n, i = 0;
    int64_t done = 0;
    if (on == 0) {   /* Python inserts the replacement around every code point */
        while (!c->failed) {
            if (count < 0 || done < count) {
                jbuf_put(c, &b, rep.u.s->p, rep.u.s->n);
                done++;
            }
            if (i >= n) break;
            uint32_t cp;
            size_t len = jutf8_next(p + i, n - i, &cp);
            jbuf_put(c, &b, p + i, len);
            i += len;
        }
        return from_buf(c, &b, before);
    }
    while (i < n && !c->failed) {
        const char *hit = (count < 0 || done < count) ? memmem(p + i, n - i, old.u.s->p, on) : NULL;
        if (!hit) {
            jbuf_put(c, &b, p + i, n - i);
            break;
        }
        jbuf_put(c, &b, p + i, (size_t)(hit - (p + i)));
        jbuf_put(c, &b, rep.u.s->p, rep.u.s->n);
        i = (size_t)(hit - p) + on;
        done++;
    }
    return from_buf(c, &b, before);
}

/* Python's str.splitlines() boundaries. */
static size_t line_break_len(const char *p, size_t n, size_t i) {
    uint32_t cp;
    size_t len = jutf8_next(p + i, n - i, &cp);
    if (cp == '\r') return i + 1 < n && p[i + 1] == '\n' ? 2 : 1;
    if (cp == '\n' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D || cp == 0x1E || cp == 0x85 ||
        cp == 0x2028 || cp == 0x2029)
        return len;
    return 0;
}

jv jstr_splitlines(jinja_ctx *c, jv s, int keepends) {
    jv out = jv_list(c, 0);
    const char *p = s.u.s->p;
    size_t n = s.u.s->n, start = 0, i = 0;
    while (i < n && !c->failed) {
        size_t br = line_break_len(p, n, i);
        if (br) {
            jv_list_push(c, out, jv_strn(c, p + start, i - start + (keepends ? br : 0)));
            i += br;
            start = i;
        } else {
            uint32_t cp;
            i += jutf8_next(p + i, n - i, &cp);
        }
    }
    if (start < n && !c->failed) jv_list_push(c, out, jv_strn(c, p + start, n - start));
    return c->failed ? jv_undef(NULL) : out;
}

static jv split(jinja_ctx *c, const jnode *at, jv s, const jv *sepv, int64_t maxsplit, int from_right) {
    jv out = jv_list(c, 0);
    if (c->failed) return out;
    const char *p = s.u.s->p;
    size_t n = s.u.s->n;
    if (!sepv || sepv->k == JV_NONE) {
        /* runs of whitespace; leading/trailing whitespace gives no empty strings */
        size_t *starts = NULL, *ends = NULL;
        size_t cnt = 0, cap = 0, i = 0;
        while (i < n) {
            uint32_t cp;
            size_t len = jutf8_next(p + i, n - i, &cp);
            if (juni_is_space(cp)) { i += len; continue; }
            size_t st = i;
            while (i < n) {
                len = jutf8_next(p + i, n - i, &cp);
                if (juni_is_space(cp)) break;
                i += len;
            }
            if (cnt == cap) {
                cap = cap ? cap * 2 : 8;
                size_t *ns = jinja_arena_alloc(&c->arena, cap * sizeof *ns), *ne = jinja_arena_alloc(&c->arena, cap * sizeof *ne);
                if (!ns || !ne) return jinja_fail(c, at, "template memory limit exceeded");
                if (cnt) { memcpy(ns, starts, cnt * sizeof *ns); memcpy(ne, ends, cnt * sizeof *ne); }
                starts = ns;
                ends = ne;
            }
            starts[cnt] = st;
            ends[cnt++] = i;
        }
        if (maxsplit < 0 || (size_t)maxsplit >= cnt) {
            for (size_t k = 0; k < cnt; k++) jv_list_push(c, out, jv_strn(c, p + starts[k], ends[k] - starts[k]));
        } else if (!from_right) {
            for (size_t k = 0; k < (size_t)maxsplit; k++) jv_list_push(c, out, jv_strn(c, p + starts[k], ends[k] - starts[k]));
            jv_list_push(c, out, jv_strn(c, p + starts[maxsplit], n - starts[maxsplit]));
        } else {
            size_t first = cnt - (size_t)maxsplit;
            jv_list_push(c, out, jv_strn(c, p, ends[first - 1]));
            for (size_t k = first; k < cnt; k++) jv_list_push(c, out, jv_strn(c, p + starts[k], ends[k] - starts[k]));
        }
        return c->failed ? jv_undef(NULL) : out;
    }
    if (sepv->k != JV_STR) return jinja_fail(c, at, "TypeError: must be str or None, not %s", jv_type_name(*sepv));
    const jstr *sep = sepv->u.s;
    if (sep->n == 0) return jinja_fail(c, at, "ValueError: empty separator");
    if (!from_right) {
        size_t i = 0;
        int64_t done = 0;
        for (;;) {
            const char *hit = (maxsplit < 0 || done < maxsplit) ? memmem(p + i, n - i, sep->p, sep->n) : NULL;
            if (!hit) {
                jv_list_push(c, out, jv_strn(c, p + i, n - i));
                break;
            }
            jv_list_push(c, out, jv_strn(c, p + i, (size_t)(hit - p) - i));
            i = (size_t)(hit - p) + sep->n;
            done++;
            if (c->failed) break;
        }
        return c->failed ? jv_undef(NULL) : out;
    }
    /* rsplit: collect from the right, then reverse */
    jv rev = jv_list(c, 0);
    size_t end = n;
    int64_t done = 0;
    while (!c->failed) {
        size_t hit = (size_t)-1;
        if ((maxsplit < 0 || done < maxsplit) && end >= sep->n)
            for (size_t k = end - sep->n + 1; k-- > 0;)
                if (!memcmp(p + k, sep->p, sep->n)) { hit = k; break; }
        if (hit == (size_t)-1) {
            jv_list_push(c, rev, jv_strn(c, p, end));
            break;
        }
        jv_list_push(c, rev, jv_strn(c, p + hit + sep->n, end - hit - sep->n));
        end = hit;
        done++;
    }
    if (c->failed) return jv_undef(NULL);
    for (size_t k = rev.u.l->n; k-- > 0;) jv_list_push(c, out, rev.u.l->v[k]);
    return out;
}

static int affix_match(jv s, jv affix, int end) {
    size_t n = s.u.s->n, m = affix.u.s->n;
    if (m > n) return 0;
    return !memcmp(s.u.s->p + (end ? n - m : 0), affix.u.s->p, m);
}

static jv starts_ends(jinja_ctx *c, const jnode *at, jv s, const jargs *a, int end, const char *name) {
    const jv *x = jargs_get(a, 0, NULL);
    if (!x) return jinja_fail(c, at, "TypeError: %s() takes at least 1 argument (0 given)", name);
    if (x->k == JV_STR) return jv_bool(affix_match(s, *x, end));
    if (x->k == JV_LIST && x->u.l->tuple) {
        for (size_t i = 0; i < x->u.l->n; i++) {
            if (x->u.l->v[i].k != JV_STR)
                return jinja_fail(c, at, "TypeError: tuple for %s must only contain str", name);
            if (affix_match(s, x->u.l->v[i], end)) return jv_bool(1);
        }
        return jv_bool(0);
    }
    return jinja_fail(c, at, "TypeError: %s first arg must be str or a tuple of str, not %s", name, jv_type_name(*x));
}

/* Byte offset of the first (or last) occurrence of x[0..m) in p[0..n), or -1. */
static long find_bytes(const char *p, size_t n, const char *x, size_t m, int from_right) {
    if (m > n) return -1;
    if (!from_right) {
        const char *h = memmem(p, n, x, m);
        return h ? (long)(h - p) : -1;
    }
    for (size_t k = n - m + 1; k-- > 0;)
        if (!memcmp(p + k, x, m)) return (long)k;
    return -1;
}

static jv find_sub(jinja_ctx *c, const jnode *at, jv s, const jargs *a, int from_right, int must) {
    const jv *x = jargs_get(a, 0, NULL);
    if (!x || x->k != JV_STR) return jinja_fail(c, at, "TypeError: must be str");
    const char *p = s.u.s->p;
    size_t n = s.u.s->n, m = x->u.s->n;
    long hit = find_bytes(p, n, x->u.s->p, m, from_right);
    if (hit < 0) {
        if (must) return jinja_fail(c, at, "ValueError: substring not found");
        return jv_int(-1);
    }
    return jv_int((int64_t)jutf8_count(p, (size_t)hit));   /* a code point index */
}

static jv str_pred(jv s, int kind) {
    size_t i = 0, n = s.u.s->n;
    int any_cased = 0;
    if (n == 0) return jv_bool(0);
    while (i < n) {
        uint32_t cp;
        i += jutf8_next(s.u.s->p + i, n - i, &cp);
        int ok;
        switch (kind) {
        case 0: ok = juni_is_digit(cp); break;
        case 1: ok = juni_is_alpha(cp); break;
        case 2: ok = juni_is_alpha(cp) || juni_is_digit(cp); break;
        case 3: ok = juni_is_space(cp); break;
        case 4: ok = juni_upper(cp) == cp; any_cased |= juni_lower(cp) != cp; break;
        default: ok = juni_lower(cp) == cp; any_cased |= juni_upper(cp) != cp; break;
        }
        if (!ok) return jv_bool(0);
    }
    return jv_bool(kind < 4 || any_cased);
}

/* str.partition / rpartition: a 3-tuple (head, sep, tail). */
static jv partition(jinja_ctx *c, const jnode *at, jv s, const jargs *a, int from_right) {
    const jv *x = jargs_get(a, 0, NULL);
    if (!x || x->k != JV_STR) return jinja_fail(c, at, "TypeError: must be str");
    if (x->u.s->n == 0) return jinja_fail(c, at, "ValueError: empty separator");
    const char *p = s.u.s->p;
    size_t n = s.u.s->n, m = x->u.s->n;
    long hit = find_bytes(p, n, x->u.s->p, m, from_right);
    jv out = jv_list(c, 3);
    if (c->failed) return out;
    out.u.l->tuple = 1;
    jv empty = jv_strn(c, "", 0);
    if (hit < 0) {
        jv_list_push(c, out, from_right ? empty : s);
        jv_list_push(c, out, empty);
        jv_list_push(c, out, from_right ? s : empty);
    } else {
        jv_list_push(c, out, jv_strn(c, p, (size_t)hit));
        jv_list_push(c, out, *x);
        jv_list_push(c, out, jv_strn(c, p + hit + m, n - (size_t)hit - m));
    }
    return c->failed ? jv_undef(NULL) : out;
}

/* str.expandtabs(tabsize): columns count code points and restart after \n and \r. */
static jv expandtabs(jinja_ctx *c, jv s, int64_t tabsize) {
    jbuf b = {0};
    size_t before = c->out_total, i = 0;
    int64_t col = 0;
    while (i < s.u.s->n && !c->failed) {
        uint32_t cp;
        size_t len = jutf8_next(s.u.s->p + i, s.u.s->n - i, &cp);
        if (cp == '\t') {
            int64_t spaces = tabsize > 0 ? tabsize - col % tabsize : 0;
            for (int64_t k = 0; k < spaces; k++) jbuf_putc(c, &b, ' ');
            col += spaces;
        } else {
            jbuf_put(c, &b, s.u.s->p + i, len);
            col = cp == '\n' || cp == '\r' ? 0 : col + 1;
        }
        i += len;
    }
    return from_buf(c, &b, before);
}

/* str.istitle(): cased runs start upper-case, and there is at least one cased character. */
static jv istitle(jv s) {
    size_t i = 0;
    int prev_cased = 0, any = 0;
    while (i < s.u.s->n) {
        uint32_t cp;
        i += jutf8_next(s.u.s->p + i, s.u.s->n - i, &cp);
        int upper = juni_lower(cp) != cp, lower = juni_upper(cp) != cp;
        if (upper) {
            if (prev_cased) return jv_bool(0);
            prev_cased = any = 1;
        } else if (lower) {
            if (!prev_cased) return jv_bool(0);
            prev_cased = any = 1;
        } else {
            prev_cased = 0;
        }
    }
    return jv_bool(any);
}

static const jstr *opt_chars(jinja_ctx *c, const jnode *at, const jargs *a) {
    const jv *x = jargs_get(a, 0, "chars");
    if (!x || x->k == JV_NONE) return NULL;
    if (x->k != JV_STR) {
        jinja_fail(c, at, "TypeError: strip arg must be None or str");
        return NULL;
    }
    return x->u.s;
}

static int64_t opt_int(const jargs *a, size_t i, const char *name, int64_t def) {
    const jv *x = jargs_get(a, i, name);
    return x && (x->k == JV_INT || x->k == JV_BOOL) ? x->u.i : def;
}

static jv str_method(jinja_ctx *c, const jnode *at, jv s, const char *m, const jargs *a) {
    if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip")) {
        const jstr *chars = opt_chars(c, at, a);
        if (c->failed) return jv_undef(NULL);
        return jstr_strip(c, s, chars, m[0] != 'r', m[0] != 'l');
    }
    if (!strcmp(m, "split") || !strcmp(m, "rsplit"))
        return split(c, at, s, jargs_get(a, 0, "sep"), opt_int(a, 1, "maxsplit", -1), m[0] == 'r');
    if (!strcmp(m, "startswith")) return starts_ends(c, at, s, a, 0, m);
    if (!strcmp(m, "endswith")) return starts_ends(c, at, s, a, 1, m);
    if (!strcmp(m, "replace")) {
        const jv *o = jargs_get(a, 0, NULL), *r = jargs_get(a, 1, NULL);
        if (!o || !r || o->k != JV_STR || r->k != JV_STR) return jinja_fail(c, at, "TypeError: replace() arguments must be str");
        return jstr_replace(c, s, *o, *r, opt_int(a, 2, "count", -1));
    }
    if (!strcmp(m, "lower")) return jstr_case(c, s, JCASE_LOWER);
    if (!strcmp(m, "upper")) return jstr_case(c, s, JCASE_UPPER);
    if (!strcmp(m, "title")) return jstr_case(c, s, JCASE_TITLE);
    if (!strcmp(m, "capitalize")) return jstr_case(c, s, JCASE_CAPITALIZE);
    if (!strcmp(m, "swapcase")) return jstr_case(c, s, JCASE_SWAP);
    if (!strcmp(m, "casefold")) return jstr_case(c, s, JCASE_LOWER);   /* same for the cased scripts juni maps */
    if (!strcmp(m, "partition") || !strcmp(m, "rpartition")) return partition(c, at, s, a, m[0] == 'r');
    if (!strcmp(m, "expandtabs")) return expandtabs(c, s, opt_int(a, 0, "tabsize", 8));
    if (!strcmp(m, "istitle")) return istitle(s);
    if (!strcmp(m, "isascii")) {
        for (size_t i = 0; i < s.u.s->n; i++)
            if ((unsigned char)s.u.s->p[i] >= 0x80) return jv_bool(0);
        return jv_bool(1);
    }
    if (!strcmp(m, "isprintable") || !strcmp(m, "isidentifier")) {
        int ident = m[2] == 'i';
        size_t i = 0;
        if (ident && s.u.s->n == 0) return jv_bool(0);
        while (i < s.u.s->n) {   /* identifiers: a letter or _, then letters, digits, _ (XID approximated) */
            uint32_t cp;
            int first = i == 0;
            i += jutf8_next(s.u.s->p + i, s.u.s->n - i, &cp);
            int ok = ident ? cp == '_' || juni_is_alpha(cp) || (!first && juni_is_digit(cp)) : juni_is_printable(cp);
            if (!ok) return jv_bool(0);
        }
        return jv_bool(1);
    }
    if (!strcmp(m, "format_map")) {   /* str.format with the mapping's keys as keyword arguments */
        const jv *d = jargs_get(a, 0, NULL);
        if (!d || (d->k != JV_DICT && d->k != JV_NS)) return jinja_fail(c, at, "TypeError: format_map() argument must be a mapping");
        size_t n = d->u.d->n;
        const jstr **names = jinja_arena_alloc(&c->arena, (n ? n : 1) * sizeof *names);
        if (!names) return jinja_fail(c, at, "template memory limit exceeded");
        for (size_t k = 0; k < n; k++) {
            if (d->u.d->keys[k].k != JV_STR) return jinja_fail(c, at, "TypeError: format_map() keys must be str");
            names[k] = d->u.d->keys[k].u.s;
        }
        jargs kw = {.pos = NULL, .n_pos = 0, .kwn = names, .kwv = d->u.d->vals, .n_kw = n};
        return jinja_str_format(c, at, s, &kw);
    }
    if (!strcmp(m, "find")) return find_sub(c, at, s, a, 0, 0);
    if (!strcmp(m, "rfind")) return find_sub(c, at, s, a, 1, 0);
    if (!strcmp(m, "index")) return find_sub(c, at, s, a, 0, 1);
    if (!strcmp(m, "rindex")) return find_sub(c, at, s, a, 1, 1);
    if (!strcmp(m, "count")) {
        const jv *x = jargs_get(a, 0, NULL);
        if (!x || x->k != JV_STR) return jinja_fail(c, at, "TypeError: must be str");
        if (x->u.s->n == 0) return jv_int((int64_t)jutf8_count(s.u.s->p, s.u.s->n) + 1);
        int64_t k = 0;
        const char *p = s.u.s->p, *e = p + s.u.s->n;
        while ((p = memmem(p, (size_t)(e - p), x->u.s->p, x->u.s->n))) {
            k++;
            p += x->u.s->n;
        }
        return jv_int(k);
    }
    if (!strcmp(m, "join")) {
        const jv *x = jargs_get(a, 0, NULL);
        jv items;
        if (!x || jv_iter_list(c, at, *x, &items)) return jv_undef(NULL);
        jbuf b = {0};
        size_t before = c->out_total;
        for (size_t i = 0; i < items.u.l->n && !c->failed; i++) {
            jv it = items.u.l->v[i];
            if (it.k != JV_STR) {
                jinja_fail(c, at, "TypeError: sequence item %zu: expected str instance, %s found", i, jv_type_name(it));
                break;
            }
            if (i) jbuf_put(c, &b, s.u.s->p, s.u.s->n);
            jbuf_put(c, &b, it.u.s->p, it.u.s->n);
        }
        return from_buf(c, &b, before);
    }
    if (!strcmp(m, "format")) return jinja_str_format(c, at, s, a);
    if (!strcmp(m, "splitlines")) return jstr_splitlines(c, s, (int)opt_int(a, 0, "keepends", 0));
    if (!strcmp(m, "isdigit") || !strcmp(m, "isnumeric") || !strcmp(m, "isdecimal")) return str_pred(s, 0);
    if (!strcmp(m, "isalpha")) return str_pred(s, 1);
    if (!strcmp(m, "isalnum")) return str_pred(s, 2);
    if (!strcmp(m, "isspace")) return str_pred(s, 3);
    if (!strcmp(m, "isupper")) return str_pred(s, 4);
    if (!strcmp(m, "islower")) return str_pred(s, 5);
    if (!strcmp(m, "removeprefix") || !strcmp(m, "removesuffix")) {
        const jv *x = jargs_get(a, 0, NULL);
        if (!x || x->k != JV_STR) return jinja_fail(c, at, "TypeError: %s() argument must be str", m);
        int end = m[6] == 's';
        if (!affix_match(s, *x, end)) return s;
        return jv_strn(c, s.u.s->p + (end ? 0 : x->u.s->n), s.u.s->n - x->u.s->n);
    }
    if (!strcmp(m, "ljust") || !strcmp(m, "rjust") || !strcmp(m, "center") || !strcmp(m, "zfill")) {
        int64_t width = opt_int(a, 0, "width", 0);
        const jv *fc = jargs_get(a, 1, "fillchar");
        const char *fill = m[0] == 'z' ? "0" : fc && fc->k == JV_STR && fc->u.s->n ? fc->u.s->p : " ";
        size_t fill_n = m[0] == 'z' ? 1 : fc && fc->k == JV_STR && fc->u.s->n ? fc->u.s->n : 1;
        int64_t len = (int64_t)jutf8_count(s.u.s->p, s.u.s->n);
        if (width <= len) return s;
        if (width > 1000000) return jinja_fail(c, at, "%s width too large", m);
        int64_t pad = width - len, left = m[0] == 'l' ? 0 : m[0] == 'c' ? pad / 2 + (pad & width & 1) : pad;
        jbuf b = {0};
        size_t before = c->out_total;
        for (int64_t i = 0; i < left; i++) jbuf_put(c, &b, fill, fill_n);
        jbuf_put(c, &b, s.u.s->p, s.u.s->n);
        for (int64_t i = left; i < pad; i++) jbuf_put(c, &b, fill, fill_n);
        return from_buf(c, &b, before);
    }
    return jinja_fail(c, at, "UndefinedError: 'str object' has no attribute '%s'", m);
}

static int is_mutator(const char *m) {
    static const char *const names[] = {"append", "pop", "extend", "insert", "remove", "clear", "sort", "reverse",
                                        "update", "setdefault", "popitem", "__setitem__", "__delitem__", NULL};
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(m, names[i])) return 1;
    return 0;
}

jv jinja_method(jinja_ctx *c, const jnode *at, jv obj, const char *m, const jargs *a) {
    switch (obj.k) {
    case JV_STR: return str_method(c, at, obj, m, a);
    case JV_DICT:
        if (!strcmp(m, "items") || !strcmp(m, "keys") || !strcmp(m, "values")) {
            jv out = jv_list(c, obj.u.d->n);
            if (c->failed) return out;
            for (size_t i = 0; i < obj.u.d->n; i++) {
                jv item;
                if (m[0] == 'k') item = obj.u.d->keys[i];
                else if (m[0] == 'v') item = obj.u.d->vals[i];
                else {
                    item = jv_list(c, 2);
                    if (c->failed) return item;
                    item.u.l->tuple = 1;
                    item.u.l->v[0] = obj.u.d->keys[i];
                    item.u.l->v[1] = obj.u.d->vals[i];
                    item.u.l->n = 2;
                }
                out.u.l->v[out.u.l->n++] = item;
            }
            return out;
        }
        if (!strcmp(m, "get")) {
            const jv *k = jargs_get(a, 0, NULL), *def = jargs_get(a, 1, NULL);
            if (!k) return jinja_fail(c, at, "TypeError: get expected at least 1 argument, got 0");
            jv *v = jdict_get(obj.u.d, *k);
            return v ? *v : def ? *def : jv_none();
        }
        if (!strcmp(m, "copy")) {
            jv d = jv_dict(c);
            for (size_t i = 0; i < obj.u.d->n && !c->failed; i++)
                if (jdict_set(&c->arena, d.u.d, obj.u.d->keys[i], obj.u.d->vals[i])) return jinja_fail(c, at, "out of memory");
            return d;
        }
        if (is_mutator(m)) return jinja_fail(c, at, "SecurityError: access to attribute '%s' of 'dict' object is unsafe.", m);
        break;
    case JV_LIST:
        if (!strcmp(m, "index") || !strcmp(m, "count")) {
            const jv *x = jargs_get(a, 0, NULL);
            if (!x) return jinja_fail(c, at, "TypeError: %s() takes exactly one argument", m);
            int64_t k = 0;
            for (size_t i = 0; i < obj.u.l->n; i++) {
                if (!jv_equal(obj.u.l->v[i], *x)) continue;
                if (m[0] == 'i') return jv_int((int64_t)i);
                k++;
            }
            if (m[0] == 'i') return jinja_fail(c, at, "ValueError: value is not in list");
            return jv_int(k);
        }
        if (is_mutator(m))
            return jinja_fail(c, at, "SecurityError: access to attribute '%s' of '%s' object is unsafe.", m,
                              jv_type_name(obj));
        break;
    case JV_LOOP:
        if (!strcmp(m, "cycle")) {
            if (a->n_pos == 0) return jinja_fail(c, at, "TypeError: no items for cycling given");
            return a->pos[obj.u.loop->index0 % a->n_pos];
        }
        if (!strcmp(m, "changed")) {   /* true on the first call and whenever the arguments differ */
            jv now = jv_list(c, a->n_pos);
            for (size_t i = 0; i < a->n_pos && !c->failed; i++) jv_list_push(c, now, a->pos[i]);
            if (c->failed) return jv_undef(NULL);
            now.u.l->tuple = 1;
            jloop *L = obj.u.loop;
            if (L->changed_seen && jv_equal(L->changed_last, now)) return jv_bool(0);
            L->changed_last = now;
            L->changed_seen = 1;
            return jv_bool(1);
        }
        break;
    case JV_UNDEF:
        return jinja_fail(c, at, "UndefinedError: %s", obj.u.undef ? obj.u.undef : "undefined value used");
    default: break;
    }
    if (obj.k == JV_NONE) return jinja_fail(c, at, "UndefinedError: 'None' has no attribute '%s'", m);
    return jinja_fail(c, at, "UndefinedError: '%s object' has no attribute '%s'", jv_type_name(obj), m);
}

/* ---------------------------------------------------------------- globals */

enum { G_RANGE, G_NAMESPACE, G_DICT, G_RAISE, G_STRFTIME, G_COUNT };
static const char *const GLOBAL_NAMES[G_COUNT] = {"range", "namespace", "dict", "raise_exception", "strftime_now"};
static const jfunc GLOBALS[G_COUNT] = {
    {.kind = JF_BUILTIN, .builtin = G_RANGE, .name = "range"},
    {.kind = JF_BUILTIN, .builtin = G_NAMESPACE, .name = "namespace"},
    {.kind = JF_BUILTIN, .builtin = G_DICT, .name = "dict"},
    {.kind = JF_BUILTIN, .builtin = G_RAISE, .name = "raise_exception"},
    {.kind = JF_BUILTIN, .builtin = G_STRFTIME, .name = "strftime_now"},
};

jv jinja_builtin_global(const char *name) {
    for (int i = 0; i < G_COUNT; i++)
        if (!strcmp(name, GLOBAL_NAMES[i])) return (jv){.k = JV_FUNC, .u.fn = (jfunc *)&GLOBALS[i]};
    return jv_undef(NULL);
}

static jv range_of(jinja_ctx *c, const jnode *at, const jargs *a) {
    int64_t start = 0, stop, stepv = 1;
    for (size_t i = 0; i < a->n_pos; i++)
        if (a->pos[i].k != JV_INT && a->pos[i].k != JV_BOOL)
            return jinja_fail(c, at, "TypeError: '%s' object cannot be interpreted as an integer", jv_type_name(a->pos[i]));
    if (a->n_pos == 1) stop = a->pos[0].u.i;
    else if (a->n_pos >= 2) {
        start = a->pos[0].u.i;
        stop = a->pos[1].u.i;
        if (a->n_pos >= 3) stepv = a->pos[2].u.i;
    } else {
        return jinja_fail(c, at, "TypeError: range expected at least 1 argument, got 0");
    }
    if (stepv == 0) return jinja_fail(c, at, "ValueError: range() arg 3 must not be zero");
    /* the count, computed without overflow */
    uint64_t cnt = 0;
    if (stepv > 0 && start < stop) cnt = ((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)stepv + 1;
    if (stepv < 0 && start > stop) cnt = ((uint64_t)start - (uint64_t)stop - 1) / (0 - (uint64_t)stepv) + 1;
    if (cnt > c->lim.max_steps) return jinja_fail(c, at, "range() too large (%llu items)", (unsigned long long)cnt);
    jv out = jv_list(c, (size_t)cnt);
    if (c->failed) return out;
    for (size_t i = 0; i < (size_t)cnt; i++) out.u.l->v[i] = jv_int(start + (int64_t)i * stepv);
    out.u.l->n = (size_t)cnt;
    return out;
}

jv jinja_call_builtin(jinja_ctx *c, const jnode *at, int id, const jargs *a) {
    switch (id) {
    case G_RANGE: return range_of(c, at, a);
    case G_NAMESPACE: case G_DICT: {
        jv d = jv_dict(c);
        if (c->failed) return d;
        if (id == G_NAMESPACE) d.k = JV_NS;
        for (size_t i = 0; i < a->n_pos; i++) {
            if (a->pos[i].k != JV_DICT && a->pos[i].k != JV_NS)
                return jinja_fail(c, at, "TypeError: %s() positional argument must be a mapping", GLOBAL_NAMES[id]);
            for (size_t k = 0; k < a->pos[i].u.d->n; k++)
                if (jdict_set(&c->arena, d.u.d, a->pos[i].u.d->keys[k], a->pos[i].u.d->vals[k])) return jinja_fail(c, at, "out of memory");
        }
        for (size_t k = 0; k < a->n_kw; k++) {
            jv key = {.k = JV_STR, .u.s = (jstr *)a->kwn[k]};
            if (jdict_set(&c->arena, d.u.d, key, a->kwv[k])) return jinja_fail(c, at, "out of memory");
        }
        return d;
    }
    case G_RAISE: {
        const jv *m = jargs_get(a, 0, NULL);
        jv s = m ? jv_stringify(c, *m) : jv_cstr(c, "");
        if (c->failed) return jv_undef(NULL);
        (void)at;
        return jinja_fail(c, NULL, "raise_exception: %s", s.u.s->p);
    }
    case G_STRFTIME: return jinja_strftime_now(c, at, a);
    }
    return jinja_fail(c, at, "internal error: unknown built-in");
}
