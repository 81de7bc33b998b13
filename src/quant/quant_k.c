/* K-quants (256-weight super-blocks): Q4_K, Q5_K, Q6_K and the Q8_K activation format.
 * The reference quantizers pick sub-block scales with a small least-squares search
 * (good enough for tests and for producing files; not tuned like an importance-matrix
 * quantizer), then quantize the sub-block scales themselves and re-round the weights
 * against the scales actually stored. */
#include <math.h>
#include <string.h>
#include "quant/blocks.h"
#include "quant/kpack.h"
#include "quant/quant.h"
#include "quant/quant_fit.h"
#include "tensor/dtype.h"

#define FP16(x) infer_fp16_to_f32(x)
#define TO_FP16(x) infer_f32_to_fp16(x)

/* ---------------------------------------------------------------- dequantizers */

/* One Q4_K or Q5_K super-block: 4 groups of 64 weights, each two sub-blocks of 32 (low
 * then high nibbles) with 6-bit scale and min; qh is NULL for Q4_K, else bit 2g / 2g+1
 * of qh[l] is the fifth bit of weight l of the first / second sub-block. */
static void dequant_q45_k_block(uint16_t d16, uint16_t dmin16, const uint8_t *scales, const uint8_t *q,
                                const uint8_t *qh, float *dst) {
    const float d = FP16(d16), dmin = FP16(dmin16);
    for (int g = 0; g < QK_K / 64; g++, q += 32) {
        uint8_t sc, m;
        infer_q4k_scale_min(2 * g, scales, &sc, &m);
        const float d1 = d * sc, m1 = dmin * m;
        infer_q4k_scale_min(2 * g + 1, scales, &sc, &m);
        const float d2 = d * sc, m2 = dmin * m;
        const uint8_t u1 = (uint8_t)(1u << (2 * g)), u2 = (uint8_t)(2u << (2 * g));
        for (int l = 0; l < 32; l++) *dst++ = d1 * (float)((q[l] & 0x0F) + (qh && qh[l] & u1 ? 16 : 0)) - m1;
        for (int l = 0; l < 32; l++) *dst++ = d2 * (float)((q[l] >> 4) + (qh && qh[l] & u2 ? 16 : 0)) - m2;
    }
}

void infer_dequant_q4_k(const void *src, float *dst, int64_t n) {
    const block_q4_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++, dst += QK_K) dequant_q45_k_block(b->d, b->dmin, b->scales, b->qs, NULL, dst);
}

void infer_dequant_q5_k(const void *src, float *dst, int64_t n) {
    const block_q5_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++, dst += QK_K) dequant_q45_k_block(b->d, b->dmin, b->scales, b->qs, b->qh, dst);
}

void infer_dequant_q6_k(const void *src, float *dst, int64_t n) {
    const block_q6_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++) {
        const float d = FP16(b->d);
        const uint8_t *ql = b->ql, *qh = b->qh;
        const int8_t *sc = b->scales;
        for (int half = 0; half < 2; half++, dst += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0x0F) | ((qh[l] >> 0 & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0F) | ((qh[l] >> 2 & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4 & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6 & 3) << 4)) - 32;
                dst[l] = d * (float)sc[is] * (float)q1;
                dst[l + 32] = d * (float)sc[is + 2] * (float)q2;
                dst[l + 64] = d * (float)sc[is + 4] * (float)q3;
                dst[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}

void infer_dequant_q8_k(const void *src, float *dst, int64_t n) {
    const block_q8_k *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, b++)
        for (int j = 0; j < QK_K; j++) *dst++ = b->d * (float)b->qs[j];
}

/* ---------------------------------------------------------------- quantizers */

/* Declared in quant_fit.h (Q2_K uses it too). */
void infer_quant_fit_scale_min(const float *x, int n, int nmax, float *scale, float *offset, uint8_t *L) {
    float mn = x[0], mx = x[0];
    for (int i = 1; i < n; i++) { mn = fminf(mn, x[i]); mx = fmaxf(mx, x[i]); }
    if (mn > 0) mn = 0;
    if (mx <= mn) { *scale = 0; *offset = -mn; memset(L, 0, (size_t)n); return; }
    float best_err = INFINITY, best_s = (mx - mn) / nmax, best_m = -mn;
    uint8_t Lt[32];
    for (int step = -4; step <= 8; step++) {
        const float iscale = (nmax + 0.1f * (float)step) / (mx - mn);
        double sl = 0, sll = 0, sx = 0, slx = 0;
        for (int i = 0; i < n; i++) {
            int l = infer_clampi(infer_nearest(iscale * (x[i] - mn)), 0, nmax);
            Lt[i] = (uint8_t)l;
            sl += l; sll += (double)l * l; sx += x[i]; slx += (double)l * x[i];
        }
        /* least squares for x = s*l + b, then b = -offset must be <= 0 */
        const double det = n * sll - sl * sl;
        if (det <= 0) continue;
        double s = (n * slx - sl * sx) / det;
        double b = (sx - s * sl) / n;
        if (b > 0) { b = 0; s = sll > 0 ? slx / sll : 0; }
        if (s <= 0) continue;
        double err = 0;
        for (int i = 0; i < n; i++) { double e = s * Lt[i] + b - x[i]; err += e * e; }
        if (err < best_err) { best_err = err; best_s = (float)s; best_m = (float)-b; }
    }
    *scale = best_s;
    *offset = best_m;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)infer_clampi(infer_nearest((x[i] + best_m) / best_s), 0, nmax);
}

/* Packs eight 6-bit (scale, min) pairs into the Q4_K/Q5_K scales[12] layout. */
static void pack_scale_min(uint8_t out[K_SCALE_SIZE], const uint8_t ls[8], const uint8_t lm[8]) {
    for (int j = 0; j < 4; j++) {
        out[j] = (uint8_t)((ls[j] & 63) | ((ls[j + 4] >> 4) << 6));
        out[j + 4] = (uint8_t)((lm[j] & 63) | ((lm[j + 4] >> 4) << 6));
        out[j + 8] = (uint8_t)((ls[j + 4] & 0x0F) | ((lm[j + 4] & 0x0F) << 4));
    }
}

/* Shared by Q4_K and Q5_K: sub-block levels L[256] in [0,nmax] plus the block header. */
static void quantize_kblock(const float *x, int nmax, uint16_t *d_out, uint16_t *dmin_out,
                            uint8_t scales[K_SCALE_SIZE], uint8_t L[QK_K]) {
    float sc[8], mn[8], max_sc = 0, max_mn = 0;
    for (int j = 0; j < 8; j++) {
        infer_quant_fit_scale_min(x + 32 * j, 32, nmax, &sc[j], &mn[j], L + 32 * j);
        max_sc = fmaxf(max_sc, sc[j]);
        max_mn = fmaxf(max_mn, mn[j]);
    }
    const float d = max_sc / 63.0f, dmin = max_mn / 63.0f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = (uint8_t)(d > 0 ? infer_clampi(infer_nearest(sc[j] / d), 0, 63) : 0);
        lm[j] = (uint8_t)(dmin > 0 ? infer_clampi(infer_nearest(mn[j] / dmin), 0, 63) : 0);
    }
    *d_out = TO_FP16(d);
    *dmin_out = TO_FP16(dmin);
    pack_scale_min(scales, ls, lm);
    /* re-round against the scales as stored */
    const float ds = FP16(*d_out), dm = FP16(*dmin_out);
    for (int j = 0; j < 8; j++) {
        const float s = ds * ls[j], m = dm * lm[j];
        for (int i = 0; i < 32; i++)
            L[32 * j + i] = (uint8_t)(s > 0 ? infer_clampi(infer_nearest((x[32 * j + i] + m) / s), 0, nmax) : 0);
    }
}

void infer_quant_q4_k(const float *src, void *dst, int64_t n) {
    block_q4_k *b = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        quantize_kblock(src, 15, &b->d, &b->dmin, b->scales, L);
        infer_kpack_q4k(L, b->qs);
    }
}

void infer_quant_q5_k(const float *src, void *dst, int64_t n) {
    block_q5_k *b = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        quantize_kblock(src, 31, &b->d, &b->dmin, b->scales, L);
        infer_kpack_q5k(L, b->qs, b->qh);
    }
}

void infer_quant_q6_k(const float *src, void *dst, int64_t n) {
    block_q6_k *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        /* per 16 weights: the signed extreme maps to -32 (as Q4_0 does) */
        float sc[16], max_abs_sc = 0;
        for (int j = 0; j < 16; j++) {
            float amax = 0, max = 0;
            for (int k = 0; k < 16; k++)
                if (fabsf(src[16 * j + k]) > amax) { amax = fabsf(src[16 * j + k]); max = src[16 * j + k]; }
            sc[j] = max / -32.0f;
            max_abs_sc = fmaxf(max_abs_sc, fabsf(sc[j]));
        }
        const float d = max_abs_sc / 127.0f;
        b->d = TO_FP16(d);
        const float ds = FP16(b->d);
        uint8_t L[QK_K];
        for (int j = 0; j < 16; j++) {
            b->scales[j] = (int8_t)(d > 0 ? infer_clampi(infer_nearest(sc[j] / d), -127, 127) : 0);
            const float s = ds * b->scales[j];
            for (int k = 0; k < 16; k++)
                L[16 * j + k] = (uint8_t)(s != 0 ? infer_clampi(infer_nearest(src[16 * j + k] / s), -32, 31) + 32 : 32);
        }
        infer_kpack_q6k(L, b->ql, b->qh);
    }
}

void infer_quant_q8_k(const float *src, void *dst, int64_t n) {
    block_q8_k *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        float amax = 0;
        for (int j = 0; j < QK_K; j++) amax = fmaxf(amax, fabsf(src[j]));
        const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        b->d = d;
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int k = 0; k < 16; k++) {
                const int q = infer_clampi(infer_nearest(src[16 * j + k] * id), -127, 127);
                b->qs[16 * j + k] = (int8_t)q;
                sum += q;
            }
            b->bsums[j] = (int16_t)sum;
        }
    }
}
