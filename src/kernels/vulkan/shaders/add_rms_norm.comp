#version 450
#extension GL_GOOGLE_include_directive : require
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
// The residual add and the RMSNorm after it in one dispatch (the host fuses an add whose
// output is the next norm's input): s = a + b is stored (the residual stream), and
// out = s / sqrt(mean(s^2) + eps) * w. One workgroup per row. s may be a (in place), out
// may be s: each invocation reads back only the elements it wrote itself.
#define WG 128u
layout(local_size_x = 128) in;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) buffer S { float s[]; };
layout(std430, binding = 3) readonly buffer W { float w[]; };
layout(std430, binding = 4) buffer O { float o[]; };
layout(push_constant) uniform PC {
    uint a_off, b_off, s_off, w_off, o_off, row_len, n_rows, has_w;
    float eps;
} pc;
#include "common.glsl"
shared float red[WG];

// The workgroup's sum of v: subgroupAdd and one value per subgroup through shared memory
// (USE_SUBGROUP, devices with subgroup arithmetic), else a shared-memory tree.
float row_sum(uint tid, float v) {
#ifdef USE_SUBGROUP
    float t = subgroupAdd(v);
    if (subgroupElect()) red[gl_SubgroupID] = t;
    barrier();
    float r = 0.0;
    for (uint i = 0u; i < gl_NumSubgroups; i++) r += red[i];
    return r;
#else
    red[tid] = v;
    barrier();
    for (uint h = WG / 2u; h > 0u; h >>= 1) {
        if (tid < h) red[tid] += red[tid + h];
        barrier();
    }
    return red[0];
#endif
}

void main() {
    uint row = flat_wg();
    if (row >= pc.n_rows) return;
    uint tid = gl_LocalInvocationID.x;
    uint base = row * pc.row_len;
    float ss = 0.0;
    for (uint i = tid; i < pc.row_len; i += WG) {
        float v = a[pc.a_off + base + i] + b[pc.b_off + base + i];
        s[pc.s_off + base + i] = v;
        ss += v * v;
    }
    float scale = 1.0 / sqrt(row_sum(tid, ss) / float(pc.row_len) + pc.eps);
    for (uint i = tid; i < pc.row_len; i += WG) {
        float v = s[pc.s_off + base + i] * scale;
        o[pc.o_off + base + i] = pc.has_w != 0u ? v * w[pc.w_off + i] : v;
    }
}
