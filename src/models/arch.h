/* Architecture descriptors. Each supported `general.architecture` is one constant
 * table: the data that sets its hyperparameters apart, how its layer weights are bound,
 * and its per-layer forward step built from the shared blocks in blocks.h. */
#ifndef INFER_MODELS_ARCH_H
#define INFER_MODELS_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "infer.h"
#include "kernels/backend.h"

struct infer_model;
struct infer_fwd;

typedef struct infer_arch {
    const char *name;              /* general.architecture, also the metadata key prefix */
    infer_rope_mode rope_mode;
    bool moe;                      /* feed-forward is a mixture of experts (no dense n_ff needed) */
    uint32_t swa_pattern;          /* see infer_hparams.swa_pattern; 0 = no sliding window */
    infer_glu_kind moe_glu;        /* expert activation (MoE archs) */
    float glu_alpha, glu_limit;    /* SwiGLU-OAI constants, unused by plain SwiGLU */

    /* Binds the weights of layer il into m->layers[il]. */
    infer_status (*bind_layer)(struct infer_model *m, uint32_t il, infer_error *err);
    /* Records layer il of a forward pass: the residual stream f->x in, updated in place. */
    void (*forward_layer)(struct infer_fwd *f, uint32_t il);
} infer_arch;

extern const infer_arch infer_arch_llama;
extern const infer_arch infer_arch_qwen2;
extern const infer_arch infer_arch_qwen3;
extern const infer_arch infer_arch_gptoss;

/* The descriptor for an architecture name (len bytes, not NUL-terminated), or NULL. */
const infer_arch *infer_arch_find(const char *name, size_t len);

#endif
