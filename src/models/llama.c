/* llama: RMSNorm, RoPE on consecutive pairs, grouped-query attention (biases bound when
 * the file has them), SwiGLU feed-forward. */
#include "models/arch.h"
#include "models/blocks.h"

static infer_status bind_layer(infer_model *m, uint32_t il, infer_error *err) {
    infer_status st = infer_bind_attention(m, il, INFER_ATTN_QKV_BIAS_OPT, err);
    return st != INFER_OK ? st : infer_bind_ffn(m, il, "ffn_norm", err);
}

/* Also the layer of qwen2 and qwen3: they differ from llama only in data (RoPE mode,
 * which attention weights exist), which the blocks read from the model. */
void infer_llama_forward_layer(infer_fwd *f, uint32_t il) {
    infer_block_attention(f, il);
    infer_block_ffn(f, il);
}

const infer_arch infer_arch_llama = {
    .name = "llama",
    .rope_mode = INFER_ROPE_NORMAL,
    .bind_layer = bind_layer,
    .forward_layer = infer_llama_forward_layer,
};
