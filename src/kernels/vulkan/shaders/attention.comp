#version 450
#extension GL_GOOGLE_include_directive : require
#ifdef KV_F16_STORAGE
#extension GL_EXT_shader_16bit_storage : require
#endif
// Causal attention, one workgroup per (query row, head), online softmax over the cache
// in chunks of WG keys: each invocation scores one key of the chunk, then every
// invocation folds the chunk into the output dimensions it owns (d = tid + WG*i).
// GQA: head h reads kv head h / (n_head / n_head_kv). A sink logit, when present,
// starts the running max and denominator. KV_F16: cache values are binary16 pairs in
// 32-bit words; KV_F16_STORAGE: the same read as float16_t (16-bit storage devices).
// SPLIT (long contexts with few query rows, flash-decoding): workgroup z = s serves only
// keys [j_start + s*split_len, + split_len) of its row and writes the partial softmax
// state (running max m, denominator l, then the unnormalized output) to o at
// ((row * n_split + s) * (head_dim + 2)); attention_merge.comp combines the parts and
// the sink.
#define WG 64u
#define MAX_HD 512u
#define DPT (MAX_HD / WG)
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
#ifdef KV_F16_STORAGE
layout(std430, binding = 1) readonly buffer K { float16_t k16[]; };
layout(std430, binding = 2) readonly buffer V { float16_t v16[]; };
#else
layout(std430, binding = 1) readonly buffer K { uint k_words[]; };
layout(std430, binding = 2) readonly buffer V { uint v_words[]; };
#endif
layout(std430, binding = 3) readonly buffer P { int pos[]; };
layout(std430, binding = 4) readonly buffer SK { float sinks[]; };
layout(std430, binding = 5) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC {
    uint q_off, k_off, v_off;   // k/v: elements of the cache type
    uint pos_off, sink_off, has_sink, o_off;
    uint n_tokens, n_head, n_head_kv, head_dim, n_kv;
    float scale;
    int window;
    uint n_split, split_len;   // SPLIT only
} pc;
#include "common.glsl"

#if defined(KV_F16_STORAGE)
float kv_at(uint e, bool is_v) { return float(is_v ? v16[e] : k16[e]); }
#elif defined(KV_F16)
float kv_at(uint e, bool is_v) {
    uint w = is_v ? v_words[e >> 1] : k_words[e >> 1];
    return unpackHalf2x16(w >> ((e & 1u) * 16u)).x;
}
#else
float kv_at(uint e, bool is_v) { return uintBitsToFloat(is_v ? v_words[e] : k_words[e]); }
#endif

shared float qs[MAX_HD];
shared float ps[WG];
shared float red[WG];

float reduce_max(uint tid, float v) {
    red[tid] = v;
    barrier();
    for (uint h = WG / 2u; h > 0u; h >>= 1) {
        if (tid < h) red[tid] = max(red[tid], red[tid + h]);
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}
float reduce_sum(uint tid, float v) {
    red[tid] = v;
    barrier();
    for (uint h = WG / 2u; h > 0u; h >>= 1) {
        if (tid < h) red[tid] += red[tid + h];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void main() {
    uint th = flat_wg();
    if (th >= pc.n_tokens * pc.n_head) return;
    uint tid = gl_LocalInvocationID.x;
    uint t = th / pc.n_head, h = th % pc.n_head;
    uint kvh = h / (pc.n_head / pc.n_head_kv);
    uint hd = pc.head_dim;
    uint qb = pc.q_off + th * hd;
    for (uint d = tid; d < hd; d += WG) qs[d] = q[qb + d] * pc.scale;
    barrier();

    int p = pos[pc.pos_off + t];
    int j_end = min(int(pc.n_kv), p + 1);
    int j_start = pc.window > 0 ? max(0, p - pc.window + 1) : 0;
    uint kv_stride = pc.n_head_kv * hd;

#ifdef SPLIT
    j_start += int(gl_WorkGroupID.z * pc.split_len);
    j_end = min(j_end, j_start + int(pc.split_len));
    float m = -1.0 / 0.0;
    float l = 0.0;
#else
    float m = pc.has_sink != 0u ? sinks[pc.sink_off + h] : -1.0 / 0.0;
    float l = pc.has_sink != 0u ? 1.0 : 0.0;
#endif
    float acc[DPT];
    for (uint i = 0u; i < DPT; i++) acc[i] = 0.0;

    for (int j0 = j_start; j0 < j_end; j0 += int(WG)) {
        int j = j0 + int(tid);
        float s = -1.0 / 0.0;
        if (j < j_end) {
            uint kb = pc.k_off + uint(j) * kv_stride + kvh * hd;
            s = 0.0;
            for (uint d = 0u; d < hd; d++) s += qs[d] * kv_at(kb + d, false);
        }
        float m_new = max(m, reduce_max(tid, s));
        float pj = j < j_end ? exp(s - m_new) : 0.0;
        float corr = exp(m - m_new);   // 0 while m is still -inf
        ps[tid] = pj;
        l = l * corr + reduce_sum(tid, pj);
        uint n_here = uint(min(int(WG), j_end - j0));
        for (uint i = 0u; i < DPT; i++) {
            uint d = tid + WG * i;
            if (d >= hd) break;
            float a = acc[i] * corr;
            uint vb = pc.v_off + uint(j0) * kv_stride + kvh * hd + d;
            for (uint jj = 0u; jj < n_here; jj++) a += ps[jj] * kv_at(vb + jj * kv_stride, true);
            acc[i] = a;
        }
        m = m_new;
        barrier();
    }
#ifdef SPLIT
    uint ob = pc.o_off + (th * pc.n_split + gl_WorkGroupID.z) * (hd + 2u);
    if (tid == 0u) {
        o[ob] = m;
        o[ob + 1u] = l;
    }
    for (uint i = 0u; i < DPT; i++) {
        uint d = tid + WG * i;
        if (d < hd) o[ob + 2u + d] = acc[i];
    }
#else
    uint ob = pc.o_off + th * hd;
    for (uint i = 0u; i < DPT; i++) {
        uint d = tid + WG * i;
        if (d < hd) o[ob + d] = l > 0.0 ? acc[i] / l : 0.0;
    }
#endif
}
