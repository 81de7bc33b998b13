/* Architecture descriptors. Each supported `general.architecture` is one constant
 * table: the data that sets its hyperparameters apart, how its layer weights are bound,
 * its per-layer forward step built from the shared blocks in blocks.h, and optional
 * hooks where it departs from the common path (own metadata keys, how tokens become
 * the residual stream, how the final rows become logits). Shared code never names an
 * architecture: what differs is here. */
#ifndef INFER_MODELS_ARCH_H
#define INFER_MODELS_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "infer.h"
#include "kernels/backend.h"

struct infer_model;
struct infer_fwd;
struct infer_hparams;

typedef struct infer_arch {
    const char *name;              /* general.architecture, also the metadata key prefix */
    infer_rope_mode rope_mode;
    bool moe;                      /* feed-forward is a mixture of experts (no dense n_ff needed) */
    uint32_t swa_pattern;          /* see infer_hparams.swa_pattern; 0 = no sliding window */
    infer_glu_kind ffn_glu;        /* dense feed-forward activation (default SwiGLU) */
    infer_glu_kind moe_glu;        /* expert activation (MoE archs) */
    float glu_alpha, glu_limit;    /* SwiGLU-OAI constants, unused by plain SwiGLU */
    /* Built-in chat family ("chatml", "harmony", "gemma", ...) its chat models speak
     * when the file's template is missing or not recognized; NULL: no claim. */
    const char *chat_family;

    /* Optional: reads the architecture's own metadata after the shared keys are in hp. */
    infer_status (*load_hparams)(struct infer_hparams *hp, const infer_gguf *g, const struct infer_arch *a,
                                 infer_error *err);
    /* Binds the weights of layer il into m->layers[il]. */
    infer_status (*bind_layer)(struct infer_model *m, uint32_t il, infer_error *err);
    /* Optional: fills the residual stream f->x from the token ids (default
     * infer_block_embed: rows of token_embd). */
    void (*embed)(struct infer_fwd *f, infer_bview ids);
    /* Records layer il of a forward pass: the residual stream f->x in, updated in place. */
    void (*forward_layer)(struct infer_fwd *f, uint32_t il);
    /* Optional: logits (n_rows x n_vocab) of the final-normed rows (default
     * infer_block_output: the output projection). */
    void (*output)(struct infer_fwd *f, infer_bview rows, int64_t n_rows, infer_bview logits);
} infer_arch;

extern const infer_arch infer_arch_llama;
extern const infer_arch infer_arch_qwen2;
extern const infer_arch infer_arch_qwen3;
extern const infer_arch infer_arch_gptoss;
extern const infer_arch infer_arch_gemma3;

/* The descriptor for an architecture name (len bytes, not NUL-terminated), or NULL. */
const infer_arch *infer_arch_find(const char *name, size_t len);

#endif
