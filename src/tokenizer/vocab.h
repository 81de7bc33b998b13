/* The tokenizer's contract with the rest of the library: a vocabulary loaded from GGUF
 * metadata (tokenizer.ggml.*) and the operations on it. The model module loads one per
 * model (also in vocab_only mode); the public infer_token_* / infer_tokenize /
 * infer_detok_* functions (src/models/tokenizer_api.c) forward here. A loaded vocab is
 * read-only: any number of threads may use it at once. */
#ifndef INFER_TOKENIZER_VOCAB_H
#define INFER_TOKENIZER_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "infer.h"

struct infer_vocab;

/* Reads tokenizer.ggml.{model,pre,tokens,scores,token_type,merges,*_token_id,add_*}.
 * Fails naming the key for a missing/mistyped key, an unknown tokenizer model or an
 * unknown pre-tokenizer name. */
infer_status infer_vocab_load(const infer_gguf *g, struct infer_vocab **out, infer_error *err);
void infer_vocab_free(struct infer_vocab *v);

int32_t infer_vocab_n_tokens(const struct infer_vocab *v);
int32_t infer_vocab_bos(const struct infer_vocab *v);   /* -1 if none */
int32_t infer_vocab_eos(const struct infer_vocab *v);   /* -1 if none */
int32_t infer_vocab_eot(const struct infer_vocab *v);   /* -1 if none */
bool infer_vocab_is_eog(const struct infer_vocab *v, int32_t tok);
bool infer_vocab_add_bos(const struct infer_vocab *v);
/* 1 for control and unused tokens (token_type 3 or 5): template markup, never text. */
bool infer_vocab_is_control(const struct infer_vocab *v, int32_t tok);
/* "llama" (SentencePiece) or "gpt2" (byte-level BPE). */
const char *infer_vocab_model_name(const struct infer_vocab *v);
/* The token's text as stored (NUL-terminated), or NULL if tok is out of range. */
const char *infer_vocab_token_text(const struct infer_vocab *v, int32_t tok);

/* Tokenizes len bytes into tokens[0..cap). *n_out is the full count even when it
 * exceeds cap (then INFER_ERR_BUFFER_SMALL). Never fails on the text itself. */
infer_status infer_vocab_tokenize(const struct infer_vocab *v, const char *text, size_t len,
                                  bool add_bos, bool parse_special,
                                  int32_t *tokens, size_t cap, size_t *n_out);

/* The bytes a token stands for; *n_out is the size needed even on BUFFER_SMALL.
 * Control and user-defined tokens give their literal text, so that detokenizing
 * tokens made with parse_special gives back the text. */
infer_status infer_vocab_token_to_bytes(const struct infer_vocab *v, int32_t tok,
                                        char *buf, size_t cap, size_t *n_out);

/* Streaming detokenizer on a vocabulary (struct infer_detok of infer.h). */
struct infer_detok *infer_vocab_detok_new(const struct infer_vocab *v);
void infer_vocab_detok_free(struct infer_detok *d);
/* Adds a token; writes the text that is now complete, NUL-terminated. On
 * INFER_ERR_BUFFER_SMALL nothing changes and *n_out is the length needed (without
 * the NUL). */
infer_status infer_vocab_detok_push(struct infer_detok *d, int32_t tok, char *buf, size_t cap, size_t *n_out);
infer_status infer_vocab_detok_flush(struct infer_detok *d, char *buf, size_t cap, size_t *n_out);

#endif
