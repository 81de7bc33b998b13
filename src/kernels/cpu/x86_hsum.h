/* Horizontal sum of eight floats, in one fixed order of additions: the tile, decode and
 * attention kernels all use this one so a token's result does not depend on which of
 * them ran (batch invariance). Include only from files built with AVX. */
#ifndef INFER_KERNELS_CPU_X86_HSUM_H
#define INFER_KERNELS_CPU_X86_HSUM_H

#include <immintrin.h>

static inline __attribute__((always_inline)) float infer_hsum8_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#endif
