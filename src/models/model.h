/* The loaded model: hyperparameters, the vocabulary and the weights, all bound by name
 * from the GGUF file and used in place from its read-only mapping. Read-only after
 * infer_model_load, so many contexts (and threads) may share one. */
#ifndef INFER_MODELS_MODEL_H
#define INFER_MODELS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "infer.h"
#include "models/hparams.h"

struct infer_vocab;
struct infer_arch;

/* A weight is referred to by its index in infer_model.weights; absent optional
 * weights have the id INFER_NO_WEIGHT. Contexts keep one backend view per id. */
typedef int32_t infer_wid;
#define INFER_NO_WEIGHT ((infer_wid)-1)

/* One tensor of the file, as the model uses it. ne in ggml order (ne[0] innermost,
 * the row length); unused trailing dims are 1. */
typedef struct infer_weight {
    const char *name;      /* owned by the gguf handle */
    const void *data;      /* inside the mmap */
    size_t bytes;
    uint32_t type;         /* infer_dtype */
    int64_t ne[3];
    unsigned ops;          /* bit 1 << infer_op for each weight-reading op that uses it */
} infer_weight;

/* Per-layer weights. Shapes as (ne0 = input/row length, ne1 = output rows, ne2 = experts):
 *   attn_norm, ffn_norm            (n_embd)
 *   wq (n_embd, n_head*head_dim)   wk (n_embd, n_head_kv*head_dim)   wv (n_embd, n_head_kv*head_dim_v)
 *   bq, bk, bv                     (rows of wq, wk, wv)             optional / arch-required
 *   wo (n_head*head_dim_v, n_embd) bo (n_embd)
 *   q_norm, k_norm                 (head_dim)                       qwen3, gemma3
 *   attn_post_norm, ffn_post_norm  (n_embd)                         gemma3: on a block's output
 *   sinks                          (n_head)                         gpt-oss
 *   ffn_gate, ffn_up (n_embd, n_ff)  ffn_down (n_ff, n_embd)         dense FFN
 *   gate_inp (n_embd, n_expert)    gate_inp_b (n_expert)             MoE router
 *   gate_exps, up_exps (n_embd, n_ff_exp, n_expert)  down_exps (n_ff_exp, n_embd, n_expert)
 *   gate_exps_b, up_exps_b (n_ff_exp, n_expert)      down_exps_b (n_embd, n_expert)
 * ffn_norm is `ffn_norm` for dense models and `post_attention_norm` for gpt-oss: the
 * RMSNorm applied to the residual stream before the feed-forward block. */
typedef struct infer_layer_weights {
    infer_wid attn_norm;
    infer_wid wq, wk, wv, bq, bk, bv, wo, bo;
    infer_wid q_norm, k_norm, sinks;
    infer_wid ffn_norm;
    infer_wid attn_post_norm, ffn_post_norm;
    infer_wid ffn_gate, ffn_up, ffn_down;
    infer_wid gate_inp, gate_inp_b;
    infer_wid gate_exps, up_exps, down_exps, gate_exps_b, up_exps_b, down_exps_b;
} infer_layer_weights;

struct infer_model {
    infer_gguf *gguf;
    const struct infer_arch *arch;    /* NULL only in vocab-only mode for unknown archs */
    char *arch_name;                  /* general.architecture */
    char *name;                       /* general.name or "" */
    char *chat_template;              /* tokenizer.chat_template or NULL */
    struct infer_vocab *vocab;
    bool vocab_only;

    infer_hparams hp;

    infer_weight *weights;            /* every bound tensor */
    int32_t n_weights, cap_weights;
    infer_wid tok_embd;               /* (n_embd, n_vocab) */
    infer_wid output_norm;            /* (n_embd) */
    infer_wid output;                 /* (n_embd, n_vocab); token_embd when tied */
    infer_wid rope_freqs;             /* (n_rot/2) F32, optional: per-pair RoPE frequency
                                       * divisors (Llama 3.1+), shared by every layer */
    infer_layer_weights *layers;      /* n_layer */

    uint64_t n_params;
    uint64_t size_bytes;
};

#endif
