/* The loaded vocabulary, shared by the files of src/tokenizer/ only. */
#ifndef INFER_TOKENIZER_VOCAB_INTERNAL_H
#define INFER_TOKENIZER_VOCAB_INTERNAL_H

#include "tokenizer/token_map.h"
#include "tokenizer/tokvec.h"
#include "tokenizer/vocab.h"

/* tokenizer.ggml.token_type values. */
enum infer_token_type {
    INFER_TOKEN_NORMAL = 1,
    INFER_TOKEN_UNKNOWN = 2,
    INFER_TOKEN_CONTROL = 3,
    INFER_TOKEN_USER_DEFINED = 4,
    INFER_TOKEN_UNUSED = 5,
    INFER_TOKEN_BYTE = 6,
};

typedef enum infer_vocab_kind {
    INFER_VOCAB_SPM,   /* tokenizer.ggml.model = llama */
    INFER_VOCAB_BPE,   /* tokenizer.ggml.model = gpt2 (byte-level) */
} infer_vocab_kind;

/* Pre-tokenizers: each is the split regex of the model's Hugging Face tokenizer,
 * implemented by hand in pretok.c. */
typedef enum infer_pretok {
    INFER_PRETOK_GPT2,     /* 's|'t|... ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    INFER_PRETOK_LLAMA3,   /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|... */
    INFER_PRETOK_QWEN2,    /* as LLAMA3 with \p{N} one digit at a time (and NFC first) */
    INFER_PRETOK_GPT4O,    /* o200k: case-aware letter runs, contractions attached */
} infer_pretok;

struct infer_vocab {
    infer_vocab_kind kind;
    infer_pretok pretok;        /* BPE only */
    int32_t n_tokens;
    char **text;                /* [n_tokens] NUL-terminated, pointing into arena */
    uint32_t *text_len;         /* [n_tokens] bytes, without the NUL */
    float *scores;              /* [n_tokens] SPM merge scores (0 when absent) */
    uint8_t *type;              /* [n_tokens] enum infer_token_type */
    char *arena;
    infer_token_map by_text;    /* text -> id */
    infer_pair_map merges;      /* (left id, right id) -> rank, merged id (BPE) */

    int32_t bos, eos, eot, unk; /* -1 if none */
    int32_t *eog;               /* ids that end generation */
    size_t n_eog;
    bool add_bos;
    bool add_space_prefix;      /* SPM: a space before the first text fragment */
    bool ignore_merges;         /* BPE: a whole word found in the vocab is one token */
    bool nfc;                   /* normalize text fragments to NFC first (Qwen2) */

    /* SPM: id of <0xNN> (or -1). BPE: id of the byte-level character for byte b. */
    int32_t byte_token[256];
    /* Byte-level BPE alphabet: byte -> codepoint, and codepoint (< 324) -> byte. */
    uint16_t byte_to_cp[256];
    int16_t cp_to_byte[324];

    /* Tokens matched literally inside text (CONTROL, USER_DEFINED, UNKNOWN), grouped by
     * first byte (special_start[b] .. special_start[b+1]) and longest first inside a
     * group, so the first hit at a position is the longest. */
    int32_t *special;
    uint32_t special_start[257];
};

/* Fills v->eog (and v->eot when the metadata named none) from the metadata ids and
 * the turn-end tokens of well-known chat formats. eom: tokenizer.ggml.eom_token_id or -1. */
infer_status infer_vocab_find_eog(struct infer_vocab *v, int32_t eom, infer_error *err);
/* Builds v->special / v->special_start. */
infer_status infer_vocab_index_special(struct infer_vocab *v, infer_error *err);

/* SentencePiece encoding of one text fragment (spaces already escaped to U+2581). */
void infer_spm_encode(const struct infer_vocab *v, const char *text, size_t len, infer_tokvec *out);

/* Byte-level BPE of one pre-tokenized word; scratch is reused between calls. */
typedef struct infer_bpe_scratch infer_bpe_scratch;
infer_bpe_scratch *infer_bpe_scratch_new(void);
void infer_bpe_scratch_free(infer_bpe_scratch *s);
void infer_bpe_encode_word(const struct infer_vocab *v, const uint8_t *word, size_t len,
                           infer_bpe_scratch *s, infer_tokvec *out);

/* Splits a text fragment into words with the vocabulary's pre-tokenizer and calls
 * emit(word, len, user) for each, in order. Returns false if out of memory. */
typedef void (*infer_word_fn)(const uint8_t *word, size_t len, void *user);
bool infer_pretokenize(infer_pretok kind, const uint8_t *text, size_t len, infer_word_fn emit, void *user);

#endif
