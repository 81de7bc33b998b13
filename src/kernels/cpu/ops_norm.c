/* RMSNorm rows, split across the pool by rows. */
#include <math.h>
#include "kernels/cpu/ops.h"

typedef struct {
    const float *x, *w;
    float *out;
    int64_t n_rows, row_len;
    float eps;
} rms_task;

static void rms_rows(void *arg, int ith, int nth) {
    const rms_task *t = arg;
    long lo, hi;
    infer_split_range((long)t->n_rows, ith, nth, &lo, &hi);
    for (long r = lo; r < hi; r++) {
        const float *x = t->x + r * t->row_len;
        float *o = t->out + r * t->row_len;
        /* Double accumulation: a 4096-wide row of large activations loses several bits
         * in a single float sum. Eight partial sums (lane k takes columns i = k mod 8, then
         * they are added in a fixed order) let the compiler use vectors and keep the adds
         * out of one serial chain of latencies: the single sum cost about 2% of a prompt
         * step once the matmuls ran on AMX tiles. The order depends on the row only, so a
         * row's result does not depend on the batch it came in. */
        double part[8] = {0};
        int64_t i = 0;
        for (; i + 8 <= t->row_len; i += 8)
            for (int k = 0; k < 8; k++) part[k] += (double)x[i + k] * x[i + k];
        double ss = ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
        for (; i < t->row_len; i++) ss += (double)x[i] * x[i];
        const float scale = (float)(1.0 / sqrt(ss / (double)t->row_len + (double)t->eps));
        if (t->w) {
            for (int64_t i = 0; i < t->row_len; i++) o[i] = x[i] * scale * t->w[i];
        } else {
            for (int64_t i = 0; i < t->row_len; i++) o[i] = x[i] * scale;
        }
    }
}

void infer_cpu_rms_norm(infer_threadpool *tp, const float *x, const float *w, int64_t n_rows,
                        int64_t row_len, float eps, float *out) {
    rms_task t = { x, w, out, n_rows, row_len, eps };
    /* One small row is not worth waking the workers for. */
    if (n_rows * row_len < 16384) rms_rows(&t, 0, 1);
    else infer_threadpool_run(tp, rms_rows, &t);
}
