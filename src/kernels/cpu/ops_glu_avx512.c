/* Gated linear units with AVX-512: ops_glu_avx2.c's formulas on 16 lanes (the same exp
 * polynomial and a true division, so every element gets the AVX2 path's bits; only the
 * width changes). After the matmuls moved to AMX tiles the FFN's glu, all exp and
 * division, weighs a few percent of a prompt step. */
#include <stdint.h>
#include "kernels/cpu/ops.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#include "kernels/cpu/ops_avx512.h"

static inline __m512 glu16(infer_glu_kind kind, __m512 g, __m512 u, float alpha, float limit) {
    const __m512 one = _mm512_set1_ps(1.0f);
    if (kind == INFER_GLU_SWIGLU_OAI) {
        const __m512 lim = _mm512_set1_ps(limit);
        g = _mm512_min_ps(g, lim);
        u = _mm512_min_ps(_mm512_max_ps(u, _mm512_set1_ps(-limit)), lim);
        const __m512 sig = _mm512_div_ps(one, _mm512_add_ps(one, infer_exp512(_mm512_mul_ps(_mm512_set1_ps(-alpha), g))));
        return _mm512_mul_ps(_mm512_mul_ps(g, sig), _mm512_add_ps(u, one));
    }
    if (kind == INFER_GLU_GEGLU) {   /* 0.5 (1 + tanh(z)) = sigmoid(2z), as the AVX2 path */
        const __m512 z2 = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(-2.0f * 0.79788456080286535588f), g),
                                        _mm512_fmadd_ps(_mm512_mul_ps(g, g), _mm512_set1_ps(0.044715f), one));
        const __m512 sig = _mm512_div_ps(one, _mm512_add_ps(one, infer_exp512(z2)));
        return _mm512_mul_ps(_mm512_mul_ps(g, sig), u);
    }
    const __m512 sig = _mm512_div_ps(one, _mm512_add_ps(one, infer_exp512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    return _mm512_mul_ps(_mm512_mul_ps(g, sig), u);
}

int64_t infer_cpu_glu_avx512(infer_glu_kind kind, const float *gate, const float *up, int64_t n, float alpha,
                             float limit, float *out) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, glu16(kind, _mm512_loadu_ps(gate + i), _mm512_loadu_ps(up + i), alpha, limit));
    if (i < n) {   /* the tail through the same formula, masked (zeros in the unused lanes) */
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = glu16(kind, _mm512_maskz_loadu_ps(m, gate + i), _mm512_maskz_loadu_ps(m, up + i), alpha, limit);
        _mm512_mask_storeu_ps(out + i, m, v);
    }
    return n;
}
#else
int64_t infer_cpu_glu_avx512(infer_glu_kind kind, const float *gate, const float *up, int64_t n, float alpha,
                             float limit, float *out) {
    (void)kind; (void)gate; (void)up; (void)n; (void)alpha; (void)limit; (void)out;
    return 0;   /* built without the ISA flags: the AVX2 or portable loop does everything */
}
#endif
