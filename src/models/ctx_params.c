/* infer_ctx_params: the defaults, and reading a caller's struct of any released size
 * (core/params.h). */
#include <stddef.h>

#include "core/params.h"
#include "models/context.h"

#define FIELD(f) INFER_PARAMS_FIELD(infer_ctx_params, f)

/* The fields after struct_size, in order. A new field goes at the end, and here. */
static const infer_params_field fields[] = {
    FIELD(n_ctx),     FIELD(n_batch),      FIELD(n_threads),  FIELD(kv_type),
    FIELD(backend),   FIELD(device_index), FIELD(n_seq_max),  FIELD(embeddings),
    FIELD(pooling),   FIELD(embd_normalize), FIELD(n_gpu_layers), FIELD(n_cpu_moe),
};
_Static_assert(sizeof(infer_ctx_params) == INFER_PARAMS_FIELD_END(infer_ctx_params, n_cpu_moe),
               "infer_ctx_params: its last field must end at sizeof (core/params.h)");

infer_ctx_params infer_ctx_default_params(void) {
    infer_ctx_params p = {
        .struct_size = sizeof(infer_ctx_params),
        .n_ctx = 0,
        .n_batch = 0,
        .n_threads = 0,
        .kv_type = INFER_KV_F32,
        .backend = INFER_BACKEND_AUTO,
        .device_index = -1,
        .n_seq_max = 1,
        .embeddings = 0,
        .pooling = INFER_POOLING_NONE,
        .embd_normalize = 0,
        .n_gpu_layers = INFER_GPU_LAYERS_AUTO,
        .n_cpu_moe = 0,
    };
    return p;
}

infer_status infer_ctx_params_read(const infer_ctx_params *in, infer_ctx_params *out, infer_error *err) {
    *out = infer_ctx_default_params();
    return infer_params_read(in, out, sizeof *out, fields, sizeof fields / sizeof fields[0], "infer_ctx_new: params",
                             err);
}
