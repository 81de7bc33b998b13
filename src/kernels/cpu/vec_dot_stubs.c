/* Kernel tables for NEON when not compiling for aarch64 (the x86 files carry their own
 * fallbacks for builds without their ISA flags). */
#include "kernels/cpu/vec_dot.h"

#if !defined(__aarch64__)
const infer_vec_dot_kernel *infer_vec_dot_neon(uint32_t type) { return NULL; }
const infer_vec_dot_kernel *infer_vec_dot_neon_dotprod(uint32_t type) { return NULL; }
const infer_vec_dot_kernel *infer_vec_dot_neon_i8mm(uint32_t type) { return NULL; }
infer_quantize_act_fn infer_quantize_act_neon(infer_act_format f) { return NULL; }
#endif
