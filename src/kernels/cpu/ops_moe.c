/* Mixture-of-experts block (gpt-oss style) for a batch:
 *   route: per token, the k largest router logits; weights = softmax over those k;
 *   group: the batch rows routed to each expert are gathered into one matrix, so every
 *          expert's gate/up/down matmuls run once per batch on its rows;
 *   mix:   out[t] = sum over slots s (in routing order) of w[t][s] * expert(x[t]).
 * Expert e's weights are the e-th slab of the 3-D tensors: rows start at
 * e * rows * row_bytes, which infer_cpu_matmul reads in place.
 */
#include <math.h>
#include <string.h>
#include "kernels/cpu/ops.h"
#include "tensor/dtype.h"
#include "core/error.h"

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

static const void *expert_slab(const void *w, uint32_t type, int32_t e, int64_t rows, int64_t cols) {
    return (const uint8_t *)w + (size_t)e * (size_t)rows * infer_dtype_row_bytes(type, cols);
}

infer_status infer_cpu_moe(infer_threadpool *tp, infer_cpu_scratch *scratch, infer_cpu_ws *ws,
                           const infer_cpu_moe_args *a, infer_error *err) {
    const int64_t T = a->n_tok, E = a->n_embd, F = a->n_ff;
    const int32_t K = a->k, NE = a->n_expert;
    if (NE <= 0 || K <= 0 || K > NE || T < 0 || E <= 0 || F <= 0)
        return infer_err(err, INFER_ERR_INVALID_ARG, "moe: bad shape (n_tok %lld, n_embd %lld, n_ff %lld, n_expert %d, k %d)",
                         (long long)T, (long long)E, (long long)F, NE, K);
    const uint32_t types[3] = { a->w_gate_type, a->w_up_type, a->w_down_type };
    const int64_t cols[3] = { E, E, F };
    for (int i = 0; i < 3; i++)
        if (infer_dtype_row_bytes(types[i], cols[i]) == 0)
            return infer_err(err, INFER_ERR_UNSUPPORTED, "moe: %s weights of type %u cannot hold rows of %lld",
                             i == 0 ? "gate" : i == 1 ? "up" : "down", types[i], (long long)cols[i]);
    if (T == 0) return INFER_OK;

    /* Workspace layout (floats unless noted):
     *   ids   T*K int32 | w T*K | count NE int32 | rows T*K int32 (token*K+slot, grouped by expert)
     *   xe    T x E (gathered inputs) | ge, ue  T x F | ye  T x E | yk  T*K x E (expert outputs) */
    const size_t TK = (size_t)T * K;
    const size_t n_ints = TK + (size_t)NE + 1 + TK;
    const size_t n_floats = TK + (size_t)T * E + 2 * (size_t)T * F + (size_t)T * E + TK * E;
    uint8_t *base = infer_cpu_ws_get(ws, (n_ints + n_floats) * 4 + 64);
    if (!base) return infer_err(err, INFER_ERR_NOMEM, "moe: out of memory for %lld tokens", (long long)T);
    int32_t *ids = (int32_t *)base;
    int32_t *start = ids + TK;          /* NE + 1 prefix offsets into rows */
    int32_t *rows = start + NE + 1;
    float *w = (float *)(rows + TK);
    float *xe = w + TK;
    float *ge = xe + (size_t)T * E;
    float *ue = ge + (size_t)T * F;
    float *ye = ue + (size_t)T * F;
    float *yk = ye + (size_t)T * E;

    for (int64_t t = 0; t < T; t++)
        infer_cpu_moe_route(a->router + t * NE, NE, K, ids + t * K, w + t * K);

    /* Counting sort of (token, slot) by expert keeps each expert's rows in token order. */
    memset(start, 0, sizeof(int32_t) * (size_t)(NE + 1));
    for (size_t i = 0; i < TK; i++) start[ids[i] + 1]++;
    for (int32_t e = 0; e < NE; e++) start[e + 1] += start[e];
    for (size_t i = 0; i < TK; i++) rows[start[ids[i]]++] = (int32_t)i;
    for (int32_t e = NE; e > 0; e--) start[e] = start[e - 1];   /* undo the advance */
    start[0] = 0;

    for (int32_t e = 0; e < NE; e++) {
        const int64_t n = start[e + 1] - start[e];
        if (n == 0) continue;
        if (infer_threadpool_cancelled(tp))   /* between experts too, not only inside their matmuls */
            return infer_err(err, INFER_ERR_CANCELLED, "decode cancelled by the abort callback");
        const int32_t *my = rows + start[e];
        for (int64_t i = 0; i < n; i++)
            memcpy(xe + i * E, a->x + (my[i] / K) * E, sizeof(float) * (size_t)E);
        if (infer_cpu_matmul(tp, scratch, expert_slab(a->w_gate, a->w_gate_type, e, F, E), a->w_gate_type,
                             F, E, xe, n, ge) != 0 ||
            infer_cpu_matmul(tp, scratch, expert_slab(a->w_up, a->w_up_type, e, F, E), a->w_up_type,
                             F, E, xe, n, ue) != 0)
            return infer_err(err, INFER_ERR_UNSUPPORTED, "moe: expert %d gate/up matmul failed (types %u/%u)",
                             e, a->w_gate_type, a->w_up_type);
        if (a->b_gate) infer_cpu_add_bias_rows(ge, a->b_gate + (size_t)e * F, n, F);
        if (a->b_up) infer_cpu_add_bias_rows(ue, a->b_up + (size_t)e * F, n, F);
        infer_cpu_glu(tp, a->glu, ge, ue, n * F, a->alpha, a->limit, ge);
        if (infer_cpu_matmul(tp, scratch, expert_slab(a->w_down, a->w_down_type, e, E, F), a->w_down_type,
                             E, F, ge, n, ye) != 0)
            return infer_err(err, INFER_ERR_UNSUPPORTED, "moe: expert %d down matmul failed (type %u)",
                             e, a->w_down_type);
        if (a->b_down) infer_cpu_add_bias_rows(ye, a->b_down + (size_t)e * E, n, E);
        for (int64_t i = 0; i < n; i++)
            memcpy(yk + (size_t)my[i] * E, ye + i * E, sizeof(float) * (size_t)E);
    }

    /* Weighted sum in slot order, so the result does not depend on expert order. */
    for (int64_t t = 0; t < T; t++) {
        float *o = a->out + t * E;
        for (int64_t i = 0; i < E; i++) o[i] = 0.0f;
        for (int32_t s = 0; s < K; s++) {
            const float ws = w[t * K + s];
            const float *y = yk + ((size_t)t * K + s) * E;
            for (int64_t i = 0; i < E; i++) o[i] += ws * y[i];
        }
    }
    return INFER_OK;
}
