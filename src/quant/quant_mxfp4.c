/* MXFP4 (OCP microscaling): 32 E2M1 values sharing one E8M0 power-of-two scale. */
#include <math.h>
#include "quant/blocks.h"
#include "quant/quant.h"

void infer_dequant_mxfp4(const void *src, float *dst, int64_t n) {
    const block_mxfp4 *b = src;
    for (int64_t i = 0; i < n / QK_MXFP4; i++, b++, dst += QK_MXFP4) {
        const float d = infer_e8m0_to_f32_half(b->e);
        for (int j = 0; j < QK_MXFP4 / 2; j++) {
            dst[j] = (float)infer_mxfp4_values[b->qs[j] & 0x0F] * d;
            dst[j + QK_MXFP4 / 2] = (float)infer_mxfp4_values[b->qs[j] >> 4] * d;
        }
    }
}

/* Nearest FP4 code for v (in units of the halved scale, so codes are 0..12). */
static uint8_t nearest_fp4(float v) {
    int best = 0;
    float best_err = INFINITY;
    for (int k = 0; k < 16; k++) {
        const float e = fabsf((float)infer_mxfp4_values[k] - v);
        if (e < best_err) { best_err = e; best = k; }
    }
    return (uint8_t)best;
}

void infer_quant_mxfp4(const float *src, void *dst, int64_t n) {
    block_mxfp4 *b = dst;
    for (int64_t i = 0; i < n / QK_MXFP4; i++, b++, src += QK_MXFP4) {
        float amax = 0;
        for (int j = 0; j < QK_MXFP4; j++) amax = fmaxf(amax, fabsf(src[j]));
        /* the largest magnitude lands in [4, 8) half-units, i.e. within the FP4 range
         * (max 6 = 12 half-units), so nothing saturates badly */
        int e = amax > 0 ? (int)floorf(log2f(amax)) - 2 + 127 : 0;
        e = e < 0 ? 0 : e > 254 ? 254 : e;
        b->e = (uint8_t)e;
        const float d = infer_e8m0_to_f32_half(b->e);
        const float id = d > 0 ? 1.0f / d : 0.0f;
        for (int j = 0; j < QK_MXFP4 / 2; j++)
            b->qs[j] = (uint8_t)(nearest_fp4(src[j] * id) | (nearest_fp4(src[j + QK_MXFP4 / 2] * id) << 4));
    }
}
