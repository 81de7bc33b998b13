#version 450
#extension GL_GOOGLE_include_directive : require
// Top-k routing for a batch, in one workgroup. Invocation t picks token t's k largest
// router logits (ties: lower expert id) and softmaxes them into weights; then invocation
// e lists, in token order, the assignments a = t*k + s routed to expert e.
// route[] layout (ints): sel[n_tok*k] | counts[n_expert] | lists[n_expert][n_tok].
#define WG 256u
layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer L { float logits[]; };
layout(std430, binding = 1) buffer R { int route[]; };
layout(std430, binding = 2) writeonly buffer W { float weights[]; };
layout(push_constant) uniform PC {
    uint l_off, n_tok, n_expert, k;
    uint sel_off, cnt_off, list_off, w_off;
} pc;

void main() {
    uint tid = gl_LocalInvocationID.x;
    for (uint t = tid; t < pc.n_tok; t += WG) {
        uint lb = pc.l_off + t * pc.n_expert;
        float top = 0.0, sum = 0.0;
        for (uint s = 0u; s < pc.k; s++) {
            int best = -1;
            float bv = 0.0;
            for (uint e = 0u; e < pc.n_expert; e++) {
                bool taken = false;
                for (uint s2 = 0u; s2 < s; s2++)
                    if (route[pc.sel_off + t * pc.k + s2] == int(e)) taken = true;
                float v = logits[lb + e];
                if (!taken && (best < 0 || v > bv)) { best = int(e); bv = v; }
            }
            route[pc.sel_off + t * pc.k + s] = best;
            if (s == 0u) top = bv;
            float w = exp(bv - top);
            weights[pc.w_off + t * pc.k + s] = w;
            sum += w;
        }
        for (uint s = 0u; s < pc.k; s++) weights[pc.w_off + t * pc.k + s] /= sum;
    }
    memoryBarrierBuffer();
    barrier();
    for (uint e = tid; e < pc.n_expert; e += WG) {
        int c = 0;
        for (uint a = 0u; a < pc.n_tok * pc.k; a++)
            if (route[pc.sel_off + a] == int(e)) route[pc.list_off + e * pc.n_tok + uint(c++)] = int(a);
        route[pc.cnt_off + e] = c;
    }
}
