/* AArch64 NEON dot kernels for the formats that matter most (Q8_0, Q4_0, MXFP4, Q4_K,
 * Q6_K); other types use the scalar table. Baseline ARMv8 NEON (widening multiplies),
 * with the SDOT instruction when the compiler targets it (__ARM_FEATURE_DOTPROD).
 * Activations use the scalar converters. NOTE: compiled and run only on aarch64; the x86
 * development machines can only syntax-check this file, test_matmul validates it against
 * the scalar kernels when it runs on an ARM machine. */
#include "kernels/cpu/vec_dot.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>
#include "quant/blocks.h"
#include "tensor/dtype.h"

static inline float h2f(uint16_t h) {
    __fp16 v;
    memcpy(&v, &h, sizeof v);
    return (float)v;
}

/* acc + sums of 4 int8 products per lane (16 bytes) */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

#define ACT(t) ((const char *)x + (size_t)(t) * xs)

static void tile_q8_0(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out) {
    const block_q8_0 *a = w;
    for (int t = 0; t < nt; t++) {
        const infer_act_q8 *b = (const infer_act_q8 *)ACT(t);
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (int64_t i = 0; i < nb; i++) {
            int32x4_t p = dot16(vdupq_n_s32(0), vld1q_s8(a[i].qs), vld1q_s8(b[i].qs));
            p = dot16(p, vld1q_s8(a[i].qs + 16), vld1q_s8(b[i].qs + 16));
            acc = vfmaq_f32(acc, vcvtq_f32_s32(p), vdupq_n_f32(h2f(a[i].d) * b[i].d));
        }
        out[t] = vaddvq_f32(acc);
    }
}

static void tile_q4_0(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out) {
    const block_q4_0 *a = w;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    for (int t = 0; t < nt; t++) {
        const infer_act_q8 *b = (const infer_act_q8 *)ACT(t);
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (int64_t i = 0; i < nb; i++) {
            const uint8x16_t q = vld1q_u8(a[i].qs);
            const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight);
            const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
            int32x4_t p = dot16(vdupq_n_s32(0), lo, vld1q_s8(b[i].qs));
            p = dot16(p, hi, vld1q_s8(b[i].qs + 16));
            acc = vfmaq_f32(acc, vcvtq_f32_s32(p), vdupq_n_f32(h2f(a[i].d) * b[i].d));
        }
        out[t] = vaddvq_f32(acc);
    }
}

static void tile_mxfp4(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out) {
    const block_mxfp4 *a = w;
    const int8x16_t lut = vld1q_s8(infer_mxfp4_values);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    for (int t = 0; t < nt; t++) {
        const infer_act_q8 *b = (const infer_act_q8 *)ACT(t);
        float32x4_t acc = vdupq_n_f32(0.0f);
        for (int64_t i = 0; i < nb; i++) {
            const uint8x16_t q = vld1q_u8(a[i].qs);
            const int8x16_t lo = vqtbl1q_s8(lut, vandq_u8(q, m4));
            const int8x16_t hi = vqtbl1q_s8(lut, vshrq_n_u8(q, 4));
            int32x4_t p = dot16(vdupq_n_s32(0), lo, vld1q_s8(b[i].qs));
            p = dot16(p, hi, vld1q_s8(b[i].qs + 16));
            acc = vfmaq_f32(acc, vcvtq_f32_s32(p), vdupq_n_f32(infer_e8m0_to_f32_half(a[i].e) * b[i].d));
        }
        out[t] = vaddvq_f32(acc);
    }
}

static void tile_q4_k(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out) {
    const block_q4_k *a = w;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    for (int t = 0; t < nt; t++) {
        const block_q8_k *b = (const block_q8_k *)ACT(t);
        float s = 0.0f;
        for (int64_t i = 0; i < nb; i++) {
            int isum = 0, msum = 0;
            for (int g = 0; g < 4; g++) {
                uint8_t sc1, m1, sc2, m2;
                infer_q4k_scale_min(2 * g, a[i].scales, &sc1, &m1);
                infer_q4k_scale_min(2 * g + 1, a[i].scales, &sc2, &m2);
                const uint8x16_t q0 = vld1q_u8(a[i].qs + 32 * g), q1 = vld1q_u8(a[i].qs + 32 * g + 16);
                const int8_t *y = b[i].qs + 64 * g;
                int32x4_t plo = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(vandq_u8(q0, m4)), vld1q_s8(y));
                plo = dot16(plo, vreinterpretq_s8_u8(vandq_u8(q1, m4)), vld1q_s8(y + 16));
                int32x4_t phi = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(y + 32));
                phi = dot16(phi, vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(y + 48));
                isum += sc1 * vaddvq_s32(plo) + sc2 * vaddvq_s32(phi);
                msum += m1 * (b[i].bsums[4 * g] + b[i].bsums[4 * g + 1]) +
                        m2 * (b[i].bsums[4 * g + 2] + b[i].bsums[4 * g + 3]);
            }
            s += b[i].d * (h2f(a[i].d) * (float)isum - h2f(a[i].dmin) * (float)msum);
        }
        out[t] = s;
    }
}

static void tile_q6_k(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out) {
    const block_q6_k *a = w;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(0x03);
    const int8x16_t k32 = vdupq_n_s8(32);
    for (int t = 0; t < nt; t++) {
        const block_q8_k *b = (const block_q8_k *)ACT(t);
        float s = 0.0f;
        for (int64_t i = 0; i < nb; i++) {
            int isum = 0;
            for (int h = 0; h < 2; h++) {
                const uint8_t *ql = a[i].ql + 64 * h, *qh = a[i].qh + 32 * h;
                const int8_t *sc = a[i].scales + 8 * h, *y = b[i].qs + 128 * h;
                for (int c = 0; c < 2; c++) {   /* weights l = 16c .. 16c+15 of each quarter */
                    const int l = 16 * c;
                    const uint8x16_t l0 = vld1q_u8(ql + l), l1 = vld1q_u8(ql + 32 + l), hb = vld1q_u8(qh + l);
                    const uint8x16_t u1 = vorrq_u8(vandq_u8(l0, m4), vshlq_n_u8(vandq_u8(hb, m3), 4));
                    const uint8x16_t u2 = vorrq_u8(vandq_u8(l1, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4));
                    const uint8x16_t u3 = vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4));
                    const uint8x16_t u4 = vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4));
                    const int8x16_t v1 = vsubq_s8(vreinterpretq_s8_u8(u1), k32);
                    const int8x16_t v2 = vsubq_s8(vreinterpretq_s8_u8(u2), k32);
                    const int8x16_t v3 = vsubq_s8(vreinterpretq_s8_u8(u3), k32);
                    const int8x16_t v4 = vsubq_s8(vreinterpretq_s8_u8(u4), k32);
                    isum += sc[c] * vaddvq_s32(dot16(vdupq_n_s32(0), v1, vld1q_s8(y + l)));
                    isum += sc[c + 2] * vaddvq_s32(dot16(vdupq_n_s32(0), v2, vld1q_s8(y + l + 32)));
                    isum += sc[c + 4] * vaddvq_s32(dot16(vdupq_n_s32(0), v3, vld1q_s8(y + l + 64)));
                    isum += sc[c + 6] * vaddvq_s32(dot16(vdupq_n_s32(0), v4, vld1q_s8(y + l + 96)));
                }
            }
            s += b[i].d * h2f(a[i].d) * (float)isum;
        }
        out[t] = s;
    }
}

static const infer_vec_dot_kernel neon_kernels[INFER_TYPE_COUNT] = {
    [INFER_TYPE_Q8_0] = {INFER_ACT_Q8, tile_q8_0, 0},
    [INFER_TYPE_Q4_0] = {INFER_ACT_Q8, tile_q4_0, 0},
    [INFER_TYPE_MXFP4] = {INFER_ACT_Q8, tile_mxfp4, 0},
    [INFER_TYPE_Q4_K] = {INFER_ACT_Q8K, tile_q4_k, 0},
    [INFER_TYPE_Q6_K] = {INFER_ACT_Q8K, tile_q6_k, 0},
};

const infer_vec_dot_kernel *infer_vec_dot_neon(uint32_t type) {
    if (type >= INFER_TYPE_COUNT || !neon_kernels[type].dot) return NULL;
    return &neon_kernels[type];
}

/* Placeholders until the per-level tables land: the base table serves every level. */
const infer_vec_dot_kernel *infer_vec_dot_neon_dotprod(uint32_t type) { return infer_vec_dot_neon(type); }
const infer_vec_dot_kernel *infer_vec_dot_neon_i8mm(uint32_t type) { return infer_vec_dot_neon(type); }
infer_quantize_act_fn infer_quantize_act_neon(infer_act_format f) { return NULL; }
#endif
