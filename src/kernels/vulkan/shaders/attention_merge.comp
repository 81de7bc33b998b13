#version 450
#extension GL_GOOGLE_include_directive : require
// Combines the n_split partial softmax states of split attention (attention.comp's SPLIT
// form) into the output row: with M the largest running max (and the sink logit, when
// present), out = sum_s exp(m_s - M) acc_s / (sum_s exp(m_s - M) l_s + exp(sink - M)).
// A part that saw no key has m = -inf and adds nothing; a row with no key and no sink
// gets zeros. One workgroup per (query row, head); invocations over the dimensions.
#define WG 64u
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer P { float part[]; };
layout(std430, binding = 1) readonly buffer SK { float sinks[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(push_constant) uniform PC {
    uint p_off, sink_off, has_sink, o_off, n_rows, n_head, head_dim, n_split;
} pc;
#include "common.glsl"

void main() {
    uint th = flat_wg();
    if (th >= pc.n_rows) return;
    uint tid = gl_LocalInvocationID.x;
    uint hd = pc.head_dim, stride = hd + 2u;
    uint pb = pc.p_off + th * pc.n_split * stride;
    float sink = pc.has_sink != 0u ? sinks[pc.sink_off + th % pc.n_head] : -1.0 / 0.0;
    float mx = sink;
    for (uint s = 0u; s < pc.n_split; s++) mx = max(mx, part[pb + s * stride]);
    float l = 0.0;
    if (mx > -1.0 / 0.0) {
        if (pc.has_sink != 0u) l = exp(sink - mx);
        for (uint s = 0u; s < pc.n_split; s++) {
            float ms = part[pb + s * stride];
            if (ms > -1.0 / 0.0) l += part[pb + s * stride + 1u] * exp(ms - mx);
        }
    }
    for (uint d = tid; d < hd; d += WG) {
        float a = 0.0;
        if (l > 0.0)
            for (uint s = 0u; s < pc.n_split; s++) {
                float ms = part[pb + s * stride];
                if (ms > -1.0 / 0.0) a += part[pb + s * stride + 2u + d] * exp(ms - mx);
            }
        o[pc.o_off + th * hd + d] = l > 0.0 ? a / l : 0.0;
    }
}
