#version 450
#extension GL_GOOGLE_include_directive : require
#ifdef KV_F16_STORAGE
#extension GL_EXT_shader_16bit_storage : require
#endif
// Rotary embedding of K in place AND its store into the cache in one dispatch (the host
// fuses a rope whose output the next kv_store writes, at the same positions): rope.comp's
// rotation, then kv_store.comp's store of each value at cache row pos[t]. Per head, work
// item i < n_rot/2 is rotated pair i (both values written to x and the cache, so no
// invocation reads what another writes); the others copy one unrotated value
// (n_rot + i - n_rot/2) to the cache.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer P { int pos[]; };
layout(std430, binding = 2) readonly buffer F { float freq[]; };
layout(std430, binding = 3) readonly buffer FF { float ff[]; };
#ifdef KV_F16_STORAGE
layout(std430, binding = 4) writeonly buffer C { float16_t c16[]; };
#else
layout(std430, binding = 4) buffer C { uint c_words[]; };
#endif
layout(push_constant) uniform PC {
    uint x_off, pos_off, freq_off;
    uint n_tok, n_head, head_dim, n_rot;
    uint neox;
    float mscale;
    uint ff_off, has_ff;
    uint c_off, c_len;   // cache: elements of its type; elements the binding holds
} pc;
#include "common.glsl"

void store(uint e, float v) {
#if defined(KV_F16_STORAGE)
    c16[e] = float16_t(v);
#elif defined(KV_F16)
    uint h = packHalf2x16(vec2(v, 0.0)) & 0xFFFFu;
    uint sh = (e & 1u) * 16u;
    atomicAnd(c_words[e >> 1], ~(0xFFFFu << sh));
    atomicOr(c_words[e >> 1], h << sh);
#else
    c_words[e] = floatBitsToUint(v);
#endif
}

void main() {
    uint half_rot = pc.n_rot / 2u, per_head = pc.head_dim - half_rot;
    uint g = flat_gid();
    if (g >= pc.n_tok * pc.n_head * per_head) return;
    uint i = g % per_head, th = g / per_head;
    uint t = th / pc.n_head, h = th % pc.n_head;
    uint row_len = pc.n_head * pc.head_dim;
    int p = pos[pc.pos_off + t];
    bool in_cache = p >= 0 && uint(p) < (pc.c_len - pc.c_off) / row_len;
    uint cb = pc.c_off + uint(max(p, 0)) * row_len + h * pc.head_dim;   // this head in cache row p
    uint base = pc.x_off + th * pc.head_dim;
    if (i >= half_rot) {
        uint d = pc.n_rot + (i - half_rot);
        if (in_cache) store(cb + d, x[base + d]);
        return;
    }
    uint d0 = pc.neox != 0u ? i : 2u * i;
    uint d1 = pc.neox != 0u ? i + half_rot : 2u * i + 1u;
    float f = freq[pc.freq_off + i];
    if (pc.has_ff != 0u) f /= ff[pc.ff_off + i];
    float theta = float(p) * f;
    float c = cos(theta) * pc.mscale, s = sin(theta) * pc.mscale;
    float a = x[base + d0], b = x[base + d1];
    float r0 = a * c - b * s, r1 = a * s + b * c;
    x[base + d0] = r0;
    x[base + d1] = r1;
    if (in_cache) {
        store(cb + d0, r0);
        store(cb + d1, r1);
    }
}
