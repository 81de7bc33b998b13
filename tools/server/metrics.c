#include "metrics.h"

#include <stdio.h>
#include <string.h>

void metrics_init(metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void metrics_destroy(metrics *m) { pthread_mutex_destroy(&m->mu); }

void metrics_request(metrics *m, int status) {
    int cls = status / 100;
    pthread_mutex_lock(&m->mu);
    m->requests[cls >= 1 && cls <= 5 ? cls : 0]++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_busy(metrics *m) {
    pthread_mutex_lock(&m->mu);
    m->rejected_busy++;
    pthread_mutex_unlock(&m->mu);
}

void metrics_job(metrics *m, int cancelled, int n_prompt_eval, int n_cached, int n_gen, double prompt_s,
                 double gen_s, double ttft_s) {
    pthread_mutex_lock(&m->mu);
    if (cancelled) m->jobs_cancelled++;
    else m->jobs_done++;
    m->prompt_tokens += (uint64_t)n_prompt_eval;
    m->prompt_tokens_cached += (uint64_t)n_cached;
    m->gen_tokens += (uint64_t)n_gen;
    m->prompt_seconds += prompt_s;
    m->gen_seconds += gen_s;
    if (ttft_s >= 0) {
        m->ttft_sum += ttft_s;
        m->ttft_count++;
        if (ttft_s > m->ttft_max) m->ttft_max = ttft_s;
    }
    pthread_mutex_unlock(&m->mu);
}

static void line(sbuf *o, const char *name, const char *type, const char *help, const char *labels, double v) {
    char buf[512];
    if (type) {
        snprintf(buf, sizeof buf, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
        sbuf_puts(o, buf);
    }
    snprintf(buf, sizeof buf, "%s%s %.17g\n", name, labels ? labels : "", v);
    sbuf_puts(o, buf);
}

void metrics_render(metrics *m, int queue_len, int slots_busy, int slots_total, sbuf *o) {
    pthread_mutex_lock(&m->mu);
    metrics s = *m;
    pthread_mutex_unlock(&m->mu);
    static const char *const cls[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 6; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "{code=\"%s\"}", cls[i]);
        line(o, "infer_requests_total", i == 0 ? "counter" : NULL, "HTTP requests answered, by status class.", labels,
             (double)s.requests[i]);
    }
    line(o, "infer_requests_rejected_busy_total", "counter", "Requests answered 503 because every slot and the queue were full.", NULL, (double)s.rejected_busy);
    line(o, "infer_generations_total", "counter", "Generations finished.", "{result=\"done\"}", (double)s.jobs_done);
    line(o, "infer_generations_total", NULL, NULL, "{result=\"cancelled\"}", (double)s.jobs_cancelled);
    line(o, "infer_prompt_tokens_total", "counter", "Prompt tokens evaluated.", NULL, (double)s.prompt_tokens);
    line(o, "infer_prompt_tokens_cached_total", "counter", "Prompt tokens reused from a slot's cache.", NULL, (double)s.prompt_tokens_cached);
    line(o, "infer_generated_tokens_total", "counter", "Tokens generated.", NULL, (double)s.gen_tokens);
    line(o, "infer_prompt_seconds_total", "counter", "Seconds spent evaluating prompts.", NULL, s.prompt_seconds);
    line(o, "infer_generation_seconds_total", "counter", "Seconds spent generating.", NULL, s.gen_seconds);
    line(o, "infer_prompt_tokens_per_second", "gauge", "Prompt tokens per second over the server's life.", NULL,
         s.prompt_seconds > 0 ? (double)s.prompt_tokens / s.prompt_seconds : 0);
    line(o, "infer_generated_tokens_per_second", "gauge", "Generated tokens per second per request over the server's life.", NULL,
         s.gen_seconds > 0 ? (double)s.gen_tokens / s.gen_seconds : 0);
    line(o, "infer_time_to_first_token_seconds_sum", "counter", "Time from request to first token, summed.", NULL, s.ttft_sum);
    line(o, "infer_time_to_first_token_seconds_count", "counter", "Requests that produced a first token.", NULL, (double)s.ttft_count);
    line(o, "infer_time_to_first_token_seconds_max", "gauge", "Longest time to first token seen.", NULL, s.ttft_max);
    line(o, "infer_queue_length", "gauge", "Requests waiting for a slot.", NULL, (double)queue_len);
    line(o, "infer_slots_busy", "gauge", "Slots generating now.", NULL, (double)slots_busy);
    line(o, "infer_slots_total", "gauge", "Slots.", NULL, (double)slots_total);
}
