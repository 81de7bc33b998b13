/* Repetition penalties over the last last_n accepted tokens (llama.cpp's rules): a
 * positive logit is divided by `repeat`, a negative one multiplied; then
 * logit -= count * frequency + (count > 0) * presence. */
#include "sample/stage.h"

#include <stdlib.h>
#include <string.h>

typedef struct penalties {
    float repeat, frequency, presence;
    int32_t n_vocab;
    /* Ring buffer of the last `cap` accepted tokens. */
    int32_t *window;       /* (cap) token ids, oldest at head when full */
    int32_t cap, len, head;
    int32_t *counts;       /* (n_vocab) occurrences of each token inside the window */
    uint32_t *stamp;       /* (n_vocab) call number at which a token was last penalized */
    uint32_t call;
} penalties;

static void pen_free(sampler_stage *st) {
    penalties *p = st->state;
    if (p) {
        free(p->window);
        free(p->counts);
        free(p->stamp);
    }
    free(p);
}

static void pen_reset(sampler_stage *st) {
    penalties *p = st->state;
    memset(p->counts, 0, (size_t)p->n_vocab * sizeof *p->counts);
    p->len = 0;
    p->head = 0;
}

static infer_status pen_accept(sampler_stage *st, const stage_env *env, int32_t tok, int generated) {
    (void)env;
    (void)generated;
    penalties *p = st->state;
    if (p->len == p->cap) p->counts[p->window[p->head]]--;   /* the oldest token leaves */
    else p->len++;
    p->window[p->head] = tok;
    p->counts[tok]++;
    p->head = (p->head + 1) % p->cap;
    return INFER_OK;
}

static float penalize(const penalties *p, float l, int32_t count) {
    l = l <= 0.0f ? l * p->repeat : l / p->repeat;
    return l - ((float)count * p->frequency + p->presence);
}

static infer_status pen_apply(sampler_stage *st, const stage_env *env, cand_list *l) {
    (void)env;
    penalties *p = st->state;
    if (p->len == 0) return INFER_OK;
    if (!l->identity) {
        for (size_t i = 0; i < l->n; i++) {
            int32_t cnt = p->counts[l->c[i].id];
            if (cnt > 0) l->c[i].logit = penalize(p, l->c[i].logit, cnt);
        }
        l->sorted = 0;
        return INFER_OK;
    }
    if (++p->call == 0) {   /* stamp wrap-around: forget old stamps */
        memset(p->stamp, 0, (size_t)p->n_vocab * sizeof *p->stamp);
        p->call = 1;
    }
    for (int32_t w = 0; w < p->len; w++) {
        int32_t t = p->window[w];
        if (p->stamp[t] == p->call) continue;   /* each distinct token once */
        p->stamp[t] = p->call;
        l->c[t].logit = penalize(p, l->c[t].logit, p->counts[t]);
    }
    return INFER_OK;
}

const stage_ops infer_stage_penalties_ops = {
    .name = "penalties", .pointwise = 1, .apply = pen_apply, .accept = pen_accept, .reset = pen_reset, .free = pen_free};

infer_status infer_stage_penalties_make(sampler_stage *st, int32_t n_vocab, int32_t last_n, float repeat,
                                        float frequency, float presence) {
    penalties *p = calloc(1, sizeof *p);
    if (!p) return INFER_ERR_NOMEM;
    st->ops = &infer_stage_penalties_ops;
    st->state = p;
    p->repeat = repeat;
    p->frequency = frequency;
    p->presence = presence;
    p->n_vocab = n_vocab;
    p->cap = last_n;
    p->window = malloc((size_t)last_n * sizeof *p->window);
    p->counts = calloc((size_t)n_vocab, sizeof *p->counts);
    p->stamp = calloc((size_t)n_vocab, sizeof *p->stamp);
    if (!p->window || !p->counts || !p->stamp) {
        pen_free(st);
        return INFER_ERR_NOMEM;
    }
    return INFER_OK;
}
