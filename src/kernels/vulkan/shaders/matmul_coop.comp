#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// Prompt-sized matmul on the cooperative matrix units: matmul_mat.comp's job (same
// bindings, push constants, grid of BM x BN tiles, bias, MoE routing), with both operands
// decoded into shared memory as 16-bit floats and multiplied as 16x16x16 fragments with
// fp32 accumulation. 4 groups of 32 invocations; group g computes the 32 x 32 quarter
// (g % 2, g / 2) of the 64 x 64 tile as 2 x 2 fragments. The primitives are coop.glsl's
// (COOP_NV, COOP_KHR or COOP_EMU).
#include "coop_elem.glsl"
#define BM 64u
#define BN 64u
#define BK 32u
// Row stride of the operand tiles, in elements: 16-byte aligned rows (what the units'
// loads want) that do not all start on the same shared-memory bank.
#define SA (BK + 8u)
layout(local_size_x = 128) in;
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
#include "dequant.glsl"
shared COOP_ELEM ws[BM * SA];     // ws[r * SA + k]: weight row r of the tile
shared COOP_ELEM xs[BN * SA];     // xs[t * SA + k]: activation row t of the tile
shared float cs[4u * 256u];       // one 16 x 16 result fragment per group, column-major
#define COOP_A_SHARED ws
#define COOP_B_SHARED xs
#include "coop.glsl"

void main() {
    uint tid = gl_LocalInvocationIndex;
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
    // Loader roles: every invocation decodes 16 weights (row tid/2, columns 16*(tid%2)..)
    // and loads 16 activations (activation row tid/2, the same columns).
    uint lr = tid >> 1, lu = (tid & 1u) * 16u;
    uint xrow = 0xFFFFFFFFu;
    if (t0 + lr < n) {
#ifdef MOE
        uint a = uint(route[pc.list_off + e * pc.list_stride + t0 + lr]);
        xrow = pc.x_off + (a / pc.x_div) * pc.cols;
#else
        xrow = pc.x_off + (t0 + lr) * pc.cols;
#endif
    }
    uint g = coop_group();
    uint gm = (g & 1u) * 32u, gn = (g >> 1) * 32u;   // this group's quarter of the tile
    COOP_ACC acc[2][2];
    COOP_UNROLL for (uint i = 0u; i < 2u; i++)
        COOP_UNROLL for (uint j = 0u; j < 2u; j++) coop_acc_zero(acc[i][j]);
    for (uint k0 = 0u; k0 < pc.cols; k0 += BK) {
        uint r = r0 + lr;
        for (uint h = 0u; h < 16u; h += 8u) {
            uint c = k0 + lu + h;
            vec4 lo = vec4(0.0), hi = vec4(0.0);
            if (r < pc.win_rows && c < pc.cols) dq8_row(arow0 + r * pc.row_bytes, c, pc.cols, lo, hi);
            for (uint i = 0u; i < 4u; i++) {
                ws[lr * SA + lu + h + i] = coop_round(lo[i]);
                ws[lr * SA + lu + h + 4u + i] = coop_round(hi[i]);
            }
        }
        for (uint i = 0u; i < 16u; i++) {
            uint c = k0 + lu + i;
            xs[lr * SA + lu + i] = coop_round((xrow != 0xFFFFFFFFu && c < pc.cols) ? x[xrow + c] : 0.0);
        }
        barrier();
        COOP_UNROLL for (uint kk = 0u; kk < BK; kk += COOP_M) {
            COOP_A fa[2];
            COOP_B fb[2];
            COOP_UNROLL for (uint i = 0u; i < 2u; i++) coop_load_a(fa[i], (gm + i * 16u) * SA + kk, SA);
            COOP_UNROLL for (uint j = 0u; j < 2u; j++) coop_load_b(fb[j], (gn + j * 16u) * SA + kk, SA);
            COOP_UNROLL for (uint i = 0u; i < 2u; i++)
                COOP_UNROLL for (uint j = 0u; j < 2u; j++) coop_mul_add(acc[i][j], fa[i], fb[j]);
        }
        barrier();
    }
    // Out through shared memory, one fragment per group at a time: the fragments' layout
    // in invocations is the implementation's, this write is ours (bounds, bias, routing).
    // Consecutive invocations write consecutive weight rows of one token.
    COOP_UNROLL for (uint f = 0u; f < 4u; f++) {
        uint fi = f & 1u, fj = f >> 1;
        coop_store(acc[fi][fj], cs, g * 256u, 16u);
        barrier();
        for (uint q = 0u; q < 8u; q++) {
            uint el = tid + 128u * q;                    // element of the 4 staged fragments
            uint sg = el >> 8, i = el & 15u, j = (el >> 4) & 15u;
            uint r = r0 + (sg & 1u) * 32u + fi * 16u + i;
            uint t = t0 + (sg >> 1) * 32u + fj * 16u + j;
            if (r >= pc.win_rows || t >= n) continue;
#ifdef MOE
            uint yrow = uint(route[pc.list_off + e * pc.list_stride + t]);
#else
            uint yrow = t;
#endif
            float v = cs[sg * 256u + j * 16u + i];
            if (pc.has_bias != 0u) v += bias[b0 + r];
            y[pc.y_off + yrow * pc.rows + pc.r_base + r] = v;
        }
        barrier();
    }
}
