#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_shuffle : require
// Decode matvec for Q4_K weights and ONE activation row: y[r] = dot(W[r], x') (+ bias[r]),
// where x' is x rounded as quantize_act.comp does for the K-quants (per 256 values
// d = amax/127, x' = d * clamp(round_even(x/d), -127, 127)), done here so that decode
// needs no separate rounding dispatch. Same bindings and push constants as
// matmul_vec.comp (its dense, non-MoE form) but x is the UNROUNDED input. Chosen by the
// host only when the weight window starts on 16 bytes, x on 4 floats, and the device's
// subgroups are 8 to 32 wide (a row's 32 invocations reduce in whole subgroups; the 8
// invocations of a block find its amax by three xor-shuffles).
//
// Layout of the work: ROWS rows per workgroup, 32 invocations per row. Eight invocations
// share one 144-byte block (d, dmin, 12 scale bytes, 128 nibble bytes), each reading one
// 16-byte piece of the nibbles with a single uvec4 load, so a row group walks four
// blocks per step with wide, contiguous loads; the 16-byte block head is one more uvec4
// load that the eight invocations of a block share through the cache.
// Piece p (0..7) of a block: chunk c = p/2 (nibble bytes 32c..32c+31) half h = p%2; its
// low nibbles are values 64c + 16h + 0..15 (sub-block 2c), its high nibbles values
// 64c + 32 + 16h + 0..15 (sub-block 2c + 1). Each sub-block contributes
// d*sc*dot(q, x) - dmin*mn*sum(x).
#define ROWS 4u
#define WG (32u * ROWS)
layout(local_size_x = 128) in;
layout(std430, binding = 0) readonly buffer A { uvec4 a4[]; };
layout(std430, binding = 1) readonly buffer X { vec4 x4[]; };
layout(std430, binding = 2) readonly buffer B { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC {
    uint a_off, row_bytes, rows, cols;
    uint x_off, b_off, has_bias, y_off;
    uint n;
    uint r_base, win_rows;
} pc;
#include "common.glsl"
shared float red[WG];

// The 6-bit scale and min of sub-block `is` from the 12 packed bytes s (words 1..3 of
// the block head, bytes 4..15 of the block).
void scale_min(uvec3 s, uint is, out float sc, out float mn) {
    if (is < 4u) {
        uint sh = 8u * is;
        sc = float((s.x >> sh) & 63u);
        mn = float((s.y >> sh) & 63u);
    } else {
        uint sh = 8u * (is - 4u);
        uint lo = s.z >> sh;
        sc = float((lo & 0xFu) | (((s.x >> sh) >> 6) & 3u) << 4);
        mn = float(((lo >> 4) & 0xFu) | (((s.y >> sh) >> 6) & 3u) << 4);
    }
}

void main() {
    uint tid = gl_LocalInvocationID.x;
    uint grp = tid >> 5, lane = tid & 31u;
    uint rl = flat_wg() * ROWS + grp;
    uint sub = lane >> 3, p = lane & 7u;     // block of the step, piece of the block
    uint c = p >> 1, h = p & 1u;
    float acc = 0.0;
    if (rl < pc.win_rows) {
        uint nblk = pc.cols / 256u;
        uint row16 = (pc.a_off + rl * pc.row_bytes) >> 4;   // row start in uvec4 units
        for (uint b = sub; b < nblk; b += 4u) {
            uint blk16 = row16 + b * 9u;                     // 144 bytes = 9 uvec4
            uvec4 head = a4[blk16];
            uvec4 q = a4[blk16 + 1u + 2u * c + h];
            vec2 dm = unpackHalf2x16(head.x);
            float sc0, mn0, sc1, mn1;
            scale_min(head.yzw, 2u * c, sc0, mn0);
            scale_min(head.yzw, 2u * c + 1u, sc1, mn1);
            uint xb = (pc.x_off + b * 256u + 64u * c + 16u * h) >> 2;   // in vec4 units
            vec4 xl[4], xh[4];
            vec4 amax4 = vec4(0.0);
            for (uint k = 0u; k < 4u; k++) {
                xl[k] = x4[xb + k];
                xh[k] = x4[xb + 8u + k];
                amax4 = max(amax4, max(abs(xl[k]), abs(xh[k])));
            }
            // The block's 8 invocations are 8 aligned lanes of one subgroup, all running
            // the same iterations: xor 1, 2, 4 stays among them.
            float amax = max(max(amax4.x, amax4.y), max(amax4.z, amax4.w));
            amax = max(amax, subgroupShuffleXor(amax, 1u));
            amax = max(amax, subgroupShuffleXor(amax, 2u));
            amax = max(amax, subgroupShuffleXor(amax, 4u));
            float d = amax / 127.0;
            float id = d > 0.0 ? 1.0 / d : 0.0;
            // Sums over the rounded integers (exact in float); d is applied once.
            float dlo = 0.0, dhi = 0.0;
            vec4 slo = vec4(0.0), shi = vec4(0.0);
            for (uint k = 0u; k < 4u; k++) {
                uint w = q[k];
                vec4 il = clamp(roundEven(xl[k] * id), -127.0, 127.0);
                vec4 ih = clamp(roundEven(xh[k] * id), -127.0, 127.0);
                vec4 ql = vec4(uvec4(w, w >> 8, w >> 16, w >> 24) & 0xFu);
                vec4 qh = vec4(uvec4(w >> 4, w >> 12, w >> 20, w >> 28) & 0xFu);
                dlo += dot(ql, il);
                dhi += dot(qh, ih);
                slo += il;
                shi += ih;
            }
            acc += d * (dm.x * (sc0 * dlo + sc1 * dhi) - dm.y * (mn0 * dot(slo, vec4(1.0)) + mn1 * dot(shi, vec4(1.0))));
        }
    }
    // Whole subgroups lie inside one row group (subgroup size <= 32, a power of two).
    float s = subgroupAdd(acc);
    if (subgroupElect()) red[gl_SubgroupID] = s;
    barrier();
    uint per = 32u / gl_SubgroupSize;
    if (lane == 0u && rl < pc.win_rows) {
        float v = 0.0;
        for (uint i = 0u; i < per; i++) v += red[grp * per + i];
        uint r = pc.r_base + rl;
        if (pc.has_bias != 0u) v += bias[pc.b_off + r];
        y[pc.y_off + r] = v;
    }
}
