/* placeholder until the SIMD kernels land */
#include "kernels/cpu/vec_dot.h"
const infer_vec_dot_kernel *infer_vec_dot_avx512(uint32_t type) { return NULL; }
infer_quantize_act_fn infer_quantize_act_avx512(infer_act_format f) { return NULL; }
