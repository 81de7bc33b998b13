/* Base ARMv8 NEON level (every AArch64 CPU, e.g. Cortex-A53/A72): the vec_dot_neon.inc
 * kernels with widening multiplies, built with -march=armv8-a (CMake) so that nothing
 * here needs an extension. Also the NEON activation quantizers, shared by all levels. */
#include "kernels/cpu/vec_dot.h"

#if defined(__aarch64__)
#if defined(__ARM_FEATURE_DOTPROD) || defined(__ARM_FEATURE_MATMUL_INT8)
#error "vec_dot_neon.c is the base level: build it without +dotprod / +i8mm"
#endif
#define NEON_TABLE infer_vec_dot_neon
#include "kernels/cpu/vec_dot_neon.inc"

/* ================================================================ activations
 * Bit-exact with the scalar converters: same amax, same d and inverse, round to nearest
 * even (FCVTNS, as nearbyintf/lrintf in the default rounding mode) and the same clamp. */

ALWAYS_INLINE float32x4_t absmax4(const float *x, int n4) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int k = 0; k < n4; k++) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + 4 * k)));
    return m;
}

/* 16 floats times id -> 16 int8 in [-127,127]; *sum += their sum */
ALWAYS_INLINE int8x16_t quant16(const float *x, float32x4_t idv, int32x4_t *sum) {
    int32x4_t q[4];
    for (int k = 0; k < 4; k++) {
        q[k] = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 4 * k), idv));
        q[k] = vmaxq_s32(vminq_s32(q[k], vdupq_n_s32(127)), vdupq_n_s32(-127));
        *sum = vaddq_s32(*sum, q[k]);
    }
    const int16x8_t a = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
    const int16x8_t b = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
    return vcombine_s8(vmovn_s16(a), vmovn_s16(b));
}

static void quantize_act_q8_neon(const float *x, void *dst, int64_t cols) {
    infer_act_q8 *b = dst;
    for (int64_t i = 0; i < cols / 32; i++, b++, x += 32) {
        const float amax = vmaxvq_f32(absmax4(x, 8));
        const float d = amax / 127.0f, id = d > 0 ? 127.0f / amax : 0.0f;
        const float32x4_t idv = vdupq_n_f32(id);
        int32x4_t sum = vdupq_n_s32(0);
        vst1q_s8(b->qs, quant16(x, idv, &sum));
        vst1q_s8(b->qs + 16, quant16(x + 16, idv, &sum));
        b->d = d;
        b->s = d * (float)vaddvq_s32(sum);
    }
}

static void quantize_act_q8k_neon(const float *x, void *dst, int64_t cols) {
    block_q8_k *b = dst;
    for (int64_t i = 0; i < cols / QK_K; i++, b++, x += QK_K) {
        const float amax = vmaxvq_f32(absmax4(x, QK_K / 4));
        const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        const float32x4_t idv = vdupq_n_f32(id);
        b->d = d;
        for (int j = 0; j < QK_K / 16; j++) {
            int32x4_t sum = vdupq_n_s32(0);
            vst1q_s8(b->qs + 16 * j, quant16(x + 16 * j, idv, &sum));
            b->bsums[j] = (int16_t)vaddvq_s32(sum);
        }
    }
}

infer_quantize_act_fn infer_quantize_act_neon(infer_act_format f) {
    switch (f) {
    case INFER_ACT_Q8: return quantize_act_q8_neon;
    case INFER_ACT_Q8K: return quantize_act_q8k_neon;
    default: return NULL;
    }
}
#endif
