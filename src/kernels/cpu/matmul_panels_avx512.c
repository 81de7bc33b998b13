/* AVX-512 VNNI panel matmul, 16 rows, K-quants and 32-weight formats (see matmul_panels.h
 * for the why).
 *
 * Panel of one super-block (256 columns) of 16 rows, PANEL_SB_BYTES bytes:
 *   q     [64 column quads][16 rows][4]  uint8 levels (Q6_K's stored q, before its -32)
 *   sc    [16 sub-blocks][16 rows]       int32 sub-block scales (Q4_K/Q5_K use the first 8)
 *   corr  [8 bsum pairs][16 rows][2]     int16 factors of the Q8_K bsums: the mins (Q4_K,
 *                                        Q5_K) or -32 x the scale (Q6_K's level offset)
 *   d, dm [16 rows]                      float: d, and -dmin (Q4_K/Q5_K) or 0
 * A token's per-row result for one super-block is d * isum + dm * cs (with mins) or
 * d * (isum + cs) (Q6_K), isum = sum_j sc_j * dot(q_j, x_j) and cs = dot(corr, bsums): the
 * scalar reference's integers exactly. */
#include "kernels/cpu/matmul_panels.h"

#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512F__) && defined(__F16C__)
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#include "quant/blocks.h"
#include "kernels/cpu/vec_dot.h"
#include "tensor/dtype.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define PANEL_ROWS 16
#define PANEL_NT 8            /* tokens per register block: 8 x (sub-block sum, block sum, float acc) */
#define OFF_SC 4096
#define OFF_CORR (OFF_SC + 16 * 64)
#define OFF_D (OFF_CORR + 8 * 64)
#define OFF_DM (OFF_D + 64)
#define PANEL_SB_BYTES (OFF_DM + 64)
#define B32_OFF_D 512                /* the 32-weight panels' layout: see fill_panel32 */
#define B32_BYTES (B32_OFF_D + 64)
typedef __mmask16 panel_mask;

#include "kernels/cpu/matmul_panels_common.inc"

/* row_block is 23 runs of 16 bytes, whose dwords 16 rows at a time become the panel's
 * 90 zmm rows (the last run's pad excepted): the panel is this struct transposed */
_Static_assert(sizeof(row_block) == 23 * 16 && PANEL_SB_BYTES == 90 * 64, "row_block is the panel's transpose");

/* 16 rows of 16 bytes (row r at p[r]) transposed to 4 zmm: out[m] lane r = dword m of row
 * r. Loads put rows q, 4+q, 8+q, 12+q in the 128-bit lanes of z[q]; a 4x4 dword transpose
 * inside each lane then lines up lane 4L + q = row. (Gathers do the same in one
 * instruction but run several times slower here.) */
ALWAYS_INLINE void transpose16x4(const char *const p[PANEL_ROWS], size_t off, __m512i out[4]) {
    __m512i z[4];
    for (int q = 0; q < 4; q++) {
        z[q] = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p[q] + off)));
        z[q] = _mm512_inserti32x4(z[q], _mm_loadu_si128((const __m128i *)(p[4 + q] + off)), 1);
        z[q] = _mm512_inserti32x4(z[q], _mm_loadu_si128((const __m128i *)(p[8 + q] + off)), 2);
        z[q] = _mm512_inserti32x4(z[q], _mm_loadu_si128((const __m128i *)(p[12 + q] + off)), 3);
    }
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    out[0] = _mm512_unpacklo_epi64(t0, t2);
    out[1] = _mm512_unpackhi_epi64(t0, t2);
    out[2] = _mm512_unpacklo_epi64(t1, t3);
    out[3] = _mm512_unpackhi_epi64(t1, t3);
}

static panel_mask mask_of(int nr) { return (__mmask16)((1u << nr) - 1u); }

static void fill_panel(decode_fn decode, size_t block_bytes, const char *W, size_t row_bytes, int64_t r0, int nr,
                       int64_t nb, uint8_t *panel, row_block *tmp) {
    const char *rp[PANEL_ROWS];
    for (int r = 0; r < PANEL_ROWS; r++) rp[r] = (const char *)&tmp[r];
    if (nr < PANEL_ROWS) memset(tmp + nr, 0, sizeof(row_block) * (size_t)(PANEL_ROWS - nr));
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *P = panel + (size_t)i * PANEL_SB_BYTES;
        for (int r = 0; r < nr; r++) decode(W + (size_t)(r0 + r) * row_bytes + (size_t)i * block_bytes, &tmp[r]);
        __m512i o[4];
        for (int c = 0; c < 22; c++) {
            transpose16x4(rp, 16 * (size_t)c, o);
            for (int j = 0; j < 4; j++) _mm512_store_si512(P + 64 * (4 * c + j), o[j]);
        }
        transpose16x4(rp, 16 * 22, o);   /* d, dm (and the pad, dropped) */
        _mm512_store_si512(P + OFF_D, o[0]);
        _mm512_store_si512(P + OFF_DM, o[1]);
    }
}
#define ACT(t, i) ((const block_q8_k *)(x + (size_t)(t) * xs) + (i))

/* nt tokens against a panel of nb super-blocks; sub_q column quads per sub-block (8 for
 * 32-wide sub-blocks, 4 for 16-wide), has_min: d * isum + dm * cs, else d * (isum + cs).
 * Writes 16 floats per token at y + t * ldy (masked to the panel's real rows). */
ALWAYS_INLINE void panel_tokens(const uint8_t *panel, int64_t nb, const char *x, size_t xs, const int nt,
                                const int sub_q, const int has_min, float *y, int64_t ldy, __mmask16 rows,
                                prefetch_plan pf) {
    __m512 acc[PANEL_NT];
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        prefetch_step(pf, i, nb);
        const uint8_t *P = panel + (size_t)i * PANEL_SB_BYTES;
        __m512i isum[PANEL_NT], part[PANEL_NT];
        for (int t = 0; t < nt; t++) isum[t] = _mm512_setzero_si512();
        for (int s = 0; s < 64 / sub_q; s++) {
            for (int t = 0; t < nt; t++) part[t] = _mm512_setzero_si512();
            for (int g = 0; g < sub_q; g++) {
                const int kq = s * sub_q + g;
                const __m512i w = _mm512_load_si512(P + 64 * kq);
                for (int t = 0; t < nt; t++) {
                    int32_t xv;
                    memcpy(&xv, ACT(t, i)->qs + 4 * kq, 4);
                    part[t] = _mm512_dpbusd_epi32(part[t], w, _mm512_set1_epi32(xv));
                }
            }
            const __m512i sc = _mm512_load_si512(P + OFF_SC + 64 * s);
            for (int t = 0; t < nt; t++) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(part[t], sc));
        }
        for (int t = 0; t < nt; t++) part[t] = _mm512_setzero_si512();
        for (int k = 0; k < 8; k++) {
            const __m512i c = _mm512_load_si512(P + OFF_CORR + 64 * k);
            for (int t = 0; t < nt; t++) {
                int32_t bs;
                memcpy(&bs, &ACT(t, i)->bsums[2 * k], 4);
                part[t] = _mm512_dpwssd_epi32(part[t], c, _mm512_set1_epi32(bs));
            }
        }
        const __m512 d = _mm512_load_ps(P + OFF_D);
        if (has_min) {
            const __m512 dm = _mm512_load_ps(P + OFF_DM);
            for (int t = 0; t < nt; t++) {
                const __m512 f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), d,
                                                 _mm512_mul_ps(_mm512_cvtepi32_ps(part[t]), dm));
                acc[t] = _mm512_fmadd_ps(f, _mm512_set1_ps(ACT(t, i)->d), acc[t]);
            }
        } else {
            for (int t = 0; t < nt; t++)
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(isum[t], part[t])),
                                         _mm512_mul_ps(d, _mm512_set1_ps(ACT(t, i)->d)), acc[t]);
        }
    }
    for (int t = 0; t < nt; t++) _mm512_mask_storeu_ps(y + t * ldy, rows, acc[t]);
}

#define PANEL_KERNEL(name, nt, sub_q, has_min)                                                              \
    static void name(const uint8_t *panel, int64_t nb, const char *x, size_t xs, float *y, int64_t ldy,    \
                     __mmask16 rows, prefetch_plan pf) {                                                    \
        panel_tokens(panel, nb, x, xs, nt, sub_q, has_min, y, ldy, rows, pf);                               \
    }
#define PANEL_KERNELS(fam, sub_q, has_min)                                                                  \
    PANEL_KERNEL(fam##_1, 1, sub_q, has_min) PANEL_KERNEL(fam##_2, 2, sub_q, has_min)                       \
    PANEL_KERNEL(fam##_3, 3, sub_q, has_min) PANEL_KERNEL(fam##_4, 4, sub_q, has_min)                       \
    PANEL_KERNEL(fam##_5, 5, sub_q, has_min) PANEL_KERNEL(fam##_6, 6, sub_q, has_min)                       \
    PANEL_KERNEL(fam##_7, 7, sub_q, has_min) PANEL_KERNEL(fam##_8, 8, sub_q, has_min)                       \
    static const panel_kernel fam[PANEL_NT] = {fam##_1, fam##_2, fam##_3, fam##_4,                          \
                                               fam##_5, fam##_6, fam##_7, fam##_8};
PANEL_KERNELS(kmin32, 8, 1)     /* Q4_K, Q5_K: 32-wide sub-blocks with mins */
PANEL_KERNELS(koff16, 4, 0)     /* Q6_K: 16-wide sub-blocks, level offset */

static int format_of(uint32_t wtype, panel_format *f) {
    switch (wtype) {
    case INFER_TYPE_Q4_K: *f = (panel_format){decode_q4_k, sizeof(block_q4_k), kmin32}; return 0;
    case INFER_TYPE_Q5_K: *f = (panel_format){decode_q5_k, sizeof(block_q5_k), kmin32}; return 0;
    case INFER_TYPE_Q6_K: *f = (panel_format){decode_q6_k, sizeof(block_q6_k), koff16}; return 0;
    default: return -1;
    }
}

/* ------------------------------------------------------------ 32-weight blocks
 * Panel of one block (32 columns) of 16 rows, B32_BYTES bytes: q [8 column quads][16 rows]
 * [4] = level + 128 as uint8 (vpdpbusd wants one unsigned operand; format32.offset is 128
 * for every format here), then d [16 rows] float. Against infer_act_q8 rows: dot(q + 128,
 * x) - 128 * sum(x) = dot(q, x) exactly (matmul_panels_common.inc). */

/* The panel of rows r0..r0+nr (the rest hold don't-care values whose results are never
 * stored) x nb blocks, read straight from the weights and transposed 16 rows at a time:
 * nibble bytes 4m..4m+3 of a row hold weights 4m..4m+3 (low nibbles) and 16+4m.. (high),
 * i.e. quads m and m + 4. The scales take one gather per block. */
static void fill_panel32(const format32 *f, const char *W, size_t row_bytes, int64_t r0, int nr, int64_t nb,
                         uint8_t *panel) {
    const __mmask16 rows = (__mmask16)((1u << nr) - 1u);
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)row_bytes));
    const __m512i lo4 = _mm512_set1_epi8(0x0F), bias = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    __m512i lut = zero;
    if (f->nibbles)
        lut = _mm512_broadcast_i32x4(_mm_xor_si128(_mm_loadu_si128((const __m128i *)f->levels), _mm_set1_epi8((char)0x80)));
    const char *base = W + (size_t)r0 * row_bytes;
    const char *rp[PANEL_ROWS];   /* rows past nr read row 0 again: their results are never stored */
    for (int r = 0; r < PANEL_ROWS; r++) rp[r] = base + (r < nr ? (size_t)r * row_bytes : 0) + (size_t)f->qs_off;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *P = panel + (size_t)i * B32_BYTES;
        const size_t off = (size_t)i * f->block_bytes;
        __m512i v[4];
        if (f->nibbles) {
            transpose16x4(rp, off, v);
            for (int m = 0; m < 4; m++) {
                _mm512_store_si512(P + 64 * m, _mm512_shuffle_epi8(lut, _mm512_and_si512(v[m], lo4)));
                _mm512_store_si512(P + 64 * (m + 4),
                                   _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(v[m], 4), lo4)));
            }
        } else {
            for (int h = 0; h < 2; h++) {
                transpose16x4(rp, off + 16 * (size_t)h, v);
                for (int m = 0; m < 4; m++) _mm512_store_si512(P + 64 * (4 * h + m), _mm512_xor_si512(v[m], bias));
            }
        }
        const __m512i s = _mm512_mask_i32gather_epi32(zero, rows, idx, base + off, 1);
        __m512 d;
        if (f->e8m0) {   /* 2^(e-128): e >= 2 a normal float with exponent field e - 1, else a subnormal */
            const __m512i e = _mm512_and_si512(s, _mm512_set1_epi32(0xFF));
            const __m512i normal = _mm512_slli_epi32(_mm512_sub_epi32(e, _mm512_set1_epi32(1)), 23);
            const __m512i sub = _mm512_sllv_epi32(_mm512_set1_epi32(0x00200000), e);
            d = _mm512_castsi512_ps(_mm512_mask_blend_epi32(_mm512_cmplt_epi32_mask(e, _mm512_set1_epi32(2)), normal, sub));
        } else {
            d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_and_si512(s, _mm512_set1_epi32(0xFFFF))));
        }
        _mm512_store_ps(P + B32_OFF_D, d);
    }
}

#define ACT32(t, i) ((const infer_act_q8 *)(x + (size_t)(t) * xs) + (i))

ALWAYS_INLINE void panel32_tokens(const uint8_t *panel, int64_t nb, const char *x, size_t xs, const int32_t *corr,
                                  const int nt, float *y, int64_t ldy, __mmask16 rows, prefetch_plan pf) {
    __m512 acc[PANEL_NT];
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        prefetch_step(pf, i, nb);
        const uint8_t *P = panel + (size_t)i * B32_BYTES;
        __m512i part[PANEL_NT];
        for (int t = 0; t < nt; t++) part[t] = _mm512_set1_epi32(corr[t * nb + i]);
        for (int kq = 0; kq < 8; kq++) {
            const __m512i w = _mm512_load_si512(P + 64 * kq);
            for (int t = 0; t < nt; t++) {
                int32_t xv;
                memcpy(&xv, ACT32(t, i)->qs + 4 * kq, 4);
                part[t] = _mm512_dpbusd_epi32(part[t], w, _mm512_set1_epi32(xv));
            }
        }
        const __m512 d = _mm512_load_ps(P + B32_OFF_D);
        for (int t = 0; t < nt; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(part[t]), _mm512_mul_ps(d, _mm512_set1_ps(ACT32(t, i)->d)), acc[t]);
    }
    for (int t = 0; t < nt; t++) _mm512_mask_storeu_ps(y + t * ldy, rows, acc[t]);
}

#define PANEL32_KERNEL(nt)                                                                                  \
    static void panel32_##nt(const uint8_t *panel, int64_t nb, const char *x, size_t xs, const int32_t *corr, \
                             float *y, int64_t ldy, __mmask16 rows, prefetch_plan pf) {                     \
        panel32_tokens(panel, nb, x, xs, corr, nt, y, ldy, rows, pf);                                       \
    }
PANEL32_KERNEL(1) PANEL32_KERNEL(2) PANEL32_KERNEL(3) PANEL32_KERNEL(4)
PANEL32_KERNEL(5) PANEL32_KERNEL(6) PANEL32_KERNEL(7) PANEL32_KERNEL(8)
static const panel32_kernel panel32[PANEL_NT] = {panel32_1, panel32_2, panel32_3, panel32_4,
                                                 panel32_5, panel32_6, panel32_7, panel32_8};

static int format32_of(uint32_t wtype, format32 *f) {
    switch (wtype) {
    case INFER_TYPE_MXFP4: *f = (format32){sizeof(block_mxfp4), 1, 1, 1, infer_mxfp4_values, 128, panel32}; return 0;
    case INFER_TYPE_IQ4_NL: *f = (format32){sizeof(block_iq4_nl), 2, 1, 0, infer_iq4nl_values, 128, panel32}; return 0;
    case INFER_TYPE_Q4_0: *f = (format32){sizeof(block_q4_0), 2, 1, 0, q4_0_levels, 128, panel32}; return 0;
    case INFER_TYPE_Q8_0: *f = (format32){sizeof(block_q8_0), 2, 0, 0, NULL, 128, panel32}; return 0;
    default: return -1;
    }
}

int infer_panels_avx512_rows(uint32_t wtype, const char *W, size_t row_bytes, int64_t cols, int64_t row_lo,
                             int64_t row_hi, const char *xq, size_t xs, int64_t n, float *y, int64_t ldy) {
    /* gather offsets of 16 rows are int32 */
    if (row_bytes > (size_t)INT32_MAX / PANEL_ROWS) return -1;
    format32 f32;
    if (format32_of(wtype, &f32) == 0) {
        if (!infer_panels_supports(INFER_ISA_AVX512, wtype, INFER_ACT_Q8, cols)) return -1;
        if (row_hi <= row_lo || n <= 0) return 0;
        return panels32_rows(&f32, W, row_bytes, cols, row_lo, row_hi, xq, xs, n, y, ldy);
    }
    panel_format f;
    if (!infer_panels_supports(INFER_ISA_AVX512, wtype, INFER_ACT_Q8K, cols) || format_of(wtype, &f) != 0) return -1;
    if (row_hi <= row_lo || n <= 0) return 0;
    return kquant_panels_rows(&f, W, row_bytes, cols / 256, row_lo, row_hi, xq, xs, n, y, ldy);
}

#else /* built without AVX-512 VNNI: nothing to dispatch to */

int infer_panels_avx512_rows(uint32_t wtype, const char *W, size_t row_bytes, int64_t cols, int64_t row_lo,
                             int64_t row_hi, const char *xq, size_t xs, int64_t n, float *y, int64_t ldy) {
    (void)wtype; (void)W; (void)row_bytes; (void)cols; (void)row_lo; (void)row_hi;
    (void)xq; (void)xs; (void)n; (void)y; (void)ldy;
    return -1;
}

#endif
