/* qwen2: llama's layer with biases on Q, K and V and RoPE in the NEOX layout (the two
 * halves of each head rotate together). Output usually tied to token_embd. */
#include "models/arch.h"
#include "models/blocks.h"

static infer_status bind_layer(infer_model *m, uint32_t il, infer_error *err) {
    infer_status st = infer_bind_attention(m, il, INFER_ATTN_QKV_BIAS, err);
    return st != INFER_OK ? st : infer_bind_ffn(m, il, "ffn_norm", err);
}

const infer_arch infer_arch_qwen2 = {
    .name = "qwen2",
    .rope_mode = INFER_ROPE_NEOX,
    .chat_family = "chatml",
    .bind_layer = bind_layer,
    .forward_layer = infer_llama_forward_layer,
};
