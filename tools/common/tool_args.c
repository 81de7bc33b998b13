#include "tool_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tool_ctx_opts_init(tool_ctx_opts *o) {
    memset(o, 0, sizeof *o);
    o->device = -1;
    o->backend = INFER_BACKEND_AUTO;
}

infer_ctx_params tool_ctx_params(const tool_ctx_opts *o) {
    infer_ctx_params cp = infer_ctx_default_params();
    cp.n_ctx = (uint32_t)(o->n_ctx > 0 ? o->n_ctx : 0);
    cp.n_batch = (uint32_t)(o->n_batch > 0 ? o->n_batch : 0);
    cp.n_threads = o->n_threads;
    cp.kv_type = o->kv_f16 ? INFER_KV_F16 : INFER_KV_F32;
    cp.backend = o->backend;
    cp.device_index = o->device;
    return cp;
}

int tool_parse_backend(const char *name, infer_backend_kind *out) {
    if (strcmp(name, "auto") == 0) *out = INFER_BACKEND_AUTO;
    else if (strcmp(name, "cpu") == 0) *out = INFER_BACKEND_CPU;
    else if (strcmp(name, "vulkan") == 0) *out = INFER_BACKEND_VULKAN;
    else return -1;
    return 0;
}

int tool_model_option(const char *name, const char *value, tool_ctx_opts *ctx, infer_sampler_params *sp) {
    if (strcmp(name, "--kv-f16") == 0) {
        ctx->kv_f16 = 1;
        return 1;
    }
    if (!value) return 0;
#define IS(opt) (strcmp(name, opt) == 0)
    if (IS("-t") || IS("--threads")) ctx->n_threads = atoi(value);
    else if (IS("-c") || IS("--ctx-size")) ctx->n_ctx = atoi(value);
    else if (IS("-b") || IS("--batch-size")) ctx->n_batch = atoi(value);
    else if (IS("--device")) ctx->device = atoi(value);
    else if (IS("--backend")) {
        if (tool_parse_backend(value, &ctx->backend) != 0) {
            fprintf(stderr, "unknown backend '%s'\n", value);
            return -1;
        }
    } else if (IS("--temp")) sp->temperature = strtof(value, NULL);
    else if (IS("--top-k")) sp->top_k = atoi(value);
    else if (IS("--top-p")) sp->top_p = strtof(value, NULL);
    else if (IS("--min-p")) sp->min_p = strtof(value, NULL);
    else if (IS("--repeat-penalty")) sp->repeat_penalty = strtof(value, NULL);
    else if (IS("--presence-penalty")) sp->presence_penalty = strtof(value, NULL);
    else if (IS("--frequency-penalty")) sp->frequency_penalty = strtof(value, NULL);
    else if (IS("--repeat-last-n")) sp->penalty_last_n = atoi(value);
    else if (IS("--seed")) sp->seed = strtoull(value, NULL, 10);
    else return 0;
#undef IS
    return 2;
}

int tool_open_model(const char *path, const tool_ctx_opts *o, infer_model **m, infer_ctx **c) {
    infer_error err = {0};
    *m = NULL;
    *c = NULL;
    if (infer_model_load(path, NULL, m, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        return -1;
    }
    infer_ctx_params cp = tool_ctx_params(o);
    if (infer_ctx_new(*m, &cp, c, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        infer_model_free(*m);
        *m = NULL;
        return -1;
    }
    fprintf(stderr, "KV cache: %.1f MiB reserved for %u positions (%s)\n", infer_ctx_kv_bytes(*c) / 1048576.0,
            infer_ctx_n_ctx(*c), cp.kv_type == INFER_KV_F16 ? "F16" : "F32");
    if (*infer_ctx_backend_note(*c)) fprintf(stderr, "note: %s\n", infer_ctx_backend_note(*c));
    return 0;
}
