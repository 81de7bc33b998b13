#version 450
#extension GL_GOOGLE_include_directive : require
// out = s * x, then cap * tanh(out / cap) when cap > 0 (Gemma's embedding scale and
// final logit soft-cap). out may alias x.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC { uint x_off, o_off, n; float s, cap; } pc;
#include "common.glsl"

void main() {
    uint i = flat_gid();
    if (i >= pc.n) return;
    float v = pc.s * x[pc.x_off + i];
    // tanh of a large argument overflows exp inside some drivers' tanh: clamp first
    // (tanh(10) is 1 to float precision).
    if (pc.cap > 0.0) v = pc.cap * tanh(clamp(v / pc.cap, -10.0, 10.0));
    o[pc.o_off + i] = v;
}
