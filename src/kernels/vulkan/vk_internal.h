/* Vulkan backend internals shared by its files:
 *   vk_error.c     VkResult names, the sticky error of a pass (vk_fail)
 *   vk_device.c    instance, device choice, feature probing, queue
 *   vk_memory.c    buffers, weight upload, host arenas, scratch
 *   vk_pipeline.c  compute pipelines built lazily from the embedded SPIR-V
 *   vk_record.c    the pass: command buffer, descriptor sets, barriers, submit
 *   vk_ops.c       one function per backend op (push constants + dispatch)
 *   vk_ops_kv.c    the ops on positions and the KV cache: rope, kv_store, attention
 *   vk_backend.c   the ops table and the constructor
 */
#ifndef INFER_VK_INTERNAL_H
#define INFER_VK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vulkan/vulkan.h>

#include "kernels/backend.h"
#include "kernels/vulkan/vk_error.h"

#define VK_MAX_BINDINGS 8
#define VK_PUSH_WORDS 32          /* 128 bytes: the minimum every device guarantees */
#define VK_MAX_CMDS 8             /* command buffers a pass is split into at most */

/* One device allocation with its buffer. mapped != NULL when host-visible.
 * A weight larger than one allocation may hold is split: then buffer is null and
 * parts[i] (plain buffers) holds bytes [i*part_stride, i*part_stride + parts[i]->size),
 * consecutive parts overlapping by part_overlap bytes so that any row or expert up to
 * that size lies whole inside the part where it starts. */
struct infer_bbuf {
    VkBuffer buffer;
    VkDeviceMemory memory;
    VkDeviceSize size;            /* logical size (all parts) */
    void *mapped;
    bool counted;                 /* device-local: counted against the memory budget */
    struct infer_bbuf **parts;
    int n_parts;
    VkDeviceSize part_stride, part_overlap;
};

/* The part of a split buffer where a view starts, with the offset made local. */
static inline infer_bview vk_part_view(infer_bview v) {
    size_t i = (size_t)(v.offset / v.buf->part_stride);
    if (i >= (size_t)v.buf->n_parts) i = (size_t)v.buf->n_parts - 1;
    v.offset -= i * v.buf->part_stride;
    v.buf = v.buf->parts[i];
    return v;
}

/* The prompt matmul kernel (vk_coopmat.c, INFER_VK_COOPMAT): the tiled matmul_mat.comp,
 * or matmul_coop.comp on the cooperative matrix units (NV) or emulated (EMU, tests). */
typedef enum { VK_COOPMAT_OFF, VK_COOPMAT_NV, VK_COOPMAT_EMU } vk_coopmat_kind;

/* What the device offers, probed once at creation. */
typedef struct vk_caps {
    char device_name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    VkPhysicalDeviceType type;
    uint32_t api_version;
    uint32_t subgroup_size;
    bool subgroup_arith;          /* subgroupAdd/Max in compute */
    bool subgroup_shuffle;        /* subgroupShuffleXor in compute */
    bool storage16;               /* storageBuffer16BitAccess (enabled at device creation) */
    bool portable;                /* INFER_VK_PORTABLE: plain 32-bit variants only */
    bool float16;                 /* shaderFloat16 */
    bool int_dot;                 /* shaderIntegerDotProduct, accelerated (or INFER_VK_INT_DOT=1) */
    VkDeviceSize max_storage_range;   /* maxStorageBufferRange */
    VkDeviceSize max_alloc;           /* maxMemoryAllocationSize */
    VkDeviceSize offset_align;        /* minStorageBufferOffsetAlignment */
    VkDeviceSize budget;              /* device-local heap size or budget */
    VkDeviceSize budget_margin;       /* kept free for the driver when placing a model */
    uint32_t max_groups_x;            /* maxComputeWorkGroupCount[0] */
    uint32_t max_groups_yz;
    uint32_t mem_device;              /* memory type for device-local buffers */
    uint32_t mem_host;                /* memory type for host-visible coherent buffers */
    VkDeviceSize weight_split;        /* weights above this are split (maxMemoryAllocationSize) */
    uint32_t attn_split_len;          /* INFER_VK_ATTN_SPLIT: keys per split-K part, forced (0: chosen) */
    uint32_t submit_first;            /* INFER_VK_SUBMIT_FIRST: dispatches before the first mid-pass submit (0: none) */
    bool matvec_rows;                 /* one-row decode by matvec_rows.comp (INFER_VK_MATVEC_ROWS=0: the older matmul_vec) */
    bool device_is_host_visible;      /* mem_device can be mapped (UMA, lavapipe) */
    vk_coopmat_kind coopmat;          /* prompt matmul kernel (INFER_VK_COOPMAT; off by default) */
} vk_caps;

typedef struct vk_pipeline {
    VkPipeline pipeline;
    VkPipelineLayout layout;
    uint32_t n_bindings;
    uint32_t writes;              /* bit i: binding i is not `readonly` (may be written) */
} vk_pipeline;

/* A byte range of a buffer that a dispatch since the last barrier read or wrote. */
typedef struct vk_touch {
    VkBuffer buffer;
    VkDeviceSize lo, hi;
    bool write;
} vk_touch;
#define VK_MAX_TOUCHES 64

/* A host-visible buffer filled front to back during a pass (uploads, readbacks). */
typedef struct vk_arena {
    infer_bbuf *buf;
    VkDeviceSize used;
} vk_arena;

typedef struct vk_readback {
    void *dst;
    infer_bbuf *src;      /* host-visible */
    VkDeviceSize offset;
    size_t bytes;
} vk_readback;

/* A storage-buffer binding: a window of a buffer plus where the view starts in it. */
typedef struct vk_binding {
    infer_bbuf *buf;
    VkDeviceSize offset;      /* aligned to minStorageBufferOffsetAlignment */
    VkDeviceSize range;
    uint32_t rem;             /* bytes from the window start to the view */
    VkDeviceSize lo, hi;      /* the bytes the op uses: [view offset, + bytes) in buf */
} vk_binding;

typedef struct vk_backend {
    infer_backend base;
    VkInstance instance;
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    vk_caps caps;

    VkCommandPool cmd_pool;
    /* A pass is recorded into cmds[0], cmds[1], ...: each is submitted once it holds
     * submit_at dispatches (doubling each time, first caps.submit_first), so the device
     * runs the start of a pass while the rest is recorded; end() submits the last with
     * the fence. cmd is the one being recorded. */
    VkCommandBuffer cmds[VK_MAX_CMDS];
    VkCommandBuffer cmd;
    int cur_cmd;
    uint32_t in_cmd, submit_at;
    VkFence fence;
    VkDescriptorSetLayout set_layouts[VK_MAX_BINDINGS + 1];   /* by binding count */
    VkDescriptorPool *pools;      /* reset at each begin(); more added when one fills */
    int n_pools, cur_pool;

    vk_pipeline *pipelines;       /* one slot per embedded shader variant, built lazily */

    /* Pass state. */
    bool recording;
    /* Hazard tracking: ranges touched since the last barrier; a dispatch that reads or
     * writes what one of them wrote, or writes what one read, gets a barrier first. */
    vk_touch touched[VK_MAX_TOUCHES];
    int n_touched;
    vk_arena upload, readback;
    infer_bbuf **retired;         /* buffers outgrown mid-pass, freed after the pass */
    int n_retired, cap_retired;
    vk_readback *reads;
    int n_reads, cap_reads;
    infer_bbuf *scratch;          /* device-local scratch for MoE intermediates */
    infer_bbuf *act_scratch;      /* activations rounded for quantized matmuls */
    /* What act_scratch holds, so consecutive matmuls on the same input (Q/K/V, gate/up)
     * round it once. Any op other than a matmul, and any host write, forgets it. */
    struct { infer_bbuf *buf; size_t offset; uint64_t n; uint32_t qb; bool valid; } act_cached;
    /* An op held back so that the next one can do both in one dispatch: a residual add
     * whose output the next rms_norm reads (add_rms_norm.comp), a rope whose output the
     * next kv_store writes to the cache (rope_store.comp). Any other op, host transfer
     * or end() records it first (vk_pending_flush); at most one is held. */
    struct { bool on; infer_bview a, b, out; int64_t n; } pending_add;
    struct {
        bool on;
        vk_pipeline *p;
        vk_binding b[4];
        uint32_t pc[11];          /* rope.comp's push constants */
        infer_bview x, pos;
        int64_t n_tok, row_len;
        uint64_t groups;
    } pending_rope;
    infer_bbuf *check_buf;        /* device-side argument checks (bad ids), zeroed per pass */
    bool check_used;              /* this pass wrote check_buf: read it back at end() */
    uint32_t check_result;
    VkDeviceSize allocated;       /* device-local bytes held, checked against caps.budget */

    /* INFER_VK_PROFILE=1: GPU time per shader variant, printed to stderr at destroy. */
    bool profile;
    float ts_period_ns;
    VkQueryPool queries;
    uint32_t n_queries;
    int32_t *query_shader;        /* pipeline index of each timestamp after the first */
    double *prof_ms;              /* per pipeline index */
    uint64_t *prof_calls;
    uint64_t prof_passes, prof_dispatches, prof_barriers, prof_submits;   /* per-pass counts, summed */

    /* Sticky error of the pass (ops return void). */
    infer_status status;
    infer_error err;
} vk_backend;

static inline vk_backend *vk_of(infer_backend *be) { return (vk_backend *)be; }

/* vk_device.c */
infer_status vk_device_open(vk_backend *vk, int device_index, int require_gpu, infer_error *err);
/* vk_gpu_nodes.c: false when no GPU device node exists under dev_root ("/dev"), so that an
 * automatic choice need not load the Vulkan drivers at all; vk_gpu_may_exist also honours
 * the loader's driver variables and is always true off Linux. */
bool vk_gpu_nodes_present(const char *dev_root);
bool vk_gpu_may_exist(void);
void vk_device_close(vk_backend *vk);
bool vk_device_has_ext(VkPhysicalDevice pd, const char *name);

/* vk_coopmat.c */
/* Feature structs enabled at device creation for the NV cooperative-matrix kernel. */
typedef struct vk_coopmat_features {
    VkPhysicalDeviceCooperativeMatrixFeaturesNV coop;
    VkPhysicalDeviceShaderFloat16Int8Features f16;
    VkPhysicalDeviceVulkanMemoryModelFeatures mm;
} vk_coopmat_features;
#define VK_COOPMAT_MAX_EXTS 3
/* Sets caps.coopmat from INFER_VK_COOPMAT and what the device has (after probe()). */
void vk_coopmat_probe(vk_backend *vk);
/* For caps.coopmat == NV: appends the extensions to exts (room for VK_COOPMAT_MAX_EXTS)
 * and returns the feature chain *f -> next; otherwise returns next unchanged. */
void *vk_coopmat_enable(vk_backend *vk, vk_coopmat_features *f, const char **exts, uint32_t *n_exts, void *next);

/* vk_memory.c */
infer_status vk_buffer_new(vk_backend *vk, VkDeviceSize size, bool host, infer_bbuf **out, infer_error *err);
void vk_buffer_free(vk_backend *vk, infer_bbuf *b);
/* Runs a one-off command buffer now (used outside a pass): fn records into cmd. */
infer_status vk_run_now(vk_backend *vk, void (*fn)(VkCommandBuffer cmd, void *u), void *u, infer_error *err);
/* One buffer-to-buffer copy, submitted and waited for (uploads and host reads). */
infer_status vk_copy_now(vk_backend *vk, VkBuffer src, VkDeviceSize src_off, VkBuffer dst,
                         VkDeviceSize dst_off, VkDeviceSize bytes, infer_error *err);
infer_status vk_weight_upload(vk_backend *vk, const void *host, size_t bytes, infer_bbuf **out, infer_error *err);
/* Copies bytes into the pass's upload arena; returns the arena buffer and offset. */
bool vk_arena_push(vk_backend *vk, vk_arena *a, const void *src, size_t bytes, infer_bbuf **buf, VkDeviceSize *off);
/* Scratch of at least `bytes` in *slot (vk->scratch, vk->act_scratch) for the current op
 * (contents not preserved across ops); a slot outgrown mid-pass is retired. */
infer_bbuf *vk_scratch(vk_backend *vk, infer_bbuf **slot, size_t bytes);
void vk_retire(vk_backend *vk, infer_bbuf *b);
void vk_free_retired(vk_backend *vk);

/* vk_pipeline.c */
/* The pipeline of a shader variant by name, created on first use; NULL (and a sticky
 * error) if no such variant or creation fails. */
vk_pipeline *vk_pipeline_get(vk_backend *vk, const char *name);
/* Whether a shader variant of that name is embedded (nothing is built). */
bool vk_pipeline_exists(const char *name);
infer_status vk_pipelines_init(vk_backend *vk, infer_error *err);
void vk_pipelines_free(vk_backend *vk);

/* vk_record.c */

/* Window over [view.offset, view.offset + bytes); fails (sticky) if it cannot be bound. */
bool vk_bind(vk_backend *vk, infer_bview v, size_t bytes, vk_binding *out, const char *what);
/* Records pipeline + bindings + push constants + dispatch of n_groups workgroups along
 * x (folded into y when above the device limit) and gz along z, preceded by a barrier
 * when it depends on (or overwrites the input of) a dispatch since the last barrier. */
void vk_dispatch(vk_backend *vk, vk_pipeline *p, const vk_binding *b, uint32_t nb,
                 const void *push, uint32_t push_bytes, uint64_t n_groups, uint32_t gz);
/* Grid with an explicit x/y/z (x already within limits). */
void vk_dispatch3(vk_backend *vk, vk_pipeline *p, const vk_binding *b, uint32_t nb,
                  const void *push, uint32_t push_bytes, uint32_t gx, uint32_t gy, uint32_t gz);
/* Full compute/transfer barrier; forgets the touched ranges. */
void vk_barrier(vk_backend *vk);
/* A barrier if any dispatch ran since the last one (before transfers, which are not tracked). */
void vk_flush(vk_backend *vk);
/* Profiling (vk_record.c): setup at creation, report at destroy. */
void vk_profile_init(vk_backend *vk);
void vk_profile_report(vk_backend *vk);
/* Queues a copy-out done at end() after the wait. */
bool vk_push_read(vk_backend *vk, vk_readback r);
/* check_buf for the current pass (zeroed on first use in a pass), or NULL (sticky). */
infer_bbuf *vk_check_buffer(vk_backend *vk);
/* Starts an implicit pass when an op arrives outside begin()/end(). */
bool vk_ensure_recording(vk_backend *vk);
void vk_pass_begin(vk_backend *vk);
infer_status vk_pass_end(vk_backend *vk, infer_error *err);

/* vk_ops.c: helpers of the op files (vk_ops.c, vk_ops_kv.c). */
static inline uint64_t vk_ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
static inline bool vk_same_view(infer_bview a, infer_bview b) { return a.buf == b.buf && a.offset == b.offset; }
/* The op may start: records any held-back op, forgets the rounded-activation cache
 * (ops other than matmul may write anything), opens a pass if none; false after an error. */
bool vk_op_ready(vk_backend *vk);
/* Shader index math is 32-bit: false (sticky error) when a count does not fit. */
bool vk_fits(vk_backend *vk, const char *op, uint64_t v);
bool vk_f32_view(vk_backend *vk, infer_bview v, const char *op, const char *what);
/* Bytes from v.offset to the end of its buffer (its part, when split), capped at one binding. */
size_t vk_bindable_rest(vk_backend *vk, infer_bview v);

/* vk_ops.c, vk_ops_kv.c: the op entries of the table. */
void vk_op_write(infer_backend *be, infer_bview dst, const void *src, size_t bytes);
void vk_op_read(infer_backend *be, infer_bview src, void *dst, size_t bytes);
void vk_op_get_rows(infer_backend *be, infer_bview table, int64_t row_len, infer_bview ids, int64_t n, infer_bview out);
void vk_op_rms_norm(infer_backend *be, infer_bview x, infer_bview w, int64_t n_rows, int64_t row_len, float eps, infer_bview out);
void vk_op_matmul(infer_backend *be, infer_bview W, int64_t rows, int64_t cols, infer_bview x, int64_t n, infer_bview bias, infer_bview y);
void vk_op_rope(infer_backend *be, infer_bview x, infer_bview pos, int64_t n_tok, int64_t n_head, int64_t head_dim,
                infer_bview freq_factors, const infer_rope_params *p);
void vk_op_kv_store(infer_backend *be, infer_bview src, infer_bview pos, int64_t n_tok, int64_t row_len, infer_bview cache);
void vk_op_attention(infer_backend *be, infer_bview q, infer_bview k, infer_bview v, infer_bview pos, infer_bview sinks, const infer_attn_params *p, infer_bview out);
void vk_op_glu(infer_backend *be, infer_glu_kind kind, infer_bview gate, infer_bview up, int64_t n, float alpha, float limit, infer_bview out);
void vk_op_add(infer_backend *be, infer_bview a, infer_bview b, int64_t n, infer_bview out);
/* Records the held-back op, if any (before any other op, transfer, or the end of a pass). */
void vk_pending_flush(vk_backend *vk);
bool vk_supports(infer_backend *be, infer_op op, uint32_t type);
void vk_op_scale(infer_backend *be, infer_bview x, int64_t n, float s, float cap, infer_bview out);
void vk_op_moe(infer_backend *be, infer_bview x, infer_bview logits, int64_t n_tok, int64_t n_embd, int64_t n_ff, int32_t n_expert, int32_t k,
               infer_bview w_gate, infer_bview b_gate, infer_bview w_up, infer_bview b_up, infer_bview w_down, infer_bview b_down,
               infer_glu_kind glu, float alpha, float limit, infer_bview out);

#endif
