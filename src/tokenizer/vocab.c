/* Loading a vocabulary from GGUF metadata (tokenizer.ggml.*). */
#include "tokenizer/vocab_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "gguf/gguf.h"

#define KEY_MODEL "tokenizer.ggml.model"
#define KEY_PRE "tokenizer.ggml.pre"
#define KEY_TOKENS "tokenizer.ggml.tokens"
#define KEY_SCORES "tokenizer.ggml.scores"
#define KEY_TYPES "tokenizer.ggml.token_type"
#define KEY_MERGES "tokenizer.ggml.merges"

static bool is_int_type(infer_gguf_type t) {
    return t <= INFER_GGUF_INT32 || t == INFER_GGUF_UINT64 || t == INFER_GGUF_INT64;
}

static bool str_eq(const char *s, uint64_t n, const char *lit) {
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

static infer_status load_tokens(const infer_gguf *g, struct infer_vocab *v, infer_error *err) {
    int64_t ki;
    uint64_t n;
    infer_status st = infer_gguf_get_arr(g, KEY_TOKENS, INFER_GGUF_STRING, &ki, &n, err);
    if (st) return st;
    if (n == 0 || n > (uint64_t)INT32_MAX / 2)
        return infer_err(err, INFER_ERR_FORMAT, "metadata key '%s' has %llu tokens", KEY_TOKENS, (unsigned long long)n);
    v->n_tokens = (int32_t)n;
    uint64_t total = 0;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t len = 0;
        if (!infer_gguf_kv_arr_str(g, ki, j, &len))
            return infer_err(err, INFER_ERR_FORMAT, "metadata key '%s': token %llu unreadable", KEY_TOKENS, (unsigned long long)j);
        if (len > UINT32_MAX / 2)
            return infer_err(err, INFER_ERR_FORMAT, "metadata key '%s': token %llu is %llu bytes long", KEY_TOKENS,
                             (unsigned long long)j, (unsigned long long)len);
        total += len + 1;
    }
    v->text = malloc(n * sizeof *v->text);
    v->text_len = malloc(n * sizeof *v->text_len);
    v->scores = calloc(n, sizeof *v->scores);
    v->type = malloc(n);
    v->arena = malloc(total);
    if (!v->text || !v->text_len || !v->scores || !v->type || !v->arena)
        return infer_err(err, INFER_ERR_NOMEM, "out of memory for %llu tokens", (unsigned long long)n);
    char *p = v->arena;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t len = 0;
        const char *s = infer_gguf_kv_arr_str(g, ki, j, &len);
        memcpy(p, s, len);
        p[len] = 0;
        v->text[j] = p;
        v->text_len[j] = (uint32_t)len;
        p += len + 1;
    }
    memset(v->type, INFER_TOKEN_NORMAL, n);

    int64_t si = infer_gguf_find_key(g, KEY_SCORES);
    if (si >= 0) {
        if (infer_gguf_kv_type(g, si) != INFER_GGUF_ARRAY ||
            (infer_gguf_kv_arr_type(g, si) != INFER_GGUF_FLOAT32 && infer_gguf_kv_arr_type(g, si) != INFER_GGUF_FLOAT64))
            return infer_err(err, INFER_ERR_TYPE, "metadata key '%s' is not an array of float32", KEY_SCORES);
        if (infer_gguf_kv_arr_len(g, si) != n)
            return infer_err(err, INFER_ERR_FORMAT, "metadata key '%s' has %llu entries for %llu tokens", KEY_SCORES,
                             (unsigned long long)infer_gguf_kv_arr_len(g, si), (unsigned long long)n);
        for (uint64_t j = 0; j < n; j++) v->scores[j] = (float)infer_gguf_kv_arr_float(g, si, j);
    }
    int64_t ti = infer_gguf_find_key(g, KEY_TYPES);
    if (ti >= 0) {
        if (infer_gguf_kv_type(g, ti) != INFER_GGUF_ARRAY || !is_int_type(infer_gguf_kv_arr_type(g, ti)))
            return infer_err(err, INFER_ERR_TYPE, "metadata key '%s' is not an array of integers", KEY_TYPES);
        if (infer_gguf_kv_arr_len(g, ti) != n)
            return infer_err(err, INFER_ERR_FORMAT, "metadata key '%s' has %llu entries for %llu tokens", KEY_TYPES,
                             (unsigned long long)infer_gguf_kv_arr_len(g, ti), (unsigned long long)n);
        for (uint64_t j = 0; j < n; j++) {
            int64_t t = infer_gguf_kv_arr_int(g, ti, j);
            /* Unknown kinds are treated as normal text rather than refused. */
            v->type[j] = (uint8_t)(t >= INFER_TOKEN_NORMAL && t <= INFER_TOKEN_BYTE ? t : INFER_TOKEN_NORMAL);
        }
    }
    if (!infer_token_map_build(&v->by_text, v->text, v->text_len, v->n_tokens))
        return infer_err(err, INFER_ERR_NOMEM, "out of memory for the token map");
    return INFER_OK;
}

/* GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves, the other
 * 68 bytes map in order to U+0100.. so that every byte is a visible character. */
static void build_byte_alphabet(struct infer_vocab *v) {
    for (int i = 0; i < 324; i++) v->cp_to_byte[i] = -1;
    uint16_t next = 256;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        v->byte_to_cp[b] = printable ? (uint16_t)b : next++;
        v->cp_to_byte[v->byte_to_cp[b]] = (int16_t)b;
    }
}

static void find_byte_tokens(struct infer_vocab *v) {
    for (int b = 0; b < 256; b++) {
        char buf[8];
        size_t n;
        if (v->kind == INFER_VOCAB_SPM) {
            n = (size_t)snprintf(buf, sizeof buf, "<0x%02X>", b);
        } else {
            uint16_t cp = v->byte_to_cp[b];
            if (cp < 0x80) { buf[0] = (char)cp; n = 1; }
            else { buf[0] = (char)(0xC0 | (cp >> 6)); buf[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
        }
        v->byte_token[b] = infer_token_map_find(&v->by_text, buf, n);
    }
}

static infer_status load_merges(const infer_gguf *g, struct infer_vocab *v, infer_error *err) {
    int64_t mi;
    uint64_t n;
    infer_status st = infer_gguf_get_arr(g, KEY_MERGES, INFER_GGUF_STRING, &mi, &n, err);
    if (st) return st;
    if (n > UINT32_MAX / 4)
        return infer_err(err, INFER_ERR_FORMAT, "metadata key '%s' has %llu merges", KEY_MERGES, (unsigned long long)n);
    if (!infer_pair_map_init(&v->merges, n))
        return infer_err(err, INFER_ERR_NOMEM, "out of memory for %llu merges", (unsigned long long)n);
    char *buf = NULL;
    size_t buf_cap = 0;
    for (uint64_t r = 0; r < n; r++) {
        uint64_t len = 0;
        const char *s = infer_gguf_kv_arr_str(g, mi, r, &len);
        if (!s || len < 3) continue;
        /* "left right": the separator is the first space after the first byte. */
        const char *sp = memchr(s + 1, ' ', len - 1);
        if (!sp) continue;
        size_t ln = (size_t)(sp - s), rn = len - ln - 1;
        if (ln + rn > buf_cap) {
            free(buf);
            buf_cap = 2 * (ln + rn);
            buf = malloc(buf_cap);
            if (!buf) return infer_err(err, INFER_ERR_NOMEM, "out of memory reading merges");
        }
        int32_t left = infer_token_map_find(&v->by_text, s, ln);
        int32_t right = infer_token_map_find(&v->by_text, sp + 1, rn);
        memcpy(buf, s, ln);
        memcpy(buf + ln, sp + 1, rn);
        int32_t merged = infer_token_map_find(&v->by_text, buf, ln + rn);
        /* A merge naming a token that is not in the vocabulary cannot be applied. */
        if (left < 0 || right < 0 || merged < 0) continue;
        infer_pair_map_add(&v->merges, left, right, (uint32_t)r, merged);
    }
    free(buf);
    return INFER_OK;
}

static infer_status choose_pretok(const infer_gguf *g, struct infer_vocab *v, bool *add_bos_default, infer_error *err) {
    const char *pre = "default";
    uint64_t n = strlen(pre);
    if (infer_gguf_find_key(g, KEY_PRE) >= 0) {
        infer_status st = infer_gguf_get_str(g, KEY_PRE, &pre, &n, err);
        if (st) return st;
    }
    *add_bos_default = false;
    if (str_eq(pre, n, "default") || str_eq(pre, n, "gpt2") || str_eq(pre, n, "gpt-2")) {
        v->pretok = INFER_PRETOK_GPT2;
    } else if (str_eq(pre, n, "llama-bpe") || str_eq(pre, n, "llama3") || str_eq(pre, n, "llama-v3")) {
        v->pretok = INFER_PRETOK_LLAMA3;
        v->ignore_merges = true;   /* tiktoken-derived: a word in the vocab is one token */
        *add_bos_default = true;
    } else if (str_eq(pre, n, "qwen2")) {
        v->pretok = INFER_PRETOK_QWEN2;
        v->nfc = true;             /* the Hugging Face tokenizer normalizes to NFC */
    } else if (str_eq(pre, n, "gpt-4o") || str_eq(pre, n, "o200k")) {
        v->pretok = INFER_PRETOK_GPT4O;
        v->ignore_merges = true;
    } else {
        return infer_err(err, INFER_ERR_UNSUPPORTED, "metadata key '%s': unknown pre-tokenizer '%.*s'",
                         KEY_PRE, (int)(n > 64 ? 64 : n), pre);
    }
    return INFER_OK;
}

/* An id key: absent -> def; out of range (like 0xFFFFFFFF for "none") -> -1. */
static infer_status load_id(const infer_gguf *g, const struct infer_vocab *v, const char *key, int32_t def,
                            int32_t *out, infer_error *err) {
    uint32_t id = 0;
    infer_status st = infer_gguf_opt_u32(g, key, def < 0 ? UINT32_MAX : (uint32_t)def, &id, err);
    if (st) return st;
    *out = id < (uint32_t)v->n_tokens ? (int32_t)id : -1;
    return INFER_OK;
}

infer_status infer_vocab_load(const infer_gguf *g, struct infer_vocab **out, infer_error *err) {
    if (!g || !out) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_vocab_load: NULL argument");
    *out = NULL;
    const char *model;
    uint64_t model_len;
    infer_status st = infer_gguf_get_str(g, KEY_MODEL, &model, &model_len, err);
    if (st) return st;
    struct infer_vocab *v = calloc(1, sizeof *v);
    if (!v) return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    bool add_bos_default = true;
    if (str_eq(model, model_len, "llama")) {
        v->kind = INFER_VOCAB_SPM;
    } else if (str_eq(model, model_len, "gpt2")) {
        v->kind = INFER_VOCAB_BPE;
        st = choose_pretok(g, v, &add_bos_default, err);
    } else {
        st = infer_err(err, INFER_ERR_UNSUPPORTED, "metadata key '%s': unsupported tokenizer model '%.*s'",
                       KEY_MODEL, (int)(model_len > 64 ? 64 : model_len), model);
    }
    if (!st) st = load_tokens(g, v, err);
    if (!st) {
        build_byte_alphabet(v);
        find_byte_tokens(v);
    }
    if (!st && v->kind == INFER_VOCAB_BPE) st = load_merges(g, v, err);
    bool spm = v->kind == INFER_VOCAB_SPM;
    if (!st) st = load_id(g, v, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, &v->bos, err);
    if (!st) st = load_id(g, v, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, &v->eos, err);
    if (!st) st = load_id(g, v, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, &v->unk, err);
    if (!st) st = infer_gguf_opt_bool(g, "tokenizer.ggml.add_bos_token", add_bos_default, &v->add_bos, err);
    if (!st) st = infer_gguf_opt_bool(g, "tokenizer.ggml.add_space_prefix", spm, &v->add_space_prefix, err);
    int32_t eom = -1;
    if (!st) st = load_id(g, v, "tokenizer.ggml.eot_token_id", -1, &v->eot, err);
    if (!st) st = load_id(g, v, "tokenizer.ggml.eom_token_id", -1, &eom, err);
    if (!st) st = infer_vocab_find_eog(v, eom, err);
    if (!st) st = infer_vocab_index_special(v, err);
    if (st) {
        infer_vocab_free(v);
        return st;
    }
    *out = v;
    return INFER_OK;
}

void infer_vocab_free(struct infer_vocab *v) {
    if (!v) return;
    infer_token_map_free(&v->by_text);
    infer_pair_map_free(&v->merges);
    free(v->text);
    free(v->text_len);
    free(v->scores);
    free(v->type);
    free(v->arena);
    free(v->eog);
    free(v->special);
    free(v);
}

int32_t infer_vocab_n_tokens(const struct infer_vocab *v) { return v ? v->n_tokens : 0; }
int32_t infer_vocab_bos(const struct infer_vocab *v) { return v ? v->bos : -1; }
int32_t infer_vocab_eos(const struct infer_vocab *v) { return v ? v->eos : -1; }
int32_t infer_vocab_eot(const struct infer_vocab *v) { return v ? v->eot : -1; }
bool infer_vocab_add_bos(const struct infer_vocab *v) { return v && v->add_bos && v->bos >= 0; }

bool infer_vocab_is_eog(const struct infer_vocab *v, int32_t tok) {
    if (!v || tok < 0) return false;
    for (size_t i = 0; i < v->n_eog; i++)
        if (v->eog[i] == tok) return true;
    return false;
}

bool infer_vocab_is_control(const struct infer_vocab *v, int32_t tok) {
    if (!v || tok < 0 || tok >= v->n_tokens || !v->type) return false;
    return v->type[tok] == INFER_TOKEN_CONTROL || v->type[tok] == INFER_TOKEN_UNUSED;
}

const char *infer_vocab_model_name(const struct infer_vocab *v) {
    return v && v->kind == INFER_VOCAB_BPE ? "gpt2" : "llama";
}

const char *infer_vocab_token_text(const struct infer_vocab *v, int32_t tok) {
    if (!v || tok < 0 || tok >= v->n_tokens) return NULL;
    return v->text[tok];
}
