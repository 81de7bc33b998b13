/* The bridge between conversations (JSON) and the Jinja engine. */
#ifndef INFER_CHAT_CHAT_JINJA_H
#define INFER_CHAT_CHAT_JINJA_H

#include "infer.h"

#include <jansson.h>

/* Renders tmpl with conv = {"messages": [...], "tools": [...]?, "add_generation_prompt": b,
 * "extra": {...}?, "chat_template_kwargs": {...}?}. *out is malloc'ed on success. */
infer_status infer_chat_jinja_render(const char *tmpl, const json_t *conv, const char *bos, const char *eos,
                                     const char *date, char **out, size_t *out_len, infer_error *err);

/* Copies n bytes + NUL into a caller buffer, reporting the size (INFER_ERR_BUFFER_SMALL). */
infer_status infer_chat_copy_out(const char *text, size_t n, char *buf, size_t cap, size_t *n_out);

#endif
