/* Placement of the model's groups on the CPU and the GPU, and the automatic fit.
 *
 * The order follows llama.cpp's -ngl: the GPU takes the output head first, then the
 * repeating layers from the last one down, and the token embedding only with layer 0
 * (so a partial offload never uploads the embedding table just to look rows up). The
 * layers on the CPU are therefore a prefix 0 .. n_layer-ngl-1, and a step crosses from
 * the CPU to the GPU at most once (plus the expert FFNs kept on the CPU). */
#include "models/placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef enum { GROUP_LAYER, GROUP_EXPS, GROUP_TOP } weight_group;

/* blk.N.* -> layer N (experts when the name has "_exps"); anything else is top-level. */
static weight_group group_of(const infer_weight *w, uint32_t n_layer, uint32_t *layer) {
    const char *name = w->name;
    if (strncmp(name, "blk.", 4) == 0) {
        char *end = NULL;
        unsigned long il = strtoul(name + 4, &end, 10);
        if (end != name + 4 && *end == '.' && il < n_layer) {
            *layer = (uint32_t)il;
            return strstr(end, "_exps") ? GROUP_EXPS : GROUP_LAYER;
        }
    }
    return GROUP_TOP;
}

static infer_status alloc_arrays(const infer_model *m, infer_placement *pl, infer_error *err) {
    memset(pl, 0, sizeof *pl);
    pl->n_layer = m->hp.n_layer;
    pl->layer_dev = calloc(pl->n_layer ? pl->n_layer : 1, 1);
    pl->exps_dev = calloc(pl->n_layer ? pl->n_layer : 1, 1);
    if (!pl->layer_dev || !pl->exps_dev) {
        infer_placement_free(pl);
        return infer_err(err, INFER_ERR_NOMEM, "out of memory (placement)");
    }
    return INFER_OK;
}

infer_status infer_placement_all_cpu(const infer_model *m, infer_placement *pl, infer_error *err) {
    return alloc_arrays(m, pl, err);   /* zeroed: INFER_DEV_CPU everywhere */
}

void infer_placement_free(infer_placement *pl) {
    free(pl->layer_dev);
    free(pl->exps_dev);
    memset(pl, 0, sizeof *pl);
}

static uint64_t wbytes(const infer_model *m, infer_wid id) {
    return id == INFER_NO_WEIGHT ? 0 : m->weights[id].bytes;
}

/* The number of layers (from the last) that fit in req->gpu_free, and whether the output
 * head does; the head is placed first. */
static uint32_t fit_layers(const infer_model *m, const infer_placement_req *req, uint32_t n_cpu_moe,
                           const uint64_t *layer_bytes, const uint64_t *exps_bytes, uint64_t top_bytes,
                           int *output_fits) {
    const uint32_t L = m->hp.n_layer;
    *output_fits = 0;
    if (req->gpu_free <= req->scratch_bytes) return 0;
    uint64_t left = req->gpu_free - req->scratch_bytes;
    uint64_t head = wbytes(m, m->output) + wbytes(m, m->output_norm);
    if (head > left) return 0;
    left -= head;
    *output_fits = 1;
    uint32_t n = 0;
    for (uint32_t k = 0; k < L; k++) {
        uint32_t il = L - 1 - k;
        uint64_t cost = layer_bytes[il] + req->kv_bytes_per_layer;
        if (il >= n_cpu_moe) cost += exps_bytes[il];
        if (k == 0) cost += top_bytes;   /* RoPE factors and the like, read by every layer */
        if (il == 0 && m->tok_embd != m->output) cost += wbytes(m, m->tok_embd);
        if (cost > left) break;
        left -= cost;
        n++;
    }
    return n;
}

infer_status infer_placement_plan(const infer_model *m, const infer_placement_req *req, infer_placement *pl,
                                  infer_error *err) {
    const uint32_t L = m->hp.n_layer;
    if (req->n_gpu_layers < INFER_GPU_LAYERS_AUTO)
        return infer_err(err, INFER_ERR_INVALID_ARG, "n_gpu_layers %d: use N >= 0, -1 (all) or -2 (auto)",
                         (int)req->n_gpu_layers);
    if (req->n_cpu_moe < 0)
        return infer_err(err, INFER_ERR_INVALID_ARG, "n_cpu_moe %d is negative", (int)req->n_cpu_moe);
    infer_status st = alloc_arrays(m, pl, err);
    if (st != INFER_OK) return st;

    uint64_t *layer_bytes = calloc(L ? L : 1, sizeof *layer_bytes);
    uint64_t *exps_bytes = calloc(L ? L : 1, sizeof *exps_bytes);
    if (!layer_bytes || !exps_bytes) {
        free(layer_bytes);
        free(exps_bytes);
        infer_placement_free(pl);
        return infer_err(err, INFER_ERR_NOMEM, "out of memory (placement)");
    }
    uint64_t top_bytes = 0;
    for (int32_t i = 0; i < m->n_weights; i++) {
        uint32_t il = 0;
        weight_group g = group_of(&m->weights[i], L, &il);
        if (g == GROUP_LAYER) layer_bytes[il] += m->weights[i].bytes;
        else if (g == GROUP_EXPS) exps_bytes[il] += m->weights[i].bytes;
        else if (i != m->tok_embd && i != m->output && i != m->output_norm) top_bytes += m->weights[i].bytes;
    }

    uint32_t ngl, n_cpu_moe = (uint32_t)req->n_cpu_moe < L ? (uint32_t)req->n_cpu_moe : L;
    int output_gpu;
    if (req->n_gpu_layers == INFER_GPU_LAYERS_AUTO) {
        ngl = fit_layers(m, req, n_cpu_moe, layer_bytes, exps_bytes, top_bytes, &output_gpu);
        /* A MoE model that does not fit whole keeps the experts of its first layers on
         * the CPU, as few as needed, before it gives up whole layers (the attention and
         * the dense parts are small and read by every token; an expert only by some). */
        if (ngl < L && m->hp.n_expert > 0 && req->n_cpu_moe == 0) {
            for (n_cpu_moe = 1; n_cpu_moe <= L; n_cpu_moe++) {
                ngl = fit_layers(m, req, n_cpu_moe, layer_bytes, exps_bytes, top_bytes, &output_gpu);
                if (ngl == L) break;
            }
            if (n_cpu_moe > L) n_cpu_moe = L;
        }
    } else {
        ngl = req->n_gpu_layers == INFER_GPU_LAYERS_ALL || (uint32_t)req->n_gpu_layers > L ? L
                                                                                           : (uint32_t)req->n_gpu_layers;
        output_gpu = req->n_gpu_layers != 0;
    }
    pl->n_gpu_layers = ngl;
    pl->n_cpu_moe = n_cpu_moe;
    for (uint32_t il = L - ngl; il < L; il++) {
        pl->layer_dev[il] = INFER_DEV_GPU;
        pl->exps_dev[il] = il < pl->n_cpu_moe ? INFER_DEV_CPU : INFER_DEV_GPU;
    }
    pl->output_dev = output_gpu ? INFER_DEV_GPU : INFER_DEV_CPU;
    pl->embed_dev = L > 0 ? pl->layer_dev[0] : pl->output_dev;
    pl->gpu_kv_bytes = (uint64_t)ngl * req->kv_bytes_per_layer;
    for (int32_t i = 0; i < m->n_weights; i++) {
        if (infer_placement_weight_dev(pl, m, i) != INFER_DEV_GPU) continue;
        const uint64_t b = m->weights[i].bytes;
        uint32_t il = 0;
        pl->gpu_weight_bytes += b;
        if (i == m->tok_embd && i != m->output) continue;
        if (group_of(&m->weights[i], L, &il) == GROUP_EXPS && m->hp.n_expert > 0)
            pl->gpu_token_bytes += b * m->hp.n_expert_used / m->hp.n_expert;
        else pl->gpu_token_bytes += b;
    }
    free(layer_bytes);
    free(exps_bytes);
    return INFER_OK;
}

int infer_placement_weight_dev(const infer_placement *pl, const infer_model *m, int32_t wid) {
    uint32_t il = 0;
    switch (group_of(&m->weights[wid], pl->n_layer, &il)) {
    case GROUP_LAYER: return pl->layer_dev[il];
    case GROUP_EXPS: return pl->exps_dev[il];
    case GROUP_TOP: break;
    }
    int gpu = 0;
    if (wid == m->tok_embd) gpu |= pl->embed_dev == INFER_DEV_GPU;
    if (wid == m->output || wid == m->output_norm) gpu |= pl->output_dev == INFER_DEV_GPU;
    if (wid != m->tok_embd && wid != m->output && wid != m->output_norm) gpu = pl->n_gpu_layers > 0;
    return gpu ? INFER_DEV_GPU : INFER_DEV_CPU;
}

int infer_placement_uses_gpu(const infer_placement *pl) {
    return pl->n_gpu_layers > 0 || pl->output_dev == INFER_DEV_GPU || pl->embed_dev == INFER_DEV_GPU;
}

static const char *dev_name(int dev, const char *gpu_name) { return dev == INFER_DEV_GPU ? gpu_name : "cpu"; }

void infer_placement_describe(const infer_placement *pl, const infer_model *m, const char *gpu_name, char *out,
                              size_t cap) {
    const uint32_t L = pl->n_layer, ngl = pl->n_gpu_layers;
    const char *head = dev_name(pl->output_dev, gpu_name);
    size_t n = 0;
    if (cap) out[0] = 0;
#define PUT(...) \
    do { \
        if (n < cap) { \
            int k_ = snprintf(out + n, cap - n, __VA_ARGS__); \
            if (k_ > 0) n += (size_t)k_; \
        } \
    } while (0)
    if (ngl == 0 || ngl == L) {
        const char *layers = dev_name(ngl ? INFER_DEV_GPU : INFER_DEV_CPU, gpu_name);
        if (strcmp(layers, head) == 0) PUT("all %u layers + output %s", L, head);
        else PUT("layers 0-%u %s, output %s", L ? L - 1 : 0, layers, head);
    } else {
        PUT("layers 0-%u cpu, %u-%u + output %s", L - ngl - 1, L - ngl, L - 1, head);
    }
    uint32_t first = L - ngl, last_cpu_exps = 0, any = 0;
    for (uint32_t il = first; il < L; il++)
        if (m->hp.n_expert > 0 && pl->exps_dev[il] == INFER_DEV_CPU) {
            last_cpu_exps = il;
            any = 1;
        }
    if (any) {
        if (last_cpu_exps == first) PUT(", experts of layer %u cpu", first);
        else PUT(", experts of layers %u-%u cpu", first, last_cpu_exps);
    }
    if (infer_placement_uses_gpu(pl))
        PUT("; on %s: %.1f MiB of weights, KV %.1f MiB", gpu_name, pl->gpu_weight_bytes / 1048576.0,
            pl->gpu_kv_bytes / 1048576.0);
#undef PUT
}
