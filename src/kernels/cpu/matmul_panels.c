/* Which weight formats the x86 panel matmuls (matmul_panels_avx512.c, matmul_panels_avx2.c)
 * cover at which level, the dispatch between them, and the environment switch. Kept out
 * of the ISA files: these run on every CPU. */
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/matmul_panels.h"
#include "tensor/dtype.h"

int infer_panels_supports(infer_cpu_isa isa, uint32_t wtype, infer_act_format act, int64_t cols) {
#if defined(__x86_64__) || defined(_M_X64)
    if (cols <= 0 || isa < INFER_ISA_AVX2 || infer_cpu_isa_is_arm(isa)) return 0;
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
    (void)isa; (void)wtype; (void)act; (void)cols;
    return 0;
#endif
}

int infer_panels_min_tokens(infer_cpu_isa isa, uint32_t wtype) {
    switch (wtype) {
    case INFER_TYPE_Q4_K:
    case INFER_TYPE_Q5_K:
    case INFER_TYPE_Q6_K: return 8;
    case INFER_TYPE_IQ4_NL:
    case INFER_TYPE_Q8_0: return isa == INFER_ISA_AVX2 ? 4 : 2;
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

int infer_panels_env_allows(void) {
    const char *e = getenv("INFER_CPU_PANELS");
    return !(e && strcmp(e, "0") == 0);
}

int infer_panels_matmul_rows(infer_cpu_isa isa, uint32_t wtype, const char *W, size_t row_bytes, int64_t cols,
                             int64_t row_lo, int64_t row_hi, const char *xq, size_t xs, int64_t n, float *y,
                             int64_t ldy) {
    if (isa > infer_cpu_isa_detect()) return -1;   /* never run code the CPU lacks */
    if (isa >= INFER_ISA_AVX512 && !infer_cpu_isa_is_arm(isa))
        return infer_panels_avx512_rows(wtype, W, row_bytes, cols, row_lo, row_hi, xq, xs, n, y, ldy);
    if (isa == INFER_ISA_AVX2)   /* each level checks the format and shape itself */
        return infer_panels_avx2_rows(wtype, W, row_bytes, cols, row_lo, row_hi, xq, xs, n, y, ldy);
    return -1;
}
