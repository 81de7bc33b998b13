/* Mirostat 2.0 (Basu et al., "Mirostat: a neural text decoding algorithm that directly
 * controls perplexity", 2021, algorithm 2): keep the tokens whose surprise -log2 p is at
 * most mu (at least the best one), draw among them, then move mu by eta times the
 * difference between the target surprise tau and the drawn token's surprise. */
#include "sample/stage.h"

#include <math.h>
#include <stdlib.h>

typedef struct mirostat2 {
    float tau, eta, mu;
} mirostat2;

static void m2_free(sampler_stage *st) { free(st->state); }
static void m2_reset(sampler_stage *st) {
    mirostat2 *m = st->state;
    m->mu = 2.0f * m->tau;
}

static infer_status m2_apply(sampler_stage *st, const stage_env *env, cand_list *l) {
    mirostat2 *m = st->state;
    if (!l->sorted) infer_cand_sort(l->c, l->n);
    l->sorted = 1;
    l->identity = 0;
    /* Softmax probabilities of the (sorted) candidates. */
    float max_logit = l->c[0].logit;
    if (!isfinite(max_logit)) {
        l->picked = l->c[0].id;
        return INFER_OK;
    }
    double z = 0.0;
    for (size_t i = 0; i < l->n; i++) z += exp((double)l->c[i].logit - max_logit);
    size_t keep = 1;
    while (keep < l->n) {
        double p = exp((double)l->c[keep].logit - max_logit) / z;
        if (!(p > 0.0) || -log2(p) > m->mu) break;
        keep++;
    }
    l->n = keep;
    int32_t tok = infer_cand_draw(env->rng, l->c, l->n);
    double z_kept = 0.0, w_tok = 0.0;
    for (size_t i = 0; i < l->n; i++) {
        double w = exp((double)l->c[i].logit - max_logit);
        z_kept += w;
        if (l->c[i].id == tok) w_tok = w;
    }
    double surprise = w_tok > 0.0 ? -log2(w_tok / z_kept) : 0.0;
    m->mu -= m->eta * (float)(surprise - m->tau);
    l->picked = tok;
    return INFER_OK;
}

const stage_ops infer_stage_mirostat2_ops = {.name = "mirostat-v2", .apply = m2_apply, .reset = m2_reset, .free = m2_free};

infer_status infer_stage_mirostat2_make(sampler_stage *st, float tau, float eta) {
    mirostat2 *m = malloc(sizeof *m);
    if (!m) return INFER_ERR_NOMEM;
    m->tau = tau;
    m->eta = eta;
    m->mu = 2.0f * tau;
    st->ops = &infer_stage_mirostat2_ops;
    st->state = m;
    return INFER_OK;
}
