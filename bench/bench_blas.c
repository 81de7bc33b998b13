/* Float-weight prompt matmuls: libinfer's kernels against OpenBLAS's cblas_sgemm.
 *   bench-bench_blas [-t 1,2] [-n 512] [-T F32,F16,BF16] [-r REPS]
 * Shapes: Qwen2.5-1.5B's 1536x1536 (attn_q/o) and 8960x1536 (ffn_up/gate), n tokens.
 * For each (type, threads, shape) prints ms per call (median of REPS after a warm-up) for
 *   ours      infer_cpu_matmul with a pool of T threads and its own kernels
 *             (OpenBLAS off in its matmul state: the library would otherwise take sgemm);
 *   blas      one cblas_sgemm with OpenBLAS's own T threads, F16/BF16 weights converted
 *             to F32 first (the conversion is timed with it: it happens on every call);
 *   blas-pool our pool of T threads, each converting its share of the rows 256 at a time
 *             and calling a single-threaded sgemm on them (no second thread pool);
 * and the largest difference between ours and blas relative to max|y|.
 * Built without OpenBLAS (pkg-config found none) it says so and exits 77. */
#define _GNU_SOURCE 1
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "infer.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/threadpool.h"
#include "tensor/dtype.h"
#include "bench_common.h"

#ifndef INFER_HAVE_OPENBLAS
int main(void) {
    fprintf(stderr, "bench-bench_blas: built without OpenBLAS (pkg-config openblas not found)\n");
    return 77;
}
#else
#include <cblas.h>

#define BLOCK_ROWS 256

typedef struct { const char *what; int64_t rows, cols; } shape;
static const shape shapes[] = {{"1536x1536", 1536, 1536}, {"8960x1536", 8960, 1536}};

typedef struct {
    const char *W;
    const infer_dtype_traits *tr;
    int is_f32;     /* weights usable by sgemm as they are */
    size_t row_bytes;
    int64_t rows, cols, n;
    const float *x;
    float *y;
    float **conv;   /* per thread: BLOCK_ROWS x cols floats */
} blas_job;

static void blas_pool_task(void *arg, int ith, int nth) {
    blas_job *j = arg;
    long lo, hi;
    infer_split_range((long)j->rows, ith, nth, &lo, &hi);
    for (long r0 = lo; r0 < hi; r0 += BLOCK_ROWS) {
        const long r1 = r0 + BLOCK_ROWS < hi ? r0 + BLOCK_ROWS : hi;
        const float *wf = (const float *)(j->W + (size_t)r0 * j->row_bytes);
        if (!j->is_f32) {
            j->tr->to_float(j->W + (size_t)r0 * j->row_bytes, j->conv[ith], (r1 - r0) * j->cols);
            wf = j->conv[ith];
        }
        /* y[t][r] = sum_c W[r][c] x[t][c]: Y (n x rows) = X (n x cols) W^T, this thread's columns of Y */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->n, (int)(r1 - r0), (int)j->cols, 1.0f, j->x,
                    (int)j->cols, wf, (int)j->cols, 0.0f, j->y + r0, (int)j->rows);
    }
}

int main(int argc, char **argv) {
    int threads[8] = {1, 2}, n_threads = 2, reps = 5;
    int64_t n = 512;
    const char *types = "F32,F16,BF16";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            const char *s = argv[++i];
            n_threads = 0;
            while (*s && n_threads < 8) { threads[n_threads++] = (int)strtol(s, (char **)&s, 10); if (*s == ',') s++; }
        } else if (!strcmp(argv[i], "-n") && i + 1 < argc) n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "-T") && i + 1 < argc) types = argv[++i];
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else { fprintf(stderr, "usage: %s [-t 1,2] [-n 512] [-T F32,F16,BF16] [-r REPS]\n", argv[0]); return 2; }
    }
    if (reps < 1 || reps > 100 || n < 1) return 2;
    FILE *la = fopen("/proc/loadavg", "r");
    char line[128] = "?\n";
    if (la) { if (!fgets(line, sizeof line, la)) line[0] = '\0'; fclose(la); }
    printf("isa: %s, OpenBLAS %s, n = %lld tokens, median of %d; load average %s", infer_cpu_isa_name(),
           openblas_get_config(), (long long)n, reps, line);
    printf("| type | threads | shape | ours ms | blas ms | blas-pool ms | ours/best | max rel diff |\n");
    printf("|---|---:|---|---:|---:|---:|---:|---:|\n");
    char tlist[64];
    snprintf(tlist, sizeof tlist, "%s", types);
    for (char *tname = strtok(tlist, ","); tname; tname = strtok(NULL, ",")) {
        uint32_t type = 0;
        while (type < INFER_TYPE_COUNT && !(infer_type_name(type) && !strcmp(infer_type_name(type), tname))) type++;
        if (type >= INFER_TYPE_COUNT) { fprintf(stderr, "unknown type %s\n", tname); continue; }
        const infer_dtype_traits *tr = infer_dtype_traits_get(type);
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const shape *sh = &shapes[si];
            const size_t rb = infer_dtype_row_bytes(type, sh->cols);
            char *W = malloc(rb * (size_t)sh->rows);
            float *tmp = malloc(sizeof(float) * (size_t)sh->cols);
            float *x = malloc(sizeof(float) * (size_t)(n * sh->cols));
            float *y0 = malloc(sizeof(float) * (size_t)(n * sh->rows)), *y1 = malloc(sizeof(float) * (size_t)(n * sh->rows));
            float *wf = malloc(sizeof(float) * (size_t)(sh->rows * sh->cols));
            if (!W || !tmp || !x || !y0 || !y1 || !wf) { fprintf(stderr, "out of memory\n"); return 1; }
            for (int64_t r = 0; r < sh->rows; r++) {
                for (int64_t c = 0; c < sh->cols; c++) tmp[c] = bench_frand() * 0.05f;
                tr->from_float(tmp, W + rb * (size_t)r, sh->cols);
            }
            for (int64_t i = 0; i < n * sh->cols; i++) x[i] = bench_frand();
            for (int ti = 0; ti < n_threads; ti++) {
                const int T = threads[ti];
                infer_threadpool *tp = infer_threadpool_new(T);
                infer_cpu_scratch *sc = infer_cpu_scratch_new();
                infer_cpu_scratch_set_blas(sc, 0);   /* ours: the library would otherwise take sgemm itself */
                float *conv[8] = {0};
                for (int k = 0; k < T && k < 8; k++) conv[k] = malloc(sizeof(float) * BLOCK_ROWS * (size_t)sh->cols);
                blas_job j = {W, tr, type == INFER_TYPE_F32, rb, sh->rows, sh->cols, n, x, y1, conv};
                double t_ours[100], t_blas[100], t_pool[100];
                for (int r = -1; r < reps; r++) {   /* r = -1: warm-up; the three alternate */
                    double t0 = bench_now_s();
                    infer_cpu_matmul(tp, sc, W, type, sh->rows, sh->cols, x, n, y0);
                    const double a = bench_now_s() - t0;
                    openblas_set_num_threads(T);
                    t0 = bench_now_s();
                    const float *wp = (const float *)W;
                    if (type != INFER_TYPE_F32) { tr->to_float(W, wf, sh->rows * sh->cols); wp = wf; }
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)sh->rows, (int)sh->cols, 1.0f, x,
                                (int)sh->cols, wp, (int)sh->cols, 0.0f, y1, (int)sh->rows);
                    const double b = bench_now_s() - t0;
                    openblas_set_num_threads(1);
                    t0 = bench_now_s();
                    infer_threadpool_run(tp, blas_pool_task, &j);
                    const double c = bench_now_s() - t0;
                    if (r >= 0) { t_ours[r] = a; t_blas[r] = b; t_pool[r] = c; }
                }
                double maxy = 0, maxd = 0;
                for (int64_t i = 0; i < n * sh->rows; i++) {
                    if (fabsf(y1[i]) > maxy) maxy = fabsf(y1[i]);
                    if (fabsf(y0[i] - y1[i]) > maxd) maxd = fabsf(y0[i] - y1[i]);
                }
                const double mo = bench_median(t_ours, reps), mb = bench_median(t_blas, reps), mp = bench_median(t_pool, reps);
                printf("| %s | %d | %s | %.1f | %.1f | %.1f | %.2f | %.1e |\n", tname, T, sh->what, mo * 1e3, mb * 1e3,
                       mp * 1e3, mo / (mb < mp ? mb : mp), maxd / (maxy > 0 ? maxy : 1));
                fflush(stdout);
                for (int k = 0; k < 8; k++) free(conv[k]);
                infer_cpu_scratch_free(sc);
                infer_threadpool_free(tp);
            }
            free(W); free(tmp); free(x); free(y0); free(y1); free(wf);
        }
    }
    return 0;
}
#endif
