#version 450
#extension GL_GOOGLE_include_directive : require
// out[t][0..row_len) = decode(table row ids[t]). One invocation decodes 8 values.
// The table binding may be a window of a larger buffer: only rows in [row_lo, row_hi)
// are served by this dispatch. An id outside the whole table [0, n_rows) writes zeros
// and raises bit 0 of check[0], which end() turns into an error.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer A { uint a_words[]; };
layout(std430, binding = 1) readonly buffer I { int ids[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(std430, binding = 3) buffer C { uint check[]; };
layout(push_constant) uniform PC {
    uint a_off;      // bytes: row_lo starts here
    uint row_bytes;
    uint row_len;
    uint ids_off;    // elements
    uint o_off;      // elements
    uint n;
    int row_lo;
    int row_hi;
    int n_rows;
} pc;
#include "common.glsl"
#include "dequant.glsl"

void main() {
    uint units = (pc.row_len + 7u) / 8u;
    uint g = flat_gid();
    if (g >= pc.n * units) return;
    uint t = g / units, j = (g % units) * 8u;
    int id = ids[pc.ids_off + t];
    uint ob = pc.o_off + t * pc.row_len + j;
    if (id < 0 || id >= pc.n_rows) {
        if (pc.row_lo == 0) {   // the first window reports it
            atomicOr(check[0], 1u);
            for (uint i = j; i < min(j + 8u, pc.row_len); i++) o[ob + i - j] = 0.0;
        }
        return;
    }
    if (id < pc.row_lo || id >= pc.row_hi) return;
    uint row = pc.a_off + uint(id - pc.row_lo) * pc.row_bytes;
#ifdef A_PLAIN
    if (j + 8u > pc.row_len) {
        for (uint i = j; i < pc.row_len; i++) o[ob + i - j] = dq1(row, i);
        return;
    }
#endif
    vec4 lo, hi;
    dq8(row, j, lo, hi);
    for (uint i = 0u; i < 4u; i++) { o[ob + i] = lo[i]; o[ob + 4u + i] = hi[i]; }
}
