/* Rotary position embedding: NORMAL (consecutive pairs, GGUF llama) and NEOX (halves),
 * with optional YaRN frequency blending and magnitude scaling as llama.cpp defines it.
 *
 * Pair i (0 <= i < n_rot/2) of a head rotates by theta_i = pos * base^(-2i/n_rot).
 * With YaRN (yarn_factor > 1, extrapolation factor 1):
 *   interp = freq_scale * theta_i, extrap = theta_i,
 *   ramp   = 1 - clamp((i - lo) / max(0.001, hi - lo), 0, 1)   (lo/hi: corr dims),
 *   theta  = interp * (1 - ramp) + extrap * ramp,
 *   mscale = attn_factor * (1 + 0.1 ln(1 / freq_scale)).
 * Without YaRN: theta = freq_scale * theta_i and mscale = attn_factor.
 * Frequency factors (Llama 3.1+ rope_freqs, one per pair) divide theta_i before either
 * rule, as ggml_rope_ext does with its third source; the YaRN ramp still depends on i only.
 * Angles are computed in double: ggml accumulates them in float, which only matters at
 * positions far beyond what our tolerances see.
 */
#include <math.h>
#include "kernels/cpu/ops.h"
#include "core/error.h"

static bool rope_uses_yarn(const infer_rope_params *p) {
    return p->yarn_factor > 1.0f;
}

/* Inverse of "pair i completes n_rotations turns over the original context". */
static double yarn_corr_dim(int n_dims, int n_ctx_orig, double n_rotations, double base) {
    return n_dims * log(n_ctx_orig / (n_rotations * 2.0 * M_PI)) / (2.0 * log(base));
}

void infer_cpu_rope_yarn_corr_dims(const infer_rope_params *p, float dims[2]) {
    const int orig = p->yarn_orig_ctx > 0 ? p->yarn_orig_ctx : 4096;
    double lo = floor(yarn_corr_dim(p->n_rot, orig, p->yarn_beta_fast, p->freq_base));
    double hi = ceil(yarn_corr_dim(p->n_rot, orig, p->yarn_beta_slow, p->freq_base));
    dims[0] = (float)(lo > 0 ? lo : 0);
    dims[1] = (float)(hi < p->n_rot - 1 ? hi : p->n_rot - 1);
}

void infer_cpu_rope_cos_sin(const infer_rope_params *p, const float *freq_factors, int32_t pos, float *cs) {
    const int half = p->n_rot / 2;
    const bool yarn = rope_uses_yarn(p);
    float corr[2] = { 0, 0 };
    double mscale = p->attn_factor;
    if (yarn) {
        infer_cpu_rope_yarn_corr_dims(p, corr);
        mscale *= 1.0 + 0.1 * log(1.0 / p->freq_scale);
    }
    const double log_base = log((double)p->freq_base);
    for (int i = 0; i < half; i++) {
        double extrap = (double)pos * exp(-2.0 * i / p->n_rot * log_base);
        if (freq_factors) extrap /= freq_factors[i];
        const double interp = p->freq_scale * extrap;
        double theta = interp;
        if (yarn) {
            double span = corr[1] - corr[0];
            if (span < 0.001) span = 0.001;
            double y = (i - corr[0]) / span;
            y = y < 0 ? 0 : (y > 1 ? 1 : y);
            const double ramp = 1.0 - y;
            theta = interp * (1.0 - ramp) + extrap * ramp;
        }
        cs[2 * i] = (float)(cos(theta) * mscale);
        cs[2 * i + 1] = (float)(sin(theta) * mscale);
    }
}

typedef struct {
    float *x;
    const int32_t *pos;
    int64_t n_tok, n_head, head_dim;
    const float *freq_factors;  /* n_rot/2 or NULL */
    const infer_rope_params *p;
    float *cs_all;      /* per thread: n_rot floats */
} rope_task;

static void rope_apply_head(float *h, const float *cs, int n_rot, infer_rope_mode mode) {
    const int half = n_rot / 2;
    if (mode == INFER_ROPE_NEOX) {
        for (int i = 0; i < half; i++) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            const float a = h[i], b = h[i + half];
            h[i] = a * c - b * s;
            h[i + half] = a * s + b * c;
        }
    } else {
        for (int i = 0; i < half; i++) {
            const float c = cs[2 * i], s = cs[2 * i + 1];
            const float a = h[2 * i], b = h[2 * i + 1];
            h[2 * i] = a * c - b * s;
            h[2 * i + 1] = a * s + b * c;
        }
    }
}

static void rope_rows(void *arg, int ith, int nth) {
    const rope_task *t = arg;
    float *cs = t->cs_all + (size_t)ith * t->p->n_rot;
    /* Work items are (token, head) so that one decoded token still spreads over threads;
     * the angles are recomputed only when the token changes. */
    long lo, hi;
    infer_split_range((long)(t->n_tok * t->n_head), ith, nth, &lo, &hi);
    int64_t cached_tok = -1;
    for (long it = lo; it < hi; it++) {
        const int64_t tok = it / t->n_head;
        if (tok != cached_tok) {
            infer_cpu_rope_cos_sin(t->p, t->freq_factors, t->pos[tok], cs);
            cached_tok = tok;
        }
        rope_apply_head(t->x + it * t->head_dim, cs, t->p->n_rot, t->p->mode);
    }
}

infer_status infer_cpu_rope(infer_threadpool *tp, infer_cpu_ws *ws, float *x, const int32_t *pos,
                            int64_t n_tok, int64_t n_head, int64_t head_dim, const float *freq_factors,
                            const infer_rope_params *p, infer_error *err) {
    if (p->n_rot <= 0 || p->n_rot > head_dim || p->n_rot % 2 != 0)
        return infer_err(err, INFER_ERR_INVALID_ARG, "rope: n_rot %d invalid for head_dim %lld",
                         p->n_rot, (long long)head_dim);
    if (p->mode != INFER_ROPE_NORMAL && p->mode != INFER_ROPE_NEOX)
        return infer_err(err, INFER_ERR_INVALID_ARG, "rope: unknown mode %d", (int)p->mode);
    if (!(p->freq_base > 0.0f) || !(p->freq_scale > 0.0f))
        return infer_err(err, INFER_ERR_INVALID_ARG, "rope: freq_base %g / freq_scale %g must be > 0",
                         (double)p->freq_base, (double)p->freq_scale);
    const int nth = infer_threadpool_size(tp);
    float *cs = infer_cpu_ws_get(ws, sizeof(float) * (size_t)p->n_rot * (size_t)nth);
    if (!cs) return infer_err(err, INFER_ERR_NOMEM, "rope: out of memory for the angle table");
    rope_task t = { x, pos, n_tok, n_head, head_dim, freq_factors, p, cs };
    /* A decoded token's few thousand values cost less than waking the workers. */
    if (n_tok * n_head * head_dim < 32768) rope_rows(&t, 0, 1);
    else infer_threadpool_run(tp, rope_rows, &t);
    return INFER_OK;
}
