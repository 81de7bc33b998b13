/* Helpers every bench program uses: a monotonic clock and a fixed-seed generator (speed
 * does not depend on the values, and runs stay comparable). Header-only, because each
 * file in bench/ is its own program. Needs _GNU_SOURCE defined before any include
 * (clock_gettime under -std=c11). */
#ifndef INFER_BENCH_COMMON_H
#define INFER_BENCH_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) ascending and returns its median (n >= 1). */
static inline double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* xorshift64, one stream per program */
static uint64_t bench_rng = 0x2545F4914F6CDD1Dull;
static inline uint64_t bench_rand_u64(void) {
    bench_rng ^= bench_rng << 13;
    bench_rng ^= bench_rng >> 7;
    bench_rng ^= bench_rng << 17;
    return bench_rng;
}

/* uniform in [-1, 1) */
static inline float bench_frand(void) {
    return (float)((bench_rand_u64() >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

#endif
