/* Log-probabilities of a logits row: log-softmax at temperature 1, the top-n by a
 * bounded heap (candidates.c), never a full sort. */
#include "core/error.h"
#include "sample/candidates.h"

#include <math.h>
#include <stdlib.h>

infer_status infer_logprobs(const float *logits, int32_t n_vocab, int32_t tok, float *tok_logprob,
                            infer_token_logprob *top, int32_t top_n, int32_t *n_top) {
    if (n_top) *n_top = 0;
    if (!logits || n_vocab <= 0 || (top_n > 0 && !top) || top_n < 0) return INFER_ERR_INVALID_ARG;
    if (tok_logprob && (tok < 0 || tok >= n_vocab)) return INFER_ERR_INVALID_ARG;
    float max = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++)
        if (logits[i] > max) max = logits[i];   /* NaN compares false: skipped */
    double z = 0.0;
    if (isfinite(max))
        for (int32_t i = 0; i < n_vocab; i++)
            if (!isnan(logits[i])) z += exp((double)logits[i] - max);
    double log_z = isfinite(max) ? (double)max + log(z) : 0.0;
    /* With no finite maximum every token is equally (un)likely: report -inf. */
#define LOGP(x) (isfinite(max) && !isnan(x) ? (float)((double)(x) - log_z) : -INFINITY)
    if (tok_logprob) *tok_logprob = LOGP(logits[tok]);
    if (top_n == 0) return INFER_OK;
    int32_t k = top_n < n_vocab ? top_n : n_vocab;
    infer_cand *c = malloc((size_t)n_vocab * sizeof *c);
    if (!c) return INFER_ERR_NOMEM;
    for (int32_t i = 0; i < n_vocab; i++) {
        c[i].id = i;
        c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
    }
    infer_cand_top_k(c, (size_t)n_vocab, (size_t)k);
    for (int32_t i = 0; i < k; i++) {
        top[i].token = c[i].id;
        top[i].logprob = LOGP(c[i].logit);
    }
#undef LOGP
    free(c);
    if (n_top) *n_top = k;
    return INFER_OK;
}
