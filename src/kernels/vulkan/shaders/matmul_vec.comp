#version 450
#extension GL_GOOGLE_include_directive : require
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
// Decode-sized matmul: y[t][r] = dot(W[r], x[t]) (+ bias[r]). One workgroup per weight
// row, for up to NT activation rows at once (the row is decoded once for all of them).
// With MOE, each workgroup serves one routed assignment a (token a / x_div, expert
// sel[a]) and the weight/bias windows move to that expert.
// USE_SUBGROUP (devices with subgroup arithmetic): partial sums are reduced with
// subgroupAdd and only one value per subgroup goes through shared memory.
#define WG 64u
#ifdef MOE
#define NT 1u
#else
#define NT 4u
#endif
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer A { uint a_words[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer B { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
#ifdef MOE
layout(std430, binding = 4) readonly buffer S { int sel[]; };
#endif
layout(push_constant) uniform PC {
    uint a_off, row_bytes, rows, cols;   // rows: all weight rows (the row stride of y)
    uint x_off, b_off, has_bias, y_off;  // offsets in elements, a_off in bytes
    uint n;                  // activation rows (MOE: assignments)
    uint r_base, win_rows;   // this dispatch serves rows [r_base, r_base + win_rows); W starts there
    uint expert_bytes;       // MOE: bytes per expert matrix
    uint x_div;              // MOE: x row = a / x_div
    uint e_base, e_count;    // MOE: experts [e_base, e_base + e_count) are in the W window
    uint sel_off;
} pc;
#include "common.glsl"
#include "dequant.glsl"
shared float red[NT][WG];

void main() {
    uint rl = flat_wg();
    if (rl >= pc.win_rows) return;
    uint r = pc.r_base + rl;
    uint tid = gl_LocalInvocationID.x;
    uint t0 = gl_WorkGroupID.z * NT;
    uint arow = pc.a_off + rl * pc.row_bytes;
    uint brow = pc.b_off + r;
    uint xrow[NT];
#ifdef MOE
    int e = sel[pc.sel_off + t0];
    if (e < int(pc.e_base) || e >= int(pc.e_base + pc.e_count)) return;   // uniform
    arow += uint(e - int(pc.e_base)) * pc.expert_bytes;
    brow += uint(e) * pc.rows;
    xrow[0] = pc.x_off + (t0 / pc.x_div) * pc.cols;
#else
    for (uint t = 0u; t < NT; t++) xrow[t] = pc.x_off + min(t0 + t, pc.n - 1u) * pc.cols;
#endif
    float acc[NT];
    for (uint t = 0u; t < NT; t++) acc[t] = 0.0;
    uint full = pc.cols / 8u;
    for (uint u = tid; u < full; u += WG) {
        vec4 lo, hi;
        dq8(arow, u * 8u, lo, hi);
        for (uint t = 0u; t < NT; t++) {
            uint xb = xrow[t] + u * 8u;
            acc[t] += dot(lo, vec4(x[xb], x[xb + 1u], x[xb + 2u], x[xb + 3u]))
                    + dot(hi, vec4(x[xb + 4u], x[xb + 5u], x[xb + 6u], x[xb + 7u]));
        }
    }
#ifdef A_PLAIN
    for (uint c = full * 8u + tid; c < pc.cols; c += WG) {
        float wv = dq1(arow, c);
        for (uint t = 0u; t < NT; t++) acc[t] += wv * x[xrow[t] + c];
    }
#endif
#ifdef USE_SUBGROUP
    for (uint t = 0u; t < NT; t++) {
        float s = subgroupAdd(acc[t]);
        if (subgroupElect()) red[t][gl_SubgroupID] = s;
    }
    barrier();
    if (tid < NT && t0 + tid < pc.n) {
        float v = 0.0;
        for (uint i = 0u; i < gl_NumSubgroups; i++) v += red[tid][i];
#else
    for (uint t = 0u; t < NT; t++) red[t][tid] = acc[t];
    barrier();
    for (uint h = WG / 2u; h > 0u; h >>= 1) {
        if (tid < h)
            for (uint t = 0u; t < NT; t++) red[t][tid] += red[t][tid + h];
        barrier();
    }
    if (tid < NT && t0 + tid < pc.n) {
        float v = red[tid][0];
#endif
        if (pc.has_bias != 0u) v += bias[brow];
        y[pc.y_off + (t0 + tid) * pc.rows + r] = v;
    }
}
