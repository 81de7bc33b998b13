/* Thread pool: every part runs exactly once per job, across many back-to-back jobs (the
 * spinning fast path), after workers fell asleep (futex), and when workers start late. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "kernels/cpu/threadpool.h"

typedef struct { atomic_int hits[8]; atomic_int nth_seen; } job;

static void task(void *arg, int ith, int nth) {
    job *j = arg;
    atomic_fetch_add(&j->hits[ith], 1);
    atomic_store(&j->nth_seen, nth);
}

static void run_jobs(int n_threads, int jobs, int sleep_between) {
    infer_threadpool *tp = infer_threadpool_new(n_threads);
    assert_non_null(tp);
    assert_int_equal(infer_threadpool_size(tp), n_threads);
    for (int k = 0; k < jobs; k++) {
        job j = {0};
        infer_threadpool_run(tp, task, &j);
        for (int i = 0; i < 8; i++) assert_int_equal(atomic_load(&j.hits[i]), i < n_threads ? 1 : 0);
        assert_int_equal(atomic_load(&j.nth_seen), n_threads);
        if (sleep_between) {
            struct timespec ts = {0, 20 * 1000 * 1000};   /* let workers reach the futex */
            nanosleep(&ts, NULL);
        }
    }
    infer_threadpool_free(tp);
}

static void test_back_to_back(void **state) {
    run_jobs(1, 100, 0);
    run_jobs(2, 300, 0);
    run_jobs(5, 30, 0);    /* more threads than cores */
}

static void test_after_sleep(void **state) { run_jobs(3, 4, 1); }

static void test_split_range(void **state) {
    for (long n = 0; n < 40; n++)
        for (int nth = 1; nth < 6; nth++) {
            long covered = 0, prev_hi = 0;
            for (int i = 0; i < nth; i++) {
                long lo, hi;
                infer_split_range(n, i, nth, &lo, &hi);
                assert_true(lo <= hi || (lo == n && hi <= n));
                if (hi > lo) { assert_int_equal(lo, prev_hi); prev_hi = hi; covered += hi - lo; }
            }
            assert_int_equal(covered, n);
        }
}

/* Workers may start after jobs (or the shutdown) were published: the caller can run
 * every part alone, and nothing may hang. */
static void test_create_free_races(void **state) {
    for (int k = 0; k < 50; k++) {
        infer_threadpool *tp = infer_threadpool_new(3);
        assert_non_null(tp);
        if (k % 2) {
            job j = {0};
            infer_threadpool_run(tp, task, &j);
            for (int i = 0; i < 3; i++) assert_int_equal(atomic_load(&j.hits[i]), 1);
        }
        infer_threadpool_free(tp);
    }
}

static void test_free_null(void **state) {
    infer_threadpool_free(NULL);
    assert_int_equal(infer_threadpool_size(NULL), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_back_to_back),
        cmocka_unit_test(test_after_sleep),
        cmocka_unit_test(test_split_range),
        cmocka_unit_test(test_create_free_races),
        cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
