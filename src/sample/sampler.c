/* The sampler: a chain of stages (stage.h) run in the order they were added.
 *
 * The default chain (infer_sampler_add_defaults) is llama.cpp's:
 *   penalties -> (temperature <= 0: greedy) -> top-k -> top-p -> min-p -> temperature -> draw
 * so truncation works on the untempered distribution and the temperature only reshapes
 * what survives.
 *
 * A grammar stage is run lazily: stages that only move single logits and come right
 * after it (penalties, logit bias) run first, since they commute with a mask; when the
 * next stage is top-k or greedy the grammar checks candidates best first and stops at
 * k allowed ones, instead of checking the whole vocabulary.
 *
 * Cost for a vocabulary of n tokens without a grammar: O(n) per call (see
 * stage_basic.c for top-k's heap and top-p's histogram). */
#include "infer.h"
#include "core/error.h"
#include "core/params.h"
#include "sample/candidates.h"
#include "sample/rng.h"
#include "sample/sampler_internal.h"
#include "sample/stage.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct infer_sampler {
    const infer_model *model;   /* may be NULL */
    int32_t n_vocab;
    uint64_t seed;
    infer_rng rng;
    sampler_stage *stages;
    size_t n_stages, cap_stages;
    infer_cand *cand;           /* (n_vocab) scratch candidates for one call */
    char err[512];
};

#define FIELD(f) INFER_PARAMS_FIELD(infer_sampler_params, f)
/* infer_sampler_params' fields after struct_size, in order (core/params.h): new ones at the end. */
static const infer_params_field params_fields[] = {
    FIELD(temperature),    FIELD(top_k),            FIELD(top_p),             FIELD(min_p),
    FIELD(repeat_penalty), FIELD(presence_penalty), FIELD(frequency_penalty), FIELD(penalty_last_n),
    FIELD(seed),
};
#undef FIELD
_Static_assert(sizeof(infer_sampler_params) == INFER_PARAMS_FIELD_END(infer_sampler_params, seed),
               "infer_sampler_params: its last field must end at sizeof (core/params.h)");

/* *out = the caller's params (NULL: the defaults), read up to its struct_size. */
static infer_status read_params(const infer_sampler_params *in, infer_sampler_params *out, infer_error *err) {
    *out = infer_sampler_default_params();
    return infer_params_read(in, out, sizeof *out, params_fields, sizeof params_fields / sizeof params_fields[0],
                             "sampler params", err);
}

infer_sampler_params infer_sampler_default_params(void) {
    infer_sampler_params p = {
        .struct_size = sizeof(infer_sampler_params),
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

static stage_env env_of(infer_sampler *s) {
    stage_env e = {s->model, s->n_vocab, &s->rng, s->err, sizeof s->err};
    return e;
}

void infer_stage_seterr(const stage_env *env, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(env->err, env->err_cap, fmt, ap);
    va_end(ap);
}

static infer_status set_err(infer_sampler *s, infer_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static infer_status set_err(infer_sampler *s, infer_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return st;
}

infer_status infer_sampler_chain_new(const infer_model *m, int32_t n_vocab, uint64_t seed, infer_sampler **out,
                                     infer_error *err) {
    if (!out) return infer_err(err, INFER_ERR_INVALID_ARG, "sampler: out is NULL");
    *out = NULL;
    if (n_vocab <= 0 && m) n_vocab = infer_model_n_vocab(m);
    if (n_vocab <= 0) return infer_err(err, INFER_ERR_INVALID_ARG, "sampler: n_vocab must be positive (got %d)", n_vocab);
    if (m && n_vocab != infer_model_n_vocab(m))
        return infer_err(err, INFER_ERR_INVALID_ARG, "sampler: n_vocab %d differs from the model's %d", n_vocab,
                         infer_model_n_vocab(m));
    infer_sampler *s = calloc(1, sizeof *s);
    if (!s) return infer_err(err, INFER_ERR_NOMEM, "sampler: out of memory");
    s->model = m;
    s->n_vocab = n_vocab;
    s->seed = seed;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    if (!s->cand) {
        free(s);
        return infer_err(err, INFER_ERR_NOMEM, "sampler: out of memory for %d candidates", n_vocab);
    }
    infer_rng_seed(&s->rng, seed);
    *out = s;
    return INFER_OK;
}

infer_status infer_sampler_init(const infer_model *m, int32_t n_vocab, const infer_sampler_params *params,
                                infer_sampler **out, infer_error *err) {
    infer_sampler_params p;
    if (out) *out = NULL;
    infer_status st = read_params(params, &p, err);
    if (st != INFER_OK) return st;
    st = infer_sampler_chain_new(m, n_vocab, p.seed, out, err);
    if (st != INFER_OK) return st;
    st = infer_sampler_add_defaults(*out, &p);
    if (st != INFER_OK) {
        infer_err(err, st, "%s", (*out)->err);
        infer_sampler_free(*out);
        *out = NULL;
    }
    return st;
}

infer_sampler *infer_sampler_new(const infer_sampler_params *params, int32_t n_vocab) {
    infer_sampler *s = NULL;
    if (n_vocab <= 0) return NULL;
    return infer_sampler_init(NULL, n_vocab, params, &s, NULL) == INFER_OK ? s : NULL;
}

void infer_sampler_free(infer_sampler *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_stages; i++)
        if (s->stages[i].ops->free) s->stages[i].ops->free(&s->stages[i]);
    free(s->stages);
    free(s->cand);
    free(s);
}

const char *infer_sampler_last_error(const infer_sampler *s) { return s ? s->err : "sampler is NULL"; }

/* Appends a made stage; on failure the stage is freed. */
static infer_status push_stage(infer_sampler *s, sampler_stage st) {
    if (s->n_stages == s->cap_stages) {
        size_t cap = s->cap_stages ? s->cap_stages * 2 : 8;
        sampler_stage *g = realloc(s->stages, cap * sizeof *g);
        if (!g) {
            if (st.ops->free) st.ops->free(&st);
            return set_err(s, INFER_ERR_NOMEM, "sampler: out of memory for a stage");
        }
        s->stages = g;
        s->cap_stages = cap;
    }
    s->stages[s->n_stages++] = st;
    s->err[0] = 0;
    return INFER_OK;
}

static infer_status add_float(infer_sampler *s, const stage_ops *ops, float v) {
    if (!s) return INFER_ERR_INVALID_ARG;
    sampler_stage st = {0};
    infer_status rc = infer_stage_float_make(&st, ops, v);
    if (rc != INFER_OK) return set_err(s, rc, "sampler: out of memory for stage %s", ops->name);
    return push_stage(s, st);
}

infer_status infer_sampler_add_top_k(infer_sampler *s, int32_t k) {
    if (!s) return INFER_ERR_INVALID_ARG;
    sampler_stage st = {.ops = &infer_stage_top_k_ops, .k = k > 0 ? k : 0};
    return push_stage(s, st);
}
infer_status infer_sampler_add_top_p(infer_sampler *s, float p) {
    return add_float(s, &infer_stage_top_p_ops, isnan(p) ? 1.0f : p);
}
infer_status infer_sampler_add_min_p(infer_sampler *s, float p) {
    return add_float(s, &infer_stage_min_p_ops, isnan(p) ? 0.0f : p);
}
infer_status infer_sampler_add_temperature(infer_sampler *s, float t) {
    return add_float(s, &infer_stage_temperature_ops, isnan(t) ? 0.0f : t);
}
infer_status infer_sampler_add_greedy(infer_sampler *s) {
    if (!s) return INFER_ERR_INVALID_ARG;
    sampler_stage st = {.ops = &infer_stage_greedy_ops, .k = 1};
    return push_stage(s, st);
}
infer_status infer_sampler_add_dist(infer_sampler *s) {
    if (!s) return INFER_ERR_INVALID_ARG;
    sampler_stage st = {.ops = &infer_stage_dist_ops};
    return push_stage(s, st);
}

infer_status infer_sampler_add_penalties(infer_sampler *s, int32_t last_n, float repeat, float frequency,
                                         float presence) {
    if (!s) return INFER_ERR_INVALID_ARG;
    /* Unusable values become "off" rather than poisoning every logit with NaN. */
    if (!(repeat > 0.0f) || !isfinite(repeat)) repeat = 1.0f;
    if (!isfinite(presence)) presence = 0.0f;
    if (!isfinite(frequency)) frequency = 0.0f;
    if (last_n <= 0 || (repeat == 1.0f && presence == 0.0f && frequency == 0.0f)) return INFER_OK;
    sampler_stage st = {0};
    infer_status rc = infer_stage_penalties_make(&st, s->n_vocab, last_n, repeat, frequency, presence);
    if (rc != INFER_OK) return set_err(s, rc, "sampler: out of memory for a penalty window of %d", last_n);
    return push_stage(s, st);
}

infer_status infer_sampler_add_logit_bias(infer_sampler *s, const infer_logit_bias *bias, size_t n) {
    if (!s) return INFER_ERR_INVALID_ARG;
    if (n && !bias) return set_err(s, INFER_ERR_INVALID_ARG, "logit bias: NULL list of %zu entries", n);
    for (size_t i = 0; i < n; i++) {
        if (bias[i].token < 0 || bias[i].token >= s->n_vocab)
            return set_err(s, INFER_ERR_INVALID_ARG, "logit bias: entry %zu: token %d outside the vocabulary of %d", i,
                           bias[i].token, s->n_vocab);
        if (isnan(bias[i].bias) || bias[i].bias == INFINITY)
            return set_err(s, INFER_ERR_INVALID_ARG, "logit bias: entry %zu (token %d): bias must be finite or -inf", i,
                           bias[i].token);
    }
    sampler_stage st = {0};
    infer_status rc = infer_stage_logit_bias_make(&st, bias, n, s->n_vocab);
    if (rc != INFER_OK) return set_err(s, rc, "logit bias: out of memory");
    return push_stage(s, st);
}

infer_status infer_sampler_add_mirostat_v2(infer_sampler *s, float tau, float eta) {
    if (!s) return INFER_ERR_INVALID_ARG;
    if (!(tau > 0.0f) || !isfinite(tau) || !(eta > 0.0f) || !isfinite(eta))
        return set_err(s, INFER_ERR_INVALID_ARG, "mirostat v2: tau and eta must be positive (got %g, %g)", tau, eta);
    sampler_stage st = {0};
    infer_status rc = infer_stage_mirostat2_make(&st, tau, eta);
    if (rc != INFER_OK) return set_err(s, rc, "mirostat v2: out of memory");
    return push_stage(s, st);
}

infer_status infer_sampler_add_grammar(infer_sampler *s, const char *gbnf, size_t len, const char *root) {
    if (!s) return INFER_ERR_INVALID_ARG;
    if (!s->model) return set_err(s, INFER_ERR_INVALID_ARG, "grammar stage: the sampler was made without a model");
    if (!gbnf && len) return set_err(s, INFER_ERR_INVALID_ARG, "grammar stage: NULL grammar text");
    sampler_stage st = {0};
    infer_error e = {0};
    infer_status rc = infer_stage_grammar_make(&st, s->model, s->n_vocab, gbnf ? gbnf : "", len, root, &e);
    if (rc != INFER_OK) return set_err(s, rc, "%s", e.message);
    return push_stage(s, st);
}

infer_status infer_sampler_add_json_schema(infer_sampler *s, const char *schema, size_t len) {
    if (!s) return INFER_ERR_INVALID_ARG;
    infer_error e = {0};
    size_t need = 0;
    infer_status rc = infer_json_schema_to_grammar(schema, len, NULL, 0, &need, &e);
    if (rc != INFER_ERR_BUFFER_SMALL && rc != INFER_OK) return set_err(s, rc, "%s", e.message);
    char *gbnf = malloc(need + 1);
    if (!gbnf) return set_err(s, INFER_ERR_NOMEM, "json schema: out of memory for %zu bytes of grammar", need);
    rc = infer_json_schema_to_grammar(schema, len, gbnf, need + 1, &need, &e);
    if (rc != INFER_OK) {
        free(gbnf);
        return set_err(s, rc, "%s", e.message);
    }
    rc = infer_sampler_add_grammar(s, gbnf, need, NULL);
    free(gbnf);
    return rc;
}

infer_status infer_sampler_add_defaults(infer_sampler *s, const infer_sampler_params *params) {
    if (!s) return INFER_ERR_INVALID_ARG;
    infer_sampler_params p;
    infer_error e;
    if (read_params(params, &p, &e) != INFER_OK) {
        infer_err_copy(s->err, sizeof s->err, &e);
        return e.status;
    }
    size_t before = s->n_stages;
    infer_status rc =
        infer_sampler_add_penalties(s, p.penalty_last_n, p.repeat_penalty, p.frequency_penalty, p.presence_penalty);
    if (rc == INFER_OK) {
        if (isnan(p.temperature) || p.temperature <= 0.0f) {
            rc = infer_sampler_add_greedy(s);
        } else {
            if (p.top_k > 0) rc = infer_sampler_add_top_k(s, p.top_k);
            if (rc == INFER_OK && !isnan(p.top_p) && p.top_p < 1.0f) rc = infer_sampler_add_top_p(s, p.top_p);
            if (rc == INFER_OK && !isnan(p.min_p) && p.min_p > 0.0f) rc = infer_sampler_add_min_p(s, p.min_p);
            if (rc == INFER_OK) rc = infer_sampler_add_temperature(s, p.temperature);
            if (rc == INFER_OK) rc = infer_sampler_add_dist(s);
        }
    }
    if (rc != INFER_OK) {   /* leave the chain as it was */
        while (s->n_stages > before) {
            sampler_stage *st = &s->stages[--s->n_stages];
            if (st->ops->free) st->ops->free(st);
        }
    }
    return rc;
}

/* Copies the logits into the candidate array (NaN becomes -inf so it is never chosen). */
static void load_candidates(infer_sampler *s, const float *logits, cand_list *l) {
    infer_cand *c = s->cand;
    for (int32_t i = 0; i < s->n_vocab; i++) {
        c[i].id = i;
        c[i].logit = isnan(logits[i]) ? -INFINITY : logits[i];
    }
    l->c = c;
    l->n = (size_t)s->n_vocab;
    l->sorted = 0;
    l->identity = 1;
    l->picked = -1;
}

/* Runs the chain over l; stops early once a stage picked. */
static infer_status run_chain(infer_sampler *s, cand_list *l, size_t n_stages) {
    stage_env env = env_of(s);
    for (size_t i = 0; i < n_stages && l->picked < 0; i++) {
        sampler_stage *st = &s->stages[i];
        infer_status rc;
        if (st->ops == &infer_stage_grammar_ops) {
            size_t j = i + 1;
            for (; j < n_stages && s->stages[j].ops->pointwise; j++) {
                rc = s->stages[j].ops->apply(&s->stages[j], &env, l);
                if (rc != INFER_OK) return rc;
            }
            size_t k = 0;
            if (j < n_stages && s->stages[j].k > 0) k = (size_t)s->stages[j].k;   /* top-k or greedy */
            rc = infer_stage_grammar_filter(st, &env, l, k);
            i = j - 1;   /* the pointwise stages ran already */
        } else {
            rc = st->ops->apply(st, &env, l);
        }
        if (rc != INFER_OK) return rc;
        if (l->n == 0) return set_err(s, INFER_ERR_INVALID_ARG, "sampler: stage %s left no candidate", st->ops->name);
    }
    return INFER_OK;
}

int32_t infer_sampler_sample(infer_sampler *s, const float *logits) {
    if (!s) return -1;
    if (!logits) {
        set_err(s, INFER_ERR_INVALID_ARG, "sampler: logits is NULL");
        return -1;
    }
    s->err[0] = 0;
    cand_list l;
    load_candidates(s, logits, &l);
    if (run_chain(s, &l, s->n_stages) != INFER_OK) return -1;
    if (l.picked >= 0) return l.picked;
    return l.sorted ? l.c[0].id : l.c[infer_cand_argmax(l.c, l.n)].id;
}

static infer_status accept_any(infer_sampler *s, int32_t tok, int generated) {
    if (!s) return INFER_ERR_INVALID_ARG;
    if (tok < 0 || tok >= s->n_vocab)
        return set_err(s, INFER_ERR_INVALID_ARG, "sampler: token %d outside the vocabulary of %d", tok, s->n_vocab);
    stage_env env = env_of(s);
    /* The grammar stages go first: a token they refuse must change nothing. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < s->n_stages; i++) {
            sampler_stage *st = &s->stages[i];
            if (!st->ops->accept || (st->ops == &infer_stage_grammar_ops) != (pass == 0)) continue;
            infer_status rc = st->ops->accept(st, &env, tok, generated);
            if (rc != INFER_OK) return rc;
        }
    }
    return INFER_OK;
}

infer_status infer_sampler_accept(infer_sampler *s, int32_t tok) { return accept_any(s, tok, 1); }
infer_status infer_sampler_accept_prompt(infer_sampler *s, int32_t tok) { return accept_any(s, tok, 0); }

void infer_sampler_reset(infer_sampler *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_stages; i++)
        if (s->stages[i].ops->reset) s->stages[i].ops->reset(&s->stages[i]);
    infer_rng_seed(&s->rng, s->seed);
    s->err[0] = 0;
}

void infer_sampler_penalized_logits(infer_sampler *s, const float *logits, float *out) {
    cand_list l;
    load_candidates(s, logits, &l);
    stage_env env = env_of(s);
    for (size_t i = 0; i < s->n_stages && s->stages[i].ops->pointwise; i++) s->stages[i].ops->apply(&s->stages[i], &env, &l);
    for (int32_t i = 0; i < s->n_vocab; i++) out[i] = s->cand[i].logit;
}
