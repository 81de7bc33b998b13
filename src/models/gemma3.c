/* gemma3: embeddings scaled by sqrt(n_embd); RMSNorm before and after attention and
 * after the feed-forward (the file's norm weights already hold Gemma's 1 + w); per-head
 * Q/K norms; NEOX RoPE with base 10000 on the sliding-window layers (five of every six)
 * and rope.freq_base on the others; GEGLU feed-forward (GELU, tanh form); tied output,
 * soft-capped when the file says final_logit_softcapping. */
#include <math.h>

#include "core/error.h"
#include "models/arch.h"
#include "models/blocks.h"
#include "models/hparams.h"

static infer_status load_hparams(infer_hparams *hp, const infer_gguf *g, const infer_arch *a, infer_error *err) {
    hp->rope_swa = hp->rope;   /* same n_rot and mode; own base, no scaling */
    hp->rope_swa.freq_scale = 1.0f;
    hp->rope_swa.yarn_factor = 1.0f;
    hp->rope_swa.attn_factor = 1.0f;
    hp->rope_swa_set = true;
    infer_status st = infer_hparams_opt_f32(g, a, "rope.freq_base_swa", 10000.0f, &hp->rope_swa.freq_base, err);
    if (st != INFER_OK) return st;
    if (!(hp->rope_swa.freq_base > 0.0f))
        return infer_err(err, INFER_ERR_FORMAT, "gemma3.rope.freq_base_swa: invalid value %g", hp->rope_swa.freq_base);
    st = infer_hparams_opt_f32(g, a, "final_logit_softcapping", 0.0f, &hp->final_softcap, err);
    if (st != INFER_OK) return st;
    if (hp->final_softcap < 0.0f)
        return infer_err(err, INFER_ERR_FORMAT, "gemma3.final_logit_softcapping: invalid value %g", hp->final_softcap);
    /* The 27B model (62 layers) scales queries by 1/sqrt(n_embd / n_head), not head_dim. */
    if (hp->n_layer == 62) hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
    return INFER_OK;
}

static infer_status bind_layer(infer_model *m, uint32_t il, infer_error *err) {
    infer_layer_weights *L = &m->layers[il];
    infer_status st = infer_bind_attention(m, il, INFER_ATTN_QK_NORM, err);
    if (st == INFER_OK) st = infer_bind_layer_norm(m, il, "post_attention_norm", &L->attn_post_norm, err);
    if (st == INFER_OK) st = infer_bind_ffn(m, il, "ffn_norm", err);
    if (st == INFER_OK) st = infer_bind_layer_norm(m, il, "post_ffw_norm", &L->ffn_post_norm, err);
    return st;
}

static void embed(infer_fwd *f, infer_bview ids) {
    infer_block_embed(f, ids);
    f->be->ops->scale(f->be, f->x, (int64_t)f->n * f->hp->n_embd, sqrtf((float)f->hp->n_embd), 0.0f, f->x);
}

static void forward_layer(infer_fwd *f, uint32_t il) {
    const infer_layer_weights *L = &f->m->layers[il];
    infer_block_norm(f, L->attn_norm, f->x, f->xn);
    infer_block_attention_core(f, il);
    infer_block_norm(f, L->attn_post_norm, f->tmp, f->tmp);
    infer_block_residual(f);
    infer_block_norm(f, L->ffn_norm, f->x, f->xn);
    infer_block_ffn_core(f, il);
    infer_block_norm(f, L->ffn_post_norm, f->tmp, f->tmp);
    infer_block_residual(f);
}

static void output(infer_fwd *f, infer_bview rows, int64_t n_rows, infer_bview logits) {
    infer_block_output(f, rows, n_rows, logits);
    if (f->hp->final_softcap > 0.0f)
        f->be->ops->scale(f->be, logits, n_rows * f->hp->n_vocab, 1.0f, f->hp->final_softcap, logits);
}

const infer_arch infer_arch_gemma3 = {
    .name = "gemma3",
    .rope_mode = INFER_ROPE_NEOX,
    .swa_pattern = 6,
    .ffn_glu = INFER_GLU_GEGLU,
    .chat_family = "gemma",
    .load_hparams = load_hparams,
    .bind_layer = bind_layer,
    .embed = embed,
    .forward_layer = forward_layer,
    .output = output,
};
