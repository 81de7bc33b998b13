/* The attention tile kernel with AVX-512 (this file gets the AVX-512 flags): the same
 * online-softmax tile as ops_attention_tile.inc's other instances, with 16-wide score,
 * exp and value steps. At a 512-token prompt the attention is about a tenth of a prompt
 * step once the matmuls run on AMX tiles, and its share grows with the prompt; the AVX2
 * kernel needs twice the instructions for the same products. Each query row is computed
 * on its own (no sums across rows), so a row's result does not depend on its tile. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "kernels/cpu/ops.h"
#include "tensor/dtype.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#include "kernels/cpu/ops_avx512.h"

static void vscale(float *y, float a, int n) {
    const __m512 va = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(va, _mm512_loadu_ps(y + i)));
    for (; i < n; i++) y[i] *= a;
}

static void vf16row(const uint16_t *src, float *dst, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    for (; i < n; i++) dst[i] = infer_fp16_to_f32(src[i]);
}

static float vdot(const float *a, const float *b, int n) {
    __m512 s = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s);
    float r = _mm512_reduce_add_ps(s);
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

/* Lane j of the result: the sum of all lanes of a[j]. Four halving steps each add two
 * vectors' halves (256-bit, 128-bit, 64-bit, 32-bit), leaving lane 4q + m with the sum of
 * a[4m + q]; one permute puts them in order. */
static __m512 sum16(const __m512 a[16]) {
    __m512 b[8], c[4], d[2];
    for (int i = 0; i < 8; i++)
        b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int i = 0; i < 4; i++)
        c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    for (int i = 0; i < 2; i++)
        d[i] = _mm512_add_ps(_mm512_shuffle_ps(c[2 * i], c[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(c[2 * i], c[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 e = _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                   _mm512_shuffle_ps(d[0], d[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(order, e);
}

/* Scores of 16 keys: dot(q, K + j*ks) for j < 16. */
static __m512 dot16(const float *q, const float *K, size_t ks, int D) {
    __m512 a[16];
    for (int j = 0; j < 16; j++) a[j] = _mm512_setzero_ps();
    for (int i = 0; i < D; i += 16) {
        const __m512 qv = _mm512_loadu_ps(q + i);
        for (int j = 0; j < 16; j++) a[j] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(K + (size_t)j * ks + i), a[j]);
    }
    return sum16(a);
}

static void kblock_scores(const float *q, const float *K, size_t ks, int jn, int D, float scale, float *s) {
    int j = 0;
    if (D % 16 == 0) {
        const __m512 vs = _mm512_set1_ps(scale);
        for (; j + 16 <= jn; j += 16) _mm512_storeu_ps(s + j, _mm512_mul_ps(dot16(q, K + (size_t)j * ks, ks, D), vs));
    }
    for (; j < jn; j++) s[j] = vdot(q, K + (size_t)j * ks, D) * scale;
}

static float vexp_sum(float *s, int n, float m) {
    const __m512 vm = _mm512_set1_ps(m);
    __m512 sum = _mm512_setzero_ps();
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m512 e = infer_exp512(_mm512_sub_ps(_mm512_loadu_ps(s + j), vm));
        _mm512_storeu_ps(s + j, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (j < n) {   /* the tail through the same vector path, masked */
        const __mmask16 k = (__mmask16)((1u << (n - j)) - 1);
        const __m512 x = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, s + j);
        const __m512 e = infer_exp512(_mm512_sub_ps(x, vm));
        _mm512_mask_storeu_ps(s + j, k, e);
        sum = _mm512_add_ps(sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

/* acc[c, c + 16 * nv) += sum_j p[j] * V[j][c, ...), the accumulator held in nv registers. */
static inline void accum_chunk(float *acc, const float *p, const float *V, size_t vs, int jn, int c, int nv) {
    __m512 a[8];
    for (int i = 0; i < nv; i++) a[i] = _mm512_loadu_ps(acc + c + 16 * i);
    for (int j = 0; j < jn; j++) {
        const __m512 pj = _mm512_set1_ps(p[j]);
        const float *v = V + (size_t)j * vs + c;
        for (int i = 0; i < nv; i++) a[i] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(v + 16 * i), a[i]);
    }
    for (int i = 0; i < nv; i++) _mm512_storeu_ps(acc + c + 16 * i, a[i]);
}

/* acc += sum_j p[j] * V[j], 128 floats at a time, then 64, then the rest. */
static void vblock_accum(float *acc, const float *p, const float *V, size_t vs, int jn, int D) {
    int c = 0;
    for (; c + 128 <= D; c += 128) accum_chunk(acc, p, V, vs, jn, c, 8);
    for (; c + 64 <= D; c += 64) accum_chunk(acc, p, V, vs, jn, c, 4);
    if (c == D) return;
    for (int j = 0; j < jn; j++) {
        if (p[j] == 0.0f) continue;
        const float *v = V + (size_t)j * vs;
        const __m512 pj = _mm512_set1_ps(p[j]);
        int i = c;
        for (; i + 16 <= D; i += 16)
            _mm512_storeu_ps(acc + i, _mm512_fmadd_ps(pj, _mm512_loadu_ps(v + i), _mm512_loadu_ps(acc + i)));
        for (; i < D; i++) acc[i] += p[j] * v[i];
    }
}

void infer_cpu_attn_tile_zmm(const attn_tile *t, float *scratch);
#define ATTN_TILE_FN infer_cpu_attn_tile_zmm
#include "ops_attention_tile.inc"

/* Heads of 128 and more: half the instructions of the AVX2 kernel for the same products
 * (Qwen2.5 1.5B, T=512: 1.0-1.6x on bench_ops, loaded machine). At 64 (gpt-oss) the
 * 16-key transpose-add weighs as much as the products and it measured level with AVX2,
 * which keeps those heads. The choice depends on the head size only, so every row of a
 * model takes the same path. */
void infer_cpu_attn_tile_avx512(const attn_tile *t, float *scratch) {
    if (t->head_dim >= 128) infer_cpu_attn_tile_zmm(t, scratch);
    else infer_cpu_attn_tile_avx2(t, scratch);
}

#else
/* Built without the ISA flags (non-x86): never selected, kept for the symbol. */
void infer_cpu_attn_tile_avx512(const attn_tile *t, float *scratch) {
    infer_cpu_attn_tile_generic(t, scratch);
}
#endif
