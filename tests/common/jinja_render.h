/* Renders a template source with the engine (src/chat/jinja) as the Jinja unit tests need:
 * messages = [{role: user, content: hi}], strftime_now's date 2026-01-15. */
#ifndef INFER_TEST_JINJA_RENDER_H
#define INFER_TEST_JINJA_RENDER_H

#include <stddef.h>

/* The output (malloc'ed, NUL-terminated), or NULL with a non-empty message in err when
 * parsing or rendering failed. */
char *test_jinja_render(const char *src, size_t n, char *err, size_t errcap);

#endif
