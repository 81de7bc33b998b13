/* Persistent worker threads with low-latency dispatch.
 *
 * A job has n_threads parts. Parts are claimed, not assigned: the caller and every
 * awake worker take the next unclaimed part until none is left. The caller returns
 * once all parts are complete, so it never waits for a worker that was descheduled
 * before claiming anything (on a loaded or oversubscribed machine it simply runs those
 * parts itself; a pool that assigned part i to thread i would stall the whole forward
 * pass on every preempted worker).
 *
 * Claiming goes through one 64-bit word, `state` = (job generation << 32) | next part,
 * so a worker that wakes late cannot claim a part of a job that has already finished:
 * its compare-and-swap fails once the caller publishes the next generation. fn/arg are
 * read only after a successful claim, and the caller does not publish a new job before
 * every claimed part is complete, so they are stable while read.
 *
 * Workers spin on `wake` for a short while (jobs arrive hundreds of times per token,
 * a sleep/wake-up costs tens of microseconds), then sleep on it with a futex. */
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "kernels/cpu/threadpool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ volatile("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

#define SPIN_ITERS 20000   /* workers: ~0.3 ms of polling before sleeping */
#define WAIT_SPINS 1000    /* caller: ~20 us of polling, then yield the core each round */

struct infer_threadpool {
    int n_threads;                        /* including the caller */
    pthread_t *workers;                   /* n_threads - 1 */
    _Alignas(64) atomic_uint wake;        /* futex word: bumped per job and on shutdown */
    _Alignas(64) atomic_ullong state;     /* (generation << 32) | next unclaimed part */
    _Alignas(64) atomic_int completed;    /* parts of the current job finished */
    atomic_int sleepers;                  /* workers blocked (or about to block) in futex_wait */
    atomic_int stop;
    uint32_t generation;                  /* caller-side copy of the current job generation */
    infer_task_fn fn;
    void *arg;
    int (*abort_fn)(void *);              /* set between jobs by the pool's owner */
    void *abort_user;
    atomic_int cancelled;                 /* latched answer of abort_fn */
};

void infer_threadpool_set_abort(infer_threadpool *tp, int (*fn)(void *), void *user) {
    tp->abort_fn = fn;
    tp->abort_user = user;
    atomic_store(&tp->cancelled, 0);
}

int infer_threadpool_cancelled(infer_threadpool *tp) {
    if (!tp) return 0;
    if (atomic_load_explicit(&tp->cancelled, memory_order_relaxed)) return 1;
    if (tp->abort_fn && tp->abort_fn(tp->abort_user)) {
        atomic_store_explicit(&tp->cancelled, 1, memory_order_relaxed);
        return 1;
    }
    return 0;
}

void infer_threadpool_reset_cancel(infer_threadpool *tp) {
    if (tp) atomic_store(&tp->cancelled, 0);
}

static void futex_wait(atomic_uint *addr, unsigned val) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void futex_wake_all(atomic_uint *addr) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

/* Claims and runs parts of the current job until none is left. */
static void run_parts(infer_threadpool *tp) {
    const unsigned long long n = (unsigned long long)tp->n_threads;
    unsigned long long s = atomic_load_explicit(&tp->state, memory_order_acquire);
    for (;;) {
        const unsigned long long part = s & 0xFFFFFFFFull;
        if (part >= n) return;
        if (!atomic_compare_exchange_weak_explicit(&tp->state, &s, s + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;   /* s reloaded: someone else claimed, or a new job started */
        tp->fn(tp->arg, (int)part, tp->n_threads);
        atomic_fetch_add_explicit(&tp->completed, 1, memory_order_release);
        s = atomic_load_explicit(&tp->state, memory_order_acquire);
    }
}

static void *worker_main(void *p) {
    infer_threadpool *tp = p;
    /* `wake` starts at 0 when the pool is made; a worker that starts late (the caller
     * may have run every part of many jobs alone by then, or even begun shutting down)
     * must still notice that it moved, so it starts from 0 rather than the current value */
    unsigned seen = 0;
    for (;;) {
        unsigned w;
        int spins = 0;
        while ((w = atomic_load_explicit(&tp->wake, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ITERS) { CPU_RELAX(); continue; }
            if (atomic_load(&tp->stop)) return NULL;
            atomic_fetch_add(&tp->sleepers, 1);
            /* returns at once if `wake` already moved past `seen` */
            futex_wait(&tp->wake, seen);
            atomic_fetch_sub(&tp->sleepers, 1);
            spins = 0;
        }
        seen = w;
        if (atomic_load_explicit(&tp->stop, memory_order_acquire)) break;
        run_parts(tp);
    }
    return NULL;
}

infer_threadpool *infer_threadpool_new(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    infer_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    tp->n_threads = n_threads;
    atomic_init(&tp->wake, 0);
    /* no job yet: "next part" already past the end */
    atomic_init(&tp->state, (unsigned long long)n_threads);
    atomic_init(&tp->completed, 0);
    atomic_init(&tp->sleepers, 0);
    atomic_init(&tp->stop, 0);
    atomic_init(&tp->cancelled, 0);
    if (n_threads > 1) {
        tp->workers = calloc((size_t)n_threads - 1, sizeof(pthread_t));
        if (!tp->workers) { free(tp); return NULL; }
        for (int i = 1; i < n_threads; i++) {
            if (pthread_create(&tp->workers[i - 1], NULL, worker_main, tp) != 0) {
                tp->n_threads = i;   /* shut down only those that started */
                infer_threadpool_free(tp);
                return NULL;
            }
        }
    }
    return tp;
}

void infer_threadpool_free(infer_threadpool *tp) {
    if (!tp) return;
    atomic_store(&tp->stop, 1);
    atomic_fetch_add(&tp->wake, 1);
    futex_wake_all(&tp->wake);
    for (int i = 1; i < tp->n_threads; i++) pthread_join(tp->workers[i - 1], NULL);
    free(tp->workers);
    free(tp);
}

int infer_threadpool_size(const infer_threadpool *tp) { return tp ? tp->n_threads : 1; }

void infer_threadpool_run(infer_threadpool *tp, infer_task_fn fn, void *arg) {
    if (!tp || tp->n_threads == 1) { fn(arg, 0, 1); return; }
    tp->fn = fn;
    tp->arg = arg;
    tp->generation++;
    atomic_store_explicit(&tp->completed, 0, memory_order_relaxed);
    /* release: fn/arg/completed are visible to whoever claims a part of this job */
    atomic_store_explicit(&tp->state, (unsigned long long)tp->generation << 32, memory_order_release);
    /* seq_cst pairs with the worker's sleepers++ then futex re-check: either we see
     * the sleeper and wake it, or its futex_wait sees the new value */
    atomic_fetch_add(&tp->wake, 1);
    if (atomic_load(&tp->sleepers) > 0) futex_wake_all(&tp->wake);
    run_parts(tp);
    int spins = 0;
    while (atomic_load_explicit(&tp->completed, memory_order_acquire) < tp->n_threads) {
        /* a worker holding a part may have been preempted: stop hogging its core */
        if (++spins > WAIT_SPINS) sched_yield();
        else CPU_RELAX();
    }
}
