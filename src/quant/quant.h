/* Reference (scalar) conversions between float and every weight/activation format.
 * to_float: n is a multiple of the block size; from_float: round to nearest (K-quants
 * use a small scale search). Block layouts are in quant/blocks.h. */
#ifndef INFER_QUANT_QUANT_H
#define INFER_QUANT_QUANT_H

#include <stdint.h>

#define INFER_DECL_QUANT(T) \
    void infer_dequant_##T(const void *src, float *dst, int64_t n); \
    void infer_quant_##T(const float *src, void *dst, int64_t n);

INFER_DECL_QUANT(f32)
INFER_DECL_QUANT(f16)
INFER_DECL_QUANT(bf16)
INFER_DECL_QUANT(q4_0)
INFER_DECL_QUANT(q4_1)
INFER_DECL_QUANT(q5_0)
INFER_DECL_QUANT(q5_1)
INFER_DECL_QUANT(q8_0)
INFER_DECL_QUANT(q8_1)
INFER_DECL_QUANT(q2_k)
INFER_DECL_QUANT(q3_k)
INFER_DECL_QUANT(q4_k)
INFER_DECL_QUANT(q5_k)
INFER_DECL_QUANT(q6_k)
INFER_DECL_QUANT(q8_k)
INFER_DECL_QUANT(mxfp4)
INFER_DECL_QUANT(iq4_nl)
INFER_DECL_QUANT(iq4_xs)

#undef INFER_DECL_QUANT

#endif
