/* Packing integer levels into the K-quant block layouts (blocks.h), shared by the
 * reference quantizers and the file-making searches. L holds one level per weight of a
 * 256-weight super-block, in weight order. */
#ifndef INFER_QUANT_KPACK_H
#define INFER_QUANT_KPACK_H

#include <stdint.h>
#include <string.h>

/* Q4_K: per 64 weights, 32 bytes; low nibble weight l, high nibble weight 32 + l. */
static inline void infer_kpack_q4k(const uint8_t L[256], uint8_t qs[128]) {
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < 32; l++) qs[32 * g + l] = (uint8_t)(L[64 * g + l] | (L[64 * g + 32 + l] << 4));
}

/* Q5_K: the Q4_K nibbles plus bit 2g / 2g+1 of qh[l] for the fifth bits of group g. */
static inline void infer_kpack_q5k(const uint8_t L[256], uint8_t qs[128], uint8_t qh[32]) {
    memset(qh, 0, 32);
    for (int g = 0; g < 4; g++)
        for (int l = 0; l < 32; l++) {
            const int lo = L[64 * g + l], hi = L[64 * g + 32 + l];
            qs[32 * g + l] = (uint8_t)((lo & 0x0F) | ((hi & 0x0F) << 4));
            qh[l] |= (uint8_t)(((lo >> 4) << (2 * g)) | ((hi >> 4) << (2 * g + 1)));
        }
}

/* Q6_K: per 128 weights, 64 bytes of low nibbles (weights l, 32+l in ql[l]; 64+l, 96+l
 * in ql[32+l]) and 32 bytes of 2-bit high parts (four weights per qh byte). */
static inline void infer_kpack_q6k(const uint8_t L[256], uint8_t ql[128], uint8_t qh[64]) {
    for (int half = 0; half < 2; half++) {
        const uint8_t *Lh = L + 128 * half;
        uint8_t *lo = ql + 64 * half, *hi = qh + 32 * half;
        for (int l = 0; l < 32; l++) {
            const int q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
            lo[l] = (uint8_t)((q1 & 0x0F) | ((q3 & 0x0F) << 4));
            lo[l + 32] = (uint8_t)((q2 & 0x0F) | ((q4 & 0x0F) << 4));
            hi[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
        }
    }
}

#endif
