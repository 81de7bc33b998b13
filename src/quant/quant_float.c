/* Plain float formats: F32 (copy), F16 and BF16 (per-element conversion). */
#include <string.h>
#include "quant/quant.h"
#include "tensor/dtype.h"

void infer_dequant_f32(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }
void infer_quant_f32(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

void infer_dequant_f16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = infer_fp16_to_f32(h[i]);
}
void infer_quant_f16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = infer_f32_to_fp16(src[i]);
}

void infer_dequant_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = infer_bf16_to_f32(h[i]);
}
void infer_quant_bf16(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = infer_f32_to_bf16(src[i]);
}
