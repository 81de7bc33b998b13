/* JSON-schema `pattern` to GBNF: the regular-expression subset of ECMA-262 that is
 * common in schemas (the same subset llama.cpp's converter accepts):
 *   literals and \-escaped metacharacters, ., [classes] with ranges and ^, \d \w \s
 *   \D \W \S, groups ( ) and (?: ), |, * + ? {m} {m,} {m,n} (a trailing ? for laziness
 *   is accepted and ignored), ^ at the start and $ at the end.
 * The grammar generates strings that match the whole pattern, a subset of those a
 * (search-semantics) schema pattern allows. Characters are produced raw when JSON
 * allows it; quote, backslash and control characters only through their JSON escapes
 * (literals) or not at all (classes). Backreferences, lookaround, \b, \p{...} and named
 * groups are refused. */
#include "sample/json_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REGEX_DEPTH 64

typedef struct rx {
    const char *s;
    size_t pos, len;
    jstr *out;
    char *why;
    size_t why_cap;
    int failed, depth;
    /* min/maxLength folded into the quantifier of a pattern that is one repeated
     * character (see infer_json_regex_to_gbnf_len): ov_set, and the bounds. */
    int ov_set;
    long ov_lo, ov_hi;
    int top_atoms, top_group;   /* atoms at depth 0, and whether one was a group */
    int top_alts;               /* '|' at depth 0 */
} rx;

static int rx_fail(rx *r, const char *what) {
    if (!r->failed) snprintf(r->why, r->why_cap, "pattern offset %zu: %s", r->pos, what);
    r->failed = 1;
    return -1;
}

static int rx_peek(const rx *r) { return r->pos < r->len ? (unsigned char)r->s[r->pos] : -1; }

typedef struct crange {
    uint32_t lo, hi;
} crange;

typedef struct cset {
    crange r[64];
    int n;
} cset;

static int cset_add(rx *r, cset *c, uint32_t lo, uint32_t hi) {
    if (c->n == 64) return rx_fail(r, "character class too large");
    c->r[c->n].lo = lo;
    c->r[c->n].hi = hi;
    c->n++;
    return 0;
}

/* \d \w \s and their negations as ranges; returns 1 if `e` was one. */
static int shorthand(rx *r, cset *c, int e, int *negated_shorthand) {
    *negated_shorthand = e == 'D' || e == 'W' || e == 'S';
    switch (e) {
    case 'd': case 'D': return cset_add(r, c, '0', '9') ? -1 : 1;
    case 'w': case 'W':
        if (cset_add(r, c, '0', '9') || cset_add(r, c, 'A', 'Z') || cset_add(r, c, 'a', 'z') || cset_add(r, c, '_', '_'))
            return -1;
        return 1;
    case 's': case 'S':
        if (cset_add(r, c, ' ', ' ') || cset_add(r, c, '\t', '\r')) return -1;
        return 1;
    default: return 0;
    }
}

static int utf8_cp(rx *r, uint32_t *cp) {
    const unsigned char *p = (const unsigned char *)r->s + r->pos;
    size_t left = r->len - r->pos;
    unsigned c = p[0];
    size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    if (n == 0 || n > left) return rx_fail(r, "invalid UTF-8");
    uint32_t v = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return rx_fail(r, "invalid UTF-8");
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v > 0x10FFFF) return rx_fail(r, "invalid UTF-8");
    r->pos += n;
    *cp = v;
    return 0;
}

/* A single escaped character (after the backslash) into *cp. */
static int escaped_char(rx *r, int e, uint32_t *cp) {
    switch (e) {
    case 'n': *cp = '\n'; return 0;
    case 't': *cp = '\t'; return 0;
    case 'r': *cp = '\r'; return 0;
    case 'f': *cp = '\f'; return 0;
    case 'v': *cp = '\v'; return 0;
    case 'x': case 'u': {
        int digits = e == 'x' ? 2 : 4;
        uint32_t v = 0;
        for (int i = 0; i < digits; i++) {
            int h = rx_peek(r);
            int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
            if (d < 0) return rx_fail(r, "bad hex escape");
            v = v * 16 + (uint32_t)d;
            r->pos++;
        }
        *cp = v;
        return 0;
    }
    default:
        if ((e >= '0' && e <= '9') || e == 'b' || e == 'B' || e == 'p' || e == 'P' || e == 'k')
            return rx_fail(r, "backreferences, \\b and \\p{} are not supported");
        if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) return rx_fail(r, "unknown escape");
        *cp = (uint32_t)e;   /* an escaped metacharacter stands for itself */
        return 0;
    }
}

/* Emits the class as GBNF, never producing characters JSON must escape. */
static void emit_class(jstr *o, const cset *c, int negated) {
    /* Forbidden raw: controls, quote, backslash. */
    static const crange forbid[] = {{0, 0x1F}, {'"', '"'}, {'\\', '\\'}};
    if (negated) {
        jstr_add(o, "[^");
        for (int i = 0; i < c->n; i++) jstr_addf(o, "\\U%08X-\\U%08X", c->r[i].lo, c->r[i].hi);
        for (size_t i = 0; i < sizeof forbid / sizeof forbid[0]; i++) jstr_addf(o, "\\U%08X-\\U%08X", forbid[i].lo, forbid[i].hi);
        jstr_add(o, "] ");
        return;
    }
    /* Subtract the forbidden ranges from each range. */
    jstr_add(o, "[");
    for (int i = 0; i < c->n; i++) {
        uint32_t lo = c->r[i].lo, hi = c->r[i].hi;
        while (lo <= hi) {
            uint32_t end = hi;
            int skip = 0;
            for (size_t f = 0; f < sizeof forbid / sizeof forbid[0]; f++) {
                if (lo >= forbid[f].lo && lo <= forbid[f].hi) {
                    lo = forbid[f].hi + 1;
                    skip = 1;
                    break;
                }
                if (forbid[f].lo > lo && forbid[f].lo - 1 < end) end = forbid[f].lo - 1;
            }
            if (skip) continue;
            jstr_addf(o, "\\U%08X-\\U%08X", lo, end);
            if (end == 0xFFFFFFFFu) break;
            lo = end + 1;
        }
    }
    jstr_add(o, "] ");
}

/* The complement of c within printable ASCII. Python's re (and ECMA-262 with the u
 * flag) reads \d \w \s as Unicode classes, so \D, \W, \S and [^\d...] exclude
 * characters such as Arabic-Indic digits or no-break spaces that an ASCII complement
 * would let through: written over ASCII only, the texts match under either reading. */
static void emit_ascii_complement(rx *r, const cset *c) {
    cset comp = {.n = 0};
    uint32_t lo = 0x20;
    while (lo <= 0x7E) {
        int inside = 0;
        uint32_t next = 0x7F;   /* the first excluded code point above lo */
        for (int i = 0; i < c->n; i++) {
            if (c->r[i].lo <= lo && lo <= c->r[i].hi) inside = 1, lo = c->r[i].hi + 1;
            else if (c->r[i].lo > lo && c->r[i].lo < next) next = c->r[i].lo;
        }
        if (inside) continue;
        cset_add(r, &comp, lo, next - 1);
        lo = next;
    }
    emit_class(r->out, &comp, 0);
}

static int parse_class(rx *r) {
    r->pos++;   /* [ */
    int negated = 0;
    if (rx_peek(r) == '^') negated = 1, r->pos++;
    cset c = {.n = 0};
    int first = 1, has_shorthand = 0;
    for (;;) {
        int ch = rx_peek(r);
        if (ch < 0) return rx_fail(r, "unterminated character class");
        if (ch == ']' && !first) {
            r->pos++;
            break;
        }
        first = 0;
        uint32_t lo;
        if (ch == '\\') {
            r->pos++;
            int e = rx_peek(r);
            if (e < 0) return rx_fail(r, "dangling backslash");
            r->pos++;
            int neg_sh;
            int sh = shorthand(r, &c, e, &neg_sh);
            if (sh < 0) return -1;
            if (sh) {
                if (neg_sh) return rx_fail(r, "\\D \\W \\S inside a class are not supported");
                has_shorthand = 1;
                continue;
            }
            if (escaped_char(r, e, &lo)) return -1;
        } else if (utf8_cp(r, &lo)) {
            return -1;
        }
        uint32_t hi = lo;
        if (rx_peek(r) == '-' && r->pos + 1 < r->len && r->s[r->pos + 1] != ']') {
            r->pos++;
            if (rx_peek(r) == '\\') {
                r->pos++;
                int e = rx_peek(r);
                if (e < 0) return rx_fail(r, "dangling backslash");
                r->pos++;
                if (escaped_char(r, e, &hi)) return -1;
            } else if (utf8_cp(r, &hi)) {
                return -1;
            }
            if (hi < lo) return rx_fail(r, "reversed range in class");
        }
        if (cset_add(r, &c, lo, hi)) return -1;
    }
    if (negated && has_shorthand) emit_ascii_complement(r, &c);
    else emit_class(r->out, &c, negated);
    return 0;
}

/* The lengths (in code points) of the strings a piece matches: [lo, hi], hi < 0 for
 * unbounded. Counted so that min/maxLength beside a pattern can be checked. */
typedef struct lenrange {
    long lo, hi;
} lenrange;

#define LEN_CAP 1000000L

static long len_mul(long a, long b) { return a < 0 || b < 0 ? -1 : (a * b > LEN_CAP ? LEN_CAP : a * b); }

static int parse_alt(rx *r, lenrange *len);

/* Reads the quantifier (if any) into *qm, *qn (1, 1 without one; qn < 0: unbounded)
 * and writes it; at depth 0 under an override, the counts meet min/maxLength. */
static int parse_quantifier(rx *r, long *qm, long *qn) {
    *qm = 1, *qn = 1;
    int c = rx_peek(r), any = 1;
    if (c == '*' || c == '+' || c == '?') {
        *qm = c == '+', *qn = c == '?' ? 1 : -1;
        r->pos++;
    } else if (c == '{') {
        size_t start = r->pos;
        r->pos++;
        unsigned long m = 0, n = 0;
        int has_m = 0, has_n = 0, comma = 0;
        while (rx_peek(r) >= '0' && rx_peek(r) <= '9') {
            m = m * 10 + (unsigned long)(rx_peek(r) - '0');
            has_m = 1;
            r->pos++;
            if (m > 10000) return rx_fail(r, "repetition count too large");
        }
        if (rx_peek(r) == ',') {
            comma = 1;
            r->pos++;
            while (rx_peek(r) >= '0' && rx_peek(r) <= '9') {
                n = n * 10 + (unsigned long)(rx_peek(r) - '0');
                has_n = 1;
                r->pos++;
                if (n > 10000) return rx_fail(r, "repetition count too large");
            }
        }
        if (rx_peek(r) != '}' || !has_m) {
            r->pos = start;
            return rx_fail(r, "bad {m,n} repetition");
        }
        r->pos++;
        if (comma && has_n && n < m) return rx_fail(r, "repetition maximum below minimum");
        *qm = (long)m, *qn = !comma ? (long)m : has_n ? (long)n : -1;
    } else {
        any = 0;
    }
    if (r->ov_set && r->depth == 0) {   /* one repeated character: its count is the length */
        if (r->ov_lo > *qm) *qm = r->ov_lo;
        if (r->ov_hi >= 0 && (*qn < 0 || r->ov_hi < *qn)) *qn = r->ov_hi;
        if (*qn >= 0 && *qn < *qm) return rx_fail(r, "min/maxLength leave no length the pattern allows");
        any = 1;
    }
    if (any) {
        if (*qn < 0) jstr_addf(r->out, "{%ld,} ", *qm);
        else jstr_addf(r->out, "{%ld,%ld} ", *qm, *qn);
    }
    if (rx_peek(r) == '?') r->pos++;   /* lazy: same language */
    if (rx_peek(r) == '*' || rx_peek(r) == '+' || rx_peek(r) == '?' || rx_peek(r) == '{')
        return rx_fail(r, "nested quantifier");
    return 0;
}

static int parse_seq(rx *r, lenrange *len) {
    len->lo = 0, len->hi = 0;
    jstr_add(r->out, "( ");
    for (;;) {
        lenrange atom = {1, 1};   /* one code point, unless a group */
        int c = rx_peek(r);
        if (c < 0 || c == '|' || c == ')') break;
        if (c == '$' && r->pos + 1 == r->len) {
            r->pos++;
            break;
        }
        if (c == '^' || c == '$') return rx_fail(r, "anchors inside the pattern are not supported");
        if (c == '*' || c == '+' || c == '?' || c == '{') return rx_fail(r, "quantifier without an operand");
        if (r->depth == 0) r->top_atoms++;
        if (c == '(') {
            if (r->depth == 0) r->top_group = 1;
            r->pos++;
            if (rx_peek(r) == '?') {
                if (r->pos + 1 < r->len && r->s[r->pos + 1] == ':') r->pos += 2;
                else return rx_fail(r, "lookaround and named groups are not supported");
            }
            if (++r->depth > MAX_REGEX_DEPTH) return rx_fail(r, "groups nested too deeply");
            jstr_add(r->out, "(");
            if (parse_alt(r, &atom)) return -1;
            if (rx_peek(r) != ')') return rx_fail(r, "expected ')'");
            r->pos++;
            r->depth--;
            jstr_add(r->out, ") ");
        } else if (c == '[') {
            if (parse_class(r)) return -1;
        } else if (c == '.') {
            r->pos++;
            cset none = {.n = 0};
            cset_add(r, &none, '\n', '\n');
            cset_add(r, &none, '\r', '\r');
            emit_class(r->out, &none, 1);
        } else if (c == '\\') {
            r->pos++;
            int e = rx_peek(r);
            if (e < 0) return rx_fail(r, "dangling backslash");
            r->pos++;
            cset cs = {.n = 0};
            int neg_sh;
            int sh = shorthand(r, &cs, e, &neg_sh);
            if (sh < 0) return -1;
            if (sh) {
                if (neg_sh) emit_ascii_complement(r, &cs);
                else emit_class(r->out, &cs, 0);
            } else {
                uint32_t cp;
                if (escaped_char(r, e, &cp)) return -1;
                jstr_add_json_char_literal(r->out, cp);
            }
        } else {
            uint32_t cp;
            if (utf8_cp(r, &cp)) return -1;
            jstr_add_json_char_literal(r->out, cp);
        }
        long qm, qn;
        if (parse_quantifier(r, &qm, &qn)) return -1;
        long lo = len_mul(atom.lo, qm), hi = qn == 0 ? 0 : len_mul(atom.hi, qn);
        len->lo = len->lo + lo > LEN_CAP ? LEN_CAP : len->lo + lo;
        len->hi = len->hi < 0 || hi < 0 ? -1 : (len->hi + hi > LEN_CAP ? LEN_CAP : len->hi + hi);
    }
    jstr_add(r->out, ") ");
    return 0;
}

static int parse_alt(rx *r, lenrange *len) {
    if (parse_seq(r, len)) return -1;
    while (rx_peek(r) == '|') {
        if (r->depth == 0) r->top_alts++;
        r->pos++;
        jstr_add(r->out, "| ");
        lenrange other;
        if (parse_seq(r, &other)) return -1;
        if (other.lo < len->lo) len->lo = other.lo;
        if (len->hi >= 0 && (other.hi < 0 || other.hi > len->hi)) len->hi = other.hi;
    }
    return 0;
}

static int convert(rx *r, lenrange *len) {
    if (rx_peek(r) == '^') r->pos++;
    jstr_add(r->out, "(");
    if (parse_alt(r, len)) return -1;
    if (r->pos != r->len) return rx_fail(r, rx_peek(r) == ')' ? "unbalanced ')'" : "unexpected character");
    jstr_add(r->out, ")");
    return 0;
}

int infer_json_regex_to_gbnf(const char *re, jstr *out, char *why, size_t why_cap) {
    rx r = {.s = re, .len = strlen(re), .out = out, .why = why, .why_cap = why_cap};
    lenrange len;
    return convert(&r, &len);
}

int infer_json_regex_to_gbnf_len(const char *re, long min_len, long max_len, jstr *out, char *why, size_t why_cap) {
    jstr tmp = {0};
    rx r = {.s = re, .len = strlen(re), .out = &tmp, .why = why, .why_cap = why_cap};
    lenrange len;
    int rc = convert(&r, &len);
    if (rc == 0 && len.lo >= min_len && (max_len < 0 || (len.hi >= 0 && len.hi <= max_len))) {
        jstr_add(out, tmp.s ? tmp.s : "");   /* the lengths say nothing more */
    } else if (rc == 0 && r.top_atoms == 1 && !r.top_group && r.top_alts == 0) {
        jstr_free(&tmp);
        rx o = {.s = re, .len = strlen(re), .out = &tmp, .why = why, .why_cap = why_cap, .ov_set = 1,
                .ov_lo = min_len, .ov_hi = max_len};
        rc = convert(&o, &len);
        if (rc == 0) jstr_add(out, tmp.s ? tmp.s : "");
    } else if (rc == 0) {
        snprintf(why, why_cap, "min/maxLength beside a pattern are supported when the pattern's lengths lie "
                               "within them or the pattern is one repeated character");
        rc = -1;
    }
    if (tmp.oom) out->oom = 1;
    jstr_free(&tmp);
    return rc;
}
