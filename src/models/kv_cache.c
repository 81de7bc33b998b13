#include "models/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/meminfo.h"
#include "tensor/dtype.h"

uint64_t infer_kv_layer_bytes(const infer_hparams *hp, uint32_t n_ctx, infer_kv_type type) {
    const uint64_t elt = type == INFER_KV_F16 ? 2 : 4;
    return (uint64_t)n_ctx * elt * ((uint64_t)hp->n_head_kv * hp->head_dim + (uint64_t)hp->n_head_kv * hp->head_dim_v);
}

infer_status infer_kv_cache_init(infer_kv_cache *kv, infer_backend *const *be_of_layer, const infer_hparams *hp,
                                 uint32_t n_ctx, uint32_t n_seq, infer_kv_type type, infer_error *err) {
    memset(kv, 0, sizeof *kv);
    if (n_seq == 0 || n_ctx / n_seq == 0)
        return infer_err(err, INFER_ERR_INVALID_ARG, "n_seq_max %u leaves no positions in a context of %u", n_seq,
                         n_ctx);
    kv->n_seq = n_seq;
    kv->n_ctx_seq = n_ctx / n_seq;
    kv->n_ctx = kv->n_ctx_seq * n_seq;   /* whole regions only */
    kv->n_layer = hp->n_layer;
    kv->type = type == INFER_KV_F16 ? INFER_TYPE_F16 : INFER_TYPE_F32;
    const size_t elt = kv->type == INFER_TYPE_F16 ? 2 : 4;
    kv->k_row_bytes = (size_t)hp->n_head_kv * hp->head_dim * elt;
    kv->v_row_bytes = (size_t)hp->n_head_kv * hp->head_dim_v * elt;
    const size_t k_bytes = (size_t)kv->n_ctx * kv->k_row_bytes;
    const size_t v_bytes = (size_t)kv->n_ctx * kv->v_row_bytes;
    kv->bytes = (uint64_t)hp->n_layer * (k_bytes + v_bytes);

    /* The cache is reserved, not touched, so only what is used gets committed; but a cache
     * that could never be filled would end in the OOM killer, so refuse it now. The CPU
     * backend's cache is host memory; a GPU's is checked by its own allocator. */
    uint64_t host_bytes = 0;
    for (uint32_t il = 0; il < hp->n_layer; il++)
        if (strcmp(be_of_layer[il]->ops->name, "cpu") == 0) host_bytes += k_bytes + v_bytes;
    const int64_t avail = infer_mem_available();
    if (avail >= 0 && host_bytes > (uint64_t)avail)
        return infer_err(err, INFER_ERR_NOMEM,
                         "the KV cache for %u positions needs %.1f MiB but only %.1f MiB of memory is available: "
                         "use a smaller context (-c)%s",
                         kv->n_ctx, host_bytes / 1048576.0, avail / 1048576.0,
                         kv->type == INFER_TYPE_F32 ? " or an F16 cache (--kv-f16)" : "");

    kv->len = calloc(n_seq, sizeof *kv->len);
    kv->tokens = malloc((size_t)kv->n_ctx * sizeof *kv->tokens);   /* written before read */
    kv->be = calloc(hp->n_layer ? hp->n_layer : 1, sizeof *kv->be);
    kv->bufs = calloc(2 * (size_t)hp->n_layer, sizeof *kv->bufs);
    kv->k = calloc(hp->n_layer, sizeof *kv->k);
    kv->v = calloc(hp->n_layer, sizeof *kv->v);
    if (!kv->len || !kv->tokens || !kv->be || !kv->bufs || !kv->k || !kv->v)
        return infer_err(err, INFER_ERR_NOMEM, "out of memory for the KV cache bookkeeping (%u positions)",
                         kv->n_ctx);
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        infer_backend *be = kv->be[il] = be_of_layer[il];
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

infer_bview infer_kv_seq_k(const infer_kv_cache *kv, uint32_t il, uint32_t seq) {
    return infer_bview_at(kv->k[il], (size_t)seq * kv->n_ctx_seq * kv->k_row_bytes);
}

infer_bview infer_kv_seq_v(const infer_kv_cache *kv, uint32_t il, uint32_t seq) {
    return infer_bview_at(kv->v[il], (size_t)seq * kv->n_ctx_seq * kv->v_row_bytes);
}

void infer_kv_cache_free(infer_kv_cache *kv) {
    if (kv->bufs && kv->be) {
        for (uint32_t i = 0; i < 2 * kv->n_layer; i++)
            if (kv->bufs[i]) kv->be[i / 2]->ops->release(kv->be[i / 2], kv->bufs[i]);
    }
    free(kv->be);
    free(kv->len);
    free(kv->tokens);
    free(kv->bufs);
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}
