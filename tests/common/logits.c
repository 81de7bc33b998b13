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

double test_top2_gap(const float *x, int32_t n) {
    float a = -INFINITY, b = -INFINITY;
    for (int32_t i = 0; i < n; i++) {
        if (x[i] > a) {
            b = a;
            a = x[i];
        } else if (x[i] > b) {
            b = x[i];
        }
    }
    return (double)a - (double)b;
}

double test_chunk_perplexity(infer_ctx *c, const infer_model *m, const int32_t *toks, size_t n_tok, int n_ctx,
                             int *n_chunk_out) {
    const int n_chunk = n_ctx > 0 ? (int)(n_tok / (size_t)n_ctx) : 0;
    *n_chunk_out = n_chunk;
    if (n_chunk < 1 || n_ctx < 4) return NAN;
    int32_t *batch = malloc((size_t)n_ctx * sizeof *batch);
    int8_t *want = malloc((size_t)n_ctx);
    if (!batch || !want) {
        free(batch);
        free(want);
        return NAN;
    }
    const int32_t V = infer_model_n_vocab(m);
    for (int j = 0; j < n_ctx; j++) want[j] = j >= n_ctx / 2;
    double nll = 0;
    long count = 0;
    for (int ch = 0; ch < n_chunk; ch++) {
        const int32_t *chunk = toks + (size_t)ch * n_ctx;
        for (int j = 0; j < n_ctx; j++) batch[j] = chunk[j];
        batch[0] = infer_token_bos(m);
        infer_ctx_kv_clear(c);
        if (infer_ctx_decode(c, batch, NULL, want, n_ctx) != INFER_OK) {
            free(batch);
            free(want);
            return NAN;
        }
        for (int j = n_ctx / 2; j < n_ctx - 1; j++) {
            const float *l = infer_ctx_logits(c, j);
            double mx = l[test_argmax(l, V)], s = 0;
            for (int32_t k = 0; k < V; k++) s += exp(l[k] - mx);
            nll += log(s) - (l[chunk[j + 1]] - mx);
            count++;
        }
    }
    free(batch);
    free(want);
    return exp(nll / count);
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
