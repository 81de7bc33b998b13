#version 450
#extension GL_GOOGLE_include_directive : require
// Rounds activations to the 8-bit grid the reference engine multiplies quantized weights
// with (its "vec_dot_type"), so that our products see the same inputs: per block of QB
// values, d = amax/127 and x' = d * clamp(round_even(x/d), -127, 127). QB = 32 is Q8_0/Q8_1
// (partner of the 32-value formats), QB = 256 is Q8_K (partner of the K-quants).
// One workgroup per block: a serial loop per block is latency-bound on GPUs.
#define WG 64u
#define PER ((QB + WG - 1u) / WG)
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC { uint x_off, o_off, n_blocks; } pc;
#include "common.glsl"
shared float red[WG];

void main() {
    uint blk = flat_wg();
    if (blk >= pc.n_blocks) return;   // uniform for the workgroup
    uint tid = gl_LocalInvocationID.x;
    uint xb = pc.x_off + blk * QB, ob = pc.o_off + blk * QB;
    float v[PER];
    float amax = 0.0;
    for (uint i = 0u; i < PER; i++) {
        uint j = tid + i * WG;
        v[i] = j < QB ? x[xb + j] : 0.0;
        amax = max(amax, abs(v[i]));
    }
    red[tid] = amax;
    barrier();
    for (uint h = WG / 2u; h > 0u; h >>= 1) {
        if (tid < h) red[tid] = max(red[tid], red[tid + h]);
        barrier();
    }
    amax = red[0];
    float d = amax / 127.0;
#if QB == 32
    float id = amax > 0.0 ? 127.0 / amax : 0.0;
#else
    float id = d > 0.0 ? 1.0 / d : 0.0;
#endif
    for (uint i = 0u; i < PER; i++) {
        uint j = tid + i * WG;
        if (j < QB) o[ob + j] = clamp(roundEven(v[i] * id), -127.0, 127.0) * d;
    }
}
