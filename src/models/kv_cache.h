/* The KV cache: for every layer one K and one V buffer on the backend, each n_ctx rows
 * of n_head_kv * head_dim values (F32 or F16). Rows are split into n_seq equal regions
 * of n_ctx_seq rows, one per sequence: position p of sequence s is row s * n_ctx_seq + p
 * (see infer.h, "sequences"). The host keeps, per sequence, its length and the token
 * decoded at each position (for saved sessions and prompt reuse). */
#ifndef INFER_MODELS_KV_CACHE_H
#define INFER_MODELS_KV_CACHE_H

#include <stdint.h>
#include "kernels/backend.h"
#include "models/hparams.h"

typedef struct infer_kv_cache {
    uint32_t n_ctx;         /* rows per layer, all sequences */
    uint32_t n_seq;         /* sequences */
    uint32_t n_ctx_seq;     /* rows per sequence region */
    uint32_t n_layer;
    uint32_t type;          /* INFER_TYPE_F32 or INFER_TYPE_F16 */
    size_t k_row_bytes;     /* n_head_kv * head_dim elements */
    size_t v_row_bytes;     /* n_head_kv * head_dim_v elements */
    uint64_t bytes;         /* all K and V buffers */
    int32_t *len;           /* per sequence: next position to fill */
    int32_t *tokens;        /* n_seq x n_ctx_seq: token at each position (-1: unknown) */
    infer_backend **be;     /* per layer: the backend holding it (where the layer runs) */
    infer_bbuf **bufs;      /* 2 * n_layer: K of layer il at 2*il, V at 2*il + 1 */
    infer_bview *k, *v;     /* per layer, whole-buffer views */
} infer_kv_cache;

/* Reserves the cache, layer il on be_of_layer[il]. On the CPU the memory is not touched
 * (lazily committed pages), and a CPU share larger than the memory the system reports
 * available is refused. */
infer_status infer_kv_cache_init(infer_kv_cache *kv, infer_backend *const *be_of_layer, const infer_hparams *hp,
                                 uint32_t n_ctx, uint32_t n_seq, infer_kv_type type, infer_error *err);
void infer_kv_cache_free(infer_kv_cache *kv);
/* Bytes of one layer's K and V for n_ctx rows (what a layer costs on the GPU). */
uint64_t infer_kv_layer_bytes(const infer_hparams *hp, uint32_t n_ctx, infer_kv_type type);

/* Views of the first row of sequence seq's region in layer il. */
infer_bview infer_kv_seq_k(const infer_kv_cache *kv, uint32_t il, uint32_t seq);
infer_bview infer_kv_seq_v(const infer_kv_cache *kv, uint32_t il, uint32_t seq);
/* Token array of a sequence (n_ctx_seq entries). */
static inline int32_t *infer_kv_seq_tokens(const infer_kv_cache *kv, uint32_t seq) {
    return kv->tokens + (size_t)seq * kv->n_ctx_seq;
}

#endif
