/* Which weight formats the VNNI panel matmul (matmul_panels_avx512.c) covers, and its
 * environment switch. Kept out of the AVX-512 file: these run on every CPU. */
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/matmul_panels.h"
#include "tensor/dtype.h"

int infer_panels_supports(uint32_t wtype, infer_act_format act, int64_t cols) {
#if defined(__x86_64__) || defined(_M_X64)
    if (cols <= 0) return 0;
    switch (wtype) {
    case INFER_TYPE_Q4_K:
    case INFER_TYPE_Q5_K:
    case INFER_TYPE_Q6_K: return act == INFER_ACT_Q8K && cols % 256 == 0;
    case INFER_TYPE_MXFP4:
    case INFER_TYPE_IQ4_NL:
    case INFER_TYPE_Q4_0:
    case INFER_TYPE_Q8_0: return act == INFER_ACT_Q8 && cols % 32 == 0;
    default: return 0;
    }
#else
    (void)wtype; (void)act; (void)cols;
    return 0;
#endif
}

int infer_panels_min_tokens(uint32_t wtype) {
    switch (wtype) {
    case INFER_TYPE_Q4_K:
    case INFER_TYPE_Q5_K:
    case INFER_TYPE_Q6_K: return 8;
    default: return 2;
    }
}

int infer_panels_beat_amx(uint32_t wtype) {
    switch (wtype) {
    case INFER_TYPE_MXFP4:
    case INFER_TYPE_IQ4_NL:
    case INFER_TYPE_Q4_0:
    case INFER_TYPE_Q8_0: return 1;
    default: return 0;
    }
}

int infer_panels_enabled(void) {
    const char *e = getenv("INFER_CPU_PANELS");
    return !(e && strcmp(e, "0") == 0);
}
