#version 450
#extension GL_GOOGLE_include_directive : require
// out = a + b elementwise (residual connections). out may alias a or b.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC { uint a_off, b_off, o_off, n; } pc;
#include "common.glsl"

void main() {
    uint i = flat_gid();
    if (i < pc.n) o[pc.o_off + i] = a[pc.a_off + i] + b[pc.b_off + i];
}
