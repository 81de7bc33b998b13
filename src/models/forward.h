/* State of one forward step (a batch of up to n_batch tokens) as the shared blocks and
 * the per-architecture layer functions see it. Everything here is owned by the context;
 * the blocks only record backend ops on these views. */
#ifndef INFER_MODELS_FORWARD_H
#define INFER_MODELS_FORWARD_H

#include <stdint.h>
#include "kernels/backend.h"
#include "models/model.h"

struct infer_kv_cache;

/* A run of consecutive tokens of one step that belong to one sequence (a step's tokens
 * are grouped by sequence): they store into and attend over that sequence's region of
 * the cache only. */
typedef struct infer_seq_run {
    int32_t t0, n;               /* tokens [t0, t0 + n) of the step */
    uint32_t seq;
    int32_t n_kv;                /* the run's highest position + 1 */
} infer_seq_run;

struct infer_fwd;

/* A step split across two backends (partial offload): the step's state on each side,
 * which side runs each layer's expert FFN, the host staging that activations cross by,
 * and the first error of a crossing (a side's end() resets its own). */
typedef struct infer_fwd_link {
    struct infer_fwd *side[2];   /* per INFER_DEV_* (models/placement.h); NULL: unused */
    const uint8_t *exps_dev;     /* per layer: the side running its expert FFN */
    float *host;
    size_t host_floats;
    infer_status status;
    infer_error err;
} infer_fwd_link;

typedef struct infer_fwd {
    infer_backend *be;           /* this side's backend; every view below lives on it */
    int dev;                     /* this side's INFER_DEV_* */
    infer_fwd_link *link;
    const infer_model *m;
    const infer_hparams *hp;
    const infer_bview *w;        /* backend view of each weight id (see infer_fwd_w) */

    int32_t n;                   /* tokens in this step */
    int32_t n_kv;                /* positions [0, n_kv) may be attended to (largest over the runs) */
    const infer_seq_run *runs;   /* the step's tokens grouped by sequence */
    int32_t n_runs;
    const struct infer_kv_cache *kv;
    infer_bview pos;             /* (n) int32 positions */

    /* Activations, F32, rows of the given length, capacity n_batch rows. */
    infer_bview x;               /* (n, n_embd) residual stream */
    infer_bview xn;              /* (n, n_embd) normed input of a block */
    infer_bview q;               /* (n, n_head * head_dim) */
    infer_bview qn;              /* (n, n_head * head_dim) normed queries / attention output */
    infer_bview k, kn;           /* (n, n_head_kv * head_dim) */
    infer_bview v;               /* (n, n_head_kv * head_dim) */
    infer_bview tmp;             /* (n, n_embd) block output before the residual add */
    infer_bview gate, up;        /* (n, n_ff) (dense) */
    infer_bview router;          /* (n, n_expert) */

    const infer_bview *k_cache;  /* per layer: (n_ctx, n_head_kv * head_dim) F32 or F16 */
    const infer_bview *v_cache;

    /* Debugging: when set, intermediate rows are written under this folder. */
    const char *dump_dir;
} infer_fwd;

/* View of weight id (a view with .buf NULL for INFER_NO_WEIGHT). */
static inline infer_bview infer_fwd_w(const infer_fwd *f, infer_wid id) {
    if (id == INFER_NO_WEIGHT) {
        infer_bview none = {0};
        return none;
    }
    return f->w[id];
}

/* Stores the step's K and V rows (k: n x n_head_kv*head_dim, v: n x n_head_kv*head_dim_v,
 * F32) of layer il in each token's sequence region, then attends q (n x n_head*head_dim)
 * over it into out, run by run: each token sees only its own sequence's positions
 * <= its own, inside the layer's sliding window. */
void infer_attend_cache(infer_fwd *f, uint32_t il, infer_bview q, infer_bview k, infer_bview v, infer_bview sinks,
                        infer_bview out);

/* One activation crossing sides: n_floats F32 values from src (on the side they leave)
 * to dst (on the side they reach). */
typedef struct infer_fwd_copy {
    infer_bview src, dst;
    size_t n_floats;
} infer_fwd_copy;
/* Moves n copies from side `from` to side `to`: read back together, completed by one end
 * of from's pass (which begins again), written. Errors go to the link. */
void infer_fwd_move(infer_fwd *from, infer_fwd *to, const infer_fwd_copy *copies, int n);
/* The side that runs layer il's expert FFN (f itself unless the experts stay elsewhere). */
infer_fwd *infer_fwd_experts(infer_fwd *f, uint32_t il);

/* Debug hook (no-op unless INFER_DUMP_DIR is set at context creation): writes the
 * first n_rows x row_len floats of v to <dir>/<name>-<il>.f32 (il < 0: no suffix). */
void infer_fwd_dump(infer_fwd *f, const char *name, int il, infer_bview v, int64_t row_len);

#endif
