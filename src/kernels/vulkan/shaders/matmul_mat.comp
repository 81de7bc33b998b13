#version 450
#extension GL_GOOGLE_include_directive : require
// Prompt-sized matmul: a workgroup computes a BM x BN tile of y (weight rows x activation
// rows), stepping through the shared dimension BK at a time with both operands decoded
// into shared memory. Each invocation owns 4 weight rows x 4 activation rows (the
// activation rows strided by 16 so that shared-memory reads do not collide).
// With MOE, workgroup z is an expert and its activation rows are the assignments routed
// to it: list[e * list_stride + j] for j < counts[e].
#define BM 64u
#define BN 64u
#define BK 32u
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer A { uint a_words[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer B { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
#ifdef MOE
layout(std430, binding = 4) readonly buffer S { int route[]; };
#endif
layout(push_constant) uniform PC {
    uint a_off, row_bytes, rows, cols;   // rows: all weight rows (the row stride of y)
    uint x_off, b_off, has_bias, y_off;  // offsets in elements, a_off in bytes
    uint n;
    uint r_base, win_rows;   // this dispatch serves rows [r_base, r_base + win_rows); W starts there
    uint expert_bytes;
    uint x_div;
    uint e_base, e_count;    // MOE: workgroup z serves expert e_base + z
    uint list_off;      // MOE: start of the lists in route[]
    uint cnt_off;       // MOE: start of the counts in route[]
    uint list_stride;
} pc;
#include "common.glsl"
#include "dequant.glsl"
shared float ws[BM][BK + 1u];
shared float xs[BN][BK + 1u];

void main() {
    uint tid = gl_LocalInvocationID.x;
    uint r0 = gl_WorkGroupID.x * BM, t0 = gl_WorkGroupID.y * BN;   // r0: row in the window
    uint arow0 = pc.a_off, b0 = pc.b_off + pc.r_base;
    uint n = pc.n;
#ifdef MOE
    uint e = pc.e_base + gl_WorkGroupID.z;
    n = uint(route[pc.cnt_off + e]);
    if (t0 >= n) return;     // uniform for the workgroup
    arow0 += gl_WorkGroupID.z * pc.expert_bytes;
    b0 += e * pc.rows;
#endif
    // Loader roles: every invocation decodes 8 weights (row tid/4, unit tid%4) and loads
    // 8 activations (activation row tid/4, columns 8*(tid%4)..).
    uint lr = tid >> 2, lu = (tid & 3u) * 8u;
    uint xrow = 0xFFFFFFFFu;
    if (t0 + lr < n) {
#ifdef MOE
        uint a = uint(route[pc.list_off + e * pc.list_stride + t0 + lr]);
        xrow = pc.x_off + (a / pc.x_div) * pc.cols;
#else
        xrow = pc.x_off + (t0 + lr) * pc.cols;
#endif
    }
    uint tx = tid & 15u, ty = tid >> 4;
    float acc[4][4];
    for (uint i = 0u; i < 4u; i++)
        for (uint j = 0u; j < 4u; j++) acc[i][j] = 0.0;
    for (uint k0 = 0u; k0 < pc.cols; k0 += BK) {
        {
            uint r = r0 + lr, c = k0 + lu;
            vec4 lo = vec4(0.0), hi = vec4(0.0);
            if (r < pc.win_rows && c < pc.cols) dq8_row(arow0 + r * pc.row_bytes, c, pc.cols, lo, hi);
            for (uint i = 0u; i < 4u; i++) { ws[lr][lu + i] = lo[i]; ws[lr][lu + 4u + i] = hi[i]; }
        }
        for (uint i = 0u; i < 8u; i++) {
            uint c = k0 + lu + i;
            xs[lr][lu + i] = (xrow != 0xFFFFFFFFu && c < pc.cols) ? x[xrow + c] : 0.0;
        }
        barrier();
        for (uint k = 0u; k < BK; k++) {
            float a[4], b[4];
            for (uint i = 0u; i < 4u; i++) a[i] = ws[ty * 4u + i][k];
            for (uint j = 0u; j < 4u; j++) b[j] = xs[tx + 16u * j][k];
            for (uint i = 0u; i < 4u; i++)
                for (uint j = 0u; j < 4u; j++) acc[i][j] += a[i] * b[j];
        }
        barrier();
    }
    for (uint j = 0u; j < 4u; j++) {
        uint t = t0 + tx + 16u * j;
        if (t >= n) break;
#ifdef MOE
        uint yrow = uint(route[pc.list_off + e * pc.list_stride + t]);
#else
        uint yrow = t;
#endif
        for (uint i = 0u; i < 4u; i++) {
            uint r = r0 + ty * 4u + i;
            if (r >= pc.win_rows) continue;
            float v = acc[i][j];
            if (pc.has_bias != 0u) v += bias[b0 + r];
            y[pc.y_off + yrow * pc.rows + pc.r_base + r] = v;
        }
    }
}
