#version 450
#extension GL_GOOGLE_include_directive : require
// out = glu(gate, up), kind as infer_glu_kind:
//   0 SwiGLU      silu(g) * u
//   1 SwiGLU-OAI  g = min(gate, limit), u = clamp(up, -limit, limit), g * sigmoid(alpha*g) * (u + 1)
//   2 GEGLU       gelu_tanh(g) * u, written as g * sigmoid(2z) with z = sqrt(2/pi) g (1 + 0.044715 g^2)
//                 (= 0.5 g (1 + tanh z), without tanh's cancellation near 0)
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer G { float gate[]; };
layout(std430, binding = 1) readonly buffer U { float up[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC {
    uint g_off, u_off, o_off, n, kind;
    float alpha, limit;
} pc;
#include "common.glsl"

void main() {
    uint i = flat_gid();
    if (i >= pc.n) return;
    float g = gate[pc.g_off + i], u = up[pc.u_off + i];
    float r;
    if (pc.kind == 1u) {
        g = min(g, pc.limit);
        u = clamp(u, -pc.limit, pc.limit);
        r = g / (1.0 + exp(-pc.alpha * g)) * (u + 1.0);
    } else if (pc.kind == 2u) {
        float z2 = 2.0 * 0.79788456080286535588 * g * (1.0 + 0.044715 * g * g);
        r = g / (1.0 + exp(-z2)) * u;
    } else {
        r = g / (1.0 + exp(-g)) * u;
    }
    o[pc.o_off + i] = r;
}
