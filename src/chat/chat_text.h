/* Byte-string helpers the chat renderer needs: a growable output buffer and the
 * Python string operations the real templates use (strip, split on a marker). */
#ifndef INFER_CHAT_CHAT_TEXT_H
#define INFER_CHAT_CHAT_TEXT_H

#include <stddef.h>

/* A slice of bytes (not NUL-terminated). */
typedef struct infer_span {
    const char *p;
    size_t n;
} infer_span;

typedef struct infer_strbuf {
    char *data;
    size_t len, cap;
    int oom;    /* an allocation failed; further appends are ignored */
} infer_strbuf;

void infer_strbuf_put(infer_strbuf *b, const char *p, size_t n);
void infer_strbuf_puts(infer_strbuf *b, const char *s);
void infer_strbuf_span(infer_strbuf *b, infer_span s);
void infer_strbuf_free(infer_strbuf *b);

infer_span infer_span_of(const char *s);   /* NULL reads as "" */
int infer_span_eq(infer_span s, const char *lit);
int infer_span_starts_with(infer_span s, const char *lit);
int infer_span_ends_with(infer_span s, const char *lit);
/* Offset of the first / last occurrence of lit, or -1. */
long infer_span_find(infer_span s, const char *lit);
long infer_span_rfind(infer_span s, const char *lit);

/* Python's str.strip('\n') family: only newline characters. */
infer_span infer_span_lstrip_nl(infer_span s);
infer_span infer_span_rstrip_nl(infer_span s);
/* Python's str.strip() (Jinja's |trim): every Unicode whitespace code point. */
infer_span infer_span_trim(infer_span s);

#endif
