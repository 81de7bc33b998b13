/* One forward step over the backend: embed, the architecture's layers, final norm,
 * output projection of the wanted rows only, one read-back of their logits. */
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "models/arch.h"
#include "models/blocks.h"
#include "models/context.h"
#include "models/forward.h"
#include "tensor/dtype.h"

static infer_bview act(const infer_ctx *c, int id, uint32_t type) {
    infer_bview v = {.buf = c->act[id], .offset = 0, .type = type};
    return v;
}

/* The logits buffer on the backend grows to the largest number of wanted rows seen. */
static infer_status reserve_logits(infer_ctx *c, int32_t rows, infer_error *err) {
    if (rows <= c->logits_buf_rows) return INFER_OK;
    infer_backend *be = c->be;
    if (c->logits_buf) be->ops->release(be, c->logits_buf);
    c->logits_buf = NULL;
    c->logits_buf_rows = 0;
    size_t bytes = (size_t)rows * c->m->hp.n_vocab * sizeof(float);
    infer_status st = be->ops->alloc(be, bytes, &c->logits_buf);
    if (st != INFER_OK) return infer_err(err, st, "cannot allocate %zu bytes for logits", bytes);
    c->logits_buf_rows = rows;
    return INFER_OK;
}

/* With an abort callback: completes the work recorded so far (Vulkan submits it; the
 * CPU has already run it), asks the callback, and goes on in a new begin(). */
static infer_status between_layers(infer_ctx *c, infer_error *err) {
    const infer_backend_ops *o = c->be->ops;
    infer_status st = o->end(c->be, err);
    if (st != INFER_OK) return st;
    if (c->abort_fn(c->abort_user))
        return infer_err(err, INFER_ERR_CANCELLED, "decode cancelled by the abort callback");
    o->begin(c->be);
    return INFER_OK;
}

infer_status infer_forward_step(infer_ctx *c, const infer_step *s, infer_error *err) {
    const int32_t *tokens = s->tokens, *pos = s->pos, *out_ids = s->out_ids;
    const int32_t n = s->n, n_out = s->n_out;
    float *logits_out = s->logits_out;
    const infer_model *m = c->m;
    const infer_hparams *hp = &m->hp;
    infer_backend *be = c->be;
    const infer_backend_ops *o = be->ops;

    infer_status st = reserve_logits(c, n_out > 0 ? n_out : 1, err);
    if (st != INFER_OK) return st;

    int32_t n_kv = 1;
    for (int32_t r = 0; r < s->n_runs; r++)
        if (s->runs[r].n_kv > n_kv) n_kv = s->runs[r].n_kv;

    infer_fwd f = {
        .be = be,
        .m = m,
        .hp = hp,
        .w = c->wviews,
        .n = n,
        .n_kv = n_kv,
        .runs = s->runs,
        .n_runs = s->n_runs,
        .kv = &c->kv,
        .pos = act(c, INFER_ACT_POS, INFER_TYPE_I32),
        .x = act(c, INFER_ACT_X, INFER_TYPE_F32),
        .xn = act(c, INFER_ACT_XN, INFER_TYPE_F32),
        .q = act(c, INFER_ACT_Q, INFER_TYPE_F32),
        .qn = act(c, INFER_ACT_QN, INFER_TYPE_F32),
        .k = act(c, INFER_ACT_K, INFER_TYPE_F32),
        .kn = act(c, INFER_ACT_KN, INFER_TYPE_F32),
        .v = act(c, INFER_ACT_V, INFER_TYPE_F32),
        .tmp = act(c, INFER_ACT_TMP, INFER_TYPE_F32),
        .gate = act(c, INFER_ACT_GATE, INFER_TYPE_F32),
        .up = act(c, INFER_ACT_UP, INFER_TYPE_F32),
        .router = act(c, INFER_ACT_ROUTER, INFER_TYPE_F32),
        .k_cache = c->kv.k,
        .v_cache = c->kv.v,
        .dump_ctx = c->dump_dir ? c : NULL,
    };
    const infer_bview ids = act(c, INFER_ACT_IDS, INFER_TYPE_I32);
    const int64_t E = hp->n_embd;

    o->begin(be);
    o->write(be, ids, tokens, (size_t)n * sizeof(int32_t));
    o->write(be, f.pos, pos, (size_t)n * sizeof(int32_t));
    if (m->arch->embed) m->arch->embed(&f, ids);
    else infer_block_embed(&f, ids);
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        m->arch->forward_layer(&f, il);
        infer_fwd_dump(&f, "l_out", (int)il, f.x, E);
        if (c->abort_fn && (st = between_layers(c, err)) != INFER_OK) return st;
    }
    o->rms_norm(be, f.x, c->wviews[m->output_norm], n, E, hp->rms_eps, f.xn);
    infer_fwd_dump(&f, "result_norm", -1, f.xn, E);
    if (s->embd_out) o->read(be, f.xn, s->embd_out, (size_t)n * E * sizeof(float));

    if (n_out > 0) {
        infer_bview rows = f.xn;
        if (n_out < n) {   /* gather the wanted rows so the output projection skips the rest */
            const infer_bview oid = act(c, INFER_ACT_OUT_IDS, INFER_TYPE_I32);
            o->write(be, oid, out_ids, (size_t)n_out * sizeof(int32_t));
            o->get_rows(be, f.xn, E, oid, n_out, f.tmp);
            rows = f.tmp;
        }
        const infer_bview logits = {.buf = c->logits_buf, .offset = 0, .type = INFER_TYPE_F32};
        if (m->arch->output) m->arch->output(&f, rows, n_out, logits);
        else infer_block_output(&f, rows, n_out, logits);
        o->read(be, logits, logits_out, (size_t)n_out * hp->n_vocab * sizeof(float));
    }
    return o->end(be, err);
}

void infer_fwd_dump(infer_fwd *f, const char *name, int il, infer_bview v, int64_t row_len) {
    infer_ctx *c = f->dump_ctx;
    if (!c) return;
    size_t count = (size_t)f->n * (size_t)row_len;
    float *host = malloc(count * sizeof(float));
    if (!host) return;
    const infer_backend_ops *o = f->be->ops;
    o->read(f->be, v, host, count * sizeof(float));
    infer_error e;
    o->end(f->be, &e);   /* read-back completes here; the pass goes on in a new begin() */
    char path[1024];
    if (il >= 0) snprintf(path, sizeof path, "%s/%s-%d.f32", c->dump_dir, name, il);
    else snprintf(path, sizeof path, "%s/%s.f32", c->dump_dir, name);
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fwrite(host, sizeof(float), count, fp);
        fclose(fp);
    }
    free(host);
    o->begin(f->be);
}
