/* AVX2 one-token kernels for Q8_0, MXFP4 and IQ4_NL (see gemv.h for why they exist).
 *
 * Each row is the AVX2 tile's arithmetic with one token (vec_dot_x86.inc: SIGNED_STEP in
 * BLOCK32_LOOP, blocks alternating between two accumulators), so the bits are the same.
 * maddubs adds byte products pairwise into saturating int16, so the weights cannot be
 * offset into unsigned range as the AVX-512 kernels do (255 x 127 x 2 overflows): the
 * weight's sign still moves onto the activation per row. What these add over the tile is
 * the prefetch of the weight stream, which is what the one-token tile lacked
 * (bench/RESULTS.md, "gpt-oss-20b decode: one-token kernels"), and the walk over several
 * row streams at once (gemv_streams.h). */
#include "kernels/cpu/gemv.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#include "kernels/cpu/gemv_streams.h"
#include "kernels/cpu/vec_dot.h"
#include "kernels/cpu/x86_hsum.h"
#include "quant/blocks.h"
#include "tensor/dtype.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define GEMV_PREFETCH 3072   /* bytes ahead, as gemv_avx512.c */

/* 32 nibbles of a 16-byte run: low nibbles in lanes 0-15, high ones in 16-31. */
ALWAYS_INLINE __m256i nibbles_32(const uint8_t *p) {
    const __m256i w = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    return _mm256_and_si256(_mm256_srlv_epi64(w, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
}

/* acc + (sum of v x x per int32 lane) * dw * d, v signed, as the tile's SIGNED_STEP. */
ALWAYS_INLINE __m256 signed_step(__m256 acc, __m256i v, float dw, const infer_act_q8 *b) {
    const __m256i xs = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)b->qs), v);
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), xs);
    const __m256i p = _mm256_add_epi32(_mm256_setzero_si256(), _mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
    return _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw)), _mm256_broadcast_ss(&b->d), acc);
}

ALWAYS_INLINE float finish(__m256 acc0, __m256 acc1) {
    return infer_hsum8_ps(_mm256_add_ps(acc0, acc1)) + (0.0f + 0.0f);   /* the tile adds its (zero) corrections */
}

/* LOAD(a, k): block k's 32 signed weights of row a; SCALE(a, k): its float scale. Rows
 * walked as gemv_streams.h's parts side by side, each with its two accumulators. */
#define GEMV_ROWS(BLOCK)                                                              \
    const infer_act_q8 *b = xq;                                                                    \
    GEMV_WALK_ROWS(BLOCK##_ROWS)

#define ROWS_BODY(BLOCK, LOAD, SCALE, n, ar, yy)                                                   \
    do {                                                                                           \
        __m256 acc0[GEMV_STREAMS], acc1[GEMV_STREAMS];                                             \
        FOR_STREAMS(s, n) acc0[s] = acc1[s] = _mm256_setzero_ps();                                \
        int64_t i = 0;                                                                             \
        for (; i + 1 < nb; i += 2) {                                                               \
            FOR_STREAMS(s, n) _mm_prefetch((const char *)((const BLOCK *)ar[s] + i) + GEMV_PREFETCH, _MM_HINT_T0); \
            FOR_STREAMS(s, n) {                                                                    \
                const BLOCK *a = (const BLOCK *)ar[s];                                             \
                acc0[s] = signed_step(acc0[s], LOAD(i), SCALE(i), b + i);                          \
                acc1[s] = signed_step(acc1[s], LOAD(i + 1), SCALE(i + 1), b + i + 1);              \
            }                                                                                      \
        }                                                                                          \
        if (i < nb)                                                                                \
            FOR_STREAMS(s, n) {                                                                    \
                const BLOCK *a = (const BLOCK *)ar[s];                                             \
                acc0[s] = signed_step(acc0[s], LOAD(i), SCALE(i), b + i);                          \
            }                                                                                      \
        FOR_STREAMS(s, n) *yy[s] = finish(acc0[s], acc1[s]);                                       \
    } while (0)

#define Q8_0_LOAD(k) _mm256_loadu_si256((const __m256i *)a[k].qs)
#define F16_SCALE(k) _cvtsh_ss(a[k].d)
#define LUT_LOAD(k) _mm256_shuffle_epi8(lut, nibbles_32(a[k].qs))
#define E8M0_SCALE(k) infer_e8m0_to_f32_half(a[k].e)
#define block_q8_0_ROWS(n, ar, yy) ROWS_BODY(block_q8_0, Q8_0_LOAD, F16_SCALE, n, ar, yy)
#define block_mxfp4_ROWS(n, ar, yy) ROWS_BODY(block_mxfp4, LUT_LOAD, E8M0_SCALE, n, ar, yy)
#define block_iq4_nl_ROWS(n, ar, yy) ROWS_BODY(block_iq4_nl, LUT_LOAD, F16_SCALE, n, ar, yy)

static int gemv_q8_0(int64_t nb, const void *w, size_t row_bytes, int64_t rows, const void *xq, float *y) {
    GEMV_ROWS(block_q8_0);
    return 0;
}

static int gemv_mxfp4(int64_t nb, const void *w, size_t row_bytes, int64_t rows, const void *xq, float *y) {
    const __m256i lut = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)infer_mxfp4_values));
    GEMV_ROWS(block_mxfp4);
    return 0;
}

static int gemv_iq4_nl(int64_t nb, const void *w, size_t row_bytes, int64_t rows, const void *xq, float *y) {
    const __m256i lut = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)infer_iq4nl_values));
    GEMV_ROWS(block_iq4_nl);
    return 0;
}

infer_dot_rows_fn infer_gemv_avx2(uint32_t wtype) {
    switch (wtype) {
    case INFER_TYPE_Q8_0: return gemv_q8_0;
    case INFER_TYPE_MXFP4: return gemv_mxfp4;
    case INFER_TYPE_IQ4_NL: return gemv_iq4_nl;
    default: return NULL;
    }
}

#else
infer_dot_rows_fn infer_gemv_avx2(uint32_t wtype) {
    (void)wtype;
    return NULL;
}
#endif
