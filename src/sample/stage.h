/* The sampler's stages: a small table of operations per stage kind, run in chain order
 * over one candidate list. */
#ifndef INFER_SAMPLE_STAGE_H
#define INFER_SAMPLE_STAGE_H

#include "infer.h"
#include "sample/candidates.h"
#include "sample/rng.h"

/* The candidates of one sample call. identity: c[i].id == i for all i < n == n_vocab
 * (nothing removed or moved yet), which lets pointwise stages index by token id. */
typedef struct cand_list {
    infer_cand *c;
    size_t n;
    int sorted;       /* c[0..n) best first */
    int identity;
    int32_t picked;   /* >= 0 once a picking stage chose */
} cand_list;

typedef struct sampler_stage sampler_stage;

/* What a stage may use of its sampler: the vocabulary, the model (may be NULL), the
 * chain's RNG and its last-error buffer. */
typedef struct stage_env {
    const infer_model *model;
    int32_t n_vocab;
    infer_rng *rng;
    char *err;       /* last-error buffer of the sampler */
    size_t err_cap;
} stage_env;

typedef struct stage_ops {
    const char *name;
    int pointwise;   /* only moves single logits (never removes, reorders): commutes with a grammar */
    /* Narrows/reshapes the list or picks. Returns INFER_OK or an error written to env->err. */
    infer_status (*apply)(sampler_stage *st, const stage_env *env, cand_list *l);
    /* A token was accepted; generated: 0 for prompt tokens. NULL: nothing to record. */
    infer_status (*accept)(sampler_stage *st, const stage_env *env, int32_t tok, int generated);
    void (*reset)(sampler_stage *st);
    void (*free)(sampler_stage *st);
} stage_ops;

struct sampler_stage {
    const stage_ops *ops;
    void *state;      /* owned; freed by ops->free */
    int32_t k;        /* top-k's k (the grammar fusion reads it); 0 elsewhere */
};

/* Stage kinds with their constructors (filled into *st; state allocated). */
extern const stage_ops infer_stage_top_k_ops, infer_stage_top_p_ops, infer_stage_min_p_ops,
    infer_stage_temperature_ops, infer_stage_greedy_ops, infer_stage_dist_ops, infer_stage_logit_bias_ops,
    infer_stage_penalties_ops, infer_stage_mirostat2_ops, infer_stage_grammar_ops;

infer_status infer_stage_penalties_make(sampler_stage *st, int32_t n_vocab, int32_t last_n, float repeat,
                                        float frequency, float presence);
infer_status infer_stage_logit_bias_make(sampler_stage *st, const infer_logit_bias *b, size_t n, int32_t n_vocab);
infer_status infer_stage_float_make(sampler_stage *st, const stage_ops *ops, float value);
infer_status infer_stage_mirostat2_make(sampler_stage *st, float tau, float eta);
/* Parses the grammar and pre-decodes the model's vocabulary. */
infer_status infer_stage_grammar_make(sampler_stage *st, const infer_model *m, int32_t n_vocab, const char *gbnf,
                                      size_t len, const char *root, infer_error *err);

/* Grammar fused with a following top-k (k > 0) or greedy (k == 1): keeps the k best
 * tokens the grammar allows, sorted, checking candidates best first; k == 0 filters all. */
infer_status infer_stage_grammar_filter(sampler_stage *st, const stage_env *env, cand_list *l, size_t k);

/* Shared helpers. */
void infer_stage_seterr(const stage_env *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Draws from softmax(logit) over c[0..n) with rng. */
int32_t infer_cand_draw(infer_rng *rng, const infer_cand *c, size_t n);

#endif
