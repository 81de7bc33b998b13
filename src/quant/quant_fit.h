/* Helpers shared by the reference quantizers of several format families (internal to
 * src/quant/). */
#ifndef INFER_QUANT_FIT_H
#define INFER_QUANT_FIT_H

#include <math.h>
#include <stdint.h>

static inline int infer_clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline int infer_nearest(float x) { return (int)lrintf(x); }

/* Fits x[0..n) ~= scale * L - offset with L in [0, nmax] and offset >= 0 (the minimum is
 * never above zero), n <= 32: a few rounding grids, each refitted by least squares.
 * Writes the integer levels to L. */
void infer_quant_fit_scale_min(const float *x, int n, int nmax, float *scale, float *offset, uint8_t *L);

#endif
