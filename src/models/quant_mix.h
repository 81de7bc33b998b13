/* Which type each tensor of a model gets when it is quantized to a "file type" (Q4_K_M,
 * Q8_0, ...): the per-tensor rules of llama.cpp's quantizer (llama-quant.cpp), so that a
 * file we make has the same layout as the one llama-quantize makes. Pure decisions on
 * names and shapes: no tensor data is read here. */
#ifndef INFER_MODELS_QUANT_MIX_H
#define INFER_MODELS_QUANT_MIX_H

#include <stdbool.h>
#include <stdint.h>

/* llama.cpp's llama_ftype ids (stored as general.file_type). */
enum quant_ftype {
    QF_ALL_F32 = 0, QF_F16 = 1, QF_Q4_0 = 2, QF_Q4_1 = 3, QF_Q8_0 = 7, QF_Q5_0 = 8, QF_Q5_1 = 9,
    QF_Q2_K = 10, QF_Q3_K_S = 11, QF_Q3_K_M = 12, QF_Q3_K_L = 13, QF_Q4_K_S = 14, QF_Q4_K_M = 15,
    QF_Q5_K_S = 16, QF_Q5_K_M = 17, QF_Q6_K = 18, QF_IQ4_NL = 25, QF_IQ4_XS = 30, QF_BF16 = 32,
    QF_MXFP4_MOE = 38,
};

typedef struct quant_ftype_info {
    const char *name;       /* as llama-quantize spells it: "Q4_K_M" */
    enum quant_ftype ftype;
    uint32_t base_type;     /* GGUF tensor type most tensors get */
} quant_ftype_info;

/* NULL if the name is not a file type we make (case-insensitive). */
const quant_ftype_info *quant_ftype_find(const char *name);
/* The table, for listing: *n set to its length. */
const quant_ftype_info *quant_ftype_all(int *n);

/* What the rules read from the model's metadata and tensor list. */
typedef struct quant_mix_model {
    int n_layer;             /* <arch>.block_count */
    int n_head, n_head_kv;   /* of layer 0 (n_gqa = n_head / n_head_kv) */
    int n_expert;            /* <arch>.expert_count, 0 if absent */
    int n_attn_v;            /* tensors named like attn_v / attn_qkv / attn_kv_b */
    bool tied_embeddings;    /* no output.weight: token_embd doubles as the output */
} quant_mix_model;

/* Per-run counters: the rules depend on how many attn_v / ffn_down tensors came before,
 * so tensors must be visited in quant_mix_order. */
typedef struct quant_mix_state {
    int i_attn_v, i_ffn_down, i_ffn_gate, i_ffn_up;
    int n_fallback;          /* tensors whose row length forced a fallback type */
} quant_mix_state;

/* Fills the counts of m (n_attn_v, tied_embeddings) from the tensor names. */
void quant_mix_count(quant_mix_model *m, const char *const *names, int64_t n);
/* Fills all of m from a GGUF file's metadata (<arch>.block_count, head counts, expert
 * count) and its n tensor names. */
struct infer_gguf;
void quant_mix_model_from_gguf(quant_mix_model *m, const struct infer_gguf *g, const char *const *names, int64_t n);

/* llama.cpp's processing order: tensors outside blk.N first, then by layer number, each
 * group by name (strcmp). A qsort comparator over `const char *` names. */
int quant_mix_order(const char *a, const char *b);

/* Whether a tensor is quantized at all (2-D or more, a ".weight" that is not a norm,
 * router, positional embedding...). Others are copied unchanged. */
bool quant_mix_allows(const char *name, uint32_t n_dims);

/* The type for one allowed tensor: `forced` (a user override, or UINT32_MAX for none)
 * or the mix rules (unless pure), then the fallback when ne0 is not a multiple of the
 * chosen type's block. For F16/BF16/F32 file types every allowed tensor gets that type. */
uint32_t quant_mix_choose(const quant_mix_model *m, quant_mix_state *st, const quant_ftype_info *ft,
                          const char *name, const uint64_t ne[4], bool pure, uint32_t forced);

#endif
