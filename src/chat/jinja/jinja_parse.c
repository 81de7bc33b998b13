/* Parser: tokens to a tree of statements and expressions, following jinja2's grammar and
 * operator precedence (parser.py): conditional < or < and < not < comparisons < + - <
 * ~ < * / // % < ** < unary - + < primary with postfix . [] () and then filters | and
 * tests `is`. Nesting is bounded so a hostile template cannot exhaust the stack. */
#include "chat/jinja/jinja_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_NESTING 128

typedef struct parser {
    jinja_template *t;
    const jtok *tok;
    size_t n, i;
    int depth;
    int failed;
    char *err;
    size_t errcap;
} parser;

static jnode *fail_at(parser *P, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static jnode *fail_at(parser *P, int line, const char *fmt, ...) {
    if (P->failed) return NULL;
    P->failed = 1;
    int k = snprintf(P->err, P->errcap, "line %d: ", line);
    if (k < 0 || (size_t)k >= P->errcap) return NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(P->err + k, P->errcap - (size_t)k, fmt, ap);
    va_end(ap);
    return NULL;
}

static const jtok *cur(parser *P) { return &P->tok[P->i < P->n ? P->i : P->n - 1]; }
static const jtok *peek(parser *P, size_t k) { return &P->tok[P->i + k < P->n ? P->i + k : P->n - 1]; }
static void advance(parser *P) {
    if (P->i + 1 < P->n) P->i++;
}

static int tok_is(const jtok *t, jtok_kind kind, const char *text) {
    if (t->kind != kind) return 0;
    if (!text) return 1;
    size_t l = strlen(text);
    return t->n == l && memcmp(t->p, text, l) == 0;
}
static int is_op(parser *P, const char *op) { return tok_is(cur(P), JT_OP, op); }
static int is_name(parser *P, const char *name) { return tok_is(cur(P), JT_NAME, name); }

static int accept_op(parser *P, const char *op) {
    if (!is_op(P, op)) return 0;
    advance(P);
    return 1;
}
static int accept_name(parser *P, const char *name) {
    if (!is_name(P, name)) return 0;
    advance(P);
    return 1;
}

static const char *tok_desc(const jtok *t, char *buf, size_t cap) {
    switch (t->kind) {
    case JT_EOF: return "end of template";
    case JT_TEXT: return "template text";
    case JT_VAR_BEGIN: return "'{{'";
    case JT_VAR_END: return "'}}'";
    case JT_BLOCK_BEGIN: return "'{%'";
    case JT_BLOCK_END: return "'%}'";
    case JT_STRING: return "string literal";
    case JT_INT: case JT_FLOAT: return "number";
    default: snprintf(buf, cap, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->p); return buf;
    }
}

static int expect_op(parser *P, const char *op) {
    if (accept_op(P, op)) return 1;
    char b[64];
    fail_at(P, cur(P)->line, "expected '%s', got %s", op, tok_desc(cur(P), b, sizeof b));
    return 0;
}

static jnode *node_new(parser *P, jnode_kind kind, int line) {
    jnode *n = jinja_arena_alloc(&P->t->arena, sizeof *n);
    if (!n) return fail_at(P, line, "template too large");
    n->kind = kind;
    n->line = line;
    return n;
}

static int list_push(parser *P, jnode_list *l, jnode *x) {
    if (!x) return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        jnode **v = jinja_arena_alloc(&P->t->arena, cap * sizeof *v);
        if (!v) {
            fail_at(P, x->line, "template too large");
            return -1;
        }
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 0;
}

static jstr *tok_str(parser *P, const jtok *t) {
    jstr *s = jstr_new(&P->t->arena, t->p, t->n);
    if (!s) fail_at(P, t->line, "template too large");
    return s;
}

static jnode *parse_expr(parser *P, int with_cond);
static jnode *parse_unary(parser *P, int with_filter);
static jnode *parse_or(parser *P);
static jnode *parse_primary(parser *P);
static jnode *parse_postfix(parser *P, jnode *node);

static int enter(parser *P) {
    if (++P->depth > MAX_NESTING) {
        fail_at(P, cur(P)->line, "template nesting too deep (more than %d levels)", MAX_NESTING);
        return 0;
    }
    return 1;
}
static void leave(parser *P) { P->depth--; }

/* Comma-separated expressions; a single one without a comma is itself, else a tuple. */
static jnode *parse_tuple(parser *P, int with_cond, int explicit_parens) {
    int line = cur(P)->line;
    jnode *first = NULL, *tup = NULL;
    int comma = 0;
    for (;;) {
        if (first || tup) {
            if (!accept_op(P, ",")) break;
            comma = 1;
        }
        /* a trailing comma or an empty tuple ends here */
        const jtok *t = cur(P);
        if (t->kind == JT_VAR_END || t->kind == JT_BLOCK_END || tok_is(t, JT_OP, ")") || tok_is(t, JT_OP, "=") ||
            (t->kind == JT_NAME && (tok_is(t, JT_NAME, "in") || tok_is(t, JT_NAME, "recursive")) && first)) {
            if (!first && !explicit_parens) return fail_at(P, t->line, "expected an expression");
            break;
        }
        jnode *e = parse_expr(P, with_cond);
        if (!e) return NULL;
        if (!first) {
            first = e;
        } else {
            if (!tup) {
                tup = node_new(P, JN_TUPLE, line);
                if (!tup || list_push(P, &tup->args, first)) return NULL;
            }
            if (list_push(P, &tup->args, e)) return NULL;
        }
    }
    if (tup) return tup;
    if (first && !comma) return first;
    jnode *t = node_new(P, JN_TUPLE, line);
    if (t && first && list_push(P, &t->args, first)) return NULL;
    return t;
}

/* Call arguments after '(' : positional and keyword. */
static int parse_args(parser *P, jnode *call) {
    size_t kw_cap = 0;
    while (!is_op(P, ")")) {
        if (call->args.n || call->kwv.n)
            if (!expect_op(P, ",")) return -1;
        if (is_op(P, ")")) break;   /* trailing comma */
        if (cur(P)->kind == JT_NAME && tok_is(peek(P, 1), JT_OP, "=")) {
            jstr *name = tok_str(P, cur(P));
            advance(P);
            advance(P);
            jnode *v = parse_expr(P, 1);
            if (!name || !v) return -1;
            if (call->kwv.n == kw_cap) {
                size_t cap = kw_cap ? kw_cap * 2 : 4;
                jstr **k = jinja_arena_alloc(&P->t->arena, cap * sizeof *k);
                if (!k) return -1;
                if (call->kwv.n) memcpy(k, call->kwn, call->kwv.n * sizeof *k);
                call->kwn = k;
                kw_cap = cap;
            }
            call->kwn[call->kwv.n] = name;
            if (list_push(P, &call->kwv, v)) return -1;
        } else {
            if (is_op(P, "*") || is_op(P, "**")) {
                fail_at(P, cur(P)->line, "*args and **kwargs in calls are not supported");
                return -1;
            }
            if (call->kwv.n) {
                fail_at(P, cur(P)->line, "positional argument follows keyword argument");
                return -1;
            }
            if (list_push(P, &call->args, parse_expr(P, 1))) return -1;
        }
    }
    advance(P);   /* ')' */
    return 0;
}

static jnode *parse_call(parser *P, jnode *callee) {
    jnode *n = node_new(P, JN_CALL, cur(P)->line);
    if (!n) return NULL;
    advance(P);   /* '(' */
    n->a = callee;
    if (parse_args(P, n)) return NULL;
    return n;
}

/* A dotted filter or test name. */
static jstr *parse_dotted_name(parser *P) {
    if (cur(P)->kind != JT_NAME) {
        char b[64];
        fail_at(P, cur(P)->line, "expected a filter or test name, got %s", tok_desc(cur(P), b, sizeof b));
        return NULL;
    }
    const jtok *t = cur(P);
    advance(P);
    jstr *s = tok_str(P, t);
    while (s && is_op(P, ".") && peek(P, 1)->kind == JT_NAME) {
        advance(P);
        const jtok *u = cur(P);
        advance(P);
        size_t total = s->n + 1 + u->n;
        jstr *j = jinja_arena_alloc(&P->t->arena, sizeof(jstr) + total + 1);
        if (!j) return NULL;
        j->n = total;
        memcpy(j->p, s->p, s->n);
        j->p[s->n] = '.';
        memcpy(j->p + s->n + 1, u->p, u->n);
        s = j;
    }
    return s;
}

static jnode *parse_filter(parser *P, jnode *node) {
    while (accept_op(P, "|")) {
        int line = cur(P)->line;
        jnode *f = node_new(P, JN_FILTER, line);
        if (!f || !(f->name = parse_dotted_name(P))) return NULL;
        f->a = node;
        if (is_op(P, "(")) {
            advance(P);
            if (parse_args(P, f)) return NULL;
        }
        node = f;
    }
    return node;
}

static jnode *parse_test(parser *P, jnode *node) {
    int line = cur(P)->line;
    advance(P);   /* 'is' */
    int neg = accept_name(P, "not");
    jnode *t = node_new(P, JN_TEST, line);
    if (!t || !(t->name = parse_dotted_name(P))) return NULL;
    t->a = node;
    t->op = neg;
    const jtok *c = cur(P);
    if (is_op(P, "(")) {
        advance(P);
        if (parse_args(P, t)) return NULL;
    } else if ((c->kind == JT_NAME || c->kind == JT_STRING || c->kind == JT_INT || c->kind == JT_FLOAT ||
                tok_is(c, JT_OP, "[") || tok_is(c, JT_OP, "{")) &&
               !tok_is(c, JT_NAME, "else") && !tok_is(c, JT_NAME, "or") && !tok_is(c, JT_NAME, "and")) {
        if (tok_is(c, JT_NAME, "is")) return fail_at(P, c->line, "you cannot chain multiple tests with is");
        jnode *arg = parse_primary(P);
        arg = arg ? parse_postfix(P, arg) : NULL;
        if (list_push(P, &t->args, arg)) return NULL;
    }
    return t;
}

static jnode *parse_filter_expr(parser *P, jnode *node) {
    while (node) {
        if (is_op(P, "|")) node = parse_filter(P, node);
        else if (is_name(P, "is")) node = parse_test(P, node);
        else if (is_op(P, "(")) node = parse_call(P, node);
        else break;
    }
    return node;
}

/* One part of a subscript: an expression or a slice a:b:c. */
static jnode *parse_subscribed(parser *P) {
    int line = cur(P)->line;
    jnode *parts[3] = {NULL, NULL, NULL};
    if (!is_op(P, ":")) {
        parts[0] = parse_expr(P, 1);
        if (!parts[0]) return NULL;
        if (!is_op(P, ":")) return parts[0];
    }
    advance(P);   /* ':' */
    if (!is_op(P, "]") && !is_op(P, ",") && !is_op(P, ":")) {
        if (!(parts[1] = parse_expr(P, 1))) return NULL;
    }
    if (accept_op(P, ":")) {
        if (!is_op(P, "]") && !is_op(P, ",")) {
            if (!(parts[2] = parse_expr(P, 1))) return NULL;
        }
    }
    jnode *s = node_new(P, JN_SLICE, line);
    if (!s) return NULL;
    s->b = parts[0];
    s->c = parts[1];
    s->d = parts[2];
    return s;
}

static jnode *parse_postfix(parser *P, jnode *node) {
    while (node) {
        int line = cur(P)->line;
        if (is_op(P, ".")) {
            advance(P);
            const jtok *t = cur(P);
            if (t->kind == JT_NAME) {
                jnode *a = node_new(P, JN_ATTR, line);
                if (!a || !(a->name = tok_str(P, t))) return NULL;
                advance(P);
                a->a = node;
                node = a;
            } else if (t->kind == JT_INT) {
                jnode *it = node_new(P, JN_ITEM, line), *k = node_new(P, JN_LIT, line);
                if (!it || !k) return NULL;
                k->lit = jv_int(t->i);
                advance(P);
                it->a = node;
                it->b = k;
                node = it;
            } else {
                return fail_at(P, line, "expected an attribute name after '.'");
            }
        } else if (is_op(P, "[")) {
            advance(P);
            jnode *first = parse_subscribed(P), *key = first;
            if (!first) return NULL;
            if (is_op(P, ",")) {
                key = node_new(P, JN_TUPLE, line);
                if (!key || list_push(P, &key->args, first)) return NULL;
                while (accept_op(P, ",")) {
                    if (is_op(P, "]")) break;
                    if (list_push(P, &key->args, parse_subscribed(P))) return NULL;
                }
            }
            if (!expect_op(P, "]")) return NULL;
            if (key->kind == JN_SLICE) {
                key->a = node;
                node = key;
            } else {
                jnode *it = node_new(P, JN_ITEM, line);
                if (!it) return NULL;
                it->a = node;
                it->b = key;
                node = it;
            }
        } else if (is_op(P, "(")) {
            node = parse_call(P, node);
        } else {
            break;
        }
    }
    return node;
}

static jnode *parse_primary(parser *P) {
    const jtok *t = cur(P);
    int line = t->line;
    if (!enter(P)) return NULL;
    jnode *n = NULL;
    if (t->kind == JT_NAME) {
        if (tok_is(t, JT_NAME, "true") || tok_is(t, JT_NAME, "True") || tok_is(t, JT_NAME, "false") ||
            tok_is(t, JT_NAME, "False")) {
            if ((n = node_new(P, JN_LIT, line))) n->lit = jv_bool(t->p[0] == 't' || t->p[0] == 'T');
        } else if (tok_is(t, JT_NAME, "none") || tok_is(t, JT_NAME, "None")) {
            if ((n = node_new(P, JN_LIT, line))) n->lit = jv_none();
        } else if ((n = node_new(P, JN_NAME, line))) {
            n->name = tok_str(P, t);
        }
        advance(P);
    } else if (t->kind == JT_STRING) {
        /* adjacent string literals concatenate */
        size_t total = 0, k = 0;
        while (peek(P, k)->kind == JT_STRING) total += peek(P, k++)->str->n;
        jstr *s = jinja_arena_alloc(&P->t->arena, sizeof(jstr) + total + 1);
        if (!s) return fail_at(P, line, "template too large");
        s->n = 0;
        while (cur(P)->kind == JT_STRING) {
            memcpy(s->p + s->n, cur(P)->str->p, cur(P)->str->n);
            s->n += cur(P)->str->n;
            advance(P);
        }
        s->p[s->n] = 0;
        if ((n = node_new(P, JN_LIT, line))) n->lit = (jv){.k = JV_STR, .u.s = s};
    } else if (t->kind == JT_INT || t->kind == JT_FLOAT) {
        if ((n = node_new(P, JN_LIT, line))) n->lit = t->kind == JT_INT ? jv_int(t->i) : jv_float(t->f);
        advance(P);
    } else if (tok_is(t, JT_OP, "(")) {
        advance(P);
        n = parse_tuple(P, 1, 1);
        if (n && !expect_op(P, ")")) n = NULL;
    } else if (tok_is(t, JT_OP, "[")) {
        advance(P);
        n = node_new(P, JN_LIST, line);
        while (n && !is_op(P, "]")) {
            if (n->args.n && !expect_op(P, ",")) return NULL;
            if (is_op(P, "]")) break;
            if (list_push(P, &n->args, parse_expr(P, 1))) return NULL;
        }
        if (n && !expect_op(P, "]")) n = NULL;
    } else if (tok_is(t, JT_OP, "{")) {
        advance(P);
        n = node_new(P, JN_DICT, line);
        while (n && !is_op(P, "}")) {
            if (n->args.n && !expect_op(P, ",")) return NULL;
            if (is_op(P, "}")) break;
            if (list_push(P, &n->args, parse_expr(P, 1))) return NULL;
            if (!expect_op(P, ":")) return NULL;
            if (list_push(P, &n->args2, parse_expr(P, 1))) return NULL;
        }
        if (n && !expect_op(P, "}")) n = NULL;
    } else {
        char b[64];
        n = fail_at(P, line, "unexpected %s", tok_desc(t, b, sizeof b));
    }
    leave(P);
    return n;
}

static jnode *parse_unary(parser *P, int with_filter) {
    int line = cur(P)->line;
    if (!enter(P)) return NULL;
    jnode *n;
    if (is_op(P, "-") || is_op(P, "+")) {
        int neg = is_op(P, "-");
        advance(P);
        n = node_new(P, neg ? JN_NEG : JN_POS, line);
        if (n && !(n->a = parse_unary(P, 0))) n = NULL;
    } else {
        n = parse_primary(P);
    }
    n = parse_postfix(P, n);
    if (with_filter) n = parse_filter_expr(P, n);
    leave(P);
    return n;
}

static jnode *binop(parser *P, int op, jnode *l, jnode *r, int line) {
    if (!l || !r) return NULL;
    jnode *n = node_new(P, JN_BINOP, line);
    if (!n) return NULL;
    n->op = op;
    n->a = l;
    n->b = r;
    return n;
}

static jnode *parse_pow(parser *P) {
    jnode *l = parse_unary(P, 1);
    while (l && is_op(P, "**")) {
        int line = cur(P)->line;
        advance(P);
        l = binop(P, JOP_POW, l, parse_unary(P, 1), line);
    }
    return l;
}

static jnode *parse_math2(parser *P) {
    jnode *l = parse_pow(P);
    for (;;) {
        int op = is_op(P, "*") ? JOP_MUL : is_op(P, "/") ? JOP_DIV : is_op(P, "//") ? JOP_FLOORDIV
               : is_op(P, "%") ? JOP_MOD : -1;
        if (!l || op < 0) return l;
        int line = cur(P)->line;
        advance(P);
        l = binop(P, op, l, parse_pow(P), line);
    }
}

static jnode *parse_concat(parser *P) {
    jnode *l = parse_math2(P);
    if (!l || !is_op(P, "~")) return l;
    jnode *c = node_new(P, JN_CONCAT, cur(P)->line);
    if (!c || list_push(P, &c->args, l)) return NULL;
    while (accept_op(P, "~"))
        if (list_push(P, &c->args, parse_math2(P))) return NULL;
    return c;
}

static jnode *parse_math1(parser *P) {
    jnode *l = parse_concat(P);
    for (;;) {
        int op = is_op(P, "+") ? JOP_ADD : is_op(P, "-") ? JOP_SUB : -1;
        if (!l || op < 0) return l;
        int line = cur(P)->line;
        advance(P);
        l = binop(P, op, l, parse_concat(P), line);
    }
}

static jnode *parse_compare(parser *P) {
    jnode *l = parse_math1(P);
    for (;;) {
        if (!l) return NULL;
        int line = cur(P)->line, op = -1;
        static const char *const ops[] = {"==", "!=", "<", "<=", ">", ">="};
        static const int codes[] = {JOP_EQ, JOP_NE, JOP_LT, JOP_LE, JOP_GT, JOP_GE};
        for (int k = 0; k < 6; k++)
            if (is_op(P, ops[k])) op = codes[k];
        if (op >= 0) {
            advance(P);
        } else if (is_name(P, "in")) {
            advance(P);
            op = JOP_IN;
        } else if (is_name(P, "not") && tok_is(peek(P, 1), JT_NAME, "in")) {
            advance(P);
            advance(P);
            op = JOP_NOTIN;
        } else {
            return l;
        }
        l = binop(P, op, l, parse_math1(P), line);
    }
}

static jnode *parse_not(parser *P) {
    if (is_name(P, "not")) {
        int line = cur(P)->line;
        advance(P);
        if (!enter(P)) return NULL;
        jnode *n = node_new(P, JN_NOT, line);
        if (n && !(n->a = parse_not(P))) n = NULL;
        leave(P);
        return n;
    }
    return parse_compare(P);
}

static jnode *parse_and(parser *P) {
    jnode *l = parse_not(P);
    while (l && is_name(P, "and")) {
        int line = cur(P)->line;
        advance(P);
        jnode *n = node_new(P, JN_AND, line);
        if (!n) return NULL;
        n->a = l;
        if (!(n->b = parse_not(P))) return NULL;
        l = n;
    }
    return l;
}

static jnode *parse_or(parser *P) {
    jnode *l = parse_and(P);
    while (l && is_name(P, "or")) {
        int line = cur(P)->line;
        advance(P);
        jnode *n = node_new(P, JN_OR, line);
        if (!n) return NULL;
        n->a = l;
        if (!(n->b = parse_and(P))) return NULL;
        l = n;
    }
    return l;
}

static jnode *parse_expr(parser *P, int with_cond) {
    if (!enter(P)) return NULL;
    jnode *e = parse_or(P);
    while (with_cond && e && is_name(P, "if")) {
        int line = cur(P)->line;
        advance(P);
        jnode *c = node_new(P, JN_COND, line);
        if (!c) break;
        c->a = e;
        if (!(c->b = parse_or(P))) { e = NULL; break; }
        if (accept_name(P, "else")) {
            if (!(c->c = parse_expr(P, 1))) { e = NULL; break; }
        }
        e = c;
    }
    leave(P);
    return e;
}

/* ---------------------------------------------------------------- statements */

static int parse_body(parser *P, jnode_list *body, const char *const *ends, const char **found);

static int expect_block_end(parser *P) {
    if (cur(P)->kind == JT_BLOCK_END) {
        advance(P);
        return 1;
    }
    char b[64];
    fail_at(P, cur(P)->line, "expected '%%}', got %s", tok_desc(cur(P), b, sizeof b));
    return 0;
}

/* Assignment targets: a name, a tuple of names, or (for set) ns.attr. */
static int parse_targets(parser *P, jnode *n) {
    int paren = accept_op(P, "(");
    size_t cap = 0;
    do {
        if (cur(P)->kind != JT_NAME) {
            char b[64];
            fail_at(P, cur(P)->line, "expected a variable name, got %s", tok_desc(cur(P), b, sizeof b));
            return -1;
        }
        if (n->n_names == cap) {
            cap = cap ? cap * 2 : 2;
            jstr **v = jinja_arena_alloc(&P->t->arena, cap * sizeof *v);
            if (!v) return -1;
            if (n->n_names) memcpy(v, n->names, n->n_names * sizeof *v);
            n->names = v;
        }
        if (!(n->names[n->n_names++] = tok_str(P, cur(P)))) return -1;
        advance(P);
    } while (accept_op(P, ",") && cur(P)->kind == JT_NAME);
    if (paren && !expect_op(P, ")")) return -1;
    return 0;
}

static jnode *parse_for(parser *P, int line) {
    jnode *n = node_new(P, JN_FOR, line);
    if (!n || parse_targets(P, n)) return NULL;
    if (!accept_name(P, "in")) return fail_at(P, cur(P)->line, "expected 'in' in for loop");
    if (!(n->a = parse_tuple(P, 0, 0))) return NULL;
    if (accept_name(P, "if")) {
        if (!(n->b = parse_expr(P, 1))) return NULL;
    }
    if (accept_name(P, "recursive")) return fail_at(P, line, "recursive for loops are not supported");
    if (!expect_block_end(P)) return NULL;
    static const char *const ends[] = {"endfor", "else", NULL};
    const char *found;
    if (parse_body(P, &n->args, ends, &found)) return NULL;
    if (strcmp(found, "else") == 0) {
        if (!expect_block_end(P)) return NULL;
        static const char *const ends2[] = {"endfor", NULL};
        if (parse_body(P, &n->args2, ends2, &found)) return NULL;
    }
    return expect_block_end(P) ? n : NULL;
}

static jnode *parse_if(parser *P, int line) {
    jnode *n = node_new(P, JN_IF, line);
    if (!n || !(n->a = parse_tuple(P, 1, 0)) || !expect_block_end(P)) return NULL;
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    const char *found;
    if (parse_body(P, &n->args, ends, &found)) return NULL;
    if (strcmp(found, "elif") == 0) {
        /* elif chains become nested ifs in the else branch */
        jnode *e = parse_if(P, cur(P)->line);
        if (!e || list_push(P, &n->args2, e)) return NULL;
        return n;   /* the nested if consumed endif */
    }
    if (strcmp(found, "else") == 0) {
        if (!expect_block_end(P)) return NULL;
        static const char *const ends2[] = {"endif", NULL};
        if (parse_body(P, &n->args2, ends2, &found)) return NULL;
    }
    return expect_block_end(P) ? n : NULL;
}

static jnode *parse_set(parser *P, int line) {
    if (cur(P)->kind == JT_NAME && tok_is(peek(P, 1), JT_OP, ".") && peek(P, 2)->kind == JT_NAME) {
        jnode *n = node_new(P, JN_SET_ATTR, line);
        if (!n) return NULL;
        jnode *obj = node_new(P, JN_NAME, line);
        if (!obj || !(obj->name = tok_str(P, cur(P)))) return NULL;
        n->a = obj;
        advance(P);
        advance(P);
        if (!(n->name = tok_str(P, cur(P)))) return NULL;
        advance(P);
        if (!expect_op(P, "=")) return NULL;
        if (!(n->b = parse_tuple(P, 1, 0)) || !expect_block_end(P)) return NULL;
        return n;
    }
    jnode *n = node_new(P, JN_SET, line);
    if (!n || parse_targets(P, n)) return NULL;
    if (accept_op(P, "=")) {
        if (!(n->a = parse_tuple(P, 1, 0)) || !expect_block_end(P)) return NULL;
        return n;
    }
    /* block set: {% set x %}...{% endset %}, optionally through filters */
    if (n->n_names != 1) return fail_at(P, line, "a block set assigns one name");
    n->kind = JN_SET_BLOCK;
    n->name = n->names[0];
    if (is_op(P, "|")) {
        jnode *hole = node_new(P, JN_LIT, line);   /* stands for the captured body */
        if (!hole) return NULL;
        hole->lit = jv_undef(NULL);
        n->b = hole;
        if (!(n->a = parse_filter(P, hole))) return NULL;
    }
    if (!expect_block_end(P)) return NULL;
    static const char *const ends[] = {"endset", NULL};
    const char *found;
    if (parse_body(P, &n->args, ends, &found)) return NULL;
    return expect_block_end(P) ? n : NULL;
}

/* Macro / call-block parameters: (a, b=default, ...) */
static int parse_params(parser *P, jnode *n) {
    if (!expect_op(P, "(")) return -1;
    size_t cap = 0;
    while (!is_op(P, ")")) {
        if (n->n_names && !expect_op(P, ",")) return -1;
        if (is_op(P, ")")) break;
        if (cur(P)->kind != JT_NAME) {
            fail_at(P, cur(P)->line, "expected a parameter name");
            return -1;
        }
        if (n->n_names == cap) {
            cap = cap ? cap * 2 : 4;
            jstr **v = jinja_arena_alloc(&P->t->arena, cap * sizeof *v);
            if (!v) return -1;
            if (n->n_names) memcpy(v, n->names, n->n_names * sizeof *v);
            n->names = v;
        }
        if (!(n->names[n->n_names] = tok_str(P, cur(P)))) return -1;
        advance(P);
        jnode *def = NULL;
        if (accept_op(P, "=")) {
            if (!(def = parse_expr(P, 1))) return -1;
        } else if (n->args2.n) {
            for (size_t k = 0; k < n->args2.n; k++)
                if (n->args2.v[k]) {
                    fail_at(P, cur(P)->line, "non-default parameter follows default parameter");
                    return -1;
                }
        }
        /* args2 holds one entry per parameter: its default or a NULL placeholder */
        if (n->args2.n == n->args2.cap) {
            size_t c2 = n->args2.cap ? n->args2.cap * 2 : 4;
            jnode **v = jinja_arena_alloc(&P->t->arena, c2 * sizeof *v);
            if (!v) return -1;
            if (n->args2.n) memcpy(v, n->args2.v, n->args2.n * sizeof *v);
            n->args2.v = v;
            n->args2.cap = c2;
        }
        n->args2.v[n->args2.n++] = def;
        n->n_names++;
    }
    advance(P);
    return 0;
}

/* Whether the subtree reads the variable `name` (jinja2 decides this way, at compile time,
 * whether a macro takes extra positional or keyword arguments: only when its body reads
 * varargs / kwargs). */
static int reads_name(const jnode *n, const char *name, int depth) {
    if (!n || depth > 10000) return 0;
    if (n->kind == JN_NAME && n->name && !strcmp(n->name->p, name)) return 1;
    const jnode *kids[] = {n->a, n->b, n->c, n->d};
    for (size_t i = 0; i < 4; i++)
        if (reads_name(kids[i], name, depth + 1)) return 1;
    const jnode_list *lists[] = {&n->args, &n->args2, &n->kwv};
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; i < lists[l]->n; i++)
            if (reads_name(lists[l]->v[i], name, depth + 1)) return 1;
    return 0;
}

static int body_reads(const jnode_list *body, const char *name) {
    for (size_t i = 0; i < body->n; i++)
        if (reads_name(body->v[i], name, 0)) return 1;
    return 0;
}

static jnode *parse_macro(parser *P, int line) {
    jnode *n = node_new(P, JN_MACRO, line);
    if (!n) return NULL;
    if (cur(P)->kind != JT_NAME) return fail_at(P, line, "expected a macro name");
    if (!(n->name = tok_str(P, cur(P)))) return NULL;
    advance(P);
    if (parse_params(P, n) || !expect_block_end(P)) return NULL;
    static const char *const ends[] = {"endmacro", NULL};
    const char *found;
    if (parse_body(P, &n->args, ends, &found)) return NULL;
    n->op = (body_reads(&n->args, "varargs") ? JMACRO_VARARGS : 0) | (body_reads(&n->args, "kwargs") ? JMACRO_KWARGS : 0);
    return expect_block_end(P) ? n : NULL;
}

static jnode *parse_call_block(parser *P, int line) {
    jnode *n = node_new(P, JN_CALL_BLOCK, line);
    if (!n) return NULL;
    if (is_op(P, "(") && parse_params(P, n)) return NULL;
    if (!(n->a = parse_expr(P, 1))) return NULL;
    if (n->a->kind != JN_CALL) return fail_at(P, line, "expected a call after {%% call %%}");
    if (!expect_block_end(P)) return NULL;
    static const char *const ends[] = {"endcall", NULL};
    const char *found;
    if (parse_body(P, &n->args, ends, &found)) return NULL;
    return expect_block_end(P) ? n : NULL;
}

static jnode *parse_filter_block(parser *P, int line) {
    jnode *n = node_new(P, JN_FILTER_BLOCK, line);
    jnode *hole = node_new(P, JN_LIT, line);
    if (!n || !hole) return NULL;
    hole->lit = jv_undef(NULL);
    n->b = hole;
    /* the first filter has no leading '|': parse as if it had one */
    jnode *f = node_new(P, JN_FILTER, line);
    if (!f || !(f->name = parse_dotted_name(P))) return NULL;
    f->a = hole;
    if (is_op(P, "(")) {
        advance(P);
        if (parse_args(P, f)) return NULL;
    }
    if (!(n->a = parse_filter(P, f)) || !expect_block_end(P)) return NULL;
    static const char *const ends[] = {"endfilter", NULL};
    const char *found;
    if (parse_body(P, &n->args, ends, &found)) return NULL;
    return expect_block_end(P) ? n : NULL;
}

static jnode *parse_scope_block(parser *P, int line, const char *end) {
    jnode *n = node_new(P, JN_SCOPE, line);
    if (!n || !expect_block_end(P)) return NULL;
    const char *ends[] = {end, NULL};
    const char *found;
    if (parse_body(P, &n->args, ends, &found)) return NULL;
    return expect_block_end(P) ? n : NULL;
}

/* {% with a = 1, b = 2 %}...{% endwith %}: a scope with assignments first. */
static jnode *parse_with(parser *P, int line) {
    jnode *n = node_new(P, JN_SCOPE, line);
    if (!n) return NULL;
    while (cur(P)->kind != JT_BLOCK_END) {
        if (n->args.n && !expect_op(P, ",")) return NULL;
        jnode *s = node_new(P, JN_SET, cur(P)->line);
        if (!s || parse_targets(P, s) || !expect_op(P, "=")) return NULL;
        if (!(s->a = parse_expr(P, 1)) || list_push(P, &n->args, s)) return NULL;
    }
    if (!expect_block_end(P)) return NULL;
    static const char *const ends[] = {"endwith", NULL};
    const char *found;
    if (parse_body(P, &n->args, ends, &found)) return NULL;
    return expect_block_end(P) ? n : NULL;
}

static jnode *parse_statement(parser *P) {
    const jtok *t = cur(P);
    int line = t->line;
    if (t->kind != JT_NAME) {
        char b[64];
        return fail_at(P, line, "expected a statement name, got %s", tok_desc(t, b, sizeof b));
    }
    if (!enter(P)) return NULL;
    advance(P);
    jnode *n = NULL;
    if (tok_is(t, JT_NAME, "for")) n = parse_for(P, line);
    else if (tok_is(t, JT_NAME, "if")) n = parse_if(P, line);
    else if (tok_is(t, JT_NAME, "set")) n = parse_set(P, line);
    else if (tok_is(t, JT_NAME, "macro")) n = parse_macro(P, line);
    else if (tok_is(t, JT_NAME, "call")) n = parse_call_block(P, line);
    else if (tok_is(t, JT_NAME, "filter")) n = parse_filter_block(P, line);
    else if (tok_is(t, JT_NAME, "generation")) n = parse_scope_block(P, line, "endgeneration");
    else if (tok_is(t, JT_NAME, "with")) n = parse_with(P, line);
    else if (tok_is(t, JT_NAME, "break") || tok_is(t, JT_NAME, "continue")) {
        n = node_new(P, t->p[0] == 'b' ? JN_BREAK : JN_CONTINUE, line);
        if (n && !expect_block_end(P)) n = NULL;
    } else if (tok_is(t, JT_NAME, "do")) {
        n = node_new(P, JN_DO, line);
        if (n && (!(n->a = parse_tuple(P, 1, 0)) || !expect_block_end(P))) n = NULL;
    } else {
        char b[64];
        n = fail_at(P, line, "unknown or unsupported statement %s", tok_desc(t, b, sizeof b));
    }
    leave(P);
    return n;
}

/* Statements until one of `ends` (a block tag whose first name is in the list; NULL ends
 * only at the end of the template). On return the parser sits after the end name. */
static int parse_body(parser *P, jnode_list *body, const char *const *ends, const char **found) {
    for (;;) {
        const jtok *t = cur(P);
        switch (t->kind) {
        case JT_EOF:
            if (!ends) return 0;
            fail_at(P, t->line, "unexpected end of template, expected {%% %s %%}", ends[0]);
            return -1;
        case JT_TEXT: {
            jnode *n = node_new(P, JN_TEXT, t->line);
            if (!n) return -1;
            n->lit = (jv){.k = JV_STR, .u.s = t->str};
            if (list_push(P, body, n)) return -1;
            advance(P);
            break;
        }
        case JT_VAR_BEGIN: {
            advance(P);
            jnode *n = node_new(P, JN_OUTPUT, t->line);
            if (!n || !(n->a = parse_tuple(P, 1, 0))) return -1;
            if (cur(P)->kind != JT_VAR_END) {
                char b[64];
                fail_at(P, cur(P)->line, "expected '}}', got %s", tok_desc(cur(P), b, sizeof b));
                return -1;
            }
            advance(P);
            if (list_push(P, body, n)) return -1;
            break;
        }
        case JT_BLOCK_BEGIN: {
            advance(P);
            const jtok *name = cur(P);
            if (ends && name->kind == JT_NAME) {
                for (size_t k = 0; ends[k]; k++)
                    if (tok_is(name, JT_NAME, ends[k])) {
                        *found = ends[k];
                        advance(P);
                        return 0;
                    }
            }
            if (name->kind == JT_NAME && name->n > 3 && memcmp(name->p, "end", 3) == 0) {
                char b[64];
                fail_at(P, name->line, "unexpected %s%s%s", tok_desc(name, b, sizeof b),
                        ends ? ", expected " : "", ends ? ends[0] : "");
                return -1;
            }
            if (list_push(P, body, parse_statement(P))) return -1;
            break;
        }
        default: {
            char b[64];
            fail_at(P, t->line, "unexpected %s", tok_desc(t, b, sizeof b));
            return -1;
        }
        }
    }
}

int jinja_parse_tokens(jinja_template *t, const jtok_list *toks, char *err, size_t errcap) {
    parser P = {.t = t, .tok = toks->v, .n = toks->n, .err = err, .errcap = errcap};
    if (parse_body(&P, &t->body, NULL, NULL) || P.failed) {
        if (!P.failed) snprintf(err, errcap, "parse error");
        return -1;
    }
    return 0;
}
