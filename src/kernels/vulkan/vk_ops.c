/* The backend ops on Vulkan: each checks its arguments, binds its views (windows of
 * device buffers; the part of an offset below the binding alignment goes to the shader
 * in push constants), and records one or more dispatches. Nothing runs until end(). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/vulkan/vk_error.h"
#include "kernels/vulkan/vk_internal.h"
#include "tensor/dtype.h"

#define MATMUL_VEC_MAX_N 8      /* below this many activation rows, one workgroup per weight row */
#define MAT_TILE 64             /* matmul_mat.comp's and matmul_coop.comp's BM = BN */
#define MATVEC_ROWS 4           /* matvec_q4_k.comp's and matvec_rows.comp's ROWS */

/* Push-constant blocks, word for word as the shaders declare them. */
typedef struct { uint32_t a_off, row_bytes, row_len, ids_off, o_off, n; int32_t row_lo, row_hi, n_rows; } pc_get_rows;
typedef struct { uint32_t x_off, w_off, o_off, row_len, n_rows, has_w; float eps; } pc_rms_norm;
typedef struct {
    uint32_t a_off, row_bytes, rows, cols, x_off, b_off, has_bias, y_off, n, r_base, win_rows;
    uint32_t expert_bytes, x_div, e_base, e_count, list_off, cnt_off, list_stride;
} pc_matmul;
typedef struct { uint32_t g_off, u_off, o_off, n, kind; float alpha, limit; } pc_glu;
typedef struct { uint32_t x_off, o_off, n; float s, cap; } pc_scale;
typedef struct { uint32_t a_off, b_off, o_off, n; } pc_add;
typedef struct { uint32_t a_off, b_off, s_off, w_off, o_off, row_len, n_rows, has_w; float eps; } pc_add_rms_norm;
typedef struct { uint32_t l_off, n_tok, n_expert, k, sel_off, cnt_off, list_off, w_off; } pc_moe_route;
typedef struct { uint32_t d_off, w_off, o_off, n_tok, n_embd, k; } pc_moe_combine;

_Static_assert(sizeof(pc_matmul) <= VK_PUSH_WORDS * 4, "push constants fit the guaranteed 128 bytes");

/* The op may start: any held-back op is recorded, a pass is open and no earlier op
 * failed. Ops other than matmul may write anything, so the rounded-activation cache is
 * forgotten. */
bool vk_op_ready(vk_backend *vk) {
    vk->act_cached.valid = false;
    vk_pending_flush(vk);
    return vk_ensure_recording(vk);
}

/* Shader index math is 32-bit: every element count must fit. */
bool vk_fits(vk_backend *vk, const char *op, uint64_t v) {
    if (v <= UINT32_MAX) return true;
    vk_fail(vk, INFER_ERR_UNSUPPORTED, "vulkan: %s: size %llu exceeds 32-bit shader indexing", op, (unsigned long long)v);
    return false;
}

bool vk_f32_view(vk_backend *vk, infer_bview v, const char *op, const char *what) {
    if (v.type == INFER_TYPE_F32) return true;
    vk_fail(vk, INFER_ERR_TYPE, "vulkan: %s: %s must be F32 (got type %u)", op, what, v.type);
    return false;
}

/* Shader variant "<base>_<type name lowercased>" for a weight type, or NULL (sticky). */
static vk_pipeline *typed_pipeline(vk_backend *vk, const char *base, uint32_t type) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    if (!tr || !tr->name) {
        vk_fail(vk, INFER_ERR_UNSUPPORTED, "vulkan: %s: unknown tensor type %u", base, type);
        return NULL;
    }
    char name[64];
    int n = snprintf(name, sizeof name, "%s_", base);
    for (const char *c = tr->name; *c && n < (int)sizeof name - 1; c++) name[n++] = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    name[n] = 0;
    vk_pipeline *p = vk_pipeline_get(vk, name);
    if (!p) {
        /* Replace the generic "no variant" message with one naming the type. */
        vk->status = INFER_OK;
        vk_fail(vk, INFER_ERR_UNSUPPORTED, "vulkan: %s: tensor type %s has no Vulkan shader", base, tr->name);
    }
    return p;
}

/* A typed variant "<base>_<type>" is embedded for every shader the op may pick. */
static bool typed_exists(const char *base, const char *type_name) {
    char name[64];
    int n = snprintf(name, sizeof name, "%s_", base);
    for (const char *c = type_name; *c && n < (int)sizeof name - 1; c++) name[n++] = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    name[n] = 0;
    return vk_pipeline_exists(name);
}

bool vk_supports(infer_backend *be, infer_op op, uint32_t type) {
    (void)be;
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    if (!tr || !tr->name || !tr->supported) return false;
    switch (op) {
    case INFER_OP_GET_ROWS: return typed_exists("get_rows", tr->name);
    case INFER_OP_MATMUL:
        return typed_exists("matmul_vec", tr->name) && typed_exists("matmul_vec_sg", tr->name) &&
               typed_exists("matmul_mat", tr->name);
    case INFER_OP_MOE: return typed_exists("matmul_vec_moe", tr->name) && typed_exists("matmul_mat_moe", tr->name);
    case INFER_OP_COUNT: break;
    }
    return false;
}

/* Bytes from v.offset to the end of its buffer (of its part, for a split weight),
 * capped at what one binding can reach. */
size_t vk_bindable_rest(vk_backend *vk, infer_bview v) {
    if (!v.buf || v.offset >= v.buf->size) return 0;
    if (v.buf->n_parts) {
        v = vk_part_view(v);
        if (!v.buf) return 0;
    }
    VkDeviceSize rest = v.buf->size - v.offset;
    VkDeviceSize cap = (vk->caps.max_storage_range & ~(VkDeviceSize)3) - (vk->caps.offset_align < 4 ? 4 : vk->caps.offset_align);
    return (size_t)(rest < cap ? rest : cap);
}

/* How many `unit`-byte items (rows, experts) from v.offset one binding serves, at most
 * `left`; 0 (and a sticky error) if not even one fits. */
static uint64_t window_items(vk_backend *vk, infer_bview v, size_t unit, uint64_t left, const char *op) {
    uint64_t n = vk_bindable_rest(vk, v) / unit;
    if (n == 0) vk_fail(vk, INFER_ERR_UNSUPPORTED, "vulkan: %s: one row of %zu bytes exceeds a binding window", op, unit);
    return n < left ? n : left;
}

/* ------------------------------------------------------------------ transfers */

static bool view_in_range(vk_backend *vk, infer_bview v, size_t bytes, const char *op) {
    if (v.buf && v.buf->n_parts) {
        vk_fail(vk, INFER_ERR_INVALID_ARG, "vulkan: %s: weights split across allocations are read-only", op);
        return false;
    }
    if (v.buf && v.offset <= v.buf->size && bytes <= v.buf->size - v.offset) return true;
    vk_fail(vk, INFER_ERR_INVALID_ARG, "vulkan: %s of %zu bytes at offset %zu is outside the buffer", op, bytes, v.offset);
    return false;
}

void vk_op_write(infer_backend *be, infer_bview dst, const void *src, size_t bytes) {
    vk_backend *vk = vk_of(be);
    vk->act_cached.valid = false;
    vk_pending_flush(vk);
    if (vk->status || bytes == 0 || !view_in_range(vk, dst, bytes, "write")) return;
    if (!vk->recording) {   /* outside a pass: the device is idle, copy now */
        if (dst.buf->mapped) {
            memcpy((char *)dst.buf->mapped + dst.offset, src, bytes);
            return;
        }
        infer_bbuf *staging;
        infer_error e;
        if (vk_buffer_new(vk, bytes, true, &staging, &e)) { vk_fail(vk, e.status, "%s", e.message); return; }
        memcpy(staging->mapped, src, bytes);
        if (vk_copy_now(vk, staging->buffer, 0, dst.buf->buffer, dst.offset, bytes, &e))
            vk_fail(vk, e.status, "%s", e.message);
        vk_buffer_free(vk, staging);
        return;
    }
    infer_bbuf *ab;
    VkDeviceSize off;
    if (!vk_arena_push(vk, &vk->upload, src, bytes, &ab, &off)) return;
    VkBufferCopy c = {.srcOffset = off, .dstOffset = dst.offset, .size = bytes};
    vk_flush(vk);
    vkCmdCopyBuffer(vk->cmd, ab->buffer, dst.buf->buffer, 1, &c);
    vk_barrier(vk);
}

void vk_op_read(infer_backend *be, infer_bview src, void *dst, size_t bytes) {
    vk_backend *vk = vk_of(be);
    vk_pending_flush(vk);
    if (vk->status || bytes == 0 || !view_in_range(vk, src, bytes, "read")) return;
    if (!vk->recording) {
        if (src.buf->mapped) {
            memcpy(dst, (const char *)src.buf->mapped + src.offset, bytes);
            return;
        }
        infer_bbuf *staging;
        infer_error e;
        if (vk_buffer_new(vk, bytes, true, &staging, &e)) { vk_fail(vk, e.status, "%s", e.message); return; }
        if (vk_copy_now(vk, src.buf->buffer, src.offset, staging->buffer, 0, bytes, &e))
            vk_fail(vk, e.status, "%s", e.message);
        else memcpy(dst, staging->mapped, bytes);
        vk_buffer_free(vk, staging);
        return;
    }
    infer_bbuf *ab;
    VkDeviceSize off;
    if (!vk_arena_push(vk, &vk->readback, NULL, bytes, &ab, &off)) return;
    VkBufferCopy c = {.srcOffset = src.offset, .dstOffset = off, .size = bytes};
    vk_flush(vk);
    vkCmdCopyBuffer(vk->cmd, src.buf->buffer, ab->buffer, 1, &c);
    vk_barrier(vk);
    vk_push_read(vk, (vk_readback){.dst = dst, .src = ab, .offset = off, .bytes = bytes});
}

/* ------------------------------------------------------------------ ops */

void vk_op_get_rows(infer_backend *be, infer_bview table, int64_t row_len, infer_bview ids, int64_t n, infer_bview out) {
    vk_backend *vk = vk_of(be);
    if (!vk_op_ready(vk) || n <= 0) return;
    const infer_dtype_traits *tr = infer_dtype_traits_get(table.type);
    if (!tr || !tr->supported || row_len <= 0 || row_len % tr->block_size) {
        vk_fail(vk, INFER_ERR_TYPE, "vulkan: get_rows: row of %lld is not whole blocks of type %u", (long long)row_len, table.type);
        return;
    }
    if (!vk_f32_view(vk, out, "get_rows", "out") || !vk_fits(vk, "get_rows", (uint64_t)n * (uint64_t)row_len)) return;
    vk_pipeline *p = typed_pipeline(vk, "get_rows", table.type);
    size_t row_bytes = infer_dtype_row_bytes(table.type, row_len);
    vk_binding b[4];
    infer_bbuf *check = vk_check_buffer(vk);
    if (!p || !check || !vk_bind(vk, ids, (size_t)n * 4, &b[1], "get_rows ids") ||
        !vk_bind(vk, out, (size_t)(n * row_len) * 4, &b[2], "get_rows out") ||
        !vk_bind(vk, (infer_bview){check, 0, INFER_TYPE_I32}, 4, &b[3], "get_rows check"))
        return;
    /* The table's row count is not part of the op: every whole row of the buffer is a
     * candidate, served window by window when it exceeds one binding. */
    if (!table.buf || table.offset >= table.buf->size) { vk_fail(vk, INFER_ERR_INVALID_ARG, "vulkan: get_rows: empty table"); return; }
    uint64_t total_rows = (table.buf->size - table.offset) / row_bytes;
    for (uint64_t lo = 0, cnt; lo < total_rows && !vk->status; lo += cnt) {
        cnt = window_items(vk, infer_bview_at(table, (size_t)(lo * row_bytes)), row_bytes, total_rows - lo, "get_rows");
        if (!cnt) return;
        if (!vk_bind(vk, infer_bview_at(table, (size_t)(lo * row_bytes)), (size_t)(cnt * row_bytes), &b[0], "get_rows table")) return;
        pc_get_rows pc = {b[0].rem, (uint32_t)row_bytes, (uint32_t)row_len, b[1].rem / 4, b[2].rem / 4, (uint32_t)n,
                          (int32_t)(lo > INT32_MAX ? INT32_MAX : lo), (int32_t)(lo + cnt > INT32_MAX ? INT32_MAX : lo + cnt),
                          (int32_t)(total_rows > INT32_MAX ? INT32_MAX : total_rows)};
        vk_dispatch(vk, p, b, 4, &pc, sizeof pc, vk_ceil_div((uint64_t)n * vk_ceil_div((uint64_t)row_len, 8), 64), 1);
    }
}

/* The held-back add and this norm in one dispatch: s = a + b, out = norm(s) * w. */
static void add_rms_norm_rec(vk_backend *vk, infer_bview a, infer_bview bb, infer_bview s, infer_bview w, int64_t n_rows,
                             int64_t row_len, float eps, infer_bview out) {
    vk_pipeline *p = vk_pipeline_get(vk, vk->caps.subgroup_arith ? "add_rms_norm_sg" : "add_rms_norm");
    vk_binding b[5];
    size_t bytes = (size_t)(n_rows * row_len) * 4;
    if (!p || !vk_bind(vk, a, bytes, &b[0], "add a") || !vk_bind(vk, bb, bytes, &b[1], "add b") ||
        !vk_bind(vk, s, bytes, &b[2], "add out") || !vk_bind(vk, w.buf ? w : s, (size_t)row_len * 4, &b[3], "rms_norm weight") ||
        !vk_bind(vk, out, bytes, &b[4], "rms_norm out"))
        return;
    pc_add_rms_norm pc = {b[0].rem / 4, b[1].rem / 4, b[2].rem / 4, b[3].rem / 4, b[4].rem / 4,
                          (uint32_t)row_len, (uint32_t)n_rows, w.buf != NULL, eps};
    vk_dispatch(vk, p, b, 5, &pc, sizeof pc, (uint64_t)n_rows, 1);
}

void vk_op_rms_norm(infer_backend *be, infer_bview x, infer_bview w, int64_t n_rows, int64_t row_len, float eps, infer_bview out) {
    vk_backend *vk = vk_of(be);
    /* A held-back add whose output is exactly this norm's input is done here with it. */
    bool fuse = vk->pending_add.on && n_rows > 0 && row_len > 0 && vk_same_view(vk->pending_add.out, x) &&
                vk->pending_add.n == n_rows * row_len;
    if (fuse) vk->pending_add.on = false;
    if (!vk_op_ready(vk) || n_rows <= 0 || row_len <= 0) return;
    if (!vk_f32_view(vk, x, "rms_norm", "x") || !vk_f32_view(vk, out, "rms_norm", "out") ||
        (w.buf && !vk_f32_view(vk, w, "rms_norm", "weight")) || !vk_fits(vk, "rms_norm", (uint64_t)(n_rows * row_len)))
        return;
    if (fuse) {
        add_rms_norm_rec(vk, vk->pending_add.a, vk->pending_add.b, x, w, n_rows, row_len, eps, out);
        return;
    }
    vk_pipeline *p = vk_pipeline_get(vk, vk->caps.subgroup_arith ? "rms_norm_sg" : "rms_norm");
    vk_binding b[3];
    size_t bytes = (size_t)(n_rows * row_len) * 4;
    if (!p || !vk_bind(vk, x, bytes, &b[0], "rms_norm x") || !vk_bind(vk, w.buf ? w : x, (size_t)row_len * 4, &b[1], "rms_norm weight") ||
        !vk_bind(vk, out, bytes, &b[2], "rms_norm out"))
        return;
    pc_rms_norm pc = {b[0].rem / 4, b[1].rem / 4, b[2].rem / 4, (uint32_t)row_len, (uint32_t)n_rows, w.buf != NULL, eps};
    vk_dispatch(vk, p, b, 3, &pc, sizeof pc, (uint64_t)n_rows, 1);
}

/* The activation rounding block of a weight type: the block size of its partner format
 * in the dtype traits (32 for Q8_0, 256 for Q8_K); 0 for float weights, x as is. */
static uint32_t act_block(uint32_t wtype) {
    const infer_dtype_traits *t = infer_dtype_traits_get(wtype);
    const infer_dtype_traits *partner = t && t->vec_dot_type != INFER_TYPE_F32 ? infer_dtype_traits_get(t->vec_dot_type) : NULL;
    return partner ? (uint32_t)partner->block_size : 0;
}

/* The reference engine multiplies quantized weights with activations rounded to an
 * 8-bit format (blocks of 32 for the 32-value formats, of 256 for the K-quants); doing
 * the same keeps our logits next to its. Returns the view to multiply with: x itself
 * for float weights, else the rounded copy in act_scratch. */
static infer_bview act_for(vk_backend *vk, uint32_t wtype, infer_bview x, uint64_t n_values) {
    uint32_t qb = act_block(wtype);
    if (!qb) return x;
    if (vk->act_cached.valid && vk->act_cached.buf == x.buf && vk->act_cached.offset == x.offset && vk->act_cached.n == n_values &&
        vk->act_cached.qb == qb)
        return (infer_bview){vk->act_scratch, 0, INFER_TYPE_F32};
    vk->act_cached.valid = false;
    infer_bbuf *s = vk_scratch(vk, &vk->act_scratch, (size_t)n_values * 4);
    vk_pipeline *p = vk_pipeline_get(vk, qb == 32 ? "quantize_act_q8" : "quantize_act_q8k");
    infer_bview out = {s, 0, INFER_TYPE_F32};
    vk_binding b[2];
    if (!s || !p || !vk_bind(vk, x, (size_t)n_values * 4, &b[0], "matmul x") || !vk_bind(vk, out, (size_t)n_values * 4, &b[1], "rounded x"))
        return x;
    struct { uint32_t x_off, o_off, n_blocks; } pc = {b[0].rem / 4, 0, (uint32_t)(n_values / qb)};
    vk_dispatch(vk, p, b, 2, &pc, sizeof pc, n_values / qb, 1);
    if (!vk->status) {
        vk->act_cached.buf = x.buf;
        vk->act_cached.offset = x.offset;
        vk->act_cached.n = n_values;
        vk->act_cached.qb = qb;
        vk->act_cached.valid = true;
    }
    return out;
}

static void matmul_rec(vk_backend *vk, infer_bview W, int64_t rows, int64_t cols, infer_bview x, int64_t n, infer_bview bias,
                       infer_bview y);

/* The prompt (tiled) kernel, plain or MoE: matmul_coop.comp's form that INFER_VK_COOPMAT
 * chose for this device (vk_coopmat.c) where it has a variant for the type, else
 * matmul_mat.comp. Both take the same bindings, push constants and 64 x 64 tile grid.
 * F32 weights stay on the fp32 kernel: a file keeps a tensor in F32 to have it exact (the
 * MoE router of gpt-oss files), and 16-bit operands there moved synth-gptoss-F32's mean
 * KL from 9e-11 to 2.8e-4 (bound 5e-5) by flipping expert choices. */
static const char *mat_shader(vk_backend *vk, uint32_t wtype, bool moe) {
    static const char *coop[][2] = {[VK_COOPMAT_NV] = {"matmul_coop_nv", "matmul_coop_nv_moe"},
                                     [VK_COOPMAT_EMU] = {"matmul_coop_emu", "matmul_coop_emu_moe"}};
    const infer_dtype_traits *tr = infer_dtype_traits_get(wtype);
    if (vk->caps.coopmat != VK_COOPMAT_OFF && wtype != INFER_TYPE_F32 && tr && tr->name &&
        typed_exists(coop[vk->caps.coopmat][moe], tr->name))
        return coop[vk->caps.coopmat][moe];
    return moe ? "matmul_mat_moe" : "matmul_mat";
}

/* Whether the wide-load decode matvec (matvec_q4_k.comp, which rounds x itself) can
 * serve this matmul: one activation row of Q4_K weights, subgroups of 8..32 invocations
 * with arithmetic and shuffle operations. */
static bool matvec_fast_ok(vk_backend *vk, uint32_t wtype, int64_t n) {
    return n == 1 && wtype == INFER_TYPE_Q4_K && vk->caps.subgroup_arith && vk->caps.subgroup_shuffle &&
           vk->caps.subgroup_size >= 8 && vk->caps.subgroup_size <= 32;
}

/* The one-row decode kernel of every type (matvec_rows.comp: ROWS rows per workgroup, x
 * rounded inside): its subgroup form where whole subgroups of 4..32 invocations fit in
 * one row's 32, else its shared-memory form; the integer dot-product form for Q4_0/Q8_0
 * where the device has shaderIntegerDotProduct. */
static const char *matvec_rows_shader(vk_backend *vk, uint32_t wtype) {
    uint32_t sg = vk->caps.subgroup_size;
    bool sub = vk->caps.subgroup_arith && sg >= 4 && sg <= 32 && (sg & (sg - 1)) == 0;
    /* Integer dot products (Q4_0, Q8_0) where the device has them. */
    if (vk->caps.int_dot && (wtype == INFER_TYPE_Q4_0 || wtype == INFER_TYPE_Q8_0)) return sub ? "matvec_rows_sg_idot" : "matvec_rows_idot";
    return sub ? "matvec_rows_sg" : "matvec_rows";
}

void vk_op_matmul(infer_backend *be, infer_bview W, int64_t rows, int64_t cols, infer_bview x, int64_t n, infer_bview bias, infer_bview y) {
    vk_backend *vk = vk_of(be);
    vk_pending_flush(vk);
    if (!vk_ensure_recording(vk) || rows <= 0 || n <= 0) return;
    matmul_rec(vk, W, rows, cols, x, n, bias, y);
    /* y may share the buffer of the rounded input: then that copy may be stale. */
    if (y.buf == vk->act_cached.buf) vk->act_cached.valid = false;
}

static void matmul_rec(vk_backend *vk, infer_bview W, int64_t rows, int64_t cols, infer_bview x, int64_t n, infer_bview bias,
                       infer_bview y) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(W.type);
    if (!tr || !tr->supported || cols <= 0 || cols % tr->block_size) {
        vk_fail(vk, INFER_ERR_TYPE, "vulkan: matmul: %lld columns are not whole blocks of type %u", (long long)cols, W.type);
        return;
    }
    if (!vk_f32_view(vk, x, "matmul", "x") || !vk_f32_view(vk, y, "matmul", "y") || (bias.buf && !vk_f32_view(vk, bias, "matmul", "bias")) ||
        !vk_fits(vk, "matmul", (uint64_t)(n * cols)) || !vk_fits(vk, "matmul", (uint64_t)(n * rows)))
        return;
    bool vec = n < MATMUL_VEC_MAX_N;
    size_t x_bytes = (size_t)(n * cols) * 4;
    /* The fast decode kernel takes x as it is, where x and the weight window sit on 16
     * bytes; any other window is served by the general kernel on the rounded copy. */
    vk_binding raw_x, rounded_x;
    bool fast_ok = vec && matvec_fast_ok(vk, W.type, n);
    if (fast_ok) {
        if (!vk_bind(vk, x, x_bytes, &raw_x, "matmul x")) return;
        fast_ok = raw_x.rem % 16 == 0;
    }
    /* One activation row: the several-rows-per-workgroup kernel that rounds x itself. */
    bool rows_k = n == 1 && vk->caps.matvec_rows;
    const char *shader = !vec ? mat_shader(vk, W.type, false) : rows_k ? matvec_rows_shader(vk, W.type) : vk->caps.subgroup_arith ? "matmul_vec_sg" : "matmul_vec";
    size_t row_bytes = infer_dtype_row_bytes(W.type, cols);
    vk_binding b[4];
    vk_pipeline *p = NULL;   /* the general kernel, set up (with the rounded x) on first need */
    if (!vk_bind(vk, bias.buf ? bias : y, bias.buf ? (size_t)rows * 4 : 4, &b[2], "matmul bias") ||
        !vk_bind(vk, y, (size_t)(n * rows) * 4, &b[3], "matmul y"))
        return;
    for (uint64_t r0 = 0, cnt; r0 < (uint64_t)rows && !vk->status; r0 += cnt) {
        cnt = window_items(vk, infer_bview_at(W, (size_t)(r0 * row_bytes)), row_bytes, (uint64_t)rows - r0, "matmul");
        if (!cnt) return;
        if (!vk_bind(vk, infer_bview_at(W, (size_t)(r0 * row_bytes)), (size_t)(cnt * row_bytes), &b[0], "matmul W")) return;
        vk_pipeline *fast = fast_ok && b[0].rem % 16 == 0 ? vk_pipeline_get(vk, "matvec_q4_k") : NULL;
        if (!fast && !p) {
            infer_bview xr = rows_k ? x : act_for(vk, W.type, x, (uint64_t)(n * cols));
            p = typed_pipeline(vk, shader, W.type);
            if (!p || !vk_bind(vk, xr, x_bytes, &rounded_x, "matmul x")) return;
        }
        b[1] = fast ? raw_x : rounded_x;
        pc_matmul pc = {.a_off = b[0].rem, .row_bytes = (uint32_t)row_bytes, .rows = (uint32_t)rows, .cols = (uint32_t)cols,
                        .x_off = b[1].rem / 4, .b_off = b[2].rem / 4, .has_bias = bias.buf != NULL, .y_off = b[3].rem / 4,
                        .n = (uint32_t)n, .r_base = (uint32_t)r0, .win_rows = (uint32_t)cnt, .x_div = 1, .e_count = 1};
        if (rows_k) pc.expert_bytes = act_block(W.type);   /* matvec_rows reads this word as x_qb */
        if (fast)
            vk_dispatch(vk, fast, b, 4, &pc, sizeof pc, vk_ceil_div(cnt, MATVEC_ROWS), 1);
        else if (rows_k)
            vk_dispatch(vk, p, b, 4, &pc, sizeof pc, vk_ceil_div(cnt, MATVEC_ROWS), 1);
        else if (vec)
            vk_dispatch(vk, p, b, 4, &pc, sizeof pc, cnt, (uint32_t)vk_ceil_div((uint64_t)n, 4));
        else
            vk_dispatch3(vk, p, b, 4, &pc, sizeof pc, (uint32_t)vk_ceil_div(cnt, MAT_TILE), (uint32_t)vk_ceil_div((uint64_t)n, MAT_TILE), 1);
    }
}

static void glu_rec(vk_backend *vk, infer_glu_kind kind, infer_bview gate, infer_bview up, int64_t n, float alpha, float limit,
                    infer_bview out) {
    vk_pipeline *p = vk_pipeline_get(vk, "glu");
    vk_binding b[3];
    size_t bytes = (size_t)n * 4;
    if (!p || !vk_bind(vk, gate, bytes, &b[0], "glu gate") || !vk_bind(vk, up, bytes, &b[1], "glu up") ||
        !vk_bind(vk, out, bytes, &b[2], "glu out"))
        return;
    pc_glu pc = {b[0].rem / 4, b[1].rem / 4, b[2].rem / 4, (uint32_t)n, (uint32_t)kind, alpha, limit};
    vk_dispatch(vk, p, b, 3, &pc, sizeof pc, vk_ceil_div((uint64_t)n, 64), 1);
}

void vk_op_glu(infer_backend *be, infer_glu_kind kind, infer_bview gate, infer_bview up, int64_t n, float alpha, float limit,
               infer_bview out) {
    vk_backend *vk = vk_of(be);
    if (!vk_op_ready(vk) || n <= 0 || !vk_fits(vk, "glu", (uint64_t)n)) return;
    if ((unsigned)kind >= INFER_GLU_COUNT) {
        vk_fail(vk, INFER_ERR_INVALID_ARG, "vulkan: glu: unknown kind %d", (int)kind);
        return;
    }
    if (!vk_f32_view(vk, gate, "glu", "gate") || !vk_f32_view(vk, up, "glu", "up") || !vk_f32_view(vk, out, "glu", "out")) return;
    glu_rec(vk, kind, gate, up, n, alpha, limit, out);
}

static void add_rec(vk_backend *vk, infer_bview a, infer_bview bb, int64_t n, infer_bview out) {
    vk_pipeline *p = vk_pipeline_get(vk, "add");
    vk_binding b[3];
    size_t bytes = (size_t)n * 4;
    if (!p || !vk_bind(vk, a, bytes, &b[0], "add a") || !vk_bind(vk, bb, bytes, &b[1], "add b") || !vk_bind(vk, out, bytes, &b[2], "add out"))
        return;
    pc_add pc = {b[0].rem / 4, b[1].rem / 4, b[2].rem / 4, (uint32_t)n};
    vk_dispatch(vk, p, b, 3, &pc, sizeof pc, vk_ceil_div((uint64_t)n, 64), 1);
}

/* Checked now, recorded later: by the next rms_norm when it reads `out` (one dispatch
 * for both), else by vk_pending_flush before whatever comes next. */
void vk_op_add(infer_backend *be, infer_bview a, infer_bview bb, int64_t n, infer_bview out) {
    vk_backend *vk = vk_of(be);
    if (!vk_op_ready(vk) || n <= 0 || !vk_fits(vk, "add", (uint64_t)n)) return;
    if (!vk_f32_view(vk, a, "add", "a") || !vk_f32_view(vk, bb, "add", "b") || !vk_f32_view(vk, out, "add", "out")) return;
    vk->pending_add.a = a;
    vk->pending_add.b = bb;
    vk->pending_add.out = out;
    vk->pending_add.n = n;
    vk->pending_add.on = true;
}

void vk_pending_flush(vk_backend *vk) {
    if (vk->pending_add.on) {
        vk->pending_add.on = false;
        if (!vk->status) add_rec(vk, vk->pending_add.a, vk->pending_add.b, vk->pending_add.n, vk->pending_add.out);
    }
    if (vk->pending_rope.on) {
        vk->pending_rope.on = false;
        if (!vk->status)
            vk_dispatch(vk, vk->pending_rope.p, vk->pending_rope.b, 4, vk->pending_rope.pc, sizeof vk->pending_rope.pc,
                        vk->pending_rope.groups, 1);
    }
}

void vk_op_scale(infer_backend *be, infer_bview x, int64_t n, float s, float cap, infer_bview out) {
    vk_backend *vk = vk_of(be);
    if (!vk_op_ready(vk) || n <= 0 || !vk_fits(vk, "scale", (uint64_t)n)) return;
    if (!vk_f32_view(vk, x, "scale", "x") || !vk_f32_view(vk, out, "scale", "out")) return;
    vk_pipeline *p = vk_pipeline_get(vk, "scale");
    vk_binding b[2];
    size_t bytes = (size_t)n * 4;
    if (!p || !vk_bind(vk, x, bytes, &b[0], "scale x") || !vk_bind(vk, out, bytes, &b[1], "scale out")) return;
    pc_scale pc = {b[0].rem / 4, b[1].rem / 4, (uint32_t)n, s, cap};
    vk_dispatch(vk, p, b, 2, &pc, sizeof pc, vk_ceil_div((uint64_t)n, 64), 1);
}

/* ------------------------------------------------------------------ mixture of experts */

/* Expert matmul over the assignments: y[a] = W[sel[a]] * x[a / x_div] (+ bias[sel[a]]).
 * Small batches: one workgroup per (weight row, assignment). Larger: per expert, a tiled
 * matmul over the list of assignments routed to it. Experts beyond one binding are
 * served window by window. */
static void moe_matmul(vk_backend *vk, infer_bview W, infer_bview bias, int64_t rows, int64_t cols, int32_t n_expert,
                       int64_t n_tok, int32_t k, infer_bview x, uint32_t x_div, infer_bview route, uint32_t sel_off,
                       uint32_t cnt_off, uint32_t list_off, infer_bview y) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(W.type);
    if (!tr || !tr->supported || cols % tr->block_size) {
        vk_fail(vk, INFER_ERR_TYPE, "vulkan: moe: %lld columns are not whole blocks of type %u", (long long)cols, W.type);
        return;
    }
    int64_t n_assign = n_tok * k;
    bool vec = n_tok < MATMUL_VEC_MAX_N;
    vk_pipeline *p = typed_pipeline(vk, vec ? "matmul_vec_moe" : mat_shader(vk, W.type, true), W.type);
    size_t row_bytes = infer_dtype_row_bytes(W.type, cols);
    size_t expert_bytes = row_bytes * (size_t)rows;
    uint64_t x_rows = x_div == 1 ? (uint64_t)n_assign : (uint64_t)n_tok;
    x = act_for(vk, W.type, x, x_rows * (uint64_t)cols);
    vk_binding b[5];
    if (!p || !vk_bind(vk, x, (size_t)x_rows * (size_t)cols * 4, &b[1], "moe x") ||
        !vk_bind(vk, bias.buf ? bias : y, bias.buf ? (size_t)n_expert * (size_t)rows * 4 : 4, &b[2], "moe bias") ||
        !vk_bind(vk, y, (size_t)n_assign * (size_t)rows * 4, &b[3], "moe y") ||
        !vk_bind(vk, route, ((size_t)n_assign + (size_t)n_expert * (1 + (size_t)n_tok)) * 4, &b[4], "moe routing"))
        return;
    for (uint64_t e0 = 0, cnt; e0 < (uint64_t)n_expert && !vk->status; e0 += cnt) {
        cnt = window_items(vk, infer_bview_at(W, (size_t)(e0 * expert_bytes)), expert_bytes, (uint64_t)n_expert - e0, "moe");
        if (!cnt) return;
        if (!vk_bind(vk, infer_bview_at(W, (size_t)(e0 * expert_bytes)), (size_t)(cnt * expert_bytes), &b[0], "moe W")) return;
        pc_matmul pc = {.a_off = b[0].rem, .row_bytes = (uint32_t)row_bytes, .rows = (uint32_t)rows, .cols = (uint32_t)cols,
                        .x_off = b[1].rem / 4, .b_off = b[2].rem / 4, .has_bias = bias.buf != NULL, .y_off = b[3].rem / 4,
                        .n = (uint32_t)n_assign, .r_base = 0, .win_rows = (uint32_t)rows, .expert_bytes = (uint32_t)expert_bytes,
                        .x_div = x_div, .e_base = (uint32_t)e0, .e_count = (uint32_t)cnt};
        if (vec) {
            /* matmul_vec's MOE form reads sel[] at sel_off, sharing the list_off slot. */
            pc.list_off = b[4].rem / 4 + sel_off;
            vk_dispatch(vk, p, b, 5, &pc, sizeof pc, (uint64_t)rows, (uint32_t)n_assign);
        } else {
            pc.list_off = b[4].rem / 4 + list_off;
            pc.cnt_off = b[4].rem / 4 + cnt_off;
            pc.list_stride = (uint32_t)n_tok;
            vk_dispatch3(vk, p, b, 5, &pc, sizeof pc, (uint32_t)vk_ceil_div((uint64_t)rows, MAT_TILE), (uint32_t)vk_ceil_div((uint64_t)n_tok, MAT_TILE),
                         (uint32_t)cnt);
        }
    }
}

static size_t align256(size_t v) { return (v + 255) & ~(size_t)255; }

void vk_op_moe(infer_backend *be, infer_bview x, infer_bview logits, int64_t n_tok, int64_t n_embd, int64_t n_ff, int32_t n_expert,
               int32_t k, infer_bview w_gate, infer_bview b_gate, infer_bview w_up, infer_bview b_up, infer_bview w_down,
               infer_bview b_down, infer_glu_kind glu, float alpha, float limit, infer_bview out) {
    vk_backend *vk = vk_of(be);
    if (!vk_op_ready(vk) || n_tok <= 0) return;
    if (n_expert <= 0 || k <= 0 || k > n_expert || n_embd <= 0 || n_ff <= 0) {
        vk_fail(vk, INFER_ERR_INVALID_ARG, "vulkan: moe: %d experts, top-%d, n_embd %lld, n_ff %lld", n_expert, k, (long long)n_embd,
                (long long)n_ff);
        return;
    }
    int64_t n_assign = n_tok * k;
    if (!vk_f32_view(vk, x, "moe", "x") || !vk_f32_view(vk, logits, "moe", "router logits") || !vk_f32_view(vk, out, "moe", "out") ||
        !vk_fits(vk, "moe", (uint64_t)n_assign * (uint64_t)(n_ff > n_embd ? n_ff : n_embd)) || n_assign > 65535) {
        if (!vk->status) vk_fail(vk, INFER_ERR_UNSUPPORTED, "vulkan: moe: %lld routed rows exceed one dispatch", (long long)n_assign);
        return;
    }
    /* Scratch: route ints (sel | counts | lists), weights, gate/up (glu in place), down. */
    size_t sel_off = 0, cnt_off = (size_t)n_assign, list_off = cnt_off + (size_t)n_expert;
    size_t route_bytes = align256((list_off + (size_t)n_expert * (size_t)n_tok) * 4);
    size_t w_at = route_bytes, g_at = w_at + align256((size_t)n_assign * 4);
    size_t u_at = g_at + align256((size_t)n_assign * (size_t)n_ff * 4);
    size_t d_at = u_at + align256((size_t)n_assign * (size_t)n_ff * 4);
    size_t total = d_at + align256((size_t)n_assign * (size_t)n_embd * 4);
    infer_bbuf *s = vk_scratch(vk, &vk->scratch, total);
    if (!s) return;
    infer_bview route = {s, 0, INFER_TYPE_I32}, wts = {s, w_at, INFER_TYPE_F32}, G = {s, g_at, INFER_TYPE_F32},
                U = {s, u_at, INFER_TYPE_F32}, D = {s, d_at, INFER_TYPE_F32};

    vk_pipeline *pr = vk_pipeline_get(vk, "moe_route");
    vk_binding b[3];
    if (!pr || !vk_bind(vk, logits, (size_t)(n_tok * n_expert) * 4, &b[0], "moe router logits") ||
        !vk_bind(vk, route, route_bytes, &b[1], "moe routing") || !vk_bind(vk, wts, (size_t)n_assign * 4, &b[2], "moe weights"))
        return;
    pc_moe_route pcr = {b[0].rem / 4, (uint32_t)n_tok, (uint32_t)n_expert, (uint32_t)k, (uint32_t)sel_off, (uint32_t)cnt_off,
                        (uint32_t)list_off, b[2].rem / 4};
    vk_dispatch(vk, pr, b, 3, &pcr, sizeof pcr, 1, 1);

    moe_matmul(vk, w_gate, b_gate, n_ff, n_embd, n_expert, n_tok, k, x, (uint32_t)k, route, (uint32_t)sel_off, (uint32_t)cnt_off,
               (uint32_t)list_off, G);
    moe_matmul(vk, w_up, b_up, n_ff, n_embd, n_expert, n_tok, k, x, (uint32_t)k, route, (uint32_t)sel_off, (uint32_t)cnt_off,
               (uint32_t)list_off, U);
    if (vk->status) return;
    glu_rec(vk, glu, G, U, n_assign * n_ff, alpha, limit, G);
    moe_matmul(vk, w_down, b_down, n_embd, n_ff, n_expert, n_tok, k, G, 1, route, (uint32_t)sel_off, (uint32_t)cnt_off,
               (uint32_t)list_off, D);
    if (vk->status) return;

    vk_pipeline *pc2 = vk_pipeline_get(vk, "moe_combine");
    if (!pc2 || !vk_bind(vk, D, (size_t)n_assign * (size_t)n_embd * 4, &b[0], "moe expert outputs") ||
        !vk_bind(vk, wts, (size_t)n_assign * 4, &b[1], "moe weights") || !vk_bind(vk, out, (size_t)(n_tok * n_embd) * 4, &b[2], "moe out"))
        return;
    pc_moe_combine pcc = {b[0].rem / 4, b[1].rem / 4, b[2].rem / 4, (uint32_t)n_tok, (uint32_t)n_embd, (uint32_t)k};
    vk_dispatch(vk, pc2, b, 3, &pcc, sizeof pcc, vk_ceil_div((uint64_t)(n_tok * n_embd), 64), 1);
    vk->act_cached.valid = false;
}
