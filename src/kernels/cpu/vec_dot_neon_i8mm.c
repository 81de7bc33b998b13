/* ARMv8.6 int8 matrix-multiply level (FEAT_I8MM: Neoverse V1/N2, Graviton 3+, Apple M2+):
 * the SDOT kernels plus two-row SMMLA tiles for prompts (vec_dot_neon_mmla.inc), built
 * with -march=armv8.2-a+dotprod+i8mm (CMake). Run only when the dispatcher saw
 * HWCAP2_I8MM. */
#include "kernels/cpu/vec_dot.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD) && defined(__ARM_FEATURE_MATMUL_INT8)
#define NEON_TABLE infer_vec_dot_neon_i8mm
#include "kernels/cpu/vec_dot_neon.inc"
#elif defined(__aarch64__)
const infer_vec_dot_kernel *infer_vec_dot_neon_i8mm(uint32_t type) { return infer_vec_dot_neon_dotprod(type); }
#endif
