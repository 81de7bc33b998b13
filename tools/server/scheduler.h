/* The scheduler: -np slots over one model, stepped by one thread. A slot is a sequence of
 * the model's context (its part of the KV cache); a job takes the free slot whose sequence
 * shares the longest prefix with its prompt (copying another slot's sequence when that one
 * shares much more, such as a common system prompt), evaluates only the rest, then
 * generates one token per step. Each step visits every busy slot once, so a new request joins at the next step and
 * a finished one leaves without stalling the others. Jobs that find no free slot wait in a
 * bounded FIFO queue; beyond it job submission fails at once (the HTTP side answers 503).
 *
 * The slots are the sequences of one context: each step, every generating slot samples
 * its next token from the previous step's logits and prefilling slots add a piece of their
 * prompt (every waiting prompt in the same step, shortest first, up to a token budget), and
 * one batched forward pass (infer_ctx_decode_batch) evaluates them all, so the
 * weights are read once per step for every slot (continuous batching). */
#ifndef SERVER_SCHEDULER_H
#define SERVER_SCHEDULER_H
#include "infer.h"
#include "job.h"
#include "metrics.h"

typedef struct scheduler scheduler;

typedef struct scheduler_params {
    int n_slots;               /* >= 1 */
    int queue_size;            /* jobs that may wait for a slot (>= 0) */
    infer_ctx_params ctx;      /* ctx.n_ctx: positions of all slots together (llama-server's -c);
                                  each slot gets n_ctx / n_slots */
} scheduler_params;

/* Opens one context per slot and starts the thread. Returns 0, or -1 with err filled. */
int sched_new(infer_model *m, const scheduler_params *p, metrics *met, scheduler **out, char *err, size_t errcap);
/* Stops the thread (cancelling whatever is left) and frees the contexts. NULL is fine. */
void sched_free(scheduler *s);

/* Queues a job (the scheduler takes its own reference). Returns 0, -1 when every slot and
 * the queue are full, -2 when the scheduler is shutting down. */
int sched_submit(scheduler *s, job *j);
/* Stops accepting jobs; waits up to grace_s for in-flight and queued jobs to finish, then
 * cancels the rest and waits for them to leave. */
void sched_drain(scheduler *s, double grace_s);

uint32_t sched_slot_ctx(const scheduler *s);   /* tokens per slot */
int sched_n_slots(const scheduler *s);
void sched_load(scheduler *s, int *busy, int *queued);
const char *sched_backend_name(const scheduler *s);

#endif
