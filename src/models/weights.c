#include "models/weights.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "tensor/dtype.h"

static infer_status push_weight(infer_model *m, const infer_weight *w, infer_wid *out, infer_error *err) {
    if (m->n_weights == m->cap_weights) {
        int32_t cap = m->cap_weights ? m->cap_weights * 2 : 64;
        infer_weight *grown = realloc(m->weights, (size_t)cap * sizeof *grown);
        if (!grown) return infer_err(err, INFER_ERR_NOMEM, "out of memory binding tensor '%s'", w->name);
        m->weights = grown;
        m->cap_weights = cap;
    }
    m->weights[m->n_weights] = *w;
    *out = m->n_weights++;
    return INFER_OK;
}

static const char *const k_op_names[INFER_OP_COUNT] = {
    [INFER_OP_GET_ROWS] = "get_rows", [INFER_OP_MATMUL] = "matmul", [INFER_OP_MOE] = "moe"};

infer_status infer_weights_check_backend(const infer_model *m, infer_backend *be, char *msg, size_t cap) {
    if (!be->ops->supports) return INFER_OK;
    for (int32_t i = 0; i < m->n_weights; i++) {
        const infer_weight *w = &m->weights[i];
        for (int op = 0; op < INFER_OP_COUNT; op++) {
            if (!(w->ops & (1u << op)) || be->ops->supports(be, (infer_op)op, w->type)) continue;
            const char *tn = infer_type_name(w->type);
            snprintf(msg, cap, "the %s backend has no %s kernel for type %s (tensor '%s')", be->ops->name,
                     k_op_names[op], tn ? tn : "unknown", w->name);
            return INFER_ERR_UNSUPPORTED;
        }
    }
    return INFER_OK;
}

infer_status infer_weight_bind(infer_model *m, infer_wid *out, unsigned flags, int64_t ne0, int64_t ne1,
                               int64_t ne2, infer_error *err, const char *fmt, ...) {
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);

    *out = INFER_NO_WEIGHT;
    const infer_gguf *g = m->gguf;
    int64_t ti = infer_gguf_find_tensor(g, name);
    if (ti < 0) {
        if (flags & INFER_BIND_OPTIONAL) return INFER_OK;
        return infer_err(err, INFER_ERR_NOT_FOUND, "missing tensor '%s'", name);
    }

    uint32_t type = infer_gguf_tensor_type(g, ti);
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    if (!tr || !tr->supported) {
        const char *tn = infer_type_name(type);
        return infer_err(err, INFER_ERR_UNSUPPORTED, "tensor '%s': unsupported type %s (%u)", name,
                         tn ? tn : "unknown", type);
    }
    if ((flags & INFER_BIND_F32) && type != INFER_TYPE_F32)
        return infer_err(err, INFER_ERR_TYPE, "tensor '%s': type %s, expected F32", name, tr->name);

    const int64_t want[3] = {ne0, ne1, ne2};
    uint32_t nd = infer_gguf_tensor_n_dims(g, ti);
    int64_t have[3] = {1, 1, 1};
    bool ok = nd >= 1 && nd <= 3;
    for (uint32_t d = 0; ok && d < nd; d++) have[d] = (int64_t)infer_gguf_tensor_dim(g, ti, d);
    for (int d = 0; ok && d < 3; d++) ok = have[d] == want[d];
    if (!ok) {
        return infer_err(err, INFER_ERR_TYPE,
                         "tensor '%s': shape [%lld, %lld, %lld] (%u dims), expected [%lld, %lld, %lld]", name,
                         (long long)have[0], (long long)have[1], (long long)have[2], nd, (long long)want[0],
                         (long long)want[1], (long long)want[2]);
    }

    infer_weight w = {
        .name = infer_gguf_tensor_name(g, ti),
        .data = infer_gguf_tensor_data(g, ti),
        .bytes = (size_t)infer_gguf_tensor_bytes(g, ti),
        .type = type,
        .ne = {have[0], have[1], have[2]},
        /* A matrix is read by matmul unless it is an embedding table or expert weights;
         * vectors (norms, biases) only by elementwise ops, which take F32 everywhere. */
        .ops = (flags & INFER_BIND_ROWS)  ? 1u << INFER_OP_GET_ROWS
               : (flags & INFER_BIND_MOE) ? 1u << INFER_OP_MOE
               : have[1] > 1              ? 1u << INFER_OP_MATMUL
                                          : 0u,
    };
    if (!w.data) return infer_err(err, INFER_ERR_FORMAT, "tensor '%s': no data", name);
    m->n_params += (uint64_t)(have[0] * have[1] * have[2]);
    m->size_bytes += w.bytes;
    return push_weight(m, &w, out, err);
}
