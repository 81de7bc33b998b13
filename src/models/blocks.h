/* The shared building blocks of every architecture, in two sizes.
 *
 * Pieces: a norm, the attention core (projections, optional Q/K head norms, RoPE, KV
 * store, attention, output projection), the feed-forward kinds (dense GLU of
 * hp->ffn_glu, mixture of experts) and the residual add. A core reads the normed rows
 * f->xn and leaves its output in f->tmp; the residual adds f->tmp into the stream f->x.
 * Composed pre-norm blocks: norm -> core -> residual, the layer of llama-like models.
 * Architectures with other arrangements (Gemma's post norms) compose the pieces. */
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

/* ---- binding */
infer_status infer_bind_attention(infer_model *m, uint32_t il, unsigned flags, infer_error *err);
/* norm_name: "ffn_norm" or "post_attention_norm". */
infer_status infer_bind_ffn(infer_model *m, uint32_t il, const char *norm_name, infer_error *err);
infer_status infer_bind_moe(infer_model *m, uint32_t il, const char *norm_name, infer_error *err);
/* A per-layer F32 norm weight of n_embd, "blk.<il>.<name>.weight". */
infer_status infer_bind_layer_norm(infer_model *m, uint32_t il, const char *name, infer_wid *out, infer_error *err);

/* ---- pieces */
/* out = RMSNorm(in) * w over the step's n rows of n_embd. */
void infer_block_norm(infer_fwd *f, infer_wid w, infer_bview in, infer_bview out);
void infer_block_attention_core(infer_fwd *f, uint32_t il);   /* f->xn -> f->tmp */
void infer_block_ffn_core(infer_fwd *f, uint32_t il);         /* f->xn -> f->tmp */
void infer_block_moe_core(infer_fwd *f, uint32_t il);         /* f->xn -> f->tmp */
void infer_block_residual(infer_fwd *f);                      /* f->x += f->tmp */

/* ---- composed pre-norm blocks: norm (attn_norm / ffn_norm) -> core -> residual */
void infer_block_attention(infer_fwd *f, uint32_t il);
void infer_block_ffn(infer_fwd *f, uint32_t il);
void infer_block_moe(infer_fwd *f, uint32_t il);

/* ---- default hooks of infer_arch */
void infer_block_embed(infer_fwd *f, infer_bview ids);
void infer_block_output(infer_fwd *f, infer_bview rows, int64_t n_rows, infer_bview logits);

/* The llama layer (attention block then feed-forward block), shared by llama, qwen2, qwen3. */
void infer_llama_forward_layer(infer_fwd *f, uint32_t il);

#endif
