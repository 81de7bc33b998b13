/* Tokens -> bytes: one token's bytes, and the streaming detokenizer that only ever
 * hands out whole UTF-8 characters. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode.h"
#include "tokenizer/vocab_internal.h"

/* Bounded writer: counts every byte, stores those that fit. */
typedef struct sink { char *buf; size_t cap, n; } sink;

static void put(sink *s, const void *p, size_t n) {
    if (s->n < s->cap) {
        size_t k = s->cap - s->n < n ? s->cap - s->n : n;
        memcpy(s->buf + s->n, p, k);
    }
    s->n += n;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static void spm_piece(const struct infer_vocab *v, int32_t tok, sink *s) {
    const char *t = v->text[tok];
    uint32_t n = v->text_len[tok];
    if (v->type[tok] == INFER_TOKEN_BYTE && n == 6 && hex_digit(t[3]) >= 0 && hex_digit(t[4]) >= 0) {
        char b = (char)(hex_digit(t[3]) * 16 + hex_digit(t[4]));
        put(s, &b, 1);
        return;
    }
    for (uint32_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(t + i, "\xe2\x96\x81", 3) == 0) { put(s, " ", 1); i += 3; }
        else { put(s, t + i, 1); i++; }
    }
}

static void bpe_piece(const struct infer_vocab *v, int32_t tok, sink *s) {
    const uint8_t *t = (const uint8_t *)v->text[tok];
    uint32_t n = v->text_len[tok];
    for (size_t i = 0; i < n;) {
        size_t k;
        uint32_t cp = infer_utf8_decode(t + i, n - i, &k);
        if (cp < 324 && v->cp_to_byte[cp] >= 0) {
            char b = (char)v->cp_to_byte[cp];
            put(s, &b, 1);
        } else {
            put(s, t + i, k);   /* not in the byte alphabet: keep as written */
        }
        i += k;
    }
}

infer_status infer_vocab_token_to_bytes(const struct infer_vocab *v, int32_t tok,
                                        char *buf, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!v || (!buf && cap > 0)) return INFER_ERR_INVALID_ARG;
    if (tok < 0 || tok >= v->n_tokens) return INFER_ERR_NOT_FOUND;
    sink s = {buf, cap, 0};
    uint8_t type = v->type[tok];
    if (type == INFER_TOKEN_CONTROL || type == INFER_TOKEN_UNKNOWN ||
        (type == INFER_TOKEN_USER_DEFINED && v->kind == INFER_VOCAB_BPE))
        put(&s, v->text[tok], v->text_len[tok]);
    else if (v->kind == INFER_VOCAB_SPM)
        spm_piece(v, tok, &s);
    else
        bpe_piece(v, tok, &s);
    if (n_out) *n_out = s.n;
    return s.n > cap ? INFER_ERR_BUFFER_SMALL : INFER_OK;
}

/* ------------------------------------------------------------- streaming */

struct infer_detok {
    const struct infer_vocab *v;
    uint8_t held[4];       /* the start of a character split across tokens */
    size_t n_held;
    char *tmp;             /* held bytes + the new token's bytes */
    size_t tmp_cap;
};

struct infer_detok *infer_vocab_detok_new(const struct infer_vocab *v) {
    if (!v) return NULL;
    struct infer_detok *d = calloc(1, sizeof *d);
    if (d) d->v = v;
    return d;
}

void infer_vocab_detok_free(struct infer_detok *d) {
    if (!d) return;
    free(d->tmp);
    free(d);
}

static const char REPLACEMENT[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

/* Writes the complete characters of in[0..n) to s; invalid bytes become U+FFFD. When
 * hold is set, a valid but unfinished character at the end is left out and its
 * length returned; otherwise everything is written and 0 returned. */
static size_t emit_utf8(const uint8_t *in, size_t n, bool hold, sink *s) {
    for (size_t i = 0; i < n;) {
        size_t k = infer_utf8_valid_len(in + i, n - i);
        if (k) { put(s, in + i, k); i += k; continue; }
        if (hold && infer_utf8_incomplete_need(in + i, n - i)) return n - i;
        put(s, REPLACEMENT, 3);
        i++;
    }
    return 0;
}

/* Finishes a call: NUL-terminates, commits the held tail when the output fitted. */
static infer_status finish(struct infer_detok *d, sink *s, const uint8_t *tail, size_t n_tail,
                           char *buf, size_t cap, size_t *n_out) {
    if (n_out) *n_out = s->n;
    if (s->n + 1 > cap) return INFER_ERR_BUFFER_SMALL;   /* state unchanged: retry with more room */
    buf[s->n] = 0;
    memmove(d->held, tail, n_tail);
    d->n_held = n_tail;
    return INFER_OK;
}

infer_status infer_vocab_detok_push(struct infer_detok *d, int32_t tok, char *buf, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!d || (!buf && cap > 0)) return INFER_ERR_INVALID_ARG;
    size_t n_tok = 0;
    infer_status st = infer_vocab_token_to_bytes(d->v, tok, NULL, 0, &n_tok);
    if (st != INFER_OK && st != INFER_ERR_BUFFER_SMALL) return st;
    size_t need = d->n_held + n_tok;
    if (need > d->tmp_cap || !d->tmp) {   /* never NULL: an empty token still gets a buffer */
        char *t = realloc(d->tmp, need ? need : 1);
        if (!t) return INFER_ERR_NOMEM;
        d->tmp = t;
        d->tmp_cap = need ? need : 1;
    }
    memcpy(d->tmp, d->held, d->n_held);
    infer_vocab_token_to_bytes(d->v, tok, d->tmp + d->n_held, n_tok, &n_tok);
    sink s = {buf, cap, 0};
    size_t n_tail = emit_utf8((const uint8_t *)d->tmp, need, true, &s);
    return finish(d, &s, (const uint8_t *)d->tmp + need - n_tail, n_tail, buf, cap, n_out);
}

infer_status infer_vocab_detok_flush(struct infer_detok *d, char *buf, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!d || (!buf && cap > 0)) return INFER_ERR_INVALID_ARG;
    sink s = {buf, cap, 0};
    uint8_t held[4];
    memcpy(held, d->held, d->n_held);
    emit_utf8(held, d->n_held, false, &s);
    return finish(d, &s, held, 0, buf, cap, n_out);
}
