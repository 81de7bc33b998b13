/* Binding weights by printf-style name, with the dtype and the shape checked. */
#ifndef INFER_MODELS_WEIGHTS_H
#define INFER_MODELS_WEIGHTS_H

#include "kernels/backend.h"
#include "models/model.h"

enum {
    INFER_BIND_OPTIONAL = 1 << 0,   /* absent -> INFER_NO_WEIGHT instead of an error */
    INFER_BIND_F32 = 1 << 1,        /* must be F32 (norms, biases, sinks, router) */
    INFER_BIND_ROWS = 1 << 2,       /* read by get_rows (an embedding table), not by matmul */
    INFER_BIND_MOE = 1 << 3,        /* expert weights: read by the moe op, not by matmul */
};

/* Looks up the tensor named by fmt, checks that its shape is exactly (ne0, ne1, ne2)
 * (pass 1 for unused trailing dims) and that its type is supported, and records it.
 * Fails with the tensor's name: INFER_ERR_NOT_FOUND, INFER_ERR_TYPE (shape or F32
 * requirement) or INFER_ERR_UNSUPPORTED (type name given). */
infer_status infer_weight_bind(infer_model *m, infer_wid *out, unsigned flags, int64_t ne0, int64_t ne1,
                               int64_t ne2, infer_error *err, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));

/* Whether the backend has a kernel for every op that reads each weight (infer_weight.ops).
 * The first weight it lacks one for: a message naming the backend, op, type and tensor in
 * msg and INFER_ERR_UNSUPPORTED; otherwise INFER_OK. */
infer_status infer_weights_check_backend(const infer_model *m, infer_backend *be, char *msg, size_t cap);

#endif
