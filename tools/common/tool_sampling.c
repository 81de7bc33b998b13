#include "tool_sampling.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool_util.h"

int tool_sampling_option(const char *name, const char *value, tool_sampling_opts *o) {
    if (strcmp(name, "-j") == 0 || strcmp(name, "--json") == 0) {
        o->json_object = 1;
        return 1;
    }
    if (!value) return 0;
#define IS(opt) (strcmp(name, opt) == 0)
    if (IS("--grammar")) o->grammar = value;
    else if (IS("--grammar-file")) o->grammar_file = value;
    else if (IS("--json-schema")) o->schema_file = value;
    else if (IS("--logprobs")) o->logprobs = atoi(value);
    else if (IS("--stop")) {
        if (o->n_stops == TOOL_MAX_STOPS) {
            fprintf(stderr, "at most %d --stop strings\n", TOOL_MAX_STOPS);
            return -1;
        }
        o->stops[o->n_stops++] = value;
    } else return 0;
#undef IS
    return 2;
}

int tool_sampler_make(const infer_model *m, const infer_sampler_params *sp, const tool_sampling_opts *o,
                      infer_sampler **out) {
    infer_error err = {0};
    *out = NULL;
    int n_sources = !!o->grammar + !!o->grammar_file + !!o->schema_file + !!o->json_object;
    if (n_sources > 1) {
        fprintf(stderr, "error: use one of --grammar, --grammar-file, --json-schema, -j\n");
        return -1;
    }
    infer_sampler *s;
    if (infer_sampler_chain_new(m, 0, sp->seed, &s, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        return -1;
    }
    infer_status st = INFER_OK;
    const char *what = NULL;
    if (o->grammar) {
        what = "--grammar";
        st = infer_sampler_add_grammar(s, o->grammar, strlen(o->grammar), NULL);
    } else if (o->json_object) {
        what = "-j";
        const char *g = infer_json_object_grammar();
        st = infer_sampler_add_grammar(s, g, strlen(g), NULL);
    } else if (o->grammar_file || o->schema_file) {
        const char *path = o->grammar_file ? o->grammar_file : o->schema_file;
        what = path;
        size_t len = 0;
        char *text = tool_read_file(path, &len);
        if (!text) {
            fprintf(stderr, "error: cannot read %s\n", path);
            infer_sampler_free(s);
            return -1;
        }
        st = o->grammar_file ? infer_sampler_add_grammar(s, text, len, NULL) : infer_sampler_add_json_schema(s, text, len);
        free(text);
    }
    if (st == INFER_OK) st = infer_sampler_add_defaults(s, sp);
    if (st != INFER_OK) {
        fprintf(stderr, "error: %s: %s\n", what ? what : "sampler", infer_sampler_last_error(s));
        infer_sampler_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* The token's bytes, printable: control characters and quotes escaped. */
static void print_token(const infer_model *m, int32_t tok) {
    char buf[256];
    size_t n = 0;
    if (infer_token_to_bytes(m, tok, buf, sizeof buf, &n) != INFER_OK) n = 0;
    fputc('"', stderr);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '"' || c == '\\') fprintf(stderr, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) fprintf(stderr, "\\x%02x", c);
        else fputc(c, stderr);
    }
    fputc('"', stderr);
}

void tool_print_logprobs(const infer_model *m, const float *logits, int32_t tok, int top_n) {
    int32_t nv = infer_model_n_vocab(m), n_top = 0;
    if (top_n > 64) top_n = 64;
    infer_token_logprob top[64];
    float lp = 0.0f;
    if (infer_logprobs(logits, nv, tok, &lp, top, top_n, &n_top) != INFER_OK) return;
    fprintf(stderr, "[logprob] %d ", tok);
    print_token(m, tok);
    fprintf(stderr, " %.4f |", lp);
    for (int32_t i = 0; i < n_top; i++) {
        fprintf(stderr, " %d ", top[i].token);
        print_token(m, top[i].token);
        fprintf(stderr, " %.4f", top[i].logprob);
    }
    fputc('\n', stderr);
}
