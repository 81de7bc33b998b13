#include "models/blocks.h"

#include "models/weights.h"

#define BIND(out, flags, a, b, c, ...) \
    do { \
        infer_status st_ = infer_weight_bind(m, (out), (flags), (a), (b), (c), err, __VA_ARGS__); \
        if (st_ != INFER_OK) return st_; \
    } while (0)

infer_status infer_bind_attention(infer_model *m, uint32_t il, unsigned flags, infer_error *err) {
    const infer_hparams *hp = &m->hp;
    infer_layer_weights *L = &m->layers[il];
    const int64_t E = hp->n_embd;
    const int64_t nq = (int64_t)hp->n_head * hp->head_dim;
    const int64_t nk = (int64_t)hp->n_head_kv * hp->head_dim;
    const int64_t nv = (int64_t)hp->n_head_kv * hp->head_dim_v;
    const int64_t no = (int64_t)hp->n_head * hp->head_dim_v;

    BIND(&L->attn_norm, INFER_BIND_F32, E, 1, 1, "blk.%u.attn_norm.weight", il);
    BIND(&L->wq, 0, E, nq, 1, "blk.%u.attn_q.weight", il);
    BIND(&L->wk, 0, E, nk, 1, "blk.%u.attn_k.weight", il);
    BIND(&L->wv, 0, E, nv, 1, "blk.%u.attn_v.weight", il);
    BIND(&L->wo, 0, no, E, 1, "blk.%u.attn_output.weight", il);

    unsigned bias = INFER_BIND_F32;
    if (flags & INFER_ATTN_QKV_BIAS_OPT) bias |= INFER_BIND_OPTIONAL;
    if (flags & (INFER_ATTN_QKV_BIAS | INFER_ATTN_QKV_BIAS_OPT)) {
        BIND(&L->bq, bias, nq, 1, 1, "blk.%u.attn_q.bias", il);
        BIND(&L->bk, bias, nk, 1, 1, "blk.%u.attn_k.bias", il);
        BIND(&L->bv, bias, nv, 1, 1, "blk.%u.attn_v.bias", il);
    }
    if (flags & (INFER_ATTN_OUT_BIAS | INFER_ATTN_QKV_BIAS_OPT)) {
        unsigned ob = INFER_BIND_F32 | ((flags & INFER_ATTN_OUT_BIAS) ? 0 : INFER_BIND_OPTIONAL);
        BIND(&L->bo, ob, E, 1, 1, "blk.%u.attn_output.bias", il);
    }
    if (flags & INFER_ATTN_QK_NORM) {
        BIND(&L->q_norm, INFER_BIND_F32, hp->head_dim, 1, 1, "blk.%u.attn_q_norm.weight", il);
        BIND(&L->k_norm, INFER_BIND_F32, hp->head_dim, 1, 1, "blk.%u.attn_k_norm.weight", il);
    }
    if (flags & INFER_ATTN_SINKS) BIND(&L->sinks, INFER_BIND_F32, hp->n_head, 1, 1, "blk.%u.attn_sinks.weight", il);
    return INFER_OK;
}

infer_status infer_bind_ffn(infer_model *m, uint32_t il, const char *norm_name, infer_error *err) {
    const infer_hparams *hp = &m->hp;
    infer_layer_weights *L = &m->layers[il];
    BIND(&L->ffn_norm, INFER_BIND_F32, hp->n_embd, 1, 1, "blk.%u.%s.weight", il, norm_name);
    BIND(&L->ffn_gate, 0, hp->n_embd, hp->n_ff, 1, "blk.%u.ffn_gate.weight", il);
    BIND(&L->ffn_up, 0, hp->n_embd, hp->n_ff, 1, "blk.%u.ffn_up.weight", il);
    BIND(&L->ffn_down, 0, hp->n_ff, hp->n_embd, 1, "blk.%u.ffn_down.weight", il);
    return INFER_OK;
}

infer_status infer_bind_layer_norm(infer_model *m, uint32_t il, const char *name, infer_wid *out, infer_error *err) {
    BIND(out, INFER_BIND_F32, m->hp.n_embd, 1, 1, "blk.%u.%s.weight", il, name);
    return INFER_OK;
}

infer_status infer_bind_moe(infer_model *m, uint32_t il, const char *norm_name, infer_error *err) {
    const infer_hparams *hp = &m->hp;
    infer_layer_weights *L = &m->layers[il];
    const int64_t E = hp->n_embd, F = hp->n_ff_exp, X = hp->n_expert;
    BIND(&L->ffn_norm, INFER_BIND_F32, E, 1, 1, "blk.%u.%s.weight", il, norm_name);
    BIND(&L->gate_inp, INFER_BIND_F32, E, X, 1, "blk.%u.ffn_gate_inp.weight", il);
    BIND(&L->gate_inp_b, INFER_BIND_F32 | INFER_BIND_OPTIONAL, X, 1, 1, "blk.%u.ffn_gate_inp.bias", il);
    BIND(&L->gate_exps, INFER_BIND_MOE, E, F, X, "blk.%u.ffn_gate_exps.weight", il);
    BIND(&L->up_exps, INFER_BIND_MOE, E, F, X, "blk.%u.ffn_up_exps.weight", il);
    BIND(&L->down_exps, INFER_BIND_MOE, F, E, X, "blk.%u.ffn_down_exps.weight", il);
    BIND(&L->gate_exps_b, INFER_BIND_F32 | INFER_BIND_OPTIONAL, F, X, 1, "blk.%u.ffn_gate_exps.bias", il);
    BIND(&L->up_exps_b, INFER_BIND_F32 | INFER_BIND_OPTIONAL, F, X, 1, "blk.%u.ffn_up_exps.bias", il);
    BIND(&L->down_exps_b, INFER_BIND_F32 | INFER_BIND_OPTIONAL, E, X, 1, "blk.%u.ffn_down_exps.bias", il);
    return INFER_OK;
}

void infer_block_norm(infer_fwd *f, infer_wid w, infer_bview in, infer_bview out) {
    f->be->ops->rms_norm(f->be, in, infer_fwd_w(f, w), f->n, f->hp->n_embd, f->hp->rms_eps, out);
}

void infer_block_residual(infer_fwd *f) {
    f->be->ops->add(f->be, f->x, f->tmp, (int64_t)f->n * f->hp->n_embd, f->x);
}

/* count matmuls over the same x: in one call where the backend can share x's
 * conversion among them, else one call each. */
static void block_matmuls(infer_fwd *f, const infer_matmul_out *outs, int count, int64_t cols, infer_bview x) {
    infer_backend *be = f->be;
    if (be->ops->matmul_shared) {
        be->ops->matmul_shared(be, outs, count, cols, x, f->n);
        return;
    }
    for (int i = 0; i < count; i++) be->ops->matmul(be, outs[i].W, outs[i].rows, cols, x, f->n, outs[i].bias, outs[i].y);
}

void infer_block_attention_core(infer_fwd *f, uint32_t il) {
    infer_backend *be = f->be;
    const infer_backend_ops *o = be->ops;
    const infer_hparams *hp = f->hp;
    const infer_layer_weights *L = &f->m->layers[il];
    const int64_t n = f->n, E = hp->n_embd, hd = hp->head_dim;
    const int64_t nq = (int64_t)hp->n_head * hd, nk = (int64_t)hp->n_head_kv * hd;
    const int64_t nv = (int64_t)hp->n_head_kv * hp->head_dim_v;

    const infer_matmul_out qkv[3] = {
        {infer_fwd_w(f, L->wq), nq, infer_fwd_w(f, L->bq), f->q},
        {infer_fwd_w(f, L->wk), nk, infer_fwd_w(f, L->bk), f->k},
        {infer_fwd_w(f, L->wv), nv, infer_fwd_w(f, L->bv), f->v},
    };
    block_matmuls(f, qkv, 3, E, f->xn);

    /* Q/K head norms (qwen3, gemma3): RMSNorm over each head of Q and K, before RoPE. */
    infer_bview q = f->q, k = f->k, out = f->qn;
    if (L->q_norm != INFER_NO_WEIGHT) {
        o->rms_norm(be, f->q, infer_fwd_w(f, L->q_norm), n * hp->n_head, hd, hp->rms_eps, f->qn);
        o->rms_norm(be, f->k, infer_fwd_w(f, L->k_norm), n * hp->n_head_kv, hd, hp->rms_eps, f->kn);
        q = f->qn;
        k = f->kn;
        out = f->q;
    }
    const infer_bview freq_factors = infer_fwd_w(f, f->m->rope_freqs);   /* .buf NULL when absent */
    const infer_rope_params *rope = infer_hparams_rope(hp, il);
    o->rope(be, q, f->pos, n, hp->n_head, hd, freq_factors, rope);
    o->rope(be, k, f->pos, n, hp->n_head_kv, hd, freq_factors, rope);

    infer_attend_cache(f, il, q, k, f->v, infer_fwd_w(f, L->sinks), out);

    o->matmul(be, infer_fwd_w(f, L->wo), E, (int64_t)hp->n_head * hp->head_dim_v, out, n, infer_fwd_w(f, L->bo),
              f->tmp);
    infer_fwd_dump(f, "attn_out", (int)il, f->tmp, E);
}

void infer_block_ffn_core(infer_fwd *f, uint32_t il) {
    infer_backend *be = f->be;
    const infer_backend_ops *o = be->ops;
    const infer_hparams *hp = f->hp;
    const infer_layer_weights *L = &f->m->layers[il];
    const int64_t n = f->n, E = hp->n_embd, F = hp->n_ff;
    const infer_bview none = {0};

    const infer_matmul_out gate_up[2] = {
        {infer_fwd_w(f, L->ffn_gate), F, none, f->gate},
        {infer_fwd_w(f, L->ffn_up), F, none, f->up},
    };
    block_matmuls(f, gate_up, 2, E, f->xn);
    if (o->matmul_glu) {
        o->matmul_glu(be, infer_fwd_w(f, L->ffn_down), E, F, hp->ffn_glu, f->gate, f->up, n, hp->glu_alpha,
                      hp->glu_limit, f->tmp);
    } else {
        o->glu(be, hp->ffn_glu, f->gate, f->up, n * F, hp->glu_alpha, hp->glu_limit, f->gate);
        o->matmul(be, infer_fwd_w(f, L->ffn_down), E, F, f->gate, n, none, f->tmp);
    }
    infer_fwd_dump(f, "ffn_out", (int)il, f->tmp, E);
}

void infer_block_moe_core(infer_fwd *f, uint32_t il) {
    infer_backend *be = f->be;
    const infer_backend_ops *o = be->ops;
    const infer_hparams *hp = f->hp;
    const infer_layer_weights *L = &f->m->layers[il];
    const int64_t n = f->n, E = hp->n_embd;

    o->matmul(be, infer_fwd_w(f, L->gate_inp), hp->n_expert, E, f->xn, n, infer_fwd_w(f, L->gate_inp_b), f->router);
    /* Experts kept on another backend (--n-cpu-moe): the normed rows and router logits go
     * there, the expert FFN runs there, its output comes back. */
    infer_fwd *e = infer_fwd_experts(f, il);
    if (e != f) {
        const infer_fwd_copy in[2] = {{f->xn, e->xn, (size_t)n * E}, {f->router, e->router, (size_t)n * hp->n_expert}};
        infer_fwd_move(f, e, in, 2);
    }
    e->be->ops->moe(e->be, e->xn, e->router, n, E, hp->n_ff_exp, (int32_t)hp->n_expert, (int32_t)hp->n_expert_used,
                    infer_fwd_w(e, L->gate_exps), infer_fwd_w(e, L->gate_exps_b), infer_fwd_w(e, L->up_exps),
                    infer_fwd_w(e, L->up_exps_b), infer_fwd_w(e, L->down_exps), infer_fwd_w(e, L->down_exps_b),
                    hp->moe_glu, hp->glu_alpha, hp->glu_limit, e->tmp);
    if (e != f) {
        const infer_fwd_copy out = {e->tmp, f->tmp, (size_t)n * E};
        infer_fwd_move(e, f, &out, 1);
    }
    infer_fwd_dump(f, "ffn_moe_out", (int)il, f->tmp, E);
}

void infer_block_attention(infer_fwd *f, uint32_t il) {
    infer_block_norm(f, f->m->layers[il].attn_norm, f->x, f->xn);
    infer_fwd_dump(f, "attn_norm", (int)il, f->xn, f->hp->n_embd);
    infer_block_attention_core(f, il);
    infer_block_residual(f);
}

void infer_block_ffn(infer_fwd *f, uint32_t il) {
    infer_block_norm(f, f->m->layers[il].ffn_norm, f->x, f->xn);
    infer_block_ffn_core(f, il);
    infer_block_residual(f);
}

void infer_block_moe(infer_fwd *f, uint32_t il) {
    infer_block_norm(f, f->m->layers[il].ffn_norm, f->x, f->xn);
    infer_block_moe_core(f, il);
    infer_block_residual(f);
}

void infer_block_embed(infer_fwd *f, infer_bview ids) {
    f->be->ops->get_rows(f->be, infer_fwd_w(f, f->m->tok_embd), f->hp->n_embd, ids, f->n, f->x);
}

void infer_block_output(infer_fwd *f, infer_bview rows, int64_t n_rows, infer_bview logits) {
    const infer_bview none = {0};
    f->be->ops->matmul(f->be, infer_fwd_w(f, f->m->output), f->hp->n_vocab, f->hp->n_embd, rows, n_rows, none, logits);
}
