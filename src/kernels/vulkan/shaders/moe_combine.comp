#version 450
#extension GL_GOOGLE_include_directive : require
// out[t][i] = sum_s weights[t*k+s] * d[t*k+s][i]: the routed experts' outputs mixed.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer D { float d[]; };
layout(std430, binding = 1) readonly buffer W { float weights[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC { uint d_off, w_off, o_off, n_tok, n_embd, k; } pc;
#include "common.glsl"

void main() {
    uint g = flat_gid();
    if (g >= pc.n_tok * pc.n_embd) return;
    uint t = g / pc.n_embd, i = g % pc.n_embd;
    float s = 0.0;
    for (uint j = 0u; j < pc.k; j++)
        s += weights[pc.w_off + t * pc.k + j] * d[pc.d_off + (t * pc.k + j) * pc.n_embd + i];
    o[pc.o_off + g] = s;
}
