/* Embeddings: POST /v1/embeddings (OpenAI) and POST /api/embed (Ollama). Each input is
 * evaluated in the model's embedding context (mean pooling of the final hidden states,
 * L2-normalized, as both APIs return them), one request at a time per model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "routes.h"

typedef struct embed_input {
    int32_t *toks;
    size_t n;
} embed_input;

typedef struct embed_inputs {
    embed_input *v;
    size_t count;
} embed_inputs;

static void inputs_free(embed_inputs *in) {
    for (size_t i = 0; i < in->count; i++) free(in->v[i].toks);
    free(in->v);
}

static int add_tokens(embed_inputs *in, json_t *ids, int32_t n_vocab, size_t idx, req_err *e) {
    embed_input *it = &in->v[in->count];
    it->n = json_array_size(ids);
    it->toks = malloc((it->n ? it->n : 1) * sizeof *it->toks);
    if (!it->toks) return -1;
    in->count++;
    for (size_t k = 0; k < it->n; k++) {
        json_t *t = json_array_get(ids, k);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= n_vocab) {
            req_fail(e, 400, "input", "invalid_value", "'input[%zu]' holds something other than a token id in [0, %d)", idx,
                     n_vocab);
            return -1;
        }
        it->toks[k] = (int32_t)json_integer_value(t);
    }
    return 0;
}

static int add_text(embed_inputs *in, const model_entry *me, json_t *s, req_err *e) {
    embed_input *it = &in->v[in->count];
    infer_status st;
    it->toks = tool_tokenize(me->model, json_string_value(s), json_string_length(s), infer_model_add_bos(me->model), 0,
                             &it->n, &st);
    if (!it->toks) {
        req_fail(e, 400, "input", NULL, "cannot tokenize the input: %s", infer_status_str(st));
        return -1;
    }
    in->count++;
    return 0;
}

/* input: a string, strings, token ids, or arrays of token ids. Inputs longer than the
 * context are cut when truncate, refused otherwise. */
static int collect(const model_entry *me, json_t *input, int truncate, embed_inputs *in, req_err *e) {
    int32_t n_vocab = infer_model_n_vocab(me->model);
    size_t max = sched_slot_ctx(me->sched);
    int one = json_is_string(input) || (json_is_array(input) && json_array_size(input) > 0 &&
                                        json_is_integer(json_array_get(input, 0)));
    size_t count = one ? 1 : json_array_size(input);
    if (!json_is_string(input) && (!json_is_array(input) || count == 0)) {
        req_fail(e, 400, "input", "invalid_type", "'input' must be a string, an array of strings or of token ids");
        return -1;
    }
    in->v = calloc(count, sizeof *in->v);
    if (!in->v) {
        req_fail(e, 500, NULL, NULL, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *x = one ? input : json_array_get(input, i);
        int rc;
        if (json_is_string(x)) rc = add_text(in, me, x, e);
        else if (json_is_array(x) && (one || json_array_size(x) > 0)) rc = add_tokens(in, one ? input : x, n_vocab, i, e);
        else {
            req_fail(e, 400, "input", "invalid_type", "'input[%zu]' must be a string or an array of token ids", i);
            rc = -1;
        }
        if (rc != 0) {
            if (!e->msg[0]) req_fail(e, 500, NULL, NULL, "out of memory");
            return -1;
        }
        embed_input *it = &in->v[in->count - 1];
        if (it->n == 0) {
            req_fail(e, 400, "input", "invalid_value", "'input[%zu]' is empty", i);
            return -1;
        }
        if (it->n > max) {
            if (!truncate) {
                req_fail(e, 400, "input", "context_length_exceeded", "'input[%zu]' has %zu tokens; the context holds %zu", i,
                         it->n, max);
                return -1;
            }
            it->n = max;
        }
    }
    return 0;
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* OpenAI's encoding_format "base64": the little-endian float32 bytes, base64-encoded. */
static json_t *base64_floats(const float *v, size_t n) {
    const unsigned char *b = (const unsigned char *)v;   /* x86 and ARM Linux are little-endian */
    size_t len = n * sizeof *v;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t w = (uint32_t)b[i] << 16 | (i + 1 < len ? (uint32_t)b[i + 1] << 8 : 0) | (i + 2 < len ? b[i + 2] : 0);
        out[o++] = B64[w >> 18 & 63];
        out[o++] = B64[w >> 12 & 63];
        out[o++] = i + 1 < len ? B64[w >> 6 & 63] : '=';
        out[o++] = i + 2 < len ? B64[w & 63] : '=';
    }
    out[o] = '\0';
    json_t *s = json_string(out);
    free(out);
    return s;
}

static json_t *float_array(const float *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

static void embed(http_req *r, int ollama) {
    json_t *b;
    double load_s;
    model_entry *me = req_body_model(r, &b, &load_s);
    if (!me) return;
    req_err e = {0};
    embed_inputs in = {0};
    json_t *list = json_array();
    float *vec = malloc((size_t)infer_model_n_embd(me->model) * sizeof *vec);
    int truncate = ollama, b64 = 0;
    const char *fmt = NULL;
    if (!vec) {
        req_fail(&e, 500, NULL, NULL, "out of memory");
        goto fail;
    }
    if (ollama && req_bool(b, "truncate", &truncate, &e) < 0) goto fail;
    if (!ollama) {
        if (req_string(b, "encoding_format", &fmt, NULL, &e) < 0) goto fail;
        if (fmt && strcmp(fmt, "float") != 0 && strcmp(fmt, "base64") != 0) {
            req_fail(&e, 400, "encoding_format", "invalid_value", "'encoding_format' must be \"float\" or \"base64\"");
            goto fail;
        }
        b64 = fmt && strcmp(fmt, "base64") == 0;
        if (json_object_get(b, "dimensions")) {
            req_fail(&e, 400, "dimensions", "unsupported", "'dimensions' is not supported");
            goto fail;
        }
    }
    if (collect(me, json_object_get(b, "input"), truncate, &in, &e) < 0) goto fail;
    size_t n_tok = 0, n_embd = (size_t)infer_model_n_embd(me->model);
    for (size_t i = 0; i < in.count; i++) {
        char err[512];
        if (registry_embed(r->srv->reg, me, in.v[i].toks, in.v[i].n, vec, err, sizeof err) != 0) {
            req_fail(&e, 500, NULL, NULL, "%s", err);
            goto fail;
        }
        n_tok += in.v[i].n;
        if (ollama) json_array_append_new(list, float_array(vec, n_embd));
        else
            json_array_append_new(list, json_pack("{s:s,s:i,s:o}", "object", "embedding", "index", (int)i, "embedding",
                                                  b64 ? base64_floats(vec, n_embd) : float_array(vec, n_embd)));
    }
    if (ollama)
        http_send_json(r, 200, json_pack("{s:s,s:o,s:I,s:I,s:I}", "model", me->info.name, "embeddings", list,
                                         "total_duration", (json_int_t)((tool_now_s() - r->t0) * 1e9), "load_duration",
                                         (json_int_t)(load_s * 1e9), "prompt_eval_count", (json_int_t)n_tok));
    else
        http_send_json(r, 200, json_pack("{s:s,s:o,s:s,s:{s:I,s:I}}", "object", "list", "data", list, "model", me->info.name,
                                         "usage", "prompt_tokens", (json_int_t)n_tok, "total_tokens", (json_int_t)n_tok));
    list = NULL;
    goto done;
fail:
    req_answer_error(r, &e);
done:
    json_decref(list);
    inputs_free(&in);
    free(vec);
    json_decref(b);
    registry_release(r->srv->reg, me);
}

void openai_embeddings(http_req *r) { embed(r, 0); }
void ollama_embed(http_req *r) { embed(r, 1); }
