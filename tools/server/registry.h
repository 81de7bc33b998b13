/* The models a server offers: the -m model and, with --models-dir, every *.gguf file in
 * that folder, named by its file name without ".gguf". A request names a model; the
 * registry hands out a loaded model with its scheduler, loading it on first use and
 * unloading the least recently used idle models while the loaded ones exceed the memory
 * budget. Request names are only ever compared with the names found by listing the
 * folder, never joined into a path, so no name can reach outside it. Thread-safe. */
#ifndef SERVER_REGISTRY_H
#define SERVER_REGISTRY_H
#include <pthread.h>
#include <stdint.h>

#include "infer.h"
#include "metrics.h"
#include "scheduler.h"

typedef struct model_info {
    char name[256];
    char path[4096];
    char arch[64];
    char quant[32];              /* the tensor type holding most of the weights ("Q4_K") */
    char params_label[32];       /* "260K", "1.5B" */
    char *chat_template;         /* tokenizer.chat_template or NULL */
    uint64_t file_size, n_params;
    int64_t ctx_train;
    double mtime;                /* seconds since the epoch */
} model_info;

typedef struct model_entry {
    model_info info;
    infer_model *model;          /* NULL while not loaded */
    scheduler *sched;
    pthread_mutex_t embed_mu;    /* one embedding request at a time */
    infer_ctx *embed_ctx;        /* made by the first embedding request */
    int refs;                    /* requests using it now */
    double last_used, load_seconds;
} model_entry;

typedef struct registry registry;

typedef struct registry_params {
    const char *model_path;      /* -m: loaded at start (may be NULL with a models dir) */
    const char *models_dir;      /* may be NULL */
    uint64_t mem_budget;         /* bytes of loaded model files; 0: no limit */
    scheduler_params sched;
} registry_params;

/* Lists the models and loads the -m one. Returns 0, or -1 with err filled. */
int registry_new(const registry_params *p, metrics *met, registry **out, char *err, size_t errcap);
void registry_free(registry *r);

/* Finds a model by name (a trailing ":latest" is ignored; NULL or "" is the default model)
 * and loads it if needed. Returns the entry with a reference, or NULL with *status 404
 * (unknown) or 500 (failed to load) and err filled. *load_s is the time spent loading. */
model_entry *registry_acquire(registry *r, const char *name, int *status, char *err, size_t errcap, double *load_s);
void registry_release(registry *r, model_entry *e);
/* One more reference on an entry already held (a stream that outlives its handler). */
void registry_retain(registry *r, model_entry *e);

/* The mean-pooled, L2-normalized final hidden state of n tokens (n_embd floats to out).
 * The entry must be held (registry_acquire). Returns 0, or -1 with err filled. */
int registry_embed(registry *r, model_entry *e, const int32_t *toks, size_t n, float *out, char *err, size_t errcap);

/* Snapshot of every model (loaded or not); the caller frees with registry_list_free. */
typedef struct model_listing {
    model_info *items;
    int *loaded;
    int n;
} model_listing;
int registry_list(registry *r, model_listing *out);
void registry_list_free(model_listing *l);

/* Sums over loaded models' schedulers (for /metrics and /health). */
void registry_load(registry *r, int *busy, int *queued, int *slots);
/* Stops accepting jobs and drains every loaded model (SIGTERM). */
void registry_drain(registry *r, double grace_s);

#endif
