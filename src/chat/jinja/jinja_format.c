/* Python's two string formatting languages, as templates call them: `"%s: %d" % (a, b)`
 * (also the |format filter) and `"{}: {:>8.2f}".format(a, b)` with the format-spec
 * mini-language. Widths and precisions count code points, as Python's do; numbers are
 * written in the C locale, as Python's default. */
#include "chat/jinja/jinja_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_num(jv v) { return v.k == JV_INT || v.k == JV_BOOL || v.k == JV_FLOAT; }
static double fnum(jv v) { return v.k == JV_FLOAT ? v.u.f : (double)v.u.i; }

static jv finish(jinja_ctx *c, jbuf *b, size_t before) {
    c->out_total = before;
    jv r = c->failed ? jv_undef(NULL) : jv_strn(c, b->p ? b->p : "", b->n);
    free(b->p);
    return r;
}

/* Byte length of the first n code points of p (all of it when shorter). */
static size_t prefix_bytes(const char *p, size_t len, int64_t n) {
    size_t i = 0;
    for (int64_t k = 0; k < n && i < len; k++) {
        uint32_t cp;
        i += jutf8_next(p + i, len - i, &cp);
    }
    return i;
}

/* Appends p padded with fill to width code points. align: '<', '>', '^', or '=' (the padding
 * goes after the first head bytes: a sign or 0x prefix). */
static void put_padded(jinja_ctx *c, jbuf *b, const char *p, size_t n, int64_t width, char align, const char *fill,
                       size_t fill_n, size_t head) {
    int64_t len = (int64_t)jutf8_count(p, n), pad = width > len ? width - len : 0;
    int64_t left = align == '<' ? 0 : align == '^' ? pad / 2 : pad;
    if (align == '=') {
        jbuf_put(c, b, p, head);
        p += head;
        n -= head;
    }
    for (int64_t i = 0; i < left; i++) jbuf_put(c, b, fill, fill_n);
    jbuf_put(c, b, p, n);
    for (int64_t i = left; i < pad; i++) jbuf_put(c, b, fill, fill_n);
}

/* ---------------------------------------------------------------- fmt % args */

/* The value str(v) or repr(v) as a temporary buffer (the caller frees tmp->p). */
static void to_text(jinja_ctx *c, jbuf *tmp, jv v, int repr) {
    size_t tb = c->out_total;
    if (repr) jv_repr(c, tmp, v);
    else jv_to_str(c, tmp, v);
    c->out_total = tb;
}

/* Python's str % args: %[(key)][flags][width][.precision] with s r a d i u f F e E g G x X o c
 * and %%; args is a tuple, a mapping (with %(key)s) or one value. */
jv jinja_percent_format(jinja_ctx *c, const jnode *at, jv fmt, jv args) {
    jbuf b = {0};
    size_t before = c->out_total, ai = 0;
    const jlist *tuple = args.k == JV_LIST && args.u.l->tuple ? args.u.l : NULL;
    int used_key = 0;
    const char *p = fmt.u.s->p;
    size_t n = fmt.u.s->n;
    for (size_t i = 0; i < n && !c->failed; i++) {
        if (p[i] != '%') {
            jbuf_putc(c, &b, p[i]);
            continue;
        }
        i++;
        jv arg = jv_undef(NULL);
        int have_arg = 0;
        if (i < n && p[i] == '(') {
            const char *close = memchr(p + i, ')', n - i);
            if (!close) { jinja_fail(c, at, "ValueError: incomplete format key"); break; }
            if (args.k != JV_DICT) { jinja_fail(c, at, "TypeError: format requires a mapping"); break; }
            jv *v = jdict_get_str(args.u.d, p + i + 1, (size_t)(close - p - i - 1));
            if (!v) { jinja_fail(c, at, "KeyError: '%.*s'", (int)(close - p - i - 1), p + i + 1); break; }
            arg = *v;
            have_arg = used_key = 1;
            i = (size_t)(close - p) + 1;
        }
        char spec[32] = "%";
        size_t sn = 1;
        int left_align = 0;
        while (i < n && strchr("-+ #0", p[i]) && sn < 8) {
            left_align |= p[i] == '-';
            spec[sn++] = p[i++];
        }
        int64_t width = 0, prec = -1;
        while (i < n && p[i] >= '0' && p[i] <= '9' && sn < 16) {
            width = width * 10 + (p[i] - '0');
            spec[sn++] = p[i++];
        }
        if (i < n && p[i] == '.') {
            spec[sn++] = p[i++];
            prec = 0;
            while (i < n && p[i] >= '0' && p[i] <= '9' && sn < 24) {
                prec = prec * 10 + (p[i] - '0');
                spec[sn++] = p[i++];
            }
        }
        /* a hostile width or precision would pad for hours (found by fuzz_template) */
        if (width > 1000000 || prec > 1000000) {
            jinja_fail(c, at, "OverflowError: format width or precision too big");
            break;
        }
        while (i < n && strchr("hlL", p[i])) i++;   /* length modifiers: accepted, ignored */
        if (i >= n) {
            jinja_fail(c, at, "ValueError: incomplete format");
            break;
        }
        char conv = p[i];
        if (conv == '%') {
            jbuf_putc(c, &b, '%');
            continue;
        }
        if (!have_arg) {
            if (tuple) {
                if (ai >= tuple->n) {
                    jinja_fail(c, at, "TypeError: not enough arguments for format string");
                    break;
                }
                arg = tuple->v[ai++];
            } else {
                if (ai++) {
                    jinja_fail(c, at, "TypeError: not enough arguments for format string");
                    break;
                }
                arg = args;
            }
        }
        if (conv == 's' || conv == 'r' || conv == 'a' || (conv == 'c' && arg.k == JV_STR)) {
            jbuf tmp = {0};
            if (conv == 'c' && jutf8_count(arg.u.s->p, arg.u.s->n) != 1) {
                jinja_fail(c, at, "TypeError: %%c requires int or char");
                break;
            }
            to_text(c, &tmp, arg, conv == 'r' || conv == 'a');
            size_t len = tmp.n;
            if (prec >= 0) len = prefix_bytes(tmp.p ? tmp.p : "", tmp.n, prec);
            put_padded(c, &b, tmp.p ? tmp.p : "", len, width, left_align ? '<' : '>', " ", 1, 0);
            free(tmp.p);
            continue;
        }
        if (arg.k == JV_UNDEF) {   /* int(Undefined) raises */
            jinja_fail(c, at, "UndefinedError: %s", arg.u.undef ? arg.u.undef : "undefined value used");
            break;
        }
        if (!is_num(arg)) {
            jinja_fail(c, at, "TypeError: %%%c format: a real number is required, not %s", conv, jv_type_name(arg));
            break;
        }
        char out[512];
        int k = -1;
        if (conv == 'c') {
            int64_t v = arg.k == JV_FLOAT ? -1 : arg.u.i;
            if (v < 0 || v > 0x10FFFF) {
                jinja_fail(c, at, "OverflowError: %%c arg not in range(0x110000)");
                break;
            }
            char u[4];
            put_padded(c, &b, u, jutf8_put((uint32_t)v, u), width, left_align ? '<' : '>', " ", 1, 0);
            continue;
        }
        if (strchr("diuxXo", conv)) {
            if (conv != 'd' && conv != 'i' && conv != 'u' && arg.k == JV_FLOAT) {
                jinja_fail(c, at, "TypeError: %%%c format: an integer is required, not float", conv);
                break;
            }
            long long v = arg.k == JV_FLOAT ? (long long)arg.u.f : (long long)arg.u.i;
            spec[sn++] = 'l';
            spec[sn++] = 'l';
            spec[sn++] = conv == 'i' || conv == 'u' ? 'd' : conv;
            spec[sn] = 0;
            k = snprintf(out, sizeof out, spec, v);
        } else if (strchr("fFeEgG", conv)) {
            spec[sn++] = conv;
            spec[sn] = 0;
            k = snprintf(out, sizeof out, spec, fnum(arg));
        } else {
            jinja_fail(c, at, "ValueError: unsupported format character '%c'", conv);
            break;
        }
        if (k >= 0) jbuf_put(c, &b, out, (size_t)k < sizeof out ? (size_t)k : sizeof out - 1);
    }
    if (!c->failed && !used_key && (tuple ? ai < tuple->n : ai == 0 && args.k != JV_DICT && args.k != JV_LIST))
        jinja_fail(c, at, "TypeError: not all arguments converted during string formatting");
    return finish(c, &b, before);
}

/* ---------------------------------------------------------------- str.format */

typedef struct fspec {
    char fill[4];
    size_t fill_n;
    char align;       /* 0 when not given */
    char sign;        /* '+', '-', ' ' */
    int alt;          /* '#' */
    char group;       /* ',' or '_' or 0 */
    int64_t width, prec;   /* prec < 0: not given */
    char type;        /* 0 when not given */
} fspec;

/* Parses [[fill]align][sign][z][#][0][width][grouping][.precision][type]. */
static int parse_spec(const char *p, size_t n, fspec *s) {
    *s = (fspec){.fill = " ", .fill_n = 1, .sign = '-', .prec = -1};
    size_t i = 0;
    uint32_t cp;
    size_t l0 = n ? jutf8_next(p, n, &cp) : 0;
    if (l0 < n && strchr("<>=^", p[l0])) {
        memcpy(s->fill, p, l0);
        s->fill_n = l0;
        s->align = p[l0];
        i = l0 + 1;
    } else if (n && strchr("<>=^", p[0])) {
        s->align = p[0];
        i = 1;
    }
    if (i < n && strchr("+- ", p[i])) s->sign = p[i++];
    if (i < n && p[i] == 'z') i++;
    if (i < n && p[i] == '#') s->alt = 1, i++;
    if (i < n && p[i] == '0') {
        if (!s->align) {
            s->fill[0] = '0';
            s->fill_n = 1;
            s->align = '=';
        }
        i++;
    }
    while (i < n && p[i] >= '0' && p[i] <= '9' && s->width < 1000000) s->width = s->width * 10 + (p[i++] - '0');
    if (i < n && (p[i] == ',' || p[i] == '_')) s->group = p[i++];
    if (i < n && p[i] == '.') {
        i++;
        if (i >= n || p[i] < '0' || p[i] > '9') return -1;
        s->prec = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9' && s->prec < 1000) s->prec = s->prec * 10 + (p[i++] - '0');
    }
    if (i < n) s->type = p[i++];
    return i == n ? 0 : -1;
}

/* digits with a separator every `every` digits from the right. */
static void put_grouped(jinja_ctx *c, jbuf *b, const char *d, size_t n, char sep, size_t every) {
    for (size_t i = 0; i < n; i++) {
        jbuf_putc(c, b, d[i]);
        if (sep && i + 1 < n && (n - 1 - i) % every == 0) jbuf_putc(c, b, sep);
    }
}

static int format_number(jinja_ctx *c, const jnode *at, jbuf *b, jv v, const fspec *s) {
    char type = s->type;
    if (v.k == JV_FLOAT && type && strchr("bcdoxX", type)) {
        jinja_fail(c, at, "ValueError: Unknown format code '%c' for object of type 'float'", type);
        return -1;
    }
    jbuf body = {0};
    size_t tb = c->out_total, head;
    int neg;
    if ((v.k == JV_INT || v.k == JV_BOOL) && (!type || strchr("bcdonxX", type))) {
        int64_t x = v.u.i;
        if (type == 'c') {
            if (x < 0 || x > 0x10FFFF) {
                jinja_fail(c, at, "OverflowError: %%c arg not in range(0x110000)");
                return -1;
            }
            char u[4];
            jbuf_put(c, &body, u, jutf8_put((uint32_t)x, u));
            head = 0;
        } else {
            neg = x < 0;
            uint64_t m = neg ? 0 - (uint64_t)x : (uint64_t)x;
            unsigned base = type == 'b' ? 2 : type == 'o' ? 8 : type == 'x' || type == 'X' ? 16 : 10;
            const char *dig = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
            char d[72];
            size_t dn = 0;
            do {
                d[sizeof d - 1 - dn++] = dig[m % base];
                m /= base;
            } while (m);
            if (neg) jbuf_putc(c, &body, '-');
            else if (s->sign != '-') jbuf_putc(c, &body, s->sign);
            if (s->alt && base != 10) {
                jbuf_putc(c, &body, '0');
                jbuf_putc(c, &body, type == 'X' ? 'X' : type);
            }
            head = body.n;
            put_grouped(c, &body, d + sizeof d - dn, dn, s->group, base == 10 ? 3 : 4);
        }
    } else {
        double x = fnum(v);
        char t = type ? type : 'g', out[512], fmt[16];
        int pct = t == '%';
        if (pct) {
            x *= 100;
            t = 'f';
        }
        if (t == 'n') t = 'g';
        int prec = s->prec >= 0 ? (int)s->prec : 6;
        neg = signbit(x);
        if (!type && s->prec < 0) {
            jv_fmt_float(fabs(x), out, sizeof out);   /* repr */
        } else {
            snprintf(fmt, sizeof fmt, "%%%s.*%c", s->alt ? "#" : "", t);
            snprintf(out, sizeof out, fmt, prec, fabs(x));
            /* no type: 'g', but fixed-point keeps one digit after the point */
            if (!type && isfinite(x) && !strpbrk(out, ".e")) strncat(out, ".0", sizeof out - strlen(out) - 1);
        }
        if (neg) jbuf_putc(c, &body, '-');
        else if (s->sign != '-') jbuf_putc(c, &body, s->sign);
        head = body.n;
        size_t int_n = strspn(out, "0123456789");
        put_grouped(c, &body, out, int_n, s->group, 3);
        jbuf_put(c, &body, out + int_n, strlen(out + int_n));
        if (pct) jbuf_putc(c, &body, '%');
    }
    c->out_total = tb;
    if (!c->failed) put_padded(c, b, body.p ? body.p : "", body.n, s->width, s->align ? s->align : '>', s->fill, s->fill_n, head);
    free(body.p);
    return c->failed ? -1 : 0;
}

/* format(v, spec) appended to b. */
static int format_value(jinja_ctx *c, const jnode *at, jbuf *b, jv v, const char *sp, size_t sn) {
    if (sn == 0) return jv_to_str(c, b, v);
    fspec s;
    if (parse_spec(sp, sn, &s)) {
        jinja_fail(c, at, "ValueError: Invalid format specifier '%.*s'", (int)sn, sp);
        return -1;
    }
    if (is_num(v)) return format_number(c, at, b, v, &s);
    if (v.k != JV_STR) {
        jinja_fail(c, at, "TypeError: unsupported format string passed to %s.__format__", jv_type_name(v));
        return -1;
    }
    if ((s.type && s.type != 's') || s.align == '=' || s.sign != '-') {
        jinja_fail(c, at, "ValueError: Unknown format code or sign for object of type 'str'");
        return -1;
    }
    size_t len = s.prec >= 0 ? prefix_bytes(v.u.s->p, v.u.s->n, s.prec) : v.u.s->n;
    put_padded(c, b, v.u.s->p, len, s.width, s.align ? s.align : '<', s.fill, s.fill_n, 0);
    return c->failed ? -1 : 0;
}

/* The argument a field names: "" (next automatic), a number or a keyword, then any
 * [key] / [index] lookups. NULL after an error. */
static const jv *field_arg(jinja_ctx *c, const jnode *at, const jargs *a, const char *p, size_t n, size_t *auto_idx,
                           jv *tmp) {
    size_t j = 0;
    while (j < n && p[j] != '[' && p[j] != '.') j++;
    const jv *v = NULL;
    if (j == 0) {
        v = jargs_get(a, (*auto_idx)++, NULL);
    } else if (p[0] >= '0' && p[0] <= '9') {
        v = jargs_get(a, (size_t)strtoul(p, NULL, 10), NULL);
    } else {
        for (size_t k = 0; k < a->n_kw; k++)
            if (a->kwn[k]->n == j && !memcmp(a->kwn[k]->p, p, j)) v = &a->kwv[k];
        if (!v) {
            jinja_fail(c, at, "KeyError: '%.*s'", (int)j, p);
            return NULL;
        }
    }
    if (!v) {
        jinja_fail(c, at, "IndexError: Replacement index %zu out of range for positional args tuple", *auto_idx - 1);
        return NULL;
    }
    while (j < n) {
        const char *close = p[j] == '[' ? memchr(p + j, ']', n - j) : NULL;
        if (!close) {
            jinja_fail(c, at, "ValueError: attribute lookups in format fields are not supported");
            return NULL;
        }
        const char *key = p + j + 1;
        size_t kn = (size_t)(close - key);
        jv *hit = NULL;
        if (v->k == JV_DICT && !(kn && key[0] >= '0' && key[0] <= '9')) hit = jdict_get_str(v->u.d, key, kn);
        else if (v->k == JV_LIST && kn && key[0] >= '0' && key[0] <= '9') {
            size_t idx = (size_t)strtoul(key, NULL, 10);
            hit = idx < v->u.l->n ? &v->u.l->v[idx] : NULL;
        }
        if (!hit) {
            jinja_fail(c, at, "KeyError: '%.*s'", (int)kn, key);
            return NULL;
        }
        *tmp = *hit;
        v = tmp;
        j = (size_t)(close - p) + 1;
    }
    return v;
}

/* str.format: literal text with {{ }}, and {field!conversion:spec} replacement fields. */
jv jinja_str_format(jinja_ctx *c, const jnode *at, jv fmt, const jargs *a) {
    jbuf b = {0};
    size_t before = c->out_total, auto_idx = 0;
    const char *p = fmt.u.s->p;
    size_t n = fmt.u.s->n;
    for (size_t i = 0; i < n && !c->failed; i++) {
        if (p[i] == '{' && i + 1 < n && p[i + 1] == '{') { jbuf_putc(c, &b, '{'); i++; continue; }
        if (p[i] == '}') {
            if (i + 1 < n && p[i + 1] == '}') { jbuf_putc(c, &b, '}'); i++; continue; }
            jinja_fail(c, at, "ValueError: Single '}' encountered in format string");
            break;
        }
        if (p[i] != '{') { jbuf_putc(c, &b, p[i]); continue; }
        size_t j = i + 1;
        while (j < n && p[j] != '}' && p[j] != ':' && p[j] != '!') j++;
        size_t close = j;
        while (close < n && p[close] != '}') close++;
        if (close >= n) { jinja_fail(c, at, "ValueError: Single '{' encountered in format string"); break; }
        if (memchr(p + j, '{', close - j)) { jinja_fail(c, at, "ValueError: nested format specs are not supported"); break; }
        jv tmp;
        const jv *v = field_arg(c, at, a, p + i + 1, j - i - 1, &auto_idx, &tmp);
        if (!v) break;
        jv val = *v;
        size_t k = j;
        if (k < n && p[k] == '!') {
            if (k + 1 >= close || !strchr("rsa", p[k + 1])) { jinja_fail(c, at, "ValueError: Unknown conversion specifier"); break; }
            jbuf t = {0};
            to_text(c, &t, val, p[k + 1] != 's');
            val = c->failed ? jv_undef(NULL) : jv_strn(c, t.p ? t.p : "", t.n);
            free(t.p);
            k += 2;
        }
        const char *sp = k < close && p[k] == ':' ? p + k + 1 : p + close;
        format_value(c, at, &b, val, sp, (size_t)(p + close - sp));
        i = close;
    }
    return finish(c, &b, before);
}
