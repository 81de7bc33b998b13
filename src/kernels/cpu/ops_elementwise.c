/* Elementwise ops: gated linear units, residual adds and scaling, split across the pool
 * when the vectors are long enough to pay for the wake-up. */
#include <math.h>
#include "kernels/cpu/ops.h"
#include "kernels/cpu/cpu_features.h"

#define PARALLEL_MIN 32768

typedef struct {
    infer_glu_kind kind;
    const float *a, *b;
    float *out;
    int64_t n;
    float alpha, limit;
} ew_task;

float infer_gelu_tanh(float x) {
    const float sqrt_2_over_pi = 0.79788456080286535588f;
    return 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * (1.0f + 0.044715f * x * x)));
}

static void glu_range(const ew_task *t, int64_t lo, int64_t hi) {
    const infer_cpu_isa isa = infer_cpu_isa_active();
    if (isa >= INFER_ISA_AVX512)
        lo += infer_cpu_glu_avx512(t->kind, t->a + lo, t->b + lo, hi - lo, t->alpha, t->limit, t->out + lo);
    if (isa >= INFER_ISA_AVX2)
        lo += infer_cpu_glu_avx2(t->kind, t->a + lo, t->b + lo, hi - lo, t->alpha, t->limit, t->out + lo);
    if (t->kind == INFER_GLU_SWIGLU_OAI) {
        const float limit = t->limit, alpha = t->alpha;
        for (int64_t i = lo; i < hi; i++) {
            const float g = t->a[i] < limit ? t->a[i] : limit;   /* min(): NaN-free inputs */
            float u = t->b[i];
            u = u < -limit ? -limit : (u > limit ? limit : u);
            t->out[i] = g / (1.0f + expf(-alpha * g)) * (u + 1.0f);
        }
    } else if (t->kind == INFER_GLU_GEGLU) {
        for (int64_t i = lo; i < hi; i++) t->out[i] = infer_gelu_tanh(t->a[i]) * t->b[i];
    } else {
        for (int64_t i = lo; i < hi; i++) {
            const float g = t->a[i];
            t->out[i] = g / (1.0f + expf(-g)) * t->b[i];
        }
    }
}

static void glu_task(void *arg, int ith, int nth) {
    const ew_task *t = arg;
    long lo, hi;
    infer_split_range((long)t->n, ith, nth, &lo, &hi);
    glu_range(t, lo, hi);
}

void infer_cpu_glu(infer_threadpool *tp, infer_glu_kind kind, const float *gate, const float *up,
                   int64_t n, float alpha, float limit, float *out) {
    ew_task t = { kind, gate, up, out, n, alpha, limit };
    if (n < PARALLEL_MIN) glu_range(&t, 0, n);
    else infer_threadpool_run(tp, glu_task, &t);
}

void infer_cpu_glu_serial(infer_glu_kind kind, const float *gate, const float *up, int64_t n, float alpha,
                          float limit, float *out) {
    ew_task t = { kind, gate, up, out, n, alpha, limit };
    glu_range(&t, 0, n);
}

static void add_task(void *arg, int ith, int nth) {
    const ew_task *t = arg;
    long lo, hi;
    infer_split_range((long)t->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++) t->out[i] = t->a[i] + t->b[i];
}

void infer_cpu_add(infer_threadpool *tp, const float *a, const float *b, int64_t n, float *out) {
    ew_task t = { INFER_GLU_SWIGLU, a, b, out, n, 0, 0 };
    if (n < PARALLEL_MIN) add_task(&t, 0, 1);
    else infer_threadpool_run(tp, add_task, &t);
}

static void scale_task(void *arg, int ith, int nth) {
    const ew_task *t = arg;
    long lo, hi;
    infer_split_range((long)t->n, ith, nth, &lo, &hi);
    const float s = t->alpha, cap = t->limit;
    if (cap > 0.0f) {
        for (long i = lo; i < hi; i++) t->out[i] = cap * tanhf(s * t->a[i] / cap);
    } else {
        for (long i = lo; i < hi; i++) t->out[i] = s * t->a[i];
    }
}

void infer_cpu_scale(infer_threadpool *tp, const float *x, int64_t n, float s, float cap, float *out) {
    ew_task t = { INFER_GLU_SWIGLU, x, NULL, out, n, s, cap };
    if (n < PARALLEL_MIN) scale_task(&t, 0, 1);
    else infer_threadpool_run(tp, scale_task, &t);
}

void infer_cpu_add_bias_rows(float *y, const float *bias, int64_t n, int64_t cols) {
    for (int64_t t = 0; t < n; t++)
        for (int64_t c = 0; c < cols; c++) y[t * cols + c] += bias[c];
}
