/* The CPU backend: host memory buffers and the ops table, each op executed as it is
 * called on the backend's own thread pool.
 *
 * Every view is resolved against its buffer's size before use, so a wrong shape from a
 * caller becomes a sticky error naming the op and operand instead of a stray write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "kernels/backend.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/threadpool.h"
#include "kernels/cpu/vec_dot.h"
#include "tensor/dtype.h"
#include "core/error.h"

struct infer_bbuf {
    uint8_t *ptr;
    size_t size;
    int owned;          /* 1: allocated here (freed on release); 2: mapped here (unmapped);
                         * 0: wraps caller memory */
    size_t map_bytes;   /* owned == 2: length of the mapping */
};

typedef struct cpu_backend {
    infer_backend base;          /* must stay first: infer_backend* <-> cpu_backend* */
    infer_threadpool *tp;
    infer_cpu_scratch *scratch;  /* infer_cpu_matmul's activation conversions and plan settings
                                  * (INFER_CPU_PANELS, read once when it is made) */
    infer_cpu_ws ws;             /* op scratch (attention tiles, rope angles, moe) */
    infer_status status;         /* sticky error of the current pass */
    infer_error err;
    char name[96];
} cpu_backend;

static cpu_backend *cpu(infer_backend *be) { return (cpu_backend *)be; }

/* ---- errors and views */
static bool failed(cpu_backend *b) {
    if (b->status != INFER_OK) return true;
    /* A cancelled pass skips its remaining ops (the workers stopped part-way). */
    if (infer_threadpool_cancelled(b->tp)) {
        b->status = infer_err(&b->err, INFER_ERR_CANCELLED, "decode cancelled by the abort callback");
        return true;
    }
    return false;
}

static void fail_with(cpu_backend *b, const infer_error *e) {
    if (failed(b)) return;
    b->status = e->status;
    b->err = *e;
}

#define FAIL(b, st, ...) do { if (!failed(b)) { b->status = infer_err(&b->err, st, __VA_ARGS__); } } while (0)

/* bytes = a * b * c with overflow reported as SIZE_MAX (never fits a buffer). */
static size_t nbytes3(int64_t a, int64_t b, size_t c) {
    size_t r;
    if (a < 0 || b < 0) return SIZE_MAX;
    if (__builtin_mul_overflow((size_t)a, (size_t)b, &r) || __builtin_mul_overflow(r, c, &r)) return SIZE_MAX;
    return r;
}

/* Host pointer of `bytes` at view v, or NULL (and the sticky error) if they do not fit. */
static void *view_ptr(cpu_backend *b, infer_bview v, size_t bytes, const char *op, const char *what) {
    if (failed(b)) return NULL;
    if (!v.buf) {
        FAIL(b, INFER_ERR_INVALID_ARG, "%s: operand '%s' has no buffer", op, what);
        return NULL;
    }
    if (v.offset > v.buf->size || bytes > v.buf->size - v.offset) {
        FAIL(b, INFER_ERR_INVALID_ARG, "%s: operand '%s' needs %zu bytes at offset %zu of a %zu-byte buffer",
             op, what, bytes, v.offset, v.buf->size);
        return NULL;
    }
    return v.buf->ptr + v.offset;
}

static bool check_f32(cpu_backend *b, infer_bview v, const char *op, const char *what) {
    if (failed(b)) return false;
    if (v.type != INFER_TYPE_F32) {
        FAIL(b, INFER_ERR_TYPE, "%s: operand '%s' must be F32, got type %u", op, what, v.type);
        return false;
    }
    return true;
}

/* view_ptr for an activation operand, which the contract makes F32. */
static float *view_f32(cpu_backend *b, infer_bview v, size_t bytes, const char *op, const char *what) {
    return check_f32(b, v, op, what) ? view_ptr(b, v, bytes, op, what) : NULL;
}

/* Elements of `row_bytes` available from the view to the end of its buffer. */
static int64_t rows_available(infer_bview v, size_t row_bytes) {
    if (!v.buf || v.offset > v.buf->size || row_bytes == 0) return 0;
    return (int64_t)((v.buf->size - v.offset) / row_bytes);
}

/* ---- lifetime and memory */
static void cpu_destroy(infer_backend *be) {
    if (!be) return;
    cpu_backend *b = cpu(be);
    infer_threadpool_free(b->tp);
    infer_cpu_scratch_free(b->scratch);
    infer_cpu_ws_free(&b->ws);
    free(b);
}

static const char *cpu_device_name(infer_backend *be) { return cpu(be)->name; }

/* Buffers from LAZY_MAP_BYTES up are anonymous mappings: the kernel hands out zero pages
 * as they are first touched, so a large KV cache costs nothing until positions are used
 * (a memset would commit all of it at once). */
#define LAZY_MAP_BYTES ((size_t)1 << 20)

static infer_status cpu_alloc(infer_backend *be, size_t bytes, infer_bbuf **out) {
    (void)be;
    infer_bbuf *buf = calloc(1, sizeof *buf);
    if (!buf) return INFER_ERR_NOMEM;
    /* Round up so the zeroing below covers whole cache lines; 64-byte alignment suits
     * every SIMD load the kernels do (mappings are page-aligned). */
    size_t cap = (bytes + 63) & ~(size_t)63;
    if (cap < bytes) cap = bytes;
    if (cap >= LAZY_MAP_BYTES) {
        void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            free(buf);
            return INFER_ERR_NOMEM;
        }
        buf->ptr = p;
        buf->size = bytes;
        buf->owned = 2;
        buf->map_bytes = cap;
        *out = buf;
        return INFER_OK;
    }
    void *p = NULL;
    if (posix_memalign(&p, 64, cap ? cap : 64) != 0) {
        free(buf);
        return INFER_ERR_NOMEM;
    }
    memset(p, 0, cap ? cap : 64);
    buf->ptr = p;
    buf->size = bytes;
    buf->owned = 1;
    *out = buf;
    return INFER_OK;
}

static infer_status cpu_weight(infer_backend *be, const void *host, size_t bytes, infer_bbuf **out) {
    infer_bbuf *buf = calloc(1, sizeof *buf);
    if (!buf) return INFER_ERR_NOMEM;
    /* The mapping is read-only: ops only ever read weight buffers. */
    buf->ptr = (uint8_t *)(uintptr_t)host;
    buf->size = bytes;
    buf->owned = 0;
    *out = buf;
    return INFER_OK;
}

static void cpu_release(infer_backend *be, infer_bbuf *buf) {
    if (!buf) return;
    if (buf->owned == 1) free(buf->ptr);
    if (buf->owned == 2) munmap(buf->ptr, buf->map_bytes);
    free(buf);
}

static void cpu_write(infer_backend *be, infer_bview dst, const void *src, size_t bytes) {
    void *d = view_ptr(cpu(be), dst, bytes, "write", "dst");
    if (d && bytes) memcpy(d, src, bytes);
}

static void cpu_read(infer_backend *be, infer_bview src, void *dst, size_t bytes) {
    const void *s = view_ptr(cpu(be), src, bytes, "read", "src");
    if (s && bytes) memcpy(dst, s, bytes);
}

static void cpu_begin(infer_backend *be) {
    cpu(be)->status = INFER_OK;
    infer_threadpool_reset_cancel(cpu(be)->tp);
}

static void cpu_set_abort(infer_backend *be, infer_abort_fn fn, void *user) {
    infer_threadpool_set_abort(cpu(be)->tp, fn, user);
}

static infer_status cpu_end(infer_backend *be, infer_error *err) {
    cpu_backend *b = cpu(be);
    (void)failed(b);   /* a cancellation that stopped the last op's workers */
    infer_status st = b->status;
    if (st != INFER_OK && err) *err = b->err;
    b->status = INFER_OK;   /* the next pass starts clean */
    return st;
}

/* ---- ops */
static void cpu_get_rows(infer_backend *be, infer_bview table, int64_t row_len, infer_bview ids_i32,
                         int64_t n, infer_bview out) {
    cpu_backend *b = cpu(be);
    const size_t row_bytes = infer_dtype_row_bytes(table.type, row_len);
    if (row_bytes == 0) {
        FAIL(b, INFER_ERR_UNSUPPORTED, "get_rows: table type %u with rows of %lld is not usable",
             table.type, (long long)row_len);
        return;
    }
    const int64_t table_rows = rows_available(table, row_bytes);
    const void *t = view_ptr(b, table, row_bytes * (size_t)(table_rows > 0 ? table_rows : 0), "get_rows", "table");
    const int32_t *ids = view_ptr(b, ids_i32, nbytes3(n, 1, 4), "get_rows", "ids");
    float *o = view_f32(b, out, nbytes3(n, row_len, 4), "get_rows", "out");
    if (!t || !ids || !o) return;
    infer_error e;
    if (infer_cpu_get_rows(b->tp, t, table.type, table_rows, row_len, ids, n, o, &e) != INFER_OK) fail_with(b, &e);
}

static void cpu_rms_norm(infer_backend *be, infer_bview x, infer_bview w, int64_t n_rows, int64_t row_len,
                         float eps, infer_bview out) {
    cpu_backend *b = cpu(be);
    const size_t bytes = nbytes3(n_rows, row_len, 4);
    const float *xp = view_f32(b, x, bytes, "rms_norm", "x");
    const float *wp = w.buf ? view_f32(b, w, nbytes3(row_len, 1, 4), "rms_norm", "w") : NULL;
    float *op = view_f32(b, out, bytes, "rms_norm", "out");
    if (!xp || !op || (w.buf && !wp)) return;
    if (row_len <= 0) { FAIL(b, INFER_ERR_INVALID_ARG, "rms_norm: row_len %lld", (long long)row_len); return; }
    infer_cpu_rms_norm(b->tp, xp, wp, n_rows, row_len, eps, op);
}

/* The rows x cols weights of W.type as a checked pointer, or NULL after failing with a
 * message naming op. */
static const void *weight_view(cpu_backend *b, infer_bview W, int64_t rows, int64_t cols, const char *op) {
    const size_t row_bytes = infer_dtype_row_bytes(W.type, cols);
    if (row_bytes == 0 || rows <= 0) {
        FAIL(b, INFER_ERR_UNSUPPORTED, "%s: weight type %u with %lld x %lld is not usable", op, W.type,
             (long long)rows, (long long)cols);
        return NULL;
    }
    return view_ptr(b, W, nbytes3(rows, 1, row_bytes), op, "W");
}

static void cpu_matmul(infer_backend *be, infer_bview W, int64_t rows, int64_t cols, infer_bview x, int64_t n,
                       infer_bview bias, infer_bview y) {
    cpu_backend *b = cpu(be);
    const void *wp = weight_view(b, W, rows, cols, "matmul");
    if (!wp) return;
    const float *xp = view_f32(b, x, nbytes3(n, cols, 4), "matmul", "x");
    const float *bp = bias.buf ? view_f32(b, bias, nbytes3(rows, 1, 4), "matmul", "bias") : NULL;
    float *yp = view_f32(b, y, nbytes3(n, rows, 4), "matmul", "y");
    if (!xp || !yp || (bias.buf && !bp)) return;
    if (n == 0) return;
    if (infer_cpu_matmul(b->tp, b->scratch, wp, W.type, rows, cols, xp, n, yp) != 0) {
        FAIL(b, INFER_ERR_UNSUPPORTED, "matmul: weight type %u (%lld x %lld) not supported by the CPU kernels",
             W.type, (long long)rows, (long long)cols);
        return;
    }
    if (bp) infer_cpu_add_bias_rows(yp, bp, n, rows);
}

static void cpu_matmul_shared(infer_backend *be, const infer_matmul_out *outs, int count, int64_t cols, infer_bview x,
                              int64_t n) {
    cpu_backend *b = cpu(be);
    if (count < 1 || count > INFER_MATMUL_SHARED_MAX || count > INFER_CPU_MATMUL_MAX_PARTS) {
        FAIL(b, INFER_ERR_INVALID_ARG, "matmul_shared: %d weights (1..%d)", count, INFER_MATMUL_SHARED_MAX);
        return;
    }
    infer_cpu_matmul_part parts[INFER_MATMUL_SHARED_MAX];
    const float *bias[INFER_MATMUL_SHARED_MAX];
    const float *xp = view_f32(b, x, nbytes3(n, cols, 4), "matmul_shared", "x");
    if (!xp) return;
    for (int i = 0; i < count; i++) {
        const infer_matmul_out *o = &outs[i];
        parts[i].W = weight_view(b, o->W, o->rows, cols, "matmul_shared");
        parts[i].wtype = o->W.type;
        parts[i].rows = o->rows;
        parts[i].y = view_f32(b, o->y, nbytes3(n, o->rows, 4), "matmul_shared", "y");
        bias[i] = o->bias.buf ? view_f32(b, o->bias, nbytes3(o->rows, 1, 4), "matmul_shared", "bias") : NULL;
        if (!parts[i].W || !parts[i].y || (o->bias.buf && !bias[i])) return;
    }
    if (n == 0) return;
    if (infer_cpu_matmul_multi(b->tp, b->scratch, parts, count, cols, xp, n) != 0) {
        FAIL(b, INFER_ERR_UNSUPPORTED, "matmul_shared: %d weights of %lld columns (first type %u) not supported by the CPU kernels",
             count, (long long)cols, outs[0].W.type);
        return;
    }
    for (int i = 0; i < count; i++)
        if (bias[i]) infer_cpu_add_bias_rows(parts[i].y, bias[i], n, parts[i].rows);
}

static void cpu_rope(infer_backend *be, infer_bview x, infer_bview pos_i32, int64_t n_tok, int64_t n_head,
                     int64_t head_dim, infer_bview freq_factors, const infer_rope_params *p) {
    cpu_backend *b = cpu(be);
    float *xp = view_f32(b, x, nbytes3(n_tok, n_head * head_dim, 4), "rope", "x");
    const int32_t *pp = view_ptr(b, pos_i32, nbytes3(n_tok, 1, 4), "rope", "pos");
    /* n_rot itself is validated by infer_cpu_rope; a negative one sizes nothing here. */
    const float *ff = freq_factors.buf
        ? view_f32(b, freq_factors, nbytes3(p->n_rot > 0 ? p->n_rot / 2 : 0, 1, 4), "rope", "freq_factors") : NULL;
    if (!xp || !pp || (freq_factors.buf && !ff)) return;
    infer_error e;
    if (infer_cpu_rope(b->tp, &b->ws, xp, pp, n_tok, n_head, head_dim, ff, p, &e) != INFER_OK) fail_with(b, &e);
}

static size_t kv_elem_bytes(uint32_t type) {
    return type == INFER_TYPE_F32 ? 4 : type == INFER_TYPE_F16 ? 2 : 0;
}

static void cpu_kv_store(infer_backend *be, infer_bview src, infer_bview pos_i32, int64_t n_tok, int64_t row_len,
                         infer_bview cache) {
    cpu_backend *b = cpu(be);
    const size_t elem = kv_elem_bytes(cache.type);
    if (elem == 0 || row_len <= 0) {
        FAIL(b, INFER_ERR_UNSUPPORTED, "kv_store: cache type %u / row_len %lld not usable", cache.type, (long long)row_len);
        return;
    }
    const int64_t cache_rows = rows_available(cache, (size_t)row_len * elem);
    const float *sp = view_f32(b, src, nbytes3(n_tok, row_len, 4), "kv_store", "src");
    const int32_t *pp = view_ptr(b, pos_i32, nbytes3(n_tok, 1, 4), "kv_store", "pos");
    void *cp = view_ptr(b, cache, 0, "kv_store", "cache");
    if (!sp || !pp || !cp) return;
    infer_error e;
    if (infer_cpu_kv_store(sp, pp, n_tok, row_len, cp, cache.type, cache_rows, &e) != INFER_OK) fail_with(b, &e);
}

static void cpu_attention(infer_backend *be, infer_bview q, infer_bview k, infer_bview v, infer_bview pos_i32,
                          infer_bview sinks, const infer_attn_params *p, infer_bview out) {
    cpu_backend *b = cpu(be);
    if (failed(b)) return;
    const size_t elem = kv_elem_bytes(k.type);
    if (elem == 0 || k.type != v.type) {
        FAIL(b, INFER_ERR_UNSUPPORTED, "attention: cache types %u/%u (need both F32 or both F16)", k.type, v.type);
        return;
    }
    const size_t q_bytes = nbytes3(p->n_tokens, (int64_t)p->n_head * p->head_dim, 4);
    const size_t kv_bytes = nbytes3(p->n_kv, (int64_t)p->n_head_kv * p->head_dim, elem);
    const float *qp = view_f32(b, q, q_bytes, "attention", "q");
    const void *kp = view_ptr(b, k, kv_bytes, "attention", "k");
    const void *vp = view_ptr(b, v, kv_bytes, "attention", "v");
    const int32_t *pp = view_ptr(b, pos_i32, nbytes3(p->n_tokens, 1, 4), "attention", "pos");
    const float *sp = sinks.buf ? view_f32(b, sinks, nbytes3(p->n_head, 1, 4), "attention", "sinks") : NULL;
    float *op = view_f32(b, out, q_bytes, "attention", "out");
    if (!qp || !kp || !vp || !pp || !op || (sinks.buf && !sp)) return;
    infer_error e;
    if (infer_cpu_attention(b->tp, &b->ws, qp, kp, vp, k.type, pp, sp, p, op, &e) != INFER_OK) fail_with(b, &e);
}

static void cpu_glu(infer_backend *be, infer_glu_kind kind, infer_bview gate, infer_bview up, int64_t n,
                    float alpha, float limit, infer_bview out) {
    cpu_backend *b = cpu(be);
    const size_t bytes = nbytes3(n, 1, 4);
    const float *g = view_f32(b, gate, bytes, "glu", "gate");
    const float *u = view_f32(b, up, bytes, "glu", "up");
    float *o = view_f32(b, out, bytes, "glu", "out");
    if (!g || !u || !o) return;
    if ((unsigned)kind >= INFER_GLU_COUNT) {
        FAIL(b, INFER_ERR_INVALID_ARG, "glu: unknown kind %d", (int)kind);
        return;
    }
    infer_cpu_glu(b->tp, kind, g, u, n, alpha, limit, o);
}

static void cpu_matmul_glu(infer_backend *be, infer_bview W, int64_t rows, int64_t cols, infer_glu_kind kind,
                           infer_bview gate, infer_bview up, int64_t n, float alpha, float limit, infer_bview y) {
    cpu_backend *b = cpu(be);
    const void *wp = weight_view(b, W, rows, cols, "matmul_glu");
    if (!wp) return;
    if ((unsigned)kind >= INFER_GLU_COUNT) {
        FAIL(b, INFER_ERR_INVALID_ARG, "matmul_glu: unknown glu kind %d", (int)kind);
        return;
    }
    float *gp = view_f32(b, gate, nbytes3(n, cols, 4), "matmul_glu", "gate");
    const float *up_p = view_f32(b, up, nbytes3(n, cols, 4), "matmul_glu", "up");
    float *yp = view_f32(b, y, nbytes3(n, rows, 4), "matmul_glu", "y");
    if (!gp || !up_p || !yp) return;
    if (n == 0) return;
    if (infer_cpu_matmul_glu(b->tp, b->scratch, wp, W.type, rows, cols, kind, gp, up_p, alpha, limit, n, yp) != 0)
        FAIL(b, INFER_ERR_UNSUPPORTED, "matmul_glu: weight type %u (%lld x %lld) not supported by the CPU kernels",
             W.type, (long long)rows, (long long)cols);
}

static void cpu_add(infer_backend *be, infer_bview a, infer_bview bb, int64_t n, infer_bview out) {
    cpu_backend *b = cpu(be);
    const size_t bytes = nbytes3(n, 1, 4);
    const float *ap = view_f32(b, a, bytes, "add", "a");
    const float *bp = view_f32(b, bb, bytes, "add", "b");
    float *o = view_f32(b, out, bytes, "add", "out");
    if (!ap || !bp || !o) return;
    infer_cpu_add(b->tp, ap, bp, n, o);
}

static void cpu_scale(infer_backend *be, infer_bview x, int64_t n, float s, float cap, infer_bview out) {
    cpu_backend *b = cpu(be);
    const size_t bytes = nbytes3(n, 1, 4);
    const float *xp = view_f32(b, x, bytes, "scale", "x");
    float *o = view_f32(b, out, bytes, "scale", "out");
    if (!xp || !o) return;
    infer_cpu_scale(b->tp, xp, n, s, cap, o);
}

static void cpu_moe(infer_backend *be, infer_bview x, infer_bview router_logits, int64_t n_tok, int64_t n_embd,
                    int64_t n_ff, int32_t n_expert, int32_t k, infer_bview w_gate, infer_bview b_gate,
                    infer_bview w_up, infer_bview b_up, infer_bview w_down, infer_bview b_down,
                    infer_glu_kind glu, float alpha, float limit, infer_bview out) {
    cpu_backend *b = cpu(be);
    if (failed(b)) return;
    const size_t rb_gate = infer_dtype_row_bytes(w_gate.type, n_embd);
    const size_t rb_up = infer_dtype_row_bytes(w_up.type, n_embd);
    const size_t rb_down = infer_dtype_row_bytes(w_down.type, n_ff);
    if (!rb_gate || !rb_up || !rb_down || n_expert <= 0) {
        FAIL(b, INFER_ERR_UNSUPPORTED, "moe: expert weight types %u/%u/%u with n_embd %lld, n_ff %lld not usable",
             w_gate.type, w_up.type, w_down.type, (long long)n_embd, (long long)n_ff);
        return;
    }
    infer_cpu_moe_args a = {
        .n_tok = n_tok, .n_embd = n_embd, .n_ff = n_ff, .n_expert = n_expert, .k = k,
        .w_gate_type = w_gate.type, .w_up_type = w_up.type, .w_down_type = w_down.type,
        .glu = glu, .alpha = alpha, .limit = limit,
    };
    a.x = view_f32(b, x, nbytes3(n_tok, n_embd, 4), "moe", "x");
    a.router = view_f32(b, router_logits, nbytes3(n_tok, n_expert, 4), "moe", "router_logits");
    a.w_gate = view_ptr(b, w_gate, nbytes3(n_expert, n_ff, rb_gate), "moe", "w_gate");
    a.w_up = view_ptr(b, w_up, nbytes3(n_expert, n_ff, rb_up), "moe", "w_up");
    a.w_down = view_ptr(b, w_down, nbytes3(n_expert, n_embd, rb_down), "moe", "w_down");
    a.b_gate = b_gate.buf ? view_f32(b, b_gate, nbytes3(n_expert, n_ff, 4), "moe", "b_gate") : NULL;
    a.b_up = b_up.buf ? view_f32(b, b_up, nbytes3(n_expert, n_ff, 4), "moe", "b_up") : NULL;
    a.b_down = b_down.buf ? view_f32(b, b_down, nbytes3(n_expert, n_embd, 4), "moe", "b_down") : NULL;
    a.out = view_f32(b, out, nbytes3(n_tok, n_embd, 4), "moe", "out");
    if (failed(b)) return;
    infer_error e;
    if (infer_cpu_moe(b->tp, b->scratch, &b->ws, &a, &e) != INFER_OK) fail_with(b, &e);
}

/* The scalar reference covers every type the CPU can multiply; get_rows needs to_float. */
static bool cpu_supports(infer_backend *be, infer_op op, uint32_t type) {
    (void)be;
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    if (!tr || !tr->supported) return false;
    if (op == INFER_OP_GET_ROWS) return tr->to_float != NULL;
    return infer_vec_dot_scalar(type) != NULL;
}

static const infer_backend_ops cpu_ops = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .device_name = cpu_device_name,
    .supports = cpu_supports,
    .alloc = cpu_alloc,
    .weight = cpu_weight,
    .release = cpu_release,
    .write = cpu_write,
    .read = cpu_read,
    .set_abort = cpu_set_abort,
    .begin = cpu_begin,
    .end = cpu_end,
    .get_rows = cpu_get_rows,
    .rms_norm = cpu_rms_norm,
    .matmul = cpu_matmul,
    .matmul_shared = cpu_matmul_shared,
    .matmul_glu = cpu_matmul_glu,
    .rope = cpu_rope,
    .kv_store = cpu_kv_store,
    .attention = cpu_attention,
    .glu = cpu_glu,
    .add = cpu_add,
    .scale = cpu_scale,
    .moe = cpu_moe,
};

infer_status infer_backend_cpu_new(int n_threads, infer_backend **out, infer_error *err) {
    if (!out) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_backend_cpu_new: out is NULL");
    *out = NULL;
    if (n_threads <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = online > 0 ? (int)online : 1;
    }
    if (n_threads > 1024)
        return infer_err(err, INFER_ERR_INVALID_ARG, "infer_backend_cpu_new: n_threads %d is absurd", n_threads);
    cpu_backend *b = calloc(1, sizeof *b);
    if (!b) return infer_err(err, INFER_ERR_NOMEM, "cpu backend: out of memory");
    b->base.ops = &cpu_ops;
    b->tp = infer_threadpool_new(n_threads);
    b->scratch = infer_cpu_scratch_new();
    if (!b->tp || !b->scratch) {
        cpu_destroy(&b->base);
        return infer_err(err, INFER_ERR_NOMEM, "cpu backend: cannot start %d threads", n_threads);
    }
    snprintf(b->name, sizeof b->name, "CPU (%d threads, %s)", n_threads, infer_cpu_isa_name());
    *out = &b->base;
    return INFER_OK;
}
