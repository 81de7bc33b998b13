/* infer_cpu_matmul: picks the kernel for (weight type, ISA), converts the activations
 * once into the kernel's partner format, then splits weight rows across threads.
 *
 * Work order inside a thread (n > 1 tokens): the thread's rows are cut into blocks of
 * about ROW_BLOCK_BYTES of weights (they stay in L2 and are streamed from memory once
 * per call); for each block, tiles of the kernel's max_nt tokens walk all its rows, so a
 * tile's activations stay in L1 while every weight block is decoded once per tile. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/gemv.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/matmul_amx.h"
#include "kernels/cpu/matmul_blas.h"
#include "kernels/cpu/matmul_panels.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/vec_dot.h"
#include "kernels/cpu/workspace.h"
#include "tensor/dtype.h"

#define ROW_BLOCK_BYTES (192 * 1024)
#define ROW_ALIGN 16          /* chunks start on a multiple of this (cache lines of y) */
#define CHUNKS_PER_THREAD 4
/* One token: the row range is walked as this many equal parts side by side, so the
 * hardware prefetchers follow that many sequential streams (as the dedicated decode
 * kernels in vec_dot_decode_avx512.c do; bench/RESULTS.md, row streams), and each part
 * asks for its row about 2 KiB ahead (prefetcht0) while the current one runs. The dedicated
 * kernels gained most from that same prefetch (qtg, session 5); here it took Qwen 1.5B
 * Q4_K_M tg64 under INFER_CPU_ISA=avx2 from 16.1 to 21.4 t/s. (An earlier prefetchnta
 * 4 KiB ahead over the whole range, not per part, had cost ~10%.) */
#define DECODE_ROW_STREAMS 4
#define DECODE_PREFETCH_BYTES 2048
/* Fewer tokens than this leave most of a 16-token AMX tile empty: VNNI dots do better. */
#define AMX_MIN_TOKENS 16

struct infer_cpu_scratch {
    infer_cpu_ws ws;   /* kept apart from the ops' workspace: both are live at once in MoE */
    infer_cpu_matmul_opts opts;
};

static const infer_cpu_matmul_opts default_opts = {.panels = 1, .blas = 1};

infer_cpu_scratch *infer_cpu_scratch_new(void) {
    infer_cpu_scratch *s = calloc(1, sizeof(infer_cpu_scratch));
    if (s) {
        s->opts = default_opts;
        s->opts.panels = infer_panels_env_allows();
        s->opts.blas = infer_blas_env_allows();
    }
    return s;
}

void infer_cpu_scratch_set_panels(infer_cpu_scratch *s, int on) { s->opts.panels = on != 0; }
void infer_cpu_scratch_set_blas(infer_cpu_scratch *s, int on) { s->opts.blas = on != 0; }

const infer_cpu_matmul_opts *infer_cpu_scratch_opts(const infer_cpu_scratch *s) {
    return s ? &s->opts : &default_opts;
}

void infer_cpu_scratch_free(infer_cpu_scratch *s) {
    if (!s) return;
    infer_cpu_ws_free(&s->ws);
    free(s);
}

/* The best available kernel for a weight type, the matching activation converter, and
 * the ISA level of the table the kernel came from. */
typedef struct {
    const infer_vec_dot_kernel *k;
    infer_quantize_act_fn quantize;
    infer_cpu_isa level;
    infer_act_format act;   /* the weight type's partner (dtype traits), same for every ISA */
} kernel_choice;

/* aarch64: the best table at or below the active level that has the type (i8mm, then
 * dotprod, then base NEON). The tables are NULL stubs on other targets. */
static kernel_choice choose_kernel_arm(infer_cpu_isa isa, uint32_t wtype) {
    kernel_choice c = {NULL, NULL, INFER_ISA_SCALAR, infer_act_format_of(wtype)};
    if (isa >= INFER_ISA_NEON_I8MM && (c.k = infer_vec_dot_neon_i8mm(wtype))) c.level = INFER_ISA_NEON_I8MM;
    else if (isa >= INFER_ISA_NEON_DOTPROD && (c.k = infer_vec_dot_neon_dotprod(wtype)))
        c.level = INFER_ISA_NEON_DOTPROD;
    else if ((c.k = infer_vec_dot_neon(wtype))) c.level = INFER_ISA_NEON;
    return c;
}

static kernel_choice choose_kernel(uint32_t wtype) {
    kernel_choice c = {NULL, NULL, INFER_ISA_SCALAR, infer_act_format_of(wtype)};
    const infer_cpu_isa isa = infer_cpu_isa_active();
    if (infer_cpu_isa_is_arm(isa)) {
        c = choose_kernel_arm(isa, wtype);
    } else {
        if (isa >= INFER_ISA_AVX512 && (c.k = infer_vec_dot_avx512(wtype))) {
            c.quantize = infer_quantize_act_avx512(c.act);
            c.level = INFER_ISA_AVX512;
        }
        if (!c.k && isa >= INFER_ISA_AVX2 && (c.k = infer_vec_dot_avx2(wtype))) {
            c.quantize = infer_quantize_act_avx2(c.act);
            c.level = INFER_ISA_AVX2;
        }
    }
    if (!c.k) {
        c.k = infer_vec_dot_scalar(wtype);
        c.level = INFER_ISA_SCALAR;
    }
    if (c.k && !c.quantize) {
        if (isa >= INFER_ISA_AVX512) c.quantize = infer_quantize_act_avx512(c.act);
        if (!c.quantize && isa >= INFER_ISA_AVX2) c.quantize = infer_quantize_act_avx2(c.act);
        if (!c.quantize && infer_cpu_isa_is_arm(isa)) c.quantize = infer_quantize_act_neon(c.act);
        if (!c.quantize) c.quantize = infer_quantize_act_scalar(c.act);
    }
    return c;
}

infer_cpu_isa infer_cpu_matmul_isa(uint32_t wtype) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(wtype);
    if (!tr || !tr->supported) return INFER_ISA_SCALAR;
    return choose_kernel(wtype).level;
}

/* Rows [row_lo,row_hi) x all n tokens; xq holds n activation rows of xs bytes. */
static void matmul_range(const infer_vec_dot_kernel *k, const char *W, size_t row_bytes, int64_t nb,
                         int64_t row_lo, int64_t row_hi, const char *xq, size_t xs, int64_t n,
                         float *y, int64_t ldy) {
    float out[2 * INFER_DOT_WIDE_NT];
    const int tile = k->max_nt > 0 ? k->max_nt : INFER_DOT_MAX_NT;
    if (n == 1) { /* DECODE_ROW_STREAMS parts of the range side by side (see the top) */
        const int64_t q = (row_hi - row_lo + DECODE_ROW_STREAMS - 1) / DECODE_ROW_STREAMS;
        /* each stream's row DECODE_PREFETCH_BYTES ahead is asked for while this one runs */
        const int64_t ahead = row_bytes ? (int64_t)((DECODE_PREFETCH_BYTES + row_bytes - 1) / row_bytes) : 1;
        for (int64_t p = row_lo; p < row_lo + q; p++)
            for (int64_t r = p; r < row_hi; r += q) {
                if (p + ahead < row_lo + q && r + ahead < row_hi) {
                    const char *next = W + (size_t)(r + ahead) * row_bytes;
                    for (size_t o = 0; o < row_bytes; o += 64) __builtin_prefetch(next + o, 0, 3);
                }
                k->dot(nb, W + (size_t)r * row_bytes, xq, xs, 1, &y[r]);
            }
        return;
    }
    int64_t rb = (int64_t)(ROW_BLOCK_BYTES / (row_bytes ? row_bytes : 1));
    if (rb < 1) rb = 1;
    for (int64_t r0 = row_lo; r0 < row_hi; r0 += rb) {
        const int64_t r1 = r0 + rb < row_hi ? r0 + rb : row_hi;
        for (int64_t t = 0; t < n; t += tile) {
            const int nt = (int)(n - t < tile ? n - t : tile);
            const char *xt = xq + (size_t)t * xs;
            int64_t r = r0;
            if (k->dot2) /* two-row kernels (SMMLA): rows in pairs, an odd last one alone */
                for (; r + 1 < r1; r += 2) {
                    k->dot2(nb, W + (size_t)r * row_bytes, row_bytes, xt, xs, nt, out);
                    for (int j = 0; j < nt; j++) {
                        y[(t + j) * ldy + r] = out[j];
                        y[(t + j) * ldy + r + 1] = out[nt + j];
                    }
                }
            for (; r < r1; r++) {
                k->dot(nb, W + (size_t)r * row_bytes, xt, xs, nt, out);
                for (int j = 0; j < nt; j++) y[(t + j) * ldy + r] = out[j];
            }
        }
    }
}

/* One weight of a job: its plan, rows and output, and where its chunks start in the
 * job's chunk numbering. */
typedef struct {
    infer_cpu_matmul_plan p;      /* kernel, activation format and sizes for (wtype, cols) */
    const char *W;
    int64_t rows;
    float *y;
    int blas;                     /* 1: float weights and a prompt batch: OpenBLAS sgemm per chunk */
    int64_t chunk_rows;           /* rows per claimed chunk */
    int64_t first_chunk;          /* the job's index of this weight's first chunk */
} matmul_part;

typedef struct {
    infer_threadpool *tp;         /* polled for cancellation between chunks */
    matmul_part part[INFER_CPU_MATMUL_MAX_PARTS];   /* weights over the same activations */
    int nparts;
    int64_t n, nchunks;
    const float *x;
    char *xq;                     /* x converted once for every part (part[0].p's format) */
    /* glu jobs: x is the gate; each token's row glu(gate, up) is made in the converting
     * thread's rowbuf (cols floats per thread) and converted from there */
    const float *up;
    float *rowbuf;
    infer_glu_kind glu_kind;
    float glu_alpha, glu_limit;
    atomic_llong next_chunk;      /* next chunk index to claim */
} matmul_job;

static void quantize_task(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    const infer_cpu_matmul_plan *p = &j->part[0].p;
    long lo, hi;
    infer_split_range((long)j->n, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++) {
        const float *row = j->x + t * p->cols;
        if (j->up) {
            float *g = j->rowbuf + (size_t)ith * (size_t)p->cols;
            infer_cpu_glu_serial(j->glu_kind, row, j->up + t * p->cols, p->cols, j->glu_alpha, j->glu_limit, g);
            row = g;
        }
        p->quantize(row, j->xq + (size_t)t * p->xs, p->cols);
    }
}

/* Rows are handed out in chunks from a shared counter rather than split statically:
 * on a shared machine one thread is often preempted, and the others then take over
 * its chunks instead of waiting for it. The chunks of all parts are numbered one after
 * the other, so one pass (one wait for the slowest thread) covers every weight. */
static void matmul_task(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    (void)ith; (void)nth;
    for (;;) {
        if (infer_threadpool_cancelled(j->tp)) break;
        const int64_t c = atomic_fetch_add_explicit(&j->next_chunk, 1, memory_order_relaxed);
        if (c >= j->nchunks) break;
        int i = j->nparts - 1;
        while (i > 0 && c < j->part[i].first_chunk) i--;
        const matmul_part *pt = &j->part[i];
        const int64_t r0 = (c - pt->first_chunk) * pt->chunk_rows;
        const int64_t r1 = r0 + pt->chunk_rows < pt->rows ? r0 + pt->chunk_rows : pt->rows;
        if (pt->blas && infer_blas_matmul_rows(pt->p.wtype, pt->W, pt->p.row_bytes, pt->p.cols, r0, r1,
                                               (const float *)j->xq, j->n, pt->y, pt->rows) == 0)
            continue;
        infer_cpu_matmul_plan_rows(&pt->p, pt->W, r0, r1, j->xq, j->n, pt->y, pt->rows);
    }
}

/* About CHUNKS_PER_THREAD chunks per thread and part, each a multiple of ROW_ALIGN rows. */
static void plan_chunks(matmul_job *j, int nth) {
    int64_t next = 0;
    for (int i = 0; i < j->nparts; i++) {
        matmul_part *pt = &j->part[i];
        int64_t per = (pt->rows + (int64_t)nth * CHUNKS_PER_THREAD - 1) / ((int64_t)nth * CHUNKS_PER_THREAD);
        per = (per + ROW_ALIGN - 1) / ROW_ALIGN * ROW_ALIGN;
        pt->chunk_rows = per > 0 ? per : ROW_ALIGN;
        pt->first_chunk = next;
        next += (pt->rows + pt->chunk_rows - 1) / pt->chunk_rows;
    }
    j->nchunks = next;
    atomic_init(&j->next_chunk, 0);
}

/* Checks the type and shape; fills the plan. */
int infer_cpu_matmul_plan_init(infer_cpu_matmul_plan *p, uint32_t wtype, int64_t cols,
                               const infer_cpu_matmul_opts *o) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(wtype);
    if (!tr || !tr->supported || cols <= 0 || cols % tr->block_size != 0) return -1;
    kernel_choice c = choose_kernel(wtype);
    if (!c.k) return -1;
    if (cols % infer_act_block(c.act) != 0) {
        /* e.g. a K-quant row would always be a multiple of 256; anything else is not a
         * valid tensor */
        return -1;
    }
    /* the panels of the kernel table's level (AVX-512 also under AMX), when it has them */
    const int has_panels = o->panels && infer_panels_supports(c.level, wtype, c.act, cols);
    const infer_cpu_isa panels = has_panels ? c.level : INFER_ISA_SCALAR;
    *p = (infer_cpu_matmul_plan){
        .k = c.k, .quantize = c.quantize, .wtype = wtype, .act = (int)c.act, .cols = cols,
        .nb = cols / tr->block_size, .row_bytes = infer_dtype_row_bytes(wtype, cols),
        .xs = infer_act_row_bytes(c.act, cols),
        .amx = infer_cpu_isa_active() == INFER_ISA_AMX && infer_amx_supports(wtype, c.act, cols) &&
               !(panels != INFER_ISA_SCALAR && infer_panels_beat_amx(wtype)),
        .decode = infer_gemv_for(c.level, wtype),
        .panels = panels,
    };
    return 0;
}

/* Parts [0, count) over the same x, every plan already made and all converting x the same
 * way: x converted once, then one threaded pass over all their rows. */
static int matmul_parts(infer_threadpool *tp, infer_cpu_scratch *scratch, matmul_job *j) {
    if (j->n == 0) return 0;
    const infer_cpu_matmul_plan *p = &j->part[0].p;
    if (p->act == INFER_ACT_F32) {
        j->xq = (char *)j->x;   /* read-only use; float weights take the activations as they are */
        for (int i = 0; i < j->nparts; i++)
            j->part[i].blas = j->n >= INFER_BLAS_MIN_TOKENS && infer_cpu_isa_active() != INFER_ISA_SCALAR &&
                              infer_cpu_scratch_opts(scratch)->blas && infer_blas_supports(j->part[i].p.wtype);
        plan_chunks(j, infer_threadpool_size(tp));
        infer_threadpool_run(tp, matmul_task, j);
        return 0;
    }
    infer_cpu_scratch local = {0};
    infer_cpu_scratch *s = scratch ? scratch : &local;
    const size_t xq_bytes = (p->xs * (size_t)j->n + 63) / 64 * 64;
    const size_t row_bytes = j->up ? sizeof(float) * (size_t)p->cols * (size_t)infer_threadpool_size(tp) : 0;
    j->xq = infer_cpu_ws_get(&s->ws, xq_bytes + row_bytes);
    if (!j->xq) return -1;
    j->rowbuf = (float *)(j->xq + xq_bytes);
    if (j->n >= 4) infer_threadpool_run(tp, quantize_task, j);
    else quantize_task(j, 0, 1);
    plan_chunks(j, infer_threadpool_size(tp));
    infer_threadpool_run(tp, matmul_task, j);
    if (!scratch) infer_cpu_ws_free(&local.ws);
    return 0;
}

/* Two plans read the same converted rows. */
static int same_conversion(const infer_cpu_matmul_plan *a, const infer_cpu_matmul_plan *b) {
    return a->act == b->act && a->quantize == b->quantize && a->xs == b->xs;
}

int infer_cpu_matmul_multi(infer_threadpool *tp, infer_cpu_scratch *scratch, const infer_cpu_matmul_part *parts,
                           int count, int64_t cols, const float *x, int64_t n) {
    if (count < 1 || count > INFER_CPU_MATMUL_MAX_PARTS || n < 0) return -1;
    matmul_part planned[INFER_CPU_MATMUL_MAX_PARTS];
    for (int i = 0; i < count; i++) {
        if (infer_cpu_matmul_plan_init(&planned[i].p, parts[i].wtype, cols, infer_cpu_scratch_opts(scratch)) != 0 ||
            parts[i].rows < 0)
            return -1;
        planned[i].W = parts[i].W;
        planned[i].rows = parts[i].rows;
        planned[i].y = parts[i].y;
        planned[i].blas = 0;
    }
    /* Runs of consecutive parts that convert x the same way share one conversion and one
     * pass (Q/K/V and gate/up: usually all of them). Empty parts are left out. */
    for (int i = 0; i < count;) {
        matmul_job j = {0};
        j.tp = tp; j.x = x; j.n = n;
        int e = i;
        for (; e < count && same_conversion(&planned[i].p, &planned[e].p); e++)
            if (planned[e].rows > 0) j.part[j.nparts++] = planned[e];
        if (j.nparts > 0 && matmul_parts(tp, scratch, &j) != 0) return -1;
        i = e;
    }
    return 0;
}

int infer_cpu_matmul_glu(infer_threadpool *tp, infer_cpu_scratch *scratch, const void *W, uint32_t wtype,
                         int64_t rows, int64_t cols, infer_glu_kind kind, float *gate, const float *up, float alpha,
                         float limit, int64_t n, float *y) {
    matmul_job j = {0};
    j.tp = tp; j.n = n; j.nparts = 1;
    if (infer_cpu_matmul_plan_init(&j.part[0].p, wtype, cols, infer_cpu_scratch_opts(scratch)) != 0 || rows < 0 ||
        n < 0)
        return -1;
    if (rows == 0 || n == 0) return 0;
    j.part[0].W = W; j.part[0].rows = rows; j.part[0].y = y;
    j.x = gate;
    if (j.part[0].p.act == INFER_ACT_F32)   /* float kernels read x itself: glu into gate first */
        infer_cpu_glu(tp, kind, gate, up, n * cols, alpha, limit, gate);
    else {
        j.up = up; j.glu_kind = kind; j.glu_alpha = alpha; j.glu_limit = limit;
    }
    return matmul_parts(tp, scratch, &j);
}

int infer_cpu_matmul(infer_threadpool *tp, infer_cpu_scratch *scratch,
                     const void *W, uint32_t wtype, int64_t rows, int64_t cols,
                     const float *x, int64_t n, float *y) {
    const infer_cpu_matmul_part part = {W, wtype, rows, y};
    return infer_cpu_matmul_multi(tp, scratch, &part, 1, cols, x, n);
}

/* One token through the plan's decode kernel; 0 when there is none for this shape. */
static int plan_decode(const infer_cpu_matmul_plan *p, const void *W, int64_t row_lo, int64_t row_hi,
                       const void *xq, int64_t n, float *y) {
    return n == 1 && p->decode &&
           p->decode(p->nb, (const char *)W + (size_t)row_lo * p->row_bytes, p->row_bytes, row_hi - row_lo, xq,
                     y + row_lo) == 0;
}

int infer_cpu_matmul_rows(const void *W, uint32_t wtype, int64_t cols, int64_t row_lo, int64_t row_hi,
                          const float *x, int64_t n, float *y, int64_t ldy) {
    infer_cpu_matmul_plan p;
    if (infer_cpu_matmul_plan_init(&p, wtype, cols, infer_cpu_scratch_opts(NULL)) != 0 || row_lo < 0 ||
        row_hi < row_lo || n < 0)
        return -1;
    if (row_hi == row_lo || n == 0) return 0;
    char *xq = (char *)x;
    if (p.act != INFER_ACT_F32) {
        xq = malloc(p.xs * (size_t)n);
        if (!xq) return -1;
        for (int64_t t = 0; t < n; t++) p.quantize(x + t * cols, xq + (size_t)t * p.xs, cols);
    }
    if (!plan_decode(&p, W, row_lo, row_hi, xq, n, y))
        matmul_range(p.k, W, p.row_bytes, p.nb, row_lo, row_hi, xq, p.xs, n, y, ldy);
    if (xq != (const char *)x) free(xq);
    return 0;
}

void infer_cpu_matmul_plan_convert(const infer_cpu_matmul_plan *p, const float *x, void *xq) {
    p->quantize(x, xq, p->cols);
}

void infer_cpu_matmul_plan_rows(const infer_cpu_matmul_plan *p, const void *W, int64_t row_lo, int64_t row_hi,
                                const void *xq, int64_t n, float *y, int64_t ldy) {
    if (row_hi <= row_lo || n <= 0) return;
    if (plan_decode(p, W, row_lo, row_hi, xq, n, y)) return;
    if (p->amx && n >= AMX_MIN_TOKENS &&
        infer_amx_matmul_rows(p->wtype, W, p->row_bytes, p->cols, row_lo, row_hi, xq, p->xs, n, y, ldy) == 0)
        return;
    if (p->panels != INFER_ISA_SCALAR && n >= infer_panels_min_tokens(p->panels, p->wtype) &&
        infer_panels_matmul_rows(p->panels, p->wtype, W, p->row_bytes, p->cols, row_lo, row_hi, xq, p->xs, n, y,
                                 ldy) == 0)
        return;
    matmul_range(p->k, W, p->row_bytes, p->nb, row_lo, row_hi, xq, p->xs, n, y, ldy);
}

const char *infer_cpu_isa_name(void) { return infer_cpu_isa_str(infer_cpu_isa_active()); }
