/* IEEE binary16 and bfloat16 <-> float32, bit manipulation only (no F16C needed here;
 * the SIMD kernels use the hardware instructions). */
#include <string.h>
#include "tensor/dtype.h"

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float infer_fp16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    if (exp == 0x1F) return bits_f32(sign | 0x7F800000u | (man << 13));   /* inf / nan */
    if (exp == 0) {
        /* zero or subnormal: value = man * 2^-24, exact in float32 */
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t infer_f32_to_fp16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t abs = u & 0x7FFFFFFFu;
    if (abs >= 0x7F800000u)                                   /* inf or nan */
        return (uint16_t)(sign | 0x7C00 | (abs > 0x7F800000u ? 0x200 | ((abs >> 13) & 0x3FF) : 0));
    if (abs >= 0x477FF000u) return (uint16_t)(sign | 0x7C00); /* rounds to >= 65520: inf */
    if (abs < 0x38800000u) {
        /* result is subnormal (or zero): scale so the integer part is the mantissa and
         * let the float adder round to nearest even. */
        float v = bits_f32(abs) * 16777216.0f; /* * 2^24 */
        float r = v + 8388608.0f - 8388608.0f; /* round to integer, ties to even */
        return (uint16_t)(sign | (uint16_t)r);
    }
    uint32_t mant_odd = (abs >> 13) & 1;
    abs += 0xC8000FFFu + mant_odd;                            /* rebias exponent (-112<<23) and round */
    return (uint16_t)(sign | (abs >> 13));
}

float infer_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t infer_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 64); /* quiet nan */
    return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}
