/* Kernel table for NEON when not compiling for aarch64 (the x86 files carry their own
 * fallbacks for builds without their ISA flags). */
#include "kernels/cpu/vec_dot.h"

#if !defined(__aarch64__)
const infer_vec_dot_kernel *infer_vec_dot_neon(uint32_t type) { return NULL; }
#endif
