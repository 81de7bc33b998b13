/* AVX-512 VNNI kernels: the shared x86 template with vpdpbusd / vpdpwssd (VL forms on
 * 256-bit registers), with the Q8_0 and Q4_K / Q5_K / Q6_K tiles replaced by 512-bit
 * ones that take 8 tokens per call.
 *
 * Why: prompt processing is bound by the integer dot instructions (maddubs + dpwssd for
 * K-quants), and on a core with full-width 512-bit units one zmm instruction does the
 * work of two ymm ones (measured on a Zen 5 EPYC, 1 thread, pp512: Q4_K matmul 1.5x,
 * Q8_0 1.15x). A 64-byte run of Q8_K activations is two consecutive 32-weight
 * sub-blocks, so K-quant weights are rearranged to match once per block, and that work
 * is shared by the tile's tokens. The other types stay on 256 bits. */
#include "kernels/cpu/vec_dot.h"

#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

#define DPBUSD(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define DPWSSD(acc, a, b) _mm256_dpwssd_epi32(acc, a, b)
#define ISA_TABLE infer_vec_dot_avx512
#define ISA_ACT infer_quantize_act_avx512
#define ISA_TILE_Q8_0 tile_q8_0_zmm
#define ISA_TILE_Q4_K tile_q4_k_zmm
#define ISA_TILE_Q5_K tile_q5_k_zmm
#define ISA_TILE_Q6_K tile_q6_k_zmm
#define ZMM_NT 8   /* tokens per K-quant tile: the block's decode is shared by all of them */
#define ISA_TILE_KQUANT_NT ZMM_NT
#define ISA_TILE_Q8_0_NT ZMM_NT
static void tile_q8_0_zmm(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out);
static void tile_q4_k_zmm(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out);
static void tile_q5_k_zmm(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out);
static void tile_q6_k_zmm(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out);
/* Q2_K, Q3_K, IQ4_XS: 512-bit tiles in vec_dot_avx512_lowbit.inc */
#define ISA_TILE_Q2_K tile_q2_k_zmm
#define ISA_TILE_Q3_K tile_q3_k_zmm
#define ISA_TILE_IQ4_XS tile_iq4_xs_zmm
static void tile_q2_k_zmm(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out);
static void tile_q3_k_zmm(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out);
static void tile_iq4_xs_zmm(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out);
/* MXFP4, IQ4_NL: 16-entry level tables on nibbles, a pair of blocks per zmm (below) */
#define ISA_TILE_MXFP4 tile_mxfp4_zmm
#define ISA_TILE_IQ4_NL tile_iq4_nl_zmm
#define ISA_TILE_LUT4_NT ZMM_NT
static void tile_mxfp4_zmm(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out);
static void tile_iq4_nl_zmm(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out);
#include "kernels/cpu/vec_dot_x86.inc"

/* 8 int32 lanes: lanes k and k+8 of v added. */
ALWAYS_INLINE __m256i fold_epi32(__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/* [lanes 0-7 + 8-15 of a | lanes 0-7 + 8-15 of b]: two tokens' sums in one zmm */
ALWAYS_INLINE __m512i pair_fold_epi32(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_shuffle_i64x2(a, b, 0x44), _mm512_shuffle_i64x2(a, b, 0xEE));
}

/* 8 x lo then 8 x hi */
ALWAYS_INLINE __m512 pair_ps(float lo, float hi) {
    return _mm512_insertf32x8(_mm512_set1_ps(lo), _mm256_set1_ps(hi), 1);
}

/* out[] from token-pair accumulators (and acc1 for an odd last token) */
ALWAYS_INLINE void store_pairs(const __m512 *acc, __m256 acc1, const int nt, float *out) {
    for (int t = 0; t + 1 < nt; t += 2) {
        out[t] = hsum_ps(_mm512_castps512_ps256(acc[t / 2]));
        out[t + 1] = hsum_ps(_mm512_extractf32x8_ps(acc[t / 2], 1));
    }
    if (nt & 1) out[nt - 1] = hsum_ps(acc1);
}

/* Two tokens' Q8_K bsums (16 int16 each) in the two halves of a zmm. */
ALWAYS_INLINE __m512i bsums_pair(const block_q8_k *b0, const block_q8_k *b1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b0->bsums)),
                              _mm256_loadu_si256((const __m256i *)b1->bsums), 1);
}

/* End of a block for the K-quants with mins (Q2_K, Q4_K, Q5_K): per token
 * d * sum(scale * dot) - dmin * sum(min * bsum), times the token's d, added to acc (tokens
 * in pairs, one zmm carrying both) and acc1 (an odd last token). mins: the int16 mins
 * lined up with the 16 bsums, in both halves. */
ALWAYS_INLINE void kquant_min_tail(const __m512i *isum, __m512i mins, __m512 dv, __m512 dminv, const void *x, size_t xs,
                                   int64_t i, const int nt, __m512 *acc, __m256 *acc1) {
    for (int t = 0; t + 1 < nt; t += 2) {
        const block_q8_k *b0 = K_ACT(t, i), *b1 = K_ACT(t + 1, i);
        const __m512i pm = _mm512_madd_epi16(bsums_pair(b0, b1), mins);
        const __m512 f = _mm512_fmsub_ps(_mm512_cvtepi32_ps(pair_fold_epi32(isum[t], isum[t + 1])), dv,
                                         _mm512_mul_ps(_mm512_cvtepi32_ps(pm), dminv));
        acc[t / 2] = _mm512_fmadd_ps(f, pair_ps(b0->d, b1->d), acc[t / 2]);
    }
    if (nt & 1) {
        const block_q8_k *b = K_ACT(nt - 1, i);
        const __m256i pm = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b->bsums), _mm512_castsi512_si256(mins));
        const __m256 f = _mm256_fmsub_ps(_mm256_cvtepi32_ps(fold_epi32(isum[nt - 1])), _mm512_castps512_ps256(dv),
                                         _mm256_mul_ps(_mm256_cvtepi32_ps(pm), _mm512_castps512_ps256(dminv)));
        *acc1 = _mm256_fmadd_ps(f, _mm256_broadcast_ss(&b->d), *acc1);
    }
}

/* End of a block for the K-quants with signed scales and a level offset (Q6_K: 32 =
 * 1 << 5, Q3_K: 4 = 1 << 2): per token (sum(scale * dot) - offset * sum(scale * bsum))
 * * d * the token's d. sc_all: the int16 scales lined up with the bsums, both halves. */
ALWAYS_INLINE void kquant_offset_tail(const __m512i *isum, __m512i sc_all, const int offset_shift, float d, const void *x,
                                      size_t xs, int64_t i, const int nt, __m512 *acc, __m256 *acc1) {
    for (int t = 0; t + 1 < nt; t += 2) {
        const block_q8_k *b0 = K_ACT(t, i), *b1 = K_ACT(t + 1, i);
        const __m512i c = _mm512_madd_epi16(bsums_pair(b0, b1), sc_all);
        const __m512i tot = _mm512_sub_epi32(pair_fold_epi32(isum[t], isum[t + 1]), _mm512_slli_epi32(c, offset_shift));
        acc[t / 2] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot), pair_ps(d * b0->d, d * b1->d), acc[t / 2]);
    }
    if (nt & 1) {
        const block_q8_k *b = K_ACT(nt - 1, i);
        const __m256i c = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)b->bsums), _mm512_castsi512_si256(sc_all));
        const __m256i tot = _mm256_sub_epi32(fold_epi32(isum[nt - 1]), _mm256_slli_epi32(c, offset_shift));
        *acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(tot), _mm256_set1_ps(d * b->d), *acc1);
    }
}

/* zmm whose int16 lanes in 128-bit lane L hold byte lane_byte[L] of a (broadcast)
 * register in their high byte; an arithmetic shift by 8 then sign-extends it, and for
 * the unsigned 6-bit Q4_K scales a 0x80 low index byte gives zero-extension directly. */
ALWAYS_INLINE __m512i lane_index(int b0, int b1, int b2, int b3, int high) {
    const int sh = high ? 8 : 0, other = high ? 0x80 : 0x8000;
    return _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16((short)((b1 << sh) | other)),
                                                _mm_set1_epi16((short)((b0 << sh) | other)))),
        _mm256_set_m128i(_mm_set1_epi16((short)((b3 << sh) | other)), _mm_set1_epi16((short)((b2 << sh) | other))), 1);
}

/* Q4_K / Q5_K: group g (64 weights) = 32 bytes of qs, low nibbles the first sub-block,
 * high nibbles the second; broadcast to both halves and shifted per half, it lines up
 * with 64 contiguous activations. Q5_K's fifth bits (bits 2g / 2g+1 of qh) line up the
 * same way. fifth_bit is a constant, so each type gets its own specialised loop. */
ALWAYS_INLINE void q45_k_zmm_nt(int64_t nb, const void *w, const void *x, size_t xs, const int nt, float *out,
                                const int fifth_bit) {
    const block_q4_k *a4 = w;
    const block_q5_k *a5 = w;
#define KB(field) (fifth_bit ? a5[i].field : a4[i].field)
    const __m512i m1 = _mm512_set1_epi8(1);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i nib_shift = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
    /* (m0,m0,m1,m1,...,m7,m7) as int16 from the 8 min bytes, in both 256-bit halves */
    const __m512i min_idx = _mm512_broadcast_i64x4(_mm256_setr_epi8(
        0, -128, 0, -128, 1, -128, 1, -128, 2, -128, 2, -128, 3, -128, 3, -128,
        4, -128, 4, -128, 5, -128, 5, -128, 6, -128, 6, -128, 7, -128, 7, -128));
    __m512i sidx[4];
    __m512i qh_shift[4];
    for (int g = 0; g < 4; g++) {
        sidx[g] = lane_index(2 * g, 2 * g, 2 * g + 1, 2 * g + 1, 0);
        qh_shift[g] = _mm512_setr_epi64(2 * g, 2 * g, 2 * g, 2 * g, 2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1);
    }
    __m512 acc[ZMM_NT / 2] = {0};   /* tokens 2p / 2p+1 in the low / high half */
    __m256 acc1 = _mm256_setzero_ps();        /* an odd last token */
    for (int64_t i = 0; i < nb; i++) {
        uint32_t u[4];
        unpack_scale_min(KB(scales), u);
        uint64_t sc8, mn8;
        memcpy(&sc8, u, 8);
        memcpy(&mn8, u + 2, 8);
        const __m512i scb = _mm512_set1_epi64((long long)sc8);
        const __m512i mins = _mm512_shuffle_epi8(_mm512_set1_epi64((long long)mn8), min_idx);
        const __m512 dv = _mm512_set1_ps(fp16_to_f32(KB(d)));
        const __m512 dminv = _mm512_set1_ps(fp16_to_f32(KB(dmin)));
        /* one chain per token: the tile's tokens and the next block's chains overlap
         * the 5-cycle vpdpwssd latency */
        __m512i isum[ZMM_NT];
        for (int t = 0; t < nt; t++) isum[t] = _mm512_setzero_si512();
        __m512i qh = _mm512_setzero_si512();
        if (fifth_bit) qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)a5[i].qh));
        for (int g = 0; g < 4; g++) {
            const __m512i wq = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(KB(qs) + 32 * g)));
            __m512i lv = _mm512_and_si512(_mm512_srlv_epi64(wq, nib_shift), m4);
            if (fifth_bit) {
                const __m512i hb = _mm512_and_si512(_mm512_srlv_epi64(qh, qh_shift[g]), m1);
                lv = _mm512_or_si512(lv, _mm512_slli_epi16(hb, 4));
            }
            const __m512i s = _mm512_shuffle_epi8(scb, sidx[g]);
            for (int t = 0; t < nt; t++) {
                const __m512i p = _mm512_maddubs_epi16(lv, _mm512_loadu_si512(K_ACT(t, i)->qs + 64 * g));
                isum[t] = _mm512_dpwssd_epi32(isum[t], p, s);
            }
        }
        kquant_min_tail(isum, mins, dv, dminv, x, xs, i, nt, acc, &acc1);
    }
    store_pairs(acc, acc1, nt, out);
#undef KB
}

ALWAYS_INLINE void q4_k_zmm_nt(int64_t nb, const void *w, const void *x, size_t xs, const int nt, float *out) {
    q45_k_zmm_nt(nb, w, x, xs, nt, out, 0);
}
ALWAYS_INLINE void q5_k_zmm_nt(int64_t nb, const void *w, const void *x, size_t xs, const int nt, float *out) {
    q45_k_zmm_nt(nb, w, x, xs, nt, out, 1);
}

/* Q6_K: half h (128 weights) = 64 bytes of ql + 32 of qh. Weights 0-63 of the half are
 * the low nibbles of ql with qh bits 0-1 / 2-3, weights 64-127 the high nibbles with qh
 * bits 4-5 / 6-7: each is one zmm against 64 contiguous activations. */
ALWAYS_INLINE void q6_k_zmm_nt(int64_t nb, const void *w, const void *x, size_t xs, const int nt, float *out) {
    const block_q6_k *a = w;
    const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(0x30);
    const __m512i shl_lo = _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2);
    const __m512i shr_hi = _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2);
    /* 16-weight sub-block j = 8h + 4p + L sits in 128-bit lane L of pair p of half h */
    __m512i sidx[4];
    for (int k = 0; k < 4; k++) sidx[k] = lane_index(4 * k, 4 * k + 1, 4 * k + 2, 4 * k + 3, 1);
    __m512 acc[ZMM_NT / 2] = {0};   /* tokens 2p / 2p+1 in the low / high half */
    __m256 acc1 = _mm256_setzero_ps();        /* an odd last token */
    for (int64_t i = 0; i < nb; i++) {
        const __m128i sc16 = _mm_loadu_si128((const __m128i *)a[i].scales);
        const __m512i sc_all = _mm512_broadcast_i64x4(_mm256_cvtepi8_epi16(sc16));
        const __m512i scb = _mm512_broadcast_i32x4(sc16);
        /* one chain per token (see q4_k_zmm_nt) */
        __m512i isum[ZMM_NT];
        for (int t = 0; t < nt; t++) isum[t] = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i ql = _mm512_loadu_si512(a[i].ql + 64 * h);
            const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(a[i].qh + 32 * h)));
            const __m512i q0 = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi64(qh, shl_lo), m3));
            const __m512i q1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                               _mm512_and_si512(_mm512_srlv_epi64(qh, shr_hi), m3));
            const __m512i s0 = _mm512_srai_epi16(_mm512_shuffle_epi8(scb, sidx[2 * h]), 8);
            const __m512i s1 = _mm512_srai_epi16(_mm512_shuffle_epi8(scb, sidx[2 * h + 1]), 8);
            for (int t = 0; t < nt; t++) {
                const int8_t *y = K_ACT(t, i)->qs + 128 * h;
                isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(q0, _mm512_loadu_si512(y)), s0);
                isum[t] = _mm512_dpwssd_epi32(isum[t], _mm512_maddubs_epi16(q1, _mm512_loadu_si512(y + 64)), s1);
            }
        }
        /* levels are q + 32: the offset is 32 = 1 << 5 */
        kquant_offset_tail(isum, sc_all, 5, fp16_to_f32(a[i].d), x, xs, i, nt, acc, &acc1);
    }
    store_pairs(acc, acc1, nt, out);
}

/* Q8_0: a pair of blocks per zmm. vpdpbusd wants unsigned x signed bytes, so the
 * weights enter as |w| and their signs move onto the activations (a masked negate:
 * AVX-512 has no vpsignb). Each half carries its own dw * dx. */
ALWAYS_INLINE __m512i load_pair_256(const void *lo, const void *hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)lo)),
                              _mm256_loadu_si256((const __m256i *)hi), 1);
}

ALWAYS_INLINE void q8_0_zmm_nt(int64_t nb, const void *w, const void *x, size_t xs, const int nt, float *out) {
    const block_q8_0 *a = w;
    __m512 acc[ZMM_NT];
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 1 < nb; i += 2) {
        const __m512i v = load_pair_256(a[i].qs, a[i + 1].qs);
        const __mmask64 neg = _mm512_movepi8_mask(v);
        const __m512i va = _mm512_abs_epi8(v);
        const float dw0 = fp16_to_f32(a[i].d), dw1 = fp16_to_f32(a[i + 1].d);
        for (int t = 0; t < nt; t++) {
            const infer_act_q8 *b = Q8_ACT(t, i);
            const __m512i xv = load_pair_256(b[0].qs, b[1].qs);
            const __m512i xsg = _mm512_mask_sub_epi8(xv, neg, _mm512_setzero_si512(), xv);
            const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), va, xsg);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), pair_ps(dw0 * b[0].d, dw1 * b[1].d), acc[t]);
        }
    }
    __m256 tail[ZMM_NT];
    for (int t = 0; t < nt; t++) tail[t] = _mm256_setzero_ps();
    if (i < nb) {   /* odd block count: the last block on 256 bits */
        const __m256i v = _mm256_loadu_si256((const __m256i *)a[i].qs);
        const __m256i va = _mm256_sign_epi8(v, v);
        const float dw = fp16_to_f32(a[i].d);
        for (int t = 0; t < nt; t++) {
            const infer_act_q8 *b = Q8_ACT(t, i);
            const __m256i xsg = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)b->qs), v);
            const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), va, xsg);
            tail[t] = _mm256_mul_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * b->d));
        }
    }
    for (int t = 0; t < nt; t++) {
        const __m256 f = _mm256_add_ps(_mm512_castps512_ps256(acc[t]), _mm512_extractf32x8_ps(acc[t], 1));
        out[t] = hsum_ps(_mm256_add_ps(f, tail[t]));
    }
}

/* MXFP4 / IQ4_NL: the 16-byte nibble runs of blocks i and i+1 each broadcast to two
 * 128-bit lanes, the upper lane of each shifted by 4: lanes hold the levels' indices in
 * element order (low nibbles are weights 0-15, high nibbles 16-31), one in-lane shuffle
 * turns them into signed levels. Then as Q8_0: |level| x the activation with the level's
 * sign, each half scaled by its own dw * dx. The last block of an odd count goes through
 * the same path with a zero second half (its scale 0). */
ALWAYS_INLINE __m512i lut4_pair(const uint8_t *q0, const uint8_t *q1, __m512i lut) {
    const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)q0))),
                                         _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)q1)), 1);
    const __m512i idx = _mm512_and_si512(_mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4)), _mm512_set1_epi8(0x0F));
    return _mm512_shuffle_epi8(lut, idx);
}

#define LUT4_ZMM_BODY(BLOCK, SCALE, LUT)                                                                   \
    const BLOCK *a = w;                                                                                    \
    const __m512i lut = LUT;                                                                               \
    __m512 acc[ZMM_NT];                                                                                    \
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();                                             \
    for (int64_t i = 0; i < nb; i += 2) {                                                                  \
        const int two = i + 1 < nb;                                                                        \
        const __m512i v = lut4_pair(a[i].qs, a[i + two].qs, lut);                                          \
        const __mmask64 neg = _mm512_movepi8_mask(v);                                                      \
        const __m512i va = _mm512_abs_epi8(v);                                                             \
        const float dw0 = SCALE(a[i]), dw1 = two ? SCALE(a[i + 1]) : 0.0f;                                  \
        for (int t = 0; t < nt; t++) {                                                                     \
            const infer_act_q8 *b = Q8_ACT(t, i);                                                          \
            const __m512i xv = load_pair_256(b[0].qs, b[two].qs);                                          \
            const __m512i xsg = _mm512_mask_sub_epi8(xv, neg, _mm512_setzero_si512(), xv);                 \
            const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), va, xsg);                        \
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), pair_ps(dw0 * b[0].d, dw1 * b[two].d), acc[t]); \
        }                                                                                                  \
    }                                                                                                      \
    for (int t = 0; t < nt; t++) out[t] = _mm512_reduce_add_ps(acc[t])

#define MXFP4_SCALE(blk) infer_e8m0_to_f32_half((blk).e)
/* FP4 E2M1 values doubled (the half scale undoes it), in all four lanes */
#define MXFP4_LUT_ZMM _mm512_broadcast_i32x4(_mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12))
ALWAYS_INLINE void mxfp4_zmm_nt(int64_t nb, const void *w, const void *x, size_t xs, const int nt, float *out) {
    LUT4_ZMM_BODY(block_mxfp4, MXFP4_SCALE, MXFP4_LUT_ZMM);
}

#define IQ4_NL_SCALE(blk) fp16_to_f32((blk).d)
#define IQ4_NL_LUT_ZMM _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)infer_iq4nl_values))
ALWAYS_INLINE void iq4_nl_zmm_nt(int64_t nb, const void *w, const void *x, size_t xs, const int nt, float *out) {
    LUT4_ZMM_BODY(block_iq4_nl, IQ4_NL_SCALE, IQ4_NL_LUT_ZMM);
}

_Static_assert(ZMM_NT == 8 && ZMM_NT <= INFER_DOT_WIDE_NT, "DEFINE_TILE_ZMM handles 1..8 tokens");
#define DEFINE_TILE_ZMM(name)                                                                        \
    static void tile_##name(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out) { \
        switch (nt) {                                                                                \
        case 1: name##_nt(nb, w, x, xs, 1, out); break;                                              \
        case 2: name##_nt(nb, w, x, xs, 2, out); break;                                              \
        case 3: name##_nt(nb, w, x, xs, 3, out); break;                                              \
        case 4: name##_nt(nb, w, x, xs, 4, out); break;                                              \
        case 5: name##_nt(nb, w, x, xs, 5, out); break;                                              \
        case 6: name##_nt(nb, w, x, xs, 6, out); break;                                              \
        case 7: name##_nt(nb, w, x, xs, 7, out); break;                                              \
        default: name##_nt(nb, w, x, xs, 8, out); break;                                             \
        }                                                                                            \
    }
DEFINE_TILE_ZMM(q8_0_zmm)
DEFINE_TILE_ZMM(q4_k_zmm)
DEFINE_TILE_ZMM(q5_k_zmm)
DEFINE_TILE_ZMM(q6_k_zmm)

#include "kernels/cpu/vec_dot_avx512_lowbit.inc"
/* MXFP4/IQ4_NL decode (one token) on the 256-bit kernels: the zmm pair decode cost ~15%
 * of gpt-oss-20b tg on this Xeon (bench/RESULTS.md, 2026-12-02). */
DEFINE_TILE_ZMM_FROM2(mxfp4)
DEFINE_TILE_ZMM_FROM2(iq4_nl)

#else
const infer_vec_dot_kernel *infer_vec_dot_avx512(uint32_t type) { return NULL; }
infer_quantize_act_fn infer_quantize_act_avx512(infer_act_format f) { return NULL; }
#endif
