/* Per-format weight decoders for the AMX matmul (see tile_decode.h). Mostly plain C (the
 * file is compiled with the AMX/AVX-512 flags, so the compiler may vectorize the loops);
 * Q4_K, Q5_K and Q6_K have AVX-512 bodies. The values are those of vec_dot_scalar.c,
 * format by format. */
#include "kernels/cpu/tile_decode.h"

#include <string.h>
#include "quant/blocks.h"
#include "tensor/dtype.h"
#ifdef __AVX512BW__
#include <immintrin.h>
#endif

/* ---------------------------------------------------------------- K-quants */

/* Q4_K / Q5_K: 4 groups of 64 weights, low nibbles then high nibbles of qs[32g..32g+32),
 * each half a sub-block of 32 with a 6-bit scale and min; qh (Q5_K) adds bit 2g / 2g+1.
 * These two and Q6_K carry most prompt matmuls (Q4_K_M files), so they have an AVX-512
 * version computing the same integers; the plain loops stay for other compilers. */
static void decode_q45_k(uint16_t d, uint16_t dmin, const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                         amx_kblock *o) {
    o->d = infer_fp16_to_f32(d);
    o->dmin = infer_fp16_to_f32(dmin);
#ifdef __AVX512BW__
    const __m256i m4 = _mm256_set1_epi8(0xF), one = _mm256_set1_epi8(1);
    const __m256i h = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
#endif
    for (int g = 0; g < 4; g++) {
        uint8_t sc1, m1, sc2, m2;
        infer_q4k_scale_min(2 * g, scales, &sc1, &m1);
        infer_q4k_scale_min(2 * g + 1, scales, &sc2, &m2);
        const uint8_t *q = qs + 32 * g;
        int16_t *w = o->w + 64 * g;
#ifdef __AVX512BW__
        const __m256i v = _mm256_loadu_si256((const __m256i *)q);
        /* bit 2g / 2g+1 of each qh byte: a 16-bit shift, then a byte mask keeps only it */
        const __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(h, 2 * g), one);
        const __m256i h2 = _mm256_and_si256(_mm256_srli_epi16(h, 2 * g + 1), one);
        const __m256i lo = _mm256_or_si256(_mm256_and_si256(v, m4), _mm256_slli_epi16(h1, 4));
        const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), _mm256_slli_epi16(h2, 4));
        _mm512_storeu_si512(w, _mm512_mullo_epi16(_mm512_cvtepu8_epi16(lo), _mm512_set1_epi16(sc1)));
        _mm512_storeu_si512(w + 32, _mm512_mullo_epi16(_mm512_cvtepu8_epi16(hi), _mm512_set1_epi16(sc2)));
#else
        for (int l = 0; l < 32; l++) {
            const int h1 = qh ? (qh[l] >> (2 * g)) & 1 : 0, h2 = qh ? (qh[l] >> (2 * g + 1)) & 1 : 0;
            w[l] = (int16_t)(sc1 * ((q[l] & 0xF) | h1 << 4));
            w[l + 32] = (int16_t)(sc2 * ((q[l] >> 4) | h2 << 4));
        }
#endif
        o->mn16[4 * g] = o->mn16[4 * g + 1] = (int8_t)m1;
        o->mn16[4 * g + 2] = o->mn16[4 * g + 3] = (int8_t)m2;
    }
}
static void decode_q4_k(const void *blk, amx_kblock *o) {
    const block_q4_k *b = blk;
    decode_q45_k(b->d, b->dmin, b->scales, b->qs, NULL, o);
}
static void decode_q5_k(const void *blk, amx_kblock *o) {
    const block_q5_k *b = blk;
    decode_q45_k(b->d, b->dmin, b->scales, b->qs, b->qh, o);
}

#ifdef __AVX512BW__
/* 32 signed levels times scale a (first 16) and b (last 16), as int16. */
static inline __m512i scaled16(__m256i q, int a, int b) {
    const __m512i sc = _mm512_inserti64x4(_mm512_set1_epi16((short)a), _mm256_set1_epi16((short)b), 1);
    return _mm512_mullo_epi16(_mm512_cvtepi8_epi16(q), sc);
}
#endif

/* Q6_K: two halves of 128; signed 8-bit scale per 16 weights, levels minus 32. */
static void decode_q6_k(const void *blk, amx_kblock *o) {
    const block_q6_k *b = blk;
    o->d = infer_fp16_to_f32(b->d);
    o->dmin = 0;
    memset(o->mn16, 0, sizeof o->mn16);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        const int8_t *sc = b->scales + 8 * h;
        int16_t *w = o->w + 128 * h;
#ifdef __AVX512BW__
        const __m256i m4 = _mm256_set1_epi8(0xF), m2 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        const __m256i hv = _mm256_loadu_si256((const __m256i *)qh);
#define Q6(lowbits, shift) \
    _mm256_sub_epi8(_mm256_or_si256((lowbits), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, (shift)), m2), 4)), off)
        _mm512_storeu_si512(w, scaled16(Q6(_mm256_and_si256(l0, m4), 0), sc[0], sc[1]));
        _mm512_storeu_si512(w + 32, scaled16(Q6(_mm256_and_si256(l1, m4), 2), sc[2], sc[3]));
        _mm512_storeu_si512(w + 64, scaled16(Q6(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), 4), sc[4], sc[5]));
        _mm512_storeu_si512(w + 96, scaled16(Q6(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), 6), sc[6], sc[7]));
#undef Q6
#else
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            w[l] = (int16_t)(sc[is] * (((ql[l] & 0xF) | ((qh[l] >> 0 & 3) << 4)) - 32));
            w[l + 32] = (int16_t)(sc[is + 2] * (((ql[l + 32] & 0xF) | ((qh[l] >> 2 & 3) << 4)) - 32));
            w[l + 64] = (int16_t)(sc[is + 4] * (((ql[l] >> 4) | ((qh[l] >> 4 & 3) << 4)) - 32));
            w[l + 96] = (int16_t)(sc[is + 6] * (((ql[l + 32] >> 4) | ((qh[l] >> 6 & 3) << 4)) - 32));
        }
#endif
    }
}

/* Q2_K: 2-bit levels; per 16 weights a 4-bit scale (low nibble) and min (high nibble). */
static void decode_q2_k(const void *blk, amx_kblock *o) {
    const block_q2_k *b = blk;
    o->d = infer_fp16_to_f32(b->d);
    o->dmin = infer_fp16_to_f32(b->dmin);
    for (int j = 0; j < 16; j++) {
        const int sc = b->scales[j] & 0xF;
        o->mn16[j] = (int8_t)(b->scales[j] >> 4);
        for (int k = 0; k < 16; k++) o->w[16 * j + k] = (int16_t)(sc * infer_k_low2(b->qs, 16 * j + k));
    }
}

/* Q3_K: 3-bit levels minus 4; per 16 weights a 6-bit scale minus 32. */
static void decode_q3_k(const void *blk, amx_kblock *o) {
    const block_q3_k *b = blk;
    o->d = infer_fp16_to_f32(b->d);
    o->dmin = 0;
    memset(o->mn16, 0, sizeof o->mn16);
    for (int j = 0; j < 16; j++) {
        const int sc = infer_q3k_scale(j, b->scales);
        for (int k = 0; k < 16; k++) {
            const int e = 16 * j + k;
            const int q = infer_k_low2(b->qs, e) | infer_q3k_high(b->hmask, e) << 2;
            o->w[e] = (int16_t)(sc * (q - 4));
        }
    }
}

/* IQ4_XS: eight IQ4_NL groups of 32 (low nibbles, then high) with 6-bit scales minus 32. */
static void decode_iq4_xs(const void *blk, amx_kblock *o) {
    const block_iq4_xs *b = blk;
    o->d = infer_fp16_to_f32(b->d);
    o->dmin = 0;
    memset(o->mn16, 0, sizeof o->mn16);
    for (int j = 0; j < 8; j++) {
        const int sc = infer_iq4xs_scale(j, b->scales_h, b->scales_l);
        const uint8_t *q = b->qs + 16 * j;
        for (int l = 0; l < 16; l++) {
            o->w[32 * j + l] = (int16_t)(sc * infer_iq4nl_values[q[l] & 0xF]);
            o->w[32 * j + l + 16] = (int16_t)(sc * infer_iq4nl_values[q[l] >> 4]);
        }
    }
}

/* ---------------------------------------------------------------- 32-weight blocks */

/* Weight j is the low (j < 16) or high nibble of qs[j % 16], bit j of qh its fifth bit. */
static void nibbles(const uint8_t qs[16], uint32_t qh, int bias, int8_t w[32]) {
    for (int j = 0; j < 16; j++) {
        w[j] = (int8_t)(((qs[j] & 0xF) | (int)((qh >> j) & 1) << 4) - bias);
        w[j + 16] = (int8_t)(((qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - bias);
    }
}
static uint32_t qh32(const uint8_t q[4]) {
    return (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
}
static void decode_q4_0(const void *blk, amx_block32 *o) {
    const block_q4_0 *b = blk;
    nibbles(b->qs, 0, 8, o->w);
    o->d = infer_fp16_to_f32(b->d);
    o->m = 0;
}
static void decode_q4_1(const void *blk, amx_block32 *o) {
    const block_q4_1 *b = blk;
    nibbles(b->qs, 0, 0, o->w);
    o->d = infer_fp16_to_f32(b->d);
    o->m = infer_fp16_to_f32(b->m);
}
static void decode_q5_0(const void *blk, amx_block32 *o) {
    const block_q5_0 *b = blk;
    nibbles(b->qs, qh32(b->qh), 16, o->w);
    o->d = infer_fp16_to_f32(b->d);
    o->m = 0;
}
static void decode_q5_1(const void *blk, amx_block32 *o) {
    const block_q5_1 *b = blk;
    nibbles(b->qs, qh32(b->qh), 0, o->w);
    o->d = infer_fp16_to_f32(b->d);
    o->m = infer_fp16_to_f32(b->m);
}
static void decode_q8_0(const void *blk, amx_block32 *o) {
    const block_q8_0 *b = blk;
    memcpy(o->w, b->qs, 32);
    o->d = infer_fp16_to_f32(b->d);
    o->m = 0;
}
/* Nibbles indexing a table of int8 levels (low nibbles first, then high). */
static void lookup(const uint8_t qs[16], const int8_t table[16], int8_t w[32]) {
    for (int j = 0; j < 16; j++) {
        w[j] = table[qs[j] & 0xF];
        w[j + 16] = table[qs[j] >> 4];
    }
}
static void decode_iq4_nl(const void *blk, amx_block32 *o) {
    const block_iq4_nl *b = blk;
    lookup(b->qs, infer_iq4nl_values, o->w);
    o->d = infer_fp16_to_f32(b->d);
    o->m = 0;
}
/* MXFP4: doubled FP4 levels (int8) with half the E8M0 scale, as the reference. */
static void decode_mxfp4(const void *blk, amx_block32 *o) {
    const block_mxfp4 *b = blk;
    lookup(b->qs, infer_mxfp4_values, o->w);
    o->d = infer_e8m0_to_f32_half(b->e);
    o->m = 0;
}

/* ---------------------------------------------------------------- table */

#define KQ(T, min, wide, min32, fn) [INFER_TYPE_##T] = {1, min, wide, min32, sizeof(block_##fn), decode_##fn, NULL}
#define B32(T, min, fn) [INFER_TYPE_##T] = {0, min, 0, 0, sizeof(block_##fn), NULL, decode_##fn}
static const amx_weight_format formats[INFER_TYPE_COUNT] = {
    /* Q2_K's sc * q is at most 15 * 3: it stays in int8; its mins change every 16 columns */
    KQ(Q2_K, 1, 0, 0, q2_k), KQ(Q3_K, 0, 1, 0, q3_k), KQ(Q4_K, 1, 1, 1, q4_k), KQ(Q5_K, 1, 1, 1, q5_k),
    KQ(Q6_K, 0, 1, 0, q6_k), KQ(IQ4_XS, 0, 1, 0, iq4_xs),
    B32(Q4_0, 0, q4_0), B32(Q4_1, 1, q4_1), B32(Q5_0, 0, q5_0), B32(Q5_1, 1, q5_1), B32(Q8_0, 0, q8_0),
    B32(IQ4_NL, 0, iq4_nl), B32(MXFP4, 0, mxfp4),
};

const amx_weight_format *infer_amx_weight_format(uint32_t wtype) {
    if (wtype >= INFER_TYPE_COUNT || !formats[wtype].block_bytes) return NULL;
    return &formats[wtype];
}
