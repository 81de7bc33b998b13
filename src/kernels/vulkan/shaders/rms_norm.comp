#version 450
#extension GL_GOOGLE_include_directive : require
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
// out = x / sqrt(mean(x^2) + eps) * w, one workgroup per row. In place is allowed:
// every invocation writes only the elements it read.
#define WG 128u
layout(local_size_x = 128) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) buffer O { float o[]; };
layout(push_constant) uniform PC {
    uint x_off, w_off, o_off, row_len, n_rows, has_w;
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
    uint xb = pc.x_off + row * pc.row_len, ob = pc.o_off + row * pc.row_len;
    float s = 0.0;
    for (uint i = tid; i < pc.row_len; i += WG) s += x[xb + i] * x[xb + i];
    float scale = 1.0 / sqrt(row_sum(tid, s) / float(pc.row_len) + pc.eps);
    for (uint i = tid; i < pc.row_len; i += WG) {
        float v = x[xb + i] * scale;
        o[ob + i] = pc.has_w != 0u ? v * w[pc.w_off + i] : v;
    }
}
