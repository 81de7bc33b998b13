/* The backend ops on Vulkan that touch positions and the KV cache: rope (with its angle
 * table), kv_store (fused with a held-back rope of the same rows: rope_store.comp) and
 * attention (one pass, or split-K for long caches with few query rows). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/vulkan/vk_error.h"
#include "kernels/vulkan/vk_internal.h"
#include "tensor/dtype.h"

/* Push-constant blocks, word for word as the shaders declare them. */
typedef struct { uint32_t x_off, pos_off, freq_off, n_tok, n_head, head_dim, n_rot, neox; float mscale; uint32_t ff_off, has_ff; } pc_rope;
typedef struct { uint32_t src_off, pos_off, c_off, n_tok, row_len, c_len; } pc_kv_store;
typedef struct { pc_rope rope; uint32_t c_off, c_len; } pc_rope_store;
typedef struct {
    uint32_t q_off, k_off, v_off, pos_off, sink_off, has_sink, o_off, n_tokens, n_head, n_head_kv, head_dim, n_kv;
    float scale;
    int32_t window;
    uint32_t n_split, split_len;
} pc_attention;
typedef struct { uint32_t p_off, sink_off, has_sink, o_off, n_rows, n_head, head_dim, n_split; } pc_attention_merge;

_Static_assert(sizeof(pc_rope) == sizeof(((vk_backend *)0)->pending_rope.pc), "a held-back rope keeps its push constants");
_Static_assert(sizeof(pc_attention) <= VK_PUSH_WORDS * 4, "push constants fit the guaranteed 128 bytes");

/* Angle per position of each rotated pair, with YaRN's blend of interpolated and
 * extrapolated frequencies (ggml's rope_yarn): pairs rotating slower than the original
 * context (below corr_dims[0]) are interpolated by freq_scale, faster ones kept. */
static void rope_table(const infer_rope_params *p, float *freq, float *mscale) {
    int n_dims = p->n_rot;
    float theta_scale = powf(p->freq_base, -2.0f / (float)n_dims);
    bool yarn = p->yarn_factor > 1.0f;
    float low = 0, high = 0;
    if (yarn) {
        float denom = 2.0f * logf(p->freq_base);
        float lo = (float)n_dims * logf((float)p->yarn_orig_ctx / (p->yarn_beta_fast * 2.0f * (float)M_PI)) / denom;
        float hi = (float)n_dims * logf((float)p->yarn_orig_ctx / (p->yarn_beta_slow * 2.0f * (float)M_PI)) / denom;
        low = fmaxf(0.0f, floorf(lo));
        high = fminf((float)(n_dims - 1), ceilf(hi));
    }
    float theta = 1.0f;
    for (int i = 0; i < n_dims / 2; i++) {
        float f = theta * p->freq_scale;
        if (yarn) {
            float y = ((float)i - low) / fmaxf(0.001f, high - low);
            float ramp = 1.0f - fminf(1.0f, fmaxf(0.0f, y));
            f = f * (1.0f - ramp) + theta * ramp;
        }
        freq[i] = f;
        theta *= theta_scale;
    }
    *mscale = p->attn_factor;
    if (yarn) *mscale *= 1.0f + 0.1f * logf(1.0f / p->freq_scale);
}

void vk_op_rope(infer_backend *be, infer_bview x, infer_bview pos, int64_t n_tok, int64_t n_head, int64_t head_dim,
                infer_bview freq_factors, const infer_rope_params *rp) {
    vk_backend *vk = vk_of(be);
    if (!vk_op_ready(vk) || n_tok <= 0 || n_head <= 0) return;
    if (!vk_f32_view(vk, x, "rope", "x") || !vk_fits(vk, "rope", (uint64_t)(n_tok * n_head * head_dim))) return;
    if (rp->n_rot <= 0 || rp->n_rot > head_dim || rp->n_rot % 2) {
        vk_fail(vk, INFER_ERR_INVALID_ARG, "vulkan: rope: n_rot %d invalid for head_dim %lld", rp->n_rot, (long long)head_dim);
        return;
    }
    float *freq = malloc((size_t)rp->n_rot / 2 * sizeof *freq);
    if (!freq) { vk_fail(vk, INFER_ERR_NOMEM, "vulkan: rope: out of memory"); return; }
    float mscale;
    rope_table(rp, freq, &mscale);
    infer_bbuf *tb;
    VkDeviceSize toff;
    bool ok = vk_arena_push(vk, &vk->upload, freq, (size_t)rp->n_rot / 2 * sizeof *freq, &tb, &toff);
    free(freq);
    vk_pipeline *p = vk_pipeline_get(vk, "rope");
    vk_binding b[4];
    infer_bview table = {tb, toff, INFER_TYPE_F32};
    if (!ok || !p || !vk_bind(vk, x, (size_t)(n_tok * n_head * head_dim) * 4, &b[0], "rope x") ||
        !vk_bind(vk, pos, (size_t)n_tok * 4, &b[1], "rope positions") ||
        !vk_bind(vk, table, (size_t)rp->n_rot / 2 * 4, &b[2], "rope table") ||
        (freq_factors.buf && !vk_f32_view(vk, freq_factors, "rope", "freq_factors")) ||
        !vk_bind(vk, freq_factors.buf ? freq_factors : table, (size_t)rp->n_rot / 2 * 4, &b[3], "rope freq_factors"))
        return;
    pc_rope pc = {b[0].rem / 4, b[1].rem / 4, b[2].rem / 4, (uint32_t)n_tok, (uint32_t)n_head, (uint32_t)head_dim,
                  (uint32_t)rp->n_rot, rp->mode == INFER_ROPE_NEOX, mscale, b[3].rem / 4, freq_factors.buf != NULL};
    /* Held back: the kv_store of this x at these positions does both (rope_store.comp). */
    vk->pending_rope.p = p;
    memcpy(vk->pending_rope.b, b, sizeof b);
    memcpy(vk->pending_rope.pc, &pc, sizeof pc);
    vk->pending_rope.x = x;
    vk->pending_rope.pos = pos;
    vk->pending_rope.n_tok = n_tok;
    vk->pending_rope.row_len = n_head * head_dim;
    vk->pending_rope.groups = vk_ceil_div((uint64_t)(n_tok * n_head) * (uint64_t)(rp->n_rot / 2), 64);
    vk->pending_rope.on = true;
}

/* The held-back rope of src and this store in one dispatch: rope in place, and the
 * rotated (and unrotated) values to cache rows pos[t]. */
static void rope_store_rec(vk_backend *vk, infer_bview cache, bool f16) {
    vk_pipeline *p = vk_pipeline_get(vk, !f16 ? "rope_store_f32" : vk->caps.storage16 ? "rope_store_f16s" : "rope_store_f16");
    vk_binding b[5];
    memcpy(b, vk->pending_rope.b, sizeof vk->pending_rope.b);
    if (!p || !vk_bind(vk, cache, vk_bindable_rest(vk, cache), &b[4], "kv_store cache")) return;
    pc_rope_store pc;
    memcpy(&pc.rope, vk->pending_rope.pc, sizeof pc.rope);
    uint64_t c_len = b[4].range / (f16 ? 2 : 4);
    pc.c_off = b[4].rem / (f16 ? 2 : 4);
    pc.c_len = (uint32_t)(c_len > UINT32_MAX ? UINT32_MAX : c_len);
    uint64_t per_head = pc.rope.head_dim - pc.rope.n_rot / 2;
    vk_dispatch(vk, p, b, 5, &pc, sizeof pc, vk_ceil_div((uint64_t)pc.rope.n_tok * pc.rope.n_head * per_head, 64), 1);
}

void vk_op_kv_store(infer_backend *be, infer_bview src, infer_bview pos, int64_t n_tok, int64_t row_len, infer_bview cache) {
    vk_backend *vk = vk_of(be);
    bool fuse = vk->pending_rope.on && n_tok > 0 && row_len > 0 && vk_same_view(vk->pending_rope.x, src) &&
                vk_same_view(vk->pending_rope.pos, pos) && vk->pending_rope.n_tok == n_tok && vk->pending_rope.row_len == row_len;
    if (fuse) vk->pending_rope.on = false;
    if (!vk_op_ready(vk) || n_tok <= 0 || row_len <= 0) return;
    if (cache.type != INFER_TYPE_F32 && cache.type != INFER_TYPE_F16) {
        vk_fail(vk, INFER_ERR_TYPE, "vulkan: kv_store: cache type %u is neither F32 nor F16", cache.type);
        return;
    }
    bool f16 = cache.type == INFER_TYPE_F16;
    if (!vk_f32_view(vk, src, "kv_store", "src") || !vk_fits(vk, "kv_store", (uint64_t)(n_tok * row_len))) return;
    if (fuse) {
        rope_store_rec(vk, cache, f16);
        return;
    }
    vk_pipeline *p = vk_pipeline_get(vk, !f16 ? "kv_store_f32" : vk->caps.storage16 ? "kv_store_f16s" : "kv_store_f16");
    vk_binding b[3];
    /* Positions are on the device, so the cache is bound from the view to the end. */
    if (!p || !vk_bind(vk, src, (size_t)(n_tok * row_len) * 4, &b[0], "kv_store src") ||
        !vk_bind(vk, pos, (size_t)n_tok * 4, &b[1], "kv_store positions") ||
        !vk_bind(vk, cache, vk_bindable_rest(vk, cache), &b[2], "kv_store cache"))
        return;
    uint64_t c_len = b[2].range / (f16 ? 2 : 4);
    pc_kv_store pc = {b[0].rem / 4, b[1].rem / 4, b[2].rem / (f16 ? 2 : 4), (uint32_t)n_tok, (uint32_t)row_len,
                      (uint32_t)(c_len > UINT32_MAX ? UINT32_MAX : c_len)};
    vk_dispatch(vk, p, b, 3, &pc, sizeof pc, vk_ceil_div((uint64_t)(n_tok * row_len), 64), 1);
}

#define ATTN_SPLIT_MIN_KEYS 128    /* keys per part at least: two of the kernel's 64-key chunks */
#define ATTN_SPLIT_ROWS 128        /* below this many (query, head) workgroups the device idles */
#define ATTN_SPLIT_TARGET 512      /* workgroups aimed at when splitting */

/* Keys per part of split-K attention, or 0 for the one-pass kernel: split when the
 * (query, head) rows alone would leave most of the device idle and each part still gets
 * at least ATTN_SPLIT_MIN_KEYS keys (decode at long contexts). */
static uint32_t attention_split_len(const vk_backend *vk, const infer_attn_params *ap) {
    uint64_t rows = (uint64_t)ap->n_tokens * (uint64_t)ap->n_head, n_kv = (uint64_t)ap->n_kv;
    if (vk->caps.attn_split_len) return n_kv > vk->caps.attn_split_len ? vk->caps.attn_split_len : 0;
    if (rows >= ATTN_SPLIT_ROWS || n_kv < 2 * ATTN_SPLIT_MIN_KEYS) return 0;
    uint64_t parts = ATTN_SPLIT_TARGET / rows;
    if (parts > n_kv / ATTN_SPLIT_MIN_KEYS) parts = n_kv / ATTN_SPLIT_MIN_KEYS;
    if (parts < 2) return 0;
    uint64_t len = (vk_ceil_div(n_kv, parts) + 63) & ~(uint64_t)63;   /* whole 64-key chunks */
    return len < n_kv ? (uint32_t)len : 0;
}

/* Attention in one pass (split_len 0: one workgroup per (query, head) row) or split-K:
 * each row's keys in parts of split_len, one workgroup per part writing its partial
 * softmax state to scratch, then one merge dispatch into out. */
static void attention_rec(vk_backend *vk, infer_bview q, infer_bview k, infer_bview v, infer_bview pos, infer_bview sinks,
                          const infer_attn_params *ap, uint32_t split_len, infer_bview out) {
    bool f16 = k.type == INFER_TYPE_F16;
    size_t es = f16 ? 2 : 4;
    uint64_t rows = (uint64_t)ap->n_tokens * (uint64_t)ap->n_head;
    uint32_t n_split = split_len ? (uint32_t)vk_ceil_div((uint64_t)ap->n_kv, split_len) : 1;
    size_t part_bytes = (size_t)rows * n_split * ((size_t)ap->head_dim + 2) * 4;
    if (split_len && (n_split > vk->caps.max_groups_yz || !vk_fits(vk, "attention", part_bytes / 4))) return;
    size_t qbytes = (size_t)rows * (size_t)ap->head_dim * 4;
    size_t kvbytes = (size_t)ap->n_kv * (size_t)ap->n_head_kv * (size_t)ap->head_dim * es;
    char name[32];
    snprintf(name, sizeof name, "attention%s_%s", split_len ? "_split" : "", !f16 ? "f32" : vk->caps.storage16 ? "f16s" : "f16");
    vk_pipeline *p = vk_pipeline_get(vk, name), *pm = split_len ? vk_pipeline_get(vk, "attention_merge") : NULL;
    infer_bbuf *s = split_len ? vk_scratch(vk, &vk->scratch, part_bytes) : NULL;
    infer_bview dst = split_len ? (infer_bview){s, 0, INFER_TYPE_F32} : out;
    vk_binding b[6];
    if (!p || (split_len && (!pm || !s)) || !vk_bind(vk, q, qbytes, &b[0], "attention q") ||
        !vk_bind(vk, k, kvbytes, &b[1], "attention k") || !vk_bind(vk, v, kvbytes, &b[2], "attention v") ||
        !vk_bind(vk, pos, (size_t)ap->n_tokens * 4, &b[3], "attention positions") ||
        !vk_bind(vk, sinks.buf ? sinks : q, sinks.buf ? (size_t)ap->n_head * 4 : 4, &b[4], "attention sinks") ||
        !vk_bind(vk, dst, split_len ? part_bytes : qbytes, &b[5], split_len ? "attention parts" : "attention out"))
        return;
    pc_attention pc = {b[0].rem / 4, (uint32_t)(b[1].rem / es), (uint32_t)(b[2].rem / es), b[3].rem / 4, b[4].rem / 4,
                       sinks.buf != NULL, b[5].rem / 4, (uint32_t)ap->n_tokens, (uint32_t)ap->n_head, (uint32_t)ap->n_head_kv,
                       (uint32_t)ap->head_dim, (uint32_t)ap->n_kv, ap->scale, ap->window, n_split, split_len};
    vk_dispatch(vk, p, b, 6, &pc, sizeof pc, rows, n_split);
    if (!split_len) return;
    vk_binding m[3] = {b[5], b[4]};
    if (!vk_bind(vk, out, qbytes, &m[2], "attention out")) return;
    pc_attention_merge pcm = {m[0].rem / 4, m[1].rem / 4, sinks.buf != NULL, m[2].rem / 4, (uint32_t)rows, (uint32_t)ap->n_head,
                              (uint32_t)ap->head_dim, n_split};
    vk_dispatch(vk, pm, m, 3, &pcm, sizeof pcm, rows, 1);
}

void vk_op_attention(infer_backend *be, infer_bview q, infer_bview k, infer_bview v, infer_bview pos, infer_bview sinks,
                     const infer_attn_params *ap, infer_bview out) {
    vk_backend *vk = vk_of(be);
    if (!vk_op_ready(vk) || ap->n_tokens <= 0) return;
    if (k.type != v.type || (k.type != INFER_TYPE_F32 && k.type != INFER_TYPE_F16)) {
        vk_fail(vk, INFER_ERR_TYPE, "vulkan: attention: K/V cache types %u/%u unsupported", k.type, v.type);
        return;
    }
    if (ap->n_head <= 0 || ap->n_head_kv <= 0 || ap->n_head % ap->n_head_kv || ap->head_dim <= 0 || ap->head_dim > 512 ||
        ap->n_kv <= 0) {
        vk_fail(vk, INFER_ERR_INVALID_ARG, "vulkan: attention: heads %d/%d, head_dim %d (max 512), n_kv %d unsupported", ap->n_head,
                ap->n_head_kv, ap->head_dim, ap->n_kv);
        return;
    }
    if (!vk_f32_view(vk, q, "attention", "q") || !vk_f32_view(vk, out, "attention", "out")) return;
    attention_rec(vk, q, k, v, pos, sinks, ap, attention_split_len(vk, ap), out);
}
