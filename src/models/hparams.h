/* Model hyperparameters read from `<arch>.*` GGUF metadata. Everything that makes one
 * architecture differ from another in the forward pass is data here (or in the arch
 * descriptor), never an `if (arch == X)` in shared code. */
#ifndef INFER_MODELS_HPARAMS_H
#define INFER_MODELS_HPARAMS_H

#include <stdbool.h>
#include <stdint.h>
#include "infer.h"
#include "kernels/backend.h"

typedef struct infer_hparams {
    uint32_t n_ctx_train;     /* context_length */
    uint32_t n_embd;          /* embedding_length */
    uint32_t n_layer;         /* block_count */
    uint32_t n_ff;            /* feed_forward_length (dense FFN) */
    uint32_t n_head;          /* attention.head_count */
    uint32_t n_head_kv;       /* attention.head_count_kv (default n_head) */
    uint32_t head_dim;        /* attention.key_length (default n_embd / n_head) */
    uint32_t head_dim_v;      /* attention.value_length (default head_dim) */
    uint32_t n_vocab;         /* rows of token_embd.weight (or vocabulary size) */
    float rms_eps;            /* attention.layer_norm_rms_epsilon */

    infer_rope_params rope;   /* mode from the arch; n_rot, base, scaling from metadata */

    /* Mixture of experts (0 when dense). */
    uint32_t n_expert;        /* expert_count */
    uint32_t n_expert_used;   /* expert_used_count */
    uint32_t n_ff_exp;        /* expert_feed_forward_length (default n_ff) */

    /* Sliding-window attention: layer il is windowed when swa_pattern > 0 and
     * il % swa_pattern < swa_pattern - 1 (pattern 2: even layers). */
    uint32_t sliding_window;  /* attention.sliding_window (0: none) */
    uint32_t swa_pattern;

    float attn_scale;         /* softmax scale, 1/sqrt(head_dim) */
    infer_glu_kind moe_glu;   /* activation of the experts */
    float glu_alpha, glu_limit;  /* SwiGLU-OAI constants (gpt-oss) */
} infer_hparams;

struct infer_arch;

/* Fills hp from the metadata of g for the architecture arch (key prefix arch->name). */
infer_status infer_hparams_load(infer_hparams *hp, const infer_gguf *g, const struct infer_arch *arch,
                                infer_error *err);

/* Attention window of layer il (0: unlimited). */
static inline int32_t infer_hparams_window(const infer_hparams *hp, uint32_t il) {
    if (hp->sliding_window == 0 || hp->swa_pattern == 0) return 0;
    return il % hp->swa_pattern < hp->swa_pattern - 1 ? (int32_t)hp->sliding_window : 0;
}

#endif
