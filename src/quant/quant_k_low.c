/* The 2- and 3-bit K-quants, Q2_K and Q3_K: 256-weight super-blocks of 16 sub-blocks of
 * 16 weights (layouts in quant/blocks.h). The reference quantizers fit each sub-block
 * (Q2_K: scale and min, Q3_K: a signed scale), quantize those sub-block parameters
 * against one fp16 super-block scale, then re-round every weight against the parameters
 * as stored, so the file decodes to the nearest level it can express. Relative RMS error
 * on gaussian weights (test_quant's data): Q2_K 0.269, Q3_K 0.142; the reference engine's
 * quantizers without an importance matrix give 0.295 and 0.150 on the same data (they
 * weight the error by x^2, we do not). */
#include <math.h>
#include <string.h>
#include "quant/blocks.h"
#include "quant/quant.h"
#include "quant/quant_fit.h"
#include "tensor/dtype.h"

#define FP16(x) infer_fp16_to_f32(x)
#define TO_FP16(x) infer_f32_to_fp16(x)

/* Weight e of a super-block keeps its low 2 bits at bits 2s..2s+1 of qs[32h + l], with
 * h = e / 128, s = (e % 128) / 32, l = e % 32 (shared by Q2_K and Q3_K; infer_k_low2 reads
 * them back). */
static inline void put_low2(uint8_t *qs, int e, int q) { qs[32 * (e / 128) + e % 32] |= (uint8_t)((q & 3) << (2 * (e % 128 / 32))); }

/* ---------------------------------------------------------------- dequantizers */

void infer_dequant_q2_k(const void *src, float *dst, int64_t n) {
    const block_q2_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++) {
        const float d = FP16(b->d), dmin = FP16(b->dmin);
        for (int j = 0; j < QK_K / 16; j++) {
            /* the same float operations as the reference: (d*sc)*q - dmin*m */
            const float dl = d * (float)(b->scales[j] & 0xF), ml = dmin * (float)(b->scales[j] >> 4);
            for (int k = 0; k < 16; k++) *dst++ = dl * (float)infer_k_low2(b->qs, 16 * j + k) - ml;
        }
    }
}

void infer_dequant_q3_k(const void *src, float *dst, int64_t n) {
    const block_q3_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++) {
        const float d = FP16(b->d);
        for (int j = 0; j < QK_K / 16; j++) {
            const float dl = d * (float)infer_q3k_scale(j, b->scales);
            for (int k = 0; k < 16; k++) {
                const int e = 16 * j + k;
                *dst++ = dl * (float)(infer_k_low2(b->qs, e) - (infer_q3k_high(b->hmask, e) ? 0 : 4));
            }
        }
    }
}

/* ---------------------------------------------------------------- quantizers */

void infer_quant_q2_k(const float *src, void *dst, int64_t n) {
    block_q2_k *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        uint8_t L[QK_K];
        float sc[16], mn[16], max_sc = 0, max_mn = 0;
        for (int j = 0; j < 16; j++) {
            infer_quant_fit_scale_min(src + 16 * j, 16, 3, &sc[j], &mn[j], L + 16 * j);
            max_sc = fmaxf(max_sc, sc[j]);
            max_mn = fmaxf(max_mn, mn[j]);
        }
        const float d = max_sc / 15.0f, dmin = max_mn / 15.0f;
        b->d = TO_FP16(d);
        b->dmin = TO_FP16(dmin);
        const float ds = FP16(b->d), dm = FP16(b->dmin);
        memset(b->qs, 0, sizeof b->qs);
        for (int j = 0; j < 16; j++) {
            const int ls = d > 0 ? infer_clampi(infer_nearest(sc[j] / d), 0, 15) : 0;
            const int lm = dmin > 0 ? infer_clampi(infer_nearest(mn[j] / dmin), 0, 15) : 0;
            b->scales[j] = (uint8_t)(ls | lm << 4);
            /* re-round against the scale and min as stored */
            const float s = ds * (float)ls, m = dm * (float)lm;
            for (int k = 0; k < 16; k++) {
                const int q = s > 0 ? infer_clampi(infer_nearest((src[16 * j + k] + m) / s), 0, 3) : 0;
                put_low2(b->qs, 16 * j + k, q);
            }
        }
    }
}

/* Best signed scale s for x[0..16) ~= s * L, L in [-4, 3]: the value of largest magnitude
 * goes to about -4 (the wider side of the grid), a few neighbouring grids are tried, and
 * each is refitted by least squares; the one with the smallest squared error wins. */
static float fit_q3_scale(const float *x) {
    float amax = 0, max = 0;
    for (int i = 0; i < 16; i++)
        if (fabsf(x[i]) > amax) { amax = fabsf(x[i]); max = x[i]; }
    if (amax == 0) return 0;
    float best_s = max / -4.0f, best_gain = -1;
    for (int step = -9; step <= 9; step++) {
        const float iscale = -(4.0f + 0.1f * (float)step) / max;
        double slx = 0, sll = 0;
        for (int i = 0; i < 16; i++) {
            const int l = infer_clampi(infer_nearest(iscale * x[i]), -4, 3);
            slx += (double)l * x[i];
            sll += (double)l * l;
        }
        /* squared error = sum x^2 - slx^2 / sll at the least-squares scale */
        if (sll > 0 && slx * slx / sll > best_gain) {
            best_gain = slx * slx / sll;
            best_s = (float)(slx / sll);
        }
    }
    return best_s;
}

void infer_quant_q3_k(const float *src, void *dst, int64_t n) {
    block_q3_k *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        float sc[16], max_sc = 0;
        for (int j = 0; j < 16; j++) {
            sc[j] = fit_q3_scale(src + 16 * j);
            if (fabsf(sc[j]) > fabsf(max_sc)) max_sc = sc[j];
        }
        /* the largest sub-block scale maps to -32, the wider side of the 6-bit range */
        const float d = max_sc / -32.0f;
        memset(b, 0, sizeof *b);
        b->d = TO_FP16(d);
        const float ds = FP16(b->d);
        for (int j = 0; j < 16; j++) {
            const int ls = d != 0 ? infer_clampi(infer_nearest(sc[j] / d), -32, 31) + 32 : 32;
            b->scales[j % 8] |= (uint8_t)((ls & 0xF) << (j < 8 ? 0 : 4));
            b->scales[8 + j % 4] |= (uint8_t)((ls >> 4) << (2 * (j / 4)));
            const float s = ds * (float)(ls - 32);
            for (int k = 0; k < 16; k++) {
                const int e = 16 * j + k;
                const int q = (s != 0 ? infer_clampi(infer_nearest(src[e] / s), -4, 3) : 0) + 4;
                put_low2(b->qs, e, q);
                if (q & 4) b->hmask[e % 32] |= (uint8_t)(1u << (e / 32));
            }
        }
    }
}
