#version 450
#extension GL_GOOGLE_include_directive : require
// cache row pos[t] = src row t (row_len values). KV_F16: the cache holds binary16 values,
// two per word; neighbouring rows may share a word, so each half is replaced with
// atomics rather than a plain store. KV_F16_STORAGE (devices with 16-bit storage): the
// cache is a float16_t array and each value is one plain store.
#ifdef KV_F16_STORAGE
#extension GL_EXT_shader_16bit_storage : require
#endif
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer S { float src[]; };
layout(std430, binding = 1) readonly buffer P { int pos[]; };
#ifdef KV_F16_STORAGE
layout(std430, binding = 2) writeonly buffer C { float16_t c16[]; };
#else
layout(std430, binding = 2) buffer C { uint c_words[]; };
#endif
layout(push_constant) uniform PC {
    uint src_off, pos_off;
    uint c_off;      // elements of the cache type
    uint n_tok, row_len;
    uint c_len;      // elements the cache binding holds: rows beyond it are not written
} pc;
#include "common.glsl"

void main() {
    uint g = flat_gid();
    if (g >= pc.n_tok * pc.row_len) return;
    uint t = g / pc.row_len, i = g % pc.row_len;
    int p = pos[pc.pos_off + t];
    if (p < 0 || uint(p) >= (pc.c_len - pc.c_off) / pc.row_len) return;
    uint e = pc.c_off + uint(p) * pc.row_len + i;
    float v = src[pc.src_off + g];
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
