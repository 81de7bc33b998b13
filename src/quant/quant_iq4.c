/* The non-linear 4-bit formats IQ4_NL (blocks of 32, one fp16 scale) and IQ4_XS
 * (256-weight super-blocks of eight such groups with 6-bit scales): every weight is a
 * scale times one of 16 fixed levels (infer_iq4nl_values, layouts in quant/blocks.h).
 * The reference quantizers search a signed scale per group of 32 (the levels are not
 * symmetric, so the sign of the scale matters), refit it by least squares, and assign
 * each weight the nearest level under the scale as stored. Relative RMS error on gaussian
 * weights (test_quant's data): IQ4_NL 0.073, IQ4_XS 0.074; the reference engine's
 * quantizers without an importance matrix give 0.0755 and 0.0761 on the same data. */
#include <math.h>
#include <string.h>
#include "quant/blocks.h"
#include "quant/quant.h"
#include "quant/quant_fit.h"
#include "tensor/dtype.h"

#define FP16(x) infer_fp16_to_f32(x)
#define TO_FP16(x) infer_f32_to_fp16(x)

/* ---------------------------------------------------------------- dequantizers */

/* 32 weights: nibble j of qs (low nibbles first, then high) times dl. */
static void dequant_iq4_group(float dl, const uint8_t qs[16], float *dst) {
    for (int j = 0; j < 16; j++) {
        dst[j] = dl * (float)infer_iq4nl_values[qs[j] & 0xF];
        dst[j + 16] = dl * (float)infer_iq4nl_values[qs[j] >> 4];
    }
}

void infer_dequant_iq4_nl(const void *src, float *dst, int64_t n) {
    const block_iq4_nl *b = src;
    for (int64_t i = 0; i < n / QK4_NL; i++, b++, dst += QK4_NL) dequant_iq4_group(FP16(b->d), b->qs, dst);
}

void infer_dequant_iq4_xs(const void *src, float *dst, int64_t n) {
    const block_iq4_xs *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++) {
        const float d = FP16(b->d);
        for (int j = 0; j < QK_K / 32; j++, dst += 32)
            dequant_iq4_group(d * (float)infer_iq4xs_scale(j, b->scales_h, b->scales_l), b->qs + 16 * j, dst);
    }
}

/* ---------------------------------------------------------------- quantizers */

/* Index of the level nearest to v (levels ascending; bisection, ties to the lower). */
static int nearest_level(float v) {
    const int8_t *lv = infer_iq4nl_values;
    if (v <= lv[0]) return 0;
    if (v >= lv[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (v < lv[mid]) hi = mid;
        else lo = mid;
    }
    return v - lv[lo] <= lv[hi] - v ? lo : hi;
}

/* Best signed scale s for x[0..32) ~= s * level: the value of largest magnitude is tried
 * near the lowest level (-127) and near the highest (113), a few grid steps around each,
 * every candidate refitted by least squares; the smallest squared error wins. */
static float fit_iq4_scale(const float *x) {
    float amax = 0, max = 0;
    for (int i = 0; i < 32; i++)
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
    if (amax == 0) return 0;
    float best_s = max / (float)infer_iq4nl_values[0];
    double best_gain = -1;
    for (int end = 0; end < 2; end++) {
        const float target = end ? (float)infer_iq4nl_values[15] : (float)infer_iq4nl_values[0];
        for (int step = -7; step <= 7; step++) {
            const float iscale = (target + (float)step) / max;
            double slx = 0, sll = 0;
            for (int i = 0; i < 32; i++) {
                const double l = infer_iq4nl_values[nearest_level(iscale * x[i])];
                slx += l * x[i];
                sll += l * l;
            }
            /* squared error = sum x^2 - slx^2 / sll at the least-squares scale */
            if (sll > 0 && slx * slx / sll > best_gain) {
                best_gain = slx * slx / sll;
                best_s = (float)(slx / sll);
            }
        }
    }
    return best_s;
}

/* Levels of 32 weights under the stored scale s, packed as nibbles (Q4_0 order). */
static void pack_iq4_group(const float *x, float s, uint8_t qs[16]) {
    uint8_t L[32];
    for (int i = 0; i < 32; i++) L[i] = (uint8_t)(s != 0 ? nearest_level(x[i] / s) : nearest_level(0));
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
}

void infer_quant_iq4_nl(const float *src, void *dst, int64_t n) {
    block_iq4_nl *b = dst;
    for (int64_t i = 0; i < n / QK4_NL; i++, b++, src += QK4_NL) {
        b->d = TO_FP16(fit_iq4_scale(src));
        pack_iq4_group(src, FP16(b->d), b->qs);
    }
}

void infer_quant_iq4_xs(const float *src, void *dst, int64_t n) {
    block_iq4_xs *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        float sc[8], max_sc = 0;
        for (int j = 0; j < 8; j++) {
            sc[j] = fit_iq4_scale(src + 32 * j);
            if (fabsf(sc[j]) > fabsf(max_sc)) max_sc = sc[j];
        }
        /* the largest group scale maps to -32, the wider side of the 6-bit range */
        const float d = max_sc / -32.0f;
        memset(b, 0, sizeof *b);
        b->d = TO_FP16(d);
        const float ds = FP16(b->d);
        for (int j = 0; j < 8; j++) {
            const int ls = d != 0 ? infer_clampi(infer_nearest(sc[j] / d), -32, 31) + 32 : 32;
            b->scales_l[j / 2] |= (uint8_t)((ls & 0xF) << (4 * (j % 2)));
            b->scales_h |= (uint16_t)((ls >> 4) << (2 * j));
            pack_iq4_group(src + 32 * j, ds * (float)(ls - 32), b->qs + 16 * j);
        }
    }
}
