/* The stages that narrow or reshape the candidates and the picking stages:
 *   top-k        keep the k highest logits (partial selection, no full sort)
 *   top-p        keep the smallest best-first prefix whose probability mass reaches p
 *   min-p        keep tokens whose probability is at least p times the best one's
 *   temperature  divide the logits by t (t <= 0: keep only the best)
 *   greedy       pick the best
 *   dist         draw from the softmax with the chain's seeded RNG
 * Top-p without a sorted input uses a mass histogram over logit buckets and sorts only
 * the bucket where the cut falls, never the whole vocabulary. */
#include "sample/stage.h"

#include <math.h>
#include <stdlib.h>

typedef struct float_state {
    float v;
} float_state;

infer_status infer_stage_float_make(sampler_stage *st, const stage_ops *ops, float value) {
    float_state *fs = malloc(sizeof *fs);
    if (!fs) return INFER_ERR_NOMEM;
    fs->v = value;
    st->ops = ops;
    st->state = fs;
    return INFER_OK;
}

static void free_state(sampler_stage *st) { free(st->state); }
static float value_of(const sampler_stage *st) { return ((const float_state *)st->state)->v; }

/* ---- top-k */

static infer_status top_k_apply(sampler_stage *st, const stage_env *env, cand_list *l) {
    (void)env;
    size_t k = (size_t)st->k;
    if (k == 0 || k >= l->n) return INFER_OK;
    if (!l->sorted) infer_cand_top_k(l->c, l->n, k);
    l->n = k;
    l->sorted = 1;
    l->identity = 0;
    return INFER_OK;
}
const stage_ops infer_stage_top_k_ops = {.name = "top-k", .apply = top_k_apply};

/* ---- top-p */

/* Length of the smallest best-first prefix of sorted c[0..m) whose weight, added to
 * `cum`, reaches `target` (weights exp(logit - max)); 0 if it never does. */
static size_t top_p_cut(const infer_cand *c, size_t m, float max_logit, double cum, double target) {
    for (size_t i = 0; i < m; i++) {
        cum += expf(c[i].logit - max_logit);
        if (cum >= target) return i + 1;
    }
    return 0;
}

/* Logits more than TOP_P_SPAN below the best weigh < 4e-18 each: they share the last
 * bucket. */
#define TOP_P_BUCKETS 1024
#define TOP_P_SPAN 40.0f

static size_t top_p_bucket(float logit, float max_logit) {
    float d = (max_logit - logit) * (TOP_P_BUCKETS / TOP_P_SPAN);
    return d < (float)(TOP_P_BUCKETS - 1) ? (size_t)d : TOP_P_BUCKETS - 1;
}

/* Returns the kept count; the kept candidates are c[0..kept), best first only if
 * `sorted`. */
static size_t apply_top_p(infer_cand *c, size_t n, int sorted, float top_p) {
    float max_logit = c[sorted ? 0 : infer_cand_argmax(c, n)].logit;
    if (!isfinite(max_logit)) return n;   /* degenerate: let the draw decide */
    double z = 0.0;
    if (sorted) {
        for (size_t i = 0; i < n; i++) z += expf(c[i].logit - max_logit);
        size_t kept = top_p_cut(c, n, max_logit, 0.0, (double)top_p * z);
        return kept ? kept : n;
    }

    double mass[TOP_P_BUCKETS] = {0};
    for (size_t i = 0; i < n; i++) {
        float w = expf(c[i].logit - max_logit);
        mass[top_p_bucket(c[i].logit, max_logit)] += w;
        z += w;
    }
    double target = (double)top_p * z;
    size_t cut_bucket = 0;
    double above = 0.0;   /* mass of the buckets before cut_bucket */
    while (cut_bucket < TOP_P_BUCKETS - 1 && above + mass[cut_bucket] < target) above += mass[cut_bucket++];

    /* Partition: [buckets above the cut][the cut bucket][the rest]. */
    size_t n_above = 0;
    for (size_t i = 0; i < n; i++) {
        if (top_p_bucket(c[i].logit, max_logit) < cut_bucket) {
            infer_cand t = c[i];
            c[i] = c[n_above];
            c[n_above++] = t;
        }
    }
    size_t n_cut = n_above;
    for (size_t i = n_above; i < n; i++) {
        if (top_p_bucket(c[i].logit, max_logit) == cut_bucket) {
            infer_cand t = c[i];
            c[i] = c[n_cut];
            c[n_cut++] = t;
        }
    }
    infer_cand_sort(c + n_above, n_cut - n_above);
    size_t in_cut = top_p_cut(c + n_above, n_cut - n_above, max_logit, above, target);
    return n_above + (in_cut ? in_cut : n_cut - n_above);
}

static infer_status top_p_apply(sampler_stage *st, const stage_env *env, cand_list *l) {
    (void)env;
    float p = value_of(st);
    if (p >= 1.0f || l->n <= 1) return INFER_OK;
    l->n = apply_top_p(l->c, l->n, l->sorted, p > 0.0f ? p : 0.0f);
    l->identity = 0;
    return INFER_OK;
}
const stage_ops infer_stage_top_p_ops = {.name = "top-p", .apply = top_p_apply, .free = free_state};

/* ---- min-p */

/* Keeps candidates with p >= min_p * p_max, i.e. logit >= max + ln(min_p), preserving
 * their order. */
static infer_status min_p_apply(sampler_stage *st, const stage_env *env, cand_list *l) {
    (void)env;
    float min_p = value_of(st);
    if (min_p <= 0.0f || l->n <= 1) return INFER_OK;
    infer_cand *c = l->c;
    float max_logit = c[l->sorted ? 0 : infer_cand_argmax(c, l->n)].logit;
    float threshold = max_logit + logf(min_p < 1.0f ? min_p : 1.0f);   /* the best always stays */
    size_t kept = 0;
    for (size_t i = 0; i < l->n; i++)
        if (c[i].logit >= threshold) c[kept++] = c[i];
    if (kept) l->n = kept;
    l->identity = 0;
    return INFER_OK;
}
const stage_ops infer_stage_min_p_ops = {.name = "min-p", .apply = min_p_apply, .free = free_state};

/* ---- temperature */

static infer_status temperature_apply(sampler_stage *st, const stage_env *env, cand_list *l) {
    (void)env;
    float t = value_of(st);
    if (t <= 0.0f) {   /* the limit of t -> 0: only the best remains */
        size_t b = l->sorted ? 0 : infer_cand_argmax(l->c, l->n);
        l->c[0] = l->c[b];
        l->n = 1;
        l->sorted = 1;
        l->identity = 0;
        return INFER_OK;
    }
    if (t == 1.0f) return INFER_OK;
    /* Dividing keeps the order, so a sorted list stays sorted. */
    for (size_t i = 0; i < l->n; i++) l->c[i].logit /= t;
    return INFER_OK;
}
const stage_ops infer_stage_temperature_ops = {.name = "temperature", .apply = temperature_apply, .free = free_state};

/* ---- greedy and dist */

static infer_status greedy_apply(sampler_stage *st, const stage_env *env, cand_list *l) {
    (void)st;
    (void)env;
    l->picked = l->c[l->sorted ? 0 : infer_cand_argmax(l->c, l->n)].id;
    return INFER_OK;
}
const stage_ops infer_stage_greedy_ops = {.name = "greedy", .apply = greedy_apply};

int32_t infer_cand_draw(infer_rng *rng, const infer_cand *c, size_t n) {
    size_t best = infer_cand_argmax(c, n);
    float max_logit = c[best].logit;
    if (n == 1 || !isfinite(max_logit)) return c[best].id;   /* all -inf, or a +inf that wins outright */
    double z = 0.0;
    for (size_t i = 0; i < n; i++) z += exp((double)c[i].logit - max_logit);
    if (!(z > 0.0) || !isfinite(z)) return c[best].id;
    double r = infer_rng_uniform(rng) * z, cum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double w = exp((double)c[i].logit - max_logit);
        cum += w;
        if (r < cum && w > 0.0) return c[i].id;
    }
    return c[best].id;   /* rounding left r just above the total */
}

static infer_status dist_apply(sampler_stage *st, const stage_env *env, cand_list *l) {
    (void)st;
    l->picked = infer_cand_draw(env->rng, l->c, l->n);
    return INFER_OK;
}
const stage_ops infer_stage_dist_ops = {.name = "dist", .apply = dist_apply};

/* ---- logit bias */

typedef struct bias_state {
    infer_logit_bias *b;
    size_t n;
    float *by_token;   /* (n_vocab) summed bias per token, for lists no longer in id order */
} bias_state;

static void bias_free(sampler_stage *st) {
    bias_state *bs = st->state;
    if (bs) {
        free(bs->b);
        free(bs->by_token);
    }
    free(bs);
}

infer_status infer_stage_logit_bias_make(sampler_stage *st, const infer_logit_bias *b, size_t n, int32_t n_vocab) {
    bias_state *bs = calloc(1, sizeof *bs);
    if (!bs) return INFER_ERR_NOMEM;
    st->ops = &infer_stage_logit_bias_ops;
    st->state = bs;
    bs->b = malloc((n ? n : 1) * sizeof *bs->b);
    bs->by_token = calloc((size_t)n_vocab, sizeof *bs->by_token);
    if (!bs->b || !bs->by_token) {
        bias_free(st);
        return INFER_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        bs->b[i] = b[i];
        bs->by_token[b[i].token] += b[i].bias;
    }
    bs->n = n;
    return INFER_OK;
}

static infer_status bias_apply(sampler_stage *st, const stage_env *env, cand_list *l) {
    (void)env;
    const bias_state *bs = st->state;
    if (l->identity) {
        for (size_t i = 0; i < bs->n; i++) l->c[bs->b[i].token].logit += bs->b[i].bias;
    } else {
        for (size_t i = 0; i < l->n; i++) l->c[i].logit += bs->by_token[l->c[i].id];
        l->sorted = 0;
    }
    return INFER_OK;
}
const stage_ops infer_stage_logit_bias_ops = {.name = "logit-bias", .pointwise = 1, .apply = bias_apply, .free = bias_free};
