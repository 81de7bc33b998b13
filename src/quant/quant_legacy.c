/* The 32-weight "legacy" formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
 * Quantizers are plain round-to-nearest with one scale (and min) per block, chosen so
 * the largest-magnitude weight maps exactly onto an end of the integer range. */
#include <math.h>
#include <string.h>
#include "quant/blocks.h"
#include "quant/quant.h"
#include "tensor/dtype.h"

#define FP16(x) infer_fp16_to_f32(x)
#define TO_FP16(x) infer_f32_to_fp16(x)

/* Value with the largest magnitude (keeping its sign) and the min/max of a block. */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
    }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx) {
    *mn = x[0]; *mx = x[0];
    for (int j = 1; j < n; j++) {
        if (x[j] < *mn) *mn = x[j];
        if (x[j] > *mx) *mx = x[j];
    }
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Symmetric rounding of one block onto [0, 2*half): the weight of largest magnitude
 * lands exactly on q = 0 (d = that weight / -half). Returns d. */
static float round_sym(const float *x, int half, int q[32]) {
    const float d = signed_absmax(x, 32) / (float)-half;
    const float id = d != 0.0f ? 1.0f / d : 0.0f, offset = (float)half + 0.5f;
    for (int j = 0; j < 32; j++) q[j] = clampi((int)floorf(x[j] * id + offset), 0, 2 * half - 1);
    return d;
}

/* Rounding of one block onto [0, top] above its minimum: the min lands on 0, the max
 * on top. Returns d; *mn is the offset m. */
static float round_min(const float *x, int top, float *mn, int q[32]) {
    float mx;
    min_max(x, 32, mn, &mx);
    const float d = (mx - *mn) / (float)top;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) q[j] = clampi((int)floorf((x[j] - *mn) * id + 0.5f), 0, top);
    return d;
}

/* The nibble layout of Q4_0, Q4_1, Q5_0 and Q5_1: weight j < 16 is the low nibble of
 * qs[j], weight j + 16 its high nibble; in the 5-bit formats bit j of the little-endian
 * uint32 qh is the fifth bit of weight j. qh is NULL for the 4-bit formats. */
static void unpack32(const uint8_t qs[16], const uint8_t *qh, int q[32]) {
    const uint32_t h = qh ? (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24 : 0;
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0x0F) | (int)((h >> j) & 1) << 4;
        q[j + 16] = (qs[j] >> 4) | (int)((h >> (j + 16)) & 1) << 4;
    }
}
static void pack32(const int q[32], uint8_t qs[16], uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0F) | ((q[j + 16] & 0x0F) << 4));
        h |= (uint32_t)(q[j] >> 4) << j | (uint32_t)(q[j + 16] >> 4) << (j + 16);
    }
    if (qh) { qh[0] = (uint8_t)h; qh[1] = (uint8_t)(h >> 8); qh[2] = (uint8_t)(h >> 16); qh[3] = (uint8_t)(h >> 24); }
}

/* ---- Q4_0 */
void infer_dequant_q4_0(const void *src, float *dst, int64_t n) {
    const block_q4_0 *b = src;
    int q[QK4_0];
    for (int64_t i = 0; i < n / QK4_0; i++, b++, dst += QK4_0) {
        const float d = FP16(b->d);
        unpack32(b->qs, NULL, q);
        for (int j = 0; j < QK4_0; j++) dst[j] = (float)(q[j] - 8) * d;
    }
}

void infer_quant_q4_0(const float *src, void *dst, int64_t n) {
    block_q4_0 *b = dst;
    int q[QK4_0];
    for (int64_t i = 0; i < n / QK4_0; i++, b++, src += QK4_0) {
        b->d = TO_FP16(round_sym(src, 8, q));
        pack32(q, b->qs, NULL);
    }
}

/* ---- Q4_1 */
void infer_dequant_q4_1(const void *src, float *dst, int64_t n) {
    const block_q4_1 *b = src;
    int q[QK4_1];
    for (int64_t i = 0; i < n / QK4_1; i++, b++, dst += QK4_1) {
        const float d = FP16(b->d), m = FP16(b->m);
        unpack32(b->qs, NULL, q);
        for (int j = 0; j < QK4_1; j++) dst[j] = (float)q[j] * d + m;
    }
}

void infer_quant_q4_1(const float *src, void *dst, int64_t n) {
    block_q4_1 *b = dst;
    int q[QK4_1];
    for (int64_t i = 0; i < n / QK4_1; i++, b++, src += QK4_1) {
        float mn;
        b->d = TO_FP16(round_min(src, 15, &mn, q));
        b->m = TO_FP16(mn);
        pack32(q, b->qs, NULL);
    }
}

/* ---- Q5_0 */
void infer_dequant_q5_0(const void *src, float *dst, int64_t n) {
    const block_q5_0 *b = src;
    int q[QK5_0];
    for (int64_t i = 0; i < n / QK5_0; i++, b++, dst += QK5_0) {
        const float d = FP16(b->d);
        unpack32(b->qs, b->qh, q);
        for (int j = 0; j < QK5_0; j++) dst[j] = (float)(q[j] - 16) * d;
    }
}

void infer_quant_q5_0(const float *src, void *dst, int64_t n) {
    block_q5_0 *b = dst;
    int q[QK5_0];
    for (int64_t i = 0; i < n / QK5_0; i++, b++, src += QK5_0) {
        b->d = TO_FP16(round_sym(src, 16, q));
        pack32(q, b->qs, b->qh);
    }
}

/* ---- Q5_1 */
void infer_dequant_q5_1(const void *src, float *dst, int64_t n) {
    const block_q5_1 *b = src;
    int q[QK5_1];
    for (int64_t i = 0; i < n / QK5_1; i++, b++, dst += QK5_1) {
        const float d = FP16(b->d), m = FP16(b->m);
        unpack32(b->qs, b->qh, q);
        for (int j = 0; j < QK5_1; j++) dst[j] = (float)q[j] * d + m;
    }
}

void infer_quant_q5_1(const float *src, void *dst, int64_t n) {
    block_q5_1 *b = dst;
    int q[QK5_1];
    for (int64_t i = 0; i < n / QK5_1; i++, b++, src += QK5_1) {
        float mn;
        b->d = TO_FP16(round_min(src, 31, &mn, q));
        b->m = TO_FP16(mn);
        pack32(q, b->qs, b->qh);
    }
}

/* ---- Q8_0 / Q8_1 */
void infer_dequant_q8_0(const void *src, float *dst, int64_t n) {
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++, b++, dst += QK8_0) {
        const float d = FP16(b->d);
        for (int j = 0; j < QK8_0; j++) dst[j] = (float)b->qs[j] * d;
    }
}

static float absmax(const float *x, int n) {
    float a = 0.0f;
    for (int j = 0; j < n; j++) a = fmaxf(a, fabsf(x[j]));
    return a;
}

void infer_quant_q8_0(const float *src, void *dst, int64_t n) {
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, b++, src += QK8_0) {
        const float d = absmax(src, QK8_0) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = TO_FP16(d);
        for (int j = 0; j < QK8_0; j++) b->qs[j] = (int8_t)clampi((int)roundf(src[j] * id), -127, 127);
    }
}

void infer_dequant_q8_1(const void *src, float *dst, int64_t n) {
    const block_q8_1 *b = src;
    for (int64_t i = 0; i < n / QK8_1; i++, b++, dst += QK8_1) {
        const float d = FP16(b->d);
        for (int j = 0; j < QK8_1; j++) dst[j] = (float)b->qs[j] * d;
    }
}

void infer_quant_q8_1(const float *src, void *dst, int64_t n) {
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK8_1; i++, b++, src += QK8_1) {
        const float d = absmax(src, QK8_1) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            b->qs[j] = (int8_t)clampi((int)roundf(src[j] * id), -127, 127);
            sum += b->qs[j];
        }
        b->d = TO_FP16(d);
        b->s = TO_FP16((float)sum * d);
    }
}
