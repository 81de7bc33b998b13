/* Evaluator: statements write to the current output buffer, expressions compute values
 * with Python's semantics (jinja2 compiles templates to Python, so its operators, str()
 * and errors are Python's). Control flow: exec returns 0, FLOW_BREAK, FLOW_CONTINUE, or
 * -1 after an error (the first error is kept in the context). */
#include "chat/jinja/jinja_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOW_BREAK 1
#define FLOW_CONTINUE 2
#define MAX_ARGS 16

jv jinja_fail(jinja_ctx *c, const jnode *at, const char *fmt, ...) {
    if (c->failed) return jv_undef(NULL);
    c->failed = 1;
    int k = at ? snprintf(c->err, sizeof c->err, "line %d: ", at->line) : 0;
    if (k < 0) k = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + k, sizeof c->err - (size_t)k, fmt, ap);
    va_end(ap);
    return jv_undef(NULL);
}

static int step(jinja_ctx *c, const jnode *at) {
    if (++c->steps > c->lim.max_steps) {
        jinja_fail(c, at, "template step limit exceeded (%llu loop iterations and calls)",
                   (unsigned long long)c->lim.max_steps);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- scopes */

static jscope *scope_new(jinja_ctx *c, jscope *parent) {
    jscope *s = jinja_arena_alloc(&c->arena, sizeof *s);
    if (!s) {
        jinja_fail(c, NULL, "template memory limit exceeded");
        return NULL;
    }
    s->parent = parent;
    return s;
}

static jv *scope_find(jscope *s, const jstr *name) {
    for (; s; s = s->parent) {
        jv *v = jdict_get_str(&s->vars, name->p, name->n);
        if (v) return v;
    }
    return NULL;
}

static int scope_set(jinja_ctx *c, jscope *s, const jstr *name, jv v) {
    jv *slot = jdict_get_str(&s->vars, name->p, name->n);
    if (slot) {
        *slot = v;
        return 0;
    }
    jv key = {.k = JV_STR, .u.s = (jstr *)name};
    if (jdict_set(&c->arena, &s->vars, key, v)) {
        jinja_fail(c, NULL, "template memory limit exceeded");
        return -1;
    }
    return 0;
}

static int undefined_error(jinja_ctx *c, const jnode *at, jv v) {
    if (v.u.undef) jinja_fail(c, at, "UndefinedError: %s", v.u.undef);
    else jinja_fail(c, at, "UndefinedError: undefined value used");
    return -1;
}

/* Message for an undefined value from a failed lookup ("'dict object' has no attribute 'x'"). */
static jv undef_msg(jinja_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static jv undef_msg(jinja_ctx *c, const char *fmt, ...) {
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    jstr *s = jstr_new(&c->arena, buf, strlen(buf));
    return jv_undef(s ? s->p : NULL);
}

static const char *obj_desc(jv v, char *buf, size_t cap) {
    if (v.k == JV_NONE) return "None";
    snprintf(buf, cap, "'%s object'", jv_type_name(v));
    return buf;
}

/* ---------------------------------------------------------------- lookups */

static jv loop_attr(jinja_ctx *c, const jloop *L, const char *name) {
    size_t n = L->items->n, i = L->index0;
    if (!strcmp(name, "index")) return jv_int((int64_t)i + 1);
    if (!strcmp(name, "index0")) return jv_int((int64_t)i);
    if (!strcmp(name, "revindex")) return jv_int((int64_t)(n - i));
    if (!strcmp(name, "revindex0")) return jv_int((int64_t)(n - i - 1));
    if (!strcmp(name, "first")) return jv_bool(i == 0);
    if (!strcmp(name, "last")) return jv_bool(i + 1 == n);
    if (!strcmp(name, "length")) return jv_int((int64_t)n);
    if (!strcmp(name, "depth")) return jv_int(1);
    if (!strcmp(name, "depth0")) return jv_int(0);
    if (!strcmp(name, "previtem")) return i > 0 ? L->items->v[i - 1] : undef_msg(c, "there is no previous item");
    if (!strcmp(name, "nextitem")) return i + 1 < n ? L->items->v[i + 1] : undef_msg(c, "there is no next item");
    return undef_msg(c, "'LoopContext object' has no attribute '%s'", name);
}

static jv get_attr(jinja_ctx *c, const jnode *at, jv obj, const jstr *name) {
    char d[64];
    switch (obj.k) {
    case JV_UNDEF:
        undefined_error(c, at, obj);
        return jv_undef(NULL);
    case JV_DICT: case JV_NS: {
        jv *v = jdict_get_str(obj.u.d, name->p, name->n);
        if (v) return *v;
        break;
    }
    case JV_LOOP: return loop_attr(c, obj.u.loop, name->p);
    default: break;
    }
    return undef_msg(c, "%s has no attribute '%.60s'", obj_desc(obj, d, sizeof d), name->p);
}

static int norm_index(int64_t i, size_t n, size_t *out) {
    if (i < 0) i += (int64_t)n;
    if (i < 0 || (uint64_t)i >= n) return 0;
    *out = (size_t)i;
    return 1;
}

/* Byte offsets of each code point of s (n_cp + 1 entries) in the arena. */
static size_t *cp_offsets(jinja_ctx *c, const jstr *s, size_t *n_cp) {
    size_t n = jutf8_count(s->p, s->n);
    size_t *off = jinja_arena_alloc(&c->arena, (n + 1) * sizeof *off);
    if (!off) {
        jinja_fail(c, NULL, "template memory limit exceeded");
        return NULL;
    }
    size_t i = 0, k = 0;
    while (i < s->n) {
        uint32_t cp;
        off[k++] = i;
        i += jutf8_next(s->p + i, s->n - i, &cp);
    }
    off[k] = s->n;
    *n_cp = n;
    return off;
}

static jv get_item(jinja_ctx *c, const jnode *at, jv obj, jv key) {
    char d[64];
    size_t idx;
    switch (obj.k) {
    case JV_UNDEF:
        undefined_error(c, at, obj);
        return jv_undef(NULL);
    case JV_DICT: case JV_NS: {
        jv *v = jdict_get(obj.u.d, key);
        if (v) return *v;
        if (key.k == JV_STR) return undef_msg(c, "%s has no attribute '%.60s'", obj_desc(obj, d, sizeof d), key.u.s->p);
        return undef_msg(c, "%s has no element", obj_desc(obj, d, sizeof d));
    }
    case JV_LIST:
        if ((key.k == JV_INT || key.k == JV_BOOL) && norm_index(key.u.i, obj.u.l->n, &idx)) return obj.u.l->v[idx];
        break;
    case JV_STR:
        if (key.k == JV_INT || key.k == JV_BOOL) {
            size_t n_cp;
            size_t *off = cp_offsets(c, obj.u.s, &n_cp);
            if (!off) return jv_undef(NULL);
            if (norm_index(key.u.i, n_cp, &idx)) return jv_strn(c, obj.u.s->p + off[idx], off[idx + 1] - off[idx]);
        }
        break;
    case JV_LOOP:
        if (key.k == JV_STR) return loop_attr(c, obj.u.loop, key.u.s->p);
        break;
    default: break;
    }
    if (key.k == JV_STR) return undef_msg(c, "%s has no attribute '%.60s'", obj_desc(obj, d, sizeof d), key.u.s->p);
    if (key.k == JV_INT) return undef_msg(c, "%s has no element %lld", obj_desc(obj, d, sizeof d), (long long)key.u.i);
    return undef_msg(c, "%s has no element", obj_desc(obj, d, sizeof d));
}

/* Python slice semantics: clamp, negative indexes, any non-zero step. */
static int slice_bounds(jinja_ctx *c, const jnode *at, size_t n, jv lo, jv hi, jv st, int64_t *start, int64_t *stop,
                        int64_t *stp) {
    int64_t N = (int64_t)n, step_v = 1;
    if (st.k != JV_NONE && st.k != JV_UNDEF) {
        if (st.k != JV_INT && st.k != JV_BOOL) goto bad;
        step_v = st.u.i;
        if (step_v == 0) {
            jinja_fail(c, at, "ValueError: slice step cannot be zero");
            return -1;
        }
    }
    int64_t s0, s1;
    if (lo.k == JV_NONE || lo.k == JV_UNDEF) s0 = step_v > 0 ? 0 : N - 1;
    else if (lo.k != JV_INT && lo.k != JV_BOOL) goto bad;
    else {
        s0 = lo.u.i;
        if (s0 < 0) s0 += N;
        if (s0 < 0) s0 = step_v > 0 ? 0 : -1;
        if (s0 >= N) s0 = step_v > 0 ? N : N - 1;
    }
    if (hi.k == JV_NONE || hi.k == JV_UNDEF) s1 = step_v > 0 ? N : -1;
    else if (hi.k != JV_INT && hi.k != JV_BOOL) goto bad;
    else {
        s1 = hi.u.i;
        if (s1 < 0) s1 += N;
        if (s1 < 0) s1 = step_v > 0 ? 0 : -1;
        if (s1 >= N) s1 = step_v > 0 ? N : N - 1;
    }
    *start = s0;
    *stop = s1;
    *stp = step_v;
    return 0;
bad:
    jinja_fail(c, at, "TypeError: slice indices must be integers or None");
    return -1;
}

static jv do_slice(jinja_ctx *c, const jnode *at, jv obj, jv lo, jv hi, jv st) {
    int64_t a, b, s;
    if (obj.k == JV_UNDEF) {
        undefined_error(c, at, obj);
        return jv_undef(NULL);
    }
    if (obj.k == JV_LIST) {
        if (slice_bounds(c, at, obj.u.l->n, lo, hi, st, &a, &b, &s)) return jv_undef(NULL);
        jv out = jv_list(c, 0);
        if (c->failed) return out;
        out.u.l->tuple = obj.u.l->tuple;
        for (int64_t i = a; s > 0 ? i < b : i > b; i += s)
            if (jv_list_push(c, out, obj.u.l->v[i])) return jv_undef(NULL);
        return out;
    }
    if (obj.k == JV_STR) {
        size_t n_cp;
        size_t *off = cp_offsets(c, obj.u.s, &n_cp);
        if (!off || slice_bounds(c, at, n_cp, lo, hi, st, &a, &b, &s)) return jv_undef(NULL);
        if (s == 1) return a < b ? jv_strn(c, obj.u.s->p + off[a], off[b] - off[a]) : jv_strn(c, "", 0);
        jbuf buf = {0};
        size_t before = c->out_total;
        for (int64_t i = a; s > 0 ? i < b : i > b; i += s)
            if (jbuf_put(c, &buf, obj.u.s->p + off[i], off[i + 1] - off[i])) break;
        c->out_total = before;
        jv r = c->failed ? jv_undef(NULL) : jv_strn(c, buf.p ? buf.p : "", buf.n);
        free(buf.p);
        return r;
    }
    /* jinja2 falls back to getattr(obj, slice), which fails: an undefined value */
    char d[64];
    return undef_msg(c, "%s has no element slice", obj_desc(obj, d, sizeof d));
}

/* ---------------------------------------------------------------- operators */

static int is_intlike(jv v) { return v.k == JV_INT || v.k == JV_BOOL; }
static int is_num(jv v) { return is_intlike(v) || v.k == JV_FLOAT; }
static double fnum(jv v) { return v.k == JV_FLOAT ? v.u.f : (double)v.u.i; }

static jv type_error(jinja_ctx *c, const jnode *at, const char *op, jv a, jv b) {
    if (a.k == JV_UNDEF || b.k == JV_UNDEF) {
        undefined_error(c, at, a.k == JV_UNDEF ? a : b);
        return jv_undef(NULL);
    }
    if (!strcmp(op, "+") && a.k == JV_STR)
        return jinja_fail(c, at, "TypeError: can only concatenate str (not \"%s\") to str", jv_type_name(b));
    if (!strcmp(op, "+") && a.k == JV_LIST)
        return jinja_fail(c, at, "TypeError: can only concatenate list (not \"%s\") to list", jv_type_name(b));
    return jinja_fail(c, at, "TypeError: unsupported operand type(s) for %s: '%s' and '%s'", op, jv_type_name(a),
                      jv_type_name(b));
}

static jv repeat(jinja_ctx *c, const jnode *at, jv seq, int64_t times) {
    if (times < 0) times = 0;
    if (seq.k == JV_STR) {
        if (seq.u.s->n && (uint64_t)times > c->lim.max_memory / seq.u.s->n)
            return jinja_fail(c, at, "template memory limit exceeded (string repetition)");
        size_t total = seq.u.s->n * (size_t)times;
        jstr *s = jinja_arena_alloc(&c->arena, sizeof(jstr) + total + 1);
        if (!s) return jinja_fail(c, at, "template memory limit exceeded");
        s->n = total;
        for (int64_t i = 0; i < times; i++) memcpy(s->p + (size_t)i * seq.u.s->n, seq.u.s->p, seq.u.s->n);
        s->p[total] = 0;
        return (jv){.k = JV_STR, .u.s = s};
    }
    if (seq.u.l->n && (uint64_t)times > c->lim.max_memory / (seq.u.l->n * sizeof(jv)))
        return jinja_fail(c, at, "template memory limit exceeded (list repetition)");
    jv out = jv_list(c, seq.u.l->n * (size_t)times);
    if (c->failed) return out;
    for (int64_t i = 0; i < times; i++)
        for (size_t k = 0; k < seq.u.l->n; k++) out.u.l->v[out.u.l->n++] = seq.u.l->v[k];
    out.u.l->tuple = seq.u.l->tuple;
    return out;
}

static jv concat2(jinja_ctx *c, jv a, jv b) {
    size_t n = a.u.s->n + b.u.s->n;
    jstr *s = jinja_arena_alloc(&c->arena, sizeof(jstr) + n + 1);
    if (!s) return jinja_fail(c, NULL, "template memory limit exceeded");
    s->n = n;
    memcpy(s->p, a.u.s->p, a.u.s->n);
    memcpy(s->p + a.u.s->n, b.u.s->p, b.u.s->n);
    s->p[n] = 0;
    return (jv){.k = JV_STR, .u.s = s};
}

static jv arith(jinja_ctx *c, const jnode *at, int op, jv a, jv b) {
    static const char *const names[] = {"+", "-", "*", "/", "//", "%", "**"};
    const char *on = names[op];
    if (op == JOP_ADD) {
        if (a.k == JV_STR && b.k == JV_STR) {
            if (!a.safe && !b.safe) return concat2(c, a, b);
            /* Markup + str escapes the plain side and stays Markup */
            jv x = a.safe ? a : jv_html_escape(c, a), y = b.safe ? b : jv_html_escape(c, b);
            if (c->failed) return jv_undef(NULL);
            jv r = concat2(c, x, y);
            r.safe = !c->failed;
            return r;
        }
        if (a.k == JV_LIST && b.k == JV_LIST && a.u.l->tuple == b.u.l->tuple) {
            jv out = jv_list(c, a.u.l->n + b.u.l->n);
            if (c->failed) return out;
            for (size_t i = 0; i < a.u.l->n; i++) out.u.l->v[out.u.l->n++] = a.u.l->v[i];
            for (size_t i = 0; i < b.u.l->n; i++) out.u.l->v[out.u.l->n++] = b.u.l->v[i];
            out.u.l->tuple = a.u.l->tuple;
            return out;
        }
    }
    if (op == JOP_MUL) {
        if ((a.k == JV_STR || a.k == JV_LIST) && is_intlike(b)) return repeat(c, at, a, b.u.i);
        if ((b.k == JV_STR || b.k == JV_LIST) && is_intlike(a)) return repeat(c, at, b, a.u.i);
    }
    /* str % x runs str.__mod__ first, so an Undefined x formats as "" with %s (its __rmod__ never runs) */
    if (op == JOP_MOD && a.k == JV_STR) return jinja_percent_format(c, at, a, b);
    if (!is_num(a) || !is_num(b)) return type_error(c, at, on, a, b);
    if (is_intlike(a) && is_intlike(b)) {
        int64_t x = a.u.i, y = b.u.i, r;
        switch (op) {
        case JOP_ADD: if (__builtin_add_overflow(x, y, &r)) goto overflow; return jv_int(r);
        case JOP_SUB: if (__builtin_sub_overflow(x, y, &r)) goto overflow; return jv_int(r);
        case JOP_MUL: if (__builtin_mul_overflow(x, y, &r)) goto overflow; return jv_int(r);
        case JOP_DIV:
            if (y == 0) return jinja_fail(c, at, "ZeroDivisionError: division by zero");
            return jv_float((double)x / (double)y);
        case JOP_FLOORDIV: case JOP_MOD: {
            if (y == 0) return jinja_fail(c, at, "ZeroDivisionError: integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) goto overflow;
            int64_t q = x / y, m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) {
                q--;
                m += y;
            }
            return jv_int(op == JOP_MOD ? m : q);
        }
        case JOP_POW: {
            if (y < 0) return jv_float(pow((double)x, (double)y));
            int64_t acc = 1;
            for (int64_t k = 0; k < y; k++) {
                if (__builtin_mul_overflow(acc, x, &acc)) goto overflow;
                if (acc == 0 || acc == 1) break;
                if (acc == -1) { if ((y - k - 1) % 2) acc = -acc; break; }
            }
            return jv_int(acc);
        }
        }
    }
    double x = fnum(a), y = fnum(b);
    switch (op) {
    case JOP_ADD: return jv_float(x + y);
    case JOP_SUB: return jv_float(x - y);
    case JOP_MUL: return jv_float(x * y);
    case JOP_DIV:
        if (y == 0) return jinja_fail(c, at, "ZeroDivisionError: float division by zero");
        return jv_float(x / y);
    case JOP_FLOORDIV:
        if (y == 0) return jinja_fail(c, at, "ZeroDivisionError: float floor division by zero");
        return jv_float(floor(x / y));
    case JOP_MOD: {
        if (y == 0) return jinja_fail(c, at, "ZeroDivisionError: float modulo");
        double m = fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return jv_float(m);
    }
    case JOP_POW: return jv_float(pow(x, y));
    }
    return jv_undef(NULL);
overflow:
    return jinja_fail(c, at, "integer overflow in '%s'", on);
}

static int contains(jinja_ctx *c, const jnode *at, jv needle, jv hay) {
    switch (hay.k) {
    case JV_STR:
        if (needle.k != JV_STR) {
            if (needle.k == JV_UNDEF) return undefined_error(c, at, needle);
            jinja_fail(c, at, "TypeError: 'in <string>' requires string as left operand, not %s", jv_type_name(needle));
            return -1;
        }
        if (needle.u.s->n == 0) return 1;
        return memmem(hay.u.s->p, hay.u.s->n, needle.u.s->p, needle.u.s->n) != NULL;
    case JV_LIST:
        for (size_t i = 0; i < hay.u.l->n; i++)
            if (jv_equal(needle, hay.u.l->v[i])) return 1;
        return 0;
    case JV_DICT: case JV_NS: return jdict_get(hay.u.d, needle) != NULL;
    case JV_UNDEF: return 0;
    default:
        jinja_fail(c, at, "TypeError: argument of type '%s' is not iterable", jv_type_name(hay));
        return -1;
    }
}

static jv binop(jinja_ctx *c, const jnode *e, jv a, jv b) {
    int r;
    switch (e->op) {
    case JOP_EQ: return jv_bool(jv_equal(a, b));
    case JOP_NE: return jv_bool(!jv_equal(a, b));
    case JOP_LT: case JOP_LE: case JOP_GT: case JOP_GE: {
        if (a.k == JV_UNDEF || b.k == JV_UNDEF) {
            undefined_error(c, e, a.k == JV_UNDEF ? a : b);
            return jv_undef(NULL);
        }
        r = jv_compare(a, b);
        static const char *const sym[] = {"<", "<=", ">", ">="};
        if (r == -2)
            return jinja_fail(c, e, "TypeError: '%s' not supported between instances of '%s' and '%s'",
                              sym[e->op - JOP_LT], jv_type_name(a), jv_type_name(b));
        if (r == 2) return jv_bool(0);
        return jv_bool(e->op == JOP_LT ? r < 0 : e->op == JOP_LE ? r <= 0 : e->op == JOP_GT ? r > 0 : r >= 0);
    }
    case JOP_IN: case JOP_NOTIN:
        r = contains(c, e, a, b);
        if (r < 0) return jv_undef(NULL);
        return jv_bool(e->op == JOP_IN ? r : !r);
    default: return arith(c, e, e->op, a, b);
    }
}

/* ---------------------------------------------------------------- calls */

typedef struct evargs {
    jv pos[MAX_ARGS];
    const jstr *kwn[MAX_ARGS];
    jv kwv[MAX_ARGS];
    size_t n_pos, n_kw;
} evargs;

static int eval_args(jinja_ctx *c, jscope *s, const jnode *call, evargs *ea) {
    if (call->args.n > MAX_ARGS || call->kwv.n > MAX_ARGS) {
        jinja_fail(c, call, "too many arguments (at most %d)", MAX_ARGS);
        return -1;
    }
    ea->n_pos = call->args.n;
    ea->n_kw = call->kwv.n;
    for (size_t i = 0; i < call->args.n; i++) ea->pos[i] = jinja_eval(c, s, call->args.v[i]);
    for (size_t i = 0; i < call->kwv.n; i++) {
        ea->kwn[i] = call->kwn[i];
        ea->kwv[i] = jinja_eval(c, s, call->kwv.v[i]);
    }
    return c->failed ? -1 : 0;
}

static jargs as_jargs(const evargs *ea) {
    return (jargs){.pos = ea->pos, .n_pos = ea->n_pos, .kwn = ea->kwn, .kwv = ea->kwv, .n_kw = ea->n_kw};
}

static int exec_body(jinja_ctx *c, jscope *s, const jnode_list *body);

/* Runs a body with its output captured into a new string. */
static jv capture(jinja_ctx *c, jscope *s, const jnode_list *body) {
    jbuf buf = {0}, *saved = c->out;
    size_t before = c->out_total;
    c->out = &buf;
    int r = exec_body(c, s, body);
    c->out = saved;
    c->out_total = before;   /* counted again when the string is printed */
    jv v = r < 0 || c->failed ? jv_undef(NULL) : jv_strn(c, buf.p ? buf.p : "", buf.n);
    free(buf.p);
    return v;
}

static jv call_macro(jinja_ctx *c, const jnode *at, const jfunc *fn, const jv *args, size_t n_args,
                     const jstr *const *kwn, const jv *kwv, size_t n_kw, jv caller) {
    const jnode *m = fn->node;
    jscope *s = scope_new(c, fn->scope);
    if (!s) return jv_undef(NULL);
    size_t np = m->n_names;
    jv varargs = jv_list(c, 0), kwargs = jv_dict(c);
    if (c->failed) return jv_undef(NULL);
    varargs.u.l->tuple = 1;
    for (size_t i = 0; i < n_args; i++) {
        if (i < np) {
            if (scope_set(c, s, m->names[i], args[i])) return jv_undef(NULL);
        } else if (!(m->op & JMACRO_VARARGS)) {
            return jinja_fail(c, at, "TypeError: macro '%s' takes not more than %zu argument(s)", m->name->p, np);
        } else if (jv_list_push(c, varargs, args[i])) {
            return jv_undef(NULL);
        }
    }
    for (size_t k = 0; k < n_kw; k++) {
        size_t i;
        for (i = 0; i < np; i++)
            if (m->names[i]->n == kwn[k]->n && !memcmp(m->names[i]->p, kwn[k]->p, kwn[k]->n)) break;
        if (i < np) {
            if (i < n_args)
                return jinja_fail(c, at, "TypeError: macro '%s' got multiple values for argument '%s'", m->name->p,
                                  kwn[k]->p);
            if (scope_set(c, s, m->names[i], kwv[k])) return jv_undef(NULL);
        } else if (!(m->op & JMACRO_KWARGS)) {
            return jinja_fail(c, at, "TypeError: macro '%s' takes no keyword argument '%s'", m->name->p, kwn[k]->p);
        } else {
            jv key = {.k = JV_STR, .u.s = (jstr *)kwn[k]};
            if (jdict_set(&c->arena, kwargs.u.d, key, kwv[k])) return jinja_fail(c, at, "template memory limit exceeded");
        }
    }
    /* defaults, evaluated in the macro's scope so they may use earlier parameters */
    for (size_t i = 0; i < np; i++) {
        if (jdict_get_str(&s->vars, m->names[i]->p, m->names[i]->n)) continue;
        const jnode *def = i < m->args2.n ? m->args2.v[i] : NULL;
        jv v = def ? jinja_eval(c, s, def) : undef_msg(c, "parameter '%s' was not provided", m->names[i]->p);
        if (c->failed || scope_set(c, s, m->names[i], v)) return jv_undef(NULL);
    }
    if (scope_set(c, s, c->name_varargs, varargs) || scope_set(c, s, c->name_kwargs, kwargs)) return jv_undef(NULL);
    if (caller.k == JV_FUNC && scope_set(c, s, c->name_caller, caller)) return jv_undef(NULL);
    return capture(c, s, &m->args);
}

static jv call_caller(jinja_ctx *c, const jnode *at, const jfunc *fn, const jv *args, size_t n_args) {
    const jnode *cb = fn->node;
    jscope *s = scope_new(c, fn->scope);
    if (!s) return jv_undef(NULL);
    for (size_t i = 0; i < cb->n_names; i++) {
        jv v;
        if (i < n_args) v = args[i];
        else if (i < cb->args2.n && cb->args2.v[i]) v = jinja_eval(c, s, cb->args2.v[i]);
        else v = jv_undef(NULL);
        if (c->failed || scope_set(c, s, cb->names[i], v)) return jv_undef(NULL);
    }
    (void)at;
    return capture(c, s, &cb->args);
}

static jv call_fn(jinja_ctx *c, const jnode *at, jv fn, const evargs *ea, jv caller) {
    if (step(c, at)) return jv_undef(NULL);
    if (fn.k == JV_UNDEF) {
        undefined_error(c, at, fn);
        return jv_undef(NULL);
    }
    if (fn.k != JV_FUNC) return jinja_fail(c, at, "TypeError: '%s' object is not callable", jv_type_name(fn));
    if (c->depth > c->lim.max_depth)
        return jinja_fail(c, at, "template recursion too deep (more than %d levels)", c->lim.max_depth);
    c->depth += 8;   /* a call costs more stack than one expression level */
    jv r;
    switch (fn.u.fn->kind) {
    case JF_MACRO:
        r = call_macro(c, at, fn.u.fn, ea->pos, ea->n_pos, ea->kwn, ea->kwv, ea->n_kw, caller);
        break;
    case JF_CALLER: r = call_caller(c, at, fn.u.fn, ea->pos, ea->n_pos); break;
    default: {
        jargs ja = as_jargs(ea);
        r = jinja_call_builtin(c, at, fn.u.fn->builtin, &ja);
    }
    }
    c->depth -= 8;
    return r;
}

jv jinja_call_value(jinja_ctx *c, const jnode *at, jv fn, const jv *args, size_t n_args, const jstr *const *kwn,
                    const jv *kwv, size_t n_kw) {
    evargs ea;
    if (n_args > MAX_ARGS || n_kw > MAX_ARGS) return jinja_fail(c, at, "too many arguments");
    ea.n_pos = n_args;
    ea.n_kw = n_kw;
    for (size_t i = 0; i < n_args; i++) ea.pos[i] = args[i];
    for (size_t i = 0; i < n_kw; i++) {
        ea.kwn[i] = kwn[i];
        ea.kwv[i] = kwv[i];
    }
    return call_fn(c, at, fn, &ea, jv_undef(NULL));
}

static jv eval_call(jinja_ctx *c, jscope *s, const jnode *e, jv caller) {
    const jnode *callee = e->a;
    evargs ea;
    if (callee->kind == JN_ATTR) {
        jv obj = jinja_eval(c, s, callee->a);
        if (c->failed) return jv_undef(NULL);
        if (obj.k == JV_UNDEF) {
            undefined_error(c, e, obj);
            return jv_undef(NULL);
        }
        /* a callable stored in a dict or namespace (e.g. a macro) */
        if (obj.k == JV_DICT || obj.k == JV_NS) {
            jv *f = jdict_get_str(obj.u.d, callee->name->p, callee->name->n);
            if (f && f->k == JV_FUNC) {
                if (eval_args(c, s, e, &ea)) return jv_undef(NULL);
                return call_fn(c, e, *f, &ea, caller);
            }
        }
        if (eval_args(c, s, e, &ea) || step(c, e)) return jv_undef(NULL);
        jargs ja = as_jargs(&ea);
        return jinja_method(c, e, obj, callee->name->p, &ja);
    }
    jv fn = jinja_eval(c, s, callee);
    if (c->failed || eval_args(c, s, e, &ea)) return jv_undef(NULL);
    return call_fn(c, e, fn, &ea, caller);
}

/* ---------------------------------------------------------------- expressions */

static jv eval_filter(jinja_ctx *c, jscope *s, const jnode *e, jv v) {
    evargs ea;
    if (eval_args(c, s, e, &ea) || step(c, e)) return jv_undef(NULL);
    jargs ja = as_jargs(&ea);
    return jinja_filter(c, e, e->name->p, v, &ja);
}

/* Applies a filter chain that ends in `hole` (block set, filter block) to v. */
static jv apply_chain(jinja_ctx *c, jscope *s, const jnode *chain, const jnode *hole, jv v) {
    if (chain == hole || c->failed) return v;
    jv inner = apply_chain(c, s, chain->a, hole, v);
    if (c->failed) return inner;
    return eval_filter(c, s, chain, inner);
}

static jv eval_inner(jinja_ctx *c, jscope *s, const jnode *e) {
    switch (e->kind) {
    case JN_LIT: return e->lit;
    case JN_NAME: {
        jv *v = scope_find(s, e->name);
        if (v) return *v;
        jv g = jinja_builtin_global(e->name->p);
        if (g.k == JV_FUNC) {
            /* built-ins are shared descriptors; wrap a copy in this render's arena */
            jfunc *f = jinja_arena_alloc(&c->arena, sizeof *f);
            if (!f) return jinja_fail(c, e, "template memory limit exceeded");
            *f = *g.u.fn;
            return (jv){.k = JV_FUNC, .u.fn = f};
        }
        return undef_msg(c, "'%.60s' is undefined", e->name->p);
    }
    case JN_ATTR: {
        jv obj = jinja_eval(c, s, e->a);
        if (c->failed) return obj;
        return get_attr(c, e, obj, e->name);
    }
    case JN_ITEM: {
        jv obj = jinja_eval(c, s, e->a);
        jv key = jinja_eval(c, s, e->b);
        if (c->failed) return jv_undef(NULL);
        return get_item(c, e, obj, key);
    }
    case JN_SLICE: {
        /* a slice inside a tuple subscript (x[::2, 3]) has no object: Python would build a
         * slice object there, which no template value accepts as a key */
        if (!e->a) return undef_msg(c, "slice objects are not values");
        jv obj = jinja_eval(c, s, e->a);
        jv lo = e->b ? jinja_eval(c, s, e->b) : jv_none();
        jv hi = e->c ? jinja_eval(c, s, e->c) : jv_none();
        jv st = e->d ? jinja_eval(c, s, e->d) : jv_none();
        if (c->failed) return jv_undef(NULL);
        return do_slice(c, e, obj, lo, hi, st);
    }
    case JN_CALL: return eval_call(c, s, e, jv_undef(NULL));
    case JN_FILTER: {
        jv v = jinja_eval(c, s, e->a);
        if (c->failed) return v;
        return eval_filter(c, s, e, v);
    }
    case JN_TEST: {
        jv v = jinja_eval(c, s, e->a);
        evargs ea;
        if (c->failed || eval_args(c, s, e, &ea)) return jv_undef(NULL);
        jargs ja = as_jargs(&ea);
        int r = jinja_test(c, e, e->name->p, v, &ja);
        if (r < 0) return jv_undef(NULL);
        return jv_bool(e->op ? !r : r);
    }
    case JN_BINOP: {
        jv a = jinja_eval(c, s, e->a);
        if (c->failed) return a;
        jv b = jinja_eval(c, s, e->b);
        if (c->failed) return b;
        return binop(c, e, a, b);
    }
    case JN_NEG: case JN_POS: {
        jv v = jinja_eval(c, s, e->a);
        if (c->failed) return v;
        if (v.k == JV_FLOAT) return jv_float(e->kind == JN_NEG ? -v.u.f : v.u.f);
        if (is_intlike(v)) {
            if (e->kind == JN_POS) return jv_int(v.u.i);
            if (v.u.i == INT64_MIN) return jinja_fail(c, e, "integer overflow in unary '-'");
            return jv_int(-v.u.i);
        }
        if (v.k == JV_UNDEF) {
            undefined_error(c, e, v);
            return jv_undef(NULL);
        }
        return jinja_fail(c, e, "TypeError: bad operand type for unary %c: '%s'", e->kind == JN_NEG ? '-' : '+',
                          jv_type_name(v));
    }
    case JN_NOT: {
        jv v = jinja_eval(c, s, e->a);
        return c->failed ? v : jv_bool(!jv_truthy(v));
    }
    case JN_AND: case JN_OR: {
        jv a = jinja_eval(c, s, e->a);
        if (c->failed) return a;
        int t = jv_truthy(a);
        if (e->kind == JN_AND ? !t : t) return a;
        return jinja_eval(c, s, e->b);
    }
    case JN_COND: {
        jv t = jinja_eval(c, s, e->b);
        if (c->failed) return t;
        if (jv_truthy(t)) return jinja_eval(c, s, e->a);
        return e->c ? jinja_eval(c, s, e->c) : undef_msg(c, "the inline if-expression evaluated to false and no else section was defined.");
    }
    case JN_LIST: case JN_TUPLE: {
        jv l = jv_list(c, e->args.n);
        if (c->failed) return l;
        l.u.l->tuple = e->kind == JN_TUPLE;
        for (size_t i = 0; i < e->args.n; i++) l.u.l->v[i] = jinja_eval(c, s, e->args.v[i]);
        l.u.l->n = e->args.n;
        return c->failed ? jv_undef(NULL) : l;
    }
    case JN_DICT: {
        jv d = jv_dict(c);
        for (size_t i = 0; i < e->args.n && !c->failed; i++) {
            jv k = jinja_eval(c, s, e->args.v[i]);
            jv v = jinja_eval(c, s, e->args2.v[i]);
            if (c->failed) break;
            if (k.k == JV_LIST && !k.u.l->tuple) return jinja_fail(c, e, "TypeError: unhashable type: 'list'");
            if (k.k == JV_DICT) return jinja_fail(c, e, "TypeError: unhashable type: 'dict'");
            if (jdict_set(&c->arena, d.u.d, k, v)) return jinja_fail(c, e, "template memory limit exceeded");
        }
        return c->failed ? jv_undef(NULL) : d;
    }
    case JN_CONCAT: {
        jbuf b = {0};
        size_t before = c->out_total;
        for (size_t i = 0; i < e->args.n && !c->failed; i++) {
            jv v = jinja_eval(c, s, e->args.v[i]);
            if (!c->failed) jv_to_str(c, &b, v);
        }
        c->out_total = before;
        jv r = c->failed ? jv_undef(NULL) : jv_strn(c, b.p ? b.p : "", b.n);
        free(b.p);
        return r;
    }
    default: return jinja_fail(c, e, "internal error: not an expression");
    }
}

jv jinja_eval(jinja_ctx *c, jscope *s, const jnode *e) {
    if (c->failed) return jv_undef(NULL);
    if (++c->depth > c->lim.max_depth) {
        c->depth--;
        return jinja_fail(c, e, "template recursion too deep (more than %d levels)", c->lim.max_depth);
    }
    jv v = eval_inner(c, s, e);
    c->depth--;
    return v;
}

/* ---------------------------------------------------------------- statements */

static int assign_targets(jinja_ctx *c, jscope *s, const jnode *at, jstr *const *names, size_t n, jv v) {
    if (n == 1) return scope_set(c, s, names[0], v);
    if (v.k == JV_STR || v.k == JV_DICT) {
        jv l;
        if (jv_iter_list(c, at, v, &l)) return -1;
        v = l;
    }
    if (v.k != JV_LIST) {
        if (v.k == JV_UNDEF) return undefined_error(c, at, v);
        jinja_fail(c, at, "TypeError: cannot unpack non-iterable %s object", jv_type_name(v));
        return -1;
    }
    if (v.u.l->n != n) {
        jinja_fail(c, at, "ValueError: %s values to unpack (expected %zu, got %zu)",
                   v.u.l->n > n ? "too many" : "not enough", n, v.u.l->n);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (scope_set(c, s, names[i], v.u.l->v[i])) return -1;
    return 0;
}

static int write_value(jinja_ctx *c, jv v) { return jv_to_str(c, c->out, v); }

static int exec_for(jinja_ctx *c, jscope *s, const jnode *n) {
    jv seq = jinja_eval(c, s, n->a);
    if (c->failed) return -1;
    jv items;
    if (seq.k == JV_NONE || seq.k == JV_BOOL || seq.k == JV_INT || seq.k == JV_FLOAT || seq.k == JV_FUNC ||
        seq.k == JV_LOOP) {
        jinja_fail(c, n, "TypeError: '%s' object is not iterable", jv_type_name(seq));
        return -1;
    }
    if (jv_iter_list(c, n, seq, &items)) return -1;
    jscope *ls = scope_new(c, s);
    if (!ls) return -1;
    if (n->b) {   /* {% for x in y if cond %}: filter first, loop.* counts what is left */
        jv kept = jv_list(c, 0);
        if (c->failed) return -1;
        for (size_t i = 0; i < items.u.l->n; i++) {
            if (step(c, n) || assign_targets(c, ls, n, n->names, n->n_names, items.u.l->v[i])) return -1;
            jv t = jinja_eval(c, ls, n->b);
            if (c->failed) return -1;
            if (jv_truthy(t) && jv_list_push(c, kept, items.u.l->v[i])) return -1;
        }
        items = kept;
    }
    if (items.u.l->n == 0) return exec_body(c, s, &n->args2);
    jloop *L = jinja_arena_alloc(&c->arena, sizeof *L);
    if (!L) {
        jinja_fail(c, n, "template memory limit exceeded");
        return -1;
    }
    L->items = items.u.l;
    jv loopv = {.k = JV_LOOP, .u.loop = L};
    /* a snapshot: the loop runs over the list as it was when the loop started */
    size_t count = items.u.l->n;
    for (size_t i = 0; i < count; i++) {
        L->index0 = i;
        /* each iteration starts afresh, as in jinja2: a {% set %} in the body is gone at the
         * next iteration (the outer value, or undefined, shows through again) */
        ls->vars.n = 0;
        if (step(c, n) || assign_targets(c, ls, n, n->names, n->n_names, items.u.l->v[i]) ||
            scope_set(c, ls, c->name_loop, loopv))
            return -1;
        int r = exec_body(c, ls, &n->args);
        if (r < 0) return -1;
        if (r == FLOW_BREAK) break;
    }
    return 0;
}

static int exec_node(jinja_ctx *c, jscope *s, const jnode *n) {
    switch (n->kind) {
    case JN_TEXT: return jbuf_put(c, c->out, n->lit.u.s->p, n->lit.u.s->n);
    case JN_OUTPUT: {
        jv v = jinja_eval(c, s, n->a);
        if (c->failed) return -1;
        return write_value(c, v);
    }
    case JN_IF: {
        jv t = jinja_eval(c, s, n->a);
        if (c->failed) return -1;
        return exec_body(c, s, jv_truthy(t) ? &n->args : &n->args2);
    }
    case JN_FOR: return exec_for(c, s, n);
    case JN_SET: {
        jv v = jinja_eval(c, s, n->a);
        if (c->failed) return -1;
        return assign_targets(c, s, n, n->names, n->n_names, v);
    }
    case JN_SET_ATTR: {
        jv obj = jinja_eval(c, s, n->a);
        jv v = jinja_eval(c, s, n->b);
        if (c->failed) return -1;
        if (obj.k != JV_NS) {
            if (obj.k == JV_UNDEF) return undefined_error(c, n, obj);
            jinja_fail(c, n, "TemplateRuntimeError: cannot assign attribute on non-namespace object");
            return -1;
        }
        jv key = {.k = JV_STR, .u.s = n->name};
        if (jdict_set(&c->arena, obj.u.d, key, v)) {
            jinja_fail(c, n, "template memory limit exceeded");
            return -1;
        }
        return 0;
    }
    case JN_SET_BLOCK: {
        jv v = capture(c, s, &n->args);
        if (c->failed) return -1;
        if (n->a) v = apply_chain(c, s, n->a, n->b, v);
        if (c->failed) return -1;
        return scope_set(c, s, n->name, v);
    }
    case JN_MACRO: {
        jfunc *f = jinja_arena_alloc(&c->arena, sizeof *f);
        if (!f) {
            jinja_fail(c, n, "template memory limit exceeded");
            return -1;
        }
        f->kind = JF_MACRO;
        f->node = n;
        f->scope = s;
        f->name = n->name->p;
        return scope_set(c, s, n->name, (jv){.k = JV_FUNC, .u.fn = f});
    }
    case JN_CALL_BLOCK: {
        jfunc *f = jinja_arena_alloc(&c->arena, sizeof *f);
        if (!f) {
            jinja_fail(c, n, "template memory limit exceeded");
            return -1;
        }
        f->kind = JF_CALLER;
        f->node = n;
        f->scope = s;
        f->name = "caller";
        jv v = eval_call(c, s, n->a, (jv){.k = JV_FUNC, .u.fn = f});
        if (c->failed) return -1;
        return write_value(c, v);
    }
    case JN_FILTER_BLOCK: {
        jv v = capture(c, s, &n->args);
        if (c->failed) return -1;
        v = apply_chain(c, s, n->a, n->b, v);
        if (c->failed) return -1;
        return write_value(c, v);
    }
    case JN_BREAK: return FLOW_BREAK;
    case JN_CONTINUE: return FLOW_CONTINUE;
    case JN_SCOPE: {
        jscope *inner = scope_new(c, s);
        if (!inner) return -1;
        return exec_body(c, inner, &n->args);
    }
    case JN_DO:
        jinja_eval(c, s, n->a);
        return c->failed ? -1 : 0;
    default:
        jinja_fail(c, n, "internal error: not a statement");
        return -1;
    }
}

static int exec_body(jinja_ctx *c, jscope *s, const jnode_list *body) {
    if (++c->depth > c->lim.max_depth) {
        c->depth--;
        jinja_fail(c, NULL, "template recursion too deep (more than %d levels)", c->lim.max_depth);
        return -1;
    }
    int r = 0;
    for (size_t i = 0; i < body->n; i++) {
        r = exec_node(c, s, body->v[i]);
        if (c->failed) r = -1;
        if (r) break;
    }
    c->depth--;
    return r;
}

/* ---------------------------------------------------------------- public entry points */

jinja_limits jinja_default_limits(void) {
    return (jinja_limits){.max_output = 16u << 20, .max_memory = 64u << 20, .max_steps = 1000000, .max_depth = 1000};
}

jinja_template *jinja_template_parse(const char *src, size_t n, char *err, size_t errcap) {
    char dummy[8];
    if (!err || !errcap) {
        err = dummy;
        errcap = sizeof dummy;
    }
    err[0] = 0;
    jinja_template *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    t->arena.budget = 64u << 20;
    /* jinja2 normalizes newlines (\r\n, \r) to \n and drops one trailing newline */
    char *norm = jinja_arena_alloc(&t->arena, n + 1);
    if (!norm) {
        snprintf(err, errcap, "template too large");
        jinja_template_free(t);
        return NULL;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '\r') {
            norm[m++] = '\n';
            if (i + 1 < n && src[i + 1] == '\n') i++;
        } else {
            norm[m++] = src[i];
        }
    }
    if (m > 0 && norm[m - 1] == '\n') m--;
    jtok_list toks = {0};
    if (jinja_lex(&t->arena, norm, m, &toks, err, errcap) || jinja_parse_tokens(t, &toks, err, errcap)) {
        jinja_template_free(t);
        return NULL;
    }
    return t;
}

void jinja_template_free(jinja_template *t) {
    if (!t) return;
    jinja_arena_free(&t->arena);
    free(t);
}

jinja_ctx *jinja_ctx_new(const jinja_limits *lim) {
    jinja_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->lim = lim ? *lim : jinja_default_limits();
    c->arena.budget = c->lim.max_memory;
    c->name_varargs = jstr_new(&c->arena, "varargs", 7);
    c->name_kwargs = jstr_new(&c->arena, "kwargs", 6);
    c->name_caller = jstr_new(&c->arena, "caller", 6);
    c->name_loop = jstr_new(&c->arena, "loop", 4);
    if (!c->name_varargs || !c->name_kwargs || !c->name_caller || !c->name_loop) {
        jinja_ctx_free(c);
        return NULL;
    }
    return c;
}

void jinja_ctx_free(jinja_ctx *c) {
    if (!c) return;
    jinja_arena_free(&c->arena);
    free(c);
}

void jinja_ctx_set_date(jinja_ctx *c, int year, int month, int day) {
    c->has_date = 1;
    c->year = year;
    c->month = month;
    c->day = day;
}

const char *jinja_ctx_error(const jinja_ctx *c) { return c->err; }

int jinja_render(jinja_ctx *c, const jinja_template *t, char **out, size_t *out_len) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (c->failed) return -1;
    jbuf buf = {0};
    c->out = &buf;
    jscope *top = scope_new(c, &c->globals);
    int r = top ? exec_body(c, top, &t->body) : -1;
    c->out = NULL;
    if (r < 0 || c->failed) {
        if (!c->err[0]) snprintf(c->err, sizeof c->err, "render failed");
        c->failed = 1;
        free(buf.p);
        return -1;
    }
    if (!buf.p) {
        buf.p = malloc(1);
        if (!buf.p) {
            snprintf(c->err, sizeof c->err, "out of memory");
            return -1;
        }
        buf.p[0] = 0;
    }
    *out = buf.p;
    if (out_len) *out_len = buf.n;
    c->failed = 1;   /* a context renders once */
    return 0;
}
