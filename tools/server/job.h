/* A generation job: what one HTTP request asks the scheduler to do, and what has been
 * produced so far. The HTTP thread builds the input part, submits the job, then reads the
 * output part under the job's mutex while the scheduler thread writes it. Both hold a
 * reference; the last job_release frees it. */
#ifndef SERVER_JOB_H
#define SERVER_JOB_H
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "infer.h"
#include "util.h"

#define JOB_MAX_STOP 16
#define JOB_MAX_TOP 20

/* One generated token's log-probability and the most likely alternatives. */
typedef struct job_logprob {
    float logprob;
    int32_t n_top;
    infer_token_logprob top[JOB_MAX_TOP];
} job_logprob;

typedef enum job_finish {
    JOB_RUNNING = 0,
    JOB_STOP,        /* a stop token or stop string */
    JOB_LENGTH,      /* max tokens, the context window or the time limit */
    JOB_CANCELLED,   /* the client went away or the server is shutting down */
    JOB_ERROR,       /* decode failed: error holds why */
} job_finish;

typedef struct job {
    /* ---- input: set before job_submit, read-only afterwards */
    int32_t *prompt;
    size_t n_prompt;
    infer_sampler_params sp;
    int max_tokens;             /* < 0: until a stop or the context is full */
    char *stop[JOB_MAX_STOP];   /* stop strings (owned) */
    size_t n_stop, max_stop_len;
    int chat;                   /* classify tokens (answer / reasoning / markup) and stop on
                                   the model's end-of-turn tokens */
    char *tools_json;           /* tools offered (owned JSON text, NULL: none): the answer is
                                   streamed while it cannot be a call (reply.h), and split
                                   into text and tool calls at its end */
    int harmony;                /* the model writes Harmony channels (gpt-oss) */
    size_t n_reply_prefix;      /* the last prompt tokens start the reply (a forced tool
                                   call's opening marker): routed like generated ones */
    double max_seconds;         /* wall-time limit of the generation (<= 0: none) */
    char *grammar;              /* GBNF the reply must follow (owned), or NULL */
    const char *grammar_root;   /* its start rule (static text; NULL: "root") */
    int logprobs;               /* record each generated token's log-probability */
    int top_logprobs;           /* ... and this many alternatives (0..JOB_MAX_TOP) */

    /* ---- output: guarded by mu, signalled on cv */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sbuf content;               /* the answer text */
    size_t content_visible;     /* bytes of content that can no longer turn into a stop string */
    sbuf reasoning;             /* reasoning text (Harmony analysis, <think> blocks) */
    sbuf raw;                   /* with tools: every reply token's bytes, markup included */
    job_finish finish;
    char error[256];
    int n_cached;               /* prompt tokens found in the slot's cache */
    int n_gen;                  /* tokens generated */
    int32_t *gen;               /* their ids (n_gen of them; kept when keep_tokens) */
    int keep_tokens;            /* input: record the generated ids */
    job_logprob *lp;            /* n_gen of them when logprobs (with gen: the ids) */
    double t_submit, t_start, t_prompt_done, t_first, t_done;   /* tool_now_s() times */

    atomic_int cancelled;       /* set by the HTTP side: stop at the next step */
    atomic_int refs;
} job;

/* A job with one reference, sampler defaults and a random seed. NULL when out of memory. */
job *job_new(void);
void job_retain(job *j);
void job_release(job *j);

/* Input helpers (before submit). Return 0, or -1 when out of memory. */
int job_add_stop(job *j, const char *s, size_t n);

/* ---- called by the scheduler with j->mu NOT held (they lock it) */
/* Appends answer text, applies the stop strings; returns 1 when a stop string matched
 * (the content is cut before it). */
int job_append_content(job *j, const char *s, size_t n);
void job_append_reasoning(job *j, const char *s, size_t n);
void job_append_raw(job *j, const char *s, size_t n);
void job_set_finish(job *j, job_finish f, const char *error);

/* Name OpenAI/Ollama use for a finish ("stop", "length", ...). */
const char *job_finish_name(job_finish f);

#endif
