/* Gated linear units with AVX2/FMA (all of n, tail padded). */
#include <stdint.h>
#include <string.h>
#include "kernels/cpu/ops.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include "kernels/cpu/ops_avx2.h"

static void glu8(infer_glu_kind kind, const float *gate, const float *up, float alpha, float limit, float *out) {
    const __m256 one = _mm256_set1_ps(1.0f);
    if (kind == INFER_GLU_SWIGLU_OAI) {
        const __m256 lim = _mm256_set1_ps(limit);
        const __m256 g = _mm256_min_ps(_mm256_loadu_ps(gate), lim);
        const __m256 u = _mm256_min_ps(_mm256_max_ps(_mm256_loadu_ps(up), _mm256_set1_ps(-limit)), lim);
        const __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, infer_exp256(_mm256_mul_ps(_mm256_set1_ps(-alpha), g))));
        _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_mul_ps(g, sig), _mm256_add_ps(u, one)));
    } else if (kind == INFER_GLU_GEGLU) {
        /* 0.5 (1 + tanh(z)) = sigmoid(2z): the tanh form without its cancellation near 0. */
        const __m256 g = _mm256_loadu_ps(gate);
        const __m256 z2 = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f * 0.79788456080286535588f), g),
                                        _mm256_fmadd_ps(_mm256_mul_ps(g, g), _mm256_set1_ps(0.044715f), one));
        const __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, infer_exp256(z2)));
        _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_mul_ps(g, sig), _mm256_loadu_ps(up)));
    } else {
        const __m256 g = _mm256_loadu_ps(gate);
        const __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, infer_exp256(_mm256_sub_ps(_mm256_setzero_ps(), g))));
        _mm256_storeu_ps(out, _mm256_mul_ps(_mm256_mul_ps(g, sig), _mm256_loadu_ps(up)));
    }
}

int64_t infer_cpu_glu_avx2(infer_glu_kind kind, const float *gate, const float *up, int64_t n, float alpha,
                           float limit, float *out) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) glu8(kind, gate + i, up + i, alpha, limit, out + i);
    if (i < n) {
        /* The tail goes through the same vector formula (padded), so an element's value
         * never depends on where a thread split or a batch boundary fell. */
        float g[8] = { 0 }, u[8] = { 0 }, o[8];
        const int64_t rem = n - i;
        memcpy(g, gate + i, sizeof(float) * (size_t)rem);
        memcpy(u, up + i, sizeof(float) * (size_t)rem);
        glu8(kind, g, u, alpha, limit, o);
        memcpy(out + i, o, sizeof(float) * (size_t)rem);
    }
    return n;
}
#else
int64_t infer_cpu_glu_avx2(infer_glu_kind kind, const float *gate, const float *up, int64_t n, float alpha,
                           float limit, float *out) {
    return 0;   /* built without the ISA flags: the portable loop does everything */
}
#endif
