/* The public tokenizer functions of infer.h: each forwards to the model's vocabulary.
 * They live in the models layer, which owns the vocabulary and knows the tokenizer;
 * src/tokenizer/ itself knows nothing of models (data flows model -> tokenizer only). */
#include "core/error.h"
#include "infer.h"
#include "models/model_internal.h"
#include "tokenizer/vocab.h"

static const struct infer_vocab *vocab_of(const infer_model *m) { return m ? infer_model_vocab(m) : NULL; }

int32_t infer_token_bos(const infer_model *m) { return infer_vocab_bos(vocab_of(m)); }
int32_t infer_token_eos(const infer_model *m) { return infer_vocab_eos(vocab_of(m)); }
int32_t infer_token_eot(const infer_model *m) { return infer_vocab_eot(vocab_of(m)); }
int infer_token_is_eog(const infer_model *m, int32_t tok) { return infer_vocab_is_eog(vocab_of(m), tok); }
int infer_model_add_bos(const infer_model *m) { return infer_vocab_add_bos(vocab_of(m)); }

infer_status infer_tokenize(const infer_model *m, const char *text, size_t len, int add_bos, int parse_special,
                            int32_t *tokens, size_t cap, size_t *n_out) {
    const struct infer_vocab *v = vocab_of(m);
    if (!v) {
        if (n_out) *n_out = 0;
        return INFER_ERR_INVALID_ARG;
    }
    return infer_vocab_tokenize(v, text, len, add_bos != 0, parse_special != 0, tokens, cap, n_out);
}

infer_status infer_token_to_bytes(const infer_model *m, int32_t tok, char *buf, size_t cap, size_t *n_out) {
    const struct infer_vocab *v = vocab_of(m);
    if (!v) {
        if (n_out) *n_out = 0;
        return INFER_ERR_INVALID_ARG;
    }
    return infer_vocab_token_to_bytes(v, tok, buf, cap, n_out);
}

const char *infer_token_text(const infer_model *m, int32_t tok) { return infer_vocab_token_text(vocab_of(m), tok); }

infer_status infer_detok_init(const infer_model *m, infer_detok **out, infer_error *err) {
    if (!out) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_detok_init: out is NULL");
    *out = NULL;
    const struct infer_vocab *v = vocab_of(m);
    if (!v) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_detok_init: no model (or a model without a vocabulary)");
    *out = infer_vocab_detok_new(v);
    return *out ? INFER_OK : infer_err(err, INFER_ERR_NOMEM, "infer_detok_init: out of memory");
}

infer_detok *infer_detok_new(const infer_model *m) {
    infer_detok *d = NULL;
    infer_detok_init(m, &d, NULL);
    return d;
}
void infer_detok_free(infer_detok *d) { infer_vocab_detok_free(d); }

infer_status infer_detok_push(infer_detok *d, int32_t tok, char *buf, size_t cap, size_t *n_out) {
    return infer_vocab_detok_push(d, tok, buf, cap, n_out);
}

infer_status infer_detok_flush(infer_detok *d, char *buf, size_t cap, size_t *n_out) {
    return infer_vocab_detok_flush(d, buf, cap, n_out);
}
