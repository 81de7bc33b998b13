/* qwen3: no QKV bias; RMSNorm over each head of Q and of K (weights of head_dim) before
 * RoPE; head_dim from attention.key_length, so n_head * head_dim may differ from n_embd;
 * NEOX RoPE. */
#include "models/arch.h"
#include "models/blocks.h"

static infer_status bind_layer(infer_model *m, uint32_t il, infer_error *err) {
    infer_status st = infer_bind_attention(m, il, INFER_ATTN_QK_NORM, err);
    return st != INFER_OK ? st : infer_bind_ffn(m, il, "ffn_norm", err);
}

const infer_arch infer_arch_qwen3 = {
    .name = "qwen3",
    .rope_mode = INFER_ROPE_NEOX,
    .chat_family = "chatml",
    .bind_layer = bind_layer,
    .forward_layer = infer_llama_forward_layer,
};
