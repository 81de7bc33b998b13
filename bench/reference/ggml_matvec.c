/* The reference engine's side of bench-bench_matmul's decode numbers: times one
 * ggml_mul_mat of a ROWS x COLS weight of TYPE with one F32 activation row on ggml's CPU
 * backend and prints the weight bytes per second of the best run (runs repeated for at
 * least a second, like bench_matmul). Weights are 64 quantized random rows repeated.
 * Not part of the build: it links against a ggml built outside the repository, see
 * bench/README.md ("Decode matvec per weight format").
 *   ggml_matvec TYPE ROWS COLS THREADS [N]   (N activation rows, default 1; GFLOP/s too) */
#define _GNU_SOURCE 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ggml.h"
#include "ggml-cpu.h"

static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s TYPE ROWS COLS THREADS [N]\n", argv[0]); return 2; }
    enum ggml_type type = GGML_TYPE_COUNT;
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const char *n = ggml_type_name((enum ggml_type)t);
        if (n && !strcasecmp(n, argv[1])) type = (enum ggml_type)t;
    }
    if (type == GGML_TYPE_COUNT) { fprintf(stderr, "unknown type\n"); return 2; }
    const int64_t rows = atoll(argv[2]), cols = atoll(argv[3]);
    const int nth = atoi(argv[4]);
    const size_t rb = ggml_row_size(type, cols), wbytes = rb * (size_t)rows;
    const int64_t nt = argc > 5 ? atoll(argv[5]) : 1;
    /* weights, activations, result, graph and tensor headers */
    struct ggml_init_params ip = { wbytes + (size_t)(cols + rows) * (size_t)nt * 4 + (64u << 20), NULL, false };
    struct ggml_context *ctx = ggml_init(ip);
    struct ggml_tensor *a = ggml_new_tensor_2d(ctx, type, cols, rows);
    struct ggml_tensor *b = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, cols, nt);
    ggml_quantize_init(type);
    const int64_t distinct = rows < 64 ? rows : 64;
    float *tmp = malloc(sizeof(float) * (size_t)(cols * distinct));
    srand(1);
    for (int64_t i = 0; i < cols * distinct; i++) tmp[i] = ((float)rand() / RAND_MAX - 0.5f) * 0.1f;
    ggml_quantize_chunk(type, tmp, a->data, 0, distinct, cols, NULL);
    for (int64_t r = distinct; r < rows; r++) memcpy((char *)a->data + rb * r, (char *)a->data + rb * (r % distinct), rb);
    for (int64_t i = 0; i < cols * nt; i++) ((float *)b->data)[i] = (float)rand() / RAND_MAX - 0.5f;
    struct ggml_tensor *c = ggml_mul_mat(ctx, a, b);
    struct ggml_cgraph *gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, c);
    /* one plan and work buffer for all runs (the _with_ctx form allocates per call) */
    struct ggml_cplan plan = ggml_graph_plan(gf, nth, NULL);
    plan.work_data = malloc(plan.work_size ? plan.work_size : 1);
    ggml_graph_compute(gf, &plan);
    double best = 1e30, total = 0;
    int reps = 0;
    while (total < 1.0 || reps < 3) {
        double t0 = now();
        ggml_graph_compute(gf, &plan);
        double dt = now() - t0;
        if (dt < best) best = dt;
        total += dt;
        reps++;
    }
    printf("ggml %-6s %3d %6lldx%-6lld n=%lld %10.3f ms %9.2f GB/s %8.1f GFLOP/s\n", argv[1], nth, (long long)rows, (long long)cols, (long long)nt, best * 1e3, wbytes / best * 1e-9, 2.0 * rows * cols * nt / best * 1e-9);
    return 0;
}
