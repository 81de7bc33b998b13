/* AMX-INT8 tiles for the prompt matmul (see matmul_amx.h). Compiled with
 * -mamx-tile -mamx-int8 and AVX-512 flags (CMakeLists' INFER_ISA_FLAGS_amx); without
 * them the entry points report "unsupported".
 *
 * Shapes, per 16-row group and 256-column unit u:
 *   A tile  (tokens):  16 rows (tokens) x S int8      = the act row's qs, stride xs
 *   B tile  (weights): S/4 rows x 64 bytes             = 16 weight rows x S, VNNI order:
 *                      B[k/4][r*4 + k%4] = w[r][k]
 *   C tile  (int32):   16 tokens x 16 weight rows
 * S is the weight format's sub-block (32 for Q4_K and Q8_0, 16 for Q6_K), so every dot
 * tile belongs to one integer scale per weight row, as in the scalar reference. */
#include "kernels/cpu/matmul_amx.h"

#include <string.h>
#include "quant/blocks.h"
#include "tensor/dtype.h"

#if defined(__AMX_TILE__) && defined(__AMX_INT8__) && defined(__AVX512F__)
#include <immintrin.h>

#define UNIT 256         /* columns decoded per step: one K-quant super-block, 8 Q8_0 blocks */
#define GROUP 16         /* weight rows per tile */
#define TOK 16           /* tokens per tile */
#define MAX_SUB 16       /* sub-blocks per unit (Q6_K: 256 / 16) */
#define Y_SLAB_BYTES (256 * 1024)   /* outputs kept hot while all units pass over them */

/* One unit of 16 decoded weight rows. */
typedef struct {
    int8_t b[UNIT / 4][64];          /* VNNI tiles, sub-block j = rows [j*S/4, (j+1)*S/4) */
    int32_t sc[MAX_SUB][GROUP];      /* integer scale of sub-block j, row r */
    int32_t mn[MAX_SUB][GROUP];      /* integer min (Q4_K), else 0 */
    float dsub[MAX_SUB][GROUP];      /* Q8_0: float scale per sub-block; K-quants: unused */
    float d[GROUP], dmin[GROUP];     /* K-quants: super-block scales */
} amx_unit;

typedef enum { KIND_Q4_K, KIND_Q6_K, KIND_Q8_0 } amx_kind;

typedef struct {
    amx_kind kind;
    int S;                 /* sub-block length (tile K) */
    size_t unit_w_bytes;   /* weight bytes per 256 columns of one row */
    size_t unit_x_bytes;   /* act bytes per 256 columns of one token */
    size_t x_qs_off;       /* offset of sub-block 0's int8 in a unit of act */
} amx_format;

static int format_of(uint32_t wtype, infer_act_format act, amx_format *f) {
    if (wtype == INFER_TYPE_Q4_K && act == INFER_ACT_Q8K) {
        *f = (amx_format){KIND_Q4_K, 32, sizeof(block_q4_k), sizeof(block_q8_k), offsetof(block_q8_k, qs)};
    } else if (wtype == INFER_TYPE_Q6_K && act == INFER_ACT_Q8K) {
        *f = (amx_format){KIND_Q6_K, 16, sizeof(block_q6_k), sizeof(block_q8_k), offsetof(block_q8_k, qs)};
    } else if (wtype == INFER_TYPE_Q8_0 && act == INFER_ACT_Q8) {
        *f = (amx_format){KIND_Q8_0, 32, 8 * sizeof(block_q8_0), 8 * sizeof(infer_act_q8), 0};
    } else {
        return 0;
    }
    return 1;
}

/* Decodes unit `ui` of weight row r into w[256] (plain column order) and its scales at
 * local row lr of u. */
static void decode_row(const amx_format *f, const char *row, int64_t ui, int lr, amx_unit *u, int8_t *w) {
    const char *p = row + (size_t)ui * f->unit_w_bytes;
    if (f->kind == KIND_Q4_K) {
        const block_q4_k *b = (const block_q4_k *)p;
        u->d[lr] = infer_fp16_to_f32(b->d);
        u->dmin[lr] = infer_fp16_to_f32(b->dmin);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            infer_q4k_scale_min(j, b->scales, &sc, &m);
            u->sc[j][lr] = sc;
            u->mn[j][lr] = m;
        }
        for (int g = 0; g < 4; g++)
            for (int l = 0; l < 32; l++) {
                w[64 * g + l] = (int8_t)(b->qs[32 * g + l] & 0xF);
                w[64 * g + 32 + l] = (int8_t)(b->qs[32 * g + l] >> 4);
            }
    } else if (f->kind == KIND_Q6_K) {
        const block_q6_k *b = (const block_q6_k *)p;
        u->d[lr] = infer_fp16_to_f32(b->d);
        u->dmin[lr] = 0;
        for (int j = 0; j < 16; j++) {
            u->sc[j][lr] = b->scales[j];
            u->mn[j][lr] = 0;
        }
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            int8_t *o = w + 128 * h;
            for (int l = 0; l < 32; l++) {
                o[l] = (int8_t)(((ql[l] & 0xF) | ((qh[l] >> 0 & 3) << 4)) - 32);
                o[l + 32] = (int8_t)(((ql[l + 32] & 0xF) | ((qh[l] >> 2 & 3) << 4)) - 32);
                o[l + 64] = (int8_t)(((ql[l] >> 4) | ((qh[l] >> 4 & 3) << 4)) - 32);
                o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | ((qh[l] >> 6 & 3) << 4)) - 32);
            }
        }
    } else {
        const block_q8_0 *b = (const block_q8_0 *)p;
        for (int j = 0; j < 8; j++) {
            u->dsub[j][lr] = infer_fp16_to_f32(b[j].d);
            memcpy(w + 32 * j, b[j].qs, 32);
        }
    }
}

/* Rows past the matrix's end become zeros (never written back). */
static void clear_row(amx_unit *u, int lr, int8_t *w) {
    memset(w, 0, UNIT);
    for (int j = 0; j < MAX_SUB; j++) { u->sc[j][lr] = 0; u->mn[j][lr] = 0; u->dsub[j][lr] = 0; }
    u->d[lr] = 0;
    u->dmin[lr] = 0;
}

/* VNNI order is a transpose of 4-byte groups: dword q of row r (columns 4q..4q+3) goes to
 * B row q, dword r; sub-block j's tile is then rows [j*S/4, (j+1)*S/4) for any S. */
static void to_vnni(int8_t plain[GROUP][UNIT], amx_unit *u) {
    for (int q = 0; q < UNIT / 4; q++) {
        uint32_t *dst = (uint32_t *)(void *)u->b[q];
        for (int r = 0; r < GROUP; r++) memcpy(&dst[r], &plain[r][4 * q], 4);
    }
}

/* Tile palette 1: tile 0 = A (tokens x S bytes), 1 = B (S/4 x 64 bytes), 2 = C (16 x 64);
 * tiles 3-5 the same again, so that odd sub-blocks use their own set and the tile unit
 * can start sub-block j+1 while the epilogue of j still reads its C. */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

static void load_config(int S) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    cfg.rows[0] = TOK;       cfg.colsb[0] = (uint16_t)S;
    cfg.rows[1] = (uint8_t)(S / 4); cfg.colsb[1] = 64;
    cfg.rows[2] = TOK;       cfg.colsb[2] = 64;
    for (int i = 3; i < 6; i++) { cfg.rows[i] = cfg.rows[i - 3]; cfg.colsb[i] = cfg.colsb[i - 3]; }
    _tile_loadconfig(&cfg);
}

/* One 16x16 block: adds the unit's contribution to acc[t] (a vector over the 16 rows).
 * xa points at the first token's act unit, row stride xstride. */
static void unit_block(const amx_format *f, const amx_unit *u, const char *xa, size_t xstride, __m512 acc[TOK]) {
    const int nsub = UNIT / f->S;
    int32_t cc[2][TOK][GROUP] __attribute__((aligned(64)));
    /* Even sub-blocks in tiles 0-2, odd ones in 3-5 (tile numbers must be constants). */
#define AMX_DOT(j, src)                                                              \
    do {                                                                             \
        if ((j) & 1) {                                                               \
            _tile_loadd(3, (src), (long)xstride);                                    \
            _tile_loadd(4, u->b[(j) * (f->S / 4)], 64);                              \
            _tile_zero(5);                                                           \
            _tile_dpbssd(5, 3, 4);                                                   \
            _tile_stored(5, cc[1], 64);                                              \
        } else {                                                                     \
            _tile_loadd(0, (src), (long)xstride);                                    \
            _tile_loadd(1, u->b[(j) * (f->S / 4)], 64);                              \
            _tile_zero(2);                                                           \
            _tile_dpbssd(2, 0, 1);                                                   \
            _tile_stored(2, cc[0], 64);                                              \
        }                                                                            \
    } while (0)
    if (f->kind == KIND_Q8_0) {
        for (int j = 0; j < nsub; j++) {
            const char *xj = xa + (size_t)j * sizeof(infer_act_q8);
            AMX_DOT(j, xj + offsetof(infer_act_q8, qs));
            int32_t (*c)[GROUP] = cc[j & 1];
            const __m512 dw = _mm512_loadu_ps(u->dsub[j]);
            for (int t = 0; t < TOK; t++) {
                const float dx = *(const float *)(xj + (size_t)t * xstride);   /* infer_act_q8.d */
                const __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(dx));
                acc[t] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(_mm512_load_si512(c[t])), acc[t]);
            }
        }
        return;
    }
    /* K-quants: integer sums per super-block, then one float step, as the reference. */
    __m512i isum[TOK];
    for (int t = 0; t < TOK; t++) isum[t] = _mm512_setzero_si512();
    for (int j = 0; j < nsub; j++) {
        AMX_DOT(j, xa + f->x_qs_off + (size_t)j * f->S);
        int32_t (*c)[GROUP] = cc[j & 1];
        const __m512i sc = _mm512_loadu_si512(u->sc[j]);
        for (int t = 0; t < TOK; t++)
            isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(sc, _mm512_load_si512(c[t])));
    }
#undef AMX_DOT
    const __m512 d = _mm512_loadu_ps(u->d), dmin = _mm512_loadu_ps(u->dmin);
    for (int t = 0; t < TOK; t++) {
        const block_q8_k *xb = (const block_q8_k *)(xa + (size_t)t * xstride);
        __m512 v = _mm512_mul_ps(d, _mm512_cvtepi32_ps(isum[t]));
        if (f->kind == KIND_Q4_K) {
            __m512i msum = _mm512_setzero_si512();
            for (int j = 0; j < 8; j++) {
                const int bs = xb->bsums[2 * j] + xb->bsums[2 * j + 1];
                msum = _mm512_add_epi32(msum, _mm512_mullo_epi32(_mm512_loadu_si512(u->mn[j]), _mm512_set1_epi32(bs)));
            }
            v = _mm512_fnmadd_ps(dmin, _mm512_cvtepi32_ps(msum), v);
        }
        acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(xb->d), v, acc[t]);
    }
}

int infer_amx_supports(uint32_t wtype, infer_act_format act, int64_t cols) {
    amx_format f;
    return format_of(wtype, act, &f) && cols > 0 && cols % UNIT == 0;
}

int infer_amx_matmul_rows(uint32_t wtype, const char *W, size_t row_bytes, int64_t cols, int64_t row_lo,
                          int64_t row_hi, const char *xq, size_t xs, int64_t n, float *y, int64_t ldy) {
    amx_format f;
    const infer_act_format act = wtype == INFER_TYPE_Q8_0 ? INFER_ACT_Q8 : INFER_ACT_Q8K;
    if (!infer_amx_supports(wtype, act, cols) || !format_of(wtype, act, &f)) return -1;
    const int64_t nu = cols / UNIT;
    amx_unit u __attribute__((aligned(64)));
    int8_t plain[GROUP][UNIT] __attribute__((aligned(64)));   /* decoded rows before to_vnni */
    /* The last, partial tile of tokens is copied here with zero rows after it. */
    char tail[TOK * sizeof(block_q8_k) * 2] __attribute__((aligned(64)));
    _Static_assert(8 * sizeof(infer_act_q8) <= 2 * sizeof(block_q8_k), "tail buffer fits a Q8_0 unit");
    load_config(f.S);
    /* Units outermost: one unit's slice of every token's activations (n x 292 bytes for
     * Q8_K) stays in L2 while all row groups of the range pass over it; with rows outermost
     * a wide K (ffn_down: 8960) would stream all activations from memory per row group. */
    const __mmask16 all = (__mmask16)0xFFFF;
    for (int64_t t = 0; t < n; t++)
        for (int64_t r0 = row_lo; r0 < row_hi; r0 += GROUP) {
            const int nr = (int)(row_hi - r0 < GROUP ? row_hi - r0 : GROUP);
            _mm512_mask_storeu_ps(y + t * ldy + r0, nr == GROUP ? all : (__mmask16)((1u << nr) - 1), _mm512_setzero_ps());
        }
    /* ...and rows in blocks whose n x rows slab of y (about Y_SLAB_BYTES) stays in L2 too. */
    int64_t rblock = (int64_t)(Y_SLAB_BYTES / (sizeof(float) * (size_t)n)) / GROUP * GROUP;
    if (rblock < GROUP) rblock = GROUP;
    for (int64_t rb0 = row_lo; rb0 < row_hi; rb0 += rblock) {
    const int64_t rb1 = rb0 + rblock < row_hi ? rb0 + rblock : row_hi;
    for (int64_t ui = 0; ui < nu; ui++) {
        for (int64_t r0 = rb0; r0 < rb1; r0 += GROUP) {
            const int nr = (int)(rb1 - r0 < GROUP ? rb1 - r0 : GROUP);
            const __mmask16 rmask = (__mmask16)((1u << nr) - 1);
            for (int lr = 0; lr < GROUP; lr++) {
                if (lr < nr) decode_row(&f, W + (size_t)(r0 + lr) * row_bytes, ui, lr, &u, plain[lr]);
                else clear_row(&u, lr, plain[lr]);
            }
            to_vnni(plain, &u);
            for (int64_t t0 = 0; t0 < n; t0 += TOK) {
                const int nt = (int)(n - t0 < TOK ? n - t0 : TOK);
                const char *xa = xq + (size_t)t0 * xs + (size_t)ui * f.unit_x_bytes;
                size_t stride = xs;
                if (nt < TOK) {
                    memset(tail, 0, sizeof tail);
                    for (int t = 0; t < nt; t++) memcpy(tail + (size_t)t * f.unit_x_bytes, xa + (size_t)t * xs, f.unit_x_bytes);
                    xa = tail;
                    stride = f.unit_x_bytes;
                }
                __m512 acc[TOK];
                for (int t = 0; t < TOK; t++) acc[t] = _mm512_setzero_ps();
                unit_block(&f, &u, xa, stride, acc);
                for (int t = 0; t < nt; t++) {
                    float *yt = y + (t0 + t) * ldy + r0;
                    _mm512_mask_storeu_ps(yt, rmask, _mm512_add_ps(_mm512_maskz_loadu_ps(rmask, yt), acc[t]));
                }
            }
        }
    }
    }
    _tile_release();
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
