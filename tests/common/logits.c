#include "logits.h"

#include <math.h>
#include <stdlib.h>

#include "testdata.h"

int32_t test_argmax(const float *x, int32_t n) {
    int32_t b = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

double test_kl_row(const float *ref, const float *ours, int32_t n) {
    double mr = ref[test_argmax(ref, n)], mo = ours[test_argmax(ours, n)], sr = 0, so = 0;
    for (int32_t i = 0; i < n; i++) {
        sr += exp(ref[i] - mr);
        so += exp(ours[i] - mo);
    }
    double lsr = log(sr), lso = log(so), kl = 0;
    for (int32_t i = 0; i < n; i++) {
        double lp = ref[i] - mr - lsr, lq = ours[i] - mo - lso;
        kl += exp(lp) * (lp - lq);
    }
    return kl;
}

int32_t *test_read_ids(const char *path, int32_t *n_out) {
    size_t len;
    char *text = test_read_all(path, &len);
    if (!text) return NULL;
    /* every id takes at least one digit and one separator */
    int32_t *ids = malloc((len / 2 + 1) * sizeof *ids);
    if (!ids) {
        free(text);
        return NULL;
    }
    int32_t n = 0;
    char *p = text, *end;
    for (long v = strtol(p, &end, 10); end != p; v = strtol(p, &end, 10)) {
        ids[n++] = (int32_t)v;
        p = end;
    }
    free(text);
    *n_out = n;
    return ids;
}
