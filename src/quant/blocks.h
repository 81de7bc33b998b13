/* Block layouts of the quantized GGUF formats (byte-exact with the file format).
 * Every struct is packed by construction (only uint8/uint16/int8/float members in an
 * order with no padding) and its size is checked against the GGUF block size below.
 * fp16 fields are stored as raw uint16_t bits; use infer_fp16_to_f32(). */
#ifndef INFER_QUANT_BLOCKS_H
#define INFER_QUANT_BLOCKS_H

#include <assert.h>
#include <stdint.h>
#include <string.h>

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK_MXFP4 32
#define QK4_NL 32
#define QK_K 256
#define K_SCALE_SIZE 12

/* Q4_0: 32 weights = d * (q - 8), q in [0,15]. qs[j] holds weight j (low nibble) and
 * weight j+16 (high nibble). */
typedef struct { uint16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
/* Q4_1: weight = d * q + m, q in [0,15]; same nibble order as Q4_0. */
typedef struct { uint16_t d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
/* Q5_0: weight = d * (q - 16), q in [0,31]; low 4 bits as Q4_0, bit 4 of weight j is
 * bit j of the little-endian 32-bit qh. */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
/* Q5_1: weight = d * q + m, q in [0,31]; bit layout as Q5_0. */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
/* Q8_0: weight = d * q, q in [-127,127]. */
typedef struct { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;
/* Q8_1: as Q8_0 plus s = d * sum(q) (used as the activation partner of Q4_1/Q5_1). */
typedef struct { uint16_t d, s; int8_t qs[QK8_1]; } block_q8_1;

/* Q4_K: 256 weights in 8 sub-blocks of 32; weight = d*sc[j]*q - dmin*m[j], q in [0,15].
 * scales[12] packs eight 6-bit (sc, m) pairs (see infer_q4k_scale_min). qs: per 64
 * weights, 32 bytes; low nibbles are the first 32, high nibbles the next 32. */
typedef struct { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_k;
/* Q5_K: as Q4_K with a fifth bit: bit (2*i) / (2*i+1) of qh[l] is the high bit of weight
 * l of the first / second 32 of the i-th group of 64. */
typedef struct { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_k;
/* Q6_K: 16 sub-blocks of 16; weight = d * scales[j] * (q - 32), q in [0,63]; low 4 bits
 * in ql, high 2 bits in qh (layout in q6_k dequantizer). */
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; } block_q6_k;
/* Q8_K: activation format for K-quant dot products; bsums[j] = sum of qs[16j..16j+15]. */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_k;
/* Q2_K: 256 weights in 16 sub-blocks of 16; weight = d*(sc&15)*q - dmin*(sc>>4), q in [0,3],
 * one scales[] byte per sub-block (scale low nibble, min high nibble). qs: per 128
 * weights, 32 bytes; bits 2s..2s+1 of qs[l] hold weight 32s + l of those 128. */
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d, dmin; } block_q2_k;
/* Q3_K: 16 sub-blocks of 16; weight = d * (sc - 32) * (q - 4), q in [0,7]. The low 2 bits
 * of q are packed as in Q2_K; the third bit of weight 32s + l of the h-th 128 is bit 4h+s
 * of hmask[l]. The 16 6-bit scales: low nibbles in scales[0..7] (j < 8 low nibble of
 * byte j, else high nibble of byte j-8), high 2 bits at bit 2*(j/4) of scales[8 + j%4]. */
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[K_SCALE_SIZE]; uint16_t d; } block_q3_k;
/* IQ4_NL: 32 weights = d * infer_iq4nl_values[q], q in [0,15]; nibble order as Q4_0. */
typedef struct { uint16_t d; uint8_t qs[QK4_NL / 2]; } block_iq4_nl;
/* IQ4_XS: 256 weights in 8 sub-blocks of 32, each an IQ4_NL block with a 6-bit scale:
 * weight = d * (ls - 32) * infer_iq4nl_values[q]. ls of sub-block j: low 4 bits in nibble
 * j%2 of scales_l[j/2], high 2 bits at bit 2j of scales_h. qs: 16 bytes per sub-block. */
typedef struct { uint16_t d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; } block_iq4_xs;
/* MXFP4: 32 FP4 (E2M1) weights sharing an E8M0 exponent e; weight = fp4(q) * 2^(e-127).
 * Nibble order as Q4_0. */
typedef struct { uint8_t e; uint8_t qs[QK_MXFP4 / 2]; } block_mxfp4;

static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");
static_assert(sizeof(block_q4_1) == 20, "block_q4_1 size");
static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");
static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");
static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");
static_assert(sizeof(block_q8_1) == 36, "block_q8_1 size");
static_assert(sizeof(block_q4_k) == 144, "block_q4_k size");
static_assert(sizeof(block_q5_k) == 176, "block_q5_k size");
static_assert(sizeof(block_q6_k) == 210, "block_q6_k size");
static_assert(sizeof(block_q8_k) == 292, "block_q8_k size");
static_assert(sizeof(block_mxfp4) == 17, "block_mxfp4 size");
static_assert(sizeof(block_q2_k) == 84, "block_q2_k size");
static_assert(sizeof(block_q3_k) == 110, "block_q3_k size");
static_assert(sizeof(block_iq4_nl) == 18, "block_iq4_nl size");
static_assert(sizeof(block_iq4_xs) == 136, "block_iq4_xs size");

/* FP4 E2M1 values times two (so they are integers); the E8M0 scale is halved to match. */
static const int8_t infer_mxfp4_values[16] = { 0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12 };

/* The 16 non-uniform levels of IQ4_NL / IQ4_XS (GGUF's kvalues_iq4nl), denser near 0. */
static const int8_t infer_iq4nl_values[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

/* 2^(e-128), i.e. half the E8M0 scale, to go with the doubled FP4 values. */
static inline float infer_e8m0_to_f32_half(uint8_t e) {
    union { uint32_t u; float f; } v;
    v.u = e < 2 ? (uint32_t)0x00200000u << e : (uint32_t)(e - 1) << 23;
    return v.f;
}

/* Unpacks the j-th (scale, min) 6-bit pair of a Q4_K/Q5_K scales[12] array:
 * bytes 0-3 hold sc0-3 (low 6 bits), bytes 4-7 m0-3, bytes 8-11 the low nibbles of
 * sc4-7 / m4-7, whose top 2 bits sit in the spare top bits of bytes 0-7. */
static inline void infer_q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* All eight pairs at once, four 32-bit lanes doing the work of infer_q4k_scale_min for
 * the SIMD kernels: out bytes 0-7 = sc0-7, bytes 8-15 = m0-7. */
static inline void infer_q4k_scales_unpack(const uint8_t q[12], uint8_t out[16]) {
    uint32_t s[3], u[4];
    memcpy(s, q, 12);
    u[0] = s[0] & 0x3F3F3F3Fu;
    u[1] = (s[2] & 0x0F0F0F0Fu) | (((s[0] >> 6) & 0x03030303u) << 4);
    u[2] = s[1] & 0x3F3F3F3Fu;
    u[3] = ((s[2] >> 4) & 0x0F0F0F0Fu) | (((s[1] >> 6) & 0x03030303u) << 4);
    memcpy(out, u, 16);
}

/* Q2_K / Q3_K: the 2-bit field of weight e (0..255) of a block's qs[64]. */
static inline int infer_k_low2(const uint8_t *qs, int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3; }
/* Q3_K: the third bit of weight e's level, from hmask[32]. */
static inline int infer_q3k_high(const uint8_t *hmask, int e) { return (hmask[e % 32] >> (e / 32)) & 1; }

/* The j-th (0..15) 6-bit scale of a Q3_K scales[12] array, minus 32. */
static inline int infer_q3k_scale(int j, const uint8_t *q) {
    const int lo = j < 8 ? q[j] & 0xF : q[j - 8] >> 4;
    const int hi = (q[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | hi << 4) - 32;
}

/* The j-th (0..7) 6-bit sub-block scale of an IQ4_XS block, minus 32. */
static inline int infer_iq4xs_scale(int j, uint16_t scales_h, const uint8_t *scales_l) {
    return (((scales_l[j / 2] >> (4 * (j % 2))) & 0xF) | (((scales_h >> (2 * j)) & 3) << 4)) - 32;
}

#endif
