/* The decode API: a batch of tokens of any sequences is checked whole before anything
 * runs, grouped by sequence (a stable counting sort, so each sequence's tokens keep
 * their order), cut into n_batch steps, and run; logits are kept only for the rows
 * asked for, embeddings for every row when the context keeps them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/context.h"
#include "models/forward_step.h"
#include "tensor/dtype.h"

static infer_status fail(infer_ctx *c, infer_status st, const infer_error *e) {
    infer_err_copy(c->last_error, sizeof c->last_error, e);
    return st;
}

static int grow_i32(int32_t **a, int32_t n) {
    int32_t *p = realloc(*a, (size_t)n * sizeof *p);
    if (!p) return -1;
    *a = p;
    return 0;
}

/* Host arrays grow to the largest call seen, never shrink: per-token arrays and
 * embeddings for n tokens, logits for the n_rows asked for. */
static int reserve_host(infer_ctx *c, int32_t n, int32_t n_rows) {
    if (n > c->tok_cap) {
        if (grow_i32(&c->logit_row, n) || grow_i32(&c->pos, n) || grow_i32(&c->seq, n) || grow_i32(&c->order, n) ||
            grow_i32(&c->rank, n) || grow_i32(&c->run_tok, n) || grow_i32(&c->run_pos, n) ||
            grow_i32(&c->out_ids, n))
            return -1;
        infer_seq_run *r = realloc(c->runs, (size_t)n * sizeof *r);
        if (!r) return -1;
        c->runs = r;
        c->tok_cap = n;
    }
    if (n_rows > c->logits_cap_rows) {
        float *l = realloc(c->logits, (size_t)n_rows * c->m->hp.n_vocab * sizeof *l);
        if (!l) return -1;
        c->logits = l;
        c->logits_cap_rows = n_rows;
    }
    if (c->p.embeddings && n > c->embd_cap_rows) {
        float *e = realloc(c->embd, (size_t)n * c->m->hp.n_embd * sizeof *e);
        if (!e) return -1;
        c->embd = e;
        c->embd_cap_rows = n;
    }
    return 0;
}

static void l2_normalize(float *v, int64_t n) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)v[i] * v[i];
    if (ss <= 0.0) return;
    const float inv = (float)(1.0 / sqrt(ss));
    for (int64_t i = 0; i < n; i++) v[i] *= inv;
}

/* Pools the call's rows (run order: each sequence's tokens together, in batch order) per
 * sequence, then normalizes on request. */
static void pool_embeddings(infer_ctx *c, int32_t n) {
    const int64_t E = c->m->hp.n_embd;
    memset(c->embd_seq_set, 0, c->p.n_seq_max);
    for (int32_t k = 0; k < n;) {
        const int32_t s = c->seq[c->order[k]];
        int32_t e = k;
        while (e < n && c->seq[c->order[e]] == s) e++;
        if (c->p.pooling != INFER_POOLING_NONE) {
            float *dst = c->embd_seq + (size_t)s * E;
            const float *rows = c->embd + (size_t)k * E;
            if (c->p.pooling == INFER_POOLING_MEAN) {
                for (int64_t i = 0; i < E; i++) {
                    double sum = 0.0;
                    for (int32_t t = 0; t < e - k; t++) sum += rows[(size_t)t * E + i];
                    dst[i] = (float)(sum / (e - k));
                }
            } else {
                const float *src = rows + (size_t)(c->p.pooling == INFER_POOLING_LAST ? e - k - 1 : 0) * E;
                memcpy(dst, src, (size_t)E * sizeof *dst);
            }
            if (c->p.embd_normalize) l2_normalize(dst, E);
            c->embd_seq_set[s] = 1;
        }
        k = e;
    }
    if (c->p.embd_normalize)
        for (int32_t k = 0; k < n; k++) l2_normalize(c->embd + (size_t)k * E, E);
}

/* Checks every token, sequence and position, fills c->pos/c->seq and the run order.
 * Touches nothing a failure would have to undo. */
static infer_status plan(infer_ctx *c, const infer_batch *b, int32_t *n_rows, infer_error *e) {
    const int32_t n = b->n_tokens, n_vocab = (int32_t)c->m->hp.n_vocab;
    const int32_t n_seq = (int32_t)c->kv.n_seq;
    int32_t *count = c->seq_scratch, *next_pos = c->seq_scratch + n_seq;
    for (int32_t s = 0; s < n_seq; s++) {
        count[s] = 0;
        next_pos[s] = c->kv.len[s];
    }
    for (int32_t i = 0; i < n; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= n_vocab)
            return infer_err(e, INFER_ERR_INVALID_ARG, "decode: token %d at index %d outside [0, %d)",
                             (int)b->tokens[i], (int)i, (int)n_vocab);
        const int32_t s = b->seq_id ? b->seq_id[i] : 0;
        if (s < 0 || s >= n_seq)
            return infer_err(e, INFER_ERR_INVALID_ARG, "decode: sequence id %d at index %d outside [0, %d)", (int)s,
                             (int)i, (int)n_seq);
        const int64_t p = b->pos ? b->pos[i] : next_pos[s]++;
        if (p < 0)
            return infer_err(e, INFER_ERR_INVALID_ARG, "decode: negative position at index %d", (int)i);
        if (p >= c->kv.n_ctx_seq)
            return infer_err(e, INFER_ERR_CONTEXT_FULL,
                             "decode: position %lld of sequence %d does not fit in the context window of %u positions "
                             "(n_ctx %u / n_seq_max %u)",
                             (long long)p, (int)s, c->kv.n_ctx_seq, c->kv.n_ctx, c->kv.n_seq);
        c->seq[i] = s;
        c->pos[i] = (int32_t)p;
        count[s]++;
    }
    /* Stable counting sort by sequence. */
    int32_t start = 0;
    for (int32_t s = 0; s < n_seq; s++) {
        const int32_t k = count[s];
        count[s] = start;
        start += k;
    }
    for (int32_t i = 0; i < n; i++) {
        c->rank[i] = count[c->seq[i]]++;
        c->order[c->rank[i]] = i;
    }
    /* want_logits NULL: the last token of each sequence in the batch. */
    int32_t row = 0;
    for (int32_t k = 0; k < n; k++) {
        const int32_t i = c->order[k];
        const int last_of_seq = k == n - 1 || c->seq[c->order[k + 1]] != c->seq[i];
        c->logit_row[i] = (b->want_logits ? b->want_logits[i] != 0 : last_of_seq) ? row++ : -1;
    }
    *n_rows = row;
    return INFER_OK;
}

/* The logits buffer on the backend grows to the largest number of wanted rows seen. */
static infer_status reserve_logits(infer_ctx *c, int32_t rows, infer_error *err) {
    if (rows <= c->logits_buf_rows) return INFER_OK;
    infer_backend *be = c->be;
    if (c->logits_buf) be->ops->release(be, c->logits_buf);
    c->logits_buf = NULL;
    c->logits_buf_rows = 0;
    size_t bytes = (size_t)rows * c->m->hp.n_vocab * sizeof(float);
    infer_status st = be->ops->alloc(be, bytes, &c->logits_buf);
    if (st != INFER_OK) return infer_err(err, st, "cannot allocate %zu bytes for logits", bytes);
    c->logits_buf_rows = rows;
    return INFER_OK;
}

/* Runs tokens [k0, k0 + len) of the run order as one forward step. */
static infer_status run_step(infer_ctx *c, int32_t k0, int32_t len, infer_error *e) {
    const int32_t n_vocab = (int32_t)c->m->hp.n_vocab;
    int32_t n_out = 0, first_row = -1, n_runs = 0;
    for (int32_t t = 0; t < len; t++) {
        const int32_t i = c->order[k0 + t];
        c->run_tok[k0 + t] = c->tok_of[i];
        c->run_pos[k0 + t] = c->pos[i];
        if (n_runs == 0 || c->runs[n_runs - 1].seq != (uint32_t)c->seq[i])
            c->runs[n_runs++] = (infer_seq_run){.t0 = t, .n = 0, .seq = (uint32_t)c->seq[i], .n_kv = 0};
        infer_seq_run *r = &c->runs[n_runs - 1];
        r->n++;
        if (c->pos[i] + 1 > r->n_kv) r->n_kv = c->pos[i] + 1;
        if (c->logit_row[i] < 0) continue;
        if (first_row < 0) first_row = c->logit_row[i];
        c->out_ids[n_out++] = t;
    }
    infer_step s = {
        .tokens = c->run_tok + k0,
        .pos = c->run_pos + k0,
        .n = len,
        .runs = c->runs,
        .n_runs = n_runs,
        .out_ids = c->out_ids,
        .n_out = n_out,
        .logits_out = n_out ? c->logits + (size_t)first_row * n_vocab : NULL,
        .embd_out = c->p.embeddings ? c->embd + (size_t)k0 * c->m->hp.n_embd : NULL,
    };
    infer_status st = reserve_logits(c, n_out > 0 ? n_out : 1, e);
    if (st != INFER_OK) return st;
    const infer_fwd_env env = {
        .m = c->m,
        .place = &c->place,
        .side = c->side,
        .kv = &c->kv,
        .xfer = c->xfer,
        .xfer_floats = c->xfer_floats,
        .logits = {.buf = c->logits_buf, .offset = 0, .type = INFER_TYPE_F32},
        .abort_fn = c->abort_fn,
        .abort_user = c->abort_user,
        .dump_dir = c->dump_dir,
    };
    return infer_forward_step(&env, &s, e);
}

/* Records the step's tokens in their sequences (length, token per position). */
static void commit_step(infer_ctx *c, int32_t k0, int32_t len) {
    for (int32_t t = 0; t < len; t++) {
        const int32_t i = c->order[k0 + t], s = c->seq[i], p = c->pos[i];
        int32_t *toks = infer_kv_seq_tokens(&c->kv, (uint32_t)s);
        for (int32_t q = c->kv.len[s]; q < p; q++) toks[q] = -1;   /* a skipped position */
        toks[p] = c->tok_of[i];
        if (p + 1 > c->kv.len[s]) c->kv.len[s] = p + 1;
    }
}

infer_status infer_ctx_decode_batch(infer_ctx *c, const infer_batch *b) {
    if (!c) return INFER_ERR_INVALID_ARG;
    infer_error e = {0};
    if (!b || !b->tokens || b->n_tokens <= 0)
        return fail(c, infer_err(&e, INFER_ERR_INVALID_ARG, "decode: no tokens (n = %d)", b ? (int)b->n_tokens : 0),
                    &e);
    const int32_t n = b->n_tokens;
    if (reserve_host(c, n, 0) != 0)
        return fail(c, infer_err(&e, INFER_ERR_NOMEM, "decode: out of memory for %d tokens", (int)n), &e);
    int32_t n_rows = 0;
    infer_status st = plan(c, b, &n_rows, &e);
    if (st != INFER_OK) return fail(c, st, &e);
    if (reserve_host(c, n, n_rows) != 0)
        return fail(c, infer_err(&e, INFER_ERR_NOMEM, "decode: out of memory for the logits of %d tokens", (int)n_rows),
                    &e);
    c->tok_of = b->tokens;
    c->n_last = 0;

    /* What a failure part-way must restore: each sequence's length before the call, cut
     * at the lowest position the call rewrites (rows below the old length it overwrote). */
    const int32_t n_seq = (int32_t)c->kv.n_seq;
    int32_t *len0 = c->seq_scratch + n_seq, *low = c->seq_scratch + 2 * n_seq;
    for (int32_t s = 0; s < n_seq; s++) {
        len0[s] = c->kv.len[s];
        low[s] = INT32_MAX;
    }
    for (int32_t i = 0; i < n; i++)
        if (c->pos[i] < low[c->seq[i]]) low[c->seq[i]] = c->pos[i];

    for (int32_t k0 = 0; k0 < n; k0 += (int32_t)c->p.n_batch) {
        const int32_t len = n - k0 < (int32_t)c->p.n_batch ? n - k0 : (int32_t)c->p.n_batch;
        st = run_step(c, k0, len, &e);
        if (st != INFER_OK) {
            for (int32_t s = 0; s < n_seq; s++) c->kv.len[s] = len0[s] < low[s] ? len0[s] : low[s];
            c->tok_of = NULL;
            return fail(c, st, &e);
        }
        commit_step(c, k0, len);
    }
    c->tok_of = NULL;
    if (c->p.embeddings) pool_embeddings(c, n);
    c->n_last = n;
    c->last_error[0] = 0;
    return INFER_OK;
}

infer_status infer_ctx_decode(infer_ctx *c, const int32_t *tokens, const int32_t *pos, const int8_t *want_logits,
                              int32_t n) {
    infer_batch b = {.n_tokens = n, .tokens = tokens, .pos = pos, .seq_id = NULL, .want_logits = want_logits};
    return infer_ctx_decode_batch(c, &b);
}

const float *infer_ctx_logits(const infer_ctx *c, int32_t i) {
    if (!c || i < 0 || i >= c->n_last || c->logit_row[i] < 0) return NULL;
    return c->logits + (size_t)c->logit_row[i] * c->m->hp.n_vocab;
}

const float *infer_ctx_embeddings(const infer_ctx *c, int32_t i) {
    if (!c || !c->p.embeddings || i < 0 || i >= c->n_last) return NULL;
    return c->embd + (size_t)c->rank[i] * c->m->hp.n_embd;   /* rows are in run order */
}

const float *infer_ctx_embeddings_seq(const infer_ctx *c, int32_t seq) {
    if (!c || !c->p.embeddings || c->p.pooling == INFER_POOLING_NONE || seq < 0 || (uint32_t)seq >= c->kv.n_seq ||
        !c->n_last || !c->embd_seq_set[seq])
        return NULL;
    return c->embd_seq + (size_t)seq * c->m->hp.n_embd;
}
