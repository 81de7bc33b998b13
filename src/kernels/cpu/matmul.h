/* Dequantizing matrix multiply on the CPU, dispatched at run time to the best ISA.
 *
 * W is rows x cols in GGUF layout (each row `cols` elements of type wtype, rows packed
 * back to back, row stride = infer_dtype_row_bytes(wtype, cols)).
 * x is n rows of cols floats; y is n rows of `rows` floats:  y[t][r] = dot(W[r], x[t]).
 * Activations are converted once per call to the weight type's dot-product partner
 * (Q8_0 for the _0/_1 formats, Q8_K for K-quants, ...), then rows are split across threads.
 */
#ifndef INFER_CPU_MATMUL_H
#define INFER_CPU_MATMUL_H

#include <stdint.h>
#include "kernels/backend.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/cpu/vec_dot.h"

/* Settings of the plans, fixed when their owner is made: a plan is made on every op call,
 * where getenv would cost time and race with a setenv on another thread. */
typedef struct infer_cpu_matmul_opts {
    int panels;   /* 0: never the panel kernels (matmul_panels.h); INFER_CPU_PANELS=0 */
    int blas;     /* 0: never OpenBLAS sgemm for float weights (matmul_blas.h); INFER_OPENBLAS=0 */
} infer_cpu_matmul_opts;

/* The matmuls' per-backend state: a reusable buffer for converted activations and the plan
 * settings. infer_cpu_scratch_new reads them from the environment (INFER_CPU_PANELS,
 * INFER_OPENBLAS) once;
 * each CPU backend makes one, so a context decides when it is created. */
typedef struct infer_cpu_scratch infer_cpu_scratch;
infer_cpu_scratch *infer_cpu_scratch_new(void);
void infer_cpu_scratch_free(infer_cpu_scratch *s);
/* Panels (OpenBLAS) on (1) or off (0) for the matmuls run with s from now on: tests and
 * benchmarks compare both ways without the environment. */
void infer_cpu_scratch_set_panels(infer_cpu_scratch *s, int on);
void infer_cpu_scratch_set_blas(infer_cpu_scratch *s, int on);
/* s's settings; a NULL s gives the built-in defaults (all on, the environment unread). */
const infer_cpu_matmul_opts *infer_cpu_scratch_opts(const infer_cpu_scratch *s);

/* Returns 0 on success, -1 if wtype is not supported (or out of memory). scratch may be
 * NULL (a buffer per call, default settings). */
int infer_cpu_matmul(infer_threadpool *tp, infer_cpu_scratch *scratch,
                     const void *W, uint32_t wtype, int64_t rows, int64_t cols,
                     const float *x, int64_t n, float *y);

/* One weight of infer_cpu_matmul_multi: y = W x, W rows x cols of wtype, y n x rows. */
#define INFER_CPU_MATMUL_MAX_PARTS 4
typedef struct {
    const void *W;
    uint32_t wtype;
    int64_t rows;
    float *y;
} infer_cpu_matmul_part;

/* count (1..INFER_CPU_MATMUL_MAX_PARTS) matmuls over the same x (n x cols), as
 * infer_cpu_matmul each; x is converted once for all weights whose kernels take the same
 * activation format, and their rows are split across the threads in one pass (one wait
 * instead of one per weight). Returns 0, or -1 if a type is not supported (or no memory). */
int infer_cpu_matmul_multi(infer_threadpool *tp, infer_cpu_scratch *scratch, const infer_cpu_matmul_part *parts,
                           int count, int64_t cols, const float *x, int64_t n);

/* y = W glu(gate, up) for n rows of cols (glu as infer_cpu_glu), as infer_cpu_matmul of
 * glu's output; with a quantized kernel each token's glu row goes straight into the
 * activation conversion (no n x cols float round trip through memory). Float kernels
 * read the floats themselves: glu's output is then written over gate first. */
int infer_cpu_matmul_glu(infer_threadpool *tp, infer_cpu_scratch *scratch, const void *W, uint32_t wtype,
                         int64_t rows, int64_t cols, infer_glu_kind kind, float *gate, const float *up, float alpha,
                         float limit, int64_t n, float *y);

/* Same, but only for the weight rows [row_lo,row_hi) and writing y with row stride
 * ldy; single-threaded building block for callers that split work themselves (MoE). */
int infer_cpu_matmul_rows(const void *W, uint32_t wtype, int64_t cols, int64_t row_lo, int64_t row_hi,
                          const float *x, int64_t n, float *y, int64_t ldy);

/* A weight type's kernel choice for callers that convert activations once and then run
 * many row ranges of several matrices over them themselves (MoE: each token converted once,
 * its row gathered into every expert it is routed to). Same kernels, tiles and AMX choice
 * as infer_cpu_matmul. */
typedef struct infer_cpu_matmul_plan {
    const struct infer_vec_dot_kernel *k;
    infer_quantize_act_fn quantize;
    uint32_t wtype;
    int act;                  /* infer_act_format of the converted rows */
    int64_t cols, nb;
    size_t row_bytes;         /* bytes of one weight row */
    size_t xs;                /* bytes of one converted activation row */
    int amx;                  /* AMX tiles exist for (type, cols) and are the active ISA */
    infer_dot_rows_fn decode; /* one-token kernel over a row range, or NULL */
    infer_cpu_isa panels;     /* level of the panels (matmul_panels.h) for (type, cols) at the active
                               * ISA: AVX512 or AVX2, or SCALAR for none (or opts->panels 0) */
} infer_cpu_matmul_plan;

/* Returns 0, or -1 when wtype/cols have no kernel. o: settings (infer_cpu_scratch_opts). */
int infer_cpu_matmul_plan_init(infer_cpu_matmul_plan *p, uint32_t wtype, int64_t cols,
                               const infer_cpu_matmul_opts *o);
/* Converts one row of p->cols floats into p->xs bytes at xq. */
void infer_cpu_matmul_plan_convert(const infer_cpu_matmul_plan *p, const float *x, void *xq);
/* y[t * ldy + r] = dot(W[r], x[t]) for rows [row_lo,row_hi) and n converted rows at xq
 * (p->xs bytes apart); single-threaded, AMX tiles when the plan has them and n is large
 * enough to fill them, else panels when the plan has them and n is large enough. */
void infer_cpu_matmul_plan_rows(const infer_cpu_matmul_plan *p, const void *W, int64_t row_lo, int64_t row_hi,
                                const void *xq, int64_t n, float *y, int64_t ldy);

/* Name of the ISA path chosen at run time ("amx-int8", "avx512-vnni", "avx2",
 * "neon-i8mm", "neon-dotprod", "neon", "scalar"). */
const char *infer_cpu_isa_name(void);
/* The ISA level of the kernel table infer_cpu_matmul uses for wtype now: the active level
 * or a lower one when that level's table lacks the type (scalar at worst). AMX tiles are
 * reported as the AVX-512 table they start from. */
infer_cpu_isa infer_cpu_matmul_isa(uint32_t wtype);

#endif
