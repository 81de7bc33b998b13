/* RoPE computed from its definition in double: the reference the CPU and Vulkan rope
 * ops are tested against. */
#ifndef INFER_TEST_ROPE_REF_H
#define INFER_TEST_ROPE_REF_H

#include <stdint.h>

#include "kernels/backend.h"

/* Rotates x (n_tok x n_head x head_dim, innermost last) in place at positions pos[n_tok].
 * theta_e = pos * base^(-2i/n_rot) / ff[i] (ff NULL: no frequency factors), theta_i =
 * freq_scale * theta_e; with YaRN (yarn_factor > 1) a ramp over the pair index between
 * the corrected dims mixes the two and cos/sin are scaled by attn_factor * (1 + 0.1
 * ln(1/freq_scale)). Dims past n_rot are left as they are. */
void test_rope_ref(double *x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t *pos, const float *ff,
                   const infer_rope_params *p);

#endif
