/* Hostile model CONTENTS through infer_model_load: structurally valid GGUF files (the
 * container is covered by test_gguf_*) whose hyperparameters, tensors or tokenizer
 * metadata are wrong or absurd. Each file is a copy of a real model with one thing
 * changed; each must be refused with a precise status and a message naming the key or
 * tensor, or (where the value is odd but usable) load and then tokenize, detokenize and
 * render a chat without a crash or a token id outside the vocabulary. */
#include "test_hostile_model.h"

#include <math.h>

static infer_gguf *g_llama;    /* stories260K: llama, SPM vocab of 512 */
static infer_gguf *g_gptoss;   /* synth gpt-oss: MoE, sliding window, YaRN */
static infer_gguf *g_gpt2;     /* vocab-only byte-level BPE */
static infer_gguf *g_gemma3;   /* synth gemma3: its own keys read by the descriptor's hook */

/* ---------------------------------------------------------------- one replaced key */

typedef enum kind { K_DROP, K_U32, K_I32, K_U64, K_F32, K_STR, K_ARR_U32 } kind;

typedef struct key_case {
    const char *key;
    kind kind;
    double value;           /* numeric kinds */
    const char *str;        /* K_STR */
    infer_status want;
    const char *needle, *needle2;
} key_case;

static void set_key(infer_gguf_writer *w, const key_case *c) {
    switch (c->kind) {
    case K_DROP: break;
    case K_U32: infer_gguf_writer_set_u32(w, c->key, (uint32_t)c->value); break;
    case K_I32: infer_gguf_writer_set_i32(w, c->key, (int32_t)c->value); break;
    case K_U64: infer_gguf_writer_set_u64(w, c->key, (uint64_t)c->value); break;
    case K_F32: infer_gguf_writer_set_f32(w, c->key, (float)c->value); break;
    case K_STR: infer_gguf_writer_set_str(w, c->key, c->str); break;
    case K_ARR_U32: {
        uint32_t v[5] = {4, 4, 4, 4, 4};
        infer_gguf_writer_set_arr(w, c->key, INFER_GGUF_UINT32, v, 5);
        break;
    }
    }
}

static void run_key_cases(const infer_gguf *g, const key_case *cases, size_t n, int vocab_only) {
    for (size_t i = 0; i < n; i++) {
        const key_case *c = &cases[i];
        const char *skip[] = {c->key, NULL};
        infer_gguf_writer *w = hm_clone(g, skip, NULL);
        set_key(w, c);
        char file[64];
        snprintf(file, sizeof file, "key%02zu.gguf", i);
        hm_expect_refused(w, file, vocab_only, c->want, c->needle, c->needle2);
    }
}

#define FMT INFER_ERR_FORMAT
#define TYP INFER_ERR_TYPE
#define UNS INFER_ERR_UNSUPPORTED
#define NF INFER_ERR_NOT_FOUND

static void test_llama_hparams(void **s) {
    (void)s;
    const key_case cases[] = {
        {"llama.attention.head_count", K_U32, 0, NULL, FMT, "head_count", NULL},
        {"llama.attention.head_count", K_U32, 12, NULL, FMT, "rope.dimension_count", NULL},   /* head_dim 64/12 = 5 < 8 */
        {"llama.attention.head_count", K_STR, 0, "eight", TYP, "llama.attention.head_count", NULL},
        {"llama.attention.head_count", K_F32, 8, NULL, TYP, "llama.attention.head_count", NULL},
        {"llama.attention.head_count", K_U64, 1099511627776.0, NULL, TYP, "llama.attention.head_count", NULL},
        {"llama.attention.head_count", K_DROP, 0, NULL, NF, "llama.attention.head_count", NULL},
        {"llama.attention.head_count_kv", K_U32, 3, NULL, FMT, "head_count_kv", NULL},
        {"llama.attention.head_count_kv", K_U32, 0, NULL, FMT, "head_count_kv", NULL},
        {"llama.attention.head_count_kv", K_U32, 16, NULL, FMT, "head_count_kv", NULL},
        {"llama.attention.head_count_kv", K_I32, -4, NULL, TYP, "llama.attention.head_count_kv", NULL},
        {"llama.attention.head_count_kv", K_ARR_U32, 0, NULL, TYP, "llama.attention.head_count_kv", NULL},
        {"llama.attention.key_length", K_U32, 0, NULL, FMT, "key_length", NULL},
        {"llama.attention.key_length", K_U32, 16, NULL, TYP, "blk.0.attn_q.weight", NULL},
        {"llama.attention.key_length", K_U32, 1u << 30, NULL, TYP, "blk.0.attn_q.weight", NULL},
        {"llama.attention.key_length", K_U32, 4294967295.0, NULL, TYP, "blk.0.attn_q.weight", NULL},
        {"llama.attention.value_length", K_U32, 16, NULL, UNS, "value_length", NULL},
        {"llama.block_count", K_U32, 0, NULL, FMT, "block_count", NULL},
        {"llama.block_count", K_U32, 1000000000, NULL, FMT, "llama.block_count", NULL},
        {"llama.block_count", K_U32, 4294967295.0, NULL, FMT, "llama.block_count", NULL},
        {"llama.block_count", K_U32, 6, NULL, NF, "blk.5.", NULL},
        {"llama.embedding_length", K_U32, 0, NULL, FMT, "embedding_length", NULL},
        {"llama.embedding_length", K_U32, 65, NULL, TYP, "token_embd.weight", NULL},
        {"llama.embedding_length", K_U32, 4294967295.0, NULL, TYP, "token_embd.weight", NULL},
        {"llama.feed_forward_length", K_U32, 0, NULL, TYP, "blk.0.ffn_gate.weight", "expected [64, 0, 1]"},
        {"llama.feed_forward_length", K_U32, 4294967295.0, NULL, TYP, "blk.0.ffn_gate.weight", NULL},
        {"llama.feed_forward_length", K_DROP, 0, NULL, NF, "llama.feed_forward_length", NULL},
        {"llama.rope.dimension_count", K_U32, 16, NULL, FMT, "rope.dimension_count", NULL},
        {"llama.rope.dimension_count", K_U32, 0, NULL, FMT, "rope.dimension_count", NULL},
        {"llama.rope.dimension_count", K_U32, 7, NULL, FMT, "rope.dimension_count", NULL},
        {"llama.rope.dimension_count", K_U32, 4294967295.0, NULL, FMT, "rope.dimension_count", NULL},
        {"llama.rope.freq_base", K_F32, 0, NULL, FMT, "llama.rope.freq_base", NULL},
        {"llama.rope.freq_base", K_F32, -10000, NULL, FMT, "llama.rope.freq_base", NULL},
        {"llama.rope.freq_base", K_F32, NAN, NULL, FMT, "llama.rope.freq_base", NULL},
        {"llama.rope.freq_base", K_F32, INFINITY, NULL, FMT, "llama.rope.freq_base", NULL},
        {"llama.rope.freq_base", K_STR, 0, "10000", TYP, "llama.rope.freq_base", NULL},
        {"llama.attention.layer_norm_rms_epsilon", K_F32, NAN, NULL, FMT, "layer_norm_rms_epsilon", NULL},
        {"llama.attention.layer_norm_rms_epsilon", K_F32, -1, NULL, FMT, "layer_norm_rms_epsilon", NULL},
        {"llama.attention.layer_norm_rms_epsilon", K_F32, INFINITY, NULL, FMT, "layer_norm_rms_epsilon", NULL},
        {"llama.rope.scaling.type", K_STR, 0, "bogus", UNS, "rope.scaling.type", NULL},
        {"llama.rope.scaling.type", K_U32, 1, NULL, TYP, "llama.rope.scaling.type", NULL},
        {"llama.rope.scaling.factor", K_F32, 0, NULL, FMT, "rope.scaling.factor", NULL},
        {"llama.rope.scaling.factor", K_F32, NAN, NULL, FMT, "rope.scaling.factor", NULL},
        {"llama.rope.scaling.factor", K_F32, -2, NULL, FMT, "rope.scaling.factor", NULL},
        {"llama.rope.scale_linear", K_F32, INFINITY, NULL, FMT, "rope.scaling.factor", NULL},
        {"llama.rope.scaling.attn_factor", K_F32, NAN, NULL, FMT, "rope.scaling.attn_factor", NULL},
        {"general.architecture", K_STR, 0, "mamba9", UNS, "unsupported architecture: mamba9", NULL},
        {"general.architecture", K_STR, 0, "", UNS, "unsupported architecture: ", NULL},
        {"general.architecture", K_STR, 0, "\xff\xfe\x01", UNS, "unsupported architecture: \\xFF\\xFE\\x01", NULL},
        {"general.architecture", K_STR, 0, "llama\n\x1b[2J", UNS, "unsupported architecture: llama\\x0A\\x1B[2J", NULL},
        {"general.architecture", K_STR, 0, "qwen3", NF, "qwen3.", NULL},
        {"general.architecture", K_U32, 7, NULL, TYP, "general.architecture", NULL},
        {"general.architecture", K_DROP, 0, NULL, NF, "general.architecture", NULL},
        {"general.name", K_U32, 7, NULL, TYP, "general.name", NULL},
        {"tokenizer.chat_template", K_U32, 7, NULL, TYP, "tokenizer.chat_template", NULL},
    };
    run_key_cases(g_llama, cases, sizeof cases / sizeof cases[0], 0);
}

/* YaRN with hostile parameters: each refused, naming the key. */
static void test_yarn_hparams(void **s) {
    (void)s;
    const key_case cases[] = {
        {"gpt-oss.rope.scaling.yarn_beta_fast", K_F32, NAN, NULL, FMT, "yarn_beta_fast", NULL},
        {"gpt-oss.rope.scaling.yarn_beta_slow", K_F32, INFINITY, NULL, FMT, "yarn_beta_slow", NULL},
        {"gpt-oss.rope.scaling.yarn_log_multiplier", K_F32, NAN, NULL, FMT, "yarn_log_multiplier", NULL},
        {"gpt-oss.rope.scaling.factor", K_F32, INFINITY, NULL, FMT, "rope.scaling.factor", NULL},
    };
    run_key_cases(g_gptoss, cases, sizeof cases / sizeof cases[0], 0);
}

/* Keys only gemma3's load_hparams hook reads: refused naming them, never NaN logits. */
static void test_gemma3_hparams(void **s) {
    (void)s;
    const key_case cases[] = {
        {"gemma3.final_logit_softcapping", K_F32, NAN, NULL, FMT, "gemma3.final_logit_softcapping", NULL},
        {"gemma3.final_logit_softcapping", K_F32, -30, NULL, FMT, "final_logit_softcapping", NULL},
        {"gemma3.final_logit_softcapping", K_STR, 0, "30", TYP, "gemma3.final_logit_softcapping", NULL},
        {"gemma3.rope.freq_base_swa", K_F32, INFINITY, NULL, FMT, "gemma3.rope.freq_base_swa", NULL},
        {"gemma3.rope.freq_base_swa", K_F32, 0, NULL, FMT, "rope.freq_base_swa", NULL},
        {"gemma3.attention.sliding_window", K_U32, 4294967295.0, NULL, FMT, "sliding_window", NULL},
    };
    run_key_cases(g_gemma3, cases, sizeof cases / sizeof cases[0], 0);
}

static void test_moe_hparams(void **s) {
    (void)s;
    const key_case cases[] = {
        {"gpt-oss.expert_used_count", K_U32, 9, NULL, FMT, "expert_used_count", NULL},
        {"gpt-oss.expert_used_count", K_U32, 0, NULL, FMT, "expert_used_count", NULL},
        {"gpt-oss.expert_used_count", K_DROP, 0, NULL, NF, "gpt-oss.expert_used_count", NULL},
        {"gpt-oss.expert_count", K_U32, 0, NULL, FMT, "expert_count", NULL},
        {"gpt-oss.expert_count", K_U32, 4, NULL, TYP, "blk.0.ffn_gate_inp.weight", NULL},
        {"gpt-oss.expert_count", K_U32, 4294967295.0, NULL, TYP, "blk.0.ffn_gate_inp.weight", NULL},
        {"gpt-oss.expert_feed_forward_length", K_U32, 0, NULL, FMT, "expert", NULL},
        {"gpt-oss.expert_feed_forward_length", K_U32, 128, NULL, TYP, "blk.0.ffn_gate_exps.weight", NULL},
        {"gpt-oss.attention.sliding_window", K_I32, -16, NULL, TYP, "gpt-oss.attention.sliding_window", NULL},
        {"gpt-oss.attention.sliding_window", K_U32, 4294967295.0, NULL, FMT, "gpt-oss.attention.sliding_window", NULL},
        {"gpt-oss.attention.sliding_window", K_STR, 0, "16", TYP, "gpt-oss.attention.sliding_window", NULL},
        {"gpt-oss.attention.key_length", K_U32, 32, NULL, UNS, "key_length 32 / value_length 64", NULL},
        {"gpt-oss.rope.scaling.type", K_STR, 0, "yarn\xff", UNS, "rope.scaling.type", NULL},
    };
    run_key_cases(g_gptoss, cases, sizeof cases / sizeof cases[0], 0);
}

/* ---------------------------------------------------------------- one replaced tensor */

typedef struct tensor_case {
    const char *name;
    uint32_t type;
    uint32_t nd;
    uint64_t ne[4];         /* nd 0: the tensor is left out */
    infer_status want;
    const char *needle, *needle2;
} tensor_case;

static void run_tensor_cases(const infer_gguf *g, const tensor_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const tensor_case *c = &cases[i];
        const char *skip[] = {c->name, NULL};
        infer_gguf_writer *w = hm_clone(g, NULL, skip);
        if (c->nd) hm_add_tensor(w, c->name, c->type, c->nd, c->ne, NULL);
        char file[64];
        snprintf(file, sizeof file, "tensor%02zu.gguf", i);
        hm_expect_refused(w, file, 0, c->want, c->needle, c->needle2);
    }
}

static void test_llama_tensors(void **s) {
    (void)s;
    const uint32_t F32 = INFER_TYPE_F32;
    const tensor_case cases[] = {
        {"blk.0.attn_k.weight", F32, 2, {32, 64}, TYP, "blk.0.attn_k.weight", "expected [64, 32, 1]"},
        {"blk.3.attn_q.weight", F32, 3, {64, 64, 2}, TYP, "blk.3.attn_q.weight", NULL},
        {"blk.4.ffn_down.weight", F32, 4, {172, 64, 1, 1}, TYP, "blk.4.ffn_down.weight", NULL},
        {"blk.1.ffn_up.weight", F32, 2, {64, 171}, TYP, "blk.1.ffn_up.weight", NULL},
        {"token_embd.weight", F32, 1, {64}, TYP, "token_embd.weight", NULL},
        {"token_embd.weight", F32, 3, {64, 512, 1}, TYP, "token_embd.weight", NULL},
        {"token_embd.weight", F32, 2, {64, 256}, FMT, "token_embd.weight", "512"},
        {"token_embd.weight", F32, 2, {64, 1024}, FMT, "token_embd.weight", "512"},
        {"token_embd.weight", F32, 2, {32, 512}, TYP, "token_embd.weight", NULL},
        {"token_embd.weight", INFER_TYPE_IQ2_XXS, 2, {256, 512}, UNS, "token_embd.weight", "IQ2_XXS"},
        {"token_embd.weight", F32, 0, {0}, NF, "token_embd.weight", NULL},
        {"output.weight", F32, 2, {64, 511}, TYP, "output.weight", NULL},
        {"output.weight", INFER_TYPE_I32, 2, {64, 512}, UNS, "output.weight", "I32"},
        {"output_norm.weight", F32, 0, {0}, NF, "output_norm.weight", NULL},
        {"output_norm.weight", INFER_TYPE_F16, 1, {64}, TYP, "output_norm.weight", "F32"},
        {"blk.2.attn_norm.weight", INFER_TYPE_Q8_0, 1, {64}, TYP, "blk.2.attn_norm.weight", "F32"},
        {"blk.2.attn_norm.weight", F32, 1, {65}, TYP, "blk.2.attn_norm.weight", NULL},
        {"blk.0.attn_q.weight", INFER_TYPE_IQ2_XXS, 2, {256, 16}, UNS, "blk.0.attn_q.weight", "IQ2_XXS"},
        {"blk.4.attn_v.weight", INFER_TYPE_IQ3_S, 2, {256, 32}, UNS, "blk.4.attn_v.weight", "IQ3_S"},
        {"blk.1.ffn_gate.weight", INFER_TYPE_F64, 2, {64, 172}, UNS, "blk.1.ffn_gate.weight", "F64"},
        {"blk.1.ffn_gate.weight", INFER_TYPE_IQ3_XXS, 2, {256, 43}, UNS, "blk.1.ffn_gate.weight", "IQ3_XXS"},
        {"blk.4.ffn_norm.weight", F32, 0, {0}, NF, "blk.4.ffn_norm.weight", NULL},
    };
    run_tensor_cases(g_llama, cases, sizeof cases / sizeof cases[0]);
}

static void test_moe_tensors(void **s) {
    (void)s;
    const uint32_t F32 = INFER_TYPE_F32;
    const tensor_case cases[] = {
        {"blk.1.ffn_gate_inp.weight", F32, 2, {320, 9}, TYP, "blk.1.ffn_gate_inp.weight", NULL},
        {"blk.1.ffn_gate_inp.weight", F32, 0, {0}, NF, "blk.1.ffn_gate_inp.weight", NULL},
        {"blk.2.ffn_up_exps.weight", INFER_TYPE_MXFP4, 3, {320, 256, 7}, TYP, "blk.2.ffn_up_exps.weight", NULL},
        {"blk.2.ffn_down_exps.weight", INFER_TYPE_MXFP4, 2, {256, 320}, TYP, "blk.2.ffn_down_exps.weight", NULL},
        {"blk.0.ffn_gate_exps.bias", F32, 2, {256, 9}, TYP, "blk.0.ffn_gate_exps.bias", NULL},
        {"blk.0.attn_sinks.weight", F32, 1, {4}, TYP, "blk.0.attn_sinks.weight", NULL},
        {"blk.0.attn_sinks.weight", F32, 0, {0}, NF, "blk.0.attn_sinks.weight", NULL},
        {"blk.1.attn_q.bias", F32, 0, {0}, NF, "blk.1.attn_q.bias", NULL},
        {"blk.1.attn_q.bias", INFER_TYPE_F16, 1, {512}, TYP, "blk.1.attn_q.bias", "F32"},
    };
    run_tensor_cases(g_gptoss, cases, sizeof cases / sizeof cases[0]);
}

static void test_gemma3_tensors(void **s) {
    (void)s;
    const uint32_t F32 = INFER_TYPE_F32;
    const tensor_case cases[] = {
        {"blk.0.post_ffw_norm.weight", F32, 0, {0}, NF, "blk.0.post_ffw_norm.weight", NULL},
        {"blk.5.post_attention_norm.weight", F32, 1, {255}, TYP, "blk.5.post_attention_norm.weight", NULL},
        {"blk.2.post_attention_norm.weight", INFER_TYPE_F16, 1, {256}, TYP, "blk.2.post_attention_norm.weight", "F32"},
        {"blk.3.attn_k_norm.weight", F32, 0, {0}, NF, "blk.3.attn_k_norm.weight", NULL},
    };
    run_tensor_cases(g_gemma3, cases, sizeof cases / sizeof cases[0]);
}

/* ---------------------------------------------------------------- tokenizer metadata */

static void test_vocab_keys(void **s) {
    (void)s;
    const key_case cases[] = {
        {"tokenizer.ggml.model", K_DROP, 0, NULL, NF, "tokenizer.ggml.model", NULL},
        {"tokenizer.ggml.model", K_STR, 0, "bert", UNS, "tokenizer.ggml.model", "bert"},
        {"tokenizer.ggml.model", K_U32, 1, NULL, TYP, "tokenizer.ggml.model", NULL},
        {"tokenizer.ggml.tokens", K_DROP, 0, NULL, NF, "tokenizer.ggml.tokens", NULL},
        {"tokenizer.ggml.tokens", K_ARR_U32, 0, NULL, TYP, "tokenizer.ggml.tokens", NULL},
        {"tokenizer.ggml.tokens", K_STR, 0, "<unk>", TYP, "tokenizer.ggml.tokens", NULL},
        {"tokenizer.ggml.scores", K_ARR_U32, 0, NULL, TYP, "tokenizer.ggml.scores", NULL},
        {"tokenizer.ggml.scores", K_F32, 0, NULL, TYP, "tokenizer.ggml.scores", NULL},
        {"tokenizer.ggml.token_type", K_STR, 0, "normal", TYP, "tokenizer.ggml.token_type", NULL},
        {"tokenizer.ggml.bos_token_id", K_STR, 0, "1", TYP, "tokenizer.ggml.bos_token_id", NULL},
        {"tokenizer.ggml.eos_token_id", K_I32, -2, NULL, TYP, "tokenizer.ggml.eos_token_id", NULL},
        {"tokenizer.ggml.add_bos_token", K_STR, 0, "yes", TYP, "tokenizer.ggml.add_bos_token", NULL},
    };
    for (int vocab_only = 0; vocab_only < 2; vocab_only++)
        run_key_cases(g_llama, cases, sizeof cases / sizeof cases[0], vocab_only);
}

/* Arrays whose lengths disagree with the token list, an empty token list. */
static void test_vocab_lengths(void **s) {
    (void)s;
    static float scores[513];
    static int32_t types[513];
    for (int i = 0; i < 513; i++) types[i] = 1;
    const char *skip_scores[] = {"tokenizer.ggml.scores", NULL};
    const char *skip_types[] = {"tokenizer.ggml.token_type", NULL};
    const char *skip_tokens[] = {"tokenizer.ggml.tokens", NULL};

    infer_gguf_writer *w = hm_clone(g_llama, skip_scores, NULL);
    infer_gguf_writer_set_arr(w, "tokenizer.ggml.scores", INFER_GGUF_FLOAT32, scores, 511);
    hm_expect_refused(w, "scores511.gguf", 0, FMT, "tokenizer.ggml.scores", "511");

    w = hm_clone(g_llama, skip_scores, NULL);
    infer_gguf_writer_set_arr(w, "tokenizer.ggml.scores", INFER_GGUF_FLOAT32, scores, 0);
    hm_expect_refused(w, "scores0.gguf", 1, FMT, "tokenizer.ggml.scores", NULL);

    w = hm_clone(g_llama, skip_types, NULL);
    infer_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", INFER_GGUF_INT32, types, 513);
    hm_expect_refused(w, "types513.gguf", 0, FMT, "tokenizer.ggml.token_type", "513");

    w = hm_clone(g_llama, skip_tokens, NULL);
    infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", NULL, NULL, 0);
    hm_expect_refused(w, "tokens0.gguf", 1, FMT, "tokenizer.ggml.tokens", NULL);

    /* 513 tokens for 512 embedding rows: scores and types stretched to match */
    const char *skip_all[] = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", NULL};
    const char *toks[513];
    int64_t ki = infer_gguf_find_key(g_llama, "tokenizer.ggml.tokens");
    char extra[] = "<extra>";
    for (int i = 0; i < 512; i++) toks[i] = infer_gguf_kv_arr_str(g_llama, ki, (uint64_t)i, NULL);
    toks[512] = extra;
    uint64_t lens[513];
    for (int i = 0; i < 512; i++) infer_gguf_kv_arr_str(g_llama, ki, (uint64_t)i, &lens[i]);
    lens[512] = strlen(extra);
    w = hm_clone(g_llama, skip_all, NULL);
    infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, lens, 513);
    hm_expect_refused(w, "tokens513.gguf", 0, FMT, "token_embd.weight", "513");
}

/* Every check a usable-but-odd vocabulary must pass: tokenizing plain, special and
 * invalid-UTF-8 text gives ids inside the vocabulary, every id detokenizes, the chat
 * renderer and stop-token lookup work. */
static void exercise_vocab(const infer_model *m) {
    const int32_t n_vocab = infer_model_n_vocab(m);
    assert_true(n_vocab > 0);
    const char *texts[] = {"Once upon a time", "", " ", "\xff\xfe\x80\xc3", "\xe2\x96\x81\xe2\x96", "<s></s><unk>",
                           "a\0b", "\xf4\x90\x80\x80\xed\xa0\x80\xc0\xaf", "    \n\n\t\t  x"};
    const size_t lens[] = {16, 0, 1, 4, 5, 12, 3, 9, 12};
    int32_t toks[256];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        for (int flags = 0; flags < 4; flags++) {
            size_t n = 0;
            infer_status st = infer_tokenize(m, texts[i], lens[i], flags & 1, flags & 2, toks, 256, &n);
            assert_int_equal(st, INFER_OK);
            for (size_t j = 0; j < n; j++) assert_true(toks[j] >= 0 && toks[j] < n_vocab);
        }
    }
    char buf[64];
    infer_detok *d = infer_detok_new(m);
    assert_non_null(d);
    for (int32_t t = -2; t < n_vocab + 2; t++) {
        size_t n = 0;
        infer_status st = infer_token_to_bytes(m, t, buf, sizeof buf, &n);
        if (t < 0 || t >= n_vocab) assert_int_equal(st, INFER_ERR_NOT_FOUND);
        else assert_true(st == INFER_OK || st == INFER_ERR_BUFFER_SMALL);
        st = infer_detok_push(d, t, buf, sizeof buf, &n);
        if (t < 0 || t >= n_vocab) assert_int_not_equal(st, INFER_OK);
        (void)infer_token_text(m, t);
        (void)infer_token_is_eog(m, t);
    }
    size_t n = 0;
    infer_detok_flush(d, buf, sizeof buf, &n);
    infer_detok_free(d);
    int32_t bos = infer_token_bos(m), eos = infer_token_eos(m), eot = infer_token_eot(m);
    assert_true(bos >= -1 && bos < n_vocab);
    assert_true(eos >= -1 && eos < n_vocab);
    assert_true(eot >= -1 && eot < n_vocab);

    infer_chat_msg msgs[] = {{"system", "be brief"}, {"user", "hi \xff"}, {"assistant", "<think>x</think>y"},
                             {"tool", ""}};
    char *out = malloc(1 << 22); /* a plain-text template of TEMPLATE_BYTES renders to itself */
    assert_non_null(out);
    assert_int_equal(infer_chat_render(m, msgs, 4, 1, out, 1 << 22, &n), INFER_OK);
    assert_int_equal(strlen(out), n);
    /* a 3-byte buffer is too small unless the model's own template renders to 2 bytes or less */
    size_t n_small = 0;
    assert_int_equal(infer_chat_render(m, msgs, 4, 1, out, 3, &n_small), n >= 3 ? INFER_ERR_BUFFER_SMALL : INFER_OK);
    free(out);
    int32_t stops[8];
    size_t n_stop = infer_model_stop_tokens(m, stops, 8);
    for (size_t i = 0; i < n_stop && i < 8; i++) assert_true(stops[i] >= 0 && stops[i] < n_vocab);
    assert_non_null(infer_chat_template_name(m));
    (void)infer_model_stop_tokens(m, NULL, 0);

    /* the reply classifier, fed every id (and some outside the vocabulary) */
    infer_chat_stream *cs = infer_chat_stream_new(m);
    assert_non_null(cs);
    for (int32_t t = -2; t < n_vocab + 2; t += n_vocab > 4096 ? 37 : 1) {
        infer_chat_part part = infer_chat_stream_push(cs, t);
        assert_true(part >= INFER_CHAT_PART_MARKUP && part <= INFER_CHAT_PART_OTHER);
    }
    infer_chat_stream_reset(cs);
    (void)infer_chat_stream_push(cs, INT32_MIN);
    (void)infer_chat_stream_push(cs, INT32_MAX);
    infer_chat_stream_free(cs);
}

static void load_and_exercise(infer_gguf_writer *w, const char *file, int vocab_only) {
    infer_model *m = hm_expect_loads(w, file, vocab_only);
    exercise_vocab(m);
    infer_model_free(m);
}

/* Ids out of range are "none" (as 0xFFFFFFFF conventionally is): never handed out. */
static void test_vocab_ids_out_of_range(void **s) {
    (void)s;
    const char *keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                          "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.eot_token_id",
                          "tokenizer.ggml.eom_token_id"};
    const char *skip[] = {keys[0], keys[1], keys[2], NULL};
    infer_gguf_writer *w = hm_clone(g_llama, skip, NULL);
    for (size_t i = 0; i < 5; i++) infer_gguf_writer_set_u32(w, keys[i], i & 1 ? 512u : 1000000000u);
    infer_model *m = hm_expect_loads(w, "ids.gguf", 0);
    assert_int_equal(infer_token_bos(m), -1);
    assert_int_equal(infer_token_eos(m), -1);
    exercise_vocab(m);
    int32_t toks[8];
    size_t n = 0;
    assert_int_equal(infer_tokenize(m, "a", 1, 1, 0, toks, 8, &n), INFER_OK);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(toks[i], 1000000000);
    infer_model_free(m);
}

/* Token texts that are empty, duplicated, invalid UTF-8, hold NUL bytes or are long;
 * token types out of range; scores NaN and infinite. */
static void test_vocab_odd_tokens(void **s) {
    (void)s;
    const char *skip[] = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", NULL};
    static char long_tok[70000];
    memset(long_tok, 'a', sizeof long_tok);
    const char *toks[512];
    uint64_t lens[512];
    float scores[512];
    int32_t types[512];
    char bytes[512][8];
    for (int i = 0; i < 512; i++) {
        switch (i % 8) {
        case 0: toks[i] = ""; lens[i] = 0; break;
        case 1: toks[i] = "\xe2\x96\x81"; lens[i] = 3; break;                    /* duplicates */
        case 2: toks[i] = "a\0b"; lens[i] = 3; break;
        case 3: toks[i] = "\xff\xc3"; lens[i] = 2; break;
        case 4: toks[i] = long_tok; lens[i] = (uint64_t)(i % 3 ? 5 : sizeof long_tok); break;
        case 5: snprintf(bytes[i], 8, "<0x%02X>", i % 256); toks[i] = bytes[i]; lens[i] = 6; break;
        case 6: toks[i] = "<0xZZ>"; lens[i] = 6; break;
        default: toks[i] = "<s>"; lens[i] = 3; break;
        }
        scores[i] = i % 5 == 0 ? NAN : i % 5 == 1 ? INFINITY : i % 5 == 2 ? -INFINITY : (float)-i;
        types[i] = i % 9 == 0 ? 99 : i % 9 == 1 ? -7 : i % 9 == 2 ? 0 : 1 + i % 6;
    }
    for (int spm_keys = 0; spm_keys < 2; spm_keys++) {
        infer_gguf_writer *w = hm_clone(g_llama, skip, NULL);
        infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, lens, 512);
        infer_gguf_writer_set_arr(w, "tokenizer.ggml.scores", INFER_GGUF_FLOAT32, scores, 512);
        infer_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", INFER_GGUF_INT32, types, 512);
        if (spm_keys) infer_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false);
        load_and_exercise(w, spm_keys ? "oddtok1.gguf" : "oddtok0.gguf", 0);
    }
    /* every token special (control), including empty ones */
    for (int i = 0; i < 512; i++) types[i] = 3;
    infer_gguf_writer *w = hm_clone(g_llama, skip, NULL);
    infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, lens, 512);
    infer_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", INFER_GGUF_INT32, types, 512);
    load_and_exercise(w, "allcontrol.gguf", 0);
}

/* Big templates catch a quadratic scan (2 MB: a minute instead of milliseconds).
 * Under ASan every strstr call costs a strlen of the haystack, so even a linear search
 * made of many strstr calls is quadratic there: the sanitizer build uses less. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HOSTILE_UNDER_ASAN 1   /* clang */
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(HOSTILE_UNDER_ASAN)
#define TEMPLATE_BYTES 65536
#else
#define TEMPLATE_BYTES 2000000
#endif

/* Chat templates of odd bytes: still a family (chatml fallback), rendering works. */
static void test_chat_template_bytes(void **s) {
    (void)s;
    const char *skip[] = {"tokenizer.chat_template", NULL};
    static char big[TEMPLATE_BYTES];
    const char unit[] = "<|im_start|>system\n";
    for (size_t i = 0; i + sizeof unit - 1 < sizeof big; i += sizeof unit - 1) memcpy(big + i, unit, sizeof unit - 1);
    /* many headers sharing one far end tag, with a quote right after each or only at the end */
    static char quoted[TEMPLATE_BYTES], late_quote[TEMPLATE_BYTES];
    const char unit_q[] = "<|im_start|>system\n'";
    size_t nq = 0, nl = 0;
    while (nq + sizeof unit_q + 16 < sizeof quoted) { memcpy(quoted + nq, unit_q, sizeof unit_q - 1); nq += sizeof unit_q - 1; }
    while (nl + sizeof unit + 16 < sizeof late_quote) { memcpy(late_quote + nl, unit, sizeof unit - 1); nl += sizeof unit - 1; }
    memcpy(quoted + nq, "<|im_end|>", 10);
    memcpy(late_quote + nl, "'<|im_end|>", 11);
    const struct { const char *s; uint64_t n; } tmpls[] = {
        {"\xff\xfe\x00<|im_start|>", 15},
        {"<|im_start|>system\n", 19},
        {"<|im_start|>system\nhello\\", 25},
        {"<|im_start|>system\\nX\\<|im_end|>", 32},
        {"<|start_header_id|>\x80", 20},
        {"<|start|><|message|>", 20},
        {"", 0},
        {big, sizeof big},
        {quoted, nq + 10},
        {late_quote, nl + 11},
    };
    for (size_t i = 0; i < sizeof tmpls / sizeof tmpls[0]; i++) {
        infer_gguf_writer *w = hm_clone(g_llama, skip, NULL);
        infer_gguf_writer_set_strn(w, "tokenizer.chat_template", tmpls[i].s, tmpls[i].n);
        char file[32];
        snprintf(file, sizeof file, "tmpl%zu.gguf", i);
        load_and_exercise(w, file, 1);
    }
}

/* Byte-level BPE: hostile merges are skipped (they cannot apply), never followed. */
static void test_bpe_merges(void **s) {
    (void)s;
    const char *skip[] = {"tokenizer.ggml.merges", NULL};
    const char *merges[] = {"", " ", "  ", "a", "a ", " a", "zzzz yyyy", "\xff \xfe", "h e", "h e", "he llo",
                            "\xc4\xa0 t", "t\0 x", "\xc4\xa0t he", "a b c", "! !"};
    uint64_t lens[16];
    for (int i = 0; i < 16; i++) lens[i] = strlen(merges[i]);
    lens[12] = 4;
    infer_gguf_writer *w = hm_clone(g_gpt2, skip, NULL);
    infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, lens, 16);
    load_and_exercise(w, "merges.gguf", 1);

    w = hm_clone(g_gpt2, skip, NULL);
    hm_expect_refused(w, "nomerges.gguf", 1, NF, "tokenizer.ggml.merges", NULL);
    w = hm_clone(g_gpt2, skip, NULL);
    infer_gguf_writer_set_str(w, "tokenizer.ggml.merges", "h e");
    hm_expect_refused(w, "strmerges.gguf", 1, TYP, "tokenizer.ggml.merges", NULL);

    const key_case cases[] = {
        {"tokenizer.ggml.pre", K_STR, 0, "bogus-pre", UNS, "tokenizer.ggml.pre", "bogus-pre"},
        {"tokenizer.ggml.pre", K_U32, 3, NULL, TYP, "tokenizer.ggml.pre", NULL},
        {"tokenizer.ggml.bos_token_id", K_F32, 1, NULL, TYP, "tokenizer.ggml.bos_token_id", NULL},
    };
    run_key_cases(g_gpt2, cases, sizeof cases / sizeof cases[0], 1);

    /* ids out of range and a vocabulary without its byte alphabet */
    const char *skip2[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.tokens", NULL};
    int64_t ki = infer_gguf_find_key(g_gpt2, "tokenizer.ggml.tokens");
    uint64_t n = infer_gguf_kv_arr_len(g_gpt2, ki);
    const char **toks = malloc(n * sizeof *toks);
    uint64_t *tl = malloc(n * sizeof *tl);
    assert_non_null(toks);
    assert_non_null(tl);
    for (uint64_t i = 0; i < n; i++) {
        toks[i] = infer_gguf_kv_arr_str(g_gpt2, ki, i, &tl[i]);
        if (i < 300) toks[i] = "\xff";   /* the single-byte tokens are gone */
        if (i < 300) tl[i] = 1;
    }
    w = hm_clone(g_gpt2, skip2, NULL);
    infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, tl, n);
    infer_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1000000000u);
    infer_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)n);
    load_and_exercise(w, "nobytes.gguf", 1);
    free(toks);
    free(tl);
}

static int setup(void **s) {
    (void)s;
    return 0;
}

int main(void) {
    g_llama = hm_open_fixture("models/stories260K.gguf");
    g_gptoss = hm_open_fixture("models/synth-gptoss-MXFP4_MOE.gguf");
    g_gpt2 = hm_open_fixture("tokenizer/gpt2.gguf");
    g_gemma3 = hm_open_fixture("models/synth-gemma3-Q4_K_M.gguf");
    hm_make_dir("hostile_load");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_hparams),
        cmocka_unit_test(test_yarn_hparams),
        cmocka_unit_test(test_gemma3_hparams),
        cmocka_unit_test(test_moe_hparams),
        cmocka_unit_test(test_llama_tensors),
        cmocka_unit_test(test_moe_tensors),
        cmocka_unit_test(test_gemma3_tensors),
        cmocka_unit_test(test_vocab_keys),
        cmocka_unit_test(test_vocab_lengths),
        cmocka_unit_test(test_vocab_ids_out_of_range),
        cmocka_unit_test(test_vocab_odd_tokens),
        cmocka_unit_test(test_chat_template_bytes),
        cmocka_unit_test(test_bpe_merges),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    rmdir(hm_dir);
    infer_gguf_close(g_llama);
    infer_gguf_close(g_gptoss);
    infer_gguf_close(g_gpt2);
    infer_gguf_close(g_gemma3);
    return rc;
}
