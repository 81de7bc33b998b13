/* Special tokens of a vocabulary: the end-of-turn / end-of-generation set, and the
 * index of tokens that are matched literally inside text. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "tokenizer/vocab_internal.h"

static int32_t find_special_text(const struct infer_vocab *v, const char *text) {
    int32_t id = infer_token_map_find(&v->by_text, text, strlen(text));
    if (id < 0) return -1;
    uint8_t t = v->type[id];
    return t == INFER_TOKEN_CONTROL || t == INFER_TOKEN_USER_DEFINED ? id : -1;
}

static void add_eog(struct infer_vocab *v, int32_t id) {
    if (id < 0) return;
    for (size_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == id) return;
    v->eog[v->n_eog++] = id;
}

/* End-of-turn and end-of-generation tokens: the metadata ids, plus tokens that end a
 * turn in well-known chat formats. gpt-oss (harmony) ends the assistant's turn with
 * <|return|> or <|call|>; there <|end|> only closes a message inside the turn. */
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>", "<|endoftext|>",
    "<|return|>", "<|call|>", "<EOT>",
    "<\xef\xbd\x9c\x65nd\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",   /* DeepSeek; \x65 = 'e' (one literal: clang warns on a split) */
};
static const char *const EOT_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|return|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
};

infer_status infer_vocab_find_eog(struct infer_vocab *v, int32_t eom, infer_error *err) {
    for (size_t i = 0; v->eot < 0 && i < sizeof EOT_TEXTS / sizeof EOT_TEXTS[0]; i++)
        v->eot = find_special_text(v, EOT_TEXTS[i]);
    size_t n_texts = sizeof EOG_TEXTS / sizeof EOG_TEXTS[0];
    v->eog = malloc((n_texts + 4) * sizeof *v->eog);
    if (!v->eog) return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    add_eog(v, v->eos);
    add_eog(v, v->eot);
    add_eog(v, eom);
    for (size_t i = 0; i < n_texts; i++) add_eog(v, find_special_text(v, EOG_TEXTS[i]));
    bool harmony = find_special_text(v, "<|return|>") >= 0 && find_special_text(v, "<|call|>") >= 0;
    if (!harmony) add_eog(v, find_special_text(v, "<|end|>"));
    return INFER_OK;
}

/* Tokens matched literally inside text when special tokens are parsed: control,
 * user-defined and unknown tokens that have a text. */
static bool matched_in_text(const struct infer_vocab *v, int32_t i) {
    uint8_t t = v->type[i];
    return (t == INFER_TOKEN_CONTROL || t == INFER_TOKEN_USER_DEFINED || t == INFER_TOKEN_UNKNOWN) && v->text_len[i] > 0;
}

static int cmp_special(const void *a, const void *b, void *ctx) {
    const struct infer_vocab *v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint8_t fx = (uint8_t)v->text[x][0], fy = (uint8_t)v->text[y][0];
    if (fx != fy) return fx < fy ? -1 : 1;
    if (v->text_len[x] != v->text_len[y]) return v->text_len[x] > v->text_len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

infer_status infer_vocab_index_special(struct infer_vocab *v, infer_error *err) {
    size_t n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (matched_in_text(v, i)) n++;
    v->special = malloc((n + 1) * sizeof *v->special);
    if (!v->special) return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (matched_in_text(v, i)) v->special[n++] = i;
    qsort_r(v->special, n, sizeof *v->special, cmp_special, v);
    size_t k = 0;
    for (int b = 0; b <= 256; b++) {
        while (b < 256 && k < n && (uint8_t)v->text[v->special[k]][0] < b) k++;
        v->special_start[b] = (uint32_t)(b == 256 ? n : k);
    }
    return INFER_OK;
}

