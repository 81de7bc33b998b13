/* AVX-512 VNNI one-token kernels for Q8_0, MXFP4 and IQ4_NL (see gemv.h for why they exist).
 *
 * Both walk a row two 32-weight blocks at a time: one zmm holds the pair's 64 weights,
 * lanes 0-7 the integer sums of block i and lanes 8-15 those of block i+1, as the tile
 * kernels of vec_dot_avx512.c (tile_q8_0_zmm, LUT4_ZMM_BODY) do, and each row ends with
 * the same reduction, so every row's float result is bit for bit theirs.
 *
 * What differs is where the work goes:
 *  - Signed weights times signed activations: vpdpbusd wants unsigned x signed bytes.
 *    The tiles move the weight's sign onto the activation (abs + masked negate per row);
 *    here the weights are offset into unsigned range instead (Q8_0: w + 128 by flipping
 *    the top bit; MXFP4: level + 12, IQ4_NL: level + 127, straight from the lookup table) and the offset's share,
 *    off * (sum of each 4 activations), is computed once per call and subtracted. The
 *    integer lanes are exactly the tiles'.
 *  - The token's side of a block pair (its 64 bytes in one register, the correction, and
 *    its two scales spread over the lanes) is prepared once per call in a small table
 *    (192 bytes per pair, on the stack) and read by every row.
 *  - The block scales of a row are spread over the lanes without the shuffle port where
 *    possible (broadcast loads, masked blends); MXFP4's power-of-two scale is applied to
 *    the token's scale with vscalef, which rounds exactly as the tile's float product.
 *  - The weight stream is prefetched GEMV_PREFETCH bytes ahead: with one token a row is a
 *    few dozen instructions per cache line and the hardware prefetcher alone leaves the
 *    core waiting (bench/RESULTS.md, "gpt-oss-20b decode: one-token kernels"); and the
 *    rows are walked as 4 streams side by side (gemv_streams.h).
 *  - MXFP4 has a second kernel for CPUs with AVX512-VBMI (gemv_mxfp4_vbmi), chosen at
 *    run time; the same bits in fewer instructions. */
#include "kernels/cpu/gemv.h"

#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__) && defined(__F16C__)
#include <immintrin.h>
#include <string.h>
#include "kernels/cpu/gemv_streams.h"
#include "kernels/cpu/vec_dot.h"
#include "kernels/cpu/x86_hsum.h"
#include "quant/blocks.h"
#include "tensor/dtype.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
/* Bytes ahead of the current block pair; 2-6 KiB measured alike on the Xeon, 1 KiB less. */
#define GEMV_PREFETCH 3072

/* The token's side of blocks 2p and 2p+1. */
typedef struct {
    __m512i q;       /* the 64 activation bytes */
    __m512i ncorr;   /* per int32 lane: -(offset * sum of its 4 activation bytes), the
                      * accumulator vpdpbusd starts from, so the offset's share is gone
                      * without a subtraction per row (the same int32 as dot - corr) */
    __m512 d;        /* 8 x d of block 2p, then 8 x d of block 2p+1 */
} gemv_xpair;

/* Pairs prepared per stack table; longer rows take the tile kernel (matmul.c checks). */
_Static_assert(INFER_GEMV_MAX_BLOCKS % 2 == 0, "pairs");

/* An odd last block is paired with itself and its second half gets scale 0 (adds +0 to
 * lanes that never hold -0), as the MXFP4 tile does; the Q8_0 tile takes it apart. */
static void prepare_x(const infer_act_q8 *b, int64_t nb, uint8_t off, gemv_xpair *xp) {
    const __m512i offv = _mm512_set1_epi8((char)off);
    for (int64_t i = 0; i < nb; i += 2) {
        const int two = i + 1 < nb;
        const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b[i].qs)),
                                             _mm256_loadu_si256((const __m256i *)b[i + two].qs), 1);
        gemv_xpair *p = &xp[i / 2];
        p->q = q;
        p->ncorr = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_dpbusd_epi32(_mm512_setzero_si512(), offv, q));
        p->d = _mm512_insertf32x8(_mm512_set1_ps(b[i].d), _mm256_set1_ps(two ? b[i + 1].d : 0.0f), 1);
    }
}

/* ---------------------------------------------------------------- Q8_0 */

/* The 16 fp16 scales of a pair, word 0 (block i's d) in lanes 0-7 and word 17 (block
 * i+1's) in 8-15, from one masked load of the pair's first 36 bytes. */
ALWAYS_INLINE __m512 q8_0_pair_scales(const uint8_t *blk) {
    const __m512i raw = _mm512_maskz_loadu_epi8((__mmask64)0xFFFFFFFFFull, blk);
    const __m512i widx = _mm512_set_epi16(17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17, 17,
                                          17, 17, 17, 17, 17, 17, 17, 17, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i h = _mm512_permutexvar_epi16(widx, raw);
    return _mm512_cvtph_ps(_mm512_castsi512_si256(h));
}

ALWAYS_INLINE __m512 q8_0_pair(const uint8_t *blk8, const gemv_xpair *xp, __m512 acc) {
    const block_q8_0 *blk = (const block_q8_0 *)blk8;
    /* qs of block i in the low half; qs of block i+1 loaded into the high half by a
     * masked load from 32 bytes before it (a blend, not a shuffle) */
    const __m512i lo = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)blk[0].qs));
    const __m512i v = _mm512_mask_loadu_epi64(lo, 0xF0, (const uint8_t *)blk[1].qs - 32);
    const __m512i s = _mm512_dpbusd_epi32(xp->ncorr, _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80)), xp->q);
    const __m512 sc = _mm512_mul_ps(q8_0_pair_scales(blk8), xp->d);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc);
}

/* The tile's 256-bit last block of an odd count (product, no fma) and its final sum. */
ALWAYS_INLINE float q8_0_finish(__m512 acc, const block_q8_0 *last, const infer_act_q8 *bx) {
    __m256 tail = _mm256_setzero_ps();
    if (last) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)last->qs);
        const __m256i xs = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)bx->qs), v);
        const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(v, v), xs);
        tail = _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(_cvtsh_ss(last->d) * bx->d));
    }
    const __m256 f = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1));
    return infer_hsum8_ps(_mm256_add_ps(f, tail));
}

static int gemv_q8_0(int64_t nb, const void *w, size_t row_bytes, int64_t rows, const void *xq, float *y) {
    if (nb > INFER_GEMV_MAX_BLOCKS) return -1;
    _Alignas(64) gemv_xpair xp[INFER_GEMV_MAX_BLOCKS / 2];
    const infer_act_q8 *b = xq;
    prepare_x(b, nb & ~(int64_t)1, 0x80, xp);
    const int64_t np = nb / 2;
#define Q8_0_ROWS(n, a, yy)                                                                           \
    do {                                                                                              \
        __m512 acc[GEMV_STREAMS];                                                                     \
        FOR_STREAMS(s, n) acc[s] = _mm512_setzero_ps();                                              \
        for (int64_t p = 0; p < np; p++) {                                                           \
            const size_t o = (size_t)p * 2 * sizeof(block_q8_0);                                      \
            FOR_STREAMS(s, n) _mm_prefetch((const char *)a[s] + o + GEMV_PREFETCH, _MM_HINT_T0);      \
            FOR_STREAMS(s, n) acc[s] = q8_0_pair(a[s] + o, &xp[p], acc[s]);                           \
        }                                                                                             \
        FOR_STREAMS(s, n) *yy[s] = q8_0_finish(acc[s], nb & 1 ? (const block_q8_0 *)a[s] + nb - 1 : NULL, b + nb - 1); \
    } while (0)
    GEMV_WALK_ROWS(Q8_0_ROWS);
#undef Q8_0_ROWS
    return 0;
}

/* ---------------------------------------------------------------- MXFP4, IQ4_NL */

/* The (offset) levels of two 16-byte nibble runs: run q0 in 128-bit lanes 0-1, q1 in 2-3,
 * each pair's upper lane shifted by 4, so lanes hold the indices in element order (low
 * nibbles are weights 0-15, high ones 16-31) and one in-lane shuffle looks them up. */
ALWAYS_INLINE __m512i lut4_levels(const uint8_t *q0, const uint8_t *q1, __m512i lut) {
    __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)q0));
    v = _mm512_mask_broadcast_i32x4(v, 0xFF00, _mm_loadu_si128((const __m128i *)q1));
    const __m512i idx = _mm512_and_si512(_mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4)), _mm512_set1_epi8(0x0F));
    return _mm512_shuffle_epi8(lut, idx);
}

/* The row body of the 16-level lookup kernels: PAIR(row, i, two, lut, xp, acc) adds
 * blocks i and i + two (two = 0: an odd last block paired with itself, second half
 * scale 0) of a row to its accumulator. */
#define LUT4_ROWS(BLOCK, PAIR, n, a, yy)                                                               \
    do {                                                                                               \
        __m512 acc[GEMV_STREAMS];                                                                      \
        FOR_STREAMS(s, n) acc[s] = _mm512_setzero_ps();                                               \
        for (int64_t p = 0; p < np; p++) {                                                            \
            const int64_t i = 2 * p;                                                                   \
            const int two = i + 1 < nb;                                                                \
            FOR_STREAMS(s, n) _mm_prefetch((const char *)((const BLOCK *)a[s] + i) + GEMV_PREFETCH, _MM_HINT_T0); \
            FOR_STREAMS(s, n) acc[s] = PAIR((const BLOCK *)a[s], i, two, lut, &xp[p], acc[s]);         \
        }                                                                                              \
        FOR_STREAMS(s, n) *yy[s] = _mm512_reduce_add_ps(acc[s]);                                       \
    } while (0)

/* IQ4_NL pair p of a row: levels + 127 (unsigned); fp16 block scales d (word 0 of each
 * 18-byte block) times the token's, as the tile's float product. An odd last block pairs
 * with itself, its second half's scale 0 (the tile's 0.0f), read without touching the
 * next block. */
ALWAYS_INLINE __m512 iq4_nl_pair(const block_iq4_nl *a, int64_t i, int two, __m512i lut, const gemv_xpair *xp, __m512 acc) {
    const __m512i widx = _mm512_set_epi16(9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
                                          9, 9, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i lv = lut4_levels(a[i].qs, a[i + two].qs, lut);
    const __m512i raw = _mm512_maskz_loadu_epi8(two ? (__mmask64)0xFFFFF : (__mmask64)0x3FFFF, a + i);
    const __m512i h = _mm512_maskz_permutexvar_epi16(two ? 0xFFFF : 0x00FF, widx, raw);
    const __m512 sc = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(h)), xp->d);
    const __m512i s = _mm512_dpbusd_epi32(xp->ncorr, lv, xp->q);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc);
}

static int gemv_iq4_nl(int64_t nb, const void *w, size_t row_bytes, int64_t rows, const void *xq, float *y) {
    if (nb > INFER_GEMV_MAX_BLOCKS) return -1;
    _Alignas(64) gemv_xpair xp[INFER_GEMV_MAX_BLOCKS / 2];
    prepare_x(xq, nb, 127, xp);
    __m128i lut16 = _mm_loadu_si128((const __m128i *)infer_iq4nl_values);
    lut16 = _mm_add_epi8(lut16, _mm_set1_epi8(127));
    const __m512i lut = _mm512_broadcast_i32x4(lut16);
    const int64_t np = (nb + 1) / 2;
#define IQ4_NL_ROWS(n, a, yy) LUT4_ROWS(block_iq4_nl, iq4_nl_pair, n, a, yy)
    GEMV_WALK_ROWS(IQ4_NL_ROWS);
#undef IQ4_NL_ROWS
    return 0;
}

/* MXFP4 pair p of a row without VBMI: levels + 12; E8M0 scales applied to the token's
 * with vscalef. */
ALWAYS_INLINE __m512 mxfp4_pair(const block_mxfp4 *a, int64_t i, int two, __m512i lut, const gemv_xpair *xp, __m512 acc) {
    const int64_t i1 = i + two;
    const __m512i lv = lut4_levels(a[i].qs, a[i1].qs, lut);
    /* exponents: the dword at each block's start, block i1's blended into lanes 8-15 */
    int32_t e0, e1;
    memcpy(&e0, &a[i], 4);
    memcpy(&e1, &a[i1], 4);
    __m512i e = _mm512_mask_set1_epi32(_mm512_set1_epi32(e0), 0xFF00, e1);
    e = _mm512_and_si512(e, _mm512_set1_epi32(0xFF));
    /* d * 2^(e-128): the tile's e8m0_half(e) * d, rounded once the same way */
    const __m512 sc = _mm512_scalef_ps(xp->d, _mm512_sub_ps(_mm512_cvtepi32_ps(e), _mm512_set1_ps(128.0f)));
    const __m512i s = _mm512_dpbusd_epi32(xp->ncorr, lv, xp->q);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc);
}

static int gemv_mxfp4(int64_t nb, const void *w, size_t row_bytes, int64_t rows, const void *xq, float *y) {
    if (nb > INFER_GEMV_MAX_BLOCKS) return -1;
    _Alignas(64) gemv_xpair xp[INFER_GEMV_MAX_BLOCKS / 2];
    prepare_x(xq, nb, 12, xp);
    /* FP4 E2M1 values doubled, plus 12 (so unsigned), in all four 128-bit lanes */
    const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
    const int64_t np = (nb + 1) / 2;
#define MXFP4_ROWS(n, a, yy) LUT4_ROWS(block_mxfp4, mxfp4_pair, n, a, yy)
    GEMV_WALK_ROWS(MXFP4_ROWS);
#undef MXFP4_ROWS
    return 0;
}

/* MXFP4 where the CPU has AVX512-VBMI (byte permutes across the whole register; Ice Lake
 * and later, not Skylake/Cascade Lake). Same integer lanes, scales and order of float
 * operations as gemv_mxfp4 above, in 9 vector operations per block pair instead of 13:
 *  - one 64-byte load covers the pair's 34 bytes (exponent and 16 nibble bytes, twice);
 *    one vpermb lines the nibble runs up as lut4_levels does (block i in 128-bit lanes
 *    0-1, block i+1 in 2-3), one shift moves the high nibbles down in lanes 1 and 3;
 *  - the levels come from a vpermb over 4 copies of the 16-entry table: it reads only
 *    index bits 0-5, and bits 4-5 pick one of the identical copies, so the nibble's
 *    neighbour bits need no mask;
 *  - a merge-masked vpermb drops each block's exponent byte e into the low byte of
 *    0x4B000000 (the float 2^23 + e), and one subtraction gives e - 128 exactly, the
 *    exponent vscalef takes. */
#define VBMI_FN __attribute__((target("avx512vbmi")))

typedef struct {
    __m512i lut, idx_q, idx_e, shift, magic;
    __m512 bias;
} mxfp4_vbmi_consts;

VBMI_FN ALWAYS_INLINE __m512 mxfp4_vbmi_pair(const mxfp4_vbmi_consts *c, __m512i raw, const gemv_xpair *xp, __m512 acc) {
    const __m512i nib = _mm512_srlv_epi64(_mm512_permutexvar_epi8(c->idx_q, raw), c->shift);
    const __m512i lv = _mm512_permutexvar_epi8(nib, c->lut);
    const __m512 ef = _mm512_sub_ps(_mm512_castsi512_ps(_mm512_mask_permutexvar_epi8(c->magic, (__mmask64)0x1111111111111111ull,
                                                                                     c->idx_e, raw)),
                                    c->bias);
    const __m512 sc = _mm512_scalef_ps(xp->d, ef);
    const __m512i s = _mm512_dpbusd_epi32(xp->ncorr, lv, xp->q);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, acc);
}

VBMI_FN static int gemv_mxfp4_vbmi(int64_t nb, const void *w, size_t row_bytes, int64_t rows, const void *xq, float *y) {
    if (nb > INFER_GEMV_MAX_BLOCKS) return -1;
    _Alignas(64) gemv_xpair xp[INFER_GEMV_MAX_BLOCKS / 2];
    prepare_x(xq, nb, 12, xp);
    _Alignas(64) uint8_t iq[64], ie[64];
    for (int j = 0; j < 64; j++) {
        iq[j] = (uint8_t)((j < 32 ? 1 : 18) + j % 16);   /* qs of block i, i, i+1, i+1 */
        ie[j] = (uint8_t)(j < 32 ? 0 : 17);              /* e of block i (dwords 0-7), i+1 (8-15) */
    }
    const mxfp4_vbmi_consts c = {
        .lut = _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0)),
        .idx_q = _mm512_load_si512(iq), .idx_e = _mm512_load_si512(ie),
        .shift = _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4), .magic = _mm512_set1_epi32(0x4B000000),
        .bias = _mm512_set1_ps(8388608.0f + 128.0f),
    };
    const int64_t np = (nb + 1) / 2;
    /* pairs whose 64-byte load stays inside the row's nb * 17 bytes: 2p + 4 <= nb; the
     * last one or two pairs take a load that stops at the row's end (a lone last block's
     * second half reads zeros and has scale 0) */
    const int64_t np_full = nb >= 4 ? (nb - 4) / 2 + 1 : 0;
#define MXFP4_VBMI_ROWS(n, a, yy)                                                                      \
    do {                                                                                               \
        __m512 acc[GEMV_STREAMS];                                                                      \
        FOR_STREAMS(s, n) acc[s] = _mm512_setzero_ps();                                               \
        int64_t p = 0;                                                                                 \
        for (; p < np_full; p++) {                                                                     \
            const size_t o = (size_t)p * 2 * sizeof(block_mxfp4);                                      \
            FOR_STREAMS(s, n) _mm_prefetch((const char *)a[s] + o + GEMV_PREFETCH, _MM_HINT_T0);       \
            FOR_STREAMS(s, n) acc[s] = mxfp4_vbmi_pair(&c, _mm512_loadu_si512(a[s] + o), &xp[p], acc[s]); \
        }                                                                                              \
        for (; p < np; p++) {                                                                          \
            const size_t o = (size_t)p * 2 * sizeof(block_mxfp4);                                      \
            const __mmask64 m = nb - 2 * p >= 2 ? (__mmask64)0x3FFFFFFFFull : (__mmask64)0x1FFFFull;  \
            FOR_STREAMS(s, n) acc[s] = mxfp4_vbmi_pair(&c, _mm512_maskz_loadu_epi8(m, a[s] + o), &xp[p], acc[s]); \
        }                                                                                              \
        FOR_STREAMS(s, n) *yy[s] = _mm512_reduce_add_ps(acc[s]);                                       \
    } while (0)
    GEMV_WALK_ROWS(MXFP4_VBMI_ROWS);
#undef MXFP4_VBMI_ROWS
    return 0;
}

infer_dot_rows_fn infer_gemv_avx512_variant(uint32_t wtype, int vbmi) {
    switch (wtype) {
    case INFER_TYPE_Q8_0: return gemv_q8_0;
    case INFER_TYPE_MXFP4: return vbmi ? gemv_mxfp4_vbmi : gemv_mxfp4;
    case INFER_TYPE_IQ4_NL: return gemv_iq4_nl;
    default: return NULL;
    }
}

infer_dot_rows_fn infer_gemv_avx512(uint32_t wtype) {
    return infer_gemv_avx512_variant(wtype, __builtin_cpu_supports("avx512vbmi"));
}

#else
infer_dot_rows_fn infer_gemv_avx512_variant(uint32_t wtype, int vbmi) {
    (void)wtype;
    (void)vbmi;
    return NULL;
}
infer_dot_rows_fn infer_gemv_avx512(uint32_t wtype) {
    (void)wtype;
    return NULL;
}
#endif
