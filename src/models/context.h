/* The inference context: a backend, the model's weights bound on it, the KV cache, the
 * scratch activations of one forward step, and the logits of the last decode call.
 * Everything is sized once at creation (the logits buffers grow to the largest request
 * seen), so decoding a token allocates nothing. */
#ifndef INFER_MODELS_CONTEXT_H
#define INFER_MODELS_CONTEXT_H

#include <stdint.h>
#include "infer.h"
#include "kernels/backend.h"
#include "models/context_side.h"
#include "models/kv_cache.h"
#include "models/forward.h"
#include "models/model.h"
#include "models/placement.h"

struct infer_ctx {
    infer_model *m;
    infer_ctx_params p;          /* resolved: n_ctx, n_batch, n_threads filled in */
    infer_backend *be;           /* the output head's backend (logits, embeddings) */

    infer_ctx_side side[INFER_DEV_COUNT];   /* by INFER_DEV_CPU / INFER_DEV_GPU */
    infer_placement place;       /* which side runs each layer, expert FFN, embedding, head */
    float *xfer;                 /* host staging for activations crossing sides (xfer_floats) */
    size_t xfer_floats;

    infer_kv_cache kv;

    infer_bbuf *logits_buf;      /* (logits_rows_cap, n_vocab) on the backend */
    int32_t logits_buf_rows;

    /* Host side of the last decode call. Tokens run grouped by sequence: order[k] is the
     * batch index of the k-th token run; logits rows and embeddings follow that order. */
    float *logits;               /* (rows, n_vocab) */
    int64_t logits_cap_rows;
    int32_t *logit_row;          /* per token of the last call: row in logits or -1 */
    int32_t *pos;                /* per token (batch order): its position */
    int32_t *seq;                /* per token (batch order): its sequence */
    int32_t *order;              /* run order -> batch index */
    int32_t *rank;               /* batch index -> run order */
    const int32_t *tok_of;       /* during a call: the batch's token ids (batch order) */
    int32_t *run_tok, *run_pos;  /* tokens and positions in run order */
    int32_t *out_ids;            /* per step: wanted rows */
    infer_seq_run *runs;         /* per step: at most one run per token */
    int64_t tok_cap;
    int32_t n_last;              /* tokens in the last decode call */
    int32_t *seq_scratch;        /* n_seq_max x 3: counts, lengths before the call, lowest position */

    float *embd;                 /* (tokens, n_embd) in run order, when params.embeddings */
    int64_t embd_cap_rows;
    float *embd_seq;             /* (n_seq_max, n_embd) pooled */
    uint8_t *embd_seq_set;       /* per sequence: pooled vector valid */

    infer_abort_fn abort_fn;     /* polled between layers (and by the CPU workers) */
    void *abort_user;

    char *dump_dir;              /* INFER_DUMP_DIR (debugging) or NULL */
    char backend_note[384];      /* why AUTO chose another backend than it would have, or "" */
    char placement_text[256];    /* infer_ctx_placement() */
    char last_error[512];
};

/* Places the model on the opened backend c->be (a GPU one gets the layers the parameters
 * and its budget say, the rest a CPU backend) and builds each side: weights, KV cache,
 * activations, c->be set to the output head's backend. An automatic fit that still runs
 * out of GPU memory falls back to the CPU (noted in backend_note). */
infer_status infer_ctx_place_and_build(infer_ctx *c, infer_error *err);
/* Releases both sides, the KV cache and the placement (also after a partial build). */
void infer_ctx_free_sides(infer_ctx *c);

/* Copies positions [0, n) of sequence src's cache rows to sequence dst (every layer). */
infer_status infer_kv_copy_rows(infer_ctx *c, uint32_t src, uint32_t dst, int32_t n, infer_error *err);

/* *out = the caller's params (NULL: the defaults), of the struct_size the caller compiled:
 * fields past an older caller's struct get their defaults (ctx_params.c, core/params.h).
 * INFER_ERR_INVALID_ARG for a struct_size that cuts a field or is larger than ours. */
infer_status infer_ctx_params_read(const infer_ctx_params *in, infer_ctx_params *out, infer_error *err);

#endif
