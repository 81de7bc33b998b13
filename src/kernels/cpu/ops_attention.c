/* Causal multi-head attention over the KV cache: GQA, sliding window, sinks, F32/F16
 * cache. The work is cut into tiles of query rows that share one KV head (the heads of a
 * GQA group, times a few consecutive tokens for prompts), so each key and value row is
 * loaded once per tile; tiles are handed to threads dynamically, largest first, because
 * causal tiles late in a prompt see many more keys than early ones.
 *
 * A row's result does not depend on its tile mates (see ops_attention_tile.inc), so a
 * batch equals token-by-token decoding bit for bit, except where decode splits a long
 * key range across threads (more threads than tiles, >= 512 keys): the merge of the
 * partial softmax states rounds differently (relative differences ~1e-7).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include "kernels/cpu/ops.h"
#include "kernels/cpu/cpu_features.h"
#include "tensor/dtype.h"
#include "core/error.h"

/* ---- the portable tile kernel */
static float vdot(const float *a, const float *b, int n) {
    /* Eight partial sums: vectorizable without reassociation flags, and a shorter
     * rounding chain than one running sum. */
    float s[8] = { 0 };
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += a[i + k] * b[i + k];
    float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}
static void vscale(float *y, float a, int n) {
    for (int i = 0; i < n; i++) y[i] *= a;
}
static void vf16row(const uint16_t *src, float *dst, int n) {
    for (int i = 0; i < n; i++) dst[i] = infer_fp16_to_f32(src[i]);
}
static void kblock_scores(const float *q, const float *K, size_t ks, int jn, int D, float scale, float *s) {
    for (int j = 0; j < jn; j++) s[j] = vdot(q, K + (size_t)j * ks, D) * scale;
}
static float vexp_sum(float *s, int n, float m) {
    float sum = 0.0f;
    for (int j = 0; j < n; j++) {
        s[j] = s[j] == -INFINITY ? 0.0f : expf(s[j] - m);
        sum += s[j];
    }
    return sum;
}
static void vblock_accum(float *acc, const float *p, const float *V, size_t vs, int jn, int D) {
    for (int j = 0; j < jn; j++) {
        if (p[j] == 0.0f) continue;
        const float *v = V + (size_t)j * vs;
        for (int i = 0; i < D; i++) acc[i] += p[j] * v[i];
    }
}
#define ATTN_TILE_FN infer_cpu_attn_tile_generic
#include "ops_attention_tile.inc"

/* ---- driver */
typedef void (*attn_tile_fn)(const attn_tile *t, float *scratch);

static attn_tile_fn attn_pick_kernel(void) {
    /* The shared ISA choice (INFER_CPU_ISA can force the portable path for tests). */
    const infer_cpu_isa isa = infer_cpu_isa_active();
    if (isa >= INFER_ISA_AVX512) return infer_cpu_attn_tile_avx512;
    if (isa >= INFER_ISA_AVX2) return infer_cpu_attn_tile_avx2;
    return infer_cpu_attn_tile_generic;
}

typedef struct {
    infer_threadpool *tp;               /* polled for cancellation between tiles */
    const float *q;
    const uint8_t *k, *v;
    uint32_t kv_type;
    size_t kv_elem;
    const int32_t *pos;
    const float *sinks;
    const infer_attn_params *p;
    float *out;
    int tok_per_tile, heads_per_tile;   /* heads_per_tile divides the GQA group */
    int64_t n_tok_tiles, n_head_tiles;
    float *scratch;                     /* per thread */
    size_t scratch_floats;
    attn_tile_fn kernel;
    /* Key split (decode with fewer tiles than threads): each tile's key range is cut
     * into n_split chunks whose running states land in `partial` and are merged after. */
    int n_split;
    float *partial;                     /* tiles x n_split x rows x (head_dim + 2) */
    atomic_long next;                   /* next task index (dynamic scheduling) */
} attn_task;

static void attn_fill_tile(const attn_task *a, int64_t tok_tile, int64_t head_tile, attn_tile *t) {
    const infer_attn_params *p = a->p;
    const int group = p->n_head / p->n_head_kv;
    const int64_t t0 = tok_tile * a->tok_per_tile;
    const int64_t t1 = t0 + a->tok_per_tile < p->n_tokens ? t0 + a->tok_per_tile : p->n_tokens;
    const int h0 = (int)head_tile * a->heads_per_tile;
    const int kvh = h0 / group;
    const size_t q_row = (size_t)p->n_head * p->head_dim;

    t->head_dim = p->head_dim;
    t->scale = p->scale;
    t->kv_type = a->kv_type;
    t->kv_row_stride = (size_t)p->n_head_kv * p->head_dim;
    t->k = a->k + (size_t)kvh * p->head_dim * a->kv_elem;
    t->v = a->v + (size_t)kvh * p->head_dim * a->kv_elem;
    t->has_sink = a->sinks != NULL;
    int r = 0;
    for (int64_t tok = t0; tok < t1; tok++) {
        const int64_t ps = a->pos[tok];
        int64_t hi = ps < p->n_kv - 1 ? ps : p->n_kv - 1;
        int64_t lo = 0;
        if (p->window > 0 && ps - p->window + 1 > lo) lo = ps - p->window + 1;
        for (int h = h0; h < h0 + a->heads_per_tile; h++, r++) {
            t->q[r] = a->q + (size_t)tok * q_row + (size_t)h * p->head_dim;
            t->out[r] = a->out + (size_t)tok * q_row + (size_t)h * p->head_dim;
            t->lo[r] = lo;
            t->hi[r] = hi;
            t->sink[r] = a->sinks ? a->sinks[h] : 0.0f;
        }
    }
    t->rows = r;
    t->partial = NULL;
}

/* Union [lo, hi] of the key ranges of a tile's rows (lo > hi when none). */
static void attn_tile_range(const attn_tile *t, int64_t *lo, int64_t *hi) {
    *lo = INT64_MAX;
    *hi = -1;
    for (int r = 0; r < t->rows; r++) {
        if (t->lo[r] > t->hi[r]) continue;
        if (t->lo[r] < *lo) *lo = t->lo[r];
        if (t->hi[r] > *hi) *hi = t->hi[r];
    }
}

/* State of row r of chunk c of a tile (slots sized for a full tile). */
static float *attn_partial(const attn_task *a, int64_t tile, int c, int r) {
    const size_t rows = (size_t)a->tok_per_tile * a->heads_per_tile;
    return a->partial + (((size_t)tile * a->n_split + c) * rows + r) * (size_t)(a->p->head_dim + 2);
}

/* Restricts a tile to chunk c of n of its key range and points it at its partial slot.
 * The sink joins once, at the merge. */
static void attn_tile_chunk(const attn_task *a, attn_tile *t, int64_t tile, int c) {
    int64_t lo, hi;
    attn_tile_range(t, &lo, &hi);
    const int64_t len = hi >= lo ? hi - lo + 1 : 0;
    const int64_t c0 = lo + len * c / a->n_split, c1 = lo + len * (c + 1) / a->n_split - 1;
    for (int r = 0; r < t->rows; r++) {
        if (t->lo[r] < c0) t->lo[r] = c0;
        if (t->hi[r] > c1) t->hi[r] = c1;
    }
    t->has_sink = 0;
    t->partial = attn_partial(a, tile, c, 0);
}

/* out = merge of the chunk states (and the sink) of every row of a tile. */
static void attn_merge(const attn_task *a, int64_t tile, const attn_tile *t) {
    const int D = a->p->head_dim;
    for (int r = 0; r < t->rows; r++) {
        float m = t->has_sink ? t->sink[r] : -INFINITY;
        for (int c = 0; c < a->n_split; c++) {
            const float *st = attn_partial(a, tile, c, r);
            if (st[1] > 0.0f && st[0] > m) m = st[0];
        }
        float *o = t->out[r];
        for (int i = 0; i < D; i++) o[i] = 0.0f;
        float l = t->has_sink && m != -INFINITY ? expf(t->sink[r] - m) : 0.0f;
        for (int c = 0; c < a->n_split; c++) {
            const float *st = attn_partial(a, tile, c, r);
            if (!(st[1] > 0.0f)) continue;
            const float f = expf(st[0] - m);
            l += st[1] * f;
            for (int i = 0; i < D; i++) o[i] += st[2 + i] * f;
        }
        const float inv = l > 0.0f ? 1.0f / l : 0.0f;
        for (int i = 0; i < D; i++) o[i] *= inv;
    }
}

static void attn_worker(void *arg, int ith, int nth) {
    attn_task *a = arg;
    float *scratch = a->scratch + (size_t)ith * a->scratch_floats;
    const int64_t n_tasks = a->n_tok_tiles * a->n_head_tiles * a->n_split;
    attn_tile t;
    for (;;) {
        if (infer_threadpool_cancelled(a->tp)) break;
        const long i = atomic_fetch_add_explicit(&a->next, 1, memory_order_relaxed);
        if (i >= n_tasks) break;
        const int64_t tile = i / a->n_split;
        /* Last token tiles first: they see the most keys. */
        const int64_t tok_tile = a->n_tok_tiles - 1 - tile / a->n_head_tiles;
        attn_fill_tile(a, tok_tile, tile % a->n_head_tiles, &t);
        if (a->n_split > 1) attn_tile_chunk(a, &t, tile, (int)(i % a->n_split));
        a->kernel(&t, scratch);
    }
    (void)nth;
}

static void attn_merge_worker(void *arg, int ith, int nth) {
    attn_task *a = arg;
    const int64_t n_tiles = a->n_tok_tiles * a->n_head_tiles;
    long lo, hi;
    infer_split_range((long)n_tiles, ith, nth, &lo, &hi);
    attn_tile t;
    for (long tile = lo; tile < hi; tile++) {
        attn_fill_tile(a, a->n_tok_tiles - 1 - tile / a->n_head_tiles, tile % a->n_head_tiles, &t);
        attn_merge(a, tile, &t);
    }
}

infer_status infer_cpu_attention(infer_threadpool *tp, infer_cpu_ws *ws, const float *q,
                                 const void *k, const void *v, uint32_t kv_type,
                                 const int32_t *pos, const float *sinks,
                                 const infer_attn_params *p, float *out, infer_error *err) {
    if (p->n_tokens < 0 || p->n_head <= 0 || p->n_head_kv <= 0 || p->head_dim <= 0 || p->n_kv < 0 ||
        p->n_head % p->n_head_kv != 0 || p->window < 0)
        return infer_err(err, INFER_ERR_INVALID_ARG,
                         "attention: bad shape (n_tokens %d, n_head %d, n_head_kv %d, head_dim %d, n_kv %d, window %d)",
                         p->n_tokens, p->n_head, p->n_head_kv, p->head_dim, p->n_kv, p->window);
    if (kv_type != INFER_TYPE_F32 && kv_type != INFER_TYPE_F16)
        return infer_err(err, INFER_ERR_UNSUPPORTED, "attention: cache type %u is not F32 or F16", kv_type);
    if (p->n_tokens == 0) return INFER_OK;
    for (int32_t t = 0; t < p->n_tokens; t++)
        if (pos[t] < 0)
            return infer_err(err, INFER_ERR_INVALID_ARG, "attention: negative position %d for token %d", pos[t], t);

    const int nth = infer_threadpool_size(tp);
    const int group = p->n_head / p->n_head_kv;
    attn_task a = {
        .tp = tp,
        .q = q, .k = k, .v = v, .kv_type = kv_type,
        .kv_elem = kv_type == INFER_TYPE_F16 ? 2 : 4,
        .pos = pos, .sinks = sinks, .p = p, .out = out,
        .kernel = attn_pick_kernel(),
    };
    /* Rows per tile: the whole GQA group (up to ATTN_MAX_ROWS), then as many tokens as
     * fit; fall back to smaller tiles only when there would be fewer tiles than threads
     * (splitting a group re-reads its keys once per part: for decode that is the cost). */
    int hpt = group;
    while (hpt > ATTN_MAX_ROWS || group % hpt != 0) hpt--;
    int tpt = ATTN_MAX_ROWS / hpt;
    if (tpt > 8) tpt = 8;
    const int64_t want = nth;
    while (tpt > 1 && ((p->n_tokens + tpt - 1) / tpt) * (p->n_head / hpt) < want) tpt /= 2;
    /* Still too few tiles with a long key range (decode deep into a context): split the
     * keys instead of the group, so each key is still read once. Short ranges are not
     * worth the merge; there, split the group. */
    const int64_t max_keys = p->window > 0 && p->window < p->n_kv ? p->window : p->n_kv;
    const int64_t tiles = ((p->n_tokens + tpt - 1) / tpt) * (p->n_head / hpt);
    a.n_split = 1;
    if (tiles < want && max_keys >= 512) {
        a.n_split = (int)((want + tiles - 1) / tiles);
        if (a.n_split > max_keys / 256) a.n_split = (int)(max_keys / 256);
    }
    while (a.n_split == 1 && hpt > 1 && (int64_t)p->n_tokens * (p->n_head / hpt) < want) {
        int h = hpt / 2;
        while (h > 1 && group % h != 0) h--;
        hpt = h;
    }
    a.tok_per_tile = tpt;
    a.heads_per_tile = hpt;
    a.n_tok_tiles = (p->n_tokens + tpt - 1) / tpt;
    a.n_head_tiles = p->n_head / hpt;
    /* Round the per-thread scratch to a cache line so threads do not share lines. */
    a.scratch_floats = (attn_tile_scratch_floats(tpt * hpt, p->head_dim) + 15) & ~(size_t)15;
    const size_t partial_floats = a.n_split > 1
        ? (size_t)(a.n_tok_tiles * a.n_head_tiles) * a.n_split * (size_t)(tpt * hpt) * (p->head_dim + 2) : 0;
    a.scratch = infer_cpu_ws_get(ws, sizeof(float) * (a.scratch_floats * (size_t)nth + partial_floats));
    if (!a.scratch) return infer_err(err, INFER_ERR_NOMEM, "attention: out of memory for scratch");
    a.partial = a.n_split > 1 ? a.scratch + a.scratch_floats * (size_t)nth : NULL;
    atomic_init(&a.next, 0);
    if (a.n_tok_tiles * a.n_head_tiles * a.n_split == 1) attn_worker(&a, 0, 1);
    else infer_threadpool_run(tp, attn_worker, &a);
    if (a.n_split > 1) attn_merge_worker(&a, 0, 1);   /* a few rows: not worth the pool */
    return INFER_OK;
}
