/*
 * infer-bench: prompt-processing and generation speed, llama-bench style.
 *
 *   infer-bench -m MODEL [-p 512] [-n 128] [-t 1,2] [-r 5] [--backend auto|cpu|vulkan]
 *               [--device I] [-ngl N|all|auto] [--n-cpu-moe N] [--peak-gbps X] [--kv-f32]
 *               [-c CTX] [-o md|json|jsonl|csv]
 *
 * For every thread count a fresh context is made; each test runs once to warm up and
 * then REPS times:
 *   ppP = P tokens in one batch from an empty cache (only the last token's logits kept);
 *   tgN = N tokens one per decode call from an empty cache (logits of every token).
 * Token ids are drawn from a fixed-seed generator (speed does not depend on them).
 * t/s is the mean over the repetitions, +/- the sample standard deviation.
 * GB/s (tg only) = weight bytes one generated token reads x t/s; the bytes are summed
 * from the GGUF tensor table: all weights except the token embedding table (one row is
 * read, unless it doubles as the output head), and only expert_used/expert_count of the
 * MoE expert tensors.
 * --bandwidth GBPS (the machine's read bandwidth, e.g. from bench/bench_bandwidth) adds
 * each tg row's share of it (JSON: bandwidth_gbps, bandwidth_fraction; tg rows always
 * carry weight_bytes_per_token and gbps).
 * The KV cache is F16 by default, as llama-bench's is (--kv-f32 for an F32 cache).
 * Every row also carries the process's peak RSS so far and the model load time.
 * -o json|jsonl|csv use llama-bench's field names (see tools/common/bench_report.h).
 * GPU rows also give the GB/s of the weights read from GPU memory
 * (infer_ctx_gpu_bytes_per_token) and its share of the device's peak (--peak-gbps, or
 * tools/common/device_peak.c's table of known GPUs).
 * Only the public API (infer.h) is used.
 */
#include "infer.h"
#include "bench_report.h"
#include "device_peak.h"
#include "tool_args.h"
#include "tool_numbers.h"
#include "tool_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_LIST 16

typedef struct bench_opts {
    const char *model_path;
    int n_prompt[BENCH_MAX_LIST];   /* pp sizes; 0 entries are skipped */
    int n_prompt_count;
    int n_gen[BENCH_MAX_LIST];      /* tg sizes */
    int n_gen_count;
    int threads[BENCH_MAX_LIST];
    int threads_count;
    int reps;
    int n_ctx;                      /* 0: largest p + largest n */
    infer_backend_kind backend;
    int device;
    int n_gpu_layers, n_cpu_moe;    /* -ngl, --n-cpu-moe */
    float peak_gbps;                /* --peak-gbps; 0: the device table */
    int kv_f16;
    int force_threads;              /* --force-threads: no capping to the online cores */
    double bandwidth_gbps;          /* --bandwidth: memory read GB/s to compare tg with; 0 = none */
    bench_format format;
} bench_opts;

static void usage(FILE *f, const char *argv0) {
    (void)argv0;
    fprintf(f,
            "usage: infer-bench -m MODEL [options]\n"
            "  -p N[,N...]        prompt sizes, one batch each (default 512; 0 = none)\n"
            "  -n N[,N...]        generated tokens, one per call (default 128; 0 = none)\n"
            "  -t T[,T...]        thread counts (default: number of cores online; more are capped to that)\n"
            "  --force-threads    keep thread counts above the number of cores online\n"
            "  -r REPS            repetitions after one warm-up (default 5)\n"
            "  -c CTX             context size (default: largest p + largest n)\n"
            "  --backend B        auto | cpu | vulkan (default auto)\n"
            "  --device I         Vulkan device index (default: INFER_VK_DEVICE or first)\n"
            "  -ngl N             layers on the GPU: N | all | auto (default auto)\n"
            "  --n-cpu-moe N      keep the MoE experts of the first N layers on the CPU\n"
            "  --peak-gbps X      the GPU's peak bandwidth for the %% of peak (default: a table of known GPUs)\n"
            "  --kv-f16           F16 KV cache (the default, as in llama-bench)\n"
            "  --kv-f32           F32 KV cache\n"
            "  -o FMT             md | json | jsonl | csv (default md; llama-bench's field names)\n"
            "  --bandwidth GBPS   memory read bandwidth (bench-bench_bandwidth): tg rows show their share\n"
            "  -h, --help         this text;  --version  the library version\n");
}

/* Parses "a,b,c" of ints in [min, max] into out (each item through the shared parser,
 * which names the option); returns the count, or -1 after printing why. */
static int parse_int_list(const char *opt, const char *s, int min, int max, int *out, int cap) {
    int n = 0;
    char item[32];
    while (*s) {
        size_t len = strcspn(s, ",");
        if (n == cap) {
            fprintf(stderr, "error: %s: more than %d values\n", opt, cap);
            return -1;
        }
        if (len >= sizeof item) len = sizeof item - 1;   /* too long for any valid number */
        memcpy(item, s, len);
        item[len] = '\0';
        if (tool_parse_int(opt, item, min, max, &out[n]) != 0) return -1;
        n++;
        s += strcspn(s, ",");
        if (*s == ',' && *++s == '\0') break;   /* a trailing comma ends the list */
    }
    if (n == 0) fprintf(stderr, "error: %s: an empty list\n", opt);
    return n > 0 ? n : -1;
}

/* 0: run; 1: --help/--version printed (exit 0); -1: a usage error (already reported). */
static int parse_args(int argc, char **argv, bench_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_prompt[0] = 512; o->n_prompt_count = 1;
    o->n_gen[0] = 128; o->n_gen_count = 1;
    o->reps = 5;
    o->backend = INFER_BACKEND_AUTO;
    o->device = -1;
    o->n_gpu_layers = INFER_GPU_LAYERS_AUTO;
    o->kv_f16 = 1;
    o->format = BENCH_MD;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (tool_help_or_version(a, argv[0], usage)) return 1;
        if (!strcmp(a, "--kv-f16")) { o->kv_f16 = 1; continue; }
        if (!strcmp(a, "--kv-f32")) { o->kv_f16 = 0; continue; }
        if (!strcmp(a, "--force-threads")) { o->force_threads = 1; continue; }
        if (!v) { fprintf(stderr, "error: %s needs a value (or is unknown)\n", a); return -1; }
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model_path = v;
        else if (!strcmp(a, "-p")) ok = (o->n_prompt_count = parse_int_list(a, v, 0, 1000000, o->n_prompt, BENCH_MAX_LIST)) > 0;
        else if (!strcmp(a, "-n")) ok = (o->n_gen_count = parse_int_list(a, v, 0, 1000000, o->n_gen, BENCH_MAX_LIST)) > 0;
        else if (!strcmp(a, "-t")) ok = (o->threads_count = parse_int_list(a, v, 1, 4096, o->threads, BENCH_MAX_LIST)) > 0;
        else if (!strcmp(a, "-ngl") || !strcmp(a, "--n-gpu-layers")) ok = tool_parse_gpu_layers(a, v, &o->n_gpu_layers) == 0;
        else if (!strcmp(a, "--n-cpu-moe")) ok = tool_parse_int(a, v, 0, 1 << 20, &o->n_cpu_moe) == 0;
        else if (!strcmp(a, "--peak-gbps")) ok = tool_parse_float(a, v, 1e-3, 1e6, &o->peak_gbps) == 0;
        else if (!strcmp(a, "-r")) ok = tool_parse_int(a, v, 1, 1000000, &o->reps) == 0;
        else if (!strcmp(a, "-c")) ok = tool_parse_int(a, v, 1, 1 << 30, &o->n_ctx) == 0;
        else if (!strcmp(a, "--bandwidth")) {
            float gbps = 0;
            ok = tool_parse_float(a, v, 0.001, 1e6, &gbps) == 0;
            o->bandwidth_gbps = gbps;
        }
        else if (!strcmp(a, "--device")) ok = tool_parse_int(a, v, -1, 1023, &o->device) == 0;
        else if (!strcmp(a, "--backend")) {
            ok = tool_parse_backend(v, &o->backend) == 0;
            if (!ok) fprintf(stderr, "error: --backend: unknown backend '%s' (auto, cpu or vulkan)\n", v);
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            ok = bench_parse_format(v, &o->format) == 0;
            if (!ok) fprintf(stderr, "error: -o: unknown format '%s' (md, json, jsonl or csv)\n", v);
        } else { fprintf(stderr, "error: unknown option '%s'\n", a); return -1; }
        if (!ok) return -1;
        i++;
    }
    if (!o->model_path) { fprintf(stderr, "error: -m MODEL is required\n"); return -1; }
    if (o->threads_count == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        o->threads[0] = cores > 0 ? (int)cores : 1;
        o->threads_count = 1;
    }
    for (int i = 0; i < o->threads_count; i++) o->threads[i] = tool_cap_threads(o->threads[i], o->force_threads);
    return 0;
}

/* ---------------------------------------------------------------- weight bytes per token */

static int key_int(const infer_gguf *g, const char *arch, const char *suffix, int64_t dflt) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t i = infer_gguf_find_key(g, key);
    return i < 0 ? (int)dflt : (int)infer_gguf_kv_int(g, i);
}

/* Bytes of weights one generated token reads (see the header comment); 0 if unknown. */
static double weight_bytes_per_token(const char *path) {
    infer_gguf *g = NULL;
    if (infer_gguf_open_split(path, &g, NULL) != INFER_OK) return 0;   /* all parts of a split model */
    char arch[64] = "";
    int64_t ai = infer_gguf_find_key(g, "general.architecture");
    if (ai >= 0) {
        uint64_t len = 0;
        const char *s = infer_gguf_kv_str(g, ai, &len);
        if (s && len < sizeof arch) { memcpy(arch, s, len); arch[len] = '\0'; }
    }
    int n_expert = key_int(g, arch, "expert_count", 0);
    int n_used = key_int(g, arch, "expert_used_count", 0);
    int tied = infer_gguf_find_tensor(g, "output.weight") < 0;
    double bytes = 0;
    for (int64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
        const char *name = infer_gguf_tensor_name(g, i);
        double b = (double)infer_gguf_tensor_bytes(g, i);
        if (!strcmp(name, "token_embd.weight") && !tied) continue;
        if (n_expert > 0 && n_used > 0 && strstr(name, "_exps")) b = b * n_used / n_expert;
        bytes += b;
    }
    infer_gguf_close(g);
    return bytes;
}

/* ---------------------------------------------------------------- timing */

/* Fixed-seed xorshift: the same ids every run, any valid id. */
static void fill_tokens(int32_t *tok, int n, int32_t n_vocab, uint64_t seed) {
    uint64_t x = seed * 2654435761u + 88172645463325252ull;
    for (int i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        tok[i] = (int32_t)(x % (uint64_t)n_vocab);
    }
}

/* One prompt of n tokens in a single decode from an empty cache; seconds or <0. */
static double run_pp(infer_ctx *c, const int32_t *tok, int n) {
    infer_ctx_kv_clear(c);
    double t0 = tool_now_s();
    if (infer_ctx_decode(c, tok, NULL, NULL, n) != INFER_OK) return -1;
    return tool_now_s() - t0;
}

/* n tokens, one decode call each, from an empty cache; seconds or <0. */
static double run_tg(infer_ctx *c, const int32_t *tok, int n) {
    infer_ctx_kv_clear(c);
    double t0 = tool_now_s();
    for (int i = 0; i < n; i++) {
        if (infer_ctx_decode(c, &tok[i], NULL, NULL, 1) != INFER_OK) return -1;
        /* Touch the logits as a real generation loop would. */
        const float *logits = infer_ctx_logits(c, 0);
        if (!logits) return -1;
        volatile float sink = logits[0];
        (void)sink;
    }
    return tool_now_s() - t0;
}

/* Runs warm-up + reps of one test and reports its row (filled in from *proto); 0 or -1. */
static int bench_test(infer_ctx *c, bench_report *rep, const bench_result *proto, int is_pp, int n,
                      const int32_t *tok, int reps, double bytes_per_token, double gpu_bytes_per_token) {
    uint64_t *ns = calloc((size_t)reps, sizeof *ns);
    double *tps = calloc((size_t)reps, sizeof *tps);
    if (!ns || !tps) { free(ns); free(tps); return -1; }
    bench_result r = *proto;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r.test_time, sizeof r.test_time, "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* Warm-up like llama-bench: the whole prompt for pp, a single token for tg. */
    double t = is_pp ? run_pp(c, tok, n) : run_tg(c, tok, 1);
    for (int i = 0; t >= 0 && i < reps; i++) {
        t = is_pp ? run_pp(c, tok, n) : run_tg(c, tok, n);
        ns[i] = (uint64_t)(t * 1e9);
        if (t > 0) tps[i] = n / t;
    }
    if (t < 0) {
        fprintf(stderr, "error: decode failed: %s\n", infer_ctx_last_error(c));
        free(ns); free(tps);
        return -1;
    }
    r.n_prompt = is_pp ? n : 0;
    r.n_gen = is_pp ? 0 : n;
    r.samples_ns = ns;
    r.samples_ts = tps;
    r.reps = reps;
    double mean = 0;
    for (int i = 0; i < reps; i++) mean += tps[i] / reps;
    r.gbs = !is_pp && bytes_per_token > 0 ? mean * bytes_per_token / 1e9 : 0;
    r.weight_bytes_per_token = is_pp ? 0 : bytes_per_token;
    r.peak_rss_bytes = bench_peak_rss_bytes();
    r.gpu_gbs = !is_pp && gpu_bytes_per_token > 0 ? mean * gpu_bytes_per_token / 1e9 : 0;
    bench_report_row(rep, &r);
    free(ns); free(tps);
    return 0;
}

int main(int argc, char **argv) {
    bench_opts o;
    int pr = parse_args(argc, argv, &o);
    if (pr != 0) return tool_parse_exit(pr, argv[0], usage);

    int max_p = 0, max_n = 0;
    for (int i = 0; i < o.n_prompt_count; i++) max_p = o.n_prompt[i] > max_p ? o.n_prompt[i] : max_p;
    for (int i = 0; i < o.n_gen_count; i++) max_n = o.n_gen[i] > max_n ? o.n_gen[i] : max_n;
    int n_ctx = o.n_ctx > 0 ? o.n_ctx : max_p + max_n;
    if (n_ctx < max_p || n_ctx < max_n || n_ctx == 0) {
        fprintf(stderr, "error: context %d too small for p=%d / n=%d\n", n_ctx, max_p, max_n);
        return 1;
    }

    infer_error err = {0};
    infer_model *m = NULL;
    infer_model_params mp = infer_model_default_params();
    double t_load = tool_now_s();
    if (infer_model_load(o.model_path, &mp, &m, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        return 1;
    }
    t_load = tool_now_s() - t_load;
    double bytes_per_token = weight_bytes_per_token(o.model_path);

    int n_tok = max_p > max_n ? max_p : max_n;
    int32_t *tok = malloc(sizeof *tok * (size_t)(n_tok > 0 ? n_tok : 1));
    if (!tok) { infer_model_free(m); return 1; }
    fill_tokens(tok, n_tok, infer_model_n_vocab(m), 42);

    char cpu_info[256], model_type[128];
    bench_cpu_info(cpu_info, sizeof cpu_info);
    double np = (double)infer_model_n_params(m);   /* llama-bench style: "llama 1.5B" */
    if (np >= 1e9) snprintf(model_type, sizeof model_type, "%s %.1fB", infer_model_arch(m), np / 1e9);
    else snprintf(model_type, sizeof model_type, "%s %.0fM", infer_model_arch(m), np / 1e6 < 1 ? 1 : np / 1e6);
    bench_result row = {0};
    row.model_filename = o.model_path;
    row.model_type = model_type;
    row.model_size = infer_model_size_bytes(m);
    row.model_n_params = infer_model_n_params(m);
    row.cpu_info = cpu_info;
    row.type_kv = o.kv_f16 ? "f16" : "f32";
    row.load_time_ms = t_load * 1e3;
    row.bandwidth_gbps = o.bandwidth_gbps;

    fprintf(stderr, "infer-bench: %s (%s, %d layers) loaded in %.2f s; %d reps after 1 warm-up\n",
            infer_model_arch(m), o.model_path, infer_model_n_layer(m), t_load, o.reps);
    bench_report rep;
    int status = 0, header_done = 0;
    for (int ti = 0; ti < o.threads_count && status == 0; ti++) {
        infer_ctx_params cp = infer_ctx_default_params();
        cp.n_ctx = (uint32_t)n_ctx;
        cp.n_batch = (uint32_t)(max_p > 0 ? max_p : 1);   /* a prompt is one forward step */
        cp.n_threads = o.threads[ti];
        cp.kv_type = o.kv_f16 ? INFER_KV_F16 : INFER_KV_F32;
        cp.backend = o.backend;
        cp.device_index = o.device;
        cp.n_gpu_layers = o.n_gpu_layers;
        cp.n_cpu_moe = o.n_cpu_moe;
        infer_ctx *c = NULL;
        if (infer_ctx_new(m, &cp, &c, &err) != INFER_OK) {
            fprintf(stderr, "error: context: %s\n", err.message);
            status = 1;
            break;
        }
        if (!header_done) {   /* after the first context, so a backend error prints no table */
            fprintf(stderr, "infer-bench: KV cache %.1f MiB for %d positions\n", infer_ctx_kv_bytes(c) / 1048576.0,
                    n_ctx);
            bench_report_begin(&rep, o.format, stdout);
            header_done = 1;
        }
        row.backends = infer_ctx_backend_name(c);
        row.device = infer_ctx_device_name(c);
        const double gpu_bpt = (double)infer_ctx_gpu_bytes_per_token(c);
        row.peak_gbps = o.peak_gbps > 0 ? o.peak_gbps : device_peak_gbps(row.device);
        if (gpu_bpt > 0)
            fprintf(stderr, "infer-bench: placement: %s; %.1f MiB of GPU weights read per token, peak %s\n",
                    infer_ctx_placement(c), gpu_bpt / 1048576.0, row.peak_gbps > 0 ? "known" : "unknown (--peak-gbps)");
        row.n_threads = o.threads[ti];
        row.n_batch = (int)cp.n_batch;
        for (int i = 0; i < o.n_prompt_count && status == 0; i++)
            if (o.n_prompt[i] > 0 && bench_test(c, &rep, &row, 1, o.n_prompt[i], tok, o.reps, bytes_per_token, gpu_bpt) != 0)
                status = 1;
        for (int i = 0; i < o.n_gen_count && status == 0; i++)
            if (o.n_gen[i] > 0 && bench_test(c, &rep, &row, 0, o.n_gen[i], tok, o.reps, bytes_per_token, gpu_bpt) != 0)
                status = 1;
        infer_ctx_free(c);
    }
    if (header_done) bench_report_end(&rep);
    free(tok);
    infer_model_free(m);
    return status;
}
