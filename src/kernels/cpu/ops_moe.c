/* Mixture-of-experts block (gpt-oss style) for a batch, as grouped matrix products:
 *   route:   per token, the k largest router logits; weights = softmax over those k;
 *            the token's input row is converted once into the gate/up kernels' act format;
 *   group:   a counting sort by expert lines up each expert's (token, slot) pairs, and
 *            the converted rows are gathered into that order (bytes copied, never
 *            re-converted), so expert e's tokens are rows [start[e], start[e+1]);
 *   gate/up: work items are (expert, block of MOE_ROWS weight rows, MOE_DECODE_ROWS when generating); each runs the gate
 *            and up rows over all the expert's tokens with the dense path's tiled kernels
 *            (infer_cpu_matmul_plan_rows: weights decoded once per tile of tokens, AMX
 *            tiles when the type has them), then adds the biases and applies the GLU on
 *            that block while it is in cache;
 *   down:    the GLU rows are converted once each, then (expert, row block) items again;
 *   mix:     out[t] = sum over slots s (in routing order) of w[t][s] * expert(x[t]).
 * Items are claimed from a shared counter, so both threads stay busy even when one expert
 * has few tokens, and a preempted thread's share is taken over by the other.
 * Expert e's weights are the e-th slab of the 3-D tensors: rows start at
 * e * rows * row_bytes. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>
#include "kernels/cpu/ops.h"
#include "tensor/dtype.h"
#include "core/error.h"

#define MOE_ROWS 64          /* weight rows per work item (a multiple of AMX's 16) */
/* Generation (a few tokens): the one-token kernels stream each item's rows from memory,
 * and a short call spends a larger share starting its streams (MXFP4 rows of 1.5 KB:
 * 64-row calls 11-12 GB/s per core, 256-row calls 13-14; bench/RESULTS.md, "row streams
 * for the 32-weight kernels"); 256 rows still give 45+ items per phase for gpt-oss's 4
 * experts, enough for both threads to finish together. */
#define MOE_DECODE_ROWS 256
#define MOE_DECODE_MAX_TOKENS 4
#define MOE_SERIAL_ROWS 8    /* below this many (token, slot) rows, the light phases skip the pool */

void infer_cpu_moe_route(const float *logits, int32_t n_expert, int32_t k, int32_t *ids, float *w) {
    for (int32_t s = 0; s < k; s++) {
        int32_t best = -1;
        for (int32_t e = 0; e < n_expert; e++) {
            bool taken = false;
            for (int32_t q = 0; q < s; q++) taken |= ids[q] == e;
            /* NaN logits never win; strict > keeps the lower index on ties. */
            if (!taken && (best < 0 || logits[e] > logits[best])) best = e;
        }
        ids[s] = best;
    }
    const float mx = logits[ids[0]];
    double sum = 0.0;
    for (int32_t s = 0; s < k; s++) sum += exp((double)logits[ids[s]] - mx);
    for (int32_t s = 0; s < k; s++) w[s] = (float)(exp((double)logits[ids[s]] - mx) / sum);
}

typedef struct {
    const infer_cpu_moe_args *a;
    infer_threadpool *tp;
    infer_cpu_matmul_plan gate, up, down;
    int share_gu;                /* gate and up read the same converted rows */
    int64_t T, TK;
    int32_t *ids;                /* T*K: expert of (token, slot) */
    float *w;                    /* T*K: its mixing weight */
    int32_t *start;              /* NE+1: expert e's grouped rows are [start[e], start[e+1]) */
    int32_t *grouped;            /* TK: grouped row -> token*K + slot */
    int32_t *where;              /* TK: token*K + slot -> grouped row */
    int32_t *active;             /* experts with tokens, n_active of them */
    int32_t n_active;
    char *xq_g, *xq_u;           /* T converted input rows (gate's format; up's if it differs) */
    char *xg_g, *xg_u;           /* TK gathered rows */
    float *h;                    /* TK x n_ff: GLU output */
    char *hq;                    /* TK converted GLU rows (down's format) */
    float *y;                    /* TK x n_embd: expert outputs */
    float *part_buf;             /* per part: 2 x T x item_rows floats (gate and up blocks) */
    int64_t item_rows;           /* weight rows per work item: MOE_ROWS, or MOE_DECODE_ROWS for generation */
    int64_t part_floats;
    int64_t chunks_ff, chunks_embd;
    atomic_llong next;           /* next work item of the running phase */
} moe_job;

static const void *expert_slab(const void *w, const infer_cpu_matmul_plan *p, int32_t e, int64_t rows) {
    return (const uint8_t *)w + (size_t)e * (size_t)rows * p->row_bytes;
}

/* Phase 1, per token: route and convert the input row once. */
static void route_task(void *arg, int ith, int nth) {
    moe_job *j = arg;
    const infer_cpu_moe_args *a = j->a;
    long lo, hi;
    infer_split_range((long)j->T, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++) {
        infer_cpu_moe_route(a->router + t * a->n_expert, a->n_expert, a->k, j->ids + t * a->k, j->w + t * a->k);
        const float *x = a->x + t * a->n_embd;
        infer_cpu_matmul_plan_convert(&j->gate, x, j->xq_g + (size_t)t * j->gate.xs);
        if (!j->share_gu) infer_cpu_matmul_plan_convert(&j->up, x, j->xq_u + (size_t)t * j->up.xs);
    }
}

/* Phase 2, per grouped row: copy the token's converted row(s) into expert order. */
static void gather_task(void *arg, int ith, int nth) {
    moe_job *j = arg;
    const int32_t K = j->a->k;
    long lo, hi;
    infer_split_range((long)j->TK, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) {
        const int64_t t = j->grouped[i] / K;
        memcpy(j->xg_g + (size_t)i * j->gate.xs, j->xq_g + (size_t)t * j->gate.xs, j->gate.xs);
        if (!j->share_gu) memcpy(j->xg_u + (size_t)i * j->up.xs, j->xq_u + (size_t)t * j->up.xs, j->up.xs);
    }
}

/* Item c of a phase whose experts are cut into `chunks` row blocks of item_rows. */
static int claim(moe_job *j, int64_t chunks, int64_t rows, int32_t *e, int64_t *r0, int64_t *r1) {
    if (infer_threadpool_cancelled(j->tp)) return 0;
    const int64_t c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
    if (c >= (int64_t)j->n_active * chunks) return 0;
    *e = j->active[c / chunks];
    *r0 = (c % chunks) * j->item_rows;
    *r1 = *r0 + j->item_rows < rows ? *r0 + j->item_rows : rows;
    return 1;
}

/* Phase 3: gate and up rows [r0,r1) of one expert over its tokens, + bias, GLU into h. */
static void gate_up_task(void *arg, int ith, int nth) {
    (void)nth;
    moe_job *j = arg;
    const infer_cpu_moe_args *a = j->a;
    const int64_t F = a->n_ff;
    float *g = j->part_buf + (size_t)ith * (size_t)j->part_floats;
    float *u = g + j->part_floats / 2;
    int32_t e;
    int64_t r0, r1;
    while (claim(j, j->chunks_ff, F, &e, &r0, &r1)) {
        const int64_t n = j->start[e + 1] - j->start[e], nr = r1 - r0;
        const char *xg = j->xg_g + (size_t)j->start[e] * j->gate.xs;
        const char *xu = j->share_gu ? j->xg_g + (size_t)j->start[e] * j->gate.xs
                                     : j->xg_u + (size_t)j->start[e] * j->up.xs;
        /* the block's rows as a matrix of their own: g and u are n x nr */
        const uint8_t *wg = (const uint8_t *)expert_slab(a->w_gate, &j->gate, e, F) + (size_t)r0 * j->gate.row_bytes;
        const uint8_t *wu = (const uint8_t *)expert_slab(a->w_up, &j->up, e, F) + (size_t)r0 * j->up.row_bytes;
        infer_cpu_matmul_plan_rows(&j->gate, wg, 0, nr, xg, n, g, nr);
        infer_cpu_matmul_plan_rows(&j->up, wu, 0, nr, xu, n, u, nr);
        for (int64_t i = 0; i < n; i++) {
            float *gi = g + i * nr, *ui = u + i * nr;
            if (a->b_gate)
                for (int64_t r = 0; r < nr; r++) gi[r] += a->b_gate[(size_t)e * F + r0 + r];
            if (a->b_up)
                for (int64_t r = 0; r < nr; r++) ui[r] += a->b_up[(size_t)e * F + r0 + r];
            infer_cpu_glu_serial(a->glu, gi, ui, nr, a->alpha, a->limit,
                                 j->h + (size_t)(j->start[e] + i) * F + r0);
        }
    }
}

/* Phase 4, per grouped row: convert the GLU output once for the down projection. */
static void convert_h_task(void *arg, int ith, int nth) {
    moe_job *j = arg;
    long lo, hi;
    infer_split_range((long)j->TK, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++)
        infer_cpu_matmul_plan_convert(&j->down, j->h + (size_t)i * j->a->n_ff, j->hq + (size_t)i * j->down.xs);
}

/* Phase 5: down rows [r0,r1) of one expert over its tokens, + bias, into y. */
static void down_task(void *arg, int ith, int nth) {
    (void)ith;
    (void)nth;
    moe_job *j = arg;
    const infer_cpu_moe_args *a = j->a;
    const int64_t E = a->n_embd;
    int32_t e;
    int64_t r0, r1;
    while (claim(j, j->chunks_embd, E, &e, &r0, &r1)) {
        const int64_t n = j->start[e + 1] - j->start[e];
        float *y = j->y + (size_t)j->start[e] * E;
        infer_cpu_matmul_plan_rows(&j->down, expert_slab(a->w_down, &j->down, e, E), r0, r1,
                                   j->hq + (size_t)j->start[e] * j->down.xs, n, y, E);
        if (a->b_down)
            for (int64_t i = 0; i < n; i++)
                for (int64_t r = r0; r < r1; r++) y[i * E + r] += a->b_down[(size_t)e * E + r];
    }
}

/* Phase 6, per token: weighted sum in slot order, so the result does not depend on
 * expert order or on how the work was split. */
static void mix_task(void *arg, int ith, int nth) {
    moe_job *j = arg;
    const infer_cpu_moe_args *a = j->a;
    const int64_t E = a->n_embd;
    const int32_t K = a->k;
    long lo, hi;
    infer_split_range((long)j->T, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++) {
        float *o = a->out + t * E;
        for (int64_t i = 0; i < E; i++) o[i] = 0.0f;
        for (int32_t s = 0; s < K; s++) {
            const float ws = j->w[t * K + s];
            const float *y = j->y + (size_t)j->where[t * K + s] * E;
            for (int64_t i = 0; i < E; i++) o[i] += ws * y[i];
        }
    }
}

/* Light phases run on the calling thread when there is too little work to wake the pool. */
static void run_light(moe_job *j, infer_task_fn fn) {
    if (j->TK < MOE_SERIAL_ROWS) fn(j, 0, 1);
    else infer_threadpool_run(j->tp, fn, j);
}

static void run_items(moe_job *j, infer_task_fn fn) {
    atomic_store_explicit(&j->next, 0, memory_order_relaxed);
    infer_threadpool_run(j->tp, fn, j);
}

/* Counting sort of (token, slot) by expert; keeps each expert's rows in token order. */
static void group_by_expert(moe_job *j, int32_t NE) {
    int32_t *start = j->start;
    memset(start, 0, sizeof(int32_t) * (size_t)(NE + 1));
    for (int64_t i = 0; i < j->TK; i++) start[j->ids[i] + 1]++;
    for (int32_t e = 0; e < NE; e++) start[e + 1] += start[e];
    for (int64_t i = 0; i < j->TK; i++) {
        const int32_t g = start[j->ids[i]]++;
        j->grouped[g] = (int32_t)i;
        j->where[i] = g;
    }
    for (int32_t e = NE; e > 0; e--) start[e] = start[e - 1];   /* undo the advance */
    start[0] = 0;
    j->n_active = 0;
    for (int32_t e = 0; e < NE; e++)
        if (start[e + 1] > start[e]) j->active[j->n_active++] = e;
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

infer_status infer_cpu_moe(infer_threadpool *tp, infer_cpu_scratch *scratch, infer_cpu_ws *ws,
                           const infer_cpu_moe_args *a, infer_error *err) {
    /* converted rows live in ws, next to the grouping they belong to; scratch gives the
     * plan settings */
    const int64_t T = a->n_tok, E = a->n_embd, F = a->n_ff;
    const int32_t K = a->k, NE = a->n_expert;
    if (NE <= 0 || K <= 0 || K > NE || T < 0 || E <= 0 || F <= 0)
        return infer_err(err, INFER_ERR_INVALID_ARG, "moe: bad shape (n_tok %lld, n_embd %lld, n_ff %lld, n_expert %d, k %d)",
                         (long long)T, (long long)E, (long long)F, NE, K);
    moe_job j = {.a = a, .tp = tp, .T = T, .TK = T * K};
    const uint32_t types[3] = { a->w_gate_type, a->w_up_type, a->w_down_type };
    const int64_t cols[3] = { E, E, F };
    infer_cpu_matmul_plan *plans[3] = { &j.gate, &j.up, &j.down };
    for (int i = 0; i < 3; i++)
        if (infer_dtype_row_bytes(types[i], cols[i]) == 0 || infer_cpu_matmul_plan_init(plans[i], types[i], cols[i], infer_cpu_scratch_opts(scratch)) != 0)
            return infer_err(err, INFER_ERR_UNSUPPORTED, "moe: %s weights of type %u cannot hold rows of %lld",
                             i == 0 ? "gate" : i == 1 ? "up" : "down", types[i], (long long)cols[i]);
    if (T == 0) return INFER_OK;
    if (T > INT32_MAX / K) return infer_err(err, INFER_ERR_INVALID_ARG, "moe: %lld tokens x %d experts too many", (long long)T, K);
    j.share_gu = j.gate.act == j.up.act && j.gate.quantize == j.up.quantize;
    j.item_rows = T <= MOE_DECODE_MAX_TOKENS ? MOE_DECODE_ROWS : MOE_ROWS;
    j.chunks_ff = (F + j.item_rows - 1) / j.item_rows;
    j.chunks_embd = (E + j.item_rows - 1) / j.item_rows;
    const int nth = infer_threadpool_size(tp);
    j.part_floats = 2 * T * j.item_rows;

    /* One workspace, 64-byte aligned pieces (converted rows are read with wide loads). */
    const size_t TK = (size_t)j.TK;
    const size_t sizes[] = {
        TK * 4, TK * 4, (size_t)(NE + 1) * 4, TK * 4, TK * 4, (size_t)NE * 4,          /* ids w start grouped where active */
        (size_t)T * j.gate.xs, j.share_gu ? 0 : (size_t)T * j.up.xs,                  /* xq_g xq_u */
        TK * j.gate.xs, j.share_gu ? 0 : TK * j.up.xs,                                 /* xg_g xg_u */
        TK * (size_t)F * 4, TK * j.down.xs, TK * (size_t)E * 4,                        /* h hq y */
        (size_t)nth * (size_t)j.part_floats * 4,                                       /* part_buf */
    };
    enum { N_PIECES = sizeof sizes / sizeof sizes[0] };
    size_t total = 0;
    for (int i = 0; i < N_PIECES; i++) total += align64(sizes[i]);
    uint8_t *base = infer_cpu_ws_get(ws, total + 64);
    if (!base) return infer_err(err, INFER_ERR_NOMEM, "moe: out of memory for %lld tokens", (long long)T);
    void *piece[N_PIECES];
    size_t off = 0;
    for (int i = 0; i < N_PIECES; i++) {
        piece[i] = base + off;
        off += align64(sizes[i]);
    }
    j.ids = piece[0]; j.w = piece[1]; j.start = piece[2]; j.grouped = piece[3]; j.where = piece[4];
    j.active = piece[5]; j.xq_g = piece[6]; j.xq_u = piece[7]; j.xg_g = piece[8]; j.xg_u = piece[9];
    j.h = piece[10]; j.hq = piece[11]; j.y = piece[12]; j.part_buf = piece[13];

    run_light(&j, route_task);
    for (int64_t i = 0; i < j.TK; i++)
        if (j.ids[i] < 0 || j.ids[i] >= NE)   /* k > number of non-NaN logits */
            return infer_err(err, INFER_ERR_INVALID_ARG, "moe: token %lld has no valid router logit for slot %lld",
                             (long long)(i / K), (long long)(i % K));
    group_by_expert(&j, NE);
    run_light(&j, gather_task);
    run_items(&j, gate_up_task);
    if (infer_threadpool_cancelled(tp)) return infer_err(err, INFER_ERR_CANCELLED, "decode cancelled by the abort callback");
    run_light(&j, convert_h_task);
    run_items(&j, down_task);
    if (infer_threadpool_cancelled(tp)) return infer_err(err, INFER_ERR_CANCELLED, "decode cancelled by the abort callback");
    run_light(&j, mix_task);
    return INFER_OK;
}
