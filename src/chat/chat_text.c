/* Byte-string helpers for the chat renderer. */
#include "chat/chat_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void infer_strbuf_put(infer_strbuf *b, const char *p, size_t n) {
    if (b->oom || n == 0) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) {
            b->oom = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void infer_strbuf_puts(infer_strbuf *b, const char *s) { infer_strbuf_put(b, s, strlen(s)); }
void infer_strbuf_span(infer_strbuf *b, infer_span s) { infer_strbuf_put(b, s.p, s.n); }

void infer_strbuf_free(infer_strbuf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

infer_span infer_span_of(const char *s) {
    infer_span r = {s ? s : "", s ? strlen(s) : 0};
    return r;
}

int infer_span_eq(infer_span s, const char *lit) {
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

int infer_span_starts_with(infer_span s, const char *lit) {
    size_t n = strlen(lit);
    return s.n >= n && memcmp(s.p, lit, n) == 0;
}

int infer_span_ends_with(infer_span s, const char *lit) {
    size_t n = strlen(lit);
    return s.n >= n && memcmp(s.p + s.n - n, lit, n) == 0;
}

long infer_span_find(infer_span s, const char *lit) {
    size_t n = strlen(lit);
    if (n > s.n) return -1;
    const char *hit = memmem(s.p, s.n, lit, n);
    return hit ? (long)(hit - s.p) : -1;
}

long infer_span_rfind(infer_span s, const char *lit) {
    size_t n = strlen(lit);
    if (n > s.n) return -1;
    for (size_t i = s.n - n + 1; i-- > 0;)
        if (memcmp(s.p + i, lit, n) == 0) return (long)i;
    return -1;
}

infer_span infer_span_lstrip_nl(infer_span s) {
    while (s.n && s.p[0] == '\n') s.p++, s.n--;
    return s;
}

infer_span infer_span_rstrip_nl(infer_span s) {
    while (s.n && s.p[s.n - 1] == '\n') s.n--;
    return s;
}

/* Python's str.isspace() code points. */
static int is_unicode_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Decodes the well-formed UTF-8 character at p (at most n bytes); returns its length, or
 * 0 if the bytes are not a character we could treat as whitespace. */
static size_t decode_at(const unsigned char *p, size_t n, uint32_t *cp) {
    if (n >= 1 && p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if (n >= 2 && (p[0] & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
        return 2;
    }
    if (n >= 3 && (p[0] & 0xF0) == 0xE0 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        return 3;
    }
    return 0;
}

/* Length of the whitespace character ending at p[n-1], or 0. */
static size_t space_before(const unsigned char *p, size_t n) {
    for (size_t len = 1; len <= 3 && len <= n; len++) {
        uint32_t cp;
        if (decode_at(p + n - len, len, &cp) == len && is_unicode_space(cp)) return len;
    }
    return 0;
}

infer_span infer_span_trim(infer_span s) {
    const unsigned char *p = (const unsigned char *)s.p;
    size_t start = 0, end = s.n, len;
    uint32_t cp;
    while (start < end && (len = decode_at(p + start, end - start, &cp)) && is_unicode_space(cp)) start += len;
    while (end > start && (len = space_before(p + start, end - start))) end -= len;
    infer_span r = {s.p + start, end - start};
    return r;
}
