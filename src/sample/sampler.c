/* The sampler chain. Each call to infer_sampler_sample runs, in this fixed order:
 *
 *   1. penalties   over the last penalty_last_n accepted tokens (llama.cpp's rules):
 *                  repeat: a positive logit is divided by repeat_penalty, a negative one
 *                  multiplied; then logit -= count * frequency_penalty
 *                                          + (count > 0) * presence_penalty
 *   2. greedy      if temperature <= 0: the argmax of the penalized logits, done
 *   3. top-k       keep the k highest logits (partial selection, no full sort)
 *   4. top-p       keep the smallest best-first prefix whose probability mass, at
 *                  temperature 1, reaches top_p
 *   5. min-p       keep tokens whose probability is at least min_p times the best one's
 *   6. temperature divide the survivors' logits by the temperature
 *   7. sample      draw from their softmax with the sampler's own seeded RNG
 *
 * Truncation (3-5) works on the untempered distribution, as llama.cpp's default chain
 * does, so the temperature only reshapes what survives.
 *
 * Cost for a vocabulary of n tokens: O(n) per call. Top-k keeps a bounded heap in one
 * pass; top-p without top-k uses a mass histogram over logit buckets and sorts only the
 * bucket where the cut falls, never the whole vocabulary. */
#include "infer.h"
#include "sample/candidates.h"
#include "sample/rng.h"
#include "sample/sampler_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct infer_sampler {
    infer_sampler_params p;
    int32_t n_vocab;
    infer_rng rng;

    /* Penalty window: ring buffer of the last `window_cap` accepted tokens. */
    int32_t *window;       /* (window_cap) token ids, oldest at window_head when full */
    int32_t window_cap;
    int32_t window_len;
    int32_t window_head;   /* next slot to overwrite */
    int32_t *counts;       /* (n_vocab) occurrences of each token inside the window */
    uint32_t *stamp;       /* (n_vocab) call number at which a token was last penalized */
    uint32_t call;

    infer_cand *cand;      /* (n_vocab) scratch candidates for one call */
};

infer_sampler_params infer_sampler_default_params(void) {
    infer_sampler_params p = {
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .presence_penalty = 0.0f,
        .frequency_penalty = 0.0f,
        .penalty_last_n = 64,
        .seed = 0,   /* fixed: the library never seeds from the clock; tools may */
    };
    return p;
}

static int penalties_active(const infer_sampler_params *p) {
    return p->penalty_last_n > 0 &&
           (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f);
}

infer_sampler *infer_sampler_new(const infer_sampler_params *params, int32_t n_vocab) {
    if (n_vocab <= 0) return NULL;
    infer_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = params ? *params : infer_sampler_default_params();
    /* Unusable values become "off" rather than poisoning every logit with NaN. */
    if (!(s->p.repeat_penalty > 0.0f) || !isfinite(s->p.repeat_penalty)) s->p.repeat_penalty = 1.0f;
    if (!isfinite(s->p.presence_penalty)) s->p.presence_penalty = 0.0f;
    if (!isfinite(s->p.frequency_penalty)) s->p.frequency_penalty = 0.0f;
    if (isnan(s->p.temperature)) s->p.temperature = 0.0f;
    if (isnan(s->p.top_p)) s->p.top_p = 1.0f;
    if (isnan(s->p.min_p)) s->p.min_p = 0.0f;
    s->n_vocab = n_vocab;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    if (!s->cand) goto fail;
    if (penalties_active(&s->p)) {
        s->window_cap = s->p.penalty_last_n;
        s->window = malloc((size_t)s->window_cap * sizeof *s->window);
        s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
        s->stamp = calloc((size_t)n_vocab, sizeof *s->stamp);
        if (!s->window || !s->counts || !s->stamp) goto fail;
    }
    infer_rng_seed(&s->rng, s->p.seed);
    return s;
fail:
    infer_sampler_free(s);
    return NULL;
}

void infer_sampler_free(infer_sampler *s) {
    if (!s) return;
    free(s->window);
    free(s->counts);
    free(s->stamp);
    free(s->cand);
    free(s);
}

void infer_sampler_reset(infer_sampler *s) {
    if (!s) return;
    if (s->counts) memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    s->window_len = 0;
    s->window_head = 0;
    infer_rng_seed(&s->rng, s->p.seed);
}

void infer_sampler_accept(infer_sampler *s, int32_t tok) {
    if (!s || !s->window || tok < 0 || tok >= s->n_vocab) return;
    if (s->window_len == s->window_cap) {
        s->counts[s->window[s->window_head]]--;   /* the oldest token leaves the window */
    } else {
        s->window_len++;
    }
    s->window[s->window_head] = tok;
    s->counts[tok]++;
    s->window_head = (s->window_head + 1) % s->window_cap;
}

/* Copies the logits into the candidate array (NaN becomes -inf so it is never chosen)
 * and applies the penalties to the tokens present in the window. */
static void load_candidates(infer_sampler *s, const float *logits) {
    infer_cand *c = s->cand;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        c[i].id = i;
        c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
    }
    if (!s->window || s->window_len == 0) return;
    if (++s->call == 0) {   /* stamp wrap-around: forget old stamps */
        memset(s->stamp, 0, (size_t)s->n_vocab * sizeof *s->stamp);
        s->call = 1;
    }
    const infer_sampler_params *p = &s->p;
    for (int32_t w = 0; w < s->window_len; w++) {
        int32_t t = s->window[w];
        if (s->stamp[t] == s->call) continue;   /* each distinct token once */
        s->stamp[t] = s->call;
        float l = c[t].logit;
        l = l <= 0.0f ? l * p->repeat_penalty : l / p->repeat_penalty;
        l -= (float)s->counts[t] * p->frequency_penalty + p->presence_penalty;
        c[t].logit = l;
    }
}

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

/* Top-p over c[0..n). If `sorted`, c is already best first. Returns the kept count;
 * the kept candidates are c[0..kept), best first only if `sorted`.
 * Unsorted input avoids a full sort: a histogram of probability mass over logit buckets
 * finds the bucket where the cumulative mass crosses top_p; buckets above it are kept
 * whole, and only that bucket's candidates are sorted to place the exact cut. */
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

    /* Stable-enough partition: [buckets above the cut][the cut bucket][the rest]. */
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

/* Keeps candidates with p >= min_p * p_max, i.e. logit >= max + ln(min_p), preserving
 * their order. Returns the kept count (at least 1). */
static size_t apply_min_p(infer_cand *c, size_t n, float min_p) {
    float max_logit = c[infer_cand_argmax(c, n)].logit;
    float threshold = max_logit + logf(min_p < 1.0f ? min_p : 1.0f);   /* the best always stays */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].logit >= threshold) c[kept++] = c[i];
    return kept ? kept : n;
}

/* Draws from softmax(logit / temperature) over c[0..n). */
static int32_t draw(infer_sampler *s, const infer_cand *c, size_t n, float temperature) {
    size_t best = infer_cand_argmax(c, n);
    float max_logit = c[best].logit;
    if (!isfinite(max_logit)) return c[best].id;   /* all -inf, or a +inf that wins outright */
    double inv_t = 1.0 / temperature, z = 0.0;
    for (size_t i = 0; i < n; i++) z += exp(((double)c[i].logit - max_logit) * inv_t);
    if (!(z > 0.0) || !isfinite(z)) return c[best].id;   /* extreme temperatures */
    double r = infer_rng_uniform(&s->rng) * z, cum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double w = exp(((double)c[i].logit - max_logit) * inv_t);
        cum += w;
        if (r < cum && w > 0.0) return c[i].id;
    }
    return c[best].id;   /* rounding left r just above the total */
}

int32_t infer_sampler_sample(infer_sampler *s, const float *logits) {
    if (!s || !logits) return -1;
    const infer_sampler_params *p = &s->p;
    load_candidates(s, logits);
    infer_cand *c = s->cand;
    size_t n = (size_t)s->n_vocab;

    if (p->temperature <= 0.0f) return c[infer_cand_argmax(c, n)].id;

    int sorted = 0;
    if (p->top_k > 0 && (size_t)p->top_k < n) {
        n = (size_t)p->top_k;
        infer_cand_top_k(c, (size_t)s->n_vocab, n);
        sorted = 1;
    }
    if (p->top_p < 1.0f && n > 1) n = apply_top_p(c, n, sorted, p->top_p > 0.0f ? p->top_p : 0.0f);
    if (p->min_p > 0.0f && n > 1) n = apply_min_p(c, n, p->min_p);
    if (n == 1) return c[0].id;
    return draw(s, c, n, p->temperature);
}

void infer_sampler_penalized_logits(infer_sampler *s, const float *logits, float *out) {
    load_candidates(s, logits);
    for (int32_t i = 0; i < s->n_vocab; i++) out[i] = s->cand[i].logit;
}
