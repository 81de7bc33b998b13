/* Cost of one thread-pool job (dispatch + every part done + the caller's return), which a
 * generated token pays a few hundred times (each matmul, norm, rope, attention... is one
 * job; Qwen2.5-1.5B: 28 layers x about 14).
 *   bench-bench_threadpool [-t 1,2] [-j JOBS] [-w WORK_NS]
 * Runs JOBS jobs back to back whose parts each spin for WORK_NS nanoseconds (0: empty),
 * prints the mean and median wall time per job and the overhead over the ideal (WORK_NS
 * when every thread runs its part at once). */
#define _GNU_SOURCE 1
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/threadpool.h"
#include "bench_common.h"

typedef struct { double work_s; } job_arg;

static void part(void *arg, int ith, int nth) {
    (void)ith; (void)nth;
    const job_arg *a = arg;
    if (a->work_s <= 0) return;
    const double t_end = bench_now_s() + a->work_s;
    while (bench_now_s() < t_end) {}
}

int main(int argc, char **argv) {
    int threads[8] = {1, 2}, n_threads = 2, jobs = 20000;
    double work_ns = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            const char *s = argv[++i];
            n_threads = 0;
            while (*s && n_threads < 8) { threads[n_threads++] = (int)strtol(s, (char **)&s, 10); if (*s == ',') s++; }
        } else if (!strcmp(argv[i], "-j") && i + 1 < argc) jobs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-w") && i + 1 < argc) work_ns = atof(argv[++i]);
        else { fprintf(stderr, "usage: %s [-t 1,2] [-j JOBS] [-w WORK_NS]\n", argv[0]); return 2; }
    }
    if (jobs < 1) jobs = 1;
    double *t = malloc(sizeof *t * (size_t)jobs);
    if (!t) return 1;
    FILE *la = fopen("/proc/loadavg", "r");
    char line[128] = "?\n";
    if (la) { if (!fgets(line, sizeof line, la)) line[0] = '\0'; fclose(la); }
    printf("%d jobs, %.0f ns of work per part; load average %s", jobs, work_ns, line);
    printf("| threads | mean us/job | median us/job | p99 us/job | overhead us (median - work) |\n");
    printf("|---:|---:|---:|---:|---:|\n");
    for (int ti = 0; ti < n_threads; ti++) {
        infer_threadpool *tp = infer_threadpool_new(threads[ti] > 0 ? threads[ti] : 1);
        job_arg a = {work_ns * 1e-9};
        for (int i = 0; i < 100; i++) infer_threadpool_run(tp, part, &a);   /* workers up and spinning */
        double total = 0;
        for (int i = 0; i < jobs; i++) {
            const double t0 = bench_now_s();
            infer_threadpool_run(tp, part, &a);
            t[i] = bench_now_s() - t0;
            total += t[i];
        }
        qsort(t, (size_t)jobs, sizeof *t, bench_cmp_double);
        const double med = t[jobs / 2], p99 = t[(size_t)(jobs * 0.99)];
        printf("| %d | %.2f | %.2f | %.2f | %.2f |\n", threads[ti], total / jobs * 1e6, med * 1e6, p99 * 1e6,
               med * 1e6 - work_ns * 1e-3);
        infer_threadpool_free(tp);
    }
    free(t);
    return 0;
}
