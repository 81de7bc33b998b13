#include "rope_ref.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

void test_rope_ref(double *x, int64_t n_tok, int64_t n_head, int64_t head_dim, const int32_t *pos, const float *ff,
                   const infer_rope_params *p) {
    const int half = p->n_rot / 2;
    const bool yarn = p->yarn_factor > 1.0f;
    double lo = 0, hi = 0, mscale = p->attn_factor;
    if (yarn) {
        const double two_log_base = 2.0 * log((double)p->freq_base);
        lo = fmax(0, floor(p->n_rot * log(p->yarn_orig_ctx / (p->yarn_beta_fast * 2 * M_PI)) / two_log_base));
        hi = fmin(p->n_rot - 1, ceil(p->n_rot * log(p->yarn_orig_ctx / (p->yarn_beta_slow * 2 * M_PI)) / two_log_base));
        mscale *= 1.0 + 0.1 * log(1.0 / p->freq_scale);
    }
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t h = 0; h < n_head; h++) {
            double *v = x + (t * n_head + h) * head_dim;
            for (int i = 0; i < half; i++) {
                const double theta_e = pos[t] * pow(p->freq_base, -2.0 * i / p->n_rot) / (ff ? ff[i] : 1.0);
                double theta = p->freq_scale * theta_e;
                if (yarn) {
                    const double ramp = 1.0 - fmin(1.0, fmax(0.0, (i - lo) / fmax(0.001, hi - lo)));
                    theta = theta * (1 - ramp) + theta_e * ramp;
                }
                const double c = cos(theta) * mscale, s = sin(theta) * mscale;
                const int a = p->mode == INFER_ROPE_NEOX ? i : 2 * i;
                const int b = p->mode == INFER_ROPE_NEOX ? i + half : 2 * i + 1;
                const double x0 = v[a], x1 = v[b];
                v[a] = x0 * c - x1 * s;
                v[b] = x0 * s + x1 * c;
            }
        }
}
