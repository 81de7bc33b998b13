/* infer-bench's result rows and their output formats (-o md|json|jsonl|csv).
 * JSON/CSV use llama-bench's field names so scripts written for llama-bench's
 * `-o json` read ours unchanged (bench/compare.sh does); fields llama-bench lacks
 * (peak_rss_bytes, load_time_ms, weight_bytes_per_token, gbps, bandwidth_gbps,
 * bandwidth_fraction: the last four 0 where they do not apply) are extra keys of each row. */
#ifndef INFER_BENCH_REPORT_H
#define INFER_BENCH_REPORT_H
#include <stdint.h>
#include <stdio.h>

typedef enum bench_format { BENCH_MD, BENCH_JSON, BENCH_JSONL, BENCH_CSV } bench_format;

/* "md" | "json" | "jsonl" | "csv" -> *out; returns 0, or -1 for any other name. */
int bench_parse_format(const char *name, bench_format *out);

typedef struct bench_result {
    /* what was measured */
    const char *model_filename, *model_type, *backends, *device, *cpu_info, *type_kv;
    uint64_t model_size, model_n_params;
    int n_batch, n_threads, n_prompt, n_gen;
    char test_time[32];        /* ISO 8601 UTC, when the test started */
    /* per repetition: nanoseconds and tokens/s (reps entries each, owned by the caller) */
    const uint64_t *samples_ns;
    const double *samples_ts;
    int reps;
    double gbs;                /* weight GB/s for tg rows, 0 if unknown or pp */
    double weight_bytes_per_token;   /* tg rows: weights one token reads, 0 if unknown */
    double bandwidth_gbps;     /* the machine's read bandwidth (--bandwidth), 0 if not given */
    /* process-wide */
    uint64_t peak_rss_bytes;   /* getrusage max RSS so far (includes the model mapping) */
    double load_time_ms;       /* infer_model_load wall time */
    /* GPU rows */
    double gpu_gbs;            /* tg: GB/s of the weights read from GPU memory */
    double peak_gbps;          /* the GPU's peak bandwidth, 0 if unknown */
} bench_result;

/* Output state: JSON needs to know whether a row is the first. */
typedef struct bench_report {
    bench_format fmt;
    FILE *out;
    int rows;
} bench_report;

void bench_report_begin(bench_report *r, bench_format fmt, FILE *out);
/* Prints one row (and the header before the first one); flushes. */
void bench_report_row(bench_report *r, const bench_result *res);
void bench_report_end(bench_report *r);

/* Peak resident set size of this process in bytes (0 if unknown). */
uint64_t bench_peak_rss_bytes(void);
/* "model name" line of /proc/cpuinfo into buf ("" if unknown). */
void bench_cpu_info(char *buf, size_t cap);

#endif
