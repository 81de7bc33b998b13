/* One forward step over the backend: embed, the architecture's layers, final norm,
 * output projection of the wanted rows only, one read-back of their logits. */
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "models/arch.h"
#include "models/blocks.h"
#include "models/forward.h"
#include "models/forward_step.h"
#include "tensor/dtype.h"

static infer_bview act(const infer_ctx_side *sd, int id, uint32_t type) {
    infer_bview v = {.buf = sd->act[id], .offset = 0, .type = type};
    return v;
}

/* Ends the pass on every side; the first error wins (a crossing's before the sides'). */
static infer_status end_all(infer_fwd_link *l, infer_error *err) {
    infer_status st = l->status;
    if (st != INFER_OK && err) *err = l->err;
    for (int d = 0; d < INFER_DEV_COUNT; d++) {
        if (!l->side[d]) continue;
        infer_error e;
        infer_status s = l->side[d]->be->ops->end(l->side[d]->be, &e);
        if (st == INFER_OK && s != INFER_OK) {
            st = s;
            if (err) *err = e;
        }
    }
    return st;
}

static void begin_all(infer_fwd_link *l) {
    for (int d = 0; d < INFER_DEV_COUNT; d++)
        if (l->side[d]) l->side[d]->be->ops->begin(l->side[d]->be);
}

/* With an abort callback: completes the work recorded so far (Vulkan submits it; the
 * CPU has already run it), asks the callback, and goes on in a new begin(). */
static infer_status between_layers(const infer_fwd_env *env, infer_fwd_link *l, infer_error *err) {
    infer_status st = end_all(l, err);
    if (st != INFER_OK) return st;
    if (env->abort_fn(env->abort_user))
        return infer_err(err, INFER_ERR_CANCELLED, "decode cancelled by the abort callback");
    begin_all(l);
    return INFER_OK;
}

void infer_fwd_move(infer_fwd *from, infer_fwd *to, const infer_fwd_copy *copies, int n) {
    infer_fwd_link *l = from->link;
    if (l->status != INFER_OK) return;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += copies[i].n_floats;
    if (total > l->host_floats) {
        l->status = infer_err(&l->err, INFER_ERR_INVALID_ARG, "a crossing of %zu values exceeds the staging (%zu)",
                              total, l->host_floats);
        return;
    }
    const infer_backend_ops *o = from->be->ops;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        o->read(from->be, copies[i].src, l->host + at, copies[i].n_floats * sizeof(float));
        at += copies[i].n_floats;
    }
    infer_status st = o->end(from->be, &l->err);   /* the read-backs complete here */
    o->begin(from->be);
    if (st != INFER_OK) {
        l->status = st;
        return;
    }
    at = 0;
    for (int i = 0; i < n; i++) {
        to->be->ops->write(to->be, copies[i].dst, l->host + at, copies[i].n_floats * sizeof(float));
        at += copies[i].n_floats;
    }
}

infer_fwd *infer_fwd_experts(infer_fwd *f, uint32_t il) {
    if (!f->link) return f;
    infer_fwd *e = f->link->side[f->link->exps_dev[il]];
    return e ? e : f;
}

/* The step's state on one side: its backend, its weight views and activations. */
static void side_state(const infer_fwd_env *env, int d, const infer_fwd *common, infer_fwd *f) {
    const infer_ctx_side *sd = &env->side[d];
    *f = *common;
    f->be = sd->be;
    f->dev = d;
    f->w = sd->wviews;
    f->pos = act(sd, INFER_ACT_POS, INFER_TYPE_I32);
    f->x = act(sd, INFER_ACT_X, INFER_TYPE_F32);
    f->xn = act(sd, INFER_ACT_XN, INFER_TYPE_F32);
    f->q = act(sd, INFER_ACT_Q, INFER_TYPE_F32);
    f->qn = act(sd, INFER_ACT_QN, INFER_TYPE_F32);
    f->k = act(sd, INFER_ACT_K, INFER_TYPE_F32);
    f->kn = act(sd, INFER_ACT_KN, INFER_TYPE_F32);
    f->v = act(sd, INFER_ACT_V, INFER_TYPE_F32);
    f->tmp = act(sd, INFER_ACT_TMP, INFER_TYPE_F32);
    f->gate = act(sd, INFER_ACT_GATE, INFER_TYPE_F32);
    f->up = act(sd, INFER_ACT_UP, INFER_TYPE_F32);
    f->router = act(sd, INFER_ACT_ROUTER, INFER_TYPE_F32);
}

/* Moves the residual stream to side d when the previous group ran elsewhere. */
static infer_fwd *go_to(infer_fwd *cur, infer_fwd *next) {
    if (next != cur) {
        const infer_fwd_copy x = {cur->x, next->x, (size_t)cur->n * cur->hp->n_embd};
        infer_fwd_move(cur, next, &x, 1);
    }
    return next;
}

infer_status infer_forward_step(const infer_fwd_env *env, const infer_step *s, infer_error *err) {
    const int32_t *tokens = s->tokens, *pos = s->pos, *out_ids = s->out_ids;
    const int32_t n = s->n, n_out = s->n_out;
    float *logits_out = s->logits_out;
    const infer_model *m = env->m;
    const infer_hparams *hp = &m->hp;
    const infer_placement *pl = env->place;
    infer_status st = INFER_OK;

    int32_t n_kv = 1;
    for (int32_t r = 0; r < s->n_runs; r++)
        if (s->runs[r].n_kv > n_kv) n_kv = s->runs[r].n_kv;

    infer_fwd_link link = {.exps_dev = pl->exps_dev, .host = env->xfer, .host_floats = env->xfer_floats};
    const infer_fwd common = {
        .link = &link,
        .m = m,
        .hp = hp,
        .n = n,
        .n_kv = n_kv,
        .runs = s->runs,
        .n_runs = s->n_runs,
        .kv = env->kv,
        .k_cache = env->kv->k,
        .v_cache = env->kv->v,
        .dump_dir = env->dump_dir,
    };
    infer_fwd fw[INFER_DEV_COUNT];
    for (int d = 0; d < INFER_DEV_COUNT; d++) {
        if (!env->side[d].be) continue;
        side_state(env, d, &common, &fw[d]);
        link.side[d] = &fw[d];
    }
    const int64_t E = hp->n_embd;

    begin_all(&link);
    for (int d = 0; d < INFER_DEV_COUNT; d++)
        if (link.side[d]) fw[d].be->ops->write(fw[d].be, fw[d].pos, pos, (size_t)n * sizeof(int32_t));
    infer_fwd *f = &fw[pl->embed_dev];
    const infer_bview ids = act(&env->side[pl->embed_dev], INFER_ACT_IDS, INFER_TYPE_I32);
    f->be->ops->write(f->be, ids, tokens, (size_t)n * sizeof(int32_t));
    if (m->arch->embed) m->arch->embed(f, ids);
    else infer_block_embed(f, ids);
    for (uint32_t il = 0; il < hp->n_layer && link.status == INFER_OK; il++) {
        f = go_to(f, &fw[pl->layer_dev[il]]);
        m->arch->forward_layer(f, il);
        infer_fwd_dump(f, "l_out", (int)il, f->x, E);
        if (env->abort_fn && (st = between_layers(env, &link, err)) != INFER_OK) return st;
    }
    f = go_to(f, &fw[pl->output_dev]);
    infer_backend *be = f->be;
    const infer_backend_ops *o = be->ops;
    o->rms_norm(be, f->x, f->w[m->output_norm], n, E, hp->rms_eps, f->xn);
    infer_fwd_dump(f, "result_norm", -1, f->xn, E);
    if (s->embd_out) o->read(be, f->xn, s->embd_out, (size_t)n * E * sizeof(float));

    if (n_out > 0) {
        infer_bview rows = f->xn;
        if (n_out < n) {   /* gather the wanted rows so the output projection skips the rest */
            const infer_bview oid = act(&env->side[pl->output_dev], INFER_ACT_OUT_IDS, INFER_TYPE_I32);
            o->write(be, oid, out_ids, (size_t)n_out * sizeof(int32_t));
            o->get_rows(be, f->xn, E, oid, n_out, f->tmp);
            rows = f->tmp;
        }
        const infer_bview logits = env->logits;
        if (m->arch->output) m->arch->output(f, rows, n_out, logits);
        else infer_block_output(f, rows, n_out, logits);
        o->read(be, logits, logits_out, (size_t)n_out * hp->n_vocab * sizeof(float));
    }
    return end_all(&link, err);
}

void infer_fwd_dump(infer_fwd *f, const char *name, int il, infer_bview v, int64_t row_len) {
    if (!f->dump_dir) return;
    size_t count = (size_t)f->n * (size_t)row_len;
    float *host = malloc(count * sizeof(float));
    if (!host) return;
    const infer_backend_ops *o = f->be->ops;
    o->read(f->be, v, host, count * sizeof(float));
    infer_error e;
    o->end(f->be, &e);   /* read-back completes here; the pass goes on in a new begin() */
    char path[1024];
    if (il >= 0) snprintf(path, sizeof path, "%s/%s-%d.f32", f->dump_dir, name, il);
    else snprintf(path, sizeof path, "%s/%s.f32", f->dump_dir, name);
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fwrite(host, sizeof(float), count, fp);
        fclose(fp);
    }
    free(host);
    o->begin(f->be);
}
