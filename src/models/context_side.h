/* One backend's share of a context: what context_sides.c builds and the forward step
 * reads. Apart from context.h so that the forward pass can see the sides without the
 * rest of the context. */
#ifndef INFER_MODELS_CONTEXT_SIDE_H
#define INFER_MODELS_CONTEXT_SIDE_H

#include "kernels/backend.h"

/* Scratch activation buffers (backend), each sized for n_batch rows. */
enum {
    INFER_ACT_IDS,     /* (n_batch) int32 token ids */
    INFER_ACT_POS,     /* (n_batch) int32 positions */
    INFER_ACT_OUT_IDS, /* (n_batch) int32 rows whose logits are wanted */
    INFER_ACT_X, INFER_ACT_XN, INFER_ACT_TMP,   /* (n_batch, n_embd) */
    INFER_ACT_Q, INFER_ACT_QN,                  /* (n_batch, n_head * head_dim) */
    INFER_ACT_K, INFER_ACT_KN, INFER_ACT_V,     /* (n_batch, n_head_kv * head_dim) */
    INFER_ACT_GATE, INFER_ACT_UP,               /* (n_batch, n_ff) */
    INFER_ACT_ROUTER,                           /* (n_batch, n_expert) */
    INFER_ACT_COUNT
};

/* One backend's share of a context: the backend, the weights bound on it (a view with
 * .buf NULL for a weight placed on the other one), and a full set of scratch
 * activations. The CPU side binds every weight (it wraps the mmap, at no cost). */
typedef struct infer_ctx_side {
    infer_backend *be;           /* NULL: nothing runs on this device */
    infer_bbuf **wbufs;          /* per weight id */
    infer_bview *wviews;
    infer_bbuf *act[INFER_ACT_COUNT];
} infer_ctx_side;

#endif
