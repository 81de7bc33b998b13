#include "models/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tensor/dtype.h"

infer_status infer_kv_cache_init(infer_kv_cache *kv, infer_backend *be, const infer_hparams *hp, uint32_t n_ctx,
                                 infer_kv_type type, infer_error *err) {
    memset(kv, 0, sizeof *kv);
    kv->n_ctx = n_ctx;
    kv->n_layer = hp->n_layer;
    kv->type = type == INFER_KV_F16 ? INFER_TYPE_F16 : INFER_TYPE_F32;
    kv->bufs = calloc(2 * (size_t)hp->n_layer, sizeof *kv->bufs);
    kv->k = calloc(hp->n_layer, sizeof *kv->k);
    kv->v = calloc(hp->n_layer, sizeof *kv->v);
    if (!kv->bufs || !kv->k || !kv->v) return infer_err(err, INFER_ERR_NOMEM, "out of memory for the KV cache");

    const size_t elt = kv->type == INFER_TYPE_F16 ? 2 : 4;
    const size_t k_bytes = (size_t)n_ctx * hp->n_head_kv * hp->head_dim * elt;
    const size_t v_bytes = (size_t)n_ctx * hp->n_head_kv * hp->head_dim_v * elt;
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        for (int j = 0; j < 2; j++) {
            infer_status st = be->ops->alloc(be, j ? v_bytes : k_bytes, &kv->bufs[2 * il + j]);
            if (st != INFER_OK)
                return infer_err(err, st, "cannot allocate the KV cache (layer %u, %zu bytes, %s backend)", il,
                                 j ? v_bytes : k_bytes, be->ops->name);
        }
        kv->k[il] = (infer_bview){.buf = kv->bufs[2 * il], .offset = 0, .type = kv->type};
        kv->v[il] = (infer_bview){.buf = kv->bufs[2 * il + 1], .offset = 0, .type = kv->type};
    }
    return INFER_OK;
}

void infer_kv_cache_free(infer_kv_cache *kv, infer_backend *be) {
    if (kv->bufs && be) {
        for (uint32_t i = 0; i < 2 * kv->n_layer; i++)
            if (kv->bufs[i]) be->ops->release(be, kv->bufs[i]);
    }
    free(kv->bufs);
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}
