/* A fixed pool of worker threads owned by a context (no global state).
 * infer_threadpool_run() executes fn(arg, ith, nth) once for every ith in [0, nth)
 * (nth = pool size) and returns when all have finished. Parts are claimed by whichever
 * pool thread is running (the caller included), so one thread may run several parts
 * one after another: state indexed by ith is private to that part, never to a thread. */
#ifndef INFER_CPU_THREADPOOL_H
#define INFER_CPU_THREADPOOL_H

typedef struct infer_threadpool infer_threadpool;
typedef void (*infer_task_fn)(void *arg, int ith, int nth);

infer_threadpool *infer_threadpool_new(int n_threads);   /* NULL on failure */
void infer_threadpool_free(infer_threadpool *tp);
int infer_threadpool_size(const infer_threadpool *tp);
void infer_threadpool_run(infer_threadpool *tp, infer_task_fn fn, void *arg);

/* Cancellation: a job's work loops call infer_threadpool_cancelled() between work items;
 * it polls the installed callback and latches the first nonzero answer until
 * infer_threadpool_reset_cancel(). fn NULL: never cancelled. */
void infer_threadpool_set_abort(infer_threadpool *tp, int (*fn)(void *), void *user);
int infer_threadpool_cancelled(infer_threadpool *tp);
void infer_threadpool_reset_cancel(infer_threadpool *tp);

/* Splits [0,n) into nth nearly equal parts; part ith is [*lo,*hi). */
static inline void infer_split_range(long n, int ith, int nth, long *lo, long *hi) {
    long per = (n + nth - 1) / nth;
    *lo = per * ith;
    *hi = *lo + per < n ? *lo + per : n;
    if (*lo > n) *lo = n;
}

#endif
