#include "tool_args.h"
#include "model_ref.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool_numbers.h"

/* The library refuses larger contexts (src/models/context.c); saying so at parse time
 * names the option instead of the library parameter. */
#define TOOL_MAX_CTX (1 << 30)
#define TOOL_MAX_THREADS 4096
#define TOOL_MAX_LAYERS (1 << 20)   /* more than any model has: "all" */

const char TOOL_CTX_OPTIONS_HELP[] =
    "  -t N, --threads N      worker threads (default: cores online; more are capped to that)\n"
    "  --force-threads        keep a -t above the number of cores online\n"
    "  -c N, --ctx-size N     context size in tokens (0: the model's, at most 4096)\n"
    "  -b N, --batch-size N   tokens per forward step (0: 512)\n"
    "  --backend B            auto | cpu | vulkan (default auto)\n"
    "  --device I             Vulkan device index (default: INFER_VK_DEVICE or the first)\n"
    "  --kv-f16               F16 KV cache instead of F32\n"
    "  -ngl N, --n-gpu-layers N  layers on the GPU, from the last: N | all | auto (default auto:\n"
    "                         as many as fit in the GPU's memory, the rest on the CPU)\n"
    "  --n-cpu-moe N          keep the MoE experts of the first N layers on the CPU\n"
    "  -h, --help             this text;  --version  the library version\n";

void tool_ctx_opts_init(tool_ctx_opts *o) {
    memset(o, 0, sizeof *o);
    o->device = -1;
    o->backend = INFER_BACKEND_AUTO;
    o->n_gpu_layers = INFER_GPU_LAYERS_AUTO;
}

int tool_cap_threads(int requested, int force) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (requested <= 0 || force || cores <= 0 || requested <= cores) return requested;
    fprintf(stderr, "warning: -t %d is more than the %ld cores online; using %ld (--force-threads keeps %d)\n",
            requested, cores, cores, requested);
    return (int)cores;
}

infer_ctx_params tool_ctx_params(const tool_ctx_opts *o) {
    infer_ctx_params cp = infer_ctx_default_params();
    cp.n_ctx = (uint32_t)(o->n_ctx > 0 ? o->n_ctx : 0);
    cp.n_batch = (uint32_t)(o->n_batch > 0 ? o->n_batch : 0);
    cp.n_threads = tool_cap_threads(o->n_threads, o->force_threads);
    cp.kv_type = o->kv_f16 ? INFER_KV_F16 : INFER_KV_F32;
    cp.backend = o->backend;
    cp.device_index = o->device;
    cp.n_gpu_layers = o->n_gpu_layers;
    cp.n_cpu_moe = o->n_cpu_moe;
    return cp;
}

int tool_help_or_version(const char *arg, const char *argv0, void (*usage)(FILE *out, const char *argv0)) {
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
        usage(stdout, argv0);
        return 1;
    }
    if (strcmp(arg, "--version") == 0) {
        const char *base = strrchr(argv0, '/');
        printf("%s (libinfer %s)\n", base ? base + 1 : argv0, infer_version());
        return 1;
    }
    return 0;
}

int tool_parse_exit(int parse_result, const char *argv0, void (*usage)(FILE *out, const char *argv0)) {
    if (parse_result > 0) return 0;
    usage(stderr, argv0);
    return 2;
}

int tool_parse_backend(const char *name, infer_backend_kind *out) {
    if (strcmp(name, "auto") == 0) *out = INFER_BACKEND_AUTO;
    else if (strcmp(name, "cpu") == 0) *out = INFER_BACKEND_CPU;
    else if (strcmp(name, "vulkan") == 0) *out = INFER_BACKEND_VULKAN;
    else return -1;
    return 0;
}

int tool_parse_gpu_layers(const char *option, const char *value, int *out) {
    if (strcmp(value, "auto") == 0) *out = INFER_GPU_LAYERS_AUTO;
    else if (strcmp(value, "all") == 0 || strcmp(value, "-1") == 0) *out = INFER_GPU_LAYERS_ALL;   /* -1: llama.cpp's all */
    else if (tool_parse_int(option, value, 0, TOOL_MAX_LAYERS, out) != 0) {
        fprintf(stderr, "error: %s takes a layer count, all or auto\n", option);
        return -1;
    }
    return 0;
}

/* The options of tool_model_option that take a value. */
static const char *const VALUE_OPTIONS[] = {
    "-t", "--threads", "-c", "--ctx-size", "-b", "--batch-size", "--device", "--backend",
    "-ngl", "--n-gpu-layers", "--gpu-layers", "--n-cpu-moe", "-ncmoe",
};
static const char *const SAMPLER_OPTIONS[] = {
    "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--presence-penalty",
    "--frequency-penalty", "--repeat-last-n", "--seed",
};

static int in_list(const char *name, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0) return 1;
    return 0;
}

int tool_model_option(const char *name, const char *value, tool_ctx_opts *ctx, infer_sampler_params *sp) {
    if (strcmp(name, "--kv-f16") == 0) {
        ctx->kv_f16 = 1;
        return 1;
    }
    if (strcmp(name, "--force-threads") == 0) {
        ctx->force_threads = 1;
        return 1;
    }
    int known = in_list(name, VALUE_OPTIONS, sizeof VALUE_OPTIONS / sizeof *VALUE_OPTIONS) ||
                (sp && in_list(name, SAMPLER_OPTIONS, sizeof SAMPLER_OPTIONS / sizeof *SAMPLER_OPTIONS));
    if (!known) return 0;
    if (!value) {
        fprintf(stderr, "error: %s needs a value\n", name);
        return -1;
    }
#define IS(opt) (strcmp(name, opt) == 0)
    int rc = 0;
    if (IS("-t") || IS("--threads")) rc = tool_parse_int(name, value, 1, TOOL_MAX_THREADS, &ctx->n_threads);
    else if (IS("-c") || IS("--ctx-size")) rc = tool_parse_int(name, value, 0, TOOL_MAX_CTX, &ctx->n_ctx);
    else if (IS("-b") || IS("--batch-size")) rc = tool_parse_int(name, value, 0, TOOL_MAX_CTX, &ctx->n_batch);
    else if (IS("--device")) rc = tool_parse_int(name, value, -1, 1023, &ctx->device);
    else if (IS("-ngl") || IS("--n-gpu-layers") || IS("--gpu-layers"))
        rc = tool_parse_gpu_layers(name, value, &ctx->n_gpu_layers);
    else if (IS("--n-cpu-moe") || IS("-ncmoe")) rc = tool_parse_int(name, value, 0, TOOL_MAX_LAYERS, &ctx->n_cpu_moe);
    else if (IS("--backend")) {
        if (tool_parse_backend(value, &ctx->backend) != 0) {
            fprintf(stderr, "error: --backend: unknown backend '%s' (auto, cpu or vulkan)\n", value);
            rc = -1;
        }
    } else if (IS("--temp")) rc = tool_parse_float(name, value, 0.0, 1e6, &sp->temperature);
    else if (IS("--top-k")) rc = tool_parse_int(name, value, 0, 0x7fffffff, &sp->top_k);
    else if (IS("--top-p")) rc = tool_parse_float(name, value, 0.0, 1.0, &sp->top_p);
    else if (IS("--min-p")) rc = tool_parse_float(name, value, 0.0, 1.0, &sp->min_p);
    else if (IS("--repeat-penalty")) rc = tool_parse_float(name, value, 1e-6, 1e6, &sp->repeat_penalty);
    else if (IS("--presence-penalty")) rc = tool_parse_float(name, value, -1e6, 1e6, &sp->presence_penalty);
    else if (IS("--frequency-penalty")) rc = tool_parse_float(name, value, -1e6, 1e6, &sp->frequency_penalty);
    else if (IS("--repeat-last-n")) rc = tool_parse_int(name, value, 0, 0x7fffffff, &sp->penalty_last_n);
    else if (IS("--seed")) rc = tool_parse_u64(name, value, &sp->seed);
#undef IS
    return rc == 0 ? 2 : -1;
}

int tool_open_model(const char *path, const tool_ctx_opts *o, infer_model **m, infer_ctx **c) {
    infer_error err = {0};
    *m = NULL;
    *c = NULL;
    /* a file, or a model name downloaded by infer-pull (URL, OWNER/REPO:FILE, catalog name) */
    char why[2048] = "";
    char *file = model_resolve(path, why, sizeof why);
    if (!file) {
        fprintf(stderr, "error: %s\n", why);
        return -1;
    }
    infer_status st = infer_model_load(file, NULL, m, &err);
    free(file);
    if (st != INFER_OK) {
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
    if (infer_ctx_gpu_weight_bytes(*c) > 0 || o->backend == INFER_BACKEND_VULKAN)
        fprintf(stderr, "placement: %s\n", infer_ctx_placement(*c));
    return 0;
}
