/* The attention tile kernel with AVX2 + FMA + F16C (this file gets those flags). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "kernels/cpu/ops.h"
#include "tensor/dtype.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#include "kernels/cpu/ops_avx2.h"
#include "kernels/cpu/x86_hsum.h"

static float vdot(const float *a, const float *b, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float r = infer_hsum8_ps(_mm256_add_ps(s0, s1));
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

static void vscale(float *y, float a, int n) {
    const __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(va, _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] *= a;
}

static void vf16row(const uint16_t *src, float *dst, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = infer_fp16_to_f32(src[i]);
}

/* Eight dot products of q with keys K[0..7] (stride ks) as one vector of 8 sums. */
static __m256 dot8(const float *q, const float *K, size_t ks, int D) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (int i = 0; i < D; i += 8) {
        const __m256 qv = _mm256_loadu_ps(q + i);
        a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(K + 0 * ks + i), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(K + 1 * ks + i), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(K + 2 * ks + i), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(K + 3 * ks + i), a3);
        a4 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(K + 4 * ks + i), a4);
        a5 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(K + 5 * ks + i), a5);
        a6 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(K + 6 * ks + i), a6);
        a7 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(K + 7 * ks + i), a7);
    }
    /* Transpose-and-add: lane j of the result is the full sum of a_j. */
    const __m256 t0 = _mm256_hadd_ps(a0, a1), t1 = _mm256_hadd_ps(a2, a3);
    const __m256 t2 = _mm256_hadd_ps(a4, a5), t3 = _mm256_hadd_ps(a6, a7);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

static void kblock_scores(const float *q, const float *K, size_t ks, int jn, int D, float scale, float *s) {
    int j = 0;
    if (D % 8 == 0) {
        const __m256 vs = _mm256_set1_ps(scale);
        for (; j + 8 <= jn; j += 8) _mm256_storeu_ps(s + j, _mm256_mul_ps(dot8(q, K + (size_t)j * ks, ks, D), vs));
    }
    for (; j < jn; j++) s[j] = vdot(q, K + (size_t)j * ks, D) * scale;
}

static float vexp_sum(float *s, int n, float m) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256 sum = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 e = infer_exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
        _mm256_storeu_ps(s + j, e);
        sum = _mm256_add_ps(sum, e);
    }
    if (j < n) {
        /* Tail padded with -inf (exp = 0): every element takes the same vector path. */
        float tmp[8];
        for (int i = 0; i < 8; i++) tmp[i] = j + i < n ? s[j + i] : -INFINITY;
        const __m256 e = infer_exp256(_mm256_sub_ps(_mm256_loadu_ps(tmp), vm));
        _mm256_storeu_ps(tmp, e);
        sum = _mm256_add_ps(sum, e);
        for (int i = 0; j + i < n; i++) s[j + i] = tmp[i];
    }
    return infer_hsum8_ps(sum);
}

/* acc += sum_j p[j] * V[j]; the accumulator stays in registers 64 floats at a time. */
static void vblock_accum(float *acc, const float *p, const float *V, size_t vs, int jn, int D) {
    int c = 0;
    for (; c + 64 <= D; c += 64) {
        __m256 a0 = _mm256_loadu_ps(acc + c), a1 = _mm256_loadu_ps(acc + c + 8);
        __m256 a2 = _mm256_loadu_ps(acc + c + 16), a3 = _mm256_loadu_ps(acc + c + 24);
        __m256 a4 = _mm256_loadu_ps(acc + c + 32), a5 = _mm256_loadu_ps(acc + c + 40);
        __m256 a6 = _mm256_loadu_ps(acc + c + 48), a7 = _mm256_loadu_ps(acc + c + 56);
        for (int j = 0; j < jn; j++) {
            const __m256 pj = _mm256_broadcast_ss(p + j);
            const float *v = V + (size_t)j * vs + c;
            a0 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v), a0);
            a1 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 8), a1);
            a2 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 16), a2);
            a3 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 24), a3);
            a4 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 32), a4);
            a5 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 40), a5);
            a6 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 48), a6);
            a7 = _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + 56), a7);
        }
        _mm256_storeu_ps(acc + c, a0); _mm256_storeu_ps(acc + c + 8, a1);
        _mm256_storeu_ps(acc + c + 16, a2); _mm256_storeu_ps(acc + c + 24, a3);
        _mm256_storeu_ps(acc + c + 32, a4); _mm256_storeu_ps(acc + c + 40, a5);
        _mm256_storeu_ps(acc + c + 48, a6); _mm256_storeu_ps(acc + c + 56, a7);
    }
    if (c == D) return;
    for (int j = 0; j < jn; j++) {
        if (p[j] == 0.0f) continue;
        const float *v = V + (size_t)j * vs;
        const __m256 pj = _mm256_set1_ps(p[j]);
        int i = c;
        for (; i + 8 <= D; i += 8)
            _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(pj, _mm256_loadu_ps(v + i), _mm256_loadu_ps(acc + i)));
        for (; i < D; i++) acc[i] += p[j] * v[i];
    }
}

#define ATTN_TILE_FN infer_cpu_attn_tile_avx2
#include "ops_attention_tile.inc"

#else
/* Built without the ISA flags (non-x86): never selected, kept for the symbol. */
void infer_cpu_attn_tile_avx2(const attn_tile *t, float *scratch) {
    infer_cpu_attn_tile_generic(t, scratch);
}
#endif
