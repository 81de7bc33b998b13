/* A Jinja template engine with the semantics of Python jinja2 as Hugging Face configures
 * it for chat templates (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
 * loopcontrols, transformers' tojson / raise_exception / strftime_now / {% generation %}).
 *
 * Use: parse a template once (jinja_template_parse), then for every render make a context,
 * fill its variables with the value builders below, and call jinja_render. Parsing and
 * rendering never crash on hostile input: errors come back as messages, and the limits
 * bound time, memory, recursion and output. No global state; a parsed template is
 * read-only while rendering, so several threads may render it with their own contexts. */
#ifndef INFER_CHAT_JINJA_H
#define INFER_CHAT_JINJA_H

#include <stddef.h>
#include <stdint.h>

typedef struct jinja_template jinja_template;
typedef struct jinja_ctx jinja_ctx;
typedef struct jv jv;

typedef struct jinja_limits {
    size_t max_output;     /* bytes of rendered text */
    size_t max_memory;     /* bytes of values created while rendering */
    uint64_t max_steps;    /* loop iterations + calls */
    int max_depth;         /* nested macro calls / expression depth */
} jinja_limits;

/* Defaults: 16 MiB output, 64 MiB memory, 1 million steps, depth 1000. Real chat templates
 * stay far below (a long conversation: tens of KiB, thousands of steps). */
jinja_limits jinja_default_limits(void);

/* Parses template source (any bytes). NULL on error with a message "line N: ..." in err. */
jinja_template *jinja_template_parse(const char *src, size_t n, char *err, size_t errcap);
void jinja_template_free(jinja_template *t);

jinja_ctx *jinja_ctx_new(const jinja_limits *lim);   /* NULL limits: defaults */
void jinja_ctx_free(jinja_ctx *c);

/* strftime_now's clock: a fixed date (midnight). Without it strftime_now uses today. */
void jinja_ctx_set_date(jinja_ctx *c, int year, int month, int day);

/* Builders for the variables. Values belong to the context. A handle is an index-free
 * opaque pointer to a value slot; builders return NULL when memory runs out. */
typedef struct jinja_val jinja_val;
jinja_val *jinja_val_none(jinja_ctx *c);
jinja_val *jinja_val_bool(jinja_ctx *c, int b);
jinja_val *jinja_val_int(jinja_ctx *c, int64_t i);
jinja_val *jinja_val_float(jinja_ctx *c, double f);
jinja_val *jinja_val_str(jinja_ctx *c, const char *p, size_t n);
jinja_val *jinja_val_list(jinja_ctx *c);
jinja_val *jinja_val_dict(jinja_ctx *c);
int jinja_val_list_push(jinja_ctx *c, jinja_val *list, const jinja_val *item);
int jinja_val_dict_set(jinja_ctx *c, jinja_val *dict, const char *key, const jinja_val *val);
/* Sets a top-level variable. */
int jinja_ctx_set(jinja_ctx *c, const char *name, const jinja_val *val);

/* Renders. 0 on success with a malloc'ed NUL-terminated text in *out (free() it);
 * -1 on error, with the message in jinja_ctx_error. A context renders once. */
int jinja_render(jinja_ctx *c, const jinja_template *t, char **out, size_t *out_len);
const char *jinja_ctx_error(const jinja_ctx *c);

#endif
