// The element type of the cooperative-matrix operands in shared memory, and the rounding
// into it, per implementation (see coop.glsl). Included before any declaration, since it
// enables extensions.
#if defined(COOP_NV) || defined(COOP_KHR)
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
// (glslang declares these modules with the Vulkan memory model: the device must have
// vulkanMemoryModel enabled, which vk_device.c checks with the rest)
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#if defined(COOP_NV)
#extension GL_NV_cooperative_matrix : require
#else
#extension GL_KHR_cooperative_matrix : require
#endif
#define COOP_ELEM float16_t
// OpFConvert with the default rounding: round to nearest even on the devices we target,
// which the emulation below reproduces.
float16_t coop_round(float v) { return float16_t(v); }

#elif defined(COOP_EMU)
// fp32 holding exactly the fp16 value nearest to v (ties to even; overflow to infinity,
// fp16 subnormals kept), done in integers so that it does not depend on how a driver
// rounds packHalf2x16 or float16_t conversions.
#define COOP_ELEM float
float coop_round(float v) {
    uint b = floatBitsToUint(v), a = b & 0x7FFFFFFFu, s = b & 0x80000000u;
    if (a > 0x7F800000u) return v;                                  // NaN
    if (a >= 0x477FF000u) return uintBitsToFloat(s | 0x7F800000u);  // >= 65520: rounds to infinity
    if (a < 0x38800000u)                                            // below 2^-14: subnormal steps of 2^-24
        return uintBitsToFloat(s | floatBitsToUint(roundEven(uintBitsToFloat(a) * 16777216.0) * (1.0 / 16777216.0)));
    a += 0xFFFu + ((a >> 13) & 1u);                                 // 10 mantissa bits, ties to even
    return uintBitsToFloat(s | (a & 0xFFFFE000u));
}
#else
#error "define COOP_NV, COOP_KHR or COOP_EMU"
#endif
