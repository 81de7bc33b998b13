/* Gated linear units with AVX2/FMA: the vector part; the caller finishes the tail. */
#include <stdint.h>
#include "kernels/cpu/ops.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include "kernels/cpu/ops_avx2.h"

int64_t infer_cpu_glu_avx2(infer_glu_kind kind, const float *gate, const float *up, int64_t n, float alpha,
                           float limit, float *out) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    if (kind == INFER_GLU_SWIGLU_OAI) {
        const __m256 lim = _mm256_set1_ps(limit), nlim = _mm256_set1_ps(-limit);
        const __m256 nalpha = _mm256_set1_ps(-alpha);
        for (; i + 8 <= n; i += 8) {
            const __m256 g = _mm256_min_ps(_mm256_loadu_ps(gate + i), lim);
            const __m256 u = _mm256_min_ps(_mm256_max_ps(_mm256_loadu_ps(up + i), nlim), lim);
            const __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, infer_exp256(_mm256_mul_ps(nalpha, g))));
            _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(g, sig), _mm256_add_ps(u, one)));
        }
    } else {
        const __m256 zero = _mm256_setzero_ps();
        for (; i + 8 <= n; i += 8) {
            const __m256 g = _mm256_loadu_ps(gate + i);
            const __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, infer_exp256(_mm256_sub_ps(zero, g))));
            _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(g, sig), _mm256_loadu_ps(up + i)));
        }
    }
    return i;
}
#else
int64_t infer_cpu_glu_avx2(infer_glu_kind kind, const float *gate, const float *up, int64_t n, float alpha,
                           float limit, float *out) {
    return 0;   /* built without the ISA flags: the portable loop does everything */
}
#endif
