/* Context creation (backend choice, weights bound on the backend, KV cache, scratch)
 * and its accessors. Decoding is in decode.c, sequences in sequences.c. */
#include "models/context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "models/arch.h"
#include "models/weights.h"

static infer_status open_backend(infer_ctx *c, infer_error *err) {
    const infer_ctx_params *p = &c->p;
    switch (p->backend) {
    case INFER_BACKEND_AUTO:
        /* A real GPU if there is one (never an emulated one), else the CPU. */
        if (infer_backend_vulkan_new(p->device_index, 1, &c->be, NULL) == INFER_OK) return INFER_OK;
        c->be = NULL;
        return infer_backend_cpu_new(p->n_threads, &c->be, err);
    case INFER_BACKEND_CPU:
        return infer_backend_cpu_new(p->n_threads, &c->be, err);
    case INFER_BACKEND_VULKAN:
        return infer_backend_vulkan_new(p->device_index, 0, &c->be, err);
    }
    return infer_err(err, INFER_ERR_INVALID_ARG, "unknown backend kind %d", (int)p->backend);
}

/* Every weight's type must have a kernel on the chosen backend. AUTO falls back to the
 * CPU (the reason kept in backend_note); an explicit choice fails here, at creation. */
static infer_status check_kernels(infer_ctx *c, infer_error *err) {
    char why[sizeof c->backend_note - 32];
    if (infer_weights_check_backend(c->m, c->be, why, sizeof why) == INFER_OK) return INFER_OK;
    if (c->p.backend != INFER_BACKEND_AUTO || strcmp(c->be->ops->name, "cpu") == 0)
        return infer_err(err, INFER_ERR_UNSUPPORTED, "%s", why);
    snprintf(c->backend_note, sizeof c->backend_note, "%s; using the CPU", why);
    c->be->ops->destroy(c->be);
    c->be = NULL;
    infer_status st = infer_backend_cpu_new(c->p.n_threads, &c->be, err);
    if (st != INFER_OK) return st;
    if (infer_weights_check_backend(c->m, c->be, why, sizeof why) != INFER_OK)
        return infer_err(err, INFER_ERR_UNSUPPORTED, "%s", why);
    return INFER_OK;
}

static infer_status create(infer_ctx *c, infer_error *err) {
    const infer_model *m = c->m;
    infer_ctx_params *p = &c->p;
    if (p->n_ctx == 0) p->n_ctx = m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
    if (p->n_ctx == 0 || p->n_ctx > (1u << 30))
        return infer_err(err, INFER_ERR_INVALID_ARG, "n_ctx %u out of range", p->n_ctx);
    if (p->n_batch == 0) p->n_batch = 512;
    if (p->n_batch > p->n_ctx) p->n_batch = p->n_ctx;
    if (p->n_threads <= 0) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        p->n_threads = ncpu > 0 ? (int32_t)ncpu : 1;
    }
    if (p->n_seq_max == 0) p->n_seq_max = 1;
    if (p->n_seq_max > p->n_ctx)
        return infer_err(err, INFER_ERR_INVALID_ARG, "n_seq_max %u exceeds n_ctx %u", p->n_seq_max, p->n_ctx);
    if ((unsigned)p->pooling > INFER_POOLING_CLS)
        return infer_err(err, INFER_ERR_INVALID_ARG, "unknown pooling %d", (int)p->pooling);
    if (p->kv_type != INFER_KV_F32 && p->kv_type != INFER_KV_F16)
        return infer_err(err, INFER_ERR_INVALID_ARG, "unknown KV cache type %d", (int)p->kv_type);
    if (p->n_gpu_layers < INFER_GPU_LAYERS_AUTO)
        return infer_err(err, INFER_ERR_INVALID_ARG, "n_gpu_layers %d: use N >= 0, %d (all) or %d (auto)",
                         (int)p->n_gpu_layers, INFER_GPU_LAYERS_ALL, INFER_GPU_LAYERS_AUTO);
    if (p->n_cpu_moe < 0) return infer_err(err, INFER_ERR_INVALID_ARG, "n_cpu_moe %d is negative", (int)p->n_cpu_moe);

    infer_status st = open_backend(c, err);
    if (st != INFER_OK) return st;
    if ((st = check_kernels(c, err)) != INFER_OK) return st;
    if ((st = infer_ctx_place_and_build(c, err)) != INFER_OK) return st;
    p->n_ctx = c->kv.n_ctx;
    c->seq_scratch = malloc(3 * (size_t)p->n_seq_max * sizeof *c->seq_scratch);
    c->embd_seq = p->embeddings ? calloc((size_t)p->n_seq_max * m->hp.n_embd, sizeof *c->embd_seq) : NULL;
    c->embd_seq_set = calloc(p->n_seq_max, 1);
    if (!c->seq_scratch || (p->embeddings && !c->embd_seq) || !c->embd_seq_set)
        return infer_err(err, INFER_ERR_NOMEM, "out of memory");

    const char *dump = getenv("INFER_DUMP_DIR");
    if (dump && *dump && !(c->dump_dir = strdup(dump))) return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    return INFER_OK;
}

infer_status infer_ctx_new(infer_model *m, const infer_ctx_params *params, infer_ctx **out, infer_error *err) {
    if (!out) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_ctx_new: out is NULL");
    *out = NULL;
    if (!m) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_ctx_new: model is NULL");
    if (m->vocab_only || !m->arch)
        return infer_err(err, INFER_ERR_INVALID_ARG, "infer_ctx_new: the model was loaded vocab-only");
    infer_ctx_params p;
    infer_status st = infer_ctx_params_read(params, &p, err);
    if (st != INFER_OK) return st;
    infer_ctx *c = calloc(1, sizeof *c);
    if (!c) return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    c->m = m;
    c->p = p;
    st = create(c, err);
    if (st != INFER_OK) {
        infer_ctx_free(c);
        return st;
    }
    if (err) {
        err->status = INFER_OK;
        err->message[0] = 0;
    }
    *out = c;
    return INFER_OK;
}

void infer_ctx_free(infer_ctx *c) {
    if (!c) return;
    infer_ctx_free_sides(c);
    free(c->logits);
    free(c->logit_row);
    free(c->pos);
    free(c->seq);
    free(c->order);
    free(c->rank);
    free(c->run_tok);
    free(c->run_pos);
    free(c->runs);
    free(c->out_ids);
    free(c->seq_scratch);
    free(c->embd);
    free(c->embd_seq);
    free(c->embd_seq_set);
    free(c->dump_dir);
    free(c);
}

const char *infer_ctx_last_error(const infer_ctx *c) { return c ? c->last_error : ""; }
uint32_t infer_ctx_n_ctx(const infer_ctx *c) { return c ? c->p.n_ctx : 0; }
const char *infer_ctx_backend_name(const infer_ctx *c) { return c && c->be ? c->be->ops->name : ""; }
uint64_t infer_ctx_kv_bytes(const infer_ctx *c) { return c ? c->kv.bytes : 0; }
void infer_ctx_set_abort_callback(infer_ctx *c, infer_abort_fn fn, void *user) {
    if (!c) return;
    c->abort_fn = fn;
    c->abort_user = user;
    for (int d = 0; d < INFER_DEV_COUNT; d++) {
        infer_backend *be = c->side[d].be;
        if (be && be->ops->set_abort) be->ops->set_abort(be, fn, user);
    }
}
const char *infer_ctx_backend_note(const infer_ctx *c) { return c ? c->backend_note : ""; }
const char *infer_ctx_device_name(const infer_ctx *c) {
    return c && c->be && c->be->ops->device_name ? c->be->ops->device_name(c->be) : "";
}
const char *infer_ctx_placement(const infer_ctx *c) { return c ? c->placement_text : ""; }
uint64_t infer_ctx_gpu_weight_bytes(const infer_ctx *c) { return c ? c->place.gpu_weight_bytes : 0; }
uint64_t infer_ctx_gpu_bytes_per_token(const infer_ctx *c) { return c ? c->place.gpu_token_bytes : 0; }
