#version 450
#extension GL_GOOGLE_include_directive : require
// Rounds activations to the 8-bit grid the reference engine multiplies quantized weights
// with (its "vec_dot_type"), so that our products see the same inputs: per block of QB
// values, d = amax/127 and x' = d * clamp(round_even(x/d), -127, 127). QB = 32 is Q8_0/Q8_1
// (partner of the 32-value formats), QB = 256 is Q8_K (partner of the K-quants).
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC { uint x_off, o_off, n_blocks; } pc;
#include "common.glsl"

void main() {
    uint g = flat_gid();
    if (g >= pc.n_blocks) return;
    uint xb = pc.x_off + g * QB, ob = pc.o_off + g * QB;
    float amax = 0.0;
    for (uint j = 0u; j < QB; j++) amax = max(amax, abs(x[xb + j]));
    float d = amax / 127.0;
#if QB == 32
    float id = amax > 0.0 ? 127.0 / amax : 0.0;
#else
    float id = d > 0.0 ? 1.0 / d : 0.0;
#endif
    for (uint j = 0u; j < QB; j++) o[ob + j] = clamp(roundEven(x[xb + j] * id), -127.0, 127.0) * d;
}
