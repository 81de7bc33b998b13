/* Micro-benchmarks of the CPU backend ops through the ops table, on the shapes of the
 * models we run (Qwen2.5 1.5B: 12/2 heads of 128; gpt-oss-20b: 64/8 heads of 64, MoE).
 *   bench-bench_ops [-t THREADS] [-r REPS]
 * INFER_CPU_ISA=scalar runs the portable kernels, for comparison.
 * Prints the best and mean time per call; decode attention also as GB/s of KV read. */
#define _GNU_SOURCE 1   /* clock_gettime under -std=c11 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "infer.h"
#include "kernels/backend.h"
#include "tensor/dtype.h"
#include "bench_common.h"

static infer_backend *be;
static int reps = 20;

static infer_bview buf(size_t bytes, uint32_t type, int fill_random) {
    infer_bbuf *b = NULL;
    if (be->ops->alloc(be, bytes, &b) != INFER_OK) { fprintf(stderr, "out of memory\n"); exit(1); }
    infer_bview v = { b, 0, type };
    if (fill_random) {
        /* random floats; F16 caches get random halfs in [-1, 1] */
        if (type == INFER_TYPE_F16) {
            uint16_t *h = malloc(bytes);
            for (size_t i = 0; i < bytes / 2; i++) h[i] = infer_f32_to_fp16(bench_frand());
            be->ops->write(be, v, h, bytes);
            free(h);
        } else {
            float *f = malloc(bytes);
            for (size_t i = 0; i < bytes / 4; i++) f[i] = bench_frand();
            be->ops->write(be, v, f, bytes);
            free(f);
        }
    }
    return v;
}

typedef void (*op_fn)(void *ctx);

/* Runs fn reps times (after one warm-up) and prints best/mean in ms. */
static double timeit(const char *name, op_fn fn, void *ctx, double bytes_per_call) {
    be->ops->begin(be);
    fn(ctx);
    double best = 1e30, total = 0;
    for (int i = 0; i < reps; i++) {
        const double t0 = bench_now_s();
        fn(ctx);
        const double dt = bench_now_s() - t0;
        total += dt;
        if (dt < best) best = dt;
    }
    infer_error err;
    if (be->ops->end(be, &err) != INFER_OK) { fprintf(stderr, "%s: %s\n", name, err.message); exit(1); }
    printf("%-52s best %9.3f ms  mean %9.3f ms", name, best * 1e3, total / reps * 1e3);
    if (bytes_per_call > 0) printf("  %6.1f GB/s", bytes_per_call / best * 1e-9);
    printf("\n");
    return best;
}

/* ---- attention */
typedef struct {
    infer_bview q, k, v, pos, sinks, out;
    infer_attn_params p;
} attn_ctx;

static void run_attn(void *c) {
    attn_ctx *a = c;
    be->ops->attention(be, a->q, a->k, a->v, a->pos, a->sinks, &a->p, a->out);
}

static void bench_attention(const char *layout, int n_head, int n_head_kv, int head_dim, int n_tokens,
                            int n_kv, int window, int sinks, uint32_t kv_type) {
    attn_ctx a;
    const size_t elem = kv_type == INFER_TYPE_F16 ? 2 : 4;
    a.q = buf(sizeof(float) * n_tokens * n_head * head_dim, INFER_TYPE_F32, 1);
    a.out = buf(sizeof(float) * n_tokens * n_head * head_dim, INFER_TYPE_F32, 0);
    a.k = buf(elem * n_kv * n_head_kv * head_dim, kv_type, 1);
    a.v = buf(elem * n_kv * n_head_kv * head_dim, kv_type, 1);
    a.sinks = sinks ? buf(sizeof(float) * n_head, INFER_TYPE_F32, 1) : (infer_bview){ NULL, 0, 0 };
    int32_t *pos = malloc(sizeof(int32_t) * n_tokens);
    for (int t = 0; t < n_tokens; t++) pos[t] = n_kv - n_tokens + t;
    a.pos = buf(sizeof(int32_t) * n_tokens, INFER_TYPE_I32, 0);
    be->ops->write(be, a.pos, pos, sizeof(int32_t) * n_tokens);
    a.p = (infer_attn_params){ .n_tokens = n_tokens, .n_head = n_head, .n_head_kv = n_head_kv,
                               .head_dim = head_dim, .n_kv = n_kv, .scale = 0.125f, .window = window };
    char name[160];
    snprintf(name, sizeof name, "attention %s T=%d kv=%d%s%s %s", layout, n_tokens, n_kv,
             window ? " win" : "", sinks ? " sinks" : "", kv_type == INFER_TYPE_F16 ? "F16" : "F32");
    /* Decode reads the whole visible cache once; report that rate. */
    const int visible = window && window < n_kv ? window : n_kv;
    const double bytes = n_tokens == 1 ? 2.0 * elem * visible * n_head_kv * head_dim : 0;
    timeit(name, run_attn, &a, bytes);
    be->ops->release(be, a.q.buf); be->ops->release(be, a.out.buf);
    be->ops->release(be, a.k.buf); be->ops->release(be, a.v.buf);
    be->ops->release(be, a.pos.buf);
    if (a.sinks.buf) be->ops->release(be, a.sinks.buf);
    free(pos);
}

/* ---- rope, rms_norm */
typedef struct { infer_bview x, pos, w; int64_t n_tok, n_head, head_dim; infer_rope_params p; } rope_ctx;
static void run_rope(void *c) {
    rope_ctx *r = c;
    be->ops->rope(be, r->x, r->pos, r->n_tok, r->n_head, r->head_dim, (infer_bview){0}, &r->p);
}
static void run_norm(void *c) {
    rope_ctx *r = c;
    be->ops->rms_norm(be, r->x, r->w, r->n_tok, r->n_head * r->head_dim, 1e-6f, r->x);
}

static void bench_rope_norm(void) {
    const int64_t n_tok = 512;
    rope_ctx r = { .n_tok = n_tok, .n_head = 12, .head_dim = 128 };
    r.x = buf(sizeof(float) * n_tok * 64 * 64, INFER_TYPE_F32, 1);
    r.w = buf(sizeof(float) * 2880, INFER_TYPE_F32, 1);
    int32_t *pos = malloc(sizeof(int32_t) * n_tok);
    for (int t = 0; t < n_tok; t++) pos[t] = t;
    r.pos = buf(sizeof(int32_t) * n_tok, INFER_TYPE_I32, 0);
    be->ops->write(be, r.pos, pos, sizeof(int32_t) * n_tok);
    r.p = (infer_rope_params){ .mode = INFER_ROPE_NEOX, .n_rot = 128, .freq_base = 1e6f, .freq_scale = 1,
                               .yarn_factor = 1, .yarn_beta_fast = 32, .yarn_beta_slow = 1, .attn_factor = 1 };
    timeit("rope neox T=512 12x128", run_rope, &r, 0);
    r.n_head = 64; r.head_dim = 64;
    r.p = (infer_rope_params){ .mode = INFER_ROPE_NEOX, .n_rot = 64, .freq_base = 150000, .freq_scale = 1.0f / 32,
                               .yarn_factor = 32, .yarn_orig_ctx = 4096, .yarn_beta_fast = 32,
                               .yarn_beta_slow = 1, .attn_factor = 1 };
    timeit("rope yarn T=512 64x64", run_rope, &r, 0);
    r.n_tok = 1;
    timeit("rope yarn T=1 64x64", run_rope, &r, 0);
    r.n_tok = 512; r.n_head = 1; r.head_dim = 1536;
    timeit("rms_norm T=512 x 1536", run_norm, &r, 0);
    r.n_tok = 1; r.head_dim = 2880;
    timeit("rms_norm T=1 x 2880", run_norm, &r, 0);
    be->ops->release(be, r.x.buf); be->ops->release(be, r.w.buf); be->ops->release(be, r.pos.buf);
    free(pos);
}

/* ---- glu */
typedef struct { infer_bview g, u, o; int64_t n; infer_glu_kind kind; } glu_ctx;
static void run_glu(void *c) {
    glu_ctx *g = c;
    be->ops->glu(be, g->kind, g->g, g->u, g->n, 1.702f, 7.0f, g->o);
}
static void bench_glu(void) {
    glu_ctx g = { .n = 512 * 8960, .kind = INFER_GLU_SWIGLU };
    g.g = buf(sizeof(float) * g.n, INFER_TYPE_F32, 1);
    g.u = buf(sizeof(float) * g.n, INFER_TYPE_F32, 1);
    g.o = buf(sizeof(float) * g.n, INFER_TYPE_F32, 0);
    timeit("glu swiglu T=512 x 8960", run_glu, &g, 0);
    g.kind = INFER_GLU_SWIGLU_OAI;
    timeit("glu swiglu_oai T=512 x 8960", run_glu, &g, 0);
    g.n = 2880;
    timeit("glu swiglu_oai T=1 x 2880", run_glu, &g, 0);
    be->ops->release(be, g.g.buf); be->ops->release(be, g.u.buf); be->ops->release(be, g.o.buf);
}

/* ---- moe (gpt-oss expert shapes, fewer experts to keep memory small) */
typedef struct {
    infer_bview x, router, wg, wu, wd, bg, bu, bd, out;
    int64_t n_tok, n_embd, n_ff;
    int32_t n_expert, k;
} moe_ctx;
static void run_moe(void *c) {
    moe_ctx *m = c;
    be->ops->moe(be, m->x, m->router, m->n_tok, m->n_embd, m->n_ff, m->n_expert, m->k, m->wg, m->bg, m->wu,
                 m->bu, m->wd, m->bd, INFER_GLU_SWIGLU_OAI, 1.702f, 7.0f, m->out);
}

static infer_bview quantized(int64_t rows, int64_t cols, uint32_t type) {
    const infer_dtype_traits *t = infer_dtype_traits_get(type);
    const size_t rb = infer_dtype_row_bytes(type, cols);
    uint8_t *q = malloc(rb * rows);
    float *row = malloc(sizeof(float) * cols);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < cols; i++) row[i] = bench_frand() * 0.05f;
        t->from_float(row, q + r * rb, cols);
    }
    infer_bview v = buf(rb * rows, type, 0);
    be->ops->write(be, v, q, rb * rows);
    free(q); free(row);
    return v;
}

static void bench_moe(int64_t n_tok) {
    moe_ctx m = { .n_tok = n_tok, .n_embd = 2880, .n_ff = 2880, .n_expert = 8, .k = 4 };
    m.x = buf(sizeof(float) * n_tok * m.n_embd, INFER_TYPE_F32, 1);
    m.router = buf(sizeof(float) * n_tok * m.n_expert, INFER_TYPE_F32, 1);
    m.out = buf(sizeof(float) * n_tok * m.n_embd, INFER_TYPE_F32, 0);
    m.wg = quantized(m.n_expert * m.n_ff, m.n_embd, INFER_TYPE_MXFP4);
    m.wu = quantized(m.n_expert * m.n_ff, m.n_embd, INFER_TYPE_MXFP4);
    m.wd = quantized(m.n_expert * m.n_embd, m.n_ff, INFER_TYPE_MXFP4);
    m.bg = buf(sizeof(float) * m.n_expert * m.n_ff, INFER_TYPE_F32, 1);
    m.bu = buf(sizeof(float) * m.n_expert * m.n_ff, INFER_TYPE_F32, 1);
    m.bd = buf(sizeof(float) * m.n_expert * m.n_embd, INFER_TYPE_F32, 1);
    char name[96];
    snprintf(name, sizeof name, "moe MXFP4 2880x2880 8 experts top-4 T=%lld", (long long)n_tok);
    /* Weights read per call: the experts used (all 8 once T is large). */
    const double used = n_tok == 1 ? 4 : 8;
    timeit(name, run_moe, &m, used * 3 * infer_dtype_row_bytes(INFER_TYPE_MXFP4, 2880) * 2880.0);
    infer_bview all[] = { m.x, m.router, m.out, m.wg, m.wu, m.wd, m.bg, m.bu, m.bd };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) be->ops->release(be, all[i].buf);
}

int main(int argc, char **argv) {
    int threads = 2;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-t")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-r")) reps = atoi(argv[i + 1]);
    }
    infer_error err;
    if (infer_backend_cpu_new(threads, &be, &err) != INFER_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    printf("device: %s, %d reps\n", be->ops->device_name(be), reps);
    bench_attention("qwen1.5B 12/2x128", 12, 2, 128, 1, 4096, 0, 0, INFER_TYPE_F32);
    bench_attention("qwen1.5B 12/2x128", 12, 2, 128, 1, 4096, 0, 0, INFER_TYPE_F16);
    bench_attention("gpt-oss 64/8x64", 64, 8, 64, 1, 4096, 0, 1, INFER_TYPE_F32);
    bench_attention("gpt-oss 64/8x64", 64, 8, 64, 1, 4096, 128, 1, INFER_TYPE_F16);
    bench_attention("qwen1.5B 12/2x128", 12, 2, 128, 512, 512, 0, 0, INFER_TYPE_F32);
    bench_attention("qwen1.5B 12/2x128", 12, 2, 128, 512, 512, 0, 0, INFER_TYPE_F16);
    bench_attention("gpt-oss 64/8x64", 64, 8, 64, 512, 512, 0, 1, INFER_TYPE_F32);
    bench_attention("gpt-oss 64/8x64", 64, 8, 64, 512, 512, 128, 1, INFER_TYPE_F32);
    bench_rope_norm();
    bench_glu();
    bench_moe(1);
    bench_moe(64);
    be->ops->destroy(be);
    return 0;
}
