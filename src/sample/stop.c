/* Stop strings over streamed text. The held-back tail is the longest suffix of the text
 * seen so far that is a proper prefix of some stop string: only that part could still
 * become a stop string, everything before it is safe to show. */
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

struct infer_stop {
    char **s;
    size_t *len;
    size_t n, max_len;
    char *held;        /* (max_len) bytes held back */
    size_t n_held;
    int32_t which;     /* matched string, -1 */
    char *scratch;     /* held + new text */
    size_t scratch_cap;
};

void infer_stop_free(infer_stop *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n; i++) free(st->s[i]);
    free(st->s);
    free(st->len);
    free(st->held);
    free(st->scratch);
    free(st);
}

infer_status infer_stop_new(const char *const *stops, size_t n, infer_stop **out, infer_error *err) {
    if (!out || (n && !stops)) return infer_err(err, INFER_ERR_INVALID_ARG, "stop strings: NULL argument");
    *out = NULL;
    infer_stop *st = calloc(1, sizeof *st);
    if (!st) return infer_err(err, INFER_ERR_NOMEM, "stop strings: out of memory");
    st->which = -1;
    st->s = calloc(n ? n : 1, sizeof *st->s);
    st->len = calloc(n ? n : 1, sizeof *st->len);
    if (!st->s || !st->len) goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (!stops[i]) {
            infer_stop_free(st);
            return infer_err(err, INFER_ERR_INVALID_ARG, "stop strings: string %zu is NULL", i);
        }
        size_t l = strlen(stops[i]);
        st->s[st->n] = malloc(l + 1);
        if (!st->s[st->n]) goto nomem;
        memcpy(st->s[st->n], stops[i], l + 1);
        st->len[st->n++] = l;
        if (l > st->max_len) st->max_len = l;
    }
    st->held = malloc(st->max_len + 1);
    if (!st->held) goto nomem;
    *out = st;
    return INFER_OK;
nomem:
    infer_stop_free(st);
    return infer_err(err, INFER_ERR_NOMEM, "stop strings: out of memory");
}

void infer_stop_reset(infer_stop *st) {
    if (!st) return;
    st->n_held = 0;
    st->which = -1;
}

int32_t infer_stop_which(const infer_stop *st) { return st ? st->which : -1; }

/* Returns the earliest position in t[0..n) where a stop string starts and ends inside
 * t (first string listed wins at equal positions), or n; sets *which. */
static size_t find_stop(const infer_stop *st, const char *t, size_t n, int32_t *which) {
    size_t best = n;
    for (size_t i = 0; i < st->n; i++) {
        size_t l = st->len[i];
        if (l == 0 || l > n) continue;
        for (size_t at = 0; at + l <= n && at < best; at++) {
            if (memcmp(t + at, st->s[i], l) == 0) {
                best = at;
                *which = (int32_t)i;
                break;
            }
        }
    }
    return best;
}

/* Length of the longest suffix of t[0..n) that is a proper prefix of a stop string. */
static size_t held_suffix(const infer_stop *st, const char *t, size_t n) {
    size_t keep = 0;
    for (size_t i = 0; i < st->n; i++) {
        size_t l = st->len[i];
        for (size_t k = (l - 1 < n ? l - 1 : n); k > keep; k--)
            if (memcmp(t + n - k, st->s[i], k) == 0) {
                keep = k;
                break;
            }
    }
    return keep;
}

infer_status infer_stop_push(infer_stop *st, const char *text, size_t len, char *buf, size_t cap, size_t *n_out,
                             int *stopped) {
    if (n_out) *n_out = 0;
    if (stopped) *stopped = st && st->which >= 0;
    if (!st || (!text && len) || (!buf && cap)) return INFER_ERR_INVALID_ARG;
    if (st->which >= 0) {
        if (cap) buf[0] = 0;
        return INFER_OK;
    }
    size_t n = st->n_held + len;
    if (n + 1 > st->scratch_cap) {
        char *g = realloc(st->scratch, n + 1);
        if (!g) return INFER_ERR_NOMEM;
        st->scratch = g;
        st->scratch_cap = n + 1;
    }
    char *t = st->scratch;
    memcpy(t, st->held, st->n_held);
    if (len) memcpy(t + st->n_held, text, len);
    int32_t which = -1;
    size_t at = find_stop(st, t, n, &which);
    size_t show = which >= 0 ? at : n - held_suffix(st, t, n);
    if (n_out) *n_out = show;
    if (show + 1 > cap) return INFER_ERR_BUFFER_SMALL;   /* nothing changed */
    memcpy(buf, t, show);
    buf[show] = 0;
    if (which >= 0) {
        st->which = which;
        st->n_held = 0;
        if (stopped) *stopped = 1;
    } else {
        st->n_held = n - show;
        memcpy(st->held, t + show, st->n_held);
    }
    return INFER_OK;
}

infer_status infer_stop_flush(infer_stop *st, char *buf, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!st || (!buf && cap)) return INFER_ERR_INVALID_ARG;
    size_t n = st->which >= 0 ? 0 : st->n_held;
    if (n_out) *n_out = n;
    if (n + 1 > cap) return INFER_ERR_BUFFER_SMALL;
    memcpy(buf, st->held, n);
    buf[n] = 0;
    st->n_held = 0;
    return INFER_OK;
}
