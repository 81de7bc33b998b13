/* The dtype traits table: one entry per GGUF type id, designated initializers so the
 * table reads like the format list. Unassigned ids (4, 5, 31-33, 36-38) stay zeroed. */
#include <stdint.h>
#include "tensor/dtype.h"
#include "quant/quant.h"
#include "infer.h"

#define QK_K 256

#define PLAIN(n, bytes) { .name = (n), .block_size = 1, .block_bytes = (bytes) }
#define UNSUPPORTED(n, bs, bytes) { .name = (n), .block_size = (bs), .block_bytes = (bytes) }
/* dot: the activation partner (vec_dot_type), F32 for float weights */
#define QUANT(n, bs, bytes, fn, dot) { .name = (n), .block_size = (bs), .block_bytes = (bytes), \
    .supported = true, .to_float = infer_dequant_##fn, .from_float = infer_quant_##fn, .vec_dot_type = (dot) }

static const infer_dtype_traits dtype_table[INFER_TYPE_COUNT] = {
    [INFER_TYPE_F32]     = QUANT("F32", 1, 4, f32, INFER_TYPE_F32),
    [INFER_TYPE_F16]     = QUANT("F16", 1, 2, f16, INFER_TYPE_F32),
    [INFER_TYPE_Q4_0]    = QUANT("Q4_0", 32, 18, q4_0, INFER_TYPE_Q8_0),
    [INFER_TYPE_Q4_1]    = QUANT("Q4_1", 32, 20, q4_1, INFER_TYPE_Q8_0),
    [INFER_TYPE_Q5_0]    = QUANT("Q5_0", 32, 22, q5_0, INFER_TYPE_Q8_0),
    [INFER_TYPE_Q5_1]    = QUANT("Q5_1", 32, 24, q5_1, INFER_TYPE_Q8_0),
    [INFER_TYPE_Q8_0]    = QUANT("Q8_0", 32, 34, q8_0, INFER_TYPE_Q8_0),
    [INFER_TYPE_Q8_1]    = QUANT("Q8_1", 32, 36, q8_1, INFER_TYPE_F32),
    [INFER_TYPE_Q2_K]    = QUANT("Q2_K", QK_K, 84, q2_k, INFER_TYPE_Q8_K),
    [INFER_TYPE_Q3_K]    = QUANT("Q3_K", QK_K, 110, q3_k, INFER_TYPE_Q8_K),
    [INFER_TYPE_Q4_K]    = QUANT("Q4_K", QK_K, 144, q4_k, INFER_TYPE_Q8_K),
    [INFER_TYPE_Q5_K]    = QUANT("Q5_K", QK_K, 176, q5_k, INFER_TYPE_Q8_K),
    [INFER_TYPE_Q6_K]    = QUANT("Q6_K", QK_K, 210, q6_k, INFER_TYPE_Q8_K),
    [INFER_TYPE_Q8_K]    = QUANT("Q8_K", QK_K, 292, q8_k, INFER_TYPE_F32),
    [INFER_TYPE_IQ2_XXS] = UNSUPPORTED("IQ2_XXS", QK_K, 66),
    [INFER_TYPE_IQ2_XS]  = UNSUPPORTED("IQ2_XS", QK_K, 74),
    [INFER_TYPE_IQ3_XXS] = UNSUPPORTED("IQ3_XXS", QK_K, 98),
    [INFER_TYPE_IQ1_S]   = UNSUPPORTED("IQ1_S", QK_K, 50),
    [INFER_TYPE_IQ4_NL]  = QUANT("IQ4_NL", 32, 18, iq4_nl, INFER_TYPE_Q8_0),
    [INFER_TYPE_IQ3_S]   = UNSUPPORTED("IQ3_S", QK_K, 110),
    [INFER_TYPE_IQ2_S]   = UNSUPPORTED("IQ2_S", QK_K, 82),
    [INFER_TYPE_IQ4_XS]  = QUANT("IQ4_XS", QK_K, 136, iq4_xs, INFER_TYPE_Q8_K),
    [INFER_TYPE_I8]      = PLAIN("I8", 1),
    [INFER_TYPE_I16]     = PLAIN("I16", 2),
    [INFER_TYPE_I32]     = PLAIN("I32", 4),
    [INFER_TYPE_I64]     = PLAIN("I64", 8),
    [INFER_TYPE_F64]     = PLAIN("F64", 8),
    [INFER_TYPE_IQ1_M]   = UNSUPPORTED("IQ1_M", QK_K, 56),
    [INFER_TYPE_BF16]    = QUANT("BF16", 1, 2, bf16, INFER_TYPE_F32),
    [INFER_TYPE_TQ1_0]   = UNSUPPORTED("TQ1_0", QK_K, 54),
    [INFER_TYPE_TQ2_0]   = UNSUPPORTED("TQ2_0", QK_K, 66),
    [INFER_TYPE_MXFP4]   = QUANT("MXFP4", 32, 17, mxfp4, INFER_TYPE_Q8_0),
};

const infer_dtype_traits *infer_dtype_traits_get(uint32_t type) {
    if (type >= INFER_TYPE_COUNT || dtype_table[type].name == NULL) return NULL;
    return &dtype_table[type];
}

size_t infer_dtype_row_bytes(uint32_t type, int64_t n) {
    const infer_dtype_traits *t = infer_dtype_traits_get(type);
    if (!t || n < 0 || n % t->block_size != 0) return 0;
    const uint64_t blocks = (uint64_t)(n / t->block_size);
    if (blocks > SIZE_MAX / t->block_bytes) return 0;   /* hostile shapes: no wrap-around */
    return (size_t)blocks * t->block_bytes;
}

const char *infer_type_name(uint32_t type) {
    const infer_dtype_traits *t = infer_dtype_traits_get(type);
    return t ? t->name : NULL;
}
