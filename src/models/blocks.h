/* The shared building blocks of every architecture: binding and forward of the
 * attention block, the dense SwiGLU feed-forward block and the mixture-of-experts block.
 * Each forward block reads the residual stream f->x, normalizes it with its own norm
 * weight, and adds its output back into f->x. */
#ifndef INFER_MODELS_BLOCKS_H
#define INFER_MODELS_BLOCKS_H

#include "models/forward.h"
#include "models/model.h"

/* What an architecture's attention carries besides wq/wk/wv/wo. */
enum {
    INFER_ATTN_QKV_BIAS = 1 << 0,      /* bq, bk, bv required */
    INFER_ATTN_QKV_BIAS_OPT = 1 << 1,  /* bq, bk, bv, bo bound if present */
    INFER_ATTN_OUT_BIAS = 1 << 2,      /* bo required */
    INFER_ATTN_QK_NORM = 1 << 3,       /* q_norm, k_norm required (per-head RMSNorm before RoPE) */
    INFER_ATTN_SINKS = 1 << 4,         /* attn_sinks required */
};

infer_status infer_bind_attention(infer_model *m, uint32_t il, unsigned flags, infer_error *err);
/* norm_name: "ffn_norm" or "post_attention_norm". */
infer_status infer_bind_ffn(infer_model *m, uint32_t il, const char *norm_name, infer_error *err);
infer_status infer_bind_moe(infer_model *m, uint32_t il, const char *norm_name, infer_error *err);

void infer_block_attention(infer_fwd *f, uint32_t il);
void infer_block_ffn(infer_fwd *f, uint32_t il);
void infer_block_moe(infer_fwd *f, uint32_t il);

/* The llama layer (attention block then SwiGLU block), shared by llama, qwen2, qwen3. */
void infer_llama_forward_layer(infer_fwd *f, uint32_t il);

#endif
