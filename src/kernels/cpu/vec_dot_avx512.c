/* AVX-512 VNNI kernels: the shared x86 template with vpdpbusd / vpdpwssd (VL forms on
 * 256-bit registers). */
#include "kernels/cpu/vec_dot.h"

#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#define DPBUSD(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define DPWSSD(acc, a, b) _mm256_dpwssd_epi32(acc, a, b)
#define ISA_TABLE infer_vec_dot_avx512
#define ISA_ACT infer_quantize_act_avx512
#include "kernels/cpu/vec_dot_x86.inc"

#else
const infer_vec_dot_kernel *infer_vec_dot_avx512(uint32_t type) { return NULL; }
infer_quantize_act_fn infer_quantize_act_avx512(infer_act_format f) { return NULL; }
#endif
