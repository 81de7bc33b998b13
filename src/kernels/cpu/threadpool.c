/* Persistent worker threads with low-latency dispatch.
 *
 * A job is published by bumping `generation`; workers spin on it for a short while
 * (jobs arrive hundreds of times per token, so sleeping every time would cost tens of
 * microseconds of wake-up latency), then sleep on a futex. The caller runs part 0 itself
 * and waits for `pending` to reach zero, spinning (its own part is about as long as
 * the workers'). */
#include <errno.h>
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
    int n_threads;                 /* including the caller */
    pthread_t *workers;            /* n_threads - 1 */
    _Alignas(64) atomic_uint generation;  /* futex word: bumped per job and on shutdown */
    _Alignas(64) atomic_int pending;      /* workers still running the current job */
    atomic_int sleepers;           /* workers blocked (or about to block) in futex_wait */
    atomic_int stop;
    infer_task_fn fn;
    void *arg;
};

typedef struct { infer_threadpool *tp; int ith; } worker_arg;

static void futex_wait(atomic_uint *addr, unsigned val) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void futex_wake_all(atomic_uint *addr) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static void *worker_main(void *p) {
    worker_arg wa = *(worker_arg *)p;
    free(p);
    infer_threadpool *tp = wa.tp;
    /* 0, not a fresh load: a job published before this thread got scheduled would
     * otherwise count as already seen, and run() would wait for it forever. */
    unsigned seen = 0;
    for (;;) {
        unsigned gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&tp->generation, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ITERS) { CPU_RELAX(); continue; }
            atomic_fetch_add(&tp->sleepers, 1);
            /* re-check after announcing ourselves, so a publish in between is not lost:
             * futex_wait returns at once if the word already changed */
            futex_wait(&tp->generation, seen);
            atomic_fetch_sub(&tp->sleepers, 1);
            spins = 0;
        }
        seen = gen;
        if (atomic_load_explicit(&tp->stop, memory_order_acquire)) break;
        tp->fn(tp->arg, wa.ith, tp->n_threads);
        atomic_fetch_sub_explicit(&tp->pending, 1, memory_order_release);
    }
    return NULL;
}

infer_threadpool *infer_threadpool_new(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    infer_threadpool *tp = calloc(1, sizeof *tp);
    if (!tp) return NULL;
    tp->n_threads = n_threads;
    atomic_init(&tp->generation, 0);
    atomic_init(&tp->pending, 0);
    atomic_init(&tp->sleepers, 0);
    atomic_init(&tp->stop, 0);
    if (n_threads > 1) {
        tp->workers = calloc((size_t)n_threads - 1, sizeof(pthread_t));
        if (!tp->workers) { free(tp); return NULL; }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (wa) { wa->tp = tp; wa->ith = i; }
            if (!wa || pthread_create(&tp->workers[i - 1], NULL, worker_main, wa) != 0) {
                free(wa);
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
    atomic_fetch_add_explicit(&tp->generation, 1, memory_order_release);
    futex_wake_all(&tp->generation);
    for (int i = 1; i < tp->n_threads; i++) pthread_join(tp->workers[i - 1], NULL);
    free(tp->workers);
    free(tp);
}

int infer_threadpool_size(const infer_threadpool *tp) { return tp ? tp->n_threads : 1; }

void infer_threadpool_run(infer_threadpool *tp, infer_task_fn fn, void *arg) {
    if (!tp || tp->n_threads == 1) { fn(arg, 0, 1); return; }
    tp->fn = fn;
    tp->arg = arg;
    atomic_store_explicit(&tp->pending, tp->n_threads - 1, memory_order_relaxed);
    /* seq_cst pairs with the worker's sleepers++ then futex re-check: either we see
     * the sleeper and wake it, or its futex_wait sees the new generation */
    atomic_fetch_add(&tp->generation, 1);
    if (atomic_load(&tp->sleepers) > 0) futex_wake_all(&tp->generation);
    fn(arg, 0, tp->n_threads);
    int spins = 0;
    while (atomic_load_explicit(&tp->pending, memory_order_acquire) > 0) {
        /* a worker may have been descheduled (more threads than cores): stop hogging */
        if (++spins > WAIT_SPINS) sched_yield();
        else CPU_RELAX();
    }
}
