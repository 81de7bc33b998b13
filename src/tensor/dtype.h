/* Weight and activation formats: one traits table indexed by the GGUF type id.
 * Block layouts live in src/quant/; this header is what the rest of the library sees. */
#ifndef INFER_TENSOR_DTYPE_H
#define INFER_TENSOR_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* GGUF tensor type ids (values fixed by the file format). */
typedef enum infer_dtype {
    INFER_TYPE_F32 = 0,
    INFER_TYPE_F16 = 1,
    INFER_TYPE_Q4_0 = 2,
    INFER_TYPE_Q4_1 = 3,
    INFER_TYPE_Q5_0 = 6,
    INFER_TYPE_Q5_1 = 7,
    INFER_TYPE_Q8_0 = 8,
    INFER_TYPE_Q8_1 = 9,
    INFER_TYPE_Q2_K = 10,
    INFER_TYPE_Q3_K = 11,
    INFER_TYPE_Q4_K = 12,
    INFER_TYPE_Q5_K = 13,
    INFER_TYPE_Q6_K = 14,
    INFER_TYPE_Q8_K = 15,
    INFER_TYPE_IQ2_XXS = 16,
    INFER_TYPE_IQ2_XS = 17,
    INFER_TYPE_IQ3_XXS = 18,
    INFER_TYPE_IQ1_S = 19,
    INFER_TYPE_IQ4_NL = 20,
    INFER_TYPE_IQ3_S = 21,
    INFER_TYPE_IQ2_S = 22,
    INFER_TYPE_IQ4_XS = 23,
    INFER_TYPE_I8 = 24,
    INFER_TYPE_I16 = 25,
    INFER_TYPE_I32 = 26,
    INFER_TYPE_I64 = 27,
    INFER_TYPE_F64 = 28,
    INFER_TYPE_IQ1_M = 29,
    INFER_TYPE_BF16 = 30,
    INFER_TYPE_TQ1_0 = 34,
    INFER_TYPE_TQ2_0 = 35,
    INFER_TYPE_MXFP4 = 39,
    INFER_TYPE_COUNT = 40,
} infer_dtype;

typedef void (*infer_to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*infer_from_float_fn)(const float *src, void *dst, int64_t n);

typedef struct infer_dtype_traits {
    const char *name;          /* as GGUF/llama.cpp spell it; NULL for unassigned ids */
    int64_t block_size;        /* elements per block (1 for plain types) */
    size_t block_bytes;        /* bytes per block */
    bool supported;            /* we can dequantize/compute with it */
    infer_to_float_fn to_float;     /* n is a multiple of block_size */
    infer_from_float_fn from_float; /* reference quantizer (round to nearest), may be NULL */
    /* The format activations are rounded to before a dot product with this weight type,
     * as the reference engine does (its vec_dot_type): F32 for float weights (x used as
     * is), Q8_0 for the 32-weight formats, Q8_K for the K-quants. Every backend reads it
     * here so that CPU and GPU round alike; 0 (F32) for unsupported types. */
    uint32_t vec_dot_type;
} infer_dtype_traits;

/* Traits for a type id; NULL if the id is out of range or unassigned. */
const infer_dtype_traits *infer_dtype_traits_get(uint32_t type);
/* Bytes of a row of n elements; 0 if the type is unknown, n is negative or not a
 * multiple of the block size, or the size does not fit in size_t. */
size_t infer_dtype_row_bytes(uint32_t type, int64_t n);

/* Scalar half-precision conversions (IEEE binary16 and bfloat16, round to nearest even). */
float infer_fp16_to_f32(uint16_t h);
uint16_t infer_f32_to_fp16(float f);
float infer_bf16_to_f32(uint16_t h);
uint16_t infer_f32_to_bf16(float f);

#endif
