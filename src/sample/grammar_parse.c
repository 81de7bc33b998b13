/* GBNF parser (the syntax of llama.cpp's grammars/README.md), written from the format's
 * description:
 *
 *   rule      ::= name ws "::=" ws alternates (newline | end)
 *   alternates::= sequence ("|" ws sequence)*
 *   sequence  ::= (element postfix?)*          a top-level rule ends at a newline;
 *                                              inside ( ) newlines are spaces
 *   element   ::= "literal" | [class] | [^class] | . | name | ( alternates )
 *   postfix   ::= * | + | ? | {m} | {m,} | {m,n} | {,n}
 *
 * with # comments, escapes \xHH \uHHHH \UHHHHHHHH \t \n \r \\ \" \[ \] \- \^ in literals
 * and classes. Errors name the line and (byte) column where the problem starts.
 * After parsing, undefined rules and left recursion (also through rules that can match
 * the empty string) are errors: the matcher's expansion relies on their absence. */
#include "core/error.h"
#include "sample/grammar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Limits that keep hostile grammars from exhausting memory. */
#define MAX_ELEMS (1u << 22)
#define MAX_REPEAT 10000u
#define MAX_RULES 200000u
#define MAX_NESTING 256

typedef struct elem_vec {
    g_elem *v;
    size_t n, cap;
} elem_vec;

typedef struct rule_def {
    char *name;
    elem_vec body;
    int defined, generated;
    size_t use_pos, def_pos;   /* where first referenced / defined */
} rule_def;

typedef struct parser {
    const char *s;
    size_t len, pos;
    infer_error *err;
    int failed;
    rule_def *rules;
    size_t n_rules, cap_rules;
    uint32_t *table;           /* name hash table of rule indices + 1 (0 empty) */
    size_t table_cap;
    g_range *ranges;
    size_t n_ranges, cap_ranges;
    g_class *classes;
    size_t n_classes, cap_classes;
    size_t total_elems;
    int depth;
} parser;

static void line_col(const char *s, size_t pos, size_t *line, size_t *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < pos; i++) {
        if (s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int fail_at(parser *p, size_t pos, const char *what, const char *detail) {
    if (p->failed) return -1;
    p->failed = 1;
    size_t line, col;
    line_col(p->s, pos < p->len ? pos : p->len, &line, &col);
    infer_err(p->err, INFER_ERR_FORMAT, "grammar: line %zu, column %zu: %s%s", line, col, what, detail ? detail : "");
    return -1;
}

static int oom(parser *p) {
    if (!p->failed) infer_err(p->err, INFER_ERR_NOMEM, "grammar: out of memory");
    p->failed = 1;
    return -1;
}

static int grow(void **v, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *g = realloc(*v, c * size);
    if (!g) return -1;
    *v = g;
    *cap = c;
    return 0;
}

static int emit(parser *p, elem_vec *out, uint32_t kind, uint32_t value) {
    if (++p->total_elems > MAX_ELEMS) return fail_at(p, p->pos, "grammar too large", NULL);
    if (grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v)) return oom(p);
    out->v[out->n].kind = kind;
    out->v[out->n].value = value;
    out->n++;
    return 0;
}

/* ---- rules and names */

static uint64_t hash_name(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int table_insert(parser *p, uint32_t idx);

static int table_rehash(parser *p) {
    size_t old_cap = p->table_cap;
    uint32_t *old = p->table;
    p->table_cap = old_cap ? old_cap * 2 : 64;
    p->table = calloc(p->table_cap, sizeof *p->table);
    if (!p->table) {
        p->table = old;
        p->table_cap = old_cap;
        return oom(p);
    }
    for (size_t i = 0; i < old_cap; i++)
        if (old[i]) table_insert(p, old[i] - 1);
    free(old);
    return 0;
}

static int table_insert(parser *p, uint32_t idx) {
    const char *name = p->rules[idx].name;
    size_t mask = p->table_cap - 1, h = (size_t)hash_name(name, strlen(name)) & mask;
    while (p->table[h]) h = (h + 1) & mask;
    p->table[h] = idx + 1;
    return 0;
}

/* A new rule; generated rules are not findable by name. Returns its index or -1. */
static int64_t new_rule(parser *p, const char *name, size_t n, int generated) {
    if (p->n_rules >= MAX_RULES) return fail_at(p, p->pos, "too many rules", NULL);
    if (grow((void **)&p->rules, &p->cap_rules, p->n_rules + 1, sizeof *p->rules)) return oom(p);
    rule_def *r = &p->rules[p->n_rules];
    memset(r, 0, sizeof *r);
    r->name = malloc(n + 1);
    if (!r->name) return oom(p);
    memcpy(r->name, name, n);
    r->name[n] = 0;
    r->generated = generated;
    uint32_t idx = (uint32_t)p->n_rules++;
    if (!generated) {
        if ((p->n_rules) * 2 > p->table_cap && table_rehash(p)) return -1;
        table_insert(p, idx);
    }
    return idx;
}

static int64_t find_rule(const parser *p, const char *name, size_t n) {
    if (!p->table_cap) return -1;
    size_t mask = p->table_cap - 1, h = (size_t)hash_name(name, n) & mask;
    while (p->table[h]) {
        const char *rn = p->rules[p->table[h] - 1].name;
        if (strlen(rn) == n && memcmp(rn, name, n) == 0) return p->table[h] - 1;
        h = (h + 1) & mask;
    }
    return -1;
}

static int64_t rule_for_name(parser *p, const char *name, size_t n, size_t pos) {
    int64_t r = find_rule(p, name, n);
    if (r >= 0) return r;
    r = new_rule(p, name, n, 0);
    if (r >= 0) p->rules[r].use_pos = pos;
    return r;
}

static int64_t generated_rule(parser *p, uint32_t parent) {
    char name[96];
    int n = snprintf(name, sizeof name, "%.60s#%zu", p->rules[parent].name, p->n_rules);
    int64_t r = new_rule(p, name, (size_t)n, 1);
    if (r >= 0) p->rules[r].defined = 1;
    return r;
}

/* ---- lexing */

static int peek(const parser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

static int is_word(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void skip_space(parser *p, int newline_ok) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == ' ' || c == '\t') p->pos++;
        else if (c == '#') {
            while (p->pos < p->len && p->s[p->pos] != '\n' && p->s[p->pos] != '\r') p->pos++;
        } else if (newline_ok && (c == '\n' || c == '\r')) p->pos++;
        else break;
    }
}

static int hex_value(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* One source character (escapes decoded, UTF-8 decoded) into *cp. */
static int parse_char(parser *p, uint32_t *cp) {
    size_t start = p->pos;
    int c = peek(p);
    if (c < 0) return fail_at(p, start, "unexpected end of grammar", NULL);
    if (c == '\\') {
        p->pos++;
        int e = peek(p);
        int digits = 0;
        switch (e) {
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        case 't': *cp = '\t'; p->pos++; return 0;
        case 'n': *cp = '\n'; p->pos++; return 0;
        case 'r': *cp = '\r'; p->pos++; return 0;
        case '\\': case '"': case '[': case ']': case '-': case '^': case '\'':
            *cp = (uint32_t)e;
            p->pos++;
            return 0;
        default: return fail_at(p, start, "unknown escape", NULL);
        }
        p->pos++;
        uint32_t v = 0;
        for (int i = 0; i < digits; i++) {
            int h = hex_value(peek(p));
            if (h < 0) return fail_at(p, p->pos, "expected a hex digit in escape", NULL);
            v = v * 16 + (uint32_t)h;
            p->pos++;
        }
        if (v > 0x10FFFF) return fail_at(p, start, "code point above U+10FFFF", NULL);
        *cp = v;
        return 0;
    }
    utf8_partial u = {0};
    uint32_t out;
    size_t n = 1;
    if (c >= 0xC0) n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (p->pos + n > p->len || infer_gutf8_decode((const unsigned char *)p->s + p->pos, n, &u, &out, 1) != 1 || u.remain)
        return fail_at(p, start, "invalid UTF-8 in grammar", NULL);
    p->pos += n;
    *cp = out;
    return 0;
}

static int64_t add_class(parser *p, const g_range *r, size_t n, int negated) {
    if (grow((void **)&p->ranges, &p->cap_ranges, p->n_ranges + n + 1, sizeof *p->ranges) ||
        grow((void **)&p->classes, &p->cap_classes, p->n_classes + 1, sizeof *p->classes))
        return oom(p);
    g_class *c = &p->classes[p->n_classes];
    memset(c, 0, sizeof *c);
    c->first = (uint32_t)p->n_ranges;
    c->count = (uint32_t)n;
    c->negated = negated;
    if (n) memcpy(p->ranges + p->n_ranges, r, n * sizeof *r);
    p->n_ranges += n;
    for (uint32_t cp = 0; cp < 128; cp++) {
        int in = 0;
        for (size_t i = 0; i < n; i++) in |= cp >= r[i].lo && cp <= r[i].hi;
        if (in != negated) c->ascii[cp / 32] |= 1u << (cp % 32);
    }
    return (int64_t)p->n_classes++;
}

static int emit_char(parser *p, elem_vec *out, uint32_t cp) {
    g_range r = {cp, cp};
    int64_t ci = add_class(p, &r, 1, 0);
    return ci < 0 ? -1 : emit(p, out, G_CLASS, (uint32_t)ci);
}

static int parse_class(parser *p, elem_vec *out) {
    size_t start = p->pos;
    p->pos++;   /* [ */
    int negated = 0;
    if (peek(p) == '^') {
        negated = 1;
        p->pos++;
    }
    g_range *r = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    while (rc == 0) {
        int c = peek(p);
        if (c < 0 || c == '\n' || c == '\r') {   /* a class never spans lines */
            rc = fail_at(p, start, "unterminated character class", NULL);
            break;
        }
        if (c == ']') {
            p->pos++;
            break;
        }
        uint32_t lo, hi;
        size_t at = p->pos;
        if (parse_char(p, &lo)) {
            rc = -1;
            break;
        }
        hi = lo;
        if (peek(p) == '-' && p->pos + 1 < p->len && p->s[p->pos + 1] != ']' && p->s[p->pos + 1] != '\n' &&
            p->s[p->pos + 1] != '\r') {
            p->pos++;
            if (parse_char(p, &hi)) {
                rc = -1;
                break;
            }
            if (hi < lo) {
                rc = fail_at(p, at, "character range is reversed", NULL);
                break;
            }
        }
        if (grow((void **)&r, &cap, n + 1, sizeof *r)) {
            rc = oom(p);
            break;
        }
        r[n].lo = lo;
        r[n].hi = hi;
        n++;
    }
    if (rc == 0) {
        int64_t ci = add_class(p, r, n, negated);
        rc = ci < 0 ? -1 : emit(p, out, G_CLASS, (uint32_t)ci);
    }
    free(r);
    return rc;
}

static int parse_alternates(parser *p, uint32_t rule, elem_vec *out, int nested);

static int parse_count(parser *p, uint32_t *v) {
    size_t start = p->pos;
    uint64_t x = 0;
    int any = 0;
    while (peek(p) >= '0' && peek(p) <= '9') {
        x = x * 10 + (uint64_t)(peek(p) - '0');
        if (x > MAX_REPEAT) return fail_at(p, start, "repetition count too large", NULL);
        p->pos++;
        any = 1;
    }
    if (!any) return fail_at(p, start, "expected a number in repetition", NULL);
    *v = (uint32_t)x;
    return 0;
}

/* Copies body elements [from, n) of `out` into a fresh generated rule's sequence. */
static int take_span(parser *p, uint32_t rule, elem_vec *out, size_t from, g_elem *item) {
    if (out->n - from == 1) {
        *item = out->v[from];
        out->n = from;
        return 0;
    }
    int64_t r = generated_rule(p, rule);
    if (r < 0) return -1;
    rule_def *rd = &p->rules[r];
    for (size_t i = from; i < out->n; i++)
        if (emit(p, &rd->body, out->v[i].kind, out->v[i].value)) return -1;
    if (emit(p, &rd->body, G_END, 0)) return -1;
    out->n = from;
    item->kind = G_REF;
    item->value = (uint32_t)r;
    return 0;
}

/* rule ::= item rule | ""   (star); returns the rule index. */
static int64_t star_rule(parser *p, uint32_t parent, g_elem item) {
    int64_t r = generated_rule(p, parent);
    if (r < 0) return -1;
    elem_vec *b = &p->rules[r].body;
    if (emit(p, b, item.kind, item.value) || emit(p, b, G_REF, (uint32_t)r) || emit(p, b, G_ALT, 0) ||
        emit(p, b, G_END, 0))
        return -1;
    return r;
}

static int apply_postfix(parser *p, uint32_t rule, elem_vec *out, size_t from) {
    int c = peek(p);
    uint32_t m, n;   /* n == UINT32_MAX: unbounded */
    size_t start = p->pos;
    if (c == '*') m = 0, n = UINT32_MAX;
    else if (c == '+') m = 1, n = UINT32_MAX;
    else if (c == '?') m = 0, n = 1;
    else if (c == '{') {
        p->pos++;
        skip_space(p, 0);
        if (peek(p) == ',') m = 0;
        else if (parse_count(p, &m)) return -1;
        skip_space(p, 0);
        if (peek(p) == ',') {
            p->pos++;
            skip_space(p, 0);
            if (peek(p) == '}') n = UINT32_MAX;
            else if (parse_count(p, &n)) return -1;
            skip_space(p, 0);
        } else {
            n = m;
        }
        if (peek(p) != '}') return fail_at(p, p->pos, "expected '}' to close the repetition", NULL);
        if (n < m) return fail_at(p, start, "repetition maximum is below its minimum", NULL);
    } else {
        return 0;
    }
    p->pos++;
    if (out->n == from) return fail_at(p, start, "repetition of nothing", NULL);
    g_elem item;
    if (take_span(p, rule, out, from, &item)) return -1;
    for (uint32_t i = 0; i < m; i++)
        if (emit(p, out, item.kind, item.value)) return -1;
    if (n == UINT32_MAX) {
        int64_t r = star_rule(p, rule, item);
        return r < 0 ? -1 : emit(p, out, G_REF, (uint32_t)r);
    }
    if (n == m) return 0;
    /* Optional chain: o_1 ::= item o_2 | "", ..., o_k ::= item | "". Built from the
     * innermost out so each refers to the next by index. */
    int64_t next = -1;
    for (uint32_t i = 0; i < n - m; i++) {
        int64_t r = generated_rule(p, rule);
        if (r < 0) return -1;
        elem_vec *b = &p->rules[r].body;
        if (emit(p, b, item.kind, item.value)) return -1;
        if (next >= 0 && emit(p, b, G_REF, (uint32_t)next)) return -1;
        if (emit(p, b, G_ALT, 0) || emit(p, b, G_END, 0)) return -1;
        next = r;
    }
    return emit(p, out, G_REF, (uint32_t)next);
}

static int parse_sequence(parser *p, uint32_t rule, elem_vec *out, int nested) {
    for (;;) {
        int c = peek(p);
        size_t from = out->n, start = p->pos;
        if (c == '"') {
            p->pos++;
            for (;;) {
                if (peek(p) < 0 || peek(p) == '\n') return fail_at(p, start, "unterminated string literal", NULL);
                if (peek(p) == '"') {
                    p->pos++;
                    break;
                }
                uint32_t cp;
                if (parse_char(p, &cp) || emit_char(p, out, cp)) return -1;
            }
            if (out->n == from) {   /* "" matches the empty string: an empty group */
                int64_t r = generated_rule(p, rule);
                if (r < 0 || emit(p, &p->rules[r].body, G_END, 0) || emit(p, out, G_REF, (uint32_t)r)) return -1;
            }
        } else if (c == '[') {
            if (parse_class(p, out)) return -1;
        } else if (c == '.') {
            p->pos++;
            int64_t ci = add_class(p, NULL, 0, 1);
            if (ci < 0 || emit(p, out, G_CLASS, (uint32_t)ci)) return -1;
        } else if (c == '(') {
            if (++p->depth > MAX_NESTING) return fail_at(p, start, "groups nested too deeply", NULL);
            p->pos++;
            skip_space(p, 1);
            int64_t r = generated_rule(p, rule);
            if (r < 0) return -1;
            elem_vec body = {0};
            int rc = parse_alternates(p, (uint32_t)r, &body, 1);
            if (rc == 0 && emit(p, &body, G_END, 0)) rc = -1;
            p->rules[r].body = body;   /* the rules array may have moved: assign after */
            if (rc) return -1;
            if (peek(p) != ')') return fail_at(p, p->pos, "expected ')'", NULL);
            p->pos++;
            p->depth--;
            if (emit(p, out, G_REF, (uint32_t)r)) return -1;
        } else if (is_word(c)) {
            while (is_word(peek(p))) p->pos++;
            int64_t r = rule_for_name(p, p->s + start, p->pos - start, start);
            if (r < 0 || emit(p, out, G_REF, (uint32_t)r)) return -1;
        } else if (c == '<') {
            return fail_at(p, start, "token references <...> are not supported", NULL);
        } else {
            return 0;   /* end of the sequence */
        }
        skip_space(p, nested);
        if (apply_postfix(p, rule, out, from)) return -1;
        skip_space(p, nested);
    }
}

static int parse_alternates(parser *p, uint32_t rule, elem_vec *out, int nested) {
    if (parse_sequence(p, rule, out, nested)) return -1;
    while (peek(p) == '|') {
        p->pos++;
        skip_space(p, 1);
        if (emit(p, out, G_ALT, 0) || parse_sequence(p, rule, out, nested)) return -1;
    }
    return 0;
}

static int parse_rule(parser *p) {
    size_t start = p->pos;
    if (!is_word(peek(p))) return fail_at(p, start, "expected a rule name", NULL);
    while (is_word(peek(p))) p->pos++;
    int64_t r = rule_for_name(p, p->s + start, p->pos - start, start);
    if (r < 0) return -1;
    if (p->rules[r].defined) return fail_at(p, start, "rule defined twice: ", p->rules[r].name);
    p->rules[r].defined = 1;
    p->rules[r].def_pos = start;
    skip_space(p, 0);
    if (p->pos + 3 > p->len || memcmp(p->s + p->pos, "::=", 3) != 0) return fail_at(p, p->pos, "expected '::='", NULL);
    p->pos += 3;
    skip_space(p, 1);
    elem_vec body = {0};
    int rc = parse_alternates(p, (uint32_t)r, &body, 0);
    if (rc == 0 && emit(p, &body, G_END, 0)) rc = -1;
    p->rules[r].body = body;
    if (rc) return -1;
    int c = peek(p);
    if (c == '\r' || c == '\n' || c < 0) return 0;
    if (c == ')') return fail_at(p, p->pos, "unbalanced ')'", NULL);
    return fail_at(p, p->pos, "unexpected character", NULL);
}

/* ---- checks after parsing */

static size_t alt_end(const g_elem *b, size_t i) {
    while (b[i].kind != G_ALT && b[i].kind != G_END) i++;
    return i;
}

/* nullable[r]: rule r can match the empty string (fixpoint over all rules). */
static void compute_nullable(const parser *p, uint8_t *nullable) {
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t r = 0; r < p->n_rules; r++) {
            if (nullable[r]) continue;
            const g_elem *b = p->rules[r].body.v;
            for (size_t i = 0;;) {
                size_t e = alt_end(b, i), j = i;
                while (j < e && b[j].kind == G_REF && nullable[b[j].value]) j++;
                if (j == e) {
                    nullable[r] = 1;
                    changed = 1;
                    break;
                }
                if (b[e].kind == G_END) break;
                i = e + 1;
            }
        }
    }
}

typedef struct lr_frame {
    uint32_t rule;
    size_t i;   /* next element index of the rule body to consider */
} lr_frame;

/* Depth-first search for a cycle in "rule r can begin with rule s", iteratively so
 * that a long chain of rules cannot exhaust the C stack. */
static int check_left_recursion(parser *p, const uint8_t *nullable) {
    size_t n = p->n_rules;
    uint8_t *color = calloc(n, 1);   /* 0 new, 1 on the path, 2 done */
    lr_frame *st = malloc(n * sizeof *st);
    if (!color || !st) {
        free(color);
        free(st);
        return oom(p);
    }
    int rc = 0;
    for (size_t root = 0; root < n && rc == 0; root++) {
        if (color[root]) continue;
        size_t depth = 0;
        st[depth++] = (lr_frame){(uint32_t)root, 0};
        color[root] = 1;
        while (depth && rc == 0) {
            lr_frame *f = &st[depth - 1];
            const g_elem *b = p->rules[f->rule].body.v;
            /* Find the next reference that can come first in an alternative. */
            int64_t next = -1;
            while (next < 0 && b[f->i].kind != G_END) {
                const g_elem *e = &b[f->i];
                if (e->kind == G_ALT) {
                    f->i++;   /* a new alternative: its first element comes first */
                } else if (e->kind == G_REF) {
                    next = e->value;
                    /* What follows comes first too only if this rule can be empty. */
                    f->i = nullable[e->value] ? f->i + 1 : alt_end(b, f->i);
                } else {
                    f->i = alt_end(b, f->i);
                }
            }
            if (next < 0) {
                color[f->rule] = 2;
                depth--;
            } else if (color[next] == 1) {
                rc = fail_at(p, p->rules[next].def_pos, "left recursion in rule ", p->rules[next].name);
            } else if (color[next] == 0) {
                color[next] = 1;
                st[depth++] = (lr_frame){(uint32_t)next, 0};
            }
        }
    }
    free(color);
    free(st);
    return rc;
}

static void free_parser(parser *p) {
    for (size_t i = 0; i < p->n_rules; i++) {
        free(p->rules[i].name);
        free(p->rules[i].body.v);
    }
    free(p->rules);
    free(p->table);
    free(p->ranges);
    free(p->classes);
}

void infer_grammar_free(infer_grammar *g) {
    if (!g) return;
    if (g->rule_name)
        for (size_t i = 0; i < g->n_rules; i++) free(g->rule_name[i]);
    free(g->rule_name);
    free(g->rule_start);
    free(g->elems);
    free(g->ranges);
    free(g->classes);
    free(g);
}

infer_status infer_grammar_parse(const char *gbnf, size_t len, const char *root, infer_grammar **out,
                                 infer_error *err) {
    if (!out) return infer_err(err, INFER_ERR_INVALID_ARG, "grammar: out is NULL");
    *out = NULL;
    if (!gbnf && len) return infer_err(err, INFER_ERR_INVALID_ARG, "grammar: text is NULL");
    if (!root) root = "root";
    parser p = {.s = gbnf ? gbnf : "", .len = len, .err = err};
    skip_space(&p, 1);
    while (p.pos < p.len && !p.failed) {
        if (parse_rule(&p)) break;
        skip_space(&p, 1);
    }
    for (size_t r = 0; r < p.n_rules && !p.failed; r++)
        if (!p.rules[r].defined) fail_at(&p, p.rules[r].use_pos, "undefined rule ", p.rules[r].name);
    int64_t root_rule = p.failed ? -1 : find_rule(&p, root, strlen(root));
    if (!p.failed && root_rule < 0) {
        p.failed = 1;
        infer_err(err, INFER_ERR_FORMAT, "grammar: line 1, column 1: no rule named '%s'", root);
    }
    uint8_t *nullable = p.failed ? NULL : calloc(p.n_rules ? p.n_rules : 1, 1);
    if (!p.failed && !nullable) oom(&p);
    if (!p.failed) {
        compute_nullable(&p, nullable);
        check_left_recursion(&p, nullable);
    }
    free(nullable);
    infer_grammar *g = p.failed ? NULL : calloc(1, sizeof *g);
    if (!p.failed && !g) oom(&p);
    if (p.failed) {
        free_parser(&p);
        return err ? err->status : INFER_ERR_FORMAT;
    }
    /* Flatten: rule bodies back to back. */
    g->n_rules = p.n_rules;
    g->rule_start = malloc(p.n_rules * sizeof *g->rule_start);
    g->rule_name = calloc(p.n_rules, sizeof *g->rule_name);
    g->elems = malloc((p.total_elems ? p.total_elems : 1) * sizeof *g->elems);
    if (!g->rule_start || !g->rule_name || !g->elems) {
        infer_grammar_free(g);
        oom(&p);
        free_parser(&p);
        return INFER_ERR_NOMEM;
    }
    size_t at = 0;
    for (size_t r = 0; r < p.n_rules; r++) {
        g->rule_start[r] = (uint32_t)at;
        memcpy(g->elems + at, p.rules[r].body.v, p.rules[r].body.n * sizeof *g->elems);
        at += p.rules[r].body.n;
        g->rule_name[r] = p.rules[r].name;
        p.rules[r].name = NULL;
    }
    g->n_elems = at;
    g->ranges = p.ranges;
    g->n_ranges = p.n_ranges;
    g->classes = p.classes;
    g->n_classes = p.n_classes;
    g->root = (uint32_t)root_rule;
    p.ranges = NULL;
    p.classes = NULL;
    free_parser(&p);
    *out = g;
    return INFER_OK;
}
