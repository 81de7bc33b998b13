/* Grow-only scratch memory owned by one CPU backend instance (no globals): the op
 * kernels' tiles (attention, rope angles, MoE routing) and the matmul's converted
 * activations both draw from it. Its own unit so that the ops and the matmul need not
 * reach back into the backend that owns the memory. */
#ifndef INFER_CPU_WORKSPACE_H
#define INFER_CPU_WORKSPACE_H

#include <stddef.h>

typedef struct infer_cpu_ws {
    void *ptr;
    size_t cap;
} infer_cpu_ws;

/* At least `bytes` of 64-byte aligned memory (contents undefined), or NULL when out of
 * memory; a call that has to grow invalidates the pointers returned before. */
void *infer_cpu_ws_get(infer_cpu_ws *ws, size_t bytes);
void infer_cpu_ws_free(infer_cpu_ws *ws);

#endif
