/* Where each part of the model runs when a context has a GPU backend: per layer (its
 * attention, dense FFN, norms and KV cache), per layer's expert tensors, the token
 * embedding and the output head. The forward pass picks the backend of each group from
 * here; the context binds a weight on the GPU only when its group runs there (the CPU
 * backend wraps every weight in place, at no cost). */
#ifndef INFER_MODELS_PLACEMENT_H
#define INFER_MODELS_PLACEMENT_H

#include <stdint.h>
#include "infer.h"
#include "models/model.h"

enum { INFER_DEV_CPU = 0, INFER_DEV_GPU = 1, INFER_DEV_COUNT = 2 };

typedef struct infer_placement {
    uint32_t n_layer;
    uint8_t *layer_dev;        /* per layer: INFER_DEV_* of attention, dense FFN, norms, KV */
    uint8_t *exps_dev;         /* per layer: INFER_DEV_* of the *_exps tensors (the moe op) */
    uint8_t embed_dev;         /* token embedding (goes with layer 0) */
    uint8_t output_dev;        /* final norm and output projection */
    uint32_t n_gpu_layers;     /* resolved */
    uint32_t n_cpu_moe;        /* resolved: layers whose experts stay on the CPU */
    uint64_t gpu_weight_bytes; /* weights bound on the GPU */
    uint64_t gpu_kv_bytes;     /* KV cache on the GPU */
    uint64_t gpu_token_bytes;  /* weight bytes one decoded token reads from GPU memory: the
                                * embedding table is skipped (one row) unless it is the
                                * output too, experts count expert_used/expert_count */
} infer_placement;

/* What the fit needs to know besides the model: bytes per layer of KV cache on the GPU,
 * the GPU scratch (activations, logits, the backend's own), and the free budget. */
typedef struct infer_placement_req {
    int32_t n_gpu_layers;      /* N >= 0, INFER_GPU_LAYERS_ALL or INFER_GPU_LAYERS_AUTO */
    int32_t n_cpu_moe;         /* >= 0 */
    uint64_t kv_bytes_per_layer;
    uint64_t scratch_bytes;
    uint64_t gpu_free;         /* the backend's memory_free() */
} infer_placement_req;

/* Fills pl (allocating its arrays; free with infer_placement_free). */
infer_status infer_placement_plan(const infer_model *m, const infer_placement_req *req, infer_placement *pl,
                                  infer_error *err);
/* Everything on the CPU (the CPU backend, or the AUTO fallback). */
infer_status infer_placement_all_cpu(const infer_model *m, infer_placement *pl, infer_error *err);
void infer_placement_free(infer_placement *pl);

/* The device a weight is bound on (INFER_DEV_GPU when any group that reads it runs on
 * the GPU). Weights are grouped by name: blk.N.*_exps* are layer N's experts, other
 * blk.N.* layer N's; token_embd, output_norm and output by id; anything else (RoPE
 * factors) goes with every layer. */
int infer_placement_weight_dev(const infer_placement *pl, const infer_model *m, int32_t wid);
/* Whether anything runs on the GPU. */
int infer_placement_uses_gpu(const infer_placement *pl);
/* The one-line report of infer_ctx_placement(); gpu_name names the GPU backend. */
void infer_placement_describe(const infer_placement *pl, const infer_model *m, const char *gpu_name, char *out,
                              size_t cap);

#endif
