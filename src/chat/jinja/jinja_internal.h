/* Internals of the Jinja engine shared by its lexer, parser, evaluator and built-ins.
 *
 * Values live in an arena owned by one render (or, for literals, by the parsed template):
 * nothing is reference counted and everything is released at once when the render ends.
 * The arena has a byte budget, which bounds the memory a hostile template can take. */
#ifndef INFER_CHAT_JINJA_INTERNAL_H
#define INFER_CHAT_JINJA_INTERNAL_H

#include "chat/jinja/jinja.h"

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- arena */

typedef struct jinja_arena_chunk jinja_arena_chunk;
typedef struct jinja_arena {
    jinja_arena_chunk *head;
    size_t used;      /* bytes handed out so far */
    size_t budget;    /* 0 = unlimited */
    int exhausted;    /* the budget was hit or malloc failed */
} jinja_arena;

void *jinja_arena_alloc(jinja_arena *a, size_t n);   /* zeroed; NULL when exhausted */
void jinja_arena_free(jinja_arena *a);

/* ---------------------------------------------------------------- values */

typedef enum jv_kind {
    JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT,
    JV_NS,     /* namespace(): a dict whose attributes `set ns.x = ...` may change */
    JV_FUNC,   /* a macro, caller() or built-in global */
    JV_LOOP,   /* the `loop` object of a for loop */
} jv_kind;

typedef struct jstr { size_t n; char p[]; } jstr;   /* UTF-8 bytes, NUL-terminated */
typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jfunc jfunc;
typedef struct jloop jloop;

typedef struct jv {
    jv_kind k;
    int safe;    /* JV_STR: a Markup string (|safe, |escape): `+` escapes the other side */
    union {
        int64_t i;           /* JV_BOOL (0/1), JV_INT */
        double f;
        jstr *s;
        jlist *l;
        jdict *d;            /* JV_DICT, JV_NS */
        jfunc *fn;
        jloop *loop;
        const char *undef;   /* JV_UNDEF: what was looked up, for messages (may be NULL) */
    } u;
} jv;

/* gen: the result of a filter that is a generator in jinja2 (select, map, unique, ...):
 * always true, no len(), printed as a generator; |list turns it into a list. */
struct jlist { size_t n, cap; jv *v; int tuple; int gen; };
struct jdict { size_t n, cap; jv *keys; jv *vals; };

/* ---------------------------------------------------------------- AST */

typedef enum jnode_kind {
    /* expressions */
    JN_LIT, JN_NAME, JN_ATTR, JN_ITEM, JN_SLICE, JN_CALL, JN_FILTER, JN_TEST,
    JN_BINOP, JN_NEG, JN_POS, JN_NOT, JN_AND, JN_OR, JN_COND, JN_LIST, JN_TUPLE, JN_DICT, JN_CONCAT,
    /* statements */
    JN_TEXT, JN_OUTPUT, JN_IF, JN_FOR, JN_SET, JN_SET_ATTR, JN_SET_BLOCK, JN_MACRO, JN_CALL_BLOCK,
    JN_FILTER_BLOCK, JN_BREAK, JN_CONTINUE, JN_SCOPE, JN_DO,
} jnode_kind;

typedef enum jbinop {
    JOP_ADD, JOP_SUB, JOP_MUL, JOP_DIV, JOP_FLOORDIV, JOP_MOD, JOP_POW,
    JOP_EQ, JOP_NE, JOP_LT, JOP_LE, JOP_GT, JOP_GE, JOP_IN, JOP_NOTIN,
} jbinop;

/* A macro takes extra positional / keyword arguments only when its body reads varargs / kwargs. */
enum { JMACRO_VARARGS = 1, JMACRO_KWARGS = 2 };

typedef struct jnode jnode;
typedef struct jnode_list { size_t n, cap; jnode **v; } jnode_list;

struct jnode {
    jnode_kind kind;
    int op;            /* jbinop; JN_TEST: 1 when negated; JN_FOR: has a filter condition;
                          JN_MACRO: JMACRO_* flags */
    int line;
    jstr *name;        /* NAME / ATTR / FILTER / TEST / MACRO / SET_BLOCK / SET_ATTR attribute */
    jv lit;            /* LIT */
    jnode *a, *b, *c, *d;
    jnode_list args;   /* call/filter/test arguments, list items, dict keys, body */
    jnode_list args2;  /* dict values, else body, macro defaults */
    jnode_list kwv;    /* keyword argument values */
    jstr **kwn;        /* keyword argument names (kwv.n of them) */
    jstr **names;      /* for/set targets, macro parameters */
    size_t n_names;
};

/* ---------------------------------------------------------------- lexer */

typedef enum jtok_kind {
    JT_EOF, JT_TEXT, JT_VAR_BEGIN, JT_VAR_END, JT_BLOCK_BEGIN, JT_BLOCK_END,
    JT_NAME, JT_STRING, JT_INT, JT_FLOAT, JT_OP,
} jtok_kind;

typedef struct jtok {
    jtok_kind kind;
    int line;
    const char *p;     /* source bytes (JT_TEXT, JT_NAME, JT_OP) */
    size_t n;
    jstr *str;         /* JT_STRING (unescaped), JT_TEXT */
    int64_t i;
    double f;
} jtok;

typedef struct jtok_list { size_t n, cap; jtok *v; } jtok_list;

/* Splits the (already newline-normalized) source into tokens. 0 on success; else -1 and
 * a message in err. */
int jinja_lex(jinja_arena *a, const char *src, size_t n, jtok_list *out, char *err, size_t errcap);

struct jinja_template {
    jinja_arena arena;
    jnode_list body;
};

int jinja_parse_tokens(jinja_template *t, const jtok_list *toks, char *err, size_t errcap);

/* ---------------------------------------------------------------- render state */

typedef struct jscope jscope;
struct jscope {
    jscope *parent;
    jdict vars;
};

typedef struct jbuf { char *p; size_t n, cap; } jbuf;

typedef enum jfunc_kind { JF_MACRO, JF_CALLER, JF_BUILTIN } jfunc_kind;
struct jfunc {
    jfunc_kind kind;
    const jnode *node;      /* macro or call block */
    jscope *scope;          /* where it was defined (macro) or called (caller) */
    jv caller;              /* JF_MACRO: the caller() passed by a call block */
    int builtin;
    const char *name;
};

struct jloop {
    const jlist *items;
    size_t index0;
    jv changed_last;   /* loop.changed(): the arguments of the last call that changed */
    int changed_seen;
};

struct jinja_ctx {
    jinja_arena arena;
    jinja_limits lim;
    jscope globals;
    jbuf *out;               /* the buffer being written (a macro or block set captures) */
    size_t out_total;        /* bytes written to all buffers, against lim.max_output */
    uint64_t steps;          /* loop iterations and calls, against lim.max_steps */
    int depth;               /* nested macro calls and expression evaluation */
    int failed;
    char err[512];
    jstr *name_varargs, *name_kwargs, *name_caller, *name_loop;   /* made once per render */
    int has_date;
    int year, month, day;    /* strftime_now's date */
};

/* Records the first error ("line N: ..."); always returns an undefined value. */
jv jinja_fail(jinja_ctx *c, const jnode *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Value helpers (jinja_value.c) */
jv jv_undef(const char *what);
jv jv_none(void);
jv jv_bool(int b);
jv jv_int(int64_t i);
jv jv_float(double f);
jv jv_strn(jinja_ctx *c, const char *p, size_t n);
jv jv_cstr(jinja_ctx *c, const char *s);
jstr *jstr_new(jinja_arena *a, const char *p, size_t n);
jv jv_list(jinja_ctx *c, size_t cap);
int jv_list_push(jinja_ctx *c, jv list, jv item);
jv jv_dict(jinja_ctx *c);
int jdict_set(jinja_arena *a, jdict *d, jv key, jv val);
jv *jdict_get(const jdict *d, jv key);
jv *jdict_get_str(const jdict *d, const char *key, size_t n);
int jv_truthy(jv v);
int jv_equal(jv a, jv b);
/* -2 when not comparable, else -1/0/1. */
int jv_compare(jv a, jv b);
const char *jv_type_name(jv v);   /* Python's: 'str', 'list', 'NoneType', ... */
int jv_is_str(jv v);
/* Python's str(v) / repr(v) appended to b. Return -1 on output limit. */
int jv_to_str(jinja_ctx *c, jbuf *b, jv v);
int jv_repr(jinja_ctx *c, jbuf *b, jv v);
jv jv_stringify(jinja_ctx *c, jv v);   /* str(v) as a value */
jv jv_html_escape(jinja_ctx *c, jv s);   /* markupsafe.escape of a string */
void jv_fmt_float(double f, char *out, size_t cap);   /* Python repr of a float */

int jbuf_put(jinja_ctx *c, jbuf *b, const char *p, size_t n);
int jbuf_putc(jinja_ctx *c, jbuf *b, char ch);

/* Iteration (lists, tuples; dict keys; string characters): fills a list. */
int jv_iter_list(jinja_ctx *c, const jnode *at, jv v, jv *out);

/* tojson (jinja_json.c) */
int jinja_tojson(jinja_ctx *c, const jnode *at, jbuf *b, jv v, const char *indent, size_t indent_n,
                 const char *item_sep, const char *key_sep, int ensure_ascii, int sort_keys, int level);

/* UTF-8 (jinja_utf8.c) */
/* Decodes one code point at p (n bytes left); invalid bytes read as themselves (one byte).
 * Returns the length consumed (>= 1). */
size_t jutf8_next(const char *p, size_t n, uint32_t *cp);
size_t jutf8_put(uint32_t cp, char out[4]);
int juni_is_space(uint32_t cp);
int juni_is_printable(uint32_t cp);
uint32_t juni_upper(uint32_t cp);
uint32_t juni_lower(uint32_t cp);
int juni_is_alpha(uint32_t cp);
int juni_is_digit(uint32_t cp);
size_t jutf8_count(const char *p, size_t n);

/* Evaluator entry points used by built-ins */
jv jinja_eval(jinja_ctx *c, jscope *s, const jnode *e);
jv jinja_call_value(jinja_ctx *c, const jnode *at, jv fn, const jv *args, size_t n_args, const jstr *const *kwn,
                    const jv *kwv, size_t n_kw);

/* Python's `fmt % args` (a tuple, a mapping, or one value) and `fmt.format(...)` (jinja_format.c). */
jv jinja_percent_format(jinja_ctx *c, const jnode *at, jv fmt, jv args);

/* Built-ins (jinja_filters.c, jinja_methods.c) */
typedef struct jargs {
    const jv *pos; size_t n_pos;
    const jstr *const *kwn; const jv *kwv; size_t n_kw;
} jargs;
/* Argument i (positional) or the keyword `name`; NULL when absent. */
const jv *jargs_get(const jargs *a, size_t i, const char *name);
jv jinja_str_format(jinja_ctx *c, const jnode *at, jv fmt, const jargs *args);
jv jinja_strftime_now(jinja_ctx *c, const jnode *at, const jargs *args);   /* jinja_strftime.c */

jv jinja_filter(jinja_ctx *c, const jnode *at, const char *name, jv v, const jargs *args);
/* Returns 0/1, or -1 after an error. */
int jinja_test(jinja_ctx *c, const jnode *at, const char *name, jv v, const jargs *args);
int jinja_has_test(const char *name);
jv jinja_method(jinja_ctx *c, const jnode *at, jv obj, const char *name, const jargs *args);
jv jinja_builtin_global(const char *name);
jv jinja_call_builtin(jinja_ctx *c, const jnode *at, int id, const jargs *args);

#endif
