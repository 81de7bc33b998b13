#include "scheduler.h"

#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prompt tokens evaluated per slot per step: long prompts are cut into pieces so the
 * other slots keep streaming while one reads a long prompt. */
#define PREFILL_CHUNK 256
/* Prompt tokens evaluated per step over all slots: keeps each step short enough that the
 * generating slots still get a token every few tens of milliseconds. */
#define PREFILL_BUDGET 512

typedef struct slot {
    int32_t seq;               /* the slot's sequence in the shared context */
    double last_used;

    job *j;                    /* NULL when free */
    infer_sampler *smp;
    reply_router route;        /* generated tokens -> the job's text */
    size_t prefill_pos;        /* next prompt token to evaluate */
    int prefilling;
    int32_t pending;           /* tokens this slot put in the current batch */
    int32_t logits_row;        /* index in the last batch of the logits to sample */
} slot;

struct scheduler {
    infer_model *m;
    infer_ctx *ctx;            /* one context, one sequence per slot */
    metrics *met;
    slot *slots;
    int n_slots;
    uint32_t slot_ctx;
    int32_t stop_toks[16];
    size_t n_stop_toks;
    int32_t *b_tokens, *b_seq;  /* the step's batch */
    slot **prefill_order;       /* the step's prefilling slots, shortest prompt left first */
    int8_t *b_want;
    int32_t b_n, b_cap;

    pthread_mutex_t mu;
    pthread_cond_t cv;        /* work arrived / work finished */
    job **queue;
    int q_cap, q_head, q_len;
    int busy;                 /* slots holding a job */
    int draining, quit;
    double cancel_at;         /* while draining: cancel what still runs after this time */
    pthread_t thread;
    int thread_started;
};

/* Tokens of a slot's sequence (positions 0..n-1). */
static const int32_t *seq_tokens(const scheduler *s, const slot *sl, size_t *n) {
    int32_t len = 0;
    const int32_t *t = infer_ctx_seq_tokens(s->ctx, sl->seq, &len);
    *n = t && len > 0 ? (size_t)len : 0;
    return t;
}

static size_t common_prefix(const scheduler *s, const slot *sl, const job *j) {
    size_t n, k = 0;
    const int32_t *t = seq_tokens(s, sl, &n);
    while (k < n && k < j->n_prompt && t[k] == j->prompt[k]) k++;
    return k;
}

static int is_stop_token(const scheduler *s, const job *j, int32_t tok) {
    if (tok < 0 || infer_token_is_eog(s->m, tok)) return 1;
    if (!j->chat) return 0;
    for (size_t i = 0; i < s->n_stop_toks; i++)
        if (s->stop_toks[i] == tok) return 1;
    return 0;
}

static void batch_add(scheduler *s, int32_t tok, int32_t seq, int want) {
    s->b_tokens[s->b_n] = tok;
    s->b_seq[s->b_n] = seq;
    s->b_want[s->b_n] = (int8_t)want;
    s->b_n++;
}

/* ---------------------------------------------------------------- slot life */

static void slot_finish(scheduler *s, slot *sl, job_finish f, const char *error) {
    job *j = sl->j;
    reply_router_end(&sl->route, j, f != JOB_CANCELLED);
    double now = tool_now_s();
    job_set_finish(j, f, error);
    double prompt_s = (j->t_prompt_done > 0 ? j->t_prompt_done : now) - j->t_start;
    double gen_s = j->t_prompt_done > 0 ? now - j->t_prompt_done : 0;
    metrics_job(s->met, f == JOB_CANCELLED, (int)j->n_prompt - j->n_cached, j->n_cached, j->n_gen, prompt_s, gen_s,
                j->t_first > 0 ? j->t_first - j->t_submit : -1);
    infer_sampler_free(sl->smp);
    sl->smp = NULL;
    sl->j = NULL;
    sl->last_used = now;
    job_release(j);
}

/* The job's sampler: its grammar first (the HTTP side checked it), then the default chain
 * of its parameters. Returns 0, or -1 after finishing the job with the reason. */
static int make_sampler(scheduler *s, slot *sl, job *j) {
    infer_error e = {0};
    infer_status st = infer_sampler_chain_new(s->m, 0, j->sp.seed, &sl->smp, &e);
    if (st == INFER_OK && j->grammar)
        st = infer_sampler_add_grammar(sl->smp, j->grammar, strlen(j->grammar), j->grammar_root);
    if (st == INFER_OK) st = infer_sampler_add_defaults(sl->smp, &j->sp);
    if (st == INFER_OK) return 0;
    char msg[600];
    snprintf(msg, sizeof msg, "sampler: %s", sl->smp ? infer_sampler_last_error(sl->smp) : e.message);
    slot_finish(s, sl, JOB_ERROR, msg);
    return -1;
}

/* Records a generated token: its id (return_tokens, logprobs) and log-probabilities, under
 * the job's lock since streams read them as they come. Returns 0, or -1 out of memory. */
static int record_token(scheduler *s, job *j, const float *logits, int32_t tok) {
    job_logprob l = {0};
    if (j->logprobs) infer_logprobs(logits, infer_model_n_vocab(s->m), tok, &l.logprob, l.top, j->top_logprobs, &l.n_top);
    int rc = 0;
    pthread_mutex_lock(&j->mu);
    if (j->keep_tokens || j->logprobs) {
        int32_t *g = realloc(j->gen, (size_t)(j->n_gen + 1) * sizeof *g);
        if (g) {
            j->gen = g;
            j->gen[j->n_gen] = tok;
        } else rc = -1;
    }
    if (rc == 0 && j->logprobs) {
        job_logprob *g = realloc(j->lp, (size_t)(j->n_gen + 1) * sizeof *g);
        if (g) {
            j->lp = g;
            j->lp[j->n_gen] = l;
        } else rc = -1;
    }
    if (rc == 0) j->n_gen++;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* Puts a job in a free slot. The job starts from the longest prefix any slot's sequence
 * shares with its prompt: its own, or another's copied over (a system prompt shared by
 * several conversations is evaluated once). */
static void slot_start(scheduler *s, slot *sl, job *j) {
    sl->j = j;
    j->t_start = tool_now_s();
    size_t keep = common_prefix(s, sl, j);
    const slot *src = sl;
    for (int i = 0; i < s->n_slots; i++) {
        size_t k = common_prefix(s, &s->slots[i], j);
        if (k >= keep + 32) {   /* worth copying the other sequence's rows */
            keep = k;
            src = &s->slots[i];
        }
    }
    if (keep == j->n_prompt && keep > 0) keep--;   /* the last prompt token is evaluated again for its logits */
    if (src != sl && infer_ctx_seq_copy(s->ctx, src->seq, sl->seq) != INFER_OK) keep = common_prefix(s, sl, j);
    if (keep == j->n_prompt && keep > 0) keep--;
    infer_ctx_seq_truncate(s->ctx, sl->seq, (int32_t)keep);
    j->n_cached = (int)keep;
    sl->prefill_pos = keep;
    sl->prefilling = 1;
    if (make_sampler(s, sl, j) != 0) return;
    if (reply_router_start(&sl->route) != 0) {
        slot_finish(s, sl, JOB_ERROR, "out of memory");
        return;
    }
    if (j->n_prompt == 0 || j->n_prompt >= s->slot_ctx) {
        char msg[160];
        snprintf(msg, sizeof msg, "the prompt has %zu tokens; a slot's context holds %u", j->n_prompt, s->slot_ctx);
        slot_finish(s, sl, JOB_ERROR, msg);
        return;
    }
    for (size_t i = 0; i < j->n_prompt; i++) infer_sampler_accept_prompt(sl->smp, j->prompt[i]);
    /* A reply the server opened (a forced call's marker) reads as if generated. */
    size_t n_pre = j->n_reply_prefix < j->n_prompt ? j->n_reply_prefix : 0;
    for (size_t i = j->n_prompt - n_pre; i < j->n_prompt; i++) reply_router_push(&sl->route, j, j->prompt[i]);
}

/* Adds the next piece of the slot's prompt to the batch (within the step's budget). */
static void slot_prefill(scheduler *s, slot *sl, int32_t *budget) {
    job *j = sl->j;
    size_t n = j->n_prompt - sl->prefill_pos;
    if (n > PREFILL_CHUNK) n = PREFILL_CHUNK;
    if (n > (size_t)*budget) n = (size_t)*budget;
    if (n == 0) return;
    *budget -= (int32_t)n;
    int last = sl->prefill_pos + n == j->n_prompt;
    for (size_t i = 0; i < n; i++) batch_add(s, j->prompt[sl->prefill_pos + i], sl->seq, last && i + 1 == n);
    sl->pending = (int32_t)n;
    sl->logits_row = last ? s->b_n - 1 : -1;
}

/* Samples the slot's next token from the last batch's logits, streams it, and adds it to
 * this step's batch unless the job is done. */
static void slot_generate(scheduler *s, slot *sl) {
    job *j = sl->j;
    if (j->max_tokens == 0) {   /* a prompt-only request (usage counts, a cache warm-up) */
        slot_finish(s, sl, JOB_LENGTH, NULL);
        return;
    }
    const float *logits = infer_ctx_logits(s->ctx, sl->logits_row);
    if (!logits) {
        slot_finish(s, sl, JOB_ERROR, "no logits");
        return;
    }
    int32_t tok = infer_sampler_sample(sl->smp, logits);
    if (tok < 0 && j->grammar) {   /* no token can continue the grammar */
        char msg[600];
        snprintf(msg, sizeof msg, "sampler: %s", infer_sampler_last_error(sl->smp));
        slot_finish(s, sl, JOB_ERROR, msg);
        return;
    }
    if (is_stop_token(s, j, tok)) {
        slot_finish(s, sl, JOB_STOP, NULL);
        return;
    }
    infer_sampler_accept(sl->smp, tok);
    if (record_token(s, j, logits, tok) != 0) {
        slot_finish(s, sl, JOB_ERROR, "out of memory");
        return;
    }
    if (j->t_first == 0) j->t_first = tool_now_s();
    if (reply_router_push(&sl->route, j, tok)) {
        slot_finish(s, sl, JOB_STOP, NULL);
        return;
    }
    if ((j->max_tokens >= 0 && j->n_gen >= j->max_tokens) || infer_ctx_seq_len(s->ctx, sl->seq) + 1 >= (int32_t)s->slot_ctx) {
        slot_finish(s, sl, JOB_LENGTH, NULL);
        return;
    }
    batch_add(s, tok, sl->seq, 1);
    sl->pending = 1;
    sl->logits_row = s->b_n - 1;
}

static size_t prompt_left(const slot *sl) { return sl->j->n_prompt - sl->prefill_pos; }

/* One step: every generating slot samples (from the previous step's logits) and adds its
 * token, the prefilling slots add pieces of their prompts (every one admitted at once, up
 * to the step's budget), then one forward pass evaluates all their tokens together. */
static void step(scheduler *s, double cancel_at) {
    double now = tool_now_s();
    int32_t budget = PREFILL_BUDGET;
    int n_pre = 0;
    s->b_n = 0;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        sl->pending = 0;
        if (!sl->j) continue;
        if (atomic_load(&sl->j->cancelled) || (cancel_at > 0 && now >= cancel_at)) slot_finish(s, sl, JOB_CANCELLED, NULL);
        else if (sl->j->max_seconds > 0 && now - sl->j->t_start > sl->j->max_seconds) slot_finish(s, sl, JOB_LENGTH, NULL);
        else if (sl->prefilling) s->prefill_order[n_pre++] = sl;
        else slot_generate(s, sl);
    }
    /* The shortest prompts first: a short prompt queued behind long ones gets its first
     * token after one step, and the long ones go on in pieces (the least total wait). */
    for (int a = 1; a < n_pre; a++)
        for (int b = a; b > 0 && prompt_left(s->prefill_order[b]) < prompt_left(s->prefill_order[b - 1]); b--) {
            slot *t = s->prefill_order[b];
            s->prefill_order[b] = s->prefill_order[b - 1];
            s->prefill_order[b - 1] = t;
        }
    for (int a = 0; a < n_pre; a++) slot_prefill(s, s->prefill_order[a], &budget);
    if (s->b_n == 0) return;
    infer_batch b = {.n_tokens = s->b_n, .tokens = s->b_tokens, .seq_id = s->b_seq, .want_logits = s->b_want};
    infer_status st = infer_ctx_decode_batch(s->ctx, &b);
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->j || !sl->pending) continue;
        if (st != INFER_OK) {   /* the library left every sequence as it was before the call */
            slot_finish(s, sl, JOB_ERROR, infer_ctx_last_error(s->ctx));
            continue;
        }
        if (sl->prefilling) {
            sl->prefill_pos += (size_t)sl->pending;
            if (sl->prefill_pos == sl->j->n_prompt) {
                sl->prefilling = 0;
                sl->j->t_prompt_done = tool_now_s();
            }
        }
    }
}

/* ---------------------------------------------------------------- thread */

/* Moves queued jobs into free slots; the caller holds mu. Returns the jobs started, which
 * the caller hands to slot_start outside the lock. */
static int assign_jobs(scheduler *s, slot **started, job **jobs) {
    int n = 0;
    while (s->q_len > 0 && s->busy < s->n_slots) {
        job *j = s->queue[s->q_head];
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
        slot *best = NULL;
        size_t best_k = 0;
        for (int i = 0; i < s->n_slots; i++) {
            slot *sl = &s->slots[i];
            int taken = sl->j != NULL;
            for (int k = 0; k < n && !taken; k++) taken = started[k] == sl;
            if (taken) continue;
            size_t k = common_prefix(s, sl, j);
            if (!best || k > best_k || (k == best_k && sl->last_used < best->last_used)) {
                best = sl;
                best_k = k;
            }
        }
        started[n] = best;
        jobs[n] = j;
        n++;
        s->busy++;
    }
    pthread_cond_broadcast(&s->cv);
    return n;
}

static void *sched_thread(void *arg) {
    scheduler *s = arg;
    slot **started = calloc((size_t)s->n_slots, sizeof *started);
    job **jobs = calloc((size_t)s->n_slots, sizeof *jobs);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (!s->quit && s->busy == 0 && s->q_len == 0) pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit) s->cancel_at = 1;   /* any time in the past: cancel everything now */
        int n_new = started && jobs ? assign_jobs(s, started, jobs) : 0;
        double cancel_at = s->cancel_at;
        int done = s->quit && s->busy == 0 && s->q_len == 0;
        pthread_mutex_unlock(&s->mu);
        if (done) break;

        for (int i = 0; i < n_new; i++) slot_start(s, started[i], jobs[i]);
        step(s, cancel_at);

        pthread_mutex_lock(&s->mu);
        int busy = 0;
        for (int i = 0; i < s->n_slots; i++) busy += s->slots[i].j != NULL;
        s->busy = busy;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    free(started);
    free(jobs);
    return NULL;
}

/* ---------------------------------------------------------------- public */

int sched_new(infer_model *m, const scheduler_params *p, metrics *met, scheduler **out, char *err, size_t errcap) {
    *out = NULL;
    scheduler *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    s->m = m;
    s->met = met;
    s->n_slots = p->n_slots;
    s->q_cap = p->queue_size + p->n_slots;   /* the queue also carries jobs between submit and start */
    s->queue = calloc((size_t)s->q_cap, sizeof *s->queue);
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    s->prefill_order = calloc((size_t)s->n_slots, sizeof *s->prefill_order);
    s->n_stop_toks = infer_model_stop_tokens(m, s->stop_toks, 16);
    if (s->n_stop_toks > 16) s->n_stop_toks = 16;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (!s->queue || !s->slots || !s->prefill_order) {
        snprintf(err, errcap, "out of memory");
        sched_free(s);
        return -1;
    }
    /* One context, its positions shared evenly by the slots' sequences (as llama-server
     * divides -c by -np). */
    infer_ctx_params cp = p->ctx;
    cp.n_seq_max = (uint32_t)s->n_slots;
    cp.n_ctx = cp.n_ctx ? cp.n_ctx : 4096;
    if (cp.n_ctx < (uint32_t)s->n_slots * 16) {
        snprintf(err, errcap, "-c %u is too small for %d slots (at least 16 tokens each)", cp.n_ctx, s->n_slots);
        sched_free(s);
        return -1;
    }
    cp.n_ctx -= cp.n_ctx % (uint32_t)s->n_slots;
    if (cp.n_batch < (uint32_t)(PREFILL_BUDGET + s->n_slots)) cp.n_batch = (uint32_t)(PREFILL_BUDGET + s->n_slots);
    infer_error e = {0};
    if (infer_ctx_new(m, &cp, &s->ctx, &e) != INFER_OK) {
        snprintf(err, errcap, "%s", e.message);
        sched_free(s);
        return -1;
    }
    s->slot_ctx = infer_ctx_n_ctx_seq(s->ctx);
    if (infer_ctx_gpu_weight_bytes(s->ctx) > 0) fprintf(stderr, "placement: %s\n", infer_ctx_placement(s->ctx));
    s->b_cap = PREFILL_BUDGET + s->n_slots;
    s->b_tokens = malloc((size_t)s->b_cap * sizeof *s->b_tokens);
    s->b_seq = malloc((size_t)s->b_cap * sizeof *s->b_seq);
    s->b_want = malloc((size_t)s->b_cap);
    if (!s->b_tokens || !s->b_seq || !s->b_want) {
        snprintf(err, errcap, "out of memory");
        sched_free(s);
        return -1;
    }
    for (int i = 0; i < s->n_slots; i++) {
        s->slots[i].seq = i;
        if (reply_router_init(&s->slots[i].route, m) != 0) {
            snprintf(err, errcap, "out of memory");
            sched_free(s);
            return -1;
        }
    }
    if (pthread_create(&s->thread, NULL, sched_thread, s) != 0) {
        snprintf(err, errcap, "cannot start the scheduler thread");
        sched_free(s);
        return -1;
    }
    s->thread_started = 1;
    *out = s;
    return 0;
}

void sched_free(scheduler *s) {
    if (!s) return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        s->quit = 1;
        s->draining = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    for (int i = 0; s->slots && i < s->n_slots; i++) reply_router_free(&s->slots[i].route);
    infer_ctx_free(s->ctx);
    free(s->b_tokens);
    free(s->b_seq);
    free(s->b_want);
    free(s->slots);
    free(s->prefill_order);
    free(s->queue);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

int sched_submit(scheduler *s, job *j) {
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    if (s->draining) rc = -2;
    else if (s->q_len >= s->q_cap || s->busy + s->q_len >= s->q_cap) rc = -1;
    else {
        job_retain(j);
        j->t_submit = tool_now_s();
        s->queue[(s->q_head + s->q_len) % s->q_cap] = j;
        s->q_len++;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void sched_drain(scheduler *s, double grace_s) {
    pthread_mutex_lock(&s->mu);
    s->draining = 1;
    s->cancel_at = tool_now_s() + (grace_s > 0 ? grace_s : 0.001);
    while (s->busy > 0 || s->q_len > 0) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

uint32_t sched_slot_ctx(const scheduler *s) { return s->slot_ctx; }
int sched_n_slots(const scheduler *s) { return s->n_slots; }

void sched_load(scheduler *s, int *busy, int *queued) {
    pthread_mutex_lock(&s->mu);
    *busy = s->busy;
    *queued = s->q_len;
    pthread_mutex_unlock(&s->mu);
}

const char *sched_backend_name(const scheduler *s) { return infer_ctx_backend_name(s->ctx); }
