/* Grow-only scratch memory (see workspace.h). */
#include <stdlib.h>
#include "kernels/cpu/workspace.h"

void *infer_cpu_ws_get(infer_cpu_ws *ws, size_t bytes) {
    if (bytes <= ws->cap) return ws->ptr;
    /* doubling keeps a run of slowly rising sizes (longer prompts) to a few reallocations */
    size_t cap = ws->cap ? ws->cap : 4096;
    while (cap < bytes) cap = cap * 2 > cap ? cap * 2 : bytes;
    void *p = NULL;
    if (posix_memalign(&p, 64, cap) != 0) return NULL;
    free(ws->ptr);
    ws->ptr = p;
    ws->cap = cap;
    return p;
}

void infer_cpu_ws_free(infer_cpu_ws *ws) {
    free(ws->ptr);
    ws->ptr = NULL;
    ws->cap = 0;
}
