#include "job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

job *job_new(void) {
    job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->sp = infer_sampler_default_params();
    j->sp.seed = random_seed();
    j->max_tokens = -1;
    atomic_init(&j->refs, 1);
    atomic_init(&j->cancelled, 0);
    return j;
}

void job_retain(job *j) { atomic_fetch_add(&j->refs, 1); }

void job_release(job *j) {
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1) return;
    free(j->prompt);
    free(j->gen);
    free(j->tools_json);
    free(j->lp);
    free(j->grammar);
    for (size_t i = 0; i < j->n_stop; i++) free(j->stop[i]);
    sbuf_free(&j->content);
    sbuf_free(&j->reasoning);
    sbuf_free(&j->raw);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

int job_add_stop(job *j, const char *s, size_t n) {
    if (n == 0 || j->n_stop == JOB_MAX_STOP) return 0;   /* empty stops match nothing */
    char *c = malloc(n + 1);
    if (!c) return -1;
    memcpy(c, s, n);
    c[n] = '\0';
    j->stop[j->n_stop++] = c;
    if (n > j->max_stop_len) j->max_stop_len = n;
    return 0;
}

/* Length of the longest suffix of text that is a proper prefix of a stop string: those
 * bytes are held back until the next token shows whether the stop string completes. */
static size_t stop_prefix_suffix(const job *j, const char *text, size_t n) {
    size_t best = 0;
    for (size_t s = 0; s < j->n_stop; s++) {
        size_t ls = strlen(j->stop[s]);
        for (size_t k = ls - 1 < n ? ls - 1 : n; k > best; k--)
            if (memcmp(text + n - k, j->stop[s], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

int job_append_content(job *j, const char *s, size_t n) {
    int matched = 0;
    pthread_mutex_lock(&j->mu);
    if (sbuf_put(&j->content, s, n) != 0) {
        pthread_mutex_unlock(&j->mu);
        return 0;
    }
    if (j->n_stop) {
        /* A match must end in the new bytes: search from where it could start. */
        size_t from = j->content_visible;
        size_t cut = j->content.n;
        for (size_t i = 0; i < j->n_stop; i++) {
            const char *hit = memmem(j->content.p + from, j->content.n - from, j->stop[i], strlen(j->stop[i]));
            if (hit && (size_t)(hit - j->content.p) < cut) cut = (size_t)(hit - j->content.p);
        }
        if (cut < j->content.n) {
            j->content.n = cut;
            j->content.p[cut] = '\0';
            j->content_visible = cut;
            matched = 1;
        } else {
            j->content_visible = j->content.n - stop_prefix_suffix(j, j->content.p, j->content.n);
        }
    } else {
        j->content_visible = j->content.n;
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return matched;
}

void job_append_reasoning(job *j, const char *s, size_t n) {
    pthread_mutex_lock(&j->mu);
    sbuf_put(&j->reasoning, s, n);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void job_append_raw(job *j, const char *s, size_t n) {
    pthread_mutex_lock(&j->mu);
    sbuf_put(&j->raw, s, n);
    pthread_mutex_unlock(&j->mu);
}

void job_set_finish(job *j, job_finish f, const char *error) {
    pthread_mutex_lock(&j->mu);
    if (j->finish == JOB_RUNNING) {
        j->finish = f;
        if (error) snprintf(j->error, sizeof j->error, "%s", error);
        /* Held-back bytes were not a stop string after all. */
        j->content_visible = j->content.n;
        j->t_done = tool_now_s();
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

const char *job_finish_name(job_finish f) {
    switch (f) {
    case JOB_STOP: return "stop";
    case JOB_LENGTH: return "length";
    case JOB_CANCELLED: return "cancelled";
    case JOB_ERROR: return "error";
    default: return "running";
    }
}
