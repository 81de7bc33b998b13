/* Model loading: metadata -> hparams, vocabulary, weights bound by name (in place). */
#include "models/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/params.h"
#include "gguf/gguf.h"
#include "models/arch.h"
#include "models/model_internal.h"
#include "models/weights.h"
#include "tokenizer/vocab.h"

/* infer_model_params' fields after struct_size, in order (core/params.h): new ones at the end. */
static const infer_params_field model_params_fields[] = {
    INFER_PARAMS_FIELD(infer_model_params, vocab_only),
    INFER_PARAMS_FIELD(infer_model_params, progress),
    INFER_PARAMS_FIELD(infer_model_params, progress_user),
};
_Static_assert(sizeof(infer_model_params) == INFER_PARAMS_FIELD_END(infer_model_params, progress_user),
               "infer_model_params: its last field must end at sizeof (core/params.h)");

infer_model_params infer_model_default_params(void) {
    infer_model_params p = {.struct_size = sizeof p};
    return p;
}

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* The first bytes of a metadata string for a message: printable ASCII as is, any other
 * byte (control, NUL, invalid UTF-8 from a hostile file) as \xNN, "..." when cut. */
static void printable(const char *s, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 8 > cap) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7F) out[o++] = (char)c;
        else o += (size_t)snprintf(out + o, cap - o, "\\x%02X", c);
    }
    out[o] = 0;
}

/* Optional string key copied to a NUL-terminated heap string (def when absent). */
static infer_status opt_str(const infer_gguf *g, const char *key, const char *def, char **out, infer_error *err) {
    *out = NULL;
    const char *s = def;
    uint64_t len = def ? strlen(def) : 0;
    if (infer_gguf_find_key(g, key) >= 0) {
        infer_status st = infer_gguf_get_str(g, key, &s, &len, err);
        if (st != INFER_OK) return st;
    }
    if (!s) return INFER_OK;
    *out = dup_n(s, (size_t)len);
    return *out ? INFER_OK : infer_err(err, INFER_ERR_NOMEM, "out of memory reading '%s'", key);
}

static void clear_layer(infer_layer_weights *L) {
    infer_wid *ids = (infer_wid *)L;
    for (size_t i = 0; i < sizeof *L / sizeof(infer_wid); i++) ids[i] = INFER_NO_WEIGHT;
}

/* Llama 3.1+ files carry the "llama3" RoPE scaling as this tensor: one divisor per
 * rotated pair, used by every layer. A divisor that is not a positive finite number
 * would turn every angle into NaN, so it is refused here by index. */
static infer_status bind_rope_freqs(infer_model *m, infer_error *err) {
    const int64_t n_pairs = m->hp.rope.n_rot / 2;
    infer_status st = infer_weight_bind(m, &m->rope_freqs, INFER_BIND_OPTIONAL | INFER_BIND_F32, n_pairs, 1, 1, err,
                                        "rope_freqs.weight");
    if (st != INFER_OK || m->rope_freqs == INFER_NO_WEIGHT) return st;
    const infer_weight *w = &m->weights[m->rope_freqs];
    for (int64_t i = 0; i < n_pairs; i++) {
        float v;
        memcpy(&v, (const char *)w->data + 4 * i, sizeof v);   /* the mapping promises no alignment */
        if (!(v > 0.0f) || !isfinite(v))
            return infer_err(err, INFER_ERR_FORMAT, "tensor 'rope_freqs.weight': value %g at index %lld is not a positive finite factor",
                             (double)v, (long long)i);
    }
    return INFER_OK;
}

static infer_status bind_weights(infer_model *m, const infer_model_params *p, infer_error *err) {
    infer_hparams *hp = &m->hp;
    const infer_gguf *g = m->gguf;

    /* The vocabulary size is whatever token_embd has rows for. */
    int64_t ti = infer_gguf_find_tensor(g, "token_embd.weight");
    if (ti < 0) return infer_err(err, INFER_ERR_NOT_FOUND, "missing tensor 'token_embd.weight'");
    if (infer_gguf_tensor_n_dims(g, ti) != 2)
        return infer_err(err, INFER_ERR_TYPE, "tensor 'token_embd.weight': expected 2 dims, has %u",
                         infer_gguf_tensor_n_dims(g, ti));
    uint64_t n_vocab = infer_gguf_tensor_dim(g, ti, 1);
    if (n_vocab == 0 || n_vocab > INT32_MAX)
        return infer_err(err, INFER_ERR_FORMAT, "tensor 'token_embd.weight': vocabulary of %llu rows",
                         (unsigned long long)n_vocab);
    hp->n_vocab = (uint32_t)n_vocab;
    /* Every row must be a token the tokenizer can print, and every token a row the model
     * can embed (the reference engine requires the same). */
    int32_t n_tokens = infer_vocab_n_tokens(m->vocab);
    if (n_vocab != (uint64_t)n_tokens)
        return infer_err(err, INFER_ERR_FORMAT, "tensor 'token_embd.weight' has %llu rows but the vocabulary has %d tokens",
                         (unsigned long long)n_vocab, (int)n_tokens);

    infer_status st = infer_weight_bind(m, &m->tok_embd, INFER_BIND_ROWS, hp->n_embd, hp->n_vocab, 1, err,
                                        "token_embd.weight");
    if (st != INFER_OK) return st;
    st = infer_weight_bind(m, &m->output_norm, INFER_BIND_F32, hp->n_embd, 1, 1, err, "output_norm.weight");
    if (st != INFER_OK) return st;
    st = infer_weight_bind(m, &m->output, INFER_BIND_OPTIONAL, hp->n_embd, hp->n_vocab, 1, err, "output.weight");
    if (st != INFER_OK) return st;
    if (m->output == INFER_NO_WEIGHT) {   /* tied embeddings: the table is the output projection too */
        m->output = m->tok_embd;
        m->weights[m->tok_embd].ops |= 1u << INFER_OP_MATMUL;
    }
    st = bind_rope_freqs(m, err);
    if (st != INFER_OK) return st;

    /* Every layer has several tensors: a larger block_count is a hostile or broken file,
     * caught here before it sizes any allocation. */
    if ((int64_t)hp->n_layer > infer_gguf_n_tensors(g))
        return infer_err(err, INFER_ERR_FORMAT, "%s.block_count = %u but the file has only %lld tensors",
                         m->arch->name, hp->n_layer, (long long)infer_gguf_n_tensors(g));
    m->layers = malloc(hp->n_layer * sizeof *m->layers);
    if (!m->layers) return infer_err(err, INFER_ERR_NOMEM, "out of memory for %u layers", hp->n_layer);
    for (uint32_t il = 0; il < hp->n_layer; il++) clear_layer(&m->layers[il]);
    for (uint32_t il = 0; il < hp->n_layer; il++) {
        st = m->arch->bind_layer(m, il, err);
        if (st != INFER_OK) return st;
        if (p->progress && p->progress((float)(il + 1) / (float)hp->n_layer, p->progress_user))
            return infer_err(err, INFER_ERR_CANCELLED, "model load cancelled by the progress callback");
    }
    return INFER_OK;
}

static infer_status load(infer_model *m, const char *path, const infer_model_params *p, infer_error *err) {
    /* A split model (...-00001-of-0000N.gguf) comes with all its parts. */
    infer_status st = infer_gguf_open_split(path, &m->gguf, err);
    if (st != INFER_OK) return st;
    const infer_gguf *g = m->gguf;

    const char *arch;
    uint64_t arch_len;
    st = infer_gguf_get_str(g, "general.architecture", &arch, &arch_len, err);
    if (st != INFER_OK) return st;
    m->arch_name = dup_n(arch, (size_t)arch_len);
    if (!m->arch_name) return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    if ((st = opt_str(g, "general.name", "", &m->name, err)) != INFER_OK) return st;
    if ((st = opt_str(g, "tokenizer.chat_template", NULL, &m->chat_template, err)) != INFER_OK) return st;

    m->vocab_only = p->vocab_only != 0;
    m->arch = infer_arch_find(arch, (size_t)arch_len);
    /* Vocab-only loads accept any architecture: only the tokenizer is used. */
    if (!m->arch && !m->vocab_only)
    {
        char shown[4 * 48 + 4];
        printable(arch, (size_t)arch_len, shown, sizeof shown);
        return infer_err(err, INFER_ERR_UNSUPPORTED, "unsupported architecture: %s", shown);
    }
    st = infer_vocab_load(g, &m->vocab, err);
    if (st != INFER_OK || m->vocab_only) return st;

    st = infer_hparams_load(&m->hp, g, m->arch, err);
    if (st != INFER_OK) return st;
    return bind_weights(m, p, err);
}

infer_status infer_model_load(const char *path, const infer_model_params *params, infer_model **out,
                              infer_error *err) {
    if (!out) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_model_load: out is NULL");
    *out = NULL;
    if (!path) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_model_load: path is NULL");
    infer_model_params p = infer_model_default_params();
    infer_status st = infer_params_read(params, &p, sizeof p, model_params_fields,
                                        sizeof model_params_fields / sizeof model_params_fields[0],
                                        "infer_model_load: params", err);
    if (st != INFER_OK) return st;

    infer_model *m = calloc(1, sizeof *m);
    if (!m) return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    m->tok_embd = m->output_norm = m->output = m->rope_freqs = INFER_NO_WEIGHT;
    st = load(m, path, &p, err);
    if (st != INFER_OK) {
        infer_model_free(m);
        return st;
    }
    if (err) {
        err->status = INFER_OK;
        err->message[0] = 0;
    }
    *out = m;
    return INFER_OK;
}

void infer_model_free(infer_model *m) {
    if (!m) return;
    if (m->vocab) infer_vocab_free(m->vocab);
    free(m->layers);
    free(m->weights);
    free(m->arch_name);
    free(m->name);
    free(m->chat_template);
    infer_gguf_close(m->gguf);
    free(m);
}

const char *infer_model_arch(const infer_model *m) { return m ? m->arch_name : ""; }
const char *infer_model_name(const infer_model *m) { return m && m->name ? m->name : ""; }
int32_t infer_model_n_ctx_train(const infer_model *m) { return m ? (int32_t)m->hp.n_ctx_train : 0; }
int32_t infer_model_n_embd(const infer_model *m) { return m ? (int32_t)m->hp.n_embd : 0; }
int32_t infer_model_n_layer(const infer_model *m) { return m ? (int32_t)m->hp.n_layer : 0; }
uint64_t infer_model_n_params(const infer_model *m) { return m ? m->n_params : 0; }
uint64_t infer_model_size_bytes(const infer_model *m) { return m ? m->size_bytes : 0; }

int32_t infer_model_n_vocab(const infer_model *m) {
    if (!m) return 0;
    if (!m->vocab_only) return (int32_t)m->hp.n_vocab;
    int64_t i = infer_gguf_find_key(m->gguf, "tokenizer.ggml.tokens");
    return i >= 0 && infer_gguf_kv_type(m->gguf, i) == INFER_GGUF_ARRAY ? (int32_t)infer_gguf_kv_arr_len(m->gguf, i)
                                                                       : 0;
}

const struct infer_vocab *infer_model_vocab(const infer_model *m) { return m ? m->vocab : NULL; }
const infer_gguf *infer_model_gguf(const infer_model *m) { return m ? m->gguf : NULL; }
const char *infer_model_chat_template(const infer_model *m) { return m ? m->chat_template : NULL; }
const char *infer_model_chat_family_hint(const infer_model *m) {
    return m && m->arch ? m->arch->chat_family : NULL;
}
