/* Q2_K, Q3_K, IQ4_NL and IQ4_XS as llama.cpp quantizes them without an importance matrix
 * (ggml-quants.c: quantize_row_q2_K_ref, quantize_row_q3_K_ref, and quantize_iq4_nl /
 * quantize_iq4_xs with 7 scale trials), float arithmetic in the reference's order so the
 * bytes agree. The search helpers shared with Q4_K..Q6_K live in quant_k_search.c. */
#include <math.h>
#include <string.h>
#include "quant/blocks.h"
#include "quant/quant_search.h"
#include "tensor/dtype.h"

#define FP16(x) infer_fp16_to_f32(x)
#define TO_FP16(x) infer_f32_to_fp16(x)
#define ALL_ZERO_EPS 1e-15f

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline int nearest(float x) { return (int)lrintf(x); }

/* Two bits per weight, per 128 weights: weight 32*s + l at bits 2s of qs[l]. */
static void pack2(const uint8_t *L, uint8_t qs[64]) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

void infer_quant_search_q2_k(const float *src, void *dst, int64_t n) {
    block_q2_k *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        uint8_t L[QK_K];
        float w[16], sc[16], mn[16], max_sc = 0, max_mn = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) w[l] = fabsf(src[16 * j + l]);
            sc[j] = infer_quant_search_fit_min(16, 3, src + 16 * j, w, L + 16 * j, &mn[j], -0.5f, 0.1f, 15, 1);
            if (sc[j] > max_sc) max_sc = sc[j];
            if (mn[j] > max_mn) max_mn = mn[j];
        }
        if (max_sc > 0) {
            const float iscale = 15.f / max_sc;
            for (int j = 0; j < 16; j++) b->scales[j] = (uint8_t)nearest(iscale * sc[j]);
            b->d = TO_FP16(max_sc / 15.f);
        } else {
            memset(b->scales, 0, sizeof b->scales);
            b->d = TO_FP16(0.f);
        }
        if (max_mn > 0) {
            const float iscale = 15.f / max_mn;
            for (int j = 0; j < 16; j++) b->scales[j] |= (uint8_t)(nearest(iscale * mn[j]) << 4);
            b->dmin = TO_FP16(max_mn / 15.f);
        } else {
            b->dmin = TO_FP16(0.f);
        }
        for (int j = 0; j < 16; j++) {
            const float d = FP16(b->d) * (b->scales[j] & 0xF);
            if (!d) continue;
            const float dm = FP16(b->dmin) * (b->scales[j] >> 4);
            for (int k = 0; k < 16; k++) L[16 * j + k] = (uint8_t)clampi(nearest((src[16 * j + k] + dm) / d), 0, 3);
        }
        pack2(L, b->qs);
    }
}

/* Symmetric 3-bit levels with an iterative per-weight refinement (weights x^2); L gets
 * levels offset by nmax. Returns the scale. */
static float fit_q3(int n, int nmax, const float *x, int8_t *L) {
    float sumlx, suml2;
    if (infer_quant_search_sym_start(n, nmax, x, L, &sumlx, &suml2) == 0) return 0.f;
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                const int nl = clampi(nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (nl != L[i]) {
                    slx += w * x[i] * nl;
                    sl2 += w * nl * nl;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)nl;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

void infer_quant_search_q3_k(const float *src, void *dst, int64_t n) {
    block_q3_k *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        int8_t L[QK_K];
        float sc[16], amax;
        for (int j = 0; j < 16; j++) sc[j] = fit_q3(16, 4, src + 16 * j, L + 16 * j);
        const float max_sc = infer_signed_extreme(sc, 16, &amax);
        memset(b->scales, 0, sizeof b->scales);
        if (max_sc) {
            const float iscale = -32.f / max_sc;
            for (int j = 0; j < 16; j++) {
                int l = clampi(nearest(iscale * sc[j]), -32, 31) + 32;   /* 6 bits: low 4, then high 2 */
                if (j < 8) b->scales[j] = (uint8_t)(l & 0xF);
                else b->scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                b->scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            b->d = TO_FP16(1 / iscale);
        } else {
            b->d = TO_FP16(0.f);
        }
        for (int j = 0; j < 16; j++)
            infer_quant_search_requant_sym(src + 16 * j, 16, FP16(b->d) * infer_q3k_scale(j, b->scales), 4, (uint8_t *)L + 16 * j);
        /* third bit: weight j's in bit j/32 of hmask[j%32] */
        memset(b->hmask, 0, sizeof b->hmask);
        uint8_t U[QK_K];
        for (int j = 0; j < QK_K; j++) {
            int l = L[j];
            if (l > 3) {
                b->hmask[j % 32] |= (uint8_t)(1u << (j / 32));
                l -= 4;
            }
            U[j] = (uint8_t)l;
        }
        pack2(U, b->qs);
    }
}

/* Index of the IQ4_NL level nearest x (the upper one on a tie), by bisection. */
static int nearest_nl(float x) {
    const float x2 = x + x;
    int idx = 0;
    for (int step = 8; step > 0; step >>= 1) {
        const int j = idx + step;
        idx = x2 >= (float)(infer_iq4nl_values[j - 1] + infer_iq4nl_values[j]) ? j : idx;
    }
    return idx;
}

/* One 32-weight group: weights x^2, scale from the extreme value then 15 trial grids. */
static float fit_nl_group(const float *x, uint8_t *L) {
    float amax;
    const float max = infer_signed_extreme(x, 32, &amax);
    if (amax < ALL_ZERO_EPS) {
        memset(L, 0, 32);
        return 0;
    }
    const float v0 = infer_iq4nl_values[0];
    float d = -max / v0, id = 1 / d, sumqx = 0, sumq2 = 0;
    for (int j = 0; j < 32; j++) {
        const int l = nearest_nl(id * x[j]);
        L[j] = (uint8_t)l;
        const float q = infer_iq4nl_values[l], w = x[j] * x[j];
        sumqx += w * q * x[j];
        sumq2 += w * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int t = -7; t <= 7; t++) {
        id = (t + v0) / max;
        sumqx = sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            const float q = infer_iq4nl_values[nearest_nl(id * x[j])], w = x[j] * x[j];
            sumqx += w * q * x[j];
            sumq2 += w * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

static void pack_nl(const uint8_t L[32], uint8_t qs[16]) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)(L[j] | (L[16 + j] << 4));
}

void infer_quant_search_iq4_nl(const float *src, void *dst, int64_t n) {
    block_iq4_nl *b = dst;
    for (int64_t i = 0; i < n / QK4_NL; i++, b++, src += QK4_NL) {
        uint8_t L[32];
        const float d = fit_nl_group(src, L);
        b->d = TO_FP16(d);
        const float id = d ? 1 / d : 0;
        for (int j = 0; j < 32; j++) L[j] = (uint8_t)nearest_nl(id * src[j]);
        pack_nl(L, b->qs);
    }
}

void infer_quant_search_iq4_xs(const float *src, void *dst, int64_t n) {
    block_iq4_xs *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, b++, src += QK_K) {
        uint8_t L[QK_K];
        float sc[8], amax;
        for (int ib = 0; ib < 8; ib++) sc[ib] = fit_nl_group(src + 32 * ib, L + 32 * ib);
        const float max_sc = infer_signed_extreme(sc, 8, &amax);
        const float d = -max_sc / 32;
        b->d = TO_FP16(d);
        b->scales_h = 0;
        memset(b->scales_l, 0, sizeof b->scales_l);
        const float id = d ? 1 / d : 0.f;
        for (int ib = 0; ib < 8; ib++) {
            const int l = clampi(nearest(id * sc[ib]), -32, 31);
            const float dl = d * l, idl = dl ? 1 / dl : 0.f;
            for (int j = 0; j < 32; j++) L[32 * ib + j] = (uint8_t)nearest_nl(idl * src[32 * ib + j]);
            const int u = l + 32;
            b->scales_l[ib / 2] |= (uint8_t)((u & 0xF) << (4 * (ib % 2)));
            b->scales_h |= (uint16_t)((u >> 4) << (2 * ib));
            pack_nl(L + 32 * ib, b->qs + 16 * ib);
        }
    }
}
