/* The forward step driver (forward.c): one step of up to n_batch tokens over a model
 * placed on one or two backends. It is handed exactly what it reads of its context
 * (infer_fwd_env), not the context itself, so the forward pass stays below context.c. */
#ifndef INFER_MODELS_FORWARD_STEP_H
#define INFER_MODELS_FORWARD_STEP_H

#include <stddef.h>
#include <stdint.h>
#include "infer.h"
#include "models/context_side.h"
#include "models/forward.h"
#include "models/kv_cache.h"
#include "models/model.h"
#include "models/placement.h"

typedef struct infer_fwd_env {
    const infer_model *m;
    const infer_placement *place;      /* which side runs each layer, expert FFN, embedding, head */
    const infer_ctx_side *side;        /* [INFER_DEV_COUNT]; a side with .be NULL is unused */
    const infer_kv_cache *kv;
    float *xfer;                       /* host staging for activations crossing sides */
    size_t xfer_floats;
    infer_bview logits;                /* on the output head's side, room for the step's n_out rows */
    infer_abort_fn abort_fn;           /* polled between layers; NULL: never */
    void *abort_user;
    const char *dump_dir;              /* debugging: intermediate rows written here; NULL: off */
} infer_fwd_env;

/* One forward step of n <= n_batch tokens grouped by sequence (runs): runs every layer,
 * stores K/V at each token's position in its sequence's region, and writes the logits of
 * rows out_ids[0..n_out) to logits_out (n_out x n_vocab) and, when embd_out is set, the
 * final-norm rows of all n tokens to it (n x n_embd). */
typedef struct infer_step {
    const int32_t *tokens, *pos;
    int32_t n;
    const infer_seq_run *runs;
    int32_t n_runs;
    const int32_t *out_ids;
    int32_t n_out;
    float *logits_out;
    float *embd_out;
} infer_step;
infer_status infer_forward_step(const infer_fwd_env *env, const infer_step *s, infer_error *err);

#endif
