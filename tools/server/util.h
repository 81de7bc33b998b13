/* Small helpers of infer-server: growable byte buffers, clocks, ids, UTF-8 repair. */
#ifndef SERVER_UTIL_H
#define SERVER_UTIL_H
#include <stddef.h>
#include <stdint.h>

#include "tool_util.h"   /* tool_now_s, tool_utf8_seq_len */

/* A growable byte string, always NUL-terminated once anything was put in it. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

int sbuf_put(sbuf *b, const char *s, size_t n);   /* 0, or -1 when out of memory */
int sbuf_puts(sbuf *b, const char *s);
void sbuf_free(sbuf *b);

double wall_s(void);         /* seconds since the epoch */
/* RFC 3339 UTC timestamp with nanoseconds ("2026-12-01T23:04:05.123456789Z"). */
void rfc3339_now(char out[40]);
/* A random id "PREFIX<24 hex digits>" (OpenAI-like "chatcmpl-..."). */
void make_id(const char *prefix, char *out, size_t cap);
/* A seed for requests that give none (the library never seeds from the clock). */
uint64_t random_seed(void);

/* 1 when all n bytes are valid UTF-8. */
int utf8_valid(const char *s, size_t n);

#endif
