/* Lexer: template text and tags to tokens, with jinja2's whitespace control as Hugging Face
 * sets it: trim_blocks (drop the newline after a block or comment tag), lstrip_blocks
 * (drop spaces before a block or comment tag that starts its line), and the `-` / `+`
 * markers on tags. */
#include "chat/jinja/jinja_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lexer {
    jinja_arena *a;
    const char *s;
    size_t n, pos;
    int line;
    jtok_list *out;
    char *err;
    size_t errcap;
} lexer;

static int lex_fail(lexer *L, const char *msg) {
    snprintf(L->err, L->errcap, "line %d: %s", L->line, msg);
    return -1;
}

static int push(lexer *L, jtok t) {
    jtok_list *o = L->out;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        jtok *v = jinja_arena_alloc(L->a, cap * sizeof(jtok));
        if (!v) return lex_fail(L, "template too large");
        if (o->n) memcpy(v, o->v, o->n * sizeof(jtok));
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = t;
    return 0;
}

static int count_lines(const char *p, size_t n) {
    int k = 0;
    for (size_t i = 0; i < n; i++) k += p[i] == '\n';
    return k;
}

/* Length of the whitespace run (Python's \s, Unicode included) starting at p. */
static size_t ws_run(const char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = jutf8_next(p + i, n - i, &cp);
        if (!juni_is_space(cp)) break;
        i += len;
    }
    return i;
}

/* Length of text without its trailing whitespace (Python's str.rstrip()). */
static size_t rstrip_len(const char *p, size_t n) {
    size_t keep = 0, i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = jutf8_next(p + i, n - i, &cp);
        i += len;
        if (!juni_is_space(cp)) keep = i;
    }
    return keep;
}

static int emit_text(lexer *L, const char *p, size_t n, int line) {
    if (n == 0) return 0;
    jstr *s = jstr_new(L->a, p, n);
    if (!s) return lex_fail(L, "template too large");
    return push(L, (jtok){.kind = JT_TEXT, .line = line, .p = p, .n = n, .str = s});
}

/* Python string-literal escapes, as jinja2 resolves them ("unicode-escape"). */
static int lex_string(lexer *L) {
    char q = L->s[L->pos];
    size_t i = L->pos + 1;
    int line = L->line;
    char *buf = NULL;
    size_t bn = 0;
    /* first pass: find the end */
    size_t end = i;
    while (end < L->n && L->s[end] != q) {
        if (L->s[end] == '\\' && end + 1 < L->n) end++;
        end++;
    }
    if (end >= L->n) return lex_fail(L, "unterminated string literal");
    buf = jinja_arena_alloc(L->a, end - i + 1);
    if (!buf) return lex_fail(L, "template too large");
    while (i < end) {
        char ch = L->s[i];
        if (ch != '\\') {
            buf[bn++] = ch;
            i++;
            continue;
        }
        char e = L->s[i + 1];
        i += 2;
        uint32_t cp = 0;
        int hex = 0;
        switch (e) {
        case '\n': continue;
        case '\\': buf[bn++] = '\\'; continue;
        case '\'': buf[bn++] = '\''; continue;
        case '"': buf[bn++] = '"'; continue;
        case 'a': buf[bn++] = '\a'; continue;
        case 'b': buf[bn++] = '\b'; continue;
        case 'f': buf[bn++] = '\f'; continue;
        case 'n': buf[bn++] = '\n'; continue;
        case 'r': buf[bn++] = '\r'; continue;
        case 't': buf[bn++] = '\t'; continue;
        case 'v': buf[bn++] = '\v'; continue;
        case 'x': hex = 2; break;
        case 'u': hex = 4; break;
        case 'U': hex = 8; break;
        default:
            if (e >= '0' && e <= '7') {
                cp = (uint32_t)(e - '0');
                for (int k = 0; k < 2 && i < end && L->s[i] >= '0' && L->s[i] <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(L->s[i++] - '0');
                bn += jutf8_put(cp, buf + bn);
                continue;
            }
            buf[bn++] = '\\';   /* unknown escapes stay as written */
            buf[bn++] = e;
            continue;
        }
        for (int k = 0; k < hex; k++) {
            char h = i < end ? L->s[i] : 0;
            int d = h >= '0' && h <= '9' ? h - '0' : (h | 32) >= 'a' && (h | 32) <= 'f' ? (h | 32) - 'a' + 10 : -1;
            if (d < 0) return lex_fail(L, "truncated \\x/\\u escape in string literal");
            cp = cp * 16 + (uint32_t)d;
            i++;
        }
        if (cp > 0x10FFFF) return lex_fail(L, "invalid \\U escape in string literal");
        /* escapes (at most 10 source bytes) never produce more than 4 bytes */
        bn += jutf8_put(cp, buf + bn);
    }
    jstr *s = jstr_new(L->a, buf, bn);
    if (!s) return lex_fail(L, "template too large");
    L->line += count_lines(L->s + L->pos, end + 1 - L->pos);
    L->pos = end + 1;
    return push(L, (jtok){.kind = JT_STRING, .line = line, .str = s});
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* An integer or float literal: digits with optional '_' separators, a fraction, an
 * exponent. Its extent is found first, then copied without the separators. */
static int lex_number(lexer *L) {
    const char *s = L->s;
    size_t i = L->pos, n = L->n;
    int is_float = 0;
    while (i < n && (is_digit(s[i]) || s[i] == '_')) i++;
    if (i + 1 < n && s[i] == '.' && is_digit(s[i + 1])) {
        is_float = 1;
        i++;
        while (i < n && (is_digit(s[i]) || s[i] == '_')) i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-')) j++;
        if (j < n && is_digit(s[j])) {
            is_float = 1;
            i = j;
            while (i < n && is_digit(s[i])) i++;
        }
    }
    char buf[128];
    size_t bn = 0;
    for (size_t k = L->pos; k < i; k++) {
        if (s[k] == '_') continue;
        if (bn + 1 >= sizeof buf) return lex_fail(L, "number literal too long");
        buf[bn++] = s[k];
    }
    buf[bn] = 0;
    jtok t = {.kind = is_float ? JT_FLOAT : JT_INT, .line = L->line};
    errno = 0;
    if (is_float) {
        t.f = strtod(buf, NULL);
    } else {
        long long v = strtoll(buf, NULL, 10);
        if (errno == ERANGE) return lex_fail(L, "integer literal too large");
        t.i = v;
    }
    L->pos = i;
    return push(L, t);
}

static const char *const OPS[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                  "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", ";"};

/* Lexes the inside of a tag up to its end; returns the end marker's strip sign ('-', '+'
 * or 0) through *sign. */
static int lex_tag(lexer *L, int is_var, char *sign) {
    int depth = 0;
    for (;;) {
        if (L->pos >= L->n) return lex_fail(L, is_var ? "unexpected end of template, expected '}}'"
                                                       : "unexpected end of template, expected '%}'");
        const char *p = L->s + L->pos;
        size_t left = L->n - L->pos;
        char ch = *p;
        if (ch == '\n') L->line++;
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v') {
            L->pos++;
            continue;
        }
        char close = is_var ? '}' : '%';
        if (depth == 0 || !is_var) {
            for (int k = 0; k < 2; k++) {
                size_t off = (size_t)k;
                char mark = k ? ch : 0;
                if (k && ch != '-' && ch != '+') break;
                if (left >= off + 2 && p[off] == close && p[off + 1] == '}') {
                    *sign = mark;
                    L->pos += off + 2;
                    return 0;
                }
            }
        }
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_') {
            size_t i = 1;
            while (i < left && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_' ||
                                (p[i] >= '0' && p[i] <= '9')))
                i++;
            if (push(L, (jtok){.kind = JT_NAME, .line = L->line, .p = p, .n = i})) return -1;
            L->pos += i;
            continue;
        }
        if (ch >= '0' && ch <= '9') {
            if (lex_number(L)) return -1;
            continue;
        }
        if (ch == '\'' || ch == '"') {
            if (lex_string(L)) return -1;
            continue;
        }
        size_t oplen = 0;
        for (size_t k = 0; k < sizeof OPS / sizeof OPS[0]; k++) {
            size_t l = strlen(OPS[k]);
            if (l <= left && memcmp(p, OPS[k], l) == 0) {
                oplen = l;
                break;
            }
        }
        if (!oplen) {
            char msg[64];
            snprintf(msg, sizeof msg, "unexpected character '%c' (0x%02x) in tag", ch >= 32 && ch < 127 ? ch : '?',
                     (unsigned)(unsigned char)ch);
            return lex_fail(L, msg);
        }
        if (ch == '(' || ch == '[' || ch == '{') depth++;
        if ((ch == ')' || ch == ']' || ch == '}') && depth > 0) depth--;
        if (push(L, (jtok){.kind = JT_OP, .line = L->line, .p = p, .n = oplen})) return -1;
        L->pos += oplen;
    }
}

/* After a tag closes: `-` strips all whitespace, trim_blocks one newline after blocks and
 * comments. Returns whether the consumed text ended with a newline (jinja2's
 * line_starting, which lets lstrip_blocks apply to the next tag on that line). */
static int after_tag(lexer *L, char sign, int is_block) {
    size_t start = L->pos;
    if (sign == '-') {
        size_t w = ws_run(L->s + L->pos, L->n - L->pos);
        L->line += count_lines(L->s + L->pos, w);
        L->pos += w;
    } else if (sign != '+' && is_block && L->pos < L->n && L->s[L->pos] == '\n') {
        L->pos++;
        L->line++;
    }
    if (L->pos > start) return L->s[L->pos - 1] == '\n';
    return 0;
}

/* lstrip_blocks: the length of text once the spaces between its last line start and the
 * block tag after it are dropped (when nothing else is on that line). */
static size_t lstrip_len(const char *text, size_t tn, int line_starting) {
    size_t lpos = tn;
    while (lpos > 0 && text[lpos - 1] != '\n') lpos--;
    if ((lpos > 0 || line_starting) && lpos < tn && ws_run(text + lpos, tn - lpos) == tn - lpos) return lpos;
    return tn;
}

/* {% raw %}...{% endraw %}: finds the end tag; returns its start offset and length. */
static int find_endraw(const lexer *L, size_t from, size_t *at, size_t *len, char *lsign, char *rsign) {
    for (size_t i = from; i + 1 < L->n; i++) {
        if (L->s[i] != '{' || L->s[i + 1] != '%') continue;
        size_t j = i + 2;
        char ls = 0;
        if (j < L->n && (L->s[j] == '-' || L->s[j] == '+')) ls = L->s[j++];
        while (j < L->n && (L->s[j] == ' ' || L->s[j] == '\t' || L->s[j] == '\n')) j++;
        if (L->n - j < 6 || memcmp(L->s + j, "endraw", 6) != 0) continue;
        j += 6;
        while (j < L->n && (L->s[j] == ' ' || L->s[j] == '\t' || L->s[j] == '\n')) j++;
        char rs = 0;
        if (j < L->n && (L->s[j] == '-' || L->s[j] == '+')) rs = L->s[j++];
        if (L->n - j < 2 || L->s[j] != '%' || L->s[j + 1] != '}') continue;
        *at = i;
        *len = j + 2 - i;
        *lsign = ls;
        *rsign = rs;
        return 0;
    }
    return -1;
}

int jinja_lex(jinja_arena *a, const char *src, size_t n, jtok_list *out, char *err, size_t errcap) {
    lexer L = {.a = a, .s = src, .n = n, .line = 1, .out = out, .err = err, .errcap = errcap};
    int line_starting = 1;
    while (L.pos < L.n) {
        /* the next tag opener */
        size_t t = L.pos;
        int kind = 0;   /* '{' var, '%' block, '#' comment */
        for (; t + 1 < L.n; t++) {
            if (L.s[t] == '{' && (L.s[t + 1] == '{' || L.s[t + 1] == '%' || L.s[t + 1] == '#')) {
                kind = L.s[t + 1];
                break;
            }
        }
        if (!kind) {
            if (emit_text(&L, L.s + L.pos, L.n - L.pos, L.line)) return -1;
            break;
        }
        const char *text = L.s + L.pos;
        size_t tn = t - L.pos;
        int text_line = L.line;
        char lsign = t + 2 < L.n && (L.s[t + 2] == '-' || L.s[t + 2] == '+') ? L.s[t + 2] : 0;
        if (lsign == '-') {
            tn = rstrip_len(text, tn);
        } else if (lsign != '+' && kind != '{') {
            tn = lstrip_len(text, tn, line_starting);
        }
        if (emit_text(&L, text, tn, text_line)) return -1;
        L.line += count_lines(L.s + L.pos, t - L.pos);
        L.pos = t + 2 + (lsign ? 1 : 0);

        if (kind == '#') {
            size_t e = L.pos;
            while (e + 1 < L.n && !(L.s[e] == '#' && L.s[e + 1] == '}')) e++;
            if (e + 1 >= L.n) return lex_fail(&L, "unterminated comment");
            char rsign = e > L.pos && (L.s[e - 1] == '-' || L.s[e - 1] == '+') ? L.s[e - 1] : 0;
            L.line += count_lines(L.s + L.pos, e - L.pos);
            L.pos = e + 2;
            line_starting = after_tag(&L, rsign, 1);
            continue;
        }
        int is_var = kind == '{';
        size_t first_tok = out->n;
        if (push(&L, (jtok){.kind = is_var ? JT_VAR_BEGIN : JT_BLOCK_BEGIN, .line = L.line})) return -1;
        char rsign = 0;
        if (lex_tag(&L, is_var, &rsign)) return -1;
        if (push(&L, (jtok){.kind = is_var ? JT_VAR_END : JT_BLOCK_END, .line = L.line})) return -1;
        int is_raw = !is_var && out->n == first_tok + 3 && out->v[first_tok + 1].kind == JT_NAME &&
                     out->v[first_tok + 1].n == 3 && memcmp(out->v[first_tok + 1].p, "raw", 3) == 0;
        if (!is_raw) {
            line_starting = after_tag(&L, rsign, !is_var);
            continue;
        }
        /* {% raw %}: everything up to {% endraw %} is text. As in jinja2's lexer, trim_blocks
         * does not apply after {% raw %} (only '-' does), while {% endraw %} gets lstrip_blocks
         * before it and trim_blocks after it like any block tag. */
        line_starting = rsign == '-' ? after_tag(&L, rsign, 0) : 0;
        out->n = first_tok;
        size_t at, len;
        char ls, rs;
        if (find_endraw(&L, L.pos, &at, &len, &ls, &rs)) return lex_fail(&L, "missing {% endraw %}");
        size_t rn = at - L.pos;
        if (ls == '-') rn = rstrip_len(L.s + L.pos, rn);
        else if (ls != '+') rn = lstrip_len(L.s + L.pos, rn, line_starting);
        if (emit_text(&L, L.s + L.pos, rn, L.line)) return -1;
        L.line += count_lines(L.s + L.pos, at + len - L.pos);
        L.pos = at + len;
        line_starting = after_tag(&L, rs, 1);
    }
    return push(&L, (jtok){.kind = JT_EOF, .line = L.line});
}
