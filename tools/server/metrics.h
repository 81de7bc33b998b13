/* Server counters for GET /metrics (Prometheus text format 0.0.4). Thread-safe. */
#ifndef SERVER_METRICS_H
#define SERVER_METRICS_H
#include <pthread.h>
#include <stdint.h>

#include "util.h"

typedef struct metrics {
    pthread_mutex_t mu;
    uint64_t requests[6];          /* by status class: 1xx..5xx at [1..5], [0] others */
    uint64_t rejected_busy;        /* 503s because the queue was full */
    uint64_t jobs_done, jobs_cancelled;
    uint64_t prompt_tokens, prompt_tokens_cached, gen_tokens;
    double prompt_seconds, gen_seconds;   /* time spent evaluating prompts / generating */
    double ttft_sum;               /* seconds from submit to first token, summed */
    uint64_t ttft_count;
    double ttft_max;
} metrics;

void metrics_init(metrics *m);
void metrics_destroy(metrics *m);
void metrics_request(metrics *m, int http_status);
void metrics_busy(metrics *m);
/* One finished job's numbers. */
void metrics_job(metrics *m, int cancelled, int n_prompt_eval, int n_cached, int n_gen,
                 double prompt_s, double gen_s, double ttft_s);
/* Appends the exposition text; queue/slots are sampled by the caller. */
void metrics_render(metrics *m, int queue_len, int slots_busy, int slots_total, sbuf *out);

#endif
