/* Text -> tokens: split out special tokens written literally in the text, then encode
 * each plain fragment with SentencePiece or with pre-tokenizer + byte-level BPE. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokvec.h"
#include "tokenizer/unicode.h"
#include "tokenizer/vocab_internal.h"

/* Is this special token recognized in text? User-defined tokens always are (as the
 * Hugging Face tokenizers split on every added token); control and unknown tokens
 * only when the caller asks for special-token parsing. */
static bool special_active(const struct infer_vocab *v, int32_t id, bool parse_special) {
    return parse_special || v->type[id] == INFER_TOKEN_USER_DEFINED;
}

/* The longest active special token starting at text[i], or -1. */
static int32_t special_at(const struct infer_vocab *v, const char *text, size_t len, size_t i, bool parse_special) {
    uint8_t b = (uint8_t)text[i];
    for (uint32_t k = v->special_start[b]; k < v->special_start[b + 1]; k++) {
        int32_t id = v->special[k];
        uint32_t n = v->text_len[id];
        if (n <= len - i && memcmp(text + i, v->text[id], n) == 0 && special_active(v, id, parse_special)) return id;
    }
    return -1;
}

typedef struct bpe_ctx {
    const struct infer_vocab *v;
    infer_bpe_scratch *scratch;
    infer_tokvec *out;
} bpe_ctx;

static void bpe_word(const uint8_t *word, size_t len, void *user) {
    bpe_ctx *c = user;
    infer_bpe_encode_word(c->v, word, len, c->scratch, c->out);
}

static void encode_bpe(const struct infer_vocab *v, const char *text, size_t len, bpe_ctx *c) {
    char *norm = NULL;
    if (v->nfc) {
        size_t n;
        norm = infer_utf8_nfc(text, len, &n);
        if (!norm) { c->out->oom = true; return; }
        text = norm;
        len = n;
    }
    if (!infer_pretokenize(v->pretok, (const uint8_t *)text, len, bpe_word, c)) c->out->oom = true;
    free(norm);
}

/* SentencePiece: spaces become U+2581, and a space is prepended to the first fragment
 * and to each fragment that follows a special token (llama.cpp's rule). */
static void encode_spm(const struct infer_vocab *v, const char *text, size_t len, bool prefix, infer_tokvec *out) {
    size_t spaces = prefix ? 1 : 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    char *buf = malloc(len + 2 * spaces + 1);
    if (!buf) { out->oom = true; return; }
    size_t n = 0;
    if (prefix) { memcpy(buf, "\xe2\x96\x81", 3); n = 3; }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') { memcpy(buf + n, "\xe2\x96\x81", 3); n += 3; }
        else buf[n++] = text[i];
    }
    infer_spm_encode(v, buf, n, out);
    free(buf);
}

static void encode_fragment(const struct infer_vocab *v, const char *text, size_t len, bool after_special,
                            bpe_ctx *c) {
    if (len == 0) return;
    if (v->kind == INFER_VOCAB_SPM) encode_spm(v, text, len, v->add_space_prefix && after_special, c->out);
    else encode_bpe(v, text, len, c);
}

infer_status infer_vocab_tokenize(const struct infer_vocab *v, const char *text, size_t len,
                                  bool add_bos, bool parse_special,
                                  int32_t *tokens, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!v || (!text && len > 0) || (!tokens && cap > 0)) return INFER_ERR_INVALID_ARG;
    infer_tokvec out = {0};
    bpe_ctx c = {v, NULL, &out};
    if (v->kind == INFER_VOCAB_BPE && !(c.scratch = infer_bpe_scratch_new())) return INFER_ERR_NOMEM;
    if (add_bos && v->bos >= 0) infer_tokvec_push(&out, v->bos);
    size_t start = 0;
    bool after_special = true;   /* the start of the text counts as a boundary */
    for (size_t i = 0; i < len;) {
        int32_t id = v->special_start[(uint8_t)text[i]] < v->special_start[(uint8_t)text[i] + 1]
                         ? special_at(v, text, len, i, parse_special) : -1;
        if (id < 0) { i++; continue; }
        encode_fragment(v, text + start, i - start, after_special, &c);
        infer_tokvec_push(&out, id);
        after_special = true;
        i += v->text_len[id];
        start = i;
    }
    if (len > start) encode_fragment(v, text + start, len - start, after_special, &c);   /* text may be NULL when len is 0 */
    infer_bpe_scratch_free(c.scratch);

    infer_status st = INFER_OK;
    if (out.oom) st = INFER_ERR_NOMEM;
    else {
        if (n_out) *n_out = out.n;
        if (out.n > cap) st = INFER_ERR_BUFFER_SMALL;
        else if (out.n) memcpy(tokens, out.data, out.n * sizeof *tokens);
    }
    free(out.data);
    return st;
}
