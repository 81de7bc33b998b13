/* The KV cache: for every layer one K and one V buffer on the backend, each n_ctx rows
 * of n_head_kv * head_dim values (F32 or F16), row = position. Single sequence: the
 * cache holds positions [0, n_past). */
#ifndef INFER_MODELS_KV_CACHE_H
#define INFER_MODELS_KV_CACHE_H

#include <stdint.h>
#include "kernels/backend.h"
#include "models/hparams.h"

typedef struct infer_kv_cache {
    uint32_t n_ctx;
    uint32_t n_layer;
    uint32_t type;          /* INFER_TYPE_F32 or INFER_TYPE_F16 */
    int32_t n_past;         /* next position to fill */
    infer_bbuf **bufs;      /* 2 * n_layer: K of layer il at 2*il, V at 2*il + 1 */
    infer_bview *k, *v;     /* per layer, whole-buffer views */
} infer_kv_cache;

infer_status infer_kv_cache_init(infer_kv_cache *kv, infer_backend *be, const infer_hparams *hp, uint32_t n_ctx,
                                 infer_kv_type type, infer_error *err);
void infer_kv_cache_free(infer_kv_cache *kv, infer_backend *be);

#endif
