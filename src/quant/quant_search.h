/* File-quality quantizers: the weighted scale searches llama.cpp's quantizer runs when it
 * has no importance matrix, so that infer-quantize makes the same bytes from the same
 * floats (the scalar round-to-nearest quantizers in quant.h are the references the
 * kernels are tested against; these are what model files are made with).
 * n is a multiple of 256; src holds n floats, dst n/256 blocks. */
#ifndef INFER_QUANT_SEARCH_H
#define INFER_QUANT_SEARCH_H

#include <stdint.h>

/* Asymmetric fit x ~ scale * L - neg_min, L in [0, nmax], neg_min >= 0, minimizing the
 * weighted squared (or, use_mad, absolute) error over nstep+1 grids of nmax + rmin +
 * rdelta*k levels across [min(x, 0), max(x)]; n <= 32. Returns scale. */
float infer_quant_search_fit_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_min,
                                 float rmin, float rdelta, int nstep, int use_mad);

/* The value of largest magnitude (its sign kept); *amax receives the magnitude. */
static inline float infer_signed_extreme(const float *x, int n, float *amax) {
    float a = 0, v = 0;
    for (int i = 0; i < n; i++) {
        const float ax = x[i] < 0 ? -x[i] : x[i];
        if (ax > a) { a = ax; v = x[i]; }
    }
    *amax = a;
    return v;
}

/* First pass of the symmetric fits (weights x^2): the extreme value maps to -nmax, L gets
 * levels in [-nmax, nmax) and *sumlx / *suml2 the weighted sums. Returns the extreme
 * value, or 0 (L zeroed) when every |x| is below 1e-15. */
float infer_quant_search_sym_start(int n, int nmax, const float *x, int8_t *L, float *sumlx, float *suml2);

/* Re-rounds x against a stored scale d: L = clamp(round(x/d), -nmax, nmax-1) + nmax;
 * leaves L as it is when d is 0. */
void infer_quant_search_requant_sym(const float *x, int n, float d, int nmax, uint8_t *L);

void infer_quant_search_q4_k(const float *src, void *dst, int64_t n);
void infer_quant_search_q5_k(const float *src, void *dst, int64_t n);
void infer_quant_search_q6_k(const float *src, void *dst, int64_t n);
void infer_quant_search_q2_k(const float *src, void *dst, int64_t n);
void infer_quant_search_q3_k(const float *src, void *dst, int64_t n);
void infer_quant_search_iq4_nl(const float *src, void *dst, int64_t n);   /* n: multiple of 32 */
void infer_quant_search_iq4_xs(const float *src, void *dst, int64_t n);

#endif
