/* The compute backend contract: a small table of operations with the same signatures
 * for the CPU and Vulkan backends. The model code (src/models/) describes a forward
 * pass as calls on this table; it knows nothing about the device. The CPU backend
 * executes each call as it comes; the Vulkan backend records it into a command buffer
 * and submits once at end().
 *
 * Memory: every tensor lives in a backend buffer. An infer_bview names a byte range of a
 * buffer plus an element type; activation views are always F32 unless stated, rows are
 * contiguous, and shapes are given to each op explicitly (ggml order: the innermost,
 * contiguous dimension first).
 *
 * Errors: ops do not return a status. A failing op records a sticky error in the backend
 * and later ops become no-ops; end() returns it (with the message in err).
 */
#ifndef INFER_KERNELS_BACKEND_H
#define INFER_KERNELS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "infer.h"

typedef struct infer_backend infer_backend;
typedef struct infer_bbuf infer_bbuf;   /* backend-private buffer */

typedef struct infer_bview {
    infer_bbuf *buf;
    size_t offset;      /* bytes from the start of buf */
    uint32_t type;      /* infer_dtype of the elements */
} infer_bview;

static inline infer_bview infer_bview_at(infer_bview v, size_t byte_offset) {
    v.offset += byte_offset;
    return v;
}

typedef enum infer_rope_mode { INFER_ROPE_NORMAL = 0, INFER_ROPE_NEOX = 1 } infer_rope_mode;

/* RoPE parameters (YaRN as in the GGUF/llama.cpp definition when yarn_factor > 1). */
typedef struct infer_rope_params {
    infer_rope_mode mode;   /* NORMAL: rotate pairs (2i, 2i+1); NEOX: rotate (i, i + n_rot/2) */
    int32_t n_rot;          /* rotated dims per head (<= head_dim) */
    float freq_base;
    float freq_scale;       /* 1 / rope scaling factor for linear/YaRN */
    float yarn_factor;      /* rope.scaling.factor, 1 = no YaRN */
    int32_t yarn_orig_ctx;  /* rope.scaling.original_context_length */
    float yarn_beta_fast;   /* 32 by default */
    float yarn_beta_slow;   /* 1 by default */
    float attn_factor;      /* multiplies cos/sin (YaRN magnitude scaling is folded in by the op) */
    /* With yarn_factor > 1 the op multiplies cos/sin by attn_factor * (1 + 0.1 ln(1/freq_scale)):
     * pass rope.scaling.attn_factor (1 when absent), NOT llama.cpp's cparams value, which
     * has that factor divided out because ggml multiplies it back (net: the same). */
} infer_rope_params;

typedef struct infer_attn_params {
    int32_t n_tokens;       /* query rows in this batch */
    int32_t n_head;
    int32_t n_head_kv;      /* GQA: query head h reads kv head h / (n_head / n_head_kv) */
    int32_t head_dim;
    int32_t n_kv;           /* cache positions [0, n_kv) are candidates */
    float scale;            /* usually 1/sqrt(head_dim) */
    int32_t window;         /* > 0: a query at p sees keys j with p - j < window; 0: no limit */
} infer_attn_params;

typedef enum infer_glu_kind {
    INFER_GLU_SWIGLU = 0,      /* silu(gate) * up */
    INFER_GLU_SWIGLU_OAI = 1,  /* gpt-oss: g=min(gate,limit), u=clamp(up,-limit,limit), g*sigmoid(alpha*g)*(u+1) */
    INFER_GLU_GEGLU = 2,       /* Gemma: gelu(gate) * up, GELU in its tanh approximation */
    INFER_GLU_COUNT
} infer_glu_kind;

/* One weight of matmul_shared: y = W x (+ bias if bias.buf), W rows x cols of W.type. */
typedef struct infer_matmul_out {
    infer_bview W;
    int64_t rows;
    infer_bview bias;
    infer_bview y;
} infer_matmul_out;
#define INFER_MATMUL_SHARED_MAX 4   /* weights per matmul_shared call */

/* The ops that read model weights of many types: what a backend is asked it supports. */
typedef enum infer_op {
    INFER_OP_GET_ROWS = 0,   /* get_rows from a table of the type */
    INFER_OP_MATMUL = 1,     /* matmul with W of the type */
    INFER_OP_MOE = 2,        /* moe with expert weights of the type */
    INFER_OP_COUNT
} infer_op;

typedef struct infer_backend_ops {
    const char *name;                                   /* "cpu", "vulkan" */
    void (*destroy)(infer_backend *be);
    const char *(*device_name)(infer_backend *be);
    /* Whether the backend has a kernel for op on weights of `type` (infer_dtype). A
     * context asks this for every weight when it binds them, so a missing kernel is a
     * clear error at creation (and a reason for INFER_BACKEND_AUTO to use the CPU),
     * never a failure at the first decode. */
    bool (*supports)(infer_backend *be, infer_op op, uint32_t type);

    /* Memory. alloc: device memory for activations, KV cache, scratch (zeroed; the CPU
     * maps large buffers lazily, so untouched pages cost nothing).
     * weight: makes host bytes (a view of the mmap) usable as an op input; the CPU
     * backend wraps them without a copy, Vulkan uploads once. */
    infer_status (*alloc)(infer_backend *be, size_t bytes, infer_bbuf **out);
    infer_status (*weight)(infer_backend *be, const void *host, size_t bytes, infer_bbuf **out);
    void (*release)(infer_backend *be, infer_bbuf *buf);
    /* Host <-> buffer copies; ordered with the ops recorded around them. read() into host
     * memory is complete only after end(). */
    void (*write)(infer_backend *be, infer_bview dst, const void *src, size_t bytes);
    void (*read)(infer_backend *be, infer_bview src, void *dst, size_t bytes);

    /* Optional (NULL: not supported). Installs a callback the backend polls while it
     * works (the CPU backend: its worker threads, between work items); once it returns
     * nonzero, the rest of the pass is skipped and end() returns INFER_ERR_CANCELLED. */
    void (*set_abort)(infer_backend *be, infer_abort_fn fn, void *user);
    /* Optional (NULL: the backend uses host memory, no budget). Bytes a context may still
     * place on the device: its memory budget less what is allocated, less a safety margin
     * for the driver (none when the budget was set with INFER_VK_MEMORY_BUDGET). */
    uint64_t (*memory_free)(infer_backend *be);

    /* A forward pass: begin(), ops..., end() (Vulkan submits and waits here). */
    void (*begin)(infer_backend *be);
    infer_status (*end)(infer_backend *be, infer_error *err);

    /* out[t] = table[ids[t]] as F32 rows of row_len (table of any supported type). An id
     * outside the table (its buffer's extent from the view) is an error, not a read. */
    void (*get_rows)(infer_backend *be, infer_bview table, int64_t row_len,
                     infer_bview ids_i32, int64_t n, infer_bview out);
    /* out = x / rms(x) * w, per row of row_len; w may have .buf == NULL (no weight). */
    void (*rms_norm)(infer_backend *be, infer_bview x, infer_bview w, int64_t n_rows,
                     int64_t row_len, float eps, infer_bview out);
    /* y[t][r] = dot(W[r], x[t]) (+ bias[r] if bias.buf); W rows x cols of W.type. */
    void (*matmul)(infer_backend *be, infer_bview W, int64_t rows, int64_t cols,
                   infer_bview x, int64_t n, infer_bview bias, infer_bview y);
    /* Optional (NULL: matmul once per weight). count (1..INFER_MATMUL_SHARED_MAX) matmuls
     * over the same x (n x cols), each as matmul: the CPU backend converts x once for them
     * all and splits all their rows across its threads in one pass (Q/K/V, gate/up). */
    void (*matmul_shared)(infer_backend *be, const infer_matmul_out *outs, int count, int64_t cols,
                          infer_bview x, int64_t n);
    /* Optional (NULL: glu into gate, then matmul). y = W glu(gate, up), gate and up n x cols
     * (glu as the glu op): the CPU backend converts each token's glu row straight into the
     * matmul's activations. gate's contents are undefined afterwards. */
    void (*matmul_glu)(infer_backend *be, infer_bview W, int64_t rows, int64_t cols, infer_glu_kind kind,
                       infer_bview gate, infer_bview up, int64_t n, float alpha, float limit, infer_bview y);
    /* In place on x = n_tok rows of n_head heads of head_dim; positions as int32.
     * freq_factors: F32, n_rot/2 values, .buf NULL for none (Llama 3.1+ rope_freqs):
     * pair i's base angle pos * base^(-2i/n_rot) is divided by freq_factors[i] before
     * the linear/YaRN scaling (as ggml_rope_ext's third source), the same in both modes. */
    void (*rope)(infer_backend *be, infer_bview x, infer_bview pos_i32, int64_t n_tok,
                 int64_t n_head, int64_t head_dim, infer_bview freq_factors,
                 const infer_rope_params *p);
    /* Copies n_tok rows of `row_len` F32 values into the cache (F32 or F16 by
     * cache.type) at row positions pos[t]. */
    void (*kv_store)(infer_backend *be, infer_bview src, infer_bview pos_i32, int64_t n_tok,
                     int64_t row_len, infer_bview cache);
    /* Causal attention of q (n_tokens x n_head x head_dim, F32) over the cache
     * (k, v: positions x n_head_kv x head_dim, F32 or F16). Query t has position pos[t]
     * and sees cache rows j <= pos[t] (and inside the window; a row that sees nothing and
     * has no sink gets zeros). sinks: one logit per head
     * joining the softmax denominator (F32, .buf NULL if none). out like q. */
    void (*attention)(infer_backend *be, infer_bview q, infer_bview k, infer_bview v,
                      infer_bview pos_i32, infer_bview sinks, const infer_attn_params *p,
                      infer_bview out);
    /* out[i] = glu(gate[i], up[i]) over n values. */
    void (*glu)(infer_backend *be, infer_glu_kind kind, infer_bview gate, infer_bview up,
                int64_t n, float alpha, float limit, infer_bview out);
    /* out[i] = a[i] + b[i] over n values (residual). */
    void (*add)(infer_backend *be, infer_bview a, infer_bview b, int64_t n, infer_bview out);
    /* out[i] = s * x[i], then, when cap > 0, cap * tanh(out[i] / cap) (soft-capping) over
     * n values; out may equal x. Gemma's embedding scale and final logit soft-cap. */
    void (*scale)(infer_backend *be, infer_bview x, int64_t n, float s, float cap, infer_bview out);

    /* Mixture of experts, whole block for a batch: router logits (n_tok x n_expert, F32,
     * bias already added) -> top-k experts per token, weights = softmax over the chosen
     * logits; each expert runs gate/up (+bias), glu, down (+bias) on the rows routed to
     * it, once per batch; out[t] = sum_k w[t][k] * expert_k(x[t]).
     * Expert weights are 3-D: n_expert x rows x cols (expert-major). */
    void (*moe)(infer_backend *be, infer_bview x, infer_bview router_logits, int64_t n_tok,
                int64_t n_embd, int64_t n_ff, int32_t n_expert, int32_t k,
                infer_bview w_gate, infer_bview b_gate, infer_bview w_up, infer_bview b_up,
                infer_bview w_down, infer_bview b_down, infer_glu_kind glu, float alpha,
                float limit, infer_bview out);
} infer_backend_ops;

struct infer_backend {
    const infer_backend_ops *ops;
};

/* Constructors (each backend in its own folder). n_threads for the CPU backend (<= 0:
 * every online CPU); the thread pool belongs to the backend instance. */
infer_status infer_backend_cpu_new(int n_threads, infer_backend **out, infer_error *err);
/* device_index < 0: INFER_VK_DEVICE or the first suitable device. require_gpu: skip
 * CPU-type devices (lavapipe), used by INFER_BACKEND_AUTO so that AUTO never picks an
 * emulated device. Fails with INFER_ERR_NO_DEVICE (and a message) when no usable Vulkan
 * device exists, or when the library was built without Vulkan. */
infer_status infer_backend_vulkan_new(int device_index, int require_gpu, infer_backend **out, infer_error *err);

#endif
