/* AVX2 + FMA + F16C kernels: the shared x86 template with the byte dot product built
 * from maddubs (u8 x s8 -> pairs of int16) and madd (int16 pairs -> int32). */
#include "kernels/cpu/vec_dot.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

static inline __m256i dpbusd_avx2(__m256i acc, __m256i u, __m256i s) {
    const __m256i p16 = _mm256_maddubs_epi16(u, s);
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}
#define DPBUSD(acc, u, s) dpbusd_avx2(acc, u, s)
#define DPWSSD(acc, a, b) _mm256_add_epi32(acc, _mm256_madd_epi16(a, b))
#define ISA_TABLE infer_vec_dot_avx2
#define ISA_ACT infer_quantize_act_avx2
#include "kernels/cpu/vec_dot_x86.inc"

#else
const infer_vec_dot_kernel *infer_vec_dot_avx2(uint32_t type) { return NULL; }
infer_quantize_act_fn infer_quantize_act_avx2(infer_act_format f) { return NULL; }
#endif
