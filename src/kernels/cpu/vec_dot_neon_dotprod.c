/* ARMv8.2 dot-product level (FEAT_DotProd: Cortex-A55/A76+, Neoverse N1, Apple M1+):
 * the vec_dot_neon.inc kernels on SDOT, built with -march=armv8.2-a+dotprod (CMake).
 * Run only when the dispatcher saw the feature (HWCAP_ASIMDDP). */
#include "kernels/cpu/vec_dot.h"

#if defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#define NEON_TABLE infer_vec_dot_neon_dotprod
#include "kernels/cpu/vec_dot_neon.inc"
#elif defined(__aarch64__)
/* compiler without +dotprod: the level falls back to the base table */
const infer_vec_dot_kernel *infer_vec_dot_neon_dotprod(uint32_t type) { return infer_vec_dot_neon(type); }
#endif
