/* Memory read bandwidth: the ceiling for generation, which streams every weight once per token.
 *   bench-bench_bandwidth [-t 1,2] [-S 1,2,4,8] [-s MIB] [-r REPS] [--isa avx512|avx2|scalar] [-q]
 * Each thread sums its share of one buffer (default 2048 MiB, several times the last-level
 * cache, so every pass comes from DRAM) with 64-byte (AVX-512) or 32-byte (AVX2) loads,
 * its share cut into S parts read side by side (-S: one run per count). One sequential
 * read per core leaves the memory system idle between that core's misses: on the 2-vCPU
 * Xeon a single stream read 13.9 GB/s per core while the 4-stream one-token kernels
 * streamed weights faster than that, so the ceiling a kernel is held to is the best over
 * the stream counts. A pass starts when all threads leave a barrier and ends when the last
 * one finishes. Prints GB/s (1e9 bytes) per pass: median, min and max over REPS passes
 * after one warm-up pass. -q prints only "bandwidth_gbps T BEST" lines, BEST the highest
 * median over the stream counts (for scripts, e.g. infer-bench --bandwidth).
 * "cpu GB/s" divides by the threads' mean CPU time instead of the wall time: on a machine
 * shared with other work the threads are often descheduled, and this is the rate while
 * they run (compare with bench-bench_matmul's "cpu GB/s" at 1 thread).
 * The buffer is written once before timing (pages faulted in, not zero pages). */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_common.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define TARGET_AVX512 __attribute__((target("avx512f")))
#define TARGET_AVX2 __attribute__((target("avx2")))

/* `ns` parts of the slice walked side by side, 256 bytes of each per step: one sequential
 * run per part, the way the one-token kernels walk their rows (gemv_streams.h). One part
 * is the plain sequential read; several keep more lines in flight per core. */
TARGET_AVX512 static uint64_t sum_avx512(const char *p, size_t part, int ns) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 256 <= part; i += 256)
        for (int s = 0; s < ns; s++) {
            const __m512i *v = (const __m512i *)(p + (size_t)s * part + i);
            a0 = _mm512_add_epi64(a0, _mm512_load_si512(v + 0));
            a1 = _mm512_add_epi64(a1, _mm512_load_si512(v + 1));
            a2 = _mm512_add_epi64(a2, _mm512_load_si512(v + 2));
            a3 = _mm512_add_epi64(a3, _mm512_load_si512(v + 3));
        }
    a0 = _mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3));
    return (uint64_t)_mm512_reduce_add_epi64(a0);
}

TARGET_AVX2 static uint64_t sum_avx2(const char *p, size_t part, int ns) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (size_t i = 0; i + 256 <= part; i += 256)
        for (int s = 0; s < ns; s++) {
            const __m256i *v = (const __m256i *)(p + (size_t)s * part + i);
            a0 = _mm256_add_epi64(a0, _mm256_load_si256(v + 0));
            a1 = _mm256_add_epi64(a1, _mm256_load_si256(v + 1));
            a2 = _mm256_add_epi64(a2, _mm256_load_si256(v + 2));
            a3 = _mm256_add_epi64(a3, _mm256_load_si256(v + 3));
            a4 = _mm256_add_epi64(a4, _mm256_load_si256(v + 4));
            a5 = _mm256_add_epi64(a5, _mm256_load_si256(v + 5));
            a6 = _mm256_add_epi64(a6, _mm256_load_si256(v + 6));
            a7 = _mm256_add_epi64(a7, _mm256_load_si256(v + 7));
        }
    a0 = _mm256_add_epi64(_mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)),
                          _mm256_add_epi64(_mm256_add_epi64(a4, a5), _mm256_add_epi64(a6, a7)));
    uint64_t l[4];
    _mm256_storeu_si256((__m256i *)l, a0);
    return l[0] + l[1] + l[2] + l[3];
}
#endif

static uint64_t sum_scalar(const char *p, size_t part, int ns) {
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t i = 0; i + 32 <= part; i += 32)
        for (int s = 0; s < ns; s++) {
            const uint64_t *v = (const uint64_t *)(p + (size_t)s * part + i);
            a0 += v[0]; a1 += v[1]; a2 += v[2]; a3 += v[3];
        }
    return a0 + a1 + a2 + a3;
}

typedef uint64_t (*sum_fn)(const char *, size_t, int);

typedef struct {
    const char *buf;
    size_t bytes;          /* whole buffer */
    int nth, reps;         /* reps includes the warm-up pass */
    int streams;           /* parts of each thread's slice read side by side */
    sum_fn sum;
    pthread_barrier_t start, done;
    double *pass_s;        /* per pass, written by thread 0 */
    double *cpu_s;         /* per pass and thread: the thread's CPU time */
    volatile uint64_t sink;
} bw_job;

typedef struct { bw_job *j; int ith; } bw_arg;

static double thread_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *bw_thread(void *p) {
    bw_arg *a = p;
    bw_job *j = a->j;
    /* equal slices, each cut into `streams` equal parts, on 4 KiB boundaries */
    const size_t part = j->bytes / (size_t)j->nth / (size_t)j->streams / 4096 * 4096;
    const size_t per = part * (size_t)j->streams;
    const char *mine = j->buf + per * (size_t)a->ith;
    uint64_t s = 0;
    for (int r = 0; r < j->reps; r++) {
        pthread_barrier_wait(&j->start);
        const double t0 = bench_now_s(), c0 = thread_cpu_s();
        s += j->sum(mine, part, j->streams);
        j->cpu_s[r * j->nth + a->ith] = thread_cpu_s() - c0;
        pthread_barrier_wait(&j->done);
        if (a->ith == 0) j->pass_s[r] = bench_now_s() - t0;
    }
    j->sink += s;
    return NULL;
}

static int parse_list(const char *s, int *out, int max) {
    int k = 0;
    while (*s && k < max) {
        const long v = strtol(s, (char **)&s, 10);
        if (v < 1 || v > 1024) return -1;
        out[k++] = (int)v;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return k;
}

static double measure(const char *buf, size_t bytes, int nth, int streams, int reps, sum_fn sum, int quiet) {
    bw_job j = {.buf = buf, .bytes = bytes, .nth = nth, .streams = streams, .reps = reps + 1, .sum = sum};
    j.pass_s = calloc((size_t)j.reps, sizeof(double));
    j.cpu_s = calloc((size_t)j.reps * (size_t)nth, sizeof(double));
    pthread_t *th = calloc((size_t)nth, sizeof *th);
    bw_arg *args = calloc((size_t)nth, sizeof *args);
    if (!j.pass_s || !j.cpu_s || !th || !args) return -1;
    pthread_barrier_init(&j.start, NULL, (unsigned)nth);
    pthread_barrier_init(&j.done, NULL, (unsigned)nth);
    for (int i = 0; i < nth; i++) {
        args[i] = (bw_arg){&j, i};
        if (i > 0 && pthread_create(&th[i], NULL, bw_thread, &args[i]) != 0) return -1;
    }
    bw_thread(&args[0]);
    for (int i = 1; i < nth; i++) pthread_join(th[i], NULL);
    const double read = (double)(bytes / (size_t)nth / (size_t)streams / 4096 * 4096) * streams * nth;
    double *gbs = j.pass_s + 1;   /* pass 0 was the warm-up */
    double *cpu_gbs = j.cpu_s;   /* reuses the first reps entries: pass r + 1 is read before r is written */
    for (int r = 0; r < reps; r++) {
        double mean_cpu = 0;
        for (int t = 0; t < nth; t++) mean_cpu += j.cpu_s[(r + 1) * nth + t] / nth;
        gbs[r] = read / gbs[r] * 1e-9;
        cpu_gbs[r] = read / mean_cpu * 1e-9;
    }
    const double med = bench_median(gbs, reps), cmed = bench_median(cpu_gbs, reps);   /* both sorted */
    if (!quiet) printf("| %d | %d | %.2f | %.2f | %.2f | %.2f |\n", nth, streams, med, gbs[0], gbs[reps - 1], cmed);
    fflush(stdout);
    pthread_barrier_destroy(&j.start);
    pthread_barrier_destroy(&j.done);
    free(j.pass_s); free(j.cpu_s); free(th); free(args);
    return med;
}

int main(int argc, char **argv) {
    int threads[16] = {1, 2}, n_threads = 2, reps = 7, quiet = 0;
    int streams[8] = {1, 2, 4, 8}, n_streams = 4;
    long mib = 2048;
    const char *isa = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) n_threads = parse_list(argv[++i], threads, 16);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) mib = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-S") && i + 1 < argc) {
            n_streams = parse_list(argv[++i], streams, 8);
            for (int k = 0; k < n_streams; k++)
                if (streams[k] > 16) n_streams = -1;
            if (n_streams < 1) n_threads = -1;
        }
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa = argv[++i];
        else if (!strcmp(argv[i], "-q")) quiet = 1;
        else n_threads = -1;
        if (n_threads < 1 || mib < 1 || reps < 1 || reps > 1000) {
            fprintf(stderr, "usage: %s [-t 1,2] [-S 1,2,4,8] [-s MIB] [-r REPS] [--isa avx512|avx2|scalar] [-q]\n", argv[0]);
            return 2;
        }
    }
    sum_fn sum = sum_scalar;
    const char *used = "scalar";
#if defined(__x86_64__)
    __builtin_cpu_init();
    if ((!isa || !strcmp(isa, "avx512")) && __builtin_cpu_supports("avx512f")) { sum = sum_avx512; used = "avx512"; }
    else if ((!isa || !strcmp(isa, "avx512") || !strcmp(isa, "avx2")) && __builtin_cpu_supports("avx2")) {
        sum = sum_avx2; used = "avx2";
    }
#endif
    const size_t bytes = (size_t)mib << 20;
    char *buf = NULL;
    if (posix_memalign((void **)&buf, 4096, bytes) != 0) { fprintf(stderr, "out of memory (%ld MiB)\n", mib); return 1; }
    for (size_t i = 0; i < bytes; i += 8) *(uint64_t *)(buf + i) = i * 0x9E3779B97F4A7C15ull;
    if (!quiet) {
        printf("buffer %ld MiB, loads: %s, %d passes after 1 warm-up; load average ", mib, used, reps);
        FILE *la = fopen("/proc/loadavg", "r");
        char line[128] = "?\n";
        if (la) { if (!fgets(line, sizeof line, la)) line[0] = '\0'; fclose(la); }
        printf("%s", line);
        printf("| threads | streams | median GB/s | min GB/s | max GB/s | median cpu GB/s |\n|---:|---:|---:|---:|---:|---:|\n");
    }
    for (int ti = 0; ti < n_threads; ti++) {
        const int nth = threads[ti];
        double best = 0;
        for (int si = 0; si < n_streams; si++) {
            const double med = measure(buf, bytes, nth, streams[si], reps, sum, quiet);
            if (med < 0) return 1;
            if (med > best) best = med;
        }
        if (quiet) printf("bandwidth_gbps %d %.2f\n", nth, best);
        fflush(stdout);
    }
    free(buf);
    return 0;
}
