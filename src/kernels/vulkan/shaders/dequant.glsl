// Weight decoding shared by every typed shader. Exactly one DATA_A_<TYPE> is defined per
// compiled variant. Weights are read through a plain uint[] binding with byte addresses,
// so any block size and any byte offset work without 8/16-bit storage support.
//
// Each type provides:
//   QK           elements per block (1 for plain types)
//   BLOCK_BYTES  bytes per block
//   dq8(row, j, lo, hi)  the 8 values j..j+7 (j a multiple of 8) of the row starting at
//                        byte address `row`
//   dq1(row, j)          one value (plain types only: their rows need not be multiples of 8)
// The bit layouts are GGUF's (ggml-common.h); the including shader declares a_words[].

uint rd_u8(uint addr) { return (a_words[addr >> 2] >> ((addr & 3u) * 8u)) & 0xFFu; }
// addr must be even: a 16-bit value never straddles two words.
uint rd_u16(uint addr) { return (a_words[addr >> 2] >> ((addr & 2u) * 8u)) & 0xFFFFu; }
uint rd_u32(uint addr) {
    uint w = addr >> 2, s = (addr & 3u) * 8u;
    if (s == 0u) return a_words[w];
    return (a_words[w] >> s) | (a_words[w + 1u] << (32u - s));
}
float rd_f16(uint addr) { return unpackHalf2x16(rd_u16(addr)).x; }

// Unpacks four bytes (low byte first) of a word as integers.
uvec4 bytes4(uint w) { return uvec4(w & 0xFFu, (w >> 8) & 0xFFu, (w >> 16) & 0xFFu, w >> 24); }

#if defined(DATA_A_F32)
#define QK 1u
#define BLOCK_BYTES 4u
#define A_PLAIN 1
float dq1(uint row, uint j) { return uintBitsToFloat(rd_u32(row + 4u * j)); }
void dq8(uint row, uint j, out vec4 lo, out vec4 hi) {
    uint a = row + 4u * j;
    lo = vec4(uintBitsToFloat(rd_u32(a)), uintBitsToFloat(rd_u32(a + 4u)),
              uintBitsToFloat(rd_u32(a + 8u)), uintBitsToFloat(rd_u32(a + 12u)));
    hi = vec4(uintBitsToFloat(rd_u32(a + 16u)), uintBitsToFloat(rd_u32(a + 20u)),
              uintBitsToFloat(rd_u32(a + 24u)), uintBitsToFloat(rd_u32(a + 28u)));
}
#elif defined(DATA_A_F16) || defined(DATA_A_BF16)
#define QK 1u
#define BLOCK_BYTES 2u
#define A_PLAIN 1
#if defined(DATA_A_F16)
vec2 pair2(uint w) { return unpackHalf2x16(w); }
float dq1(uint row, uint j) { return rd_f16(row + 2u * j); }
#else
vec2 pair2(uint w) { return vec2(uintBitsToFloat(w << 16), uintBitsToFloat(w & 0xFFFF0000u)); }
float dq1(uint row, uint j) { return uintBitsToFloat(rd_u16(row + 2u * j) << 16); }
#endif
void dq8(uint row, uint j, out vec4 lo, out vec4 hi) {
    uint a = row + 2u * j;
    lo = vec4(pair2(rd_u32(a)), pair2(rd_u32(a + 4u)));
    hi = vec4(pair2(rd_u32(a + 8u)), pair2(rd_u32(a + 12u)));
}
#elif defined(DATA_A_Q4_0) || defined(DATA_A_Q4_1) || defined(DATA_A_MXFP4) || defined(DATA_A_IQ4_NL)
// 32 values per block; byte i of qs holds value i (low nibble) and i+16 (high nibble).
#define QK 32u
#if defined(DATA_A_Q4_0) || defined(DATA_A_IQ4_NL)
#define BLOCK_BYTES 18u
#define QS_OFF 2u
#elif defined(DATA_A_Q4_1)
#define BLOCK_BYTES 20u
#define QS_OFF 4u
#else
#define BLOCK_BYTES 17u
#define QS_OFF 1u
#endif
#if defined(DATA_A_IQ4_NL)
const float kv_iq4nl[16] = float[16](-127., -104., -83., -65., -49., -35., -22., -10., 1., 13., 25., 38., 53., 69., 89., 113.);
#endif
#if defined(DATA_A_MXFP4)
// e2m1 values times two; the scale below is halved to match.
const float kv_mxfp4[16] = float[16](0., 1., 2., 3., 4., 6., 8., 12., 0., -1., -2., -3., -4., -6., -8., -12.);
float e8m0_half(uint e) {
    return uintBitsToFloat(e < 2u ? (0x00200000u << e) : ((e - 1u) << 23));
}
#endif
void dq8(uint row, uint j, out vec4 lo, out vec4 hi) {
    uint blk = row + (j >> 5) * BLOCK_BYTES;
    uint jj = j & 31u;
    uint shift = jj >= 16u ? 4u : 0u;
    uint qa = blk + QS_OFF + (jj & 15u);
    uvec4 q0 = (bytes4(rd_u32(qa)) >> shift) & 0xFu;
    uvec4 q1 = (bytes4(rd_u32(qa + 4u)) >> shift) & 0xFu;
#if defined(DATA_A_Q4_0)
    float d = rd_f16(blk);
    lo = (vec4(q0) - 8.0) * d;
    hi = (vec4(q1) - 8.0) * d;
#elif defined(DATA_A_Q4_1)
    float d = rd_f16(blk), m = rd_f16(blk + 2u);
    lo = vec4(q0) * d + m;
    hi = vec4(q1) * d + m;
#elif defined(DATA_A_IQ4_NL)
    float d = rd_f16(blk);
    lo = vec4(kv_iq4nl[q0.x], kv_iq4nl[q0.y], kv_iq4nl[q0.z], kv_iq4nl[q0.w]) * d;
    hi = vec4(kv_iq4nl[q1.x], kv_iq4nl[q1.y], kv_iq4nl[q1.z], kv_iq4nl[q1.w]) * d;
#else
    float d = e8m0_half(rd_u8(blk));
    lo = vec4(kv_mxfp4[q0.x], kv_mxfp4[q0.y], kv_mxfp4[q0.z], kv_mxfp4[q0.w]) * d;
    hi = vec4(kv_mxfp4[q1.x], kv_mxfp4[q1.y], kv_mxfp4[q1.z], kv_mxfp4[q1.w]) * d;
#endif
}
#elif defined(DATA_A_Q5_0) || defined(DATA_A_Q5_1)
// Like Q4 plus a 32-bit qh: bit i is the fifth bit of value i.
#define QK 32u
#if defined(DATA_A_Q5_0)
#define BLOCK_BYTES 22u
#define QH_OFF 2u
#else
#define BLOCK_BYTES 24u
#define QH_OFF 4u
#endif
void dq8(uint row, uint j, out vec4 lo, out vec4 hi) {
    uint blk = row + (j >> 5) * BLOCK_BYTES;
    uint jj = j & 31u;
    uint shift = jj >= 16u ? 4u : 0u;
    uint qa = blk + QH_OFF + 4u + (jj & 15u);
    uint qh = rd_u32(blk + QH_OFF) >> jj;
    uvec4 h0 = (uvec4(qh, qh >> 1, qh >> 2, qh >> 3) & 1u) << 4;
    uvec4 h1 = (uvec4(qh >> 4, qh >> 5, qh >> 6, qh >> 7) & 1u) << 4;
    uvec4 q0 = ((bytes4(rd_u32(qa)) >> shift) & 0xFu) | h0;
    uvec4 q1 = ((bytes4(rd_u32(qa + 4u)) >> shift) & 0xFu) | h1;
#if defined(DATA_A_Q5_0)
    float d = rd_f16(blk);
    lo = (vec4(q0) - 16.0) * d;
    hi = (vec4(q1) - 16.0) * d;
#else
    float d = rd_f16(blk), m = rd_f16(blk + 2u);
    lo = vec4(q0) * d + m;
    hi = vec4(q1) * d + m;
#endif
}
#elif defined(DATA_A_Q8_0)
#define QK 32u
#define BLOCK_BYTES 34u
void dq8(uint row, uint j, out vec4 lo, out vec4 hi) {
    uint blk = row + (j >> 5) * BLOCK_BYTES;
    uint qa = blk + 2u + (j & 31u);
    float d = rd_f16(blk);
    // Sign-extend each byte.
    ivec4 q0 = (ivec4(bytes4(rd_u32(qa))) << 24) >> 24;
    ivec4 q1 = (ivec4(bytes4(rd_u32(qa + 4u))) << 24) >> 24;
    lo = vec4(q0) * d;
    hi = vec4(q1) * d;
}
#elif defined(DATA_A_Q4_K) || defined(DATA_A_Q5_K)
// 256 values: d, dmin, 12 bytes of packed 6-bit scales/mins for 8 sub-blocks of 32,
// (Q5_K: 32 bytes of fifth bits), 128 bytes of nibbles. Sub-blocks 2c and 2c+1 share the
// bytes qs[32c .. 32c+31] (low / high nibbles).
#define QK 256u
#if defined(DATA_A_Q4_K)
#define BLOCK_BYTES 144u
#define QS_OFF 16u
#else
#define BLOCK_BYTES 176u
#define QS_OFF 48u
#endif
void scale_min_k4(uint blk, uint is, out float sc, out float mn) {
    uint s = blk + 4u;
    if (is < 4u) {
        sc = float(rd_u8(s + is) & 63u);
        mn = float(rd_u8(s + is + 4u) & 63u);
    } else {
        sc = float((rd_u8(s + is + 4u) & 0xFu) | ((rd_u8(s + is - 4u) >> 6) << 4));
        mn = float((rd_u8(s + is + 4u) >> 4) | ((rd_u8(s + is) >> 6) << 4));
    }
}
void dq8(uint row, uint j, out vec4 lo, out vec4 hi) {
    uint blk = row + (j >> 8) * BLOCK_BYTES;
    uint jj = j & 255u;
    uint c = jj >> 6, w = jj & 63u;
    uint is = 2u * c + (w >= 32u ? 1u : 0u);
    uint shift = w >= 32u ? 4u : 0u;
    uint l = w & 31u;
    float sc, mn;
    scale_min_k4(blk, is, sc, mn);
    float d = rd_f16(blk) * sc, m = rd_f16(blk + 2u) * mn;
    uint qa = blk + QS_OFF + 32u * c + l;
    uvec4 q0 = (bytes4(rd_u32(qa)) >> shift) & 0xFu;
    uvec4 q1 = (bytes4(rd_u32(qa + 4u)) >> shift) & 0xFu;
#if defined(DATA_A_Q5_K)
    uint qha = blk + 16u + l;
    q0 |= ((bytes4(rd_u32(qha)) >> is) & 1u) << 4;
    q1 |= ((bytes4(rd_u32(qha + 4u)) >> is) & 1u) << 4;
#endif
    lo = vec4(q0) * d - m;
    hi = vec4(q1) * d - m;
}
#elif defined(DATA_A_Q6_K)
// 256 values: ql[128] (low nibbles), qh[64] (2 high bits), int8 scales[16], f16 d at 208.
// Half h (128 values) uses ql[64h..], qh[32h..], scales[8h..]; its quarter q (32 values)
// takes ql[l + 32*(q&1)] nibble (q>>1) and qh[l] bits 2q..2q+1.
#define QK 256u
#define BLOCK_BYTES 210u
void dq8(uint row, uint j, out vec4 lo, out vec4 hi) {
    uint blk = row + (j >> 8) * BLOCK_BYTES;
    uint jj = j & 255u;
    uint h = jj >> 7, w = jj & 127u;
    uint q = w >> 5, l = w & 31u;
    uint qla = blk + 64u * h + l + 32u * (q & 1u);
    uint qha = blk + 128u + 32u * h + l;
    uint nshift = (q >> 1) * 4u, hshift = 2u * q;
    int sc = (int(rd_u8(blk + 192u + 8u * h + (l >> 4) + 2u * q)) << 24) >> 24;
    float d = rd_f16(blk + 208u) * float(sc);
    uvec4 q0 = ((bytes4(rd_u32(qla)) >> nshift) & 0xFu) | (((bytes4(rd_u32(qha)) >> hshift) & 3u) << 4);
    uvec4 q1 = ((bytes4(rd_u32(qla + 4u)) >> nshift) & 0xFu) | (((bytes4(rd_u32(qha + 4u)) >> hshift) & 3u) << 4);
    lo = (vec4(q0) - 32.0) * d;
    hi = (vec4(q1) - 32.0) * d;
}
#elif defined(DATA_A_Q2_K) || defined(DATA_A_Q3_K)
// 256 values in 16 sub-blocks of 16. Value e (h = e/128, s = (e%128)/32, l = e%32) has
// its low 2 bits at bits 2s..2s+1 of qs[32h + l]; 8 consecutive values share h, s and
// their sub-block e/16. Q2_K: scales[16] (scale | min << 4), qs at 16, d, dmin at 80.
// Q3_K: hmask[32] (third bit of value e: bit 4h+s of hmask[l]), qs at 32, 12 bytes of
// 6-bit scales at 96, d at 108; value = d * (sc - 32) * (q - 4).
#define QK 256u
#if defined(DATA_A_Q2_K)
#define BLOCK_BYTES 84u
#define QS_OFF 16u
#else
#define BLOCK_BYTES 110u
#define QS_OFF 32u
#endif
void dq8(uint row, uint j, out vec4 lo, out vec4 hi) {
    uint blk = row + (j >> 8) * BLOCK_BYTES;
    uint e = j & 255u;
    uint h = e >> 7, s = (e >> 5) & 3u, l = e & 31u, sub = e >> 4;
    uint qa = blk + QS_OFF + 32u * h + l;
    uvec4 q0 = (bytes4(rd_u32(qa)) >> (2u * s)) & 3u;
    uvec4 q1 = (bytes4(rd_u32(qa + 4u)) >> (2u * s)) & 3u;
#if defined(DATA_A_Q2_K)
    uint sc = rd_u8(blk + sub);
    float dl = rd_f16(blk + 80u) * float(sc & 0xFu), ml = rd_f16(blk + 82u) * float(sc >> 4);
    lo = vec4(q0) * dl - ml;
    hi = vec4(q1) * dl - ml;
#else
    uint hb = 4u * h + s;
    uvec4 h0 = (bytes4(rd_u32(blk + l)) >> hb) & 1u;
    uvec4 h1 = (bytes4(rd_u32(blk + l + 4u)) >> hb) & 1u;
    uint lo4 = sub < 8u ? rd_u8(blk + 96u + sub) & 0xFu : rd_u8(blk + 88u + sub) >> 4;
    uint hi2 = (rd_u8(blk + 104u + (sub & 3u)) >> (2u * (sub >> 2))) & 3u;
    float dl = rd_f16(blk + 108u) * float(int(lo4 | (hi2 << 4)) - 32);
    // (q - 4) with the third bit set means q_low, else q_low - 4
    lo = (vec4(q0) - 4.0 * vec4(1u - h0)) * dl;
    hi = (vec4(q1) - 4.0 * vec4(1u - h1)) * dl;
#endif
}
#elif defined(DATA_A_IQ4_XS)
// 256 values in 8 sub-blocks of 32: d at 0, scales_h (16 bits) at 2, scales_l[4] at 4,
// 16 nibble bytes per sub-block from 8 (Q4_0 order within a sub-block). Sub-block ib's
// 6-bit scale: nibble ib%2 of scales_l[ib/2], high bits 2ib..2ib+1 of scales_h.
#define QK 256u
#define BLOCK_BYTES 136u
const float kv_iq4nl[16] = float[16](-127., -104., -83., -65., -49., -35., -22., -10., 1., 13., 25., 38., 53., 69., 89., 113.);
void dq8(uint row, uint j, out vec4 lo, out vec4 hi) {
    uint blk = row + (j >> 8) * BLOCK_BYTES;
    uint e = j & 255u;
    uint ib = e >> 5, w = e & 31u;
    uint shift = w >= 16u ? 4u : 0u;
    uint qa = blk + 8u + 16u * ib + (w & 15u);
    uvec4 q0 = (bytes4(rd_u32(qa)) >> shift) & 0xFu;
    uvec4 q1 = (bytes4(rd_u32(qa + 4u)) >> shift) & 0xFu;
    uint ls = ((rd_u8(blk + 4u + (ib >> 1)) >> (4u * (ib & 1u))) & 0xFu) | (((rd_u16(blk + 2u) >> (2u * ib)) & 3u) << 4);
    float dl = rd_f16(blk) * float(int(ls) - 32);
    lo = vec4(kv_iq4nl[q0.x], kv_iq4nl[q0.y], kv_iq4nl[q0.z], kv_iq4nl[q0.w]) * dl;
    hi = vec4(kv_iq4nl[q1.x], kv_iq4nl[q1.y], kv_iq4nl[q1.z], kv_iq4nl[q1.w]) * dl;
}
#else
#error "no DATA_A_<TYPE> defined"
#endif

// dq8 of a row of `cols` values where j may lie within 8 of its end: plain types (whose
// rows need not be whole 8s) read zeros past it; the other types' rows are whole blocks.
void dq8_row(uint row, uint j, uint cols, out vec4 lo, out vec4 hi) {
#ifdef A_PLAIN
    if (j + 8u > cols) {
        for (uint i = 0u; i < 8u; i++) {
            float v = j + i < cols ? dq1(row, j + i) : 0.0;
            if (i < 4u) lo[i] = v; else hi[i - 4u] = v;
        }
        return;
    }
#endif
    dq8(row, j, lo, hi);
}
