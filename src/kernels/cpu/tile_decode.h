/* Weight decoders for the AMX prompt matmul (matmul_amx.c): one per weight format, each
 * turning one block of a weight row into plain integers with exactly the values the scalar
 * reference (vec_dot_scalar.c) multiplies, plus the block's scales. The driver turns them
 * into int8 tiles; nothing here knows about tiles. */
#ifndef INFER_CPU_TILE_DECODE_H
#define INFER_CPU_TILE_DECODE_H

#include <stddef.h>
#include <stdint.h>

/* One K-quant super-block (256 weights) against Q8_K activations. The reference computes
 * d_x * (d * isum - dmin * msum) with isum = sum_j sc_j * dot(q_j, x_j) and msum =
 * sum_j m_j * sum(x_j); w holds sc_j * q_k (offsets such as Q6_K's -32 applied), whose
 * dot with x is isum exactly, and mn16 the min of the sub-block holding columns
 * [16g, 16g+16), whose dot with x's sums is msum. */
typedef struct {
    int16_t w[256];
    int8_t mn16[16];     /* 0 for formats without mins */
    float d, dmin;       /* dmin 0 without mins */
} amx_kblock;

/* One 32-weight block against infer_act_q8: the reference adds d * d_x * dot(w, x)
 * (+ m * s_x for formats with a min). */
typedef struct {
    int8_t w[32];
    float d, m;          /* m 0 without a min */
} amx_block32;

typedef void (*amx_decode_k_fn)(const void *blk, amx_kblock *out);
typedef void (*amx_decode_32_fn)(const void *blk, amx_block32 *out);

typedef struct {
    int kquant;              /* 1: 256-weight super-blocks, Q8_K acts; 0: 32-weight blocks, act Q8 */
    int has_min;             /* dmin/m terms present */
    int wide;                /* kquant: sc * q may leave int8 (needs a high-part tile) */
    int min32;               /* kquant with mins: one min per 32 columns (mn16 in equal pairs),
                              * so msum can come from Q8_K's bsums instead of a tile product */
    size_t block_bytes;
    amx_decode_k_fn decode_k;      /* kquant */
    amx_decode_32_fn decode_32;    /* otherwise */
} amx_weight_format;

/* The decoder for weights of `wtype`, or NULL when the AMX path has none. */
const amx_weight_format *infer_amx_weight_format(uint32_t wtype);

#endif
