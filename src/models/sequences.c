/* Per-sequence bookkeeping of the KV cache: length, tokens, clear, truncate, copy.
 * Clearing and truncating only move a sequence's length (rows past it are never read:
 * attention stops at each query's position); copying moves the rows. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/context.h"

static int bad_seq(const infer_ctx *c, int32_t seq) { return !c || seq < 0 || (uint32_t)seq >= c->kv.n_seq; }

static infer_status fail_seq(infer_ctx *c, const char *what, int32_t seq) {
    if (!c) return INFER_ERR_INVALID_ARG;
    infer_error e;
    infer_err(&e, INFER_ERR_INVALID_ARG, "%s: sequence id %d outside [0, %u)", what, (int)seq, c->kv.n_seq);
    infer_err_copy(c->last_error, sizeof c->last_error, &e);
    return INFER_ERR_INVALID_ARG;
}

uint32_t infer_ctx_n_seq_max(const infer_ctx *c) { return c ? c->kv.n_seq : 0; }
uint32_t infer_ctx_n_ctx_seq(const infer_ctx *c) { return c ? c->kv.n_ctx_seq : 0; }

int32_t infer_ctx_seq_len(const infer_ctx *c, int32_t seq) { return bad_seq(c, seq) ? -1 : c->kv.len[seq]; }

const int32_t *infer_ctx_seq_tokens(const infer_ctx *c, int32_t seq, int32_t *n) {
    if (bad_seq(c, seq)) {
        if (n) *n = 0;
        return NULL;
    }
    if (n) *n = c->kv.len[seq];
    return infer_kv_seq_tokens(&c->kv, (uint32_t)seq);
}

infer_status infer_ctx_seq_clear(infer_ctx *c, int32_t seq) {
    if (!c) return INFER_ERR_INVALID_ARG;
    if (seq < 0) {
        memset(c->kv.len, 0, c->kv.n_seq * sizeof *c->kv.len);
        return INFER_OK;
    }
    if (bad_seq(c, seq)) return fail_seq(c, "seq_clear", seq);
    c->kv.len[seq] = 0;
    return INFER_OK;
}

infer_status infer_ctx_seq_truncate(infer_ctx *c, int32_t seq, int32_t pos) {
    if (bad_seq(c, seq)) return fail_seq(c, "seq_truncate", seq);
    if (pos < 0) {
        infer_error e;
        infer_err(&e, INFER_ERR_INVALID_ARG, "seq_truncate: negative position %d", (int)pos);
        infer_err_copy(c->last_error, sizeof c->last_error, &e);
        return INFER_ERR_INVALID_ARG;
    }
    if (pos < c->kv.len[seq]) c->kv.len[seq] = pos;
    return INFER_OK;
}

infer_status infer_kv_copy_rows(infer_ctx *c, uint32_t src, uint32_t dst, int32_t n, infer_error *err) {
    if (n <= 0 || src == dst) return INFER_OK;
    const size_t kb = (size_t)n * c->kv.k_row_bytes, vb = (size_t)n * c->kv.v_row_bytes;
    void *host = malloc(kb > vb ? kb : vb);
    if (!host) return infer_err(err, INFER_ERR_NOMEM, "out of memory copying %d cache rows", (int)n);
    infer_status st = INFER_OK;
    /* Through the host, one buffer at a time: the same code for every backend. */
    for (uint32_t il = 0; il < c->kv.n_layer && st == INFER_OK; il++) {
        for (int j = 0; j < 2 && st == INFER_OK; j++) {
            const infer_bview from = j ? infer_kv_seq_v(&c->kv, il, src) : infer_kv_seq_k(&c->kv, il, src);
            const infer_bview to = j ? infer_kv_seq_v(&c->kv, il, dst) : infer_kv_seq_k(&c->kv, il, dst);
            const size_t bytes = j ? vb : kb;
            infer_backend *be = c->kv.be[il];   /* where the layer runs */
            const infer_backend_ops *o = be->ops;
            o->begin(be);
            o->read(be, from, host, bytes);
            if ((st = o->end(be, err)) != INFER_OK) break;
            o->begin(be);
            o->write(be, to, host, bytes);
            st = o->end(be, err);
        }
    }
    free(host);
    return st;
}

infer_status infer_ctx_seq_copy(infer_ctx *c, int32_t src, int32_t dst) {
    if (bad_seq(c, src)) return fail_seq(c, "seq_copy", src);
    if (bad_seq(c, dst)) return fail_seq(c, "seq_copy", dst);
    if (src == dst) return INFER_OK;
    infer_error e = {0};
    const int32_t n = c->kv.len[src];
    c->kv.len[dst] = 0;   /* a failed copy leaves dst empty, never half-copied */
    infer_status st = infer_kv_copy_rows(c, (uint32_t)src, (uint32_t)dst, n, &e);
    if (st != INFER_OK) {
        infer_err_copy(c->last_error, sizeof c->last_error, &e);
        return st;
    }
    memcpy(infer_kv_seq_tokens(&c->kv, (uint32_t)dst), infer_kv_seq_tokens(&c->kv, (uint32_t)src),
           (size_t)n * sizeof(int32_t));
    c->kv.len[dst] = n;
    return INFER_OK;
}

int32_t infer_ctx_n_past(const infer_ctx *c) { return c ? c->kv.len[0] : 0; }
void infer_ctx_kv_clear(infer_ctx *c) { infer_ctx_seq_clear(c, -1); }
void infer_ctx_kv_truncate(infer_ctx *c, int32_t pos) {
    if (c && pos >= 0) infer_ctx_seq_truncate(c, 0, pos);
}
