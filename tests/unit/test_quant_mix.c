/* Per-tensor type choice of the quantization mixes (models/quant_mix.c) against files made
 * by llama.cpp's quantizer:
 *   - Qwen2.5-1.5B and Qwen2.5-0.5B shapes (tensor-shape tables; the expected Q4_K_M /
 *     Q5_K_M types are those of the published llama.cpp files: Q6_K attn_v/ffn_down on
 *     llama.cpp's "more bits" layers, the tied embedding as output, and 0.5B's 896-wide
 *     rows falling back from Q4_K/Q6_K to Q5_0/Q8_0);
 *   - the real gemma-3-270m Q4_K_M file when the model cache has it (fetched by
 *     scripts/fetch-models.sh): every tensor's type recomputed from its name and shape;
 *   - ordering, which tensors are quantized at all, the F16 last resort.
 * test_quantize covers the synthetic models' files tensor by tensor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "infer.h"
#include "models/quant_mix.h"
#include "tensor/dtype.h"

typedef struct shape_table {
    int n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab, head_dim;
} shape_table;

static const shape_table QWEN25_1_5B = {28, 1536, 8960, 12, 2, 151936, 128};
static const shape_table QWEN25_0_5B = {24, 896, 4864, 14, 2, 151936, 64};

/* Layers llama.cpp's Q4_K_M/Q5_K_M give Q6_K attn_v and ffn_down: the first and last
 * eighth and every third layer between (as listed for the published files). */
static const int MORE_BITS_28[] = {0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 24, 25, 26, 27, -1};
static const int MORE_BITS_24[] = {0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23, -1};

static int in_list(const int *l, int v) {
    for (; *l >= 0; l++)
        if (*l == v) return 1;
    return 0;
}

typedef struct tensor_row {
    char name[64];
    uint64_t ne[4];
    uint32_t n_dims;
} tensor_row;

/* A qwen2 tensor list (tied embeddings, QKV biases) in file order. */
static tensor_row *qwen2_tensors(const shape_table *s, int *n_out) {
    tensor_row *t = calloc((size_t)(3 + 12 * s->n_layer), sizeof *t);
    int n = 0;
    const uint64_t q = (uint64_t)s->n_head * s->head_dim, kv = (uint64_t)s->n_head_kv * s->head_dim;
#define ADD(nm, d, a, b) do { snprintf(t[n].name, sizeof t[n].name, "%s", nm); t[n].n_dims = d; \
    t[n].ne[0] = a; t[n].ne[1] = b; t[n].ne[2] = t[n].ne[3] = 1; n++; } while (0)
    ADD("token_embd.weight", 2, (uint64_t)s->n_embd, (uint64_t)s->n_vocab);
    ADD("output_norm.weight", 1, (uint64_t)s->n_embd, 1);
    for (int l = 0; l < s->n_layer; l++) {
        char nm[64];
#define LADD(suffix, d, a, b) do { snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix); ADD(nm, d, a, b); } while (0)
        LADD("attn_norm.weight", 1, s->n_embd, 1);
        LADD("attn_q.weight", 2, s->n_embd, q);
        LADD("attn_q.bias", 1, q, 1);
        LADD("attn_k.weight", 2, s->n_embd, kv);
        LADD("attn_k.bias", 1, kv, 1);
        LADD("attn_v.weight", 2, s->n_embd, kv);
        LADD("attn_v.bias", 1, kv, 1);
        LADD("attn_output.weight", 2, q, s->n_embd);
        LADD("ffn_norm.weight", 1, s->n_embd, 1);
        LADD("ffn_gate.weight", 2, s->n_embd, s->n_ff);
        LADD("ffn_up.weight", 2, s->n_embd, s->n_ff);
        LADD("ffn_down.weight", 2, s->n_ff, s->n_embd);
    }
    *n_out = n;
    return t;
}

static int row_cmp(const void *a, const void *b) { return quant_mix_order(((const tensor_row *)a)->name, ((const tensor_row *)b)->name); }

/* Types for every tensor (UINT32_MAX: not quantized), in processing order. */
static uint32_t *choose_all(tensor_row *t, int n, const shape_table *s, const char *ftype) {
    qsort(t, (size_t)n, sizeof *t, row_cmp);
    const char **names = malloc((size_t)n * sizeof *names);
    for (int i = 0; i < n; i++) names[i] = t[i].name;
    quant_mix_model m = {.n_layer = s->n_layer, .n_head = s->n_head, .n_head_kv = s->n_head_kv};
    quant_mix_count(&m, names, n);
    quant_mix_state st = {0};
    uint32_t *out = malloc((size_t)n * sizeof *out);
    const quant_ftype_info *ft = quant_ftype_find(ftype);
    assert_non_null(ft);
    for (int i = 0; i < n; i++)
        out[i] = quant_mix_allows(t[i].name, t[i].n_dims) ? quant_mix_choose(&m, &st, ft, t[i].name, t[i].ne, false, UINT32_MAX)
                                                          : UINT32_MAX;
    free(names);
    return out;
}

static uint32_t expected_qwen(const char *name, int fallback_896, int more_bits_type_base, const int *more_bits) {
    int layer = -1;
    sscanf(name, "blk.%d.", &layer);
    const uint32_t six = fallback_896 ? INFER_TYPE_Q8_0 : INFER_TYPE_Q6_K;
    const uint32_t base_wide = (uint32_t)more_bits_type_base;   /* rows that are a multiple of 256 */
    const uint32_t base_narrow = fallback_896 ? (base_wide == INFER_TYPE_Q4_K ? INFER_TYPE_Q5_0 : INFER_TYPE_Q5_1) : base_wide;
    if (strcmp(name, "token_embd.weight") == 0) return six;   /* tied: quantized as the output */
    if (strstr(name, "attn_v.weight")) return in_list(more_bits, layer) ? six : base_narrow;
    if (strstr(name, "ffn_down.weight")) return in_list(more_bits, layer) ? INFER_TYPE_Q6_K : base_wide;
    return base_narrow;   /* attn_q/k/output, ffn_gate/up: rows of n_embd (or n_head*head_dim) */
}

static void check_qwen(const shape_table *s, const char *ftype, uint32_t base, const int *more_bits, int narrow) {
    int n = 0;
    tensor_row *t = qwen2_tensors(s, &n);
    uint32_t *types = choose_all(t, n, s, ftype);
    int quantized = 0;
    for (int i = 0; i < n; i++) {
        if (t[i].n_dims == 1) {
            assert_int_equal(types[i], UINT32_MAX);   /* norms and biases stay F32 */
            continue;
        }
        quantized++;
        uint32_t want = expected_qwen(t[i].name, narrow, (int)base, more_bits);
        if (types[i] != want) fail_msg("%s %s: chose %s, llama.cpp %s", ftype, t[i].name, infer_type_name(types[i]), infer_type_name(want));
    }
    assert_int_equal(quantized, 1 + 7 * s->n_layer);
    free(types);
    free(t);
}

static void qwen25_1_5b_q4_k_m(void **state) { (void)state; check_qwen(&QWEN25_1_5B, "Q4_K_M", INFER_TYPE_Q4_K, MORE_BITS_28, 0); }
static void qwen25_1_5b_q5_k_m(void **state) { (void)state; check_qwen(&QWEN25_1_5B, "Q5_K_M", INFER_TYPE_Q5_K, MORE_BITS_28, 0); }
static void qwen25_0_5b_q4_k_m(void **state) { (void)state; check_qwen(&QWEN25_0_5B, "Q4_K_M", INFER_TYPE_Q4_K, MORE_BITS_24, 1); }

/* The real gemma-3-270m Q4_K_M (640-wide rows: many fallbacks, tied embedding as Q8_0). */
static void real_gemma3_270m(void **state) {
    (void)state;
    const char *cache = getenv("INFER_CACHE");
    char path[1024];
    if (cache && *cache) snprintf(path, sizeof path, "%s/gemma-3-270m-q4_k_m.gguf", cache);
    else snprintf(path, sizeof path, "%s/.cache/libinfer/models/gemma-3-270m-q4_k_m.gguf", getenv("HOME") ? getenv("HOME") : "");
    infer_gguf *g = NULL;
    infer_error err;
    if (infer_gguf_open(path, &g, &err) != INFER_OK) {
        printf("  %s absent (scripts/fetch-models.sh gemma3-270m fetches it)\n", path);
        skip();
    }
    const int64_t n = infer_gguf_n_tensors(g);
    const char **names = malloc((size_t)n * sizeof *names);
    int64_t *order = malloc((size_t)n * sizeof *order);
    for (int64_t i = 0; i < n; i++) names[i] = infer_gguf_tensor_name(g, i);
    quant_mix_model m;
    quant_mix_model_from_gguf(&m, g, names, n);
    /* visit in llama.cpp's order */
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = 1; i < n; i++)
        for (int64_t j = i; j > 0 && quant_mix_order(names[order[j - 1]], names[order[j]]) > 0; j--) {
            int64_t x = order[j]; order[j] = order[j - 1]; order[j - 1] = x;
        }
    quant_mix_state st = {0};
    const quant_ftype_info *ft = quant_ftype_find("Q4_K_M");
    int mismatches = 0, quantized = 0;
    for (int64_t k = 0; k < n; k++) {
        const int64_t i = order[k];
        uint64_t ne[4] = {1, 1, 1, 1};
        const uint32_t nd = infer_gguf_tensor_n_dims(g, i);
        for (uint32_t d = 0; d < nd; d++) ne[d] = infer_gguf_tensor_dim(g, i, d);
        uint32_t want = infer_gguf_tensor_type(g, i), got = want;
        if (quant_mix_allows(names[i], nd)) {
            got = quant_mix_choose(&m, &st, ft, names[i], ne, false, UINT32_MAX);
            quantized++;
        }
        if (got != want) {
            printf("  %s: chose %s, llama.cpp %s\n", names[i], infer_type_name(got), infer_type_name(want));
            mismatches++;
        }
    }
    printf("  gemma-3-270m: %d tensors quantized, %d fallbacks, %d mismatches\n", quantized, st.n_fallback, mismatches);
    assert_true(quantized > 100 && st.n_fallback > 0);
    assert_int_equal(mismatches, 0);
    free(order);
    free(names);
    infer_gguf_close(g);
}

static void order_and_allows(void **state) {
    (void)state;
    /* non-layer tensors first, then by layer number (not by string), then by name */
    assert_true(quant_mix_order("output.weight", "blk.0.attn_q.weight") < 0);
    assert_true(quant_mix_order("blk.2.ffn_up.weight", "blk.10.attn_k.weight") < 0);
    assert_true(quant_mix_order("blk.3.attn_k.weight", "blk.3.attn_q.weight") < 0);
    assert_true(quant_mix_allows("blk.0.attn_q.weight", 2));
    assert_true(quant_mix_allows("blk.0.ffn_down_exps.weight", 3));
    assert_false(quant_mix_allows("blk.0.attn_norm.weight", 2));
    assert_false(quant_mix_allows("blk.0.ffn_gate_inp.weight", 2));   /* MoE router */
    assert_false(quant_mix_allows("blk.0.attn_q.bias", 2));
    assert_false(quant_mix_allows("blk.0.attn_sinks.weight", 1));
    /* rows that fit no block of 32 end as F16; Q6_K pure on 256-multiples stays Q6_K */
    quant_mix_model m = {.n_layer = 1, .n_head = 1, .n_head_kv = 1};
    quant_mix_state st = {0};
    const uint64_t odd[4] = {100, 8, 1, 1}, wide[4] = {512, 8, 1, 1};
    assert_int_equal(quant_mix_choose(&m, &st, quant_ftype_find("Q4_K_M"), "blk.0.attn_q.weight", odd, false, UINT32_MAX), INFER_TYPE_F16);
    assert_int_equal(quant_mix_choose(&m, &st, quant_ftype_find("q6_k"), "blk.0.attn_q.weight", wide, true, UINT32_MAX), INFER_TYPE_Q6_K);
    assert_int_equal(quant_mix_choose(&m, &st, quant_ftype_find("Q8_0"), "blk.0.attn_q.weight", wide, false, INFER_TYPE_F16), INFER_TYPE_F16);
    assert_null(quant_ftype_find("Q4_K_X"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qwen25_1_5b_q4_k_m),
        cmocka_unit_test(qwen25_1_5b_q5_k_m),
        cmocka_unit_test(qwen25_0_5b_q4_k_m),
        cmocka_unit_test(real_gemma3_270m),
        cmocka_unit_test(order_and_allows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
