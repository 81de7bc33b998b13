/* AMX-INT8 tiles for the prompt matmul (see matmul_amx.h). Compiled with
 * -mamx-tile -mamx-int8 and AVX-512 flags (CMakeLists' INFER_ISA_FLAGS_amx); without
 * them the entry points report "unsupported". The per-format decoders live in
 * tile_decode_amx.c; this file is the one driver they all feed.
 *
 * Shapes, per 16-row group and 256-column unit u:
 *   A tile  (tokens):  16 rows (tokens) x K int8         = the act rows' int8, stride xs
 *   B tile  (weights): K/4 rows x 64 bytes, VNNI order:   B[k/4][r*4 + k%4] = w[r][k]
 *   C tile  (int32):   16 tokens x 16 weight rows
 *
 * K-quants (Q8_K acts): the decoder gives each weight times its integer sub-block scale
 * (sc * q, up to 14 bits), split as 128 * hi + lo with lo in [0,127]; one tile product
 * per part over K = 64 accumulates the super-block's isum = sum_j sc_j * dot_j exactly
 * in the tile (no per-sub-block epilogue). msum = sum_j m_j * sum(x_j) comes from a
 * third tile of each column's sub-block min, or, for mins per 32 columns (Q4_K, Q5_K),
 * from Q8_K's bsums with four VNNI word products per token in the epilogue: that takes
 * a third of Q4_K's tile products away, and the epilogue runs while the tile unit
 * multiplies the next unit. One float epilogue per super-block follows.
 * 32-weight formats (act Q8): one tile product per block (K = 32) and a float epilogue
 * with the block's scales, as the reference. */
#include "kernels/cpu/matmul_amx.h"

#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/tile_decode.h"
#include "quant/blocks.h"
#include "tensor/dtype.h"

#if defined(__AMX_TILE__) && defined(__AMX_INT8__) && defined(__AVX512F__)
#include <immintrin.h>

#define UNIT 256         /* columns decoded per step: one K-quant super-block, 8 blocks of 32 */
#define GROUP 16         /* weight rows per tile */
#define TOK 16           /* tokens per tile */
#define B32_PER_UNIT (UNIT / 32)
#define Y_SLAB_BYTES (256 * 1024)   /* outputs kept hot while all units pass over them */
#define X_UNIT_MAX (B32_PER_UNIT * sizeof(infer_act_q8))   /* act bytes per unit, the larger kind */
#define Y_STREAM_BYTES ((size_t)8 << 20)   /* outputs at least this large bypass the caches */
#define SPAN 4           /* units multiplied per pass over y */
#define TAIL_BYTES (TOK * SPAN * X_UNIT_MAX)
_Static_assert(sizeof(block_q8_k) <= X_UNIT_MAX, "tail buffer fits a Q8_K unit");

/* One unit of 16 decoded weight rows, B tiles in VNNI order. */
typedef struct {
    int8_t lo[UNIT / 4][64];   /* K-quants: low 7 bits of sc*q (all of it when it fits int8);
                                * 32-weight formats: the weights, block j in rows [8j, 8j+8) */
    int8_t hi[UNIT / 4][64];   /* K-quants whose sc*q leaves int8: sc*q >> 7 */
    int8_t mn[UNIT / 4][64];   /* K-quants with mins per 16 columns: each column's sub-block min */
    int32_t mw[4][GROUP];      /* min32: the int16 pair (m_2p, m_2p+1) of each row, p = 0..3 */
    float d[GROUP], dmin[GROUP];                   /* K-quants */
    float dsub[B32_PER_UNIT][GROUP], msub[B32_PER_UNIT][GROUP];   /* 32-weight formats */
} amx_unit;

/* VNNI order is a transpose of 4-byte groups: dword q of row r (columns 4q..4q+3) goes to
 * B row q, dword r. Done per 64 columns as a 16x16 dword transpose. */
static void to_vnni(int8_t plain[GROUP][UNIT], int8_t b[UNIT / 4][64], int chunks) {
    for (int c = 0; c < chunks; c++) {
        __m512i r[16], t[16];
        for (int i = 0; i < 16; i++) r[i] = _mm512_load_si512(&plain[i][64 * c]);
        for (int i = 0; i < 8; i++) {   /* per 128-bit lane: (a0 b0 a1 b1), (a2 b2 a3 b3) */
            t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
        }
        for (int g = 0; g < 4; g++) {   /* rows 4g..4g+3: element i of each lane in u[g][i] */
            r[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
            r[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
            r[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
            r[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
        }
        for (int i = 0; i < 4; i++) {   /* gather lane L of the four row groups: column 4L+i */
            const __m512i a01lo = _mm512_shuffle_i32x4(r[i], r[4 + i], _MM_SHUFFLE(1, 0, 1, 0));
            const __m512i a23lo = _mm512_shuffle_i32x4(r[8 + i], r[12 + i], _MM_SHUFFLE(1, 0, 1, 0));
            const __m512i a01hi = _mm512_shuffle_i32x4(r[i], r[4 + i], _MM_SHUFFLE(3, 2, 3, 2));
            const __m512i a23hi = _mm512_shuffle_i32x4(r[8 + i], r[12 + i], _MM_SHUFFLE(3, 2, 3, 2));
            _mm512_store_si512(b[16 * c + 0 + i], _mm512_shuffle_i32x4(a01lo, a23lo, _MM_SHUFFLE(2, 0, 2, 0)));
            _mm512_store_si512(b[16 * c + 4 + i], _mm512_shuffle_i32x4(a01lo, a23lo, _MM_SHUFFLE(3, 1, 3, 1)));
            _mm512_store_si512(b[16 * c + 8 + i], _mm512_shuffle_i32x4(a01hi, a23hi, _MM_SHUFFLE(2, 0, 2, 0)));
            _mm512_store_si512(b[16 * c + 12 + i], _mm512_shuffle_i32x4(a01hi, a23hi, _MM_SHUFFLE(3, 1, 3, 1)));
        }
    }
}

/* Decodes super-block `ui` of rows [r0, r0+nr) into u; rows past nr are zeros. */
static void decode_unit_k(const amx_weight_format *f, const char *W, size_t row_bytes, int64_t r0, int nr,
                          int64_t ui, amx_unit *u) {
    int8_t lo[GROUP][UNIT] __attribute__((aligned(64))), hi[GROUP][UNIT] __attribute__((aligned(64)));
    int8_t mn16[GROUP][16];
    amx_kblock kb __attribute__((aligned(64)));
    for (int lr = 0; lr < GROUP; lr++) {
        if (lr >= nr) {
            memset(lo[lr], 0, UNIT);
            memset(hi[lr], 0, UNIT);
            memset(mn16[lr], 0, 16);
            u->d[lr] = u->dmin[lr] = 0;
            continue;
        }
        f->decode_k(W + (size_t)(r0 + lr) * row_bytes + (size_t)ui * f->block_bytes, &kb);
        u->d[lr] = kb.d;
        u->dmin[lr] = kb.dmin;
        memcpy(mn16[lr], kb.mn16, 16);
        for (int i = 0; i < UNIT; i += 32) {
            const __m512i v = _mm512_loadu_si512(&kb.w[i]);
            if (f->wide) {
                _mm256_store_si256((__m256i *)&lo[lr][i], _mm512_cvtepi16_epi8(_mm512_and_si512(v, _mm512_set1_epi16(0x7F))));
                _mm256_store_si256((__m256i *)&hi[lr][i], _mm512_cvtepi16_epi8(_mm512_srai_epi16(v, 7)));
            } else {
                _mm256_store_si256((__m256i *)&lo[lr][i], _mm512_cvtepi16_epi8(v));
            }
        }
    }
    to_vnni(lo, u->lo, UNIT / 64);
    if (f->wide) to_vnni(hi, u->hi, UNIT / 64);
    if (f->min32) {
        for (int p = 0; p < 4; p++)
            for (int r = 0; r < GROUP; r++)
                u->mw[p][r] = (int32_t)((uint32_t)(uint8_t)mn16[r][4 * p] | (uint32_t)(uint8_t)mn16[r][4 * p + 2] << 16);
    } else if (f->has_min) {
        /* B row q covers columns 4q..4q+3, all in the 16-column group q/4 */
        for (int g = 0; g < 16; g++) {
            int32_t v[GROUP] __attribute__((aligned(64)));
            for (int r = 0; r < GROUP; r++) v[r] = (int32_t)((uint32_t)(uint8_t)mn16[r][g] * 0x01010101u);
            const __m512i m = _mm512_load_si512(v);
            for (int k = 0; k < 4; k++) _mm512_store_si512(u->mn[4 * g + k], m);
        }
    }
}

/* Decodes blocks [8*ui, 8*ui + nsub) of rows [r0, r0+nr) into u; the rest are zeros. */
static void decode_unit_32(const amx_weight_format *f, const char *W, size_t row_bytes, int64_t r0, int nr,
                           int64_t ui, int nsub, amx_unit *u) {
    int8_t plain[GROUP][UNIT] __attribute__((aligned(64)));
    amx_block32 b;
    memset(plain, 0, sizeof plain);
    memset(u->dsub, 0, sizeof u->dsub);
    memset(u->msub, 0, sizeof u->msub);
    for (int lr = 0; lr < nr; lr++) {
        const char *row = W + (size_t)(r0 + lr) * row_bytes + (size_t)ui * B32_PER_UNIT * f->block_bytes;
        for (int j = 0; j < nsub; j++) {
            f->decode_32(row + (size_t)j * f->block_bytes, &b);
            memcpy(&plain[lr][32 * j], b.w, 32);
            u->dsub[j][lr] = b.d;
            u->msub[j][lr] = b.m;
        }
    }
    to_vnni(plain, u->lo, (nsub + 1) / 2);
}

/* Tile palette 1 (AMX's only one): bytes per row and rows of each tile. */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

/* K-quants: tile 0 = A (16 tokens x 64), 1 = B (16 x 64), 2-4 = C lo/hi/min of the first
 * 16 rows, 5-7 those of the next 16: each A load feeds up to six products (the A tiles come
 * from L2, the decoded B tiles from L1).
 * 32-weight formats: 0 = A (16 x 32), 1 = B (8 x 64), 2 = C; tiles 3-5 the same again so
 * that odd blocks use their own set and the tile unit can start block j+1 while the
 * epilogue of j still reads its C. */
static void load_config(int kquant) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    if (kquant) {
        for (int i = 0; i < 8; i++) { cfg.rows[i] = 16; cfg.colsb[i] = 64; }
    } else {
        cfg.rows[0] = TOK; cfg.colsb[0] = 32;
        cfg.rows[1] = 8;   cfg.colsb[1] = 64;
        cfg.rows[2] = TOK; cfg.colsb[2] = 64;
        for (int i = 3; i < 6; i++) { cfg.rows[i] = cfg.rows[i - 3]; cfg.colsb[i] = cfg.colsb[i - 3]; }
    }
    _tile_loadconfig(&cfg);
}

#define KROWS (2 * GROUP)   /* weight rows per K-quant block: two groups share each A tile */

/* A K-quant unit's int32 dot tiles for 16 tokens x 16 rows. */
typedef struct {
    int32_t lo[TOK][GROUP], hi[TOK][GROUP], mn[TOK][GROUP];
} kquant_dots;

/* Tile half of a 16x32 block of a K-quant unit (row groups u[0], u[1]): isum's lo and hi
 * parts and msum into c[0], c[1]. xa points at the first token's Q8_K block, row stride
 * xstride. */
static void tiles_k(const amx_weight_format *f, const amx_unit *u0, const amx_unit *u1, const char *xa,
                    size_t xstride, kquant_dots c[2]) {
    const char *xq = xa + offsetof(block_q8_k, qs);
    _tile_zero(2);
    _tile_zero(5);
    if (f->wide) {
        _tile_zero(3);
        _tile_zero(6);
    }
    const int min_tile = f->has_min && !f->min32;
    if (min_tile) {
        _tile_zero(4);
        _tile_zero(7);
    }
    for (int k = 0; k < UNIT / 64; k++) {
        _tile_loadd(0, xq + 64 * k, (long)xstride);
        _tile_loadd(1, u0->lo[16 * k], 64);
        _tile_dpbssd(2, 0, 1);
        _tile_loadd(1, u1->lo[16 * k], 64);
        _tile_dpbssd(5, 0, 1);
        if (f->wide) {
            _tile_loadd(1, u0->hi[16 * k], 64);
            _tile_dpbssd(3, 0, 1);
            _tile_loadd(1, u1->hi[16 * k], 64);
            _tile_dpbssd(6, 0, 1);
        }
        if (min_tile) {
            _tile_loadd(1, u0->mn[16 * k], 64);
            _tile_dpbssd(4, 0, 1);
            _tile_loadd(1, u1->mn[16 * k], 64);
            _tile_dpbssd(7, 0, 1);
        }
    }
    _tile_stored(2, c[0].lo, 64);
    _tile_stored(5, c[1].lo, 64);
    if (f->wide) {
        _tile_stored(3, c[0].hi, 64);
        _tile_stored(6, c[1].hi, 64);
    }
    if (min_tile) {
        _tile_stored(4, c[0].mn, 64);
        _tile_stored(7, c[1].mn, 64);
    }
}

/* min32: each token's sums of its 32-column sub-blocks (bsums added in pairs, at most
 * 32 * 128 in magnitude: int16) as int16 pairs (s_2p, s_2p+1), p = 0..3. */
static void sub_sums(const char *xa, size_t xstride, int32_t sp[TOK][4]) {
    for (int t = 0; t < TOK; t++) {
        const __m256i b = _mm256_loadu_si256((const __m256i *)((const block_q8_k *)(xa + (size_t)t * xstride))->bsums);
        const __m256i s = _mm256_madd_epi16(b, _mm256_set1_epi16(1));   /* s_0..s_3 | s_4..s_7 */
        const __m256i w = _mm256_packs_epi32(s, s);   /* dwords (s0,s1),(s2,s3),.. | (s4,s5),(s6,s7),.. */
        _mm_storel_epi64((__m128i *)&sp[t][0], _mm256_castsi256_si128(w));
        _mm_storel_epi64((__m128i *)&sp[t][2], _mm256_extracti128_si256(w, 1));
    }
}

/* Float half of both row groups (u0, u1 with dots c[0], c[1]): adds
 * d_x * (d * isum - dmin * msum) to acc[g][t]. One pass over the tokens serves both
 * groups, so each token's d_x and sub-block sums are loaded and broadcast once; the
 * format's flags are constants in each instantiation (no tests in the token loop). */
static inline __attribute__((always_inline)) void epilogue_k_with(int wide, int min32, int min_tile, const amx_unit *u0,
                                                                 const amx_unit *u1, const kquant_dots c[2],
                                                                 const int32_t sp[TOK][4], const char *xa,
                                                                 size_t xstride, float acc[2][TOK][GROUP]) {
    const amx_unit *u[2] = {u0, u1};
    __m512 d[2], dmin[2];
    __m512i mw[2][4];
    for (int g = 0; g < 2; g++) {
        d[g] = _mm512_loadu_ps(u[g]->d);
        dmin[g] = _mm512_loadu_ps(u[g]->dmin);
        if (min32)
            for (int p = 0; p < 4; p++) mw[g][p] = _mm512_load_si512(u[g]->mw[p]);
    }
    for (int t = 0; t < TOK; t++) {
        const __m512 dx = _mm512_set1_ps(((const block_q8_k *)(xa + (size_t)t * xstride))->d);
        __m512i spb[4];
        if (min32)
            for (int p = 0; p < 4; p++) spb[p] = _mm512_set1_epi32(sp[t][p]);
        for (int g = 0; g < 2; g++) {
            __m512i isum = _mm512_load_si512(c[g].lo[t]);
            if (wide) isum = _mm512_add_epi32(isum, _mm512_slli_epi32(_mm512_load_si512(c[g].hi[t]), 7));
            __m512 v = _mm512_mul_ps(d[g], _mm512_cvtepi32_ps(isum));
            if (min32) {
                __m512i ms = _mm512_madd_epi16(spb[0], mw[g][0]);
                for (int p = 1; p < 4; p++) ms = _mm512_dpwssd_epi32(ms, spb[p], mw[g][p]);
                v = _mm512_fnmadd_ps(dmin[g], _mm512_cvtepi32_ps(ms), v);
            } else if (min_tile) {
                v = _mm512_fnmadd_ps(dmin[g], _mm512_cvtepi32_ps(_mm512_load_si512(c[g].mn[t])), v);
            }
            _mm512_store_ps(acc[g][t], _mm512_fmadd_ps(dx, v, _mm512_load_ps(acc[g][t])));
        }
    }
}

static void epilogue_k(const amx_weight_format *f, const amx_unit *u0, const amx_unit *u1, const kquant_dots c[2],
                       const int32_t sp[TOK][4], const char *xa, size_t xstride, float acc[2][TOK][GROUP]) {
    const int min_tile = f->has_min && !f->min32;
    if (f->wide && f->min32) epilogue_k_with(1, 1, 0, u0, u1, c, sp, xa, xstride, acc);
    else if (f->wide && min_tile) epilogue_k_with(1, 0, 1, u0, u1, c, sp, xa, xstride, acc);
    else if (f->wide) epilogue_k_with(1, 0, 0, u0, u1, c, sp, xa, xstride, acc);
    else epilogue_k_with(0, f->min32, min_tile, u0, u1, c, sp, xa, xstride, acc);
}

/* Spans before the last: the first writes the slab rows of the block's nt tokens, later
 * ones add to them. */
static void add_k(const float acc[2][TOK][GROUP], float *ys, int64_t ys_stride, int nt, int first) {
    for (int t = 0; t < nt; t++) {
        float *yt = ys + t * ys_stride;
        for (int g = 0; g < 2; g++) {
            const __m512 a = _mm512_load_ps(acc[g][t]);
            _mm512_store_ps(yt + g * GROUP, first ? a : _mm512_add_ps(_mm512_load_ps(yt + g * GROUP), a));
        }
    }
}

/* The last span: slab (NULL when this is also the first span) plus acc go straight to y's
 * rows (rmask: which of the block's 32 rows exist), saving a copy of the slab to y. */
static void store_k(const float acc[2][TOK][GROUP], const float *ys, int64_t ys_stride, float *y, int64_t ldy, int nt,
                    __mmask32 rmask, int stream) {
    for (int t = 0; t < nt; t++) {
        float *yt = y + t * ldy;
        for (int g = 0; g < 2; g++) {
            __m512 a = _mm512_load_ps(acc[g][t]);
            if (ys) a = _mm512_add_ps(_mm512_load_ps(ys + t * ys_stride + g * GROUP), a);
            const __mmask16 m = (__mmask16)(rmask >> (g * GROUP));
            if (stream && m == 0xFFFF && ((uintptr_t)(yt + g * GROUP) & 63) == 0) _mm512_stream_ps(yt + g * GROUP, a);
            else _mm512_mask_storeu_ps(yt + g * GROUP, m, a);
        }
    }
}

/* Weight bytes the next decode reads (rows [r, r + nrows) of units [ui, ui + nunits)), asked
 * into L2 while the tiles run: decoding otherwise waits on memory for every row (each
 * row's blocks sit row_bytes apart, too far apart for the hardware prefetchers to follow).
 * The lines are asked a few at a time after each unit's tiles, spread evenly over the row
 * group's pass: asked a row at a time per token tile, most of them still missed.
 * Rows past row_end are not touched. */
typedef struct {
    const char *W;
    size_t row_bytes, unit_bytes;
    int64_t r, nrows, ui, nunits, row_end;
    int64_t i;       /* cursor: the next line is at byte b of row r + i */
    size_t b;
} weight_prefetch;

/* Bytes of a row to ask for: through the line holding its last byte. */
static size_t prefetch_row_bytes(const weight_prefetch *p) { return p->unit_bytes * (size_t)p->nunits + 63; }

/* Lines to ask after each of `slots` units so that all are asked by the last one. */
static int prefetch_lines_per(const weight_prefetch *p, int64_t slots) {
    const int64_t rows = p->row_end - p->r < p->nrows ? p->row_end - p->r : p->nrows;
    const int64_t lines = rows > 0 ? rows * (int64_t)(prefetch_row_bytes(p) / 64) : 0;
    return (int)((lines + slots - 1) / (slots > 0 ? slots : 1));
}

static inline void prefetch_lines(weight_prefetch *p, int lines) {
    const size_t bytes = prefetch_row_bytes(p);
    for (; lines > 0 && p->i < p->nrows && p->r + p->i < p->row_end; lines--) {
        _mm_prefetch(p->W + (size_t)(p->r + p->i) * p->row_bytes + (size_t)p->ui * p->unit_bytes + p->b, _MM_HINT_T1);
        p->b += 64;
        if (p->b + 64 > bytes) {
            p->b = 0;
            p->i++;
        }
    }
}

/* What the decode after rows [r, r + step) of span ui0 reads: the next rows of the same
 * span; at the end of the row block [rb0, rb1) the next span from its first row; after the
 * last span the first span of the next row block (ending at row_hi). */
static weight_prefetch next_decode(const char *W, size_t row_bytes, size_t unit_bytes, int64_t r, int64_t step,
                                   int64_t rb0, int64_t rb1, int64_t row_hi, int64_t ui0, int64_t nu) {
    weight_prefetch p = {W, row_bytes, unit_bytes, r, step, ui0, 0, rb1, 0, 0};
    if (r >= rb1) {
        p.r = rb0;
        p.ui = ui0 + SPAN;
        if (p.ui >= nu) {
            p.r = rb1;
            p.ui = 0;
            p.row_end = row_hi;
        }
    }
    p.nunits = nu - p.ui < SPAN ? nu - p.ui : SPAN;
    if (p.nunits < 0) p.nunits = 0;
    return p;
}

/* ns K-quant units of one 16x32 block (us[0..ns) the first row group, us[SPAN..] the
 * second), software-pipelined: the tiles of unit k are issued before the epilogue of unit
 * k-1, so the vector units scale k-1 while the tile unit multiplies k (two sets of dot
 * buffers keep them apart). */
static void span_k(const amx_weight_format *f, const amx_unit *us, int ns, const char *xa, size_t ux, size_t xstride,
                   weight_prefetch *pf, int pf_lines, float acc[2][TOK][GROUP]) {
    kquant_dots c[2][2] __attribute__((aligned(64)));
    int32_t sp[TOK][4] __attribute__((aligned(64)));
    for (int k = 0; k <= ns; k++) {
        if (k < ns) {
            tiles_k(f, &us[k], &us[SPAN + k], xa + (size_t)k * ux, xstride, c[k & 1]);
            prefetch_lines(pf, pf_lines);
        }
        if (k > 0) {
            const char *xp = xa + (size_t)(k - 1) * ux;
            if (f->min32) sub_sums(xp, xstride, sp);
            epilogue_k(f, &us[k - 1], &us[SPAN + k - 1], c[(k - 1) & 1], sp, xp, xstride, acc);
        }
    }
}

/* One 16x16 block of a 32-weight unit of nsub blocks: adds d * d_x * dot (+ m * s_x). */
static void block_32(const amx_weight_format *f, const amx_unit *u, int nsub, const char *xa, size_t xstride,
                     __m512 acc[TOK]) {
    int32_t cc[2][TOK][GROUP] __attribute__((aligned(64)));
    for (int j = 0; j < nsub; j++) {
        const char *xj = xa + (size_t)j * sizeof(infer_act_q8);
        /* tile numbers must be constants: even blocks in tiles 0-2, odd ones in 3-5 */
        if (j & 1) {
            _tile_loadd(3, xj + offsetof(infer_act_q8, qs), (long)xstride);
            _tile_loadd(4, u->lo[8 * j], 64);
            _tile_zero(5);
            _tile_dpbssd(5, 3, 4);
            _tile_stored(5, cc[1], 64);
        } else {
            _tile_loadd(0, xj + offsetof(infer_act_q8, qs), (long)xstride);
            _tile_loadd(1, u->lo[8 * j], 64);
            _tile_zero(2);
            _tile_dpbssd(2, 0, 1);
            _tile_stored(2, cc[0], 64);
        }
        int32_t (*c)[GROUP] = cc[j & 1];
        const __m512 dw = _mm512_loadu_ps(u->dsub[j]), mw = _mm512_loadu_ps(u->msub[j]);
        for (int t = 0; t < TOK; t++) {
            const infer_act_q8 *xb = (const infer_act_q8 *)(xj + (size_t)t * xstride);
            const __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(xb->d));
            acc[t] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(_mm512_load_si512(c[t])), acc[t]);
            if (f->has_min) acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(xb->s), acc[t]);
        }
    }
}

static infer_act_format act_of(const amx_weight_format *f) { return f->kquant ? INFER_ACT_Q8K : INFER_ACT_Q8; }

int infer_amx_supports(uint32_t wtype, infer_act_format act, int64_t cols) {
    const amx_weight_format *f = infer_amx_weight_format(wtype);
    return f && act == act_of(f) && cols > 0 && cols % (f->kquant ? UNIT : 32) == 0;
}

/* The span's act bytes of tokens [t0, t0+nt): in place (stride xs) for a whole tile, else
 * copied into tail (stride SPAN * X_UNIT_MAX) with zero rows after them. */
static const char *token_tile(const char *xq, size_t xs, int64_t t0, int nt, size_t span_x, size_t span_bytes,
                              char *tail) {
    const char *xa = xq + (size_t)t0 * xs + span_x;
    if (nt == TOK) return xa;
    memset(tail, 0, TAIL_BYTES);
    for (int t = 0; t < nt; t++) memcpy(tail + (size_t)t * SPAN * X_UNIT_MAX, xa + (size_t)t * xs, span_bytes);
    return tail;
}

int infer_amx_matmul_rows(uint32_t wtype, const char *W, size_t row_bytes, int64_t cols, int64_t row_lo,
                          int64_t row_hi, const char *xq, size_t xs, int64_t n, float *y, int64_t ldy) {
    const amx_weight_format *f = infer_amx_weight_format(wtype);
    if (!f || !infer_amx_supports(wtype, act_of(f), cols)) return -1;
    if (row_hi <= row_lo || n <= 0) return 0;
    /* 32-weight formats: the last unit may hold fewer than 8 blocks (gpt-oss: 2880 = 11.25 units) */
    const int64_t nblocks = f->kquant ? cols / UNIT : cols / 32;
    const int per_unit = f->kquant ? 1 : B32_PER_UNIT;
    const int64_t nu = (nblocks + per_unit - 1) / per_unit;
    const size_t unit_x_bytes = f->kquant ? sizeof(block_q8_k) : X_UNIT_MAX;
    const size_t unit_w_bytes = f->block_bytes * (size_t)per_unit;   /* a row's bytes per unit */
    /* SPAN decoded units (about 50 KB) and the partial token tile's copy live on the heap:
     * callers' threads may have small stacks. No memory: the caller's other kernel runs. */
    amx_unit *us = aligned_alloc(64, sizeof(amx_unit) * 2 * SPAN);
    char *tail = aligned_alloc(64, TAIL_BYTES);
    int64_t rblock = (int64_t)(Y_SLAB_BYTES / (sizeof(float) * (size_t)n)) / GROUP * GROUP;
    if (rblock < GROUP) rblock = GROUP;
    /* K-quants sum the spans into a contiguous slab (n x ys_stride floats, L2-resident and
     * few pages); the last span adds the slab into y as it stores its own sums:
     * read-modify-writes straight into y on every span touched one cache line per token
     * per page, missing the TLB and, on the first span, memory (about a fifth of a Q4_K
     * 8960x1536 call's samples). */
    const int64_t ys_stride = (rblock + KROWS - 1) / KROWS * KROWS;
    const size_t ys_bytes = f->kquant ? ((size_t)n * (size_t)ys_stride * sizeof(float) + 63) / 64 * 64 : 64;
    float *ys = aligned_alloc(64, ys_bytes);
    if (!us || !tail || !ys) {
        free(us);
        free(tail);
        free(ys);
        return -1;
    }
    /* An output far larger than the caches is written around them (whole aligned rows of
     * 16): its stores would otherwise read every line from memory first, and it leaves
     * the cache before its reader (the next op) comes anyway. Smaller ones (Q/K/V, the
     * projections back to n_embd) stay cached for the op that reads them next. */
    const int stream = (size_t)n * (size_t)ldy * sizeof(float) >= Y_STREAM_BYTES;
    load_config(f->kquant);
    /* Spans of units outermost within a block of rows: one span's slice of every token's
     * activations (n x 4 x 292 bytes for Q8_K) stays in L2 while the block's row groups pass
     * over it; with rows outermost a wide K (ffn_down: 8960) would stream all activations
     * from memory per row group. Rows go in blocks whose n x rows slab of y (about
     * Y_SLAB_BYTES) stays in L2 too: the K-quants add each span but the last into the slab
     * ys and the last span writes slab + its sums to y, the 32-weight formats read and
     * write y once per span. */
    for (int64_t rb0 = row_lo; rb0 < row_hi; rb0 += rblock) {
        const int64_t rb1 = rb0 + rblock < row_hi ? rb0 + rblock : row_hi;
        for (int64_t ui0 = 0; ui0 < nu; ui0 += SPAN) {
            const int ns = (int)(nu - ui0 < SPAN ? nu - ui0 : SPAN);
            int nsub[SPAN];
            for (int k = 0; k < ns; k++) {
                const int64_t left = nblocks - (ui0 + k) * per_unit;
                nsub[k] = (int)(left < per_unit ? left : per_unit);
            }
            /* the span's act bytes are contiguous in each act row */
            const size_t span_x = (size_t)ui0 * unit_x_bytes;
            const size_t span_bytes = xs - span_x < (size_t)ns * unit_x_bytes ? xs - span_x : (size_t)ns * unit_x_bytes;
            if (f->kquant) {
                const int last = ui0 + SPAN >= nu;   /* the last span stores into y itself */
                for (int64_t r0 = rb0; r0 < rb1; r0 += KROWS) {
                    const int64_t rleft = rb1 - r0;
                    const __mmask32 rmask = rleft >= KROWS ? ~(__mmask32)0 : (__mmask32)((1u << rleft) - 1);
                    for (int g = 0; g < 2; g++) {
                        const int64_t left = rb1 - r0 - g * GROUP;
                        const int nr = (int)(left < 0 ? 0 : left < GROUP ? left : GROUP);
                        for (int k = 0; k < ns; k++)
                            decode_unit_k(f, W, row_bytes, r0 + g * GROUP, nr, ui0 + k, &us[g * SPAN + k]);
                    }
                    weight_prefetch pf = next_decode(W, row_bytes, unit_w_bytes, r0 + KROWS, KROWS, rb0, rb1, row_hi, ui0, nu);
                    const int pf_lines = prefetch_lines_per(&pf, (n + TOK - 1) / TOK * ns);
                    for (int64_t t0 = 0; t0 < n; t0 += TOK) {
                        const int nt = (int)(n - t0 < TOK ? n - t0 : TOK);
                        const char *xa = token_tile(xq, xs, t0, nt, span_x, span_bytes, tail);
                        const size_t stride = nt < TOK ? SPAN * X_UNIT_MAX : xs;
                        float acc[2][TOK][GROUP] __attribute__((aligned(64)));
                        memset(acc, 0, sizeof acc);
                        span_k(f, us, ns, xa, unit_x_bytes, stride, &pf, pf_lines, acc);
                        if (last)
                            store_k(acc, ui0 == 0 ? NULL : ys + t0 * ys_stride + (r0 - rb0), ys_stride,
                                    y + t0 * ldy + r0, ldy, nt, rmask, stream);
                        else
                            add_k(acc, ys + t0 * ys_stride + (r0 - rb0), ys_stride, nt, ui0 == 0);
                    }
                }
                continue;
            }
            for (int64_t r0 = rb0; r0 < rb1; r0 += GROUP) {
                const int nr = (int)(rb1 - r0 < GROUP ? rb1 - r0 : GROUP);
                const __mmask16 rmask = (__mmask16)((1u << nr) - 1);
                for (int k = 0; k < ns; k++) decode_unit_32(f, W, row_bytes, r0, nr, ui0 + k, nsub[k], &us[k]);
                /* no weight prefetch here: on gpt-oss's experts (few tokens per expert) it
                 * measured no better, possibly worse */
                for (int64_t t0 = 0; t0 < n; t0 += TOK) {
                    const int nt = (int)(n - t0 < TOK ? n - t0 : TOK);
                    const char *xa = token_tile(xq, xs, t0, nt, span_x, span_bytes, tail);
                    const size_t stride = nt < TOK ? SPAN * X_UNIT_MAX : xs;
                    __m512 acc[TOK];
                    for (int t = 0; t < TOK; t++) acc[t] = _mm512_setzero_ps();
                    for (int k = 0; k < ns; k++) block_32(f, &us[k], nsub[k], xa + (size_t)k * unit_x_bytes, stride, acc);
                    for (int t = 0; t < nt; t++) {   /* the first span writes y, later ones add */
                        float *yt = y + (t0 + t) * ldy + r0;
                        const __m512 v = ui0 == 0 ? acc[t] : _mm512_add_ps(_mm512_maskz_loadu_ps(rmask, yt), acc[t]);
                        _mm512_mask_storeu_ps(yt, rmask, v);
                    }
                }
            }
        }
    }
    _mm_sfence();   /* the streamed y rows are visible to other threads before the caller signals them */
    _tile_release();
    free(us);
    free(tail);
    free(ys);
    return 0;
}

#else /* built without AMX: nothing to dispatch to */

int infer_amx_supports(uint32_t wtype, infer_act_format act, int64_t cols) {
    (void)wtype; (void)act; (void)cols;
    return 0;
}

int infer_amx_matmul_rows(uint32_t wtype, const char *W, size_t row_bytes, int64_t cols, int64_t row_lo,
                          int64_t row_hi, const char *xq, size_t xs, int64_t n, float *y, int64_t ldy) {
    (void)wtype; (void)W; (void)row_bytes; (void)cols; (void)row_lo; (void)row_hi; (void)xq; (void)xs; (void)n;
    (void)y; (void)ldy;
    return -1;
}
#endif
