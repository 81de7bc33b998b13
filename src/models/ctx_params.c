/* infer_ctx_params: the defaults, and reading a caller's struct of any released size.
 *
 * struct_size is sizeof(infer_ctx_params) as the caller compiled it. Fields are only
 * appended, so an older caller's struct is a prefix of ours: its fields are taken and the
 * rest keep their defaults. A size that is not where some field ends (0, garbage, a newer
 * header than this library) is refused before anything past the caller's struct is read. */
#include <stddef.h>
#include <string.h>

#include "core/error.h"
#include "models/context.h"

#define FIELD_END(f) (offsetof(infer_ctx_params, f) + sizeof(((infer_ctx_params *)0)->f))

/* The sizes a caller can send: where each field ends (the first, n_ctx, is the smallest
 * struct we accept; the last is this header's sizeof). */
static const size_t known_sizes[] = {
    FIELD_END(n_ctx),          FIELD_END(n_batch),      FIELD_END(n_threads), FIELD_END(kv_type),
    FIELD_END(backend),        FIELD_END(device_index), FIELD_END(n_seq_max), FIELD_END(embeddings),
    FIELD_END(pooling),        FIELD_END(embd_normalize), FIELD_END(n_gpu_layers), FIELD_END(n_cpu_moe),
};

/* A new field goes at the end and into known_sizes. The struct must have no tail padding:
 * with padding, the next field could fit inside it, and an older caller's sizeof would then
 * cover a field it never set. Add an explicit reserved field instead. */
_Static_assert(sizeof(infer_ctx_params) == FIELD_END(n_cpu_moe),
               "infer_ctx_params: its last field must end at sizeof (see known_sizes)");

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
    if (!in) return INFER_OK;
    const size_t size = in->struct_size;
    for (size_t i = 0; i < sizeof known_sizes / sizeof known_sizes[0]; i++)
        if (size == known_sizes[i]) {
            memcpy(out, in, size);
            out->struct_size = sizeof *out;
            return INFER_OK;
        }
    return infer_err(err, INFER_ERR_INVALID_ARG,
                     "infer_ctx_new: params->struct_size %zu is no infer_ctx_params this library knows (%zu "
                     "now): set it with infer_ctx_default_params() or sizeof(infer_ctx_params)",
                     size, sizeof(infer_ctx_params));
}
