/* File-quality quantizers: the weighted scale searches llama.cpp's quantizer runs when it
 * has no importance matrix, so that infer-quantize makes the same bytes from the same
 * floats (the scalar round-to-nearest quantizers in quant.h are the references the
 * kernels are tested against; these are what model files are made with).
 * n is a multiple of 256; src holds n floats, dst n/256 blocks. */
#ifndef INFER_QUANT_SEARCH_H
#define INFER_QUANT_SEARCH_H

#include <stdint.h>

void infer_quant_search_q4_k(const float *src, void *dst, int64_t n);
void infer_quant_search_q5_k(const float *src, void *dst, int64_t n);
void infer_quant_search_q6_k(const float *src, void *dst, int64_t n);

#endif
