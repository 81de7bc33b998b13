/* Bounded JSON numbers as GBNF (minimum/maximum/exclusive* on "type": "number"). Texts
 * are written as sign, integer part I and an optional fraction, without exponent; the
 * magnitudes [a, b] of each sign are covered by
 *   I in [ceil(a), floor(b) - 1] with any fraction   (every such value lies in [a, b))
 *   I = floor(b) without fraction                     (unless b is exclusive and integral)
 * and, when a is an exclusive integral bound, I = a only with a non-zero fraction.
 * Values between a non-integral bound and the nearest integer (0.5 to 1 for minimum 0.5)
 * are left out: a subset, never a text outside the bounds. */
#include "sample/json_schema.h"

#include <math.h>

#define FRACTION "(\".\" [0-9]{1,16})"
#define NONZERO_FRACTION "(\".\" [0-9]{0,15} [1-9])"

/* Magnitudes in [a, b] (b_set 0: unbounded); returns the number of alternatives. */
static int magnitude(jstr *o, double a, int a_excl, int b_set, double b, int b_excl, int first) {
    int n = 0;
    int64_t A = (int64_t)ceil(a), B = b_set ? (int64_t)floor(b) : 0;
    if (a_excl && (double)A == a) {
        if (!b_set || (double)A < b) {   /* A.xxx (non-zero) stays below A + 1 <= ... */
            if (!b_set || (double)(A + 1) <= b) {
                jstr_addf(o, "%s(", first && !n ? "" : "| ");
                infer_json_int_range(o, 1, A, 1, A);
                jstr_add(o, " " NONZERO_FRACTION ") ");
                n++;
            }
        }
        A++;
    }
    if (!b_set || B - 1 >= A) {   /* I in [A, B - 1] with any fraction */
        jstr_addf(o, "%s(", first && !n ? "" : "| ");
        infer_json_int_range(o, 1, A, b_set, B - 1);
        jstr_add(o, " " FRACTION "?) ");
        n++;
    }
    if (b_set && B >= A && !(b_excl && (double)B == b)) {
        jstr_addf(o, "%s", first && !n ? "" : "| ");
        infer_json_int_range(o, 1, B, 1, B);
        jstr_add(o, " ");
        n++;
    }
    return n;
}

int infer_json_number_range(jstr *o, int lo_set, double lo, int lo_excl, int hi_set, double hi, int hi_excl) {
    int n = 0;
    jstr_add(o, "(");
    if (!hi_set || hi > 0 || (hi == 0 && !hi_excl)) {   /* written without a sign */
        int a_excl = lo_set && lo >= 0 ? lo_excl : 0;
        n += magnitude(o, lo_set && lo > 0 ? lo : 0, a_excl, hi_set, hi, hi_excl, 1);
    }
    if (!lo_set || lo < 0) {   /* "-" magnitude, magnitudes in [-hi, -lo] */
        jstr m = {0};
        int k = magnitude(&m, hi_set && hi < 0 ? -hi : 0, hi_set && hi <= 0 ? hi_excl : 0, lo_set, -lo, lo_excl, 1);
        if (k) {
            jstr_addf(o, "%s\"-\" (%s) ", n ? "| " : "", m.s ? m.s : "");
            n += k;
        }
        if (m.oom) o->oom = 1;
        jstr_free(&m);
    }
    jstr_add(o, ")");
    return n;
}
