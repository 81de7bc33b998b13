/* See jinja_render.h. */
#include "jinja_render.h"

#include <stdio.h>
#include <string.h>

#include "chat/jinja/jinja.h"

char *test_jinja_render(const char *src, size_t n, char *err, size_t errcap) {
    jinja_template *t = jinja_template_parse(src, n, err, errcap);
    if (!t) return NULL;
    jinja_ctx *c = jinja_ctx_new(NULL);
    if (!c) {
        snprintf(err, errcap, "out of memory");
        jinja_template_free(t);
        return NULL;
    }
    jinja_ctx_set_date(c, 2026, 1, 15);
    jinja_val *msgs = jinja_val_list(c), *m = jinja_val_dict(c);
    jinja_val_dict_set(c, m, "role", jinja_val_str(c, "user", 4));
    jinja_val_dict_set(c, m, "content", jinja_val_str(c, "hi", 2));
    jinja_val_list_push(c, msgs, m);
    jinja_ctx_set(c, "messages", msgs);
    char *out = NULL;
    size_t len = 0;
    if (jinja_render(c, t, &out, &len) != 0) {
        snprintf(err, errcap, "%s", jinja_ctx_error(c));
        out = NULL;
    }
    jinja_ctx_free(c);
    jinja_template_free(t);
    return out;
}
