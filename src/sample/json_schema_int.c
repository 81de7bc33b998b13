/* Integer ranges as GBNF: decimal texts without leading zeros whose value lies in
 * [lo, hi]. A range of same-length numbers splits on its first digit: the low edge,
 * the full middle digits, the high edge, recursively. */
#include "sample/json_schema.h"

#include <stdio.h>
#include <string.h>

#define UNBOUNDED_DIGITS 16

/* Same-length digit strings x <= y (leading zeros allowed inside). */
static void same_len(jstr *o, const char *x, const char *y, size_t len) {
    if (len == 0) return;
    size_t i = 0;
    while (i < len && x[i] == y[i]) i++;
    if (i) {
        jstr_addf(o, "\"%.*s\" ", (int)i, x);
        x += i, y += i, len -= i;
        if (len == 0) return;
    }
    /* All lows 0 and all highs 9 below the first digit: one class per position. */
    int x_zero = 1, y_nine = 1;
    for (size_t k = 1; k < len; k++) x_zero &= x[k] == '0', y_nine &= y[k] == '9';
    if (x_zero && y_nine) {
        jstr_addf(o, "[%c-%c] ", x[0], y[0]);
        if (len > 1) jstr_addf(o, "[0-9]{%zu} ", len - 1);
        return;
    }
    char nines[32], zeros[32];
    memset(nines, '9', len);
    memset(zeros, '0', len);
    jstr_add(o, "(");
    /* x[0] followed by [x[1..], 99..] */
    jstr_addf(o, "\"%c\" ", x[0]);
    same_len(o, x + 1, nines, len - 1);
    if (x[0] + 1 <= y[0] - 1) {
        jstr_addf(o, "| [%c-%c] ", x[0] + 1, y[0] - 1);
        if (len > 1) jstr_addf(o, "[0-9]{%zu} ", len - 1);
    }
    jstr_addf(o, "| \"%c\" ", y[0]);
    same_len(o, zeros, y + 1, len - 1);
    jstr_add(o, ") ");
}

/* Non-negative range [a, b]; b < 0 means unbounded. Appends alternatives joined by |. */
static void nonneg(jstr *o, int64_t a, int64_t b) {
    char xs[32], ys[32];
    int first = 1;
    for (int len = 1; len <= UNBOUNDED_DIGITS + 3; len++) {
        int64_t lo_len = len == 1 ? 0 : 1, hi_len = 9;
        for (int k = 1; k < len; k++) lo_len *= 10, hi_len = hi_len * 10 + 9;
        if (b >= 0 && lo_len > b) break;
        if (b < 0 && len > UNBOUNDED_DIGITS) break;
        if (hi_len < a) continue;
        int64_t x = a > lo_len ? a : lo_len, y = (b >= 0 && b < hi_len) ? b : hi_len;
        snprintf(xs, sizeof xs, "%0*lld", len, (long long)x);
        snprintf(ys, sizeof ys, "%0*lld", len, (long long)y);
        if (!first) jstr_add(o, "| ");
        first = 0;
        same_len(o, xs, ys, (size_t)len);
    }
    if (first) jstr_add(o, "[^\\x00-\\U0010FFFF] ");   /* empty range: matches nothing */
}

void infer_json_int_range(jstr *o, int has_lo, int64_t lo, int has_hi, int64_t hi) {
    jstr_add(o, "(");
    int any = 0;
    /* Negative part: "-" followed by magnitudes [max(1, -hi), -lo]. */
    if (!has_lo || lo < 0) {
        int64_t mag_lo = has_hi && hi < 0 ? -hi : 1;
        int64_t mag_hi = has_lo ? -lo : -1;
        jstr_add(o, "\"-\" (");
        nonneg(o, mag_lo, mag_hi);
        jstr_add(o, ") ");
        any = 1;
    }
    if (!has_hi || hi >= 0) {
        if (any) jstr_add(o, "| ");
        jstr_add(o, "(");
        nonneg(o, has_lo && lo > 0 ? lo : 0, has_hi ? hi : -1);
        jstr_add(o, ") ");
    }
    jstr_add(o, ")");
}
