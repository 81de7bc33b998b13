/* Q4_K, Q5_K and Q6_K as llama.cpp quantizes them without an importance matrix
 * (ggml-quants.c, quantize_row_q{4,5,6}_K_ref): per sub-block, a grid of candidate
 * scales each refitted by weighted least squares; the sub-block scales are then stored
 * as 6-bit (Q4_K/Q5_K) or 8-bit (Q6_K) multiples of one fp16 block scale and the weights
 * re-rounded against the stored scales. The arithmetic is kept in float and in the same
 * order as the reference so that the bytes agree exactly. */
#include <math.h>
#include <string.h>
#include "quant/blocks.h"
#include "quant/kpack.h"
#include "quant/quant_search.h"
#include "tensor/dtype.h"

#define FP16(x) infer_fp16_to_f32(x)
#define TO_FP16(x) infer_f32_to_fp16(x)
#define ALL_ZERO_EPS 1e-15f   /* a group whose largest |x| is below this is stored as zeros */

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
/* Round half to even, as the reference's float trick does for |x| < 2^22. */
static inline int nearest(float x) { return (int)lrintf(x); }

/* Weighted error of x ~ scale * L + min: squared, or absolute (use_mad). */
static float fit_error(int n, const float *x, const float *w, const uint8_t *L, float scale, float min, int use_mad) {
    float err = 0;
    for (int i = 0; i < n; i++) {
        float diff = scale * L[i] + min - x[i];
        err += w[i] * (use_mad ? fabsf(diff) : diff * diff);
    }
    return err;
}

float infer_quant_search_fit_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_min,
                                 float rmin, float rdelta, int nstep, int use_mad) {
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    for (int i = 0; i < n; i++) L[i] = (uint8_t)clampi(nearest(iscale * (x[i] - min)), 0, nmax);
    float best = fit_error(n, x, w, L, scale, min, use_mad);
    uint8_t trial[32];
    for (int k = 0; k <= nstep; k++) {
        iscale = (rmin + rdelta * k + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = clampi(nearest(iscale * (x[i] - min)), 0, nmax);
            trial[i] = (uint8_t)l;
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        const float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det <= 0) continue;
        float s = (sum_w * sum_xl - sum_x * sum_l) / det;
        float m = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (m > 0) {
            m = 0;
            s = sum_xl / sum_l2;
        }
        const float err = fit_error(n, x, w, trial, s, m, use_mad);
        if (err < best) {
            memcpy(L, trial, (size_t)n);
            best = err;
            scale = s;
            min = m;
        }
    }
    *neg_min = -min;
    return scale;
}

float infer_quant_search_sym_start(int n, int nmax, const float *x, int8_t *L, float *sumlx, float *suml2) {
    float amax;
    const float max = infer_signed_extreme(x, n, &amax);
    *sumlx = *suml2 = 0;
    if (amax < ALL_ZERO_EPS) {
        memset(L, 0, (size_t)n);
        return 0;
    }
    const float iscale = -nmax / max;
    for (int i = 0; i < n; i++) {
        const int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        *sumlx += w * x[i] * l;
        *suml2 += w * l * l;
    }
    return max;
}

void infer_quant_search_requant_sym(const float *x, int n, float d, int nmax, uint8_t *L) {
    if (!d) return;   /* a zero scale keeps the fit's levels, as the reference does */
    for (int i = 0; i < n; i++) L[i] = (uint8_t)(clampi(nearest(x[i] / d), -nmax, nmax - 1) + nmax);
}

/* Symmetric fit x ~ scale * (L - nmax), L in [0, 2*nmax), weights x^2: the first pass,
 * then 18 nearby grids, keeping the best least-squares scale. */
static float fit_scale_sym_weighted(int n, int nmax, const float *x, uint8_t *L) {
    int8_t l0[32];
    float sumlx, suml2;
    const float max = infer_quant_search_sym_start(n, nmax, x, l0, &sumlx, &suml2);
    if (max == 0) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    for (int i = 0; i < n; i++) L[i] = (uint8_t)(l0[i] + nmax);
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int k = -9; k <= 9; k++) {
        if (k == 0) continue;
        const float iscale = -(nmax + 0.1f * k) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (uint8_t)(nmax + clampi(nearest(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q4_K/Q5_K super-block: eight 32-weight sub-blocks fitted with weights
 * rms(sub-block) + |x|, then the scales/mins stored in 6 bits; L gets levels [0,nmax]. */
static void kblock_search(const float *x, int nmax, float rmin, int nstep, uint16_t *d_out, uint16_t *dmin_out,
                          uint8_t scales[K_SCALE_SIZE], uint8_t L[QK_K]) {
    float sc[8], mn[8], w[32], max_sc = 0, max_mn = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xs[l] * xs[l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xs[l]);
        sc[j] = infer_quant_search_fit_min(32, nmax, xs, w, L + 32 * j, &mn[j], rmin, 0.1f, nstep, 0);
        if (sc[j] > max_sc) max_sc = sc[j];
        if (mn[j] > max_mn) max_mn = mn[j];
    }
    const float inv_sc = max_sc > 0 ? 63.f / max_sc : 0.f, inv_mn = max_mn > 0 ? 63.f / max_mn : 0.f;
    memset(scales, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)nearest(inv_sc * sc[j]), lm = (uint8_t)nearest(inv_mn * mn[j]);
        if (ls > 63) ls = 63;
        if (lm > 63) lm = 63;
        if (j < 4) {
            scales[j] = ls;
            scales[j + 4] = lm;
        } else {   /* low 4 bits in bytes 8..11, top 2 bits above the first four 6-bit values */
            scales[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls >> 4) << 6);
            scales[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = TO_FP16(max_sc / 63.f);
    *dmin_out = TO_FP16(max_mn / 63.f);
    for (int j = 0; j < 8; j++) {
        uint8_t s, m;
        infer_q4k_scale_min(j, scales, &s, &m);
        const float d = FP16(*d_out) * s;
        if (!d) continue;   /* keeps the fit's levels, as the reference does */
        const float dm = FP16(*dmin_out) * m;
        for (int i = 0; i < 32; i++) L[32 * j + i] = (uint8_t)clampi(nearest((x[32 * j + i] + dm) / d), 0, nmax);
    }
}

void infer_quant_search_q4_k(const float *src, void *dst, int64_t n) {
    block_q4_k *b = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        kblock_search(src, 15, -1.f, 20, &b->d, &b->dmin, b->scales, L);
        infer_kpack_q4k(L, b->qs);
    }
}

void infer_quant_search_q5_k(const float *src, void *dst, int64_t n) {
    block_q5_k *b = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        kblock_search(src, 31, -0.5f, 15, &b->d, &b->dmin, b->scales, L);
        infer_kpack_q5k(L, b->qs, b->qh);
    }
}

void infer_quant_search_q6_k(const float *src, void *dst, int64_t n) {
    block_q6_k *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        uint8_t L[QK_K];
        float sc[16], max_abs;
        for (int j = 0; j < 16; j++) sc[j] = fit_scale_sym_weighted(16, 32, src + 16 * j, L + 16 * j);
        const float max_sc = infer_signed_extreme(sc, 16, &max_abs);
        if (max_abs < ALL_ZERO_EPS) {
            memset(b, 0, sizeof *b);
            continue;
        }
        const float iscale = -128.f / max_sc;
        b->d = TO_FP16(1 / iscale);
        for (int j = 0; j < 16; j++) {
            const int s = nearest(iscale * sc[j]);
            b->scales[j] = (int8_t)(s < 127 ? s : 127);
        }
        for (int j = 0; j < 16; j++) infer_quant_search_requant_sym(src + 16 * j, 16, FP16(b->d) * b->scales[j], 32, L + 16 * j);
        infer_kpack_q6k(L, b->ql, b->qh);
    }
}
