/* The row walk shared by the one-token kernels of gemv_avx512.c and gemv_avx2.c (gemv.h).
 * GEMV_WALK_ROWS expects the kernel's parameters w, row_bytes, rows and y in scope, and
 * GEMV_PREFETCH (bytes the kernel's own prefetch runs ahead) defined where it is used. */
#ifndef INFER_CPU_GEMV_STREAMS_H
#define INFER_CPU_GEMV_STREAMS_H

#include <stddef.h>
#include <stdint.h>

/* Each call walks its row range as GEMV_STREAMS equal parts side by side (row k of every
 * part in the same step, then the rows the division leaves over one at a time): each
 * part is a sequential run of memory, so the hardware prefetchers follow that many
 * streams, on top of the software prefetch in each. One stream (rows in order) left a
 * core at 9 GB/s from DRAM where plain loads reach 14.7; four reach it (MXFP4
 * 200000x2880, 1 thread, AVX-512: bench/RESULTS.md, "row streams for the 32-weight kernels").
 * Every row keeps its own accumulator and order of operations, so the results are the
 * same bits as one row at a time. */
#define GEMV_STREAMS 4

/* The in-loop prefetch runs GEMV_PREFETCH bytes ahead of each stream, so the first
 * GEMV_PREFETCH bytes of every stream would be demand misses: fetched up front instead.
 * Calls are often short (a MoE work item is 64 rows of 1.5 KB), and there the heads are
 * a large share (MXFP4 64-row calls streamed 11 GB/s against 14 for long ones). */
static inline void prefetch_stream_heads(const void *w, size_t row_bytes, int64_t rows, int64_t q, size_t ahead) {
    const size_t part = q > 0 ? (size_t)q * row_bytes : (size_t)rows * row_bytes;
    const size_t head = part < ahead ? part : ahead;
    for (int s = 0; s < (q > 0 ? GEMV_STREAMS : 1); s++)
        for (size_t o = 0; o < head; o += 64) __builtin_prefetch((const char *)w + (size_t)s * part + o, 0, 3);
}

/* Runs ROWS(n, a[], y[]) (an always_inline per-type body that walks n rows at the
 * addresses a[0..n) and writes y[0..n)) for all rows of the call. */
#define GEMV_WALK_ROWS(ROWS)                                                               \
    do {                                                                                   \
        const int64_t q_ = rows / GEMV_STREAMS;                                           \
        prefetch_stream_heads(w, row_bytes, rows, q_, GEMV_PREFETCH);                                 \
        for (int64_t k_ = 0; k_ < q_; k_++) {                                             \
            const uint8_t *a_[GEMV_STREAMS];                                               \
            float *y_[GEMV_STREAMS];                                                       \
            for (int s_ = 0; s_ < GEMV_STREAMS; s_++) {                                    \
                a_[s_] = (const uint8_t *)w + (size_t)(k_ + s_ * q_) * row_bytes;          \
                y_[s_] = y + k_ + s_ * q_;                                                 \
            }                                                                              \
            ROWS(GEMV_STREAMS, a_, y_);                                                    \
        }                                                                                  \
        for (int64_t r_ = GEMV_STREAMS * q_; r_ < rows; r_++) {                           \
            const uint8_t *a1_[1] = {(const uint8_t *)w + (size_t)r_ * row_bytes};         \
            float *y1_[1] = {y + r_};                                                      \
            ROWS(1, a1_, y1_);                                                             \
        }                                                                                  \
    } while (0)

#define FOR_STREAMS(s, n) _Pragma("GCC unroll 4") for (int s = 0; s < (n); s++)

#endif
