/* One-token (decode) matvec kernels on AVX-512 VNNI for Q4_K and Q6_K.
 *
 * Why not the 8-token tiles with nt = 1: generation streams every weight once per token,
 * and the tile kernel spent per row (constants, call, horizontal sums) and per block (a
 * broadcast + shift per 32 bytes of nibbles, scales cut one 128-bit lane at a time, a
 * 256-bit tail) more than the memory gave it time for. Here one call walks a whole row
 * range, two rows at a time: both rows' blocks share the activation loads and one
 * 512-bit tail (row A in lanes 0-7, row B in 8-15), and the constants stay in registers.
 *
 * Batch invariance: the per-lane integer sums and the float operations on them are the
 * ones the tile kernels do for a single token (lane j of a block = sum over 32-byte runs
 * c of scale * dot of bytes 32c+4j..32c+4j+3; then the same fmsub/fmadd and the same
 * horizontal sum), so a token gives bit-identical logits alone or in a batch
 * (test_matmul_decode checks this against the tiles). */
#include "kernels/cpu/gemv.h"

#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#include <string.h>
#include "kernels/cpu/x86_hsum.h"
#include "quant/blocks.h"
#include "tensor/dtype.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Activation rows up to this many K-quant blocks (65536 columns) are rearranged on the
 * stack; longer rows take the tile kernels. */
#define DECODE_MAX_NB 256
/* Row streams walked side by side (see ROW_STREAMS_LOOP). Q4_K 400000x1536, 1 thread,
 * cpu GB/s on a loaded machine: tile kernel 5.9, adjacent row pairs 6.9, 2 streams 9.4,
 * 4 streams 10.9, 8 streams 11.7 (bench/RESULTS.md). With the software prefetch below, 8
 * streams gave the Qwen 1.5B Q4_K_M tg128 about 1% over 4 (28.3 vs 28.1 t/s, 3 of 3 rounds;
 * even on the layout), as bench_bandwidth finds 8 parts per core read fastest. */
#define DECODE_STREAMS 8
/* Each stream's blocks are prefetched this many bytes ahead (into the next rows of the
 * same stream): the hardware prefetchers alone left a core at 14-15 GB/s on 184320x1536
 * Q4_K/Q6_K, with 2 KiB ahead 24 / 21 (1 KiB 22 / 20, 4 KiB 24 / 18-21); the Qwen 1.5B
 * Q4_K_M tg128 on 2 threads went from 22 to 28 t/s (bench/RESULTS.md, "prefetch in the
 * Q4_K/Q6_K one-token kernels"). */
#define DECODE_PREFETCH 2048

/* [halves of a added | halves of b added] */
ALWAYS_INLINE __m512i pair_fold(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_shuffle_i64x2(a, b, 0x44), _mm512_shuffle_i64x2(a, b, 0xEE));
}

ALWAYS_INLINE void store_pair(__m512 acc, float *ya, float *yb) {
    if (ya) *ya = infer_hsum8_ps(_mm512_castps512_ps256(acc));
    if (yb) *yb = infer_hsum8_ps(_mm512_extractf32x8_ps(acc, 1));
}

/* Two fp16 pairs (d, dmin of rows A and B, 4 bytes each) as floats [a0 a1 b0 b1]. */
ALWAYS_INLINE __m512 halves_ps(const void *a, const void *b) {
    uint32_t ua, ub;
    memcpy(&ua, a, 4);
    memcpy(&ub, b, 4);
    return _mm512_castps128_ps512(_mm_cvtph_ps(_mm_setr_epi32((int)ua, (int)ub, 0, 0)));
}

/* The cache lines of one block, DECODE_PREFETCH bytes ahead of it. */
#define PREFETCH_BLOCK_AHEAD(p)                                                             \
    do {                                                                                   \
        for (size_t o_ = 0; o_ < sizeof(*(p)); o_ += 64)                               \
                _mm_prefetch((const char *)(p) + DECODE_PREFETCH + o_, _MM_HINT_T0);       \
    } while (0)

/* The in-loop prefetch runs DECODE_PREFETCH bytes ahead, so the first DECODE_PREFETCH
 * bytes of every stream would be demand misses: fetched at the call's start instead
 * (many calls are short: a 256-row K/V projection split among threads). */
ALWAYS_INLINE void prefetch_heads(const void *w, size_t ws, int64_t nrows, int64_t q) {
    for (int s = 0; s < DECODE_STREAMS; s++) {
        const int64_t r0 = (int64_t)s * q, r1 = r0 + q < nrows ? r0 + q : nrows;
        if (r0 >= r1) break;
        const size_t len = (size_t)(r1 - r0) * ws < DECODE_PREFETCH ? (size_t)(r1 - r0) * ws : DECODE_PREFETCH;
        for (size_t o = 0; o < len; o += 64) _mm_prefetch((const char *)w + (size_t)r0 * ws + o, _MM_HINT_T0);
    }
}

/* The row range is cut into `streams` equal parts walked side by side, row p of every
 * part in the same step, two parts per 512-bit accumulator: each part is one sequential
 * run of memory, so the hardware prefetchers keep that many streams in flight (adjacent
 * rows interleaved were one stream and ran slower than a row at a time). A part past the
 * end repeats row p (computed, not stored). PAIR_BLOCK adds block i of rows A and B to
 * acc and returns it; QUAD 1 walks all pairs in one block loop, 0 one pair after another. */
#define ROW_STREAMS_LOOP(BLOCK, PAIR_BLOCK, QUAD)                                           \
    const int64_t q = (nrows + DECODE_STREAMS - 1) / DECODE_STREAMS;                       \
    prefetch_heads(w, ws, nrows, q);                                                       \
    for (int64_t p = 0; p < q; p++) {                                                      \
        int64_t rr[DECODE_STREAMS];                                                        \
        const BLOCK *R[DECODE_STREAMS];                                                    \
        __m512 accs[DECODE_STREAMS / 2];                                                   \
        for (int s = 0; s < DECODE_STREAMS; s++) {                                         \
            rr[s] = p + s * q < nrows ? p + s * q : -1;                                    \
            R[s] = (const BLOCK *)((const char *)w + (size_t)(rr[s] >= 0 ? rr[s] : p) * ws); \
        }                                                                                  \
        if (QUAD) {                                                                        \
            for (int s = 0; s < DECODE_STREAMS / 2; s++) accs[s] = _mm512_setzero_ps();    \
            for (int64_t i = 0; i < nb; i++)                                               \
                for (int s = 0; s < DECODE_STREAMS; s += 2) {                              \
                    const BLOCK *A = R[s], *B = R[s + 1];                                  \
                    PREFETCH_BLOCK_AHEAD(&A[i]);                                           \
                    PREFETCH_BLOCK_AHEAD(&B[i]);                                           \
                    __m512 acc = accs[s / 2];                                              \
                    accs[s / 2] = PAIR_BLOCK;                                              \
                }                                                                          \
        } else {                                                                           \
            for (int s = 0; s < DECODE_STREAMS; s += 2) {                                  \
                const BLOCK *A = R[s], *B = R[s + 1];                                      \
                __m512 acc = _mm512_setzero_ps();                                          \
                for (int64_t i = 0; i < nb; i++) {                                         \
                    PREFETCH_BLOCK_AHEAD(&A[i]);                                           \
                    PREFETCH_BLOCK_AHEAD(&B[i]);                                           \
                    acc = PAIR_BLOCK;                                                      \
                }                                                                          \
                accs[s / 2] = acc;                                                         \
            }                                                                              \
        }                                                                                  \
        for (int s = 0; s < DECODE_STREAMS; s += 2)                                        \
            store_pair(accs[s / 2], rr[s] >= 0 ? &y[rr[s]] : NULL, rr[s + 1] >= 0 ? &y[rr[s + 1]] : NULL); \
    }

/* ---------------------------------------------------------------- Q4_K */

/* Q4_K/Q5_K scales[12] -> bytes 0-7: the eight 6-bit scales, bytes 8-15: the mins. */
ALWAYS_INLINE void unpack_scale_min(const uint8_t *scales, uint64_t *sc8, uint64_t *mn8) {
    uint8_t u[16];
    infer_q4k_scales_unpack(scales, u);
    memcpy(sc8, u, 8);
    memcpy(mn8, u + 8, 8);
}

/* int16 lanes of 128-bit lane L = byte b_L of a register, zero-extended */
ALWAYS_INLINE __m512i zx_lane_index(int b0, int b1, int b2, int b3) {
    return _mm512_setr_epi64(0x8000800080008000ll | (0x0001000100010001ll * b0), 0x8000800080008000ll | (0x0001000100010001ll * b0),
                             0x8000800080008000ll | (0x0001000100010001ll * b1), 0x8000800080008000ll | (0x0001000100010001ll * b1),
                             0x8000800080008000ll | (0x0001000100010001ll * b2), 0x8000800080008000ll | (0x0001000100010001ll * b2),
                             0x8000800080008000ll | (0x0001000100010001ll * b3), 0x8000800080008000ll | (0x0001000100010001ll * b3));
}

/* 64 bytes of qs (groups 2k and 2k+1) give two zmm of levels without a shuffle: the low
 * nibbles are sub-blocks 4k and 4k+2, the high ones 4k+1 and 4k+3. The activations are
 * rearranged once per call to match: per block, 32-byte runs in order 0 2 1 3 4 6 5 7. */
ALWAYS_INLINE void q4_k_permute_act(int64_t nb, const block_q8_k *x, int8_t *xp) {
    static const int order[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    for (int64_t i = 0; i < nb; i++)
        for (int c = 0; c < 8; c++)
            _mm256_store_si256((__m256i *)(xp + 256 * i + 32 * c), _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * order[c])));
}

typedef struct {
    __m512i m4, sidx[4], min_idx;
    __m512i d_idx, dmin_idx;
} q4_k_consts;

/* Integer sums of one block of one row: lane j + lane j+8 = the tile kernels' lane j. */
ALWAYS_INLINE __m512i q4_k_block_isum(const block_q4_k *a, const int8_t *xp, const q4_k_consts *k, uint64_t sc8) {
    const __m512i scb = _mm512_set1_epi64((long long)sc8);
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
        const __m512i q = _mm512_loadu_si512(a->qs + 64 * h);
        const __m512i lo = _mm512_and_si512(q, k->m4);
        const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), k->m4);
        const __m512i plo = _mm512_maddubs_epi16(lo, _mm512_load_si512(xp + 128 * h));
        const __m512i phi = _mm512_maddubs_epi16(hi, _mm512_load_si512(xp + 128 * h + 64));
        s0 = _mm512_dpwssd_epi32(s0, plo, _mm512_shuffle_epi8(scb, k->sidx[2 * h]));
        s1 = _mm512_dpwssd_epi32(s1, phi, _mm512_shuffle_epi8(scb, k->sidx[2 * h + 1]));
    }
    return _mm512_add_epi32(s0, s1);
}

/* Rows A and B over all blocks: acc lanes 0-7 row A, 8-15 row B. */
/* One block of rows A and B added to acc (lanes 0-7 row A, 8-15 row B). */
ALWAYS_INLINE __m512 q4_k_pair_block(const block_q4_k *A, const block_q4_k *B, int64_t i, const block_q8_k *x,
                                     const int8_t *xp, const q4_k_consts *kc, __m512 acc) {
    const q4_k_consts k = *kc;
    uint64_t sca, mna, scb, mnb;
    unpack_scale_min(A[i].scales, &sca, &mna);
    unpack_scale_min(B[i].scales, &scb, &mnb);
    const __m512i isa = q4_k_block_isum(&A[i], xp + QK_K * i, &k, sca);
    const __m512i isb = q4_k_block_isum(&B[i], xp + QK_K * i, &k, scb);
    const __m512i mins = _mm512_shuffle_epi8(
        _mm512_inserti64x4(_mm512_set1_epi64((long long)mna), _mm256_set1_epi64x((long long)mnb), 1), k.min_idx);
    const __m512 dd = halves_ps(&A[i].d, &B[i].d);
    const __m512 dv = _mm512_permutexvar_ps(k.d_idx, dd);
    const __m512 dminv = _mm512_permutexvar_ps(k.dmin_idx, dd);
    const __m512i bs = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x[i].bsums));
    const __m512i pm = _mm512_madd_epi16(bs, mins);
    const __m512 f = _mm512_fmsub_ps(_mm512_cvtepi32_ps(pair_fold(isa, isb)), dv,
                                     _mm512_mul_ps(_mm512_cvtepi32_ps(pm), dminv));
    return _mm512_fmadd_ps(f, _mm512_set1_ps(x[i].d), acc);
}

static int decode_q4_k(int64_t nb, const void *w, size_t ws, int64_t nrows, const void *xv, float *y) {
    if (nb > DECODE_MAX_NB) return -1;
    const block_q8_k *x = xv;
    _Alignas(64) int8_t xp[DECODE_MAX_NB * QK_K];
    q4_k_permute_act(nb, x, xp);
    q4_k_consts k;
    k.m4 = _mm512_set1_epi8(0x0F);
    /* zmm 2h+0: sub-blocks 4h / 4h+2 in its halves; zmm 2h+1: 4h+1 / 4h+3 */
    for (int h = 0; h < 2; h++) {
        k.sidx[2 * h] = zx_lane_index(4 * h, 4 * h, 4 * h + 2, 4 * h + 2);
        k.sidx[2 * h + 1] = zx_lane_index(4 * h + 1, 4 * h + 1, 4 * h + 3, 4 * h + 3);
    }
    /* (m0,m0,m1,m1,...,m7,m7) as int16 from the 8 min bytes of each half's row */
    k.min_idx = _mm512_broadcast_i64x4(_mm256_setr_epi8(
        0, -128, 0, -128, 1, -128, 1, -128, 2, -128, 2, -128, 3, -128, 3, -128,
        4, -128, 4, -128, 5, -128, 5, -128, 6, -128, 6, -128, 7, -128, 7, -128));
    k.d_idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
    k.dmin_idx = _mm512_setr_epi32(1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3);
    /* pair after pair: both pairs in one block loop measured ~10% slower for Q4_K */
    ROW_STREAMS_LOOP(block_q4_k, q4_k_pair_block(A, B, i, x, xp, &k, acc), 0);
    return 0;
}

/* ---------------------------------------------------------------- Q6_K */

typedef struct {
    __m512i m4, m3, shl_lo, shr_hi, sidx[4];
} q6_k_consts;

/* Half h (128 weights) = 64 bytes of ql + 32 of qh: weights 0-63 of the half are the low
 * nibbles of ql with qh bits 0-1 / 2-3, weights 64-127 the high nibbles with bits 4-5 /
 * 6-7; each is one zmm against 64 contiguous activations. sw: the 16 scales as int16 in
 * the low 256 bits. Lane j + lane j+8 = the tile kernels' lane j. */
ALWAYS_INLINE __m512i q6_k_block_isum(const block_q6_k *a, const int8_t *xq, const q6_k_consts *k, __m512i sw) {
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
        const __m512i ql = _mm512_loadu_si512(a->ql + 64 * h);
        const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a->qh + 32 * h)));
        const __m512i q0 = _mm512_ternarylogic_epi32(_mm512_and_si512(ql, k->m4), _mm512_sllv_epi64(qh, k->shl_lo), k->m3, 0xF8);
        const __m512i q1 = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(ql, 4), k->m4),
                                                     _mm512_srlv_epi64(qh, k->shr_hi), k->m3, 0xF8);
        const __m512i p0 = _mm512_maddubs_epi16(q0, _mm512_loadu_si512(xq + 128 * h));
        const __m512i p1 = _mm512_maddubs_epi16(q1, _mm512_loadu_si512(xq + 128 * h + 64));
        s0 = _mm512_dpwssd_epi32(s0, p0, _mm512_permutexvar_epi16(k->sidx[2 * h], sw));
        s1 = _mm512_dpwssd_epi32(s1, p1, _mm512_permutexvar_epi16(k->sidx[2 * h + 1], sw));
    }
    return _mm512_add_epi32(s0, s1);
}

ALWAYS_INLINE __m512 q6_k_pair_block(const block_q6_k *A, const block_q6_k *B, int64_t i, const block_q8_k *x,
                                     const q6_k_consts *kc, __m512 acc) {
    const q6_k_consts k = *kc;
    const __m256i swa = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)A[i].scales));
    const __m256i swb = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)B[i].scales));
    const __m512i isa = q6_k_block_isum(&A[i], x[i].qs, &k, _mm512_castsi256_si512(swa));
    const __m512i isb = q6_k_block_isum(&B[i], x[i].qs, &k, _mm512_castsi256_si512(swb));
    const __m512i bs = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x[i].bsums));
    const __m512i c = _mm512_madd_epi16(bs, _mm512_inserti64x4(_mm512_castsi256_si512(swa), swb, 1));
    /* levels are q + 32: the offset is 32 = 1 << 5 */
    const __m512i tot = _mm512_sub_epi32(pair_fold(isa, isb), _mm512_slli_epi32(c, 5));
    /* d * the token's d rounded as a float product, as the tiles do */
    const __m512 dw = _mm512_insertf32x8(_mm512_set1_ps(_cvtsh_ss(A[i].d)), _mm256_set1_ps(_cvtsh_ss(B[i].d)), 1);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot), _mm512_mul_ps(dw, _mm512_set1_ps(x[i].d)), acc);
}

static int decode_q6_k(int64_t nb, const void *w, size_t ws, int64_t nrows, const void *xv, float *y) {
    const block_q8_k *x = xv;
    q6_k_consts k;
    k.m4 = _mm512_set1_epi8(0x0F);
    k.m3 = _mm512_set1_epi8(0x30);
    k.shl_lo = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2);
    k.shr_hi = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    /* 16-weight sub-block 8h + 4p + L in 128-bit lane L of zmm 2h+p: int16 lane l takes
     * scale 8h + 4p + l/8 */
    for (int z = 0; z < 4; z++) {
        short idx[32];
        for (int l = 0; l < 32; l++) idx[l] = (short)(4 * z + l / 8);
        k.sidx[z] = _mm512_loadu_si512(idx);
    }
    /* all pairs in one block loop: ~7% faster than pair after pair for Q6_K */
    ROW_STREAMS_LOOP(block_q6_k, q6_k_pair_block(A, B, i, x, &k, acc), 1);
    return 0;
}

infer_dot_rows_fn infer_decode_rows_avx512(uint32_t type) {
    switch (type) {
    case INFER_TYPE_Q4_K: return decode_q4_k;
    case INFER_TYPE_Q6_K: return decode_q6_k;
    default: return NULL;
    }
}

#else
infer_dot_rows_fn infer_decode_rows_avx512(uint32_t type) {
    (void)type;
    return NULL;
}
#endif
