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
    /* RoPE of the sliding-window layers when it differs (Gemma 3: base 10000, no
     * scaling); rope_swa_set = false: every layer uses `rope`. */
    infer_rope_params rope_swa;
    bool rope_swa_set;

    /* Mixture of experts (0 when dense). */
    uint32_t n_expert;        /* expert_count */
    uint32_t n_expert_used;   /* expert_used_count */
    uint32_t n_ff_exp;        /* expert_feed_forward_length (default n_ff) */

    /* Sliding-window attention: layer il is windowed when swa_pattern > 0 and
     * il % swa_pattern < swa_pattern - 1 (pattern 2: even layers). */
    uint32_t sliding_window;  /* attention.sliding_window (0: none) */
    uint32_t swa_pattern;

    float attn_scale;         /* softmax scale, 1/sqrt(head_dim) */
    float final_softcap;      /* logits soft-capped to (-c, c) by c tanh(l / c); 0: none */
    infer_glu_kind ffn_glu;   /* activation of the dense feed-forward */
    infer_glu_kind moe_glu;   /* activation of the experts */
    float glu_alpha, glu_limit;  /* SwiGLU-OAI constants (gpt-oss) */
} infer_hparams;

struct infer_arch;

/* Fills hp from the metadata of g for the architecture arch (key prefix arch->name),
 * then lets the architecture's load_hparams hook read its own keys. */
infer_status infer_hparams_load(infer_hparams *hp, const infer_gguf *g, const struct infer_arch *arch,
                                infer_error *err);

/* For load_hparams hooks: optional "<arch>.<suffix>" keys. The float must be finite. */
infer_status infer_hparams_opt_f32(const infer_gguf *g, const struct infer_arch *arch, const char *suffix,
                                   float def, float *out, infer_error *err);
infer_status infer_hparams_opt_u32(const infer_gguf *g, const struct infer_arch *arch, const char *suffix,
                                   uint32_t def, uint32_t *out, infer_error *err);

/* Attention window of layer il (0: unlimited). */
static inline int32_t infer_hparams_window(const infer_hparams *hp, uint32_t il) {
    if (hp->sliding_window == 0 || hp->swa_pattern == 0) return 0;
    return il % hp->swa_pattern < hp->swa_pattern - 1 ? (int32_t)hp->sliding_window : 0;
}

/* RoPE parameters of layer il. */
static inline const infer_rope_params *infer_hparams_rope(const infer_hparams *hp, uint32_t il) {
    return hp->rope_swa_set && infer_hparams_window(hp, il) > 0 ? &hp->rope_swa : &hp->rope;
}

#endif
