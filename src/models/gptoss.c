/* gpt-oss: attention with biases on Q, K, V and output and one learned sink logit per
 * head; a sliding window on even layers (swa_pattern 2); YaRN RoPE in the NEOX layout;
 * post_attention_norm feeds a mixture of experts routed by softmax over the top-k
 * router logits, each expert a SwiGLU-OAI (alpha 1.702, clamp 7) with biases. */
#include "models/arch.h"
#include "models/blocks.h"

static infer_status bind_layer(infer_model *m, uint32_t il, infer_error *err) {
    infer_status st = infer_bind_attention(m, il, INFER_ATTN_QKV_BIAS | INFER_ATTN_OUT_BIAS | INFER_ATTN_SINKS, err);
    return st != INFER_OK ? st : infer_bind_moe(m, il, "post_attention_norm", err);
}

static void forward_layer(infer_fwd *f, uint32_t il) {
    infer_block_attention(f, il);
    infer_block_moe(f, il);
}

const infer_arch infer_arch_gptoss = {
    .name = "gpt-oss",
    .rope_mode = INFER_ROPE_NEOX,
    .chat_family = "harmony",
    .moe = true,
    .swa_pattern = 2,
    .moe_glu = INFER_GLU_SWIGLU_OAI,
    .glu_alpha = 1.702f,
    .glu_limit = 7.0f,
    .bind_layer = bind_layer,
    .forward_layer = forward_layer,
};
