#include "bench_report.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int bench_parse_format(const char *name, bench_format *out) {
    if (strcmp(name, "md") == 0) *out = BENCH_MD;
    else if (strcmp(name, "json") == 0) *out = BENCH_JSON;
    else if (strcmp(name, "jsonl") == 0) *out = BENCH_JSONL;
    else if (strcmp(name, "csv") == 0) *out = BENCH_CSV;
    else return -1;
    return 0;
}

uint64_t bench_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024u;   /* Linux reports kilobytes */
}

void bench_cpu_info(char *buf, size_t cap) {
    buf[0] = '\0';
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *v = strchr(line, ':');
        if (!v) break;
        v++;
        while (*v == ' ') v++;
        snprintf(buf, cap, "%s", v);
        buf[strcspn(buf, "\n")] = '\0';
        break;
    }
    fclose(f);
}

typedef struct row_stats { double avg_ns, stddev_ns, avg_ts, stddev_ts; } row_stats;

static void mean_sd(const double *v, int n, double *mean, double *sd) {
    double m = 0, ss = 0;
    for (int i = 0; i < n; i++) m += v[i];
    m = n > 0 ? m / n : 0;
    for (int i = 0; i < n; i++) ss += (v[i] - m) * (v[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(ss / (n - 1)) : 0;
}

static row_stats stats_of(const bench_result *r) {
    row_stats s;
    double ns[64];
    int n = r->reps < 64 ? r->reps : 64;
    for (int i = 0; i < n; i++) ns[i] = (double)r->samples_ns[i];
    mean_sd(ns, n, &s.avg_ns, &s.stddev_ns);
    mean_sd(r->samples_ts, n, &s.avg_ts, &s.stddev_ts);
    return s;
}

/* The row as a JSON object with llama-bench's keys, in llama-bench's order. */
static json_t *row_json(const bench_result *r) {
    row_stats s = stats_of(r);
    json_t *o = json_object();
    json_t *sns = json_array(), *sts = json_array();
    for (int i = 0; i < r->reps; i++) {
        json_array_append_new(sns, json_integer((json_int_t)r->samples_ns[i]));
        json_array_append_new(sts, json_real(r->samples_ts[i]));
    }
    json_object_set_new(o, "build_commit", json_string("libinfer"));
    json_object_set_new(o, "build_number", json_integer(0));
    json_object_set_new(o, "cpu_info", json_string(r->cpu_info));
    json_object_set_new(o, "gpu_info", json_string(r->device));
    json_object_set_new(o, "backends", json_string(r->backends));
    json_object_set_new(o, "model_filename", json_string(r->model_filename));
    json_object_set_new(o, "model_type", json_string(r->model_type));
    json_object_set_new(o, "model_size", json_integer((json_int_t)r->model_size));
    json_object_set_new(o, "model_n_params", json_integer((json_int_t)r->model_n_params));
    json_object_set_new(o, "n_batch", json_integer(r->n_batch));
    json_object_set_new(o, "n_ubatch", json_integer(r->n_batch));
    json_object_set_new(o, "n_threads", json_integer(r->n_threads));
    json_object_set_new(o, "type_k", json_string(r->type_kv));
    json_object_set_new(o, "type_v", json_string(r->type_kv));
    json_object_set_new(o, "n_prompt", json_integer(r->n_prompt));
    json_object_set_new(o, "n_gen", json_integer(r->n_gen));
    json_object_set_new(o, "n_depth", json_integer(0));
    json_object_set_new(o, "test_time", json_string(r->test_time));
    json_object_set_new(o, "avg_ns", json_integer((json_int_t)llround(s.avg_ns)));
    json_object_set_new(o, "stddev_ns", json_integer((json_int_t)llround(s.stddev_ns)));
    json_object_set_new(o, "avg_ts", json_real(s.avg_ts));
    json_object_set_new(o, "stddev_ts", json_real(s.stddev_ts));
    json_object_set_new(o, "samples_ns", sns);
    json_object_set_new(o, "samples_ts", sts);
    /* GPU rows: GB/s of the weights in GPU memory (tg) and its share of the device's peak;
     * on every row (0: not applicable or unknown) so CSV columns stay aligned. */
    json_object_set_new(o, "gpu_gbs", json_real(r->gpu_gbs));
    json_object_set_new(o, "gpu_peak_gbps", json_real(r->peak_gbps));
    json_object_set_new(o, "gpu_peak_pct", json_real(r->peak_gbps > 0 ? 100 * r->gpu_gbs / r->peak_gbps : 0));
    json_object_set_new(o, "peak_rss_bytes", json_integer((json_int_t)r->peak_rss_bytes));
    json_object_set_new(o, "load_time_ms", json_real(r->load_time_ms));
    /* tg rows: weights read per token, their GB/s and its share of --bandwidth; on every
     * row (0: pp, unknown or not given) so CSV columns stay aligned */
    const int tg = r->n_gen > 0 && r->weight_bytes_per_token > 0;
    json_object_set_new(o, "weight_bytes_per_token", json_integer(tg ? (json_int_t)llround(r->weight_bytes_per_token) : 0));
    json_object_set_new(o, "gbps", json_real(tg ? r->gbs : 0));
    json_object_set_new(o, "bandwidth_gbps", json_real(r->bandwidth_gbps));
    json_object_set_new(o, "bandwidth_fraction", json_real(tg && r->bandwidth_gbps > 0 ? r->gbs / r->bandwidth_gbps : 0));
    return o;
}

/* CSV field: quoted, inner quotes doubled (RFC 4180). */
static void csv_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void row_csv(FILE *f, const bench_result *r, int header) {
    json_t *o = row_json(r);
    const char *key;
    json_t *v;
    int first = 1;
    json_object_foreach(o, key, v) {
        if (!first) fputc(',', f);
        first = 0;
        if (header) { fputs(key, f); continue; }
        if (json_is_string(v)) csv_str(f, json_string_value(v));
        else if (json_is_array(v)) {   /* llama-bench joins samples with spaces, quoted */
            fputc('"', f);
            for (size_t i = 0; i < json_array_size(v); i++) {
                json_t *e = json_array_get(v, i);
                if (i) fputc(' ', f);
                if (json_is_integer(e)) fprintf(f, "%lld", (long long)json_integer_value(e));
                else fprintf(f, "%.6f", json_real_value(e));
            }
            fputc('"', f);
        } else if (json_is_integer(v)) fprintf(f, "%lld", (long long)json_integer_value(v));
        else fprintf(f, "%.6f", json_real_value(v));
    }
    fputc('\n', f);
    json_decref(o);
}

static void human_size(char *buf, size_t cap, double bytes) {
    if (bytes >= 1024.0 * 1024 * 1024) snprintf(buf, cap, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else snprintf(buf, cap, "%.2f MiB", bytes / (1024.0 * 1024));
}

static void human_params(char *buf, size_t cap, double n) {
    if (n >= 1e9) snprintf(buf, cap, "%.2f B", n / 1e9);
    else if (n >= 1e6) snprintf(buf, cap, "%.2f M", n / 1e6);
    else snprintf(buf, cap, "%.2f K", n / 1e3);
}

static void row_md(FILE *f, const bench_result *r, int header) {
    if (header) {
        fprintf(f, "| model | size | params | backend | device | threads | type_kv | test | t/s | GB/s "
                   "| peak RSS | load ms |\n");
        fprintf(f, "| --- | ---: | ---: | --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: |\n");
    }
    row_stats s = stats_of(r);
    char size[32], params[32], rss[32], test[32], gbs[64] = "";
    human_size(size, sizeof size, (double)r->model_size);
    human_params(params, sizeof params, (double)r->model_n_params);
    human_size(rss, sizeof rss, (double)r->peak_rss_bytes);
    snprintf(test, sizeof test, "%s%d", r->n_prompt > 0 ? "pp" : "tg", r->n_prompt > 0 ? r->n_prompt : r->n_gen);
    if (r->gbs > 0 && r->bandwidth_gbps > 0)   /* share of the given memory bandwidth */
        snprintf(gbs, sizeof gbs, "%.2f (%.0f%%)", r->gbs, 100.0 * r->gbs / r->bandwidth_gbps);
    else if (r->gbs > 0) snprintf(gbs, sizeof gbs, "%.2f", r->gbs);
    const char *base = strrchr(r->model_filename, '/');
    if (r->gpu_gbs > 0 && r->peak_gbps > 0)
        snprintf(gbs + strlen(gbs), sizeof gbs - strlen(gbs), " (GPU %.0f%% of %.0f)", 100 * r->gpu_gbs / r->peak_gbps,
                 r->peak_gbps);
    else if (r->gpu_gbs > 0 && r->gpu_gbs < r->gbs)
        snprintf(gbs + strlen(gbs), sizeof gbs - strlen(gbs), " (GPU %.2f)", r->gpu_gbs);
    fprintf(f, "| %s | %s | %s | %s | %s | %d | %s | %s | %.2f +/- %.2f | %s | %s | %.1f |\n",
            base ? base + 1 : r->model_filename, size, params, r->backends, r->device, r->n_threads, r->type_kv,
            test, s.avg_ts, s.stddev_ts, gbs, rss, r->load_time_ms);
}

void bench_report_begin(bench_report *r, bench_format fmt, FILE *out) {
    r->fmt = fmt;
    r->out = out;
    r->rows = 0;
    if (fmt == BENCH_JSON) fputs("[\n", out);
}

void bench_report_row(bench_report *r, const bench_result *res) {
    int first = r->rows++ == 0;
    switch (r->fmt) {
    case BENCH_MD: row_md(r->out, res, first); break;
    case BENCH_CSV:
        if (first) row_csv(r->out, res, 1);
        row_csv(r->out, res, 0);
        break;
    case BENCH_JSON:
    case BENCH_JSONL: {
        json_t *o = row_json(res);
        char *s = json_dumps(o, JSON_PRESERVE_ORDER | (r->fmt == BENCH_JSON ? JSON_INDENT(2) : JSON_COMPACT)
                                    | JSON_REAL_PRECISION(10));
        if (s) {
            if (r->fmt == BENCH_JSON && !first) fputs(",\n", r->out);
            fputs(s, r->out);
            if (r->fmt == BENCH_JSONL) fputc('\n', r->out);
            free(s);
        }
        json_decref(o);
        break;
    }
    }
    fflush(r->out);
}

void bench_report_end(bench_report *r) {
    if (r->fmt == BENCH_JSON) fputs(r->rows ? "\n]\n" : "]\n", r->out);
    fflush(r->out);
}
