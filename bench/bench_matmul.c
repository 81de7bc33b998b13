/* CPU matmul micro-benchmark on the Qwen2.5-1.5B projection shapes.
 *   bench-bench_matmul [-t 1,2] [-T Q4_K,Q6_K,...] [-n 1,512] [-s all|small|ROWSxCOLS] [--isa scalar|avx2|avx512|amx] [--cpu]
 * (-s ROWSxCOLS: that one shape instead, e.g. 14336x4096 for a weight larger than the caches;
 *  --cpu: time calls by the process's CPU time, not the wall clock: on a machine shared by
 *  more runnable processes than cores, a 1-thread call's CPU time leaves out the time spent
 *  waiting for a core, so AMX vs AVX-512 comparisons stay meaningful under load)
 * For each weight type, thread count, shape and token count n prints the time per
 * call, the weight bytes streamed per second (meaningful for n = 1: decode is bound by
 * memory) and GFLOP/s (2 * rows * cols * n per call). Weights are a few quantized random
 * rows repeated to the full size (speed does not depend on the values). */
#define _GNU_SOURCE 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "infer.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/threadpool.h"
#include "tensor/dtype.h"
#include "bench_common.h"

typedef struct { const char *what; int64_t rows, cols; } shape;
static shape shapes[] = {
    {"attn_q/o 1536x1536", 1536, 1536},
    {"ffn_up/gate 8960x1536", 8960, 1536},
    {"ffn_down 1536x8960", 1536, 8960},
    {"output 151936x1536", 151936, 1536},
};

static double bench_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *make_weights(uint32_t type, int64_t rows, int64_t cols) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    const size_t rb = infer_dtype_row_bytes(type, cols);
    char *w = NULL;
    if (posix_memalign((void **)&w, 64, rb * (size_t)rows) != 0) return NULL;
    const int64_t distinct = rows < 64 ? rows : 64;
    float *tmp = malloc(sizeof(float) * (size_t)cols);
    for (int64_t r = 0; r < distinct; r++) {
        for (int64_t c = 0; c < cols; c++) tmp[c] = bench_frand() * 0.05f;
        tr->from_float(tmp, w + rb * (size_t)r, cols);
    }
    for (int64_t r = distinct; r < rows; r++) memcpy(w + rb * (size_t)r, w + rb * (size_t)(r % distinct), rb);
    free(tmp);
    return w;
}

static int parse_list(const char *s, int64_t *out, int max) {
    int k = 0;
    while (*s && k < max) { out[k++] = strtoll(s, (char **)&s, 10); if (*s == ',') s++; }
    return k;
}

int main(int argc, char **argv) {
    int64_t threads[8] = {1, 2}, ns[8] = {1, 512};
    int n_threads = 2, n_ns = 2, small = 0, cpu_clock = 0;
    size_t n_shapes = sizeof shapes / sizeof shapes[0];
    const char *types = "Q4_K,Q6_K,Q8_0,Q4_0,Q5_0,Q5_K,MXFP4,F16,Q2_K,Q3_K,IQ4_NL,IQ4_XS";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) n_threads = parse_list(argv[++i], threads, 8);
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) n_ns = parse_list(argv[++i], ns, 8);
        else if (!strcmp(argv[i], "-T") && i + 1 < argc) types = argv[++i];
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            long long r, c;
            small = !strcmp(argv[++i], "small");
            if (sscanf(argv[i], "%lldx%lld", &r, &c) == 2 && r > 0 && c > 0) {
                shapes[0] = (shape){argv[i], r, c};
                n_shapes = 1;
            }
        }
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) setenv("INFER_CPU_ISA", argv[++i], 1);
        else if (!strcmp(argv[i], "--cpu")) cpu_clock = 1;
        else { fprintf(stderr, "usage: %s [-t 1,2] [-T Q4_K,...] [-n 1,512] [-s all|small|ROWSxCOLS] [--isa I] [--cpu]\n", argv[0]); return 2; }
    }
    printf("isa: %s%s\n", infer_cpu_isa_name(), cpu_clock ? " (ms/call: process CPU time)" : "");
    printf("%-6s %3s %-24s %5s %10s %9s %9s\n", "type", "thr", "shape", "n", "ms/call", "GB/s", "GFLOP/s");
    char tlist[256];
    snprintf(tlist, sizeof tlist, "%s", types);
    for (char *tname = strtok(tlist, ","); tname; tname = strtok(NULL, ",")) {
        uint32_t type = 0;
        while (type < INFER_TYPE_COUNT && !(infer_type_name(type) && !strcmp(infer_type_name(type), tname))) type++;
        if (type >= INFER_TYPE_COUNT) { fprintf(stderr, "unknown type %s\n", tname); continue; }
        for (size_t si = 0; si < n_shapes; si++) {
            const shape *sh = &shapes[si];
            if (small && sh->rows > 10000) continue;
            const int64_t bs = infer_dtype_traits_get(type)->block_size;
            if (sh->cols % bs != 0) { /* a row must hold whole blocks */
                fprintf(stderr, "skipping %s %lldx%lld: %lld columns are not whole %lld-value blocks\n", tname,
                        (long long)sh->rows, (long long)sh->cols, (long long)sh->cols, (long long)bs);
                continue;
            }
            void *W = make_weights(type, sh->rows, sh->cols);
            if (!W) { fprintf(stderr, "out of memory\n"); return 1; }
            const double wbytes = (double)infer_dtype_row_bytes(type, sh->cols) * (double)sh->rows;
            for (int ni = 0; ni < n_ns; ni++) {
                const int64_t n = ns[ni];
                /* the output head runs on one token per step in practice */
                if (sh->rows > 100000 && n > 1) continue;
                float *x = malloc(sizeof(float) * (size_t)(n * sh->cols));
                float *y = malloc(sizeof(float) * (size_t)(n * sh->rows));
                for (int64_t i = 0; i < n * sh->cols; i++) x[i] = bench_frand();
                for (int ti = 0; ti < n_threads; ti++) {
                    infer_threadpool *tp = infer_threadpool_new((int)threads[ti]);
                    infer_cpu_scratch *sc = infer_cpu_scratch_new();
                    if (infer_cpu_matmul(tp, sc, W, type, sh->rows, sh->cols, x, n, y) != 0) {
                        fprintf(stderr, "%s unsupported\n", tname);
                        break;
                    }
                    int reps = 0;
                    double best = 1e30, t_total = 0;
                    while (t_total < 1.0 || reps < 3) {
                        const double t0 = cpu_clock ? bench_cpu_s() : bench_now_s();
                        infer_cpu_matmul(tp, sc, W, type, sh->rows, sh->cols, x, n, y);
                        const double dt = (cpu_clock ? bench_cpu_s() : bench_now_s()) - t0;
                        if (dt < best) best = dt;
                        t_total += dt;
                        reps++;
                    }
                    printf("%-6s %3d %-24s %5lld %10.3f %9.2f %9.1f\n", tname, (int)threads[ti], sh->what,
                           (long long)n, best * 1e3, wbytes / best * 1e-9,
                           2.0 * (double)sh->rows * (double)sh->cols * (double)n / best * 1e-9);
                    fflush(stdout);
                    infer_cpu_scratch_free(sc);
                    infer_threadpool_free(tp);
                }
                free(x);
                free(y);
            }
            free(W);
        }
    }
    return 0;
}
