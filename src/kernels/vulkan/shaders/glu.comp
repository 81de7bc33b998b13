#version 450
#extension GL_GOOGLE_include_directive : require
// out = glu(gate, up): SwiGLU silu(g)*u, or gpt-oss's clamped variant
// g = min(gate, limit), u = clamp(up, -limit, limit), out = g * sigmoid(alpha*g) * (u + 1).
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer G { float gate[]; };
layout(std430, binding = 1) readonly buffer U { float up[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC {
    uint g_off, u_off, o_off, n, oai;
    float alpha, limit;
} pc;
#include "common.glsl"

void main() {
    uint i = flat_gid();
    if (i >= pc.n) return;
    float g = gate[pc.g_off + i], u = up[pc.u_off + i];
    float r;
    if (pc.oai != 0u) {
        g = min(g, pc.limit);
        u = clamp(u, -pc.limit, pc.limit);
        r = g / (1.0 + exp(-pc.alpha * g)) * (u + 1.0);
    } else {
        r = g / (1.0 + exp(-g)) * u;
    }
    o[pc.o_off + i] = r;
}
