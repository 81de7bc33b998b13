/* Which one-token kernel a matmul plan takes (gemv.h). Built without ISA flags: it only
 * asks the per-ISA files, whose lookups return NULL when their code was not compiled in. */
#include "kernels/cpu/gemv.h"

infer_dot_rows_fn infer_gemv_for(infer_cpu_isa level, uint32_t wtype) {
    switch (level) {
    case INFER_ISA_AVX512: {
        const infer_dot_rows_fn k = infer_decode_rows_avx512(wtype);
        return k ? k : infer_gemv_avx512(wtype);
    }
    case INFER_ISA_AVX2: return infer_gemv_avx2(wtype);
    default: return NULL;
    }
}
