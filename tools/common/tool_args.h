/* Command-line options shared by the tools: the context options (infer-cli, infer-chat,
 * infer-perplexity), the sampler options (infer-cli, infer-chat), the --backend name
 * every model-running tool accepts, and -h/--help/--version, which every tool answers. */
#ifndef INFER_TOOL_ARGS_H
#define INFER_TOOL_ARGS_H
#include <stdio.h>

#include "infer.h"

/* What -t/-c/-b/--backend/--device/--kv-f16/-ngl/--n-cpu-moe set; tool_ctx_params turns it into
 * infer_ctx_params. */
typedef struct tool_ctx_opts {
    int n_threads;                /* -t; 0: the library's default */
    int n_ctx, n_batch;           /* -c, -b; <= 0: the library's default */
    int device;                   /* --device; -1: INFER_VK_DEVICE or the first */
    int kv_f16;                   /* --kv-f16: F16 KV cache instead of F32 */
    int force_threads;            /* --force-threads: keep a -t above the online cores */
    infer_backend_kind backend;   /* --backend */
    int n_gpu_layers;             /* -ngl N|all|auto: INFER_GPU_LAYERS_* or N >= 0 */
    int n_cpu_moe;                /* --n-cpu-moe N */
} tool_ctx_opts;

/* Defaults: everything the library's, backend auto, device -1. */
void tool_ctx_opts_init(tool_ctx_opts *o);
/* The context parameters; a -t above the online cores is capped here (with a warning on
 * stderr) unless --force-threads was given. */
infer_ctx_params tool_ctx_params(const tool_ctx_opts *o);

/* More threads than online cores only slows a decode down (they take turns on a core):
 * returns min(requested, online cores) after a warning naming both, or requested when
 * force is set or it fits. 0 (the library's default) is returned as is. */
int tool_cap_threads(int requested, int force);

/* Options every tool understands, checked before its own: -h/--help prints usage(stdout)
 * and --version prints "<tool> (libinfer <version>)" to stdout; both return 1 (the tool
 * then exits 0). Any other argument returns 0. */
int tool_help_or_version(const char *arg, const char *argv0, void (*usage)(FILE *out, const char *argv0));

/* The exit status after a tool's argument parsing returned `parse_result` (nonzero):
 * 1 (--help/--version printed) gives 0; -1 (a usage error, already reported) prints
 * the usage to stderr and gives 2, the status every tool uses for usage errors. */
int tool_parse_exit(int parse_result, const char *argv0, void (*usage)(FILE *out, const char *argv0));

/* The usage line of the options tool_model_option parses, for the tools' usage texts. */
extern const char TOOL_CTX_OPTIONS_HELP[];

/* "auto" | "cpu" | "vulkan" -> *out; returns 0, or -1 for any other name. */
int tool_parse_backend(const char *name, infer_backend_kind *out);

/* -ngl's value: "auto", "all" (or -1) or a layer count N >= 0 (more than the model has: all)
 * -> *out (INFER_GPU_LAYERS_AUTO / INFER_GPU_LAYERS_ALL / N); returns 0, or -1 after
 * printing an error naming `option`. */
int tool_parse_gpu_layers(const char *option, const char *value, int *out);

/* Tries argv option `name` (its value `value`, NULL when it is the last argument) as a
 * context option (-t -c -b --backend --device --kv-f16 --force-threads -ngl/--n-gpu-layers
 * --n-cpu-moe) or, when sp is
 * not NULL, a sampler option (--temp --top-k --top-p --min-p --repeat-penalty
 * --presence-penalty --frequency-penalty --repeat-last-n --seed). Numbers go through
 * tool_numbers.h (range-checked). Returns how many arguments it used (1 or 2), 0 when
 * `name` is none of these, -1 for a bad or missing value (already reported). */
int tool_model_option(const char *name, const char *value, tool_ctx_opts *ctx, infer_sampler_params *sp);

/* Loads the model at path and opens a context on it with the options. Returns 0, or -1
 * after printing "error: <why>" to stderr, with nothing left open. */
int tool_open_model(const char *path, const tool_ctx_opts *o, infer_model **m, infer_ctx **c);

#endif
