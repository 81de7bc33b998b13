/* Scalar reference dot products for every supported weight type. SIMD kernels are
 * tested against these; they favour obviousness over speed. */
#include <math.h>
#include <string.h>
#include "kernels/cpu/vec_dot.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "tensor/dtype.h"

#define FP16(x) infer_fp16_to_f32(x)

size_t infer_act_row_bytes(infer_act_format f, int64_t cols) {
    switch (f) {
    case INFER_ACT_Q8: return (size_t)(cols / 32) * sizeof(infer_act_q8);
    case INFER_ACT_Q8K: return (size_t)(cols / QK_K) * sizeof(block_q8_k);
    default: return (size_t)cols * sizeof(float);
    }
}

int64_t infer_act_block(infer_act_format f) {
    return f == INFER_ACT_Q8 ? 32 : f == INFER_ACT_Q8K ? QK_K : 1;
}

infer_act_format infer_act_format_of(uint32_t wtype) {
    const infer_dtype_traits *t = infer_dtype_traits_get(wtype);
    switch (t ? t->vec_dot_type : INFER_TYPE_F32) {
    case INFER_TYPE_Q8_0: return INFER_ACT_Q8;
    case INFER_TYPE_Q8_K: return INFER_ACT_Q8K;
    default: return INFER_ACT_F32;
    }
}

/* ---------------------------------------------------------------- activations */

static void quantize_act_f32(const float *x, void *dst, int64_t cols) { memcpy(dst, x, (size_t)cols * sizeof(float)); }

static void quantize_act_q8(const float *x, void *dst, int64_t cols) {
    infer_act_q8 *b = dst;
    for (int64_t i = 0; i < cols / 32; i++, b++, x += 32) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f, id = d > 0 ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            /* ties to even, as the SIMD conversions round */
            int q = (int)nearbyintf(x[j] * id);
            q = q > 127 ? 127 : q < -127 ? -127 : q;
            b->qs[j] = (int8_t)q;
            sum += q;
        }
        b->d = d;
        b->s = d * (float)sum;
    }
}

static void quantize_act_q8k(const float *x, void *dst, int64_t cols) { infer_quant_q8_k(x, dst, cols); }

infer_quantize_act_fn infer_quantize_act_scalar(infer_act_format f) {
    switch (f) {
    case INFER_ACT_Q8: return quantize_act_q8;
    case INFER_ACT_Q8K: return quantize_act_q8k;
    default: return quantize_act_f32;
    }
}

/* ---------------------------------------------------------------- float weights */

static float dot_f32_1(int64_t n, const void *w, const void *x) {
    const float *a = w, *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}
static float dot_f16_1(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w; const float *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)FP16(a[i]) * b[i];
    return (float)s;
}
static float dot_bf16_1(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w; const float *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)infer_bf16_to_f32(a[i]) * b[i];
    return (float)s;
}

/* ---------------------------------------------------------------- 32-weight formats */

/* Integer dot of one 32-weight nibble block with Q8 activations: weight j is the low
 * (j < 16) or high nibble of qs[j % 16], plus bit j of qh as its fifth bit (qh = 0 for
 * the 4-bit formats), minus bias. */
static int isum_nibbles(const uint8_t qs[16], uint32_t qh, int bias, const int8_t y[32]) {
    int isum = 0;
    for (int j = 0; j < 16; j++) {
        const int q0 = (qs[j] & 0xF) | (int)((qh >> j) & 1) << 4;
        const int q1 = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        isum += (q0 - bias) * y[j] + (q1 - bias) * y[j + 16];
    }
    return isum;
}
static inline uint32_t qh32(const uint8_t q[4]) {
    return (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
}
static float dot_q4_0_1(int64_t nb, const void *w, const void *x) {
    const block_q4_0 *a = w; const infer_act_q8 *b = x;
    float s = 0;
    for (int64_t i = 0; i < nb; i++) s += FP16(a[i].d) * b[i].d * (float)isum_nibbles(a[i].qs, 0, 8, b[i].qs);
    return s;
}
static float dot_q4_1_1(int64_t nb, const void *w, const void *x) {
    const block_q4_1 *a = w; const infer_act_q8 *b = x;
    float s = 0;
    for (int64_t i = 0; i < nb; i++)
        s += FP16(a[i].d) * b[i].d * (float)isum_nibbles(a[i].qs, 0, 0, b[i].qs) + FP16(a[i].m) * b[i].s;
    return s;
}
static float dot_q5_0_1(int64_t nb, const void *w, const void *x) {
    const block_q5_0 *a = w; const infer_act_q8 *b = x;
    float s = 0;
    for (int64_t i = 0; i < nb; i++)
        s += FP16(a[i].d) * b[i].d * (float)isum_nibbles(a[i].qs, qh32(a[i].qh), 16, b[i].qs);
    return s;
}
static float dot_q5_1_1(int64_t nb, const void *w, const void *x) {
    const block_q5_1 *a = w; const infer_act_q8 *b = x;
    float s = 0;
    for (int64_t i = 0; i < nb; i++)
        s += FP16(a[i].d) * b[i].d * (float)isum_nibbles(a[i].qs, qh32(a[i].qh), 0, b[i].qs) + FP16(a[i].m) * b[i].s;
    return s;
}
static float dot_q8_0_1(int64_t nb, const void *w, const void *x) {
    const block_q8_0 *a = w; const infer_act_q8 *b = x;
    float s = 0;
    for (int64_t i = 0; i < nb; i++) {
        int isum = 0;
        for (int j = 0; j < 32; j++) isum += a[i].qs[j] * b[i].qs[j];
        s += FP16(a[i].d) * b[i].d * (float)isum;
    }
    return s;
}
static float dot_mxfp4_1(int64_t nb, const void *w, const void *x) {
    const block_mxfp4 *a = w; const infer_act_q8 *b = x;
    float s = 0;
    for (int64_t i = 0; i < nb; i++) {
        int isum = 0;
        for (int j = 0; j < 16; j++)
            isum += infer_mxfp4_values[a[i].qs[j] & 0xF] * b[i].qs[j] + infer_mxfp4_values[a[i].qs[j] >> 4] * b[i].qs[j + 16];
        s += infer_e8m0_to_f32_half(a[i].e) * b[i].d * (float)isum;
    }
    return s;
}

/* IQ4_NL: a Q4_0-shaped block whose nibbles index the non-linear levels. */
static int isum_iq4(const uint8_t qs[16], const int8_t y[32]) {
    int isum = 0;
    for (int j = 0; j < 16; j++)
        isum += infer_iq4nl_values[qs[j] & 0xF] * y[j] + infer_iq4nl_values[qs[j] >> 4] * y[j + 16];
    return isum;
}
static float dot_iq4_nl_1(int64_t nb, const void *w, const void *x) {
    const block_iq4_nl *a = w; const infer_act_q8 *b = x;
    float s = 0;
    for (int64_t i = 0; i < nb; i++) s += FP16(a[i].d) * b[i].d * (float)isum_iq4(a[i].qs, b[i].qs);
    return s;
}

/* ---------------------------------------------------------------- K-quants */

/* One Q4_K or Q5_K super-block against Q8_K: 4 groups of 64 weights, each two sub-blocks
 * of 32 (low then high nibbles) with 6-bit scale and min; qh is NULL for Q4_K, else bit
 * 2g / 2g+1 of qh[l] is the fifth bit of weight l of the first / second sub-block. */
static float dot_q45_k_block(uint16_t d, uint16_t dmin, const uint8_t *scales, const uint8_t *qs,
                             const uint8_t *qh, const block_q8_k *b) {
    int isum = 0, msum = 0;
    for (int g = 0; g < 4; g++) {
        const uint8_t *q = qs + 32 * g;
        const int8_t *y = b->qs + 64 * g;
        uint8_t sc1, m1, sc2, m2;
        infer_q4k_scale_min(2 * g, scales, &sc1, &m1);
        infer_q4k_scale_min(2 * g + 1, scales, &sc2, &m2);
        int s1 = 0, s2 = 0;
        for (int l = 0; l < 32; l++) {
            const int h1 = qh ? (qh[l] >> (2 * g)) & 1 : 0, h2 = qh ? (qh[l] >> (2 * g + 1)) & 1 : 0;
            s1 += ((q[l] & 0xF) | h1 << 4) * y[l];
            s2 += ((q[l] >> 4) | h2 << 4) * y[l + 32];
        }
        isum += sc1 * s1 + sc2 * s2;
        msum += m1 * (b->bsums[4 * g] + b->bsums[4 * g + 1]) + m2 * (b->bsums[4 * g + 2] + b->bsums[4 * g + 3]);
    }
    return b->d * (FP16(d) * (float)isum - FP16(dmin) * (float)msum);
}
static float dot_q4_k_1(int64_t nb, const void *w, const void *x) {
    const block_q4_k *a = w; const block_q8_k *b = x;
    float s = 0;
    for (int64_t i = 0; i < nb; i++) s += dot_q45_k_block(a[i].d, a[i].dmin, a[i].scales, a[i].qs, NULL, &b[i]);
    return s;
}
static float dot_q5_k_1(int64_t nb, const void *w, const void *x) {
    const block_q5_k *a = w; const block_q8_k *b = x;
    float s = 0;
    for (int64_t i = 0; i < nb; i++) s += dot_q45_k_block(a[i].d, a[i].dmin, a[i].scales, a[i].qs, a[i].qh, &b[i]);
    return s;
}
static float dot_q6_k_1(int64_t nb, const void *w, const void *x) {
    const block_q6_k *a = w; const block_q8_k *b = x;
    float s = 0;
    for (int64_t i = 0; i < nb; i++) {
        int isum = 0;
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = a[i].ql + 64 * half, *qh = a[i].qh + 32 * half;
            const int8_t *sc = a[i].scales + 8 * half, *y = b[i].qs + 128 * half;
            int sub[8] = {0};
            for (int l = 0; l < 32; l++) {
                const int q1 = ((ql[l] & 0xF) | ((qh[l] >> 0 & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | ((qh[l] >> 2 & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4 & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6 & 3) << 4)) - 32;
                const int is = l / 16;
                sub[is] += q1 * y[l];
                sub[is + 2] += q2 * y[l + 32];
                sub[is + 4] += q3 * y[l + 64];
                sub[is + 6] += q4 * y[l + 96];
            }
            for (int j = 0; j < 8; j++) isum += sc[j] * sub[j];
        }
        s += b[i].d * FP16(a[i].d) * (float)isum;
    }
    return s;
}

/* Q2_K: per sub-block of 16, d*sc*dot(q, y) - dmin*m*sum(y); sum(y) is the act's bsums. */
static float dot_q2_k_1(int64_t nb, const void *w, const void *x) {
    const block_q2_k *a = w; const block_q8_k *b = x;
    float s = 0;
    for (int64_t i = 0; i < nb; i++) {
        int isum = 0, msum = 0;
        for (int j = 0; j < 16; j++) {
            int sub = 0;
            for (int k = 0; k < 16; k++) sub += infer_k_low2(a[i].qs, 16 * j + k) * b[i].qs[16 * j + k];
            isum += (a[i].scales[j] & 0xF) * sub;
            msum += (a[i].scales[j] >> 4) * b[i].bsums[j];
        }
        s += b[i].d * (FP16(a[i].d) * (float)isum - FP16(a[i].dmin) * (float)msum);
    }
    return s;
}
/* Q3_K: per sub-block of 16, d*(sc-32)*dot(q-4, y), q the 3-bit level. */
static float dot_q3_k_1(int64_t nb, const void *w, const void *x) {
    const block_q3_k *a = w; const block_q8_k *b = x;
    float s = 0;
    for (int64_t i = 0; i < nb; i++) {
        int isum = 0;
        for (int j = 0; j < 16; j++) {
            int sub = 0;
            for (int k = 0; k < 16; k++) {
                const int e = 16 * j + k;
                const int q = infer_k_low2(a[i].qs, e) | infer_q3k_high(a[i].hmask, e) << 2;
                sub += (q - 4) * b[i].qs[e];
            }
            isum += infer_q3k_scale(j, a[i].scales) * sub;
        }
        s += b[i].d * FP16(a[i].d) * (float)isum;
    }
    return s;
}
/* IQ4_XS: eight IQ4_NL groups with 6-bit signed scales against one Q8_K block. */
static float dot_iq4_xs_1(int64_t nb, const void *w, const void *x) {
    const block_iq4_xs *a = w; const block_q8_k *b = x;
    float s = 0;
    for (int64_t i = 0; i < nb; i++) {
        int isum = 0;
        for (int j = 0; j < 8; j++)
            isum += infer_iq4xs_scale(j, a[i].scales_h, a[i].scales_l) * isum_iq4(a[i].qs + 16 * j, b[i].qs + 32 * j);
        s += b[i].d * FP16(a[i].d) * (float)isum;
    }
    return s;
}

/* ---------------------------------------------------------------- any other type:
 * dequantize a block and dot it with float activations */
#define GENERIC_TILE(T, bs)                                                               \
    static void tile_generic_##T(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out) { \
        const infer_dtype_traits *tr = infer_dtype_traits_get(INFER_TYPE_##T);            \
        float tmp[bs];                                                                    \
        double acc[INFER_DOT_MAX_NT] = {0};                                               \
        for (int64_t i = 0; i < nb; i++) {                                                \
            tr->to_float((const char *)w + (size_t)i * tr->block_bytes, tmp, bs);         \
            for (int t = 0; t < nt; t++) {                                                \
                const float *xf = (const float *)((const char *)x + (size_t)t * xs) + i * (bs); \
                for (int j = 0; j < (bs); j++) acc[t] += (double)tmp[j] * xf[j];          \
            }                                                                             \
        }                                                                                 \
        for (int t = 0; t < nt; t++) out[t] = (float)acc[t];                              \
    }
GENERIC_TILE(Q8_1, 32)
GENERIC_TILE(Q8_K, 256)

#define TILE_OF(name)                                                                     \
    static void tile_##name(int64_t nb, const void *w, const void *x, size_t xs, int nt, float *out) { \
        for (int t = 0; t < nt; t++) out[t] = dot_##name##_1(nb, w, (const char *)x + (size_t)t * xs); \
    }
TILE_OF(f32)
TILE_OF(f16)
TILE_OF(bf16)
TILE_OF(q4_0)
TILE_OF(q4_1)
TILE_OF(q5_0)
TILE_OF(q5_1)
TILE_OF(q8_0)
TILE_OF(mxfp4)
TILE_OF(q4_k)
TILE_OF(q5_k)
TILE_OF(q6_k)
TILE_OF(q2_k)
TILE_OF(q3_k)
TILE_OF(iq4_nl)
TILE_OF(iq4_xs)

static const infer_vec_dot_kernel scalar_kernels[INFER_TYPE_COUNT] = {
    [INFER_TYPE_F32] = {tile_f32, 0, NULL},
    [INFER_TYPE_F16] = {tile_f16, 0, NULL},
    [INFER_TYPE_BF16] = {tile_bf16, 0, NULL},
    [INFER_TYPE_Q4_0] = {tile_q4_0, 0, NULL},
    [INFER_TYPE_Q4_1] = {tile_q4_1, 0, NULL},
    [INFER_TYPE_Q5_0] = {tile_q5_0, 0, NULL},
    [INFER_TYPE_Q5_1] = {tile_q5_1, 0, NULL},
    [INFER_TYPE_Q8_0] = {tile_q8_0, 0, NULL},
    [INFER_TYPE_Q8_1] = {tile_generic_Q8_1, 0, NULL},
    [INFER_TYPE_Q4_K] = {tile_q4_k, 0, NULL},
    [INFER_TYPE_Q5_K] = {tile_q5_k, 0, NULL},
    [INFER_TYPE_Q6_K] = {tile_q6_k, 0, NULL},
    [INFER_TYPE_Q8_K] = {tile_generic_Q8_K, 0, NULL},
    [INFER_TYPE_MXFP4] = {tile_mxfp4, 0, NULL},
    [INFER_TYPE_Q2_K] = {tile_q2_k, 0, NULL},
    [INFER_TYPE_Q3_K] = {tile_q3_k, 0, NULL},
    [INFER_TYPE_IQ4_NL] = {tile_iq4_nl, 0, NULL},
    [INFER_TYPE_IQ4_XS] = {tile_iq4_xs, 0, NULL},
};

const infer_vec_dot_kernel *infer_vec_dot_scalar(uint32_t type) {
    if (type >= INFER_TYPE_COUNT || !scalar_kernels[type].dot) return NULL;
    return &scalar_kernels[type];
}
