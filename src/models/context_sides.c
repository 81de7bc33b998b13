/* A context's two sides: the placement of the model on the CPU and a GPU backend, and
 * for each side used its weights, activations and (per layer) KV cache. The automatic
 * fit's memory estimate lives here; the rules of placement in placement.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/context.h"
#include "models/kv_cache.h"

/* Makes the weights of one side usable on its backend (CPU: every weight, wrapped in
 * place; GPU: those the placement puts there, uploaded). */
static infer_status bind_weights(infer_ctx *c, int dev, infer_error *err) {
    const infer_model *m = c->m;
    infer_ctx_side *sd = &c->side[dev];
    sd->wbufs = calloc((size_t)m->n_weights, sizeof *sd->wbufs);
    sd->wviews = calloc((size_t)m->n_weights, sizeof *sd->wviews);
    if (!sd->wbufs || !sd->wviews) return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < m->n_weights; i++) {
        const infer_weight *w = &m->weights[i];
        if (dev == INFER_DEV_GPU && infer_placement_weight_dev(&c->place, m, i) != INFER_DEV_GPU) continue;
        infer_status st = sd->be->ops->weight(sd->be, w->data, w->bytes, &sd->wbufs[i]);
        if (st != INFER_OK)
            return infer_err(err, st, "cannot bind tensor '%s' (%zu bytes) on the %s backend%s", w->name, w->bytes,
                             sd->be->ops->name,
                             st == INFER_ERR_NOMEM && dev == INFER_DEV_GPU
                                 ? ": out of GPU memory, put fewer layers on the GPU (n_gpu_layers, -ngl) or let it "
                                   "fit them (auto)"
                                 : "");
        sd->wviews[i] = (infer_bview){.buf = sd->wbufs[i], .offset = 0, .type = w->type};
    }
    return INFER_OK;
}

/* Bytes of each scratch activation buffer (n_batch rows). */
static void activation_bytes(const infer_ctx *c, size_t bytes[INFER_ACT_COUNT]) {
    const infer_hparams *hp = &c->m->hp;
    const size_t B = c->p.n_batch, f = sizeof(float);
    const size_t nq = (size_t)hp->n_head * hp->head_dim, nk = (size_t)hp->n_head_kv * hp->head_dim;
    const size_t sizes[INFER_ACT_COUNT] = {
        [INFER_ACT_IDS] = B * sizeof(int32_t),
        [INFER_ACT_POS] = B * sizeof(int32_t),
        [INFER_ACT_OUT_IDS] = B * sizeof(int32_t),
        [INFER_ACT_X] = B * hp->n_embd * f,
        [INFER_ACT_XN] = B * hp->n_embd * f,
        [INFER_ACT_TMP] = B * hp->n_embd * f,
        [INFER_ACT_Q] = B * nq * f,
        [INFER_ACT_QN] = B * nq * f,
        [INFER_ACT_K] = B * nk * f,
        [INFER_ACT_KN] = B * nk * f,
        [INFER_ACT_V] = B * nk * f,
        [INFER_ACT_GATE] = B * hp->n_ff * f,
        [INFER_ACT_UP] = B * hp->n_ff * f,
        [INFER_ACT_ROUTER] = B * hp->n_expert * f,
    };
    for (int i = 0; i < INFER_ACT_COUNT; i++) bytes[i] = sizes[i] ? sizes[i] : 16;   /* unused: a token buffer */
}

static infer_status alloc_activations(infer_ctx *c, int dev, infer_error *err) {
    size_t bytes[INFER_ACT_COUNT];
    activation_bytes(c, bytes);
    infer_ctx_side *sd = &c->side[dev];
    for (int i = 0; i < INFER_ACT_COUNT; i++) {
        infer_status st = sd->be->ops->alloc(sd->be, bytes[i], &sd->act[i]);
        if (st != INFER_OK) return infer_err(err, st, "cannot allocate %zu bytes of activations", bytes[i]);
    }
    return INFER_OK;
}

/* A GPU backend's own scratch grows by doubling from 1 MiB and keeps the outgrown buffers
 * until the pass ends: at most twice the next power of two of what a step needs. */
static uint64_t grown_scratch(uint64_t need) {
    uint64_t size = (uint64_t)1 << 20;
    while (size < need) size *= 2;
    return 2 * size;
}

/* What the GPU needs besides weights and KV: activations, logits for n_batch rows, and the
 * backend's own scratch: a copy of a matmul's input rows, and the expert routing and
 * intermediates of a MoE step (n_batch x expert_used rows of 2 n_ff_exp + n_embd). */
static uint64_t gpu_scratch_bytes(const infer_ctx *c) {
    const infer_hparams *hp = &c->m->hp;
    size_t bytes[INFER_ACT_COUNT];
    activation_bytes(c, bytes);
    uint64_t total = 0;
    for (int i = 0; i < INFER_ACT_COUNT; i++) total += bytes[i];
    const uint64_t B = c->p.n_batch, f = sizeof(float);
    uint64_t widest = hp->n_ff > hp->n_embd ? hp->n_ff : hp->n_embd;
    if ((uint64_t)hp->n_head * hp->head_dim_v > widest) widest = (uint64_t)hp->n_head * hp->head_dim_v;
    total += B * hp->n_vocab * f;
    total += grown_scratch(B * widest * f);
    if (hp->n_expert > 0) {
        const uint64_t rows = B * hp->n_expert_used;
        total += grown_scratch((rows * 2 + hp->n_expert * (B + 1)) * 4 + rows * (2 * (uint64_t)hp->n_ff_exp + hp->n_embd) * f +
                               4 * 256);
    }
    return total;
}

/* Decides the placement: on a GPU backend from the parameters and its memory budget,
 * else everything on the CPU. */
static infer_status plan_placement(infer_ctx *c, infer_error *err) {
    infer_backend *be = c->be;
    if (strcmp(be->ops->name, "cpu") == 0) return infer_placement_all_cpu(c->m, &c->place, err);
    infer_placement_req req = {
        .n_gpu_layers = c->p.n_gpu_layers,
        .n_cpu_moe = c->p.n_cpu_moe,
        .kv_bytes_per_layer = infer_kv_layer_bytes(&c->m->hp, c->p.n_ctx, c->p.kv_type),
        .scratch_bytes = gpu_scratch_bytes(c),
        .gpu_free = be->ops->memory_free ? be->ops->memory_free(be) : UINT64_MAX,
    };
    return infer_placement_plan(c->m, &req, &c->place, err);
}

/* Gives each side its backend (the one opened, and a CPU backend when the placement
 * runs anything on the CPU beside a GPU), then binds weights, KV cache, activations. */
static infer_status build_sides(infer_ctx *c, infer_error *err) {
    const infer_model *m = c->m;
    const infer_placement *pl = &c->place;
    infer_status st;
    if (strcmp(c->be->ops->name, "cpu") == 0) {
        c->side[INFER_DEV_CPU].be = c->be;
    } else {
        int cpu_used = pl->output_dev == INFER_DEV_CPU || pl->embed_dev == INFER_DEV_CPU;
        for (uint32_t il = 0; il < pl->n_layer; il++)
            cpu_used |= pl->layer_dev[il] == INFER_DEV_CPU || pl->exps_dev[il] == INFER_DEV_CPU;
        if (infer_placement_uses_gpu(pl)) c->side[INFER_DEV_GPU].be = c->be;
        else c->be->ops->destroy(c->be);
        c->be = NULL;
        if (cpu_used && (st = infer_backend_cpu_new(c->p.n_threads, &c->side[INFER_DEV_CPU].be, err)) != INFER_OK)
            return st;
    }
    c->be = c->side[pl->output_dev].be;
    for (int d = 0; d < INFER_DEV_COUNT; d++) {
        if (!c->side[d].be) continue;
        if ((st = bind_weights(c, d, err)) != INFER_OK) return st;
    }
    infer_backend **be_of_layer = calloc(m->hp.n_layer ? m->hp.n_layer : 1, sizeof *be_of_layer);
    if (!be_of_layer) return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    for (uint32_t il = 0; il < m->hp.n_layer; il++) be_of_layer[il] = c->side[pl->layer_dev[il]].be;
    st = infer_kv_cache_init(&c->kv, be_of_layer, &m->hp, c->p.n_ctx, c->p.n_seq_max, c->p.kv_type, err);
    free(be_of_layer);
    if (st != INFER_OK) return st;
    for (int d = 0; d < INFER_DEV_COUNT; d++) {
        if (!c->side[d].be) continue;
        if ((st = alloc_activations(c, d, err)) != INFER_OK) return st;
    }
    const infer_hparams *hp = &m->hp;
    c->xfer_floats = (size_t)c->p.n_batch * (hp->n_embd + hp->n_expert);   /* a MoE crossing: xn and router */
    if (!(c->xfer = malloc(c->xfer_floats * sizeof(float)))) return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    const infer_backend *gpu = c->side[INFER_DEV_GPU].be;
    infer_placement_describe(pl, m, gpu ? gpu->ops->name : "gpu", c->placement_text, sizeof c->placement_text);
    return INFER_OK;
}

void infer_ctx_free_sides(infer_ctx *c) {
    /* c->be outside the sides: opened, but the sides were never built */
    if (c->be && c->be != c->side[INFER_DEV_CPU].be && c->be != c->side[INFER_DEV_GPU].be) {
        c->be->ops->destroy(c->be);
        c->be = NULL;
    }
    infer_kv_cache_free(&c->kv);
    for (int d = 0; d < INFER_DEV_COUNT; d++) {
        infer_ctx_side *sd = &c->side[d];
        infer_backend *be = sd->be;
        if (be) {
            for (int i = 0; i < INFER_ACT_COUNT; i++)
                if (sd->act[i]) be->ops->release(be, sd->act[i]);
            if (c->logits_buf && be == c->be) be->ops->release(be, c->logits_buf);
            if (sd->wbufs)
                for (int32_t i = 0; i < c->m->n_weights; i++)
                    if (sd->wbufs[i]) be->ops->release(be, sd->wbufs[i]);
            be->ops->destroy(be);
        }
        free(sd->wbufs);
        free(sd->wviews);
        memset(sd, 0, sizeof *sd);
    }
    c->be = NULL;
    c->logits_buf = NULL;
    c->logits_buf_rows = 0;
    free(c->xfer);
    c->xfer = NULL;
    infer_placement_free(&c->place);
}

/* Places the model and builds both sides. With the automatic fit, a GPU that turns out
 * short of memory anyway (the estimate missed the driver's share) is given up for the
 * CPU: AUTO never fails for lack of GPU memory when the CPU can run the model. */
infer_status infer_ctx_place_and_build(infer_ctx *c, infer_error *err) {
    infer_status st = plan_placement(c, err);
    if (st == INFER_OK) st = build_sides(c, err);
    if (st == INFER_OK || c->p.n_gpu_layers != INFER_GPU_LAYERS_AUTO || !c->side[INFER_DEV_GPU].be ||
        (st != INFER_ERR_NOMEM && st != INFER_ERR_BACKEND))
        return st;
    snprintf(c->backend_note, sizeof c->backend_note, "the GPU ran out of memory (%.200s); using the CPU",
             err ? err->message : "");
    infer_ctx_free_sides(c);
    if ((st = infer_backend_cpu_new(c->p.n_threads, &c->be, err)) != INFER_OK) return st;
    if ((st = infer_placement_all_cpu(c->m, &c->place, err)) != INFER_OK) return st;
    return build_sides(c, err);
}

