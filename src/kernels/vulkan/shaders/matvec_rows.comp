#version 450
#extension GL_GOOGLE_include_directive : require
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#ifdef INT_DOT
#extension GL_EXT_spirv_intrinsics : require
#endif
// Decode matvec for every weight type and ONE activation row: y[r] = dot(W[r], x') (+ bias[r]).
// ROWS weight rows per workgroup, 32 invocations per row; x is the UNROUNDED input and the
// workgroup rounds it itself (x_qb = 32 or 256: per block d = amax/127,
// x' = d * clamp(round_even(x/d), -127, 127), as quantize_act.comp does; 0: float weights,
// x as is), so decode needs no separate rounding dispatch for any type.
//
// x goes through shared memory in chunks of CH values: each invocation loads 16
// consecutive values and their amax, the invocations of one block combine their amaxes
// and round, then every row group reads x' from shared memory while it walks its row
// in 8-value units (lane l takes units l, l + 32, ...: neighbouring lanes read
// neighbouring bytes of the row, so a row group's loads are contiguous). The chunk loop
// is the same for every invocation (it depends on cols only), so its barriers are in
// uniform control flow; row groups past the last row only help with the staging.
// USE_SUBGROUP (subgroups of 4..32 invocations, so whole subgroups lie in one row group):
// the row's 32 partial sums are reduced with subgroupAdd; else by a shared-memory tree.
// INT_DOT (Q4_0 and Q8_0 on devices with shaderIntegerDotProduct): x' is kept as its
// 8-bit integers, four to a word, plus one scale per 32 values, and each 8-value unit is
// two packed 4x8-bit dot products (SPIR-V OpSDot, emitted through spirv_intrinsics since
// the glslang we build with predates GL_EXT_integer_dot_product) times the two scales:
// the reference engine's own integer formulation of these products.
#define ROWS 4u
#define WG 128u
#define CH 2048u            // x values staged per chunk: a multiple of 256 (whole blocks)
#define PER (CH / WG)       // 16 values per invocation per chunk
layout(local_size_x = 128) in;
layout(std430, binding = 0) readonly buffer A { uint a_words[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) readonly buffer B { float bias[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC {
    uint a_off, row_bytes, rows, cols;
    uint x_off, b_off, has_bias, y_off;
    uint n;
    uint r_base, win_rows;
    uint x_qb;               // 0, 32 or 256: the activation rounding block
} pc;
#include "common.glsl"
#include "dequant.glsl"
#ifdef INT_DOT
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot4x8(int a, int b, spirv_literal int fmt);   // fmt 0: PackedVectorFormat4x8Bit
shared int xq[CH / 4u];
shared float xd[CH / 32u];
#else
shared float xs[CH];
#endif
shared float part[WG];

#ifdef INT_DOT
// The dot product of units j..j+7 (j a multiple of 8) of the row with x' words xw, xw+1.
float idot8(uint row, uint j, uint xw) {
    uint blk = row + (j >> 5) * BLOCK_BYTES;
    float d = rd_f16(blk) * xd[xw >> 3];
#if defined(DATA_A_Q8_0)
    uint qa = blk + 2u + (j & 31u);
    int s = sdot4x8(int(rd_u32(qa)), xq[xw], 0) + sdot4x8(int(rd_u32(qa + 4u)), xq[xw + 1u], 0);
#else
    // Q4_0: byte i holds value i (low nibble) and i + 16 (high), stored as q + 8.
    uint jj = j & 31u, shift = jj >= 16u ? 4u : 0u;
    uint qa = blk + 2u + (jj & 15u);
    int w0 = int((rd_u32(qa) >> shift) & 0x0F0F0F0Fu), w1 = int((rd_u32(qa + 4u) >> shift) & 0x0F0F0F0Fu);
    int s = sdot4x8(w0, xq[xw], 0) + sdot4x8(w1, xq[xw + 1u], 0)
          - 8 * (sdot4x8(0x01010101, xq[xw], 0) + sdot4x8(0x01010101, xq[xw + 1u], 0));
#endif
    return d * float(s);
}
#endif

void main() {
    uint tid = gl_LocalInvocationID.x;
    uint grp = tid >> 5, lane = tid & 31u;
    uint rl = flat_wg() * ROWS + grp;
    bool live = rl < pc.win_rows;
    uint arow = pc.a_off + rl * pc.row_bytes;
    float acc = 0.0;
    for (uint c0 = 0u; c0 < pc.cols; c0 += CH) {
        uint len = min(CH, pc.cols - c0);
        // Stage: 16 values per invocation and their amax.
        float v[PER];
        float amax = 0.0;
        for (uint k = 0u; k < PER; k++) {
            uint i = tid * PER + k;
            v[k] = i < len ? x[pc.x_off + c0 + i] : 0.0;
            amax = max(amax, abs(v[k]));
        }
        part[tid] = amax;
        barrier();
        if (pc.x_qb != 0u) {
            // The block of these 16 values spans x_qb/16 invocations starting at b0.
            uint span = pc.x_qb / PER, b0 = tid & ~(span - 1u);
            float bmax = 0.0;
            for (uint i = 0u; i < span; i++) bmax = max(bmax, part[b0 + i]);
            float d = bmax / 127.0;
            float id = pc.x_qb == 32u ? (bmax > 0.0 ? 127.0 / bmax : 0.0) : (d > 0.0 ? 1.0 / d : 0.0);
#ifdef INT_DOT
            // 16 integers = four words; the first invocation of each 32 stores the scale.
            for (uint w = 0u; w < PER / 4u; w++) {
                ivec4 q = ivec4(clamp(roundEven(vec4(v[4u * w], v[4u * w + 1u], v[4u * w + 2u], v[4u * w + 3u]) * id), -127.0, 127.0));
                xq[tid * (PER / 4u) + w] = (q.x & 0xFF) | ((q.y & 0xFF) << 8) | ((q.z & 0xFF) << 16) | (q.w << 24);
            }
            if ((tid & 1u) == 0u) xd[tid >> 1] = d;
#else
            for (uint k = 0u; k < PER; k++) v[k] = clamp(roundEven(v[k] * id), -127.0, 127.0) * d;
#endif
        }
#ifndef INT_DOT
        for (uint k = 0u; k < PER; k++) xs[tid * PER + k] = v[k];
#endif
        barrier();
        if (live) {
            uint full = len / 8u;
            for (uint u = lane; u < full; u += 32u) {
#ifdef INT_DOT
                acc += idot8(arow, c0 + u * 8u, u * 2u);
#else
                vec4 lo, hi;
                dq8(arow, c0 + u * 8u, lo, hi);
                uint xb = u * 8u;
                acc += dot(lo, vec4(xs[xb], xs[xb + 1u], xs[xb + 2u], xs[xb + 3u]))
                     + dot(hi, vec4(xs[xb + 4u], xs[xb + 5u], xs[xb + 6u], xs[xb + 7u]));
#endif
            }
#ifdef A_PLAIN
            for (uint i = full * 8u + lane; i < len; i += 32u) acc += dq1(arow, c0 + i) * xs[i];
#endif
        }
        barrier();   // xs and part are rewritten by the next chunk
    }
#ifdef USE_SUBGROUP
    float s = subgroupAdd(acc);
    if (subgroupElect()) part[gl_SubgroupID] = s;
    barrier();
    uint per = 32u / gl_SubgroupSize;
    if (lane == 0u && live) {
        float r = 0.0;
        for (uint i = 0u; i < per; i++) r += part[grp * per + i];
#else
    part[tid] = acc;
    barrier();
    for (uint h = 16u; h > 0u; h >>= 1) {
        if (lane < h) part[tid] += part[tid + h];
        barrier();
    }
    if (lane == 0u && live) {
        float r = part[tid];
#endif
        uint row = pc.r_base + rl;
        if (pc.has_bias != 0u) r += bias[pc.b_off + row];
        y[pc.y_off + row] = r;
    }
}
