#version 450
#extension GL_GOOGLE_include_directive : require
// Rotary embedding in place. One invocation rotates one pair of one head of one token.
// freq[i] is the angle per position of pair i, computed on the host (base^(-2i/n_rot)
// with the YaRN interpolation/extrapolation mix already applied); mscale multiplies
// cos and sin (attention factor and YaRN magnitude correction). With has_ff, pair i's
// angle is divided by ff[i] (rope_freqs of Llama 3.1+): the YaRN blend is linear in the
// base angle, so dividing the blended angle is the same.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer P { int pos[]; };
layout(std430, binding = 2) readonly buffer F { float freq[]; };
layout(std430, binding = 3) readonly buffer FF { float ff[]; };
layout(push_constant) uniform PC {
    uint x_off, pos_off, freq_off;
    uint n_tok, n_head, head_dim, n_rot;
    uint neox;
    float mscale;
    uint ff_off, has_ff;
} pc;
#include "common.glsl"

void main() {
    uint half_rot = pc.n_rot / 2u;
    uint g = flat_gid();
    if (g >= pc.n_tok * pc.n_head * half_rot) return;
    uint i = g % half_rot, th = g / half_rot;
    uint t = th / pc.n_head;
    uint base = pc.x_off + th * pc.head_dim;
    uint i0 = pc.neox != 0u ? base + i : base + 2u * i;
    uint i1 = pc.neox != 0u ? base + i + half_rot : base + 2u * i + 1u;
    float f = freq[pc.freq_off + i];
    if (pc.has_ff != 0u) f /= ff[pc.ff_off + i];
    float theta = float(pos[pc.pos_off + t]) * f;
    float c = cos(theta) * pc.mscale, s = sin(theta) * pc.mscale;
    float a = x[i0], b = x[i1];
    x[i0] = a * c - b * s;
    x[i1] = a * s + b * c;
}
