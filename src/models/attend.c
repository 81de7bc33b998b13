/* Attention over the per-sequence regions of the KV cache. The step's tokens come
 * grouped by sequence (runs); each run stores its K/V rows at its positions inside its
 * sequence's region and attends over that region alone. Seen from the kernels, a run is
 * exactly a single-sequence step on a cache that starts at the region, so a batch of k
 * sequences computes what k separate calls would (on the CPU, bit for bit). */
#include "models/forward.h"
#include "models/kv_cache.h"

void infer_attend_cache(infer_fwd *f, uint32_t il, infer_bview q, infer_bview k, infer_bview v, infer_bview sinks,
                        infer_bview out) {
    infer_backend *be = f->be;
    const infer_backend_ops *o = be->ops;
    const infer_hparams *hp = f->hp;
    const size_t nq = (size_t)hp->n_head * hp->head_dim, nk = (size_t)hp->n_head_kv * hp->head_dim;
    const size_t nv = (size_t)hp->n_head_kv * hp->head_dim_v, no = (size_t)hp->n_head * hp->head_dim_v;
    const size_t F = sizeof(float);
    for (int32_t r = 0; r < f->n_runs; r++) {
        const infer_seq_run *run = &f->runs[r];
        const size_t t0 = (size_t)run->t0;
        const infer_bview pos = infer_bview_at(f->pos, t0 * sizeof(int32_t));
        const infer_bview kc = infer_kv_seq_k(f->kv, il, run->seq), vc = infer_kv_seq_v(f->kv, il, run->seq);
        o->kv_store(be, infer_bview_at(k, t0 * nk * F), pos, run->n, (int64_t)nk, kc);
        o->kv_store(be, infer_bview_at(v, t0 * nv * F), pos, run->n, (int64_t)nv, vc);
        infer_attn_params ap = {
            .n_tokens = run->n,
            .n_head = (int32_t)hp->n_head,
            .n_head_kv = (int32_t)hp->n_head_kv,
            .head_dim = (int32_t)hp->head_dim,
            .n_kv = run->n_kv,
            .scale = hp->attn_scale,
            .window = infer_hparams_window(hp, il),
        };
        o->attention(be, infer_bview_at(q, t0 * nq * F), kc, vc, pos, sinks, &ap, infer_bview_at(out, t0 * no * F));
    }
}
