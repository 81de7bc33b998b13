/* AVX2 panel matmul, 8 rows: the K-quants, then the 32-weight formats at the end (see
 * matmul_panels.h for the why).
 *
 * Panel of one super-block (256 columns) of 8 rows, PANEL_SB_BYTES bytes:
 *   q     [64 column quads][8 rows][4]  uint8 levels (Q6_K's stored q, before its -32)
 *   sc    [16 sub-blocks][8 rows][2]    int16 sub-block scale, twice (Q4_K/Q5_K: first 8)
 *   corr  [8 bsum pairs][8 rows][2]     int16 factors of the Q8_K bsums: the mins (Q4_K,
 *                                       Q5_K) or -32 x the scale (Q6_K's level offset)
 *   d, dm [8 rows]                      float: d, and -dmin (Q4_K/Q5_K) or 0
 * Without vpdpbusd a token's 4 activation bytes meet a quad of 8 rows in one vpmaddubsw
 * (levels unsigned, activations signed), giving per row two int16 sums of two products.
 * GROUP_Q quads of one sub-block are added in int16 and then one vpmaddwd with the scale
 * pair makes the row's int32 sc * (sum of both halves). With activations in [-127, 127]
 * (the Q8_K quantizers clamp there) one quad's int16 is at most 2 * 127 * the top level,
 * so GROUP_Q = floor(32767 / (254 * top)): Q4_K (15) 8 quads, a whole sub-block (30480);
 * Q5_K (31) 4 (31496); Q6_K (63) 2 (32004). The results are the scalar reference's
 * integers exactly: isum = sum_j sc_j * dot(q_j, x_j), cs = dot(corr, bsums), then per
 * token d * isum + dm * cs (with mins) or d * (isum + cs) (Q6_K), one float multiply-add
 * per super-block, in the same order whatever the batch. */
#include "kernels/cpu/matmul_panels.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "quant/blocks.h"
#include "kernels/cpu/vec_dot.h"
#include "tensor/dtype.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define PANEL_ROWS 8
/* tokens per register block: 4 x (int16 sum, sub-block sum, float acc) fit the 16 ymm
 * beside the weights; 6 measured no faster (bench-bench_matmul, 2048x2048, 512 tokens) */
#define PANEL_NT 4
#define OFF_SC 2048
#define OFF_CORR (OFF_SC + 16 * 32)
#define OFF_D (OFF_CORR + 8 * 32)
#define OFF_DM (OFF_D + 32)
#define PANEL_SB_BYTES (OFF_DM + 32)
#define B32_OFF_D 256                /* the 32-weight panels' layout: see fill_panel32 */
#define B32_BYTES (B32_OFF_D + 32)
typedef __m256i panel_mask;   /* lane r stored when its sign bit is set */

#include "kernels/cpu/matmul_panels_common.inc"

/* row_block's first 11 runs of 32 bytes (levels, scales, bsum factors) transpose 8 rows at
 * a time into the panel's first 88 ymm rows; d and dm follow, copied one by one. */
_Static_assert(offsetof(row_block, d) == 11 * 32 && PANEL_SB_BYTES == 90 * 32, "row_block is the panel's transpose");

/* 8 rows of 32 bytes at p[r] + off transposed to 8 ymm: out[m] lane r = dword m of row r. */
ALWAYS_INLINE void transpose8x8(const char *const p[PANEL_ROWS], size_t off, __m256i out[8]) {
    __m256i r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_si256((const __m256i *)(p[i] + off));
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);       /* dwords 0,1 (4,5 in the high lane) */
        t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);   /* dwords 2,3 (6,7) */
    }
    for (int h = 0; h < 8; h += 4) {   /* rows h..h+3, per 128-bit lane: */
        u[h] = _mm256_unpacklo_epi64(t[h], t[h + 2]);           /* dword 0 (4) */
        u[h + 1] = _mm256_unpackhi_epi64(t[h], t[h + 2]);       /* dword 1 (5) */
        u[h + 2] = _mm256_unpacklo_epi64(t[h + 1], t[h + 3]);   /* dword 2 (6) */
        u[h + 3] = _mm256_unpackhi_epi64(t[h + 1], t[h + 3]);   /* dword 3 (7) */
    }
    for (int m = 0; m < 4; m++) {
        out[m] = _mm256_permute2x128_si256(u[m], u[4 + m], 0x20);
        out[4 + m] = _mm256_permute2x128_si256(u[m], u[4 + m], 0x31);
    }
}

/* lanes r < nr: the sign bit of r - nr */
static panel_mask mask_of(int nr) {
    return _mm256_sub_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(nr));
}

static void fill_panel(decode_fn decode, size_t block_bytes, const char *W, size_t row_bytes, int64_t r0, int nr,
                       int64_t nb, uint8_t *panel, row_block *tmp) {
    const char *rp[PANEL_ROWS];
    for (int r = 0; r < PANEL_ROWS; r++) rp[r] = (const char *)&tmp[r];
    if (nr < PANEL_ROWS) memset(tmp + nr, 0, sizeof(row_block) * (size_t)(PANEL_ROWS - nr));
    const __m256i lo16 = _mm256_set1_epi32(0xFFFF);
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *P = panel + (size_t)i * PANEL_SB_BYTES;
        for (int r = 0; r < nr; r++) decode(W + (size_t)(r0 + r) * row_bytes + (size_t)i * block_bytes, &tmp[r]);
        __m256i o[8];
        for (int c = 0; c < 8; c++) {   /* levels */
            transpose8x8(rp, 32 * (size_t)c, o);
            for (int j = 0; j < 8; j++) _mm256_store_si256((__m256i *)(P + 32 * (8 * c + j)), o[j]);
        }
        for (int c = 0; c < 2; c++) {   /* int32 scales (-128..127) -> the int16 pair (sc, sc) */
            transpose8x8(rp, offsetof(row_block, sc) + 32 * (size_t)c, o);
            for (int j = 0; j < 8; j++) {
                const __m256i lo = _mm256_and_si256(o[j], lo16);
                _mm256_store_si256((__m256i *)(P + OFF_SC + 32 * (8 * c + j)),
                                   _mm256_or_si256(lo, _mm256_slli_epi32(lo, 16)));
            }
        }
        transpose8x8(rp, offsetof(row_block, corr), o);   /* int16 pairs already */
        for (int j = 0; j < 8; j++) _mm256_store_si256((__m256i *)(P + OFF_CORR + 32 * j), o[j]);
        float *d = (float *)(P + OFF_D), *dm = (float *)(P + OFF_DM);
        for (int r = 0; r < PANEL_ROWS; r++) {
            d[r] = tmp[r].d;
            dm[r] = tmp[r].dm;
        }
    }
}

#define ACT(t, i) ((const block_q8_k *)(x + (size_t)(t) * xs) + (i))

ALWAYS_INLINE __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* nt tokens against a panel of nb super-blocks; sub_q column quads per sub-block (8 for
 * 32-wide sub-blocks, 4 for 16-wide), group_q of them summed in int16 (see the top),
 * has_min: d * isum + dm * cs, else d * (isum + cs). Writes 8 floats per token at
 * y + t * ldy (masked to the panel's real rows). */
ALWAYS_INLINE void panel_tokens(const uint8_t *panel, int64_t nb, const char *x, size_t xs, const int nt,
                                const int sub_q, const int group_q, const int has_min, float *y, int64_t ldy,
                                panel_mask rows, prefetch_plan pf) {
    __m256 acc[PANEL_NT];
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        prefetch_step(pf, i, nb);
        const uint8_t *P = panel + (size_t)i * PANEL_SB_BYTES;
        __m256i isum[PANEL_NT], s16[PANEL_NT];
        for (int t = 0; t < nt; t++) isum[t] = _mm256_setzero_si256();
        for (int s = 0; s < 64 / sub_q; s++) {
            const __m256i sc = _mm256_load_si256((const __m256i *)(P + OFF_SC + 32 * s));
            for (int g0 = 0; g0 < sub_q; g0 += group_q) {
                for (int g = 0; g < group_q; g++) {
                    const int kq = s * sub_q + g0 + g;
                    const __m256i w = _mm256_load_si256((const __m256i *)(P + 32 * kq));
                    for (int t = 0; t < nt; t++) {
                        const __m256i p = _mm256_maddubs_epi16(w, bcast4(ACT(t, i)->qs + 4 * kq));
                        s16[t] = g == 0 ? p : _mm256_add_epi16(s16[t], p);
                        /* keeps each sum in its register: otherwise GCC reassociates the
                         * adds, computes all 32 products first and spills them (Q4_K 1.13x slower) */
                        __asm__("" : "+x"(s16[t]));
                    }
                }
                for (int t = 0; t < nt; t++) isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s16[t], sc));
            }
        }
        __m256i cs[PANEL_NT];
        for (int k = 0; k < 8; k++) {
            const __m256i c = _mm256_load_si256((const __m256i *)(P + OFF_CORR + 32 * k));
            for (int t = 0; t < nt; t++) {
                int32_t bs;
                memcpy(&bs, &ACT(t, i)->bsums[2 * k], 4);
                const __m256i p = _mm256_madd_epi16(c, _mm256_set1_epi32(bs));
                cs[t] = k == 0 ? p : _mm256_add_epi32(cs[t], p);
            }
        }
        const __m256 d = _mm256_load_ps((const float *)(P + OFF_D));
        if (has_min) {
            const __m256 dm = _mm256_load_ps((const float *)(P + OFF_DM));
            for (int t = 0; t < nt; t++) {
                const __m256 f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), d,
                                                 _mm256_mul_ps(_mm256_cvtepi32_ps(cs[t]), dm));
                acc[t] = _mm256_fmadd_ps(f, _mm256_set1_ps(ACT(t, i)->d), acc[t]);
            }
        } else {
            for (int t = 0; t < nt; t++)
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(isum[t], cs[t])),
                                         _mm256_mul_ps(d, _mm256_set1_ps(ACT(t, i)->d)), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) _mm256_maskstore_ps(y + t * ldy, rows, acc[t]);
}

#define PANEL_KERNEL(name, nt, sub_q, group_q, has_min)                                                     \
    static void name(const uint8_t *panel, int64_t nb, const char *x, size_t xs, float *y, int64_t ldy,    \
                     panel_mask rows, prefetch_plan pf) {                                                   \
        panel_tokens(panel, nb, x, xs, nt, sub_q, group_q, has_min, y, ldy, rows, pf);                      \
    }
#define PANEL_KERNELS(fam, sub_q, group_q, has_min)                                                         \
    PANEL_KERNEL(fam##_1, 1, sub_q, group_q, has_min) PANEL_KERNEL(fam##_2, 2, sub_q, group_q, has_min)     \
    PANEL_KERNEL(fam##_3, 3, sub_q, group_q, has_min) PANEL_KERNEL(fam##_4, 4, sub_q, group_q, has_min)     \
    static const panel_kernel fam[PANEL_NT] = {fam##_1, fam##_2, fam##_3, fam##_4};
PANEL_KERNELS(q4k, 8, 8, 1)     /* 32-wide sub-blocks with mins, levels 0..15 */
PANEL_KERNELS(q5k, 8, 4, 1)     /* the same, levels 0..31 */
PANEL_KERNELS(q6k, 4, 2, 0)     /* 16-wide sub-blocks, levels 0..63, level offset */

static int format_of(uint32_t wtype, panel_format *f) {
    switch (wtype) {
    case INFER_TYPE_Q4_K: *f = (panel_format){decode_q4_k, sizeof(block_q4_k), q4k}; return 0;
    case INFER_TYPE_Q5_K: *f = (panel_format){decode_q5_k, sizeof(block_q5_k), q5k}; return 0;
    case INFER_TYPE_Q6_K: *f = (panel_format){decode_q6_k, sizeof(block_q6_k), q6k}; return 0;
    default: return -1;
    }
}

/* ------------------------------------------------------------ 32-weight blocks
 * Panel of one block (32 columns) of 8 rows, B32_BYTES bytes: q [8 column quads][8 rows][4]
 * int8 levels plus the format's offset, then d [8 rows] float. vpmaddubsw multiplies an
 * unsigned byte by a signed one and adds the two products of a pair with int16
 * saturation, so each format's largest int16 sum must stay <= 32767 at activations +-127
 * (the act_q8 quantizer clamps there; -128 never occurs):
 *   Q4_0   levels q - 8: stored q (0..15), offset 8. A quad (2 pairs) is at most
 *          2 * 15 * 127 = 3810, so a whole block (8 quads, 16 pairs) sums in int16 to
 *          30480; one vpmaddwd with ones per block widens it.
 *   MXFP4  doubled FP4 values -12..12: stored + 12 (0..24), offset 12. A quad is at most
 *          6096; 4 quads (8 pairs) 24384, summed in int16 and widened twice per block (all
 *          8 quads, 48768, would saturate: test_extreme_blocks' all-top blocks catch that).
 *   IQ4_NL levels -127..113, Q8_0 levels -128..127: an offset would make them 0..255 and
 *          one product alone 255 * 127 overflows a pair. Stored signed (offset 0): the
 *          multiply takes |w| (128 for -128 is fine unsigned) and the activation with w's
 *          sign (vpsignb; zero where w is 0). A quad is then at most 2 * 128 * 127 = 32512,
 *          so every quad is widened at once (a third pair, 48768, would saturate).
 * The integer dot of each block is the scalar reference's exactly; per token it becomes
 * float once: acc += float(isum) * (d * dx). */

/* 8 rows of 16 bytes (row r at p[r] + off) transposed to 4 ymm: out[m] lane r = dword m
 * of row r. Rows q and 4 + q share z[q] (one per 128-bit lane); a 4x4 dword transpose in
 * each lane lines them up. */
ALWAYS_INLINE void transpose8x4(const char *const p[PANEL_ROWS], size_t off, __m256i out[4]) {
    __m256i z[4];
    for (int q = 0; q < 4; q++)
        z[q] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p[q] + off))),
                                       _mm_loadu_si128((const __m128i *)(p[4 + q] + off)), 1);
    const __m256i t0 = _mm256_unpacklo_epi32(z[0], z[1]), t1 = _mm256_unpackhi_epi32(z[0], z[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(z[2], z[3]), t3 = _mm256_unpackhi_epi32(z[2], z[3]);
    out[0] = _mm256_unpacklo_epi64(t0, t2);
    out[1] = _mm256_unpackhi_epi64(t0, t2);
    out[2] = _mm256_unpacklo_epi64(t1, t3);
    out[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* Read straight from the weights, 8 rows at a time: nibble bytes 4m..4m+3 of a row hold
 * weights 4m..4m+3 (low nibbles) and 16+4m.. (high), i.e. quads m and m + 4; Q8_0's two
 * 16-byte halves hold quads 0..3 and 4..7. The 8 scales are read one by one. */
static void fill_panel32(const format32 *f, const char *W, size_t row_bytes, int64_t r0, int nr, int64_t nb,
                         uint8_t *panel) {
    const __m256i lo4 = _mm256_set1_epi8(0x0F), off8 = _mm256_set1_epi8((char)f->offset);
    __m256i lut = _mm256_setzero_si256();
    if (f->nibbles) lut = _mm256_add_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)f->levels)), off8);
    const char *base = W + (size_t)r0 * row_bytes;
    const char *bp[PANEL_ROWS], *rp[PANEL_ROWS];   /* rows past nr read row 0 again: their results are never stored */
    for (int r = 0; r < PANEL_ROWS; r++) {
        bp[r] = base + (r < nr ? (size_t)r * row_bytes : 0);
        rp[r] = bp[r] + f->qs_off;
    }
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *P = panel + (size_t)i * B32_BYTES;
        const size_t off = (size_t)i * f->block_bytes;
        __m256i v[4];
        if (f->nibbles) {
            transpose8x4(rp, off, v);
            for (int m = 0; m < 4; m++) {
                _mm256_store_si256((__m256i *)(P + 32 * m), _mm256_shuffle_epi8(lut, _mm256_and_si256(v[m], lo4)));
                _mm256_store_si256((__m256i *)(P + 32 * (m + 4)),
                                   _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v[m], 4), lo4)));
            }
        } else {
            for (int h = 0; h < 2; h++) {
                transpose8x4(rp, off + 16 * (size_t)h, v);
                for (int m = 0; m < 4; m++)
                    _mm256_store_si256((__m256i *)(P + 32 * (4 * h + m)), _mm256_add_epi8(v[m], off8));
            }
        }
        float *d = (float *)(P + B32_OFF_D);
        for (int r = 0; r < PANEL_ROWS; r++) {
            const uint8_t *b = (const uint8_t *)bp[r] + off;
            if (f->e8m0) {   /* 2^(e-128): e >= 2 a normal float with exponent field e - 1, else a subnormal */
                const uint32_t bits = b[0] >= 2 ? (uint32_t)(b[0] - 1) << 23 : 0x00200000u << b[0];
                memcpy(&d[r], &bits, 4);
            } else {
                uint16_t h;
                memcpy(&h, b, 2);
                d[r] = _cvtsh_ss(h);
            }
        }
    }
}

#define ACT32(t, i) ((const infer_act_q8 *)(x + (size_t)(t) * xs) + (i))

/* nt tokens against a panel of nb blocks. group_q quads summed in int16 before one
 * vpmaddwd widens them (see the top of this section); is_signed: levels stored signed,
 * multiplied as |w| times the activation with w's sign. Writes 8 floats per token at
 * y + t * ldy (masked to the panel's real rows). */
ALWAYS_INLINE void panel32_tokens(const uint8_t *panel, int64_t nb, const char *x, size_t xs, const int32_t *corr,
                                  const int nt, const int group_q, const int is_signed, float *y, int64_t ldy,
                                  panel_mask rows, prefetch_plan pf) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[PANEL_NT];
    for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        prefetch_step(pf, i, nb);
        const uint8_t *P = panel + (size_t)i * B32_BYTES;
        __m256i part[PANEL_NT], s16[PANEL_NT];
        for (int t = 0; t < nt; t++) part[t] = _mm256_set1_epi32(corr[t * nb + i]);
        for (int g0 = 0; g0 < 8; g0 += group_q) {
            for (int g = 0; g < group_q; g++) {
                const int kq = g0 + g;
                const __m256i w = _mm256_load_si256((const __m256i *)(P + 32 * kq));
                const __m256i u = is_signed ? _mm256_abs_epi8(w) : w;
                for (int t = 0; t < nt; t++) {
                    __m256i a = bcast4(ACT32(t, i)->qs + 4 * kq);
                    if (is_signed) a = _mm256_sign_epi8(a, w);
                    const __m256i p = _mm256_maddubs_epi16(u, a);
                    s16[t] = g == 0 ? p : _mm256_add_epi16(s16[t], p);
                    __asm__("" : "+x"(s16[t]));   /* as in panel_tokens: no reassociation */
                }
            }
            for (int t = 0; t < nt; t++) part[t] = _mm256_add_epi32(part[t], _mm256_madd_epi16(s16[t], ones));
        }
        const __m256 d = _mm256_load_ps((const float *)(P + B32_OFF_D));
        for (int t = 0; t < nt; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(part[t]), _mm256_mul_ps(d, _mm256_set1_ps(ACT32(t, i)->d)),
                                     acc[t]);
    }
    for (int t = 0; t < nt; t++) _mm256_maskstore_ps(y + t * ldy, rows, acc[t]);
}

#define PANEL32_KERNEL(name, nt, group_q, is_signed)                                                        \
    static void name(const uint8_t *panel, int64_t nb, const char *x, size_t xs, const int32_t *corr,      \
                     float *y, int64_t ldy, panel_mask rows, prefetch_plan pf) {                            \
        panel32_tokens(panel, nb, x, xs, corr, nt, group_q, is_signed, y, ldy, rows, pf);                   \
    }
#define PANEL32_KERNELS(fam, group_q, is_signed)                                                            \
    PANEL32_KERNEL(fam##_1, 1, group_q, is_signed) PANEL32_KERNEL(fam##_2, 2, group_q, is_signed)           \
    PANEL32_KERNEL(fam##_3, 3, group_q, is_signed) PANEL32_KERNEL(fam##_4, 4, group_q, is_signed)           \
    static const panel32_kernel fam[PANEL_NT] = {fam##_1, fam##_2, fam##_3, fam##_4};
PANEL32_KERNELS(b32_q4_0, 8, 0)    /* unsigned 0..15: the whole block in int16 */
PANEL32_KERNELS(b32_mxfp4, 4, 0)   /* unsigned 0..24: half a block */
PANEL32_KERNELS(b32_signed, 1, 1)  /* |w| <= 128: one quad */

static int format32_of(uint32_t wtype, format32 *f) {
    switch (wtype) {
    case INFER_TYPE_MXFP4: *f = (format32){sizeof(block_mxfp4), 1, 1, 1, infer_mxfp4_values, 12, b32_mxfp4}; return 0;
    case INFER_TYPE_IQ4_NL: *f = (format32){sizeof(block_iq4_nl), 2, 1, 0, infer_iq4nl_values, 0, b32_signed}; return 0;
    case INFER_TYPE_Q4_0: *f = (format32){sizeof(block_q4_0), 2, 1, 0, q4_0_levels, 8, b32_q4_0}; return 0;
    case INFER_TYPE_Q8_0: *f = (format32){sizeof(block_q8_0), 2, 0, 0, NULL, 0, b32_signed}; return 0;
    default: return -1;
    }
}

int infer_panels_avx2_rows(uint32_t wtype, const char *W, size_t row_bytes, int64_t cols, int64_t row_lo,
                           int64_t row_hi, const char *xq, size_t xs, int64_t n, float *y, int64_t ldy) {
    format32 f32;
    if (format32_of(wtype, &f32) == 0) {
        if (!infer_panels_supports(INFER_ISA_AVX2, wtype, INFER_ACT_Q8, cols)) return -1;
        if (row_hi <= row_lo || n <= 0) return 0;
        return panels32_rows(&f32, W, row_bytes, cols, row_lo, row_hi, xq, xs, n, y, ldy);
    }
    panel_format f;
    if (!infer_panels_supports(INFER_ISA_AVX2, wtype, INFER_ACT_Q8K, cols) || format_of(wtype, &f) != 0) return -1;
    if (row_hi <= row_lo || n <= 0) return 0;
    return kquant_panels_rows(&f, W, row_bytes, cols / 256, row_lo, row_hi, xq, xs, n, y, ldy);
}

#else /* built without AVX2: nothing to dispatch to */

int infer_panels_avx2_rows(uint32_t wtype, const char *W, size_t row_bytes, int64_t cols, int64_t row_lo,
                           int64_t row_hi, const char *xq, size_t xs, int64_t n, float *y, int64_t ldy) {
    (void)wtype; (void)W; (void)row_bytes; (void)cols; (void)row_lo; (void)row_hi;
    (void)xq; (void)xs; (void)n; (void)y; (void)ldy;
    return -1;
}

#endif
