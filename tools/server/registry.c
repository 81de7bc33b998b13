#include "registry.h"
#include "model_ref.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

struct registry {
    pthread_mutex_t mu;
    registry_params p;
    char *models_dir;
    metrics *met;
    model_entry **e;
    int n, cap;
    int default_index;
    int draining;
};

/* ---------------------------------------------------------------- file facts */

static void params_label(uint64_t n, char *out, size_t cap) {
    if (n >= 1000000000ull) snprintf(out, cap, "%.1fB", (double)n / 1e9);
    else if (n >= 1000000ull) snprintf(out, cap, "%.1fM", (double)n / 1e6);
    else snprintf(out, cap, "%.0fK", (double)n / 1e3);
}

/* Reads the facts the listings show from the file's header (no weights are touched). */
static int read_info(const char *path, const char *name, model_info *mi, char *err, size_t errcap) {
    memset(mi, 0, sizeof *mi);
    snprintf(mi->name, sizeof mi->name, "%s", name);
    snprintf(mi->path, sizeof mi->path, "%s", path);
    struct stat stt;
    if (stat(path, &stt) == 0) mi->mtime = (double)stt.st_mtime;
    infer_gguf *g;
    infer_error e = {0};
    if (infer_gguf_open(path, &g, &e) != INFER_OK) {
        snprintf(err, errcap, "%s", e.message);
        return -1;
    }
    mi->file_size = infer_gguf_file_size(g);
    int64_t k = infer_gguf_find_key(g, "general.architecture");
    uint64_t len = 0;
    if (k >= 0 && infer_gguf_kv_type(g, k) == INFER_GGUF_STRING) {
        const char *s = infer_gguf_kv_str(g, k, &len);
        snprintf(mi->arch, sizeof mi->arch, "%.*s", (int)(len < 63 ? len : 63), s);
    }
    char key[96];
    snprintf(key, sizeof key, "%s.context_length", mi->arch);
    k = infer_gguf_find_key(g, key);
    if (k >= 0 && infer_gguf_kv_type(g, k) != INFER_GGUF_STRING && infer_gguf_kv_type(g, k) != INFER_GGUF_ARRAY)
        mi->ctx_train = infer_gguf_kv_int(g, k);
    k = infer_gguf_find_key(g, "tokenizer.chat_template");
    if (k >= 0 && infer_gguf_kv_type(g, k) == INFER_GGUF_STRING) {
        const char *s = infer_gguf_kv_str(g, k, &len);
        mi->chat_template = malloc(len + 1);
        if (mi->chat_template) {
            memcpy(mi->chat_template, s, len);
            mi->chat_template[len] = '\0';
        }
    }
    /* Quantization: the type holding the most bytes; parameters: all elements. */
    uint64_t bytes_by_type[64] = {0};
    for (int64_t t = 0; t < infer_gguf_n_tensors(g); t++) {
        uint64_t ne = 1;
        for (uint32_t d = 0; d < infer_gguf_tensor_n_dims(g, t); d++) ne *= infer_gguf_tensor_dim(g, t, d);
        mi->n_params += ne;
        uint32_t ty = infer_gguf_tensor_type(g, t);
        if (ty < 64) bytes_by_type[ty] += infer_gguf_tensor_bytes(g, t);
    }
    int best = -1;
    for (int t = 0; t < 64; t++)
        if (bytes_by_type[t] && (best < 0 || bytes_by_type[t] > bytes_by_type[best])) best = t;
    const char *qn = best >= 0 ? infer_type_name((uint32_t)best) : NULL;
    snprintf(mi->quant, sizeof mi->quant, "%s", qn ? qn : "unknown");
    params_label(mi->n_params, mi->params_label, sizeof mi->params_label);
    infer_gguf_close(g);
    return 0;
}

/* "dir/name.gguf" -> "name" */
static void name_from_path(const char *path, char *out, size_t cap) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && strcmp(b + n - 5, ".gguf") == 0) n -= 5;
    snprintf(out, cap, "%.*s", (int)n, b);
}

static int find(const registry *r, const char *name) {
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->e[i]->info.name, name) == 0) return i;
    return -1;
}

static int add_entry(registry *r, const char *path, char *err, size_t errcap) {
    char name[256];
    name_from_path(path, name, sizeof name);
    if (find(r, name) >= 0) return find(r, name);
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 8;
        model_entry **g = realloc(r->e, (size_t)cap * sizeof *g);
        if (!g) return -1;
        r->e = g;
        r->cap = cap;
    }
    model_entry *me = calloc(1, sizeof *me);
    if (!me) return -1;
    pthread_mutex_init(&me->embed_mu, NULL);
    if (read_info(path, name, &me->info, err, errcap) != 0) {
        free(me);
        return -1;
    }
    r->e[r->n] = me;
    return r->n++;
}

/* Adds the folder's *.gguf files not listed yet (a file that fails to open is skipped). */
static void scan_dir(registry *r) {
    if (!r->models_dir) return;
    DIR *d = opendir(r->models_dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n <= 5 || strcmp(de->d_name + n - 5, ".gguf") != 0) continue;
        char path[4096], err[256];
        snprintf(path, sizeof path, "%s/%s", r->models_dir, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (add_entry(r, path, err, sizeof err) < 0) fprintf(stderr, "models-dir: skipping %s: %s\n", path, err);
    }
    closedir(d);
}

/* ---------------------------------------------------------------- loading */

static void unload(model_entry *e) {
    infer_ctx_free(e->embed_ctx);
    e->embed_ctx = NULL;
    sched_free(e->sched);
    infer_model_free(e->model);
    e->sched = NULL;
    e->model = NULL;
}

static uint64_t loaded_bytes(const registry *r) {
    uint64_t b = 0;
    for (int i = 0; i < r->n; i++)
        if (r->e[i]->model) b += r->e[i]->info.file_size;
    return b;
}

/* Unloads idle models, least recently used first, until `extra` more bytes fit. */
static void make_room(registry *r, uint64_t extra) {
    if (!r->p.mem_budget || r->draining) return;
    while (loaded_bytes(r) + extra > r->p.mem_budget) {
        model_entry *lru = NULL;
        for (int i = 0; i < r->n; i++) {
            model_entry *e = r->e[i];
            if (e->model && e->refs == 0 && (!lru || e->last_used < lru->last_used)) lru = e;
        }
        if (!lru) return;   /* everything loaded is busy: go over budget for now */
        fprintf(stderr, "unloading model %s (least recently used)\n", lru->info.name);
        unload(lru);
    }
}

static int load(registry *r, model_entry *e, char *err, size_t errcap) {
    make_room(r, e->info.file_size);
    double t0 = tool_now_s();
    infer_error ie = {0};
    if (infer_model_load(e->info.path, NULL, &e->model, &ie) != INFER_OK) {
        snprintf(err, errcap, "cannot load model '%s': %s", e->info.name, ie.message);
        e->model = NULL;
        return -1;
    }
    if (sched_new(e->model, &r->p.sched, r->met, &e->sched, err, errcap) != 0) {
        infer_model_free(e->model);
        e->model = NULL;
        return -1;
    }
    e->load_seconds = tool_now_s() - t0;
    e->last_used = tool_now_s();
    fprintf(stderr, "loaded model %s (%s, %s) in %.3f s: %d slots of %u tokens on %s\n", e->info.name, e->info.arch,
            e->info.quant, e->load_seconds, sched_n_slots(e->sched), sched_slot_ctx(e->sched), sched_backend_name(e->sched));
    return 0;
}

/* ---------------------------------------------------------------- public */

int registry_new(const registry_params *p, metrics *met, registry **out, char *err, size_t errcap) {
    *out = NULL;
    registry *r = calloc(1, sizeof *r);
    if (!r) return -1;
    pthread_mutex_init(&r->mu, NULL);
    r->p = *p;
    r->met = met;
    r->default_index = -1;
    if (p->models_dir) {
        r->models_dir = realpath(p->models_dir, NULL);
        if (!r->models_dir) {
            snprintf(err, errcap, "--models-dir %s: not a folder", p->models_dir);
            registry_free(r);
            return -1;
        }
    }
    if (p->model_path) {
        /* a file, or a model infer-pull downloaded (URL, OWNER/REPO:FILE, catalog name) */
        char *file = model_resolve(p->model_path, err, errcap);
        r->default_index = file ? add_entry(r, file, err, errcap) : -1;
        free(file);
        if (r->default_index < 0 || load(r, r->e[r->default_index], err, errcap) != 0) {
            registry_free(r);
            return -1;
        }
    }
    scan_dir(r);
    if (r->default_index < 0 && r->n > 0) r->default_index = 0;
    if (r->n == 0) {
        snprintf(err, errcap, "no models: give -m MODEL.gguf or a --models-dir with .gguf files");
        registry_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void registry_free(registry *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        unload(r->e[i]);
        free(r->e[i]->info.chat_template);
        pthread_mutex_destroy(&r->e[i]->embed_mu);
        free(r->e[i]);
    }
    free(r->e);
    free(r->models_dir);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

model_entry *registry_acquire(registry *r, const char *name, int *status, char *err, size_t errcap, double *load_s) {
    char want[256];
    *load_s = 0;
    pthread_mutex_lock(&r->mu);
    int i = r->default_index;
    if (name && *name) {
        snprintf(want, sizeof want, "%s", name);
        size_t n = strlen(want);
        if (n > 7 && strcmp(want + n - 7, ":latest") == 0) want[n - 7] = '\0';
        i = find(r, want);
        if (i < 0) {
            scan_dir(r);   /* a file copied in since the last listing */
            i = find(r, want);
        }
    }
    if (i < 0 || r->draining) {
        pthread_mutex_unlock(&r->mu);
        *status = r->draining ? 503 : 404;
        snprintf(err, errcap, r->draining ? "the server is shutting down" : "model '%.200s' not found", name ? name : "");
        return NULL;
    }
    model_entry *e = r->e[i];
    if (!e->model) {
        double t0 = tool_now_s();
        if (load(r, e, err, errcap) != 0) {
            pthread_mutex_unlock(&r->mu);
            *status = 500;
            return NULL;
        }
        *load_s = tool_now_s() - t0;
    }
    e->refs++;
    e->last_used = tool_now_s();
    pthread_mutex_unlock(&r->mu);
    return e;
}

void registry_retain(registry *r, model_entry *e) {
    pthread_mutex_lock(&r->mu);
    e->refs++;
    pthread_mutex_unlock(&r->mu);
}

void registry_release(registry *r, model_entry *e) {
    if (!e) return;
    pthread_mutex_lock(&r->mu);
    e->refs--;
    e->last_used = tool_now_s();
    make_room(r, 0);
    pthread_mutex_unlock(&r->mu);
}

int registry_embed(registry *r, model_entry *e, const int32_t *toks, size_t n, float *out, char *err, size_t errcap) {
    int rc = -1;
    pthread_mutex_lock(&e->embed_mu);
    if (!e->embed_ctx) {
        infer_ctx_params p = r->p.sched.ctx;
        p.embeddings = 1;
        p.pooling = INFER_POOLING_MEAN;
        p.embd_normalize = 1;
        p.n_seq_max = 1;
        infer_error ie = {0};
        if (infer_ctx_new(e->model, &p, &e->embed_ctx, &ie) != INFER_OK) {
            snprintf(err, errcap, "cannot open an embedding context: %s", ie.message);
            e->embed_ctx = NULL;
            goto out;
        }
    }
    if (n == 0 || n > infer_ctx_n_ctx(e->embed_ctx)) {
        snprintf(err, errcap, "the input has %zu tokens; embeddings take 1 to %u", n, infer_ctx_n_ctx(e->embed_ctx));
        goto out;
    }
    infer_ctx_seq_clear(e->embed_ctx, 0);
    if (infer_ctx_decode(e->embed_ctx, toks, NULL, NULL, (int32_t)n) != INFER_OK) {
        snprintf(err, errcap, "%s", infer_ctx_last_error(e->embed_ctx));
        goto out;
    }
    const float *v = infer_ctx_embeddings_seq(e->embed_ctx, 0);
    if (!v) {
        snprintf(err, errcap, "no embedding was produced");
        goto out;
    }
    memcpy(out, v, (size_t)infer_model_n_embd(e->model) * sizeof *out);
    rc = 0;
out:
    pthread_mutex_unlock(&e->embed_mu);
    return rc;
}

int registry_list(registry *r, model_listing *out) {
    pthread_mutex_lock(&r->mu);
    scan_dir(r);
    out->n = r->n;
    out->items = calloc((size_t)r->n, sizeof *out->items);
    out->loaded = calloc((size_t)r->n, sizeof *out->loaded);
    if (!out->items || !out->loaded) {
        pthread_mutex_unlock(&r->mu);
        registry_list_free(out);
        return -1;
    }
    for (int i = 0; i < r->n; i++) {
        out->items[i] = r->e[i]->info;
        out->items[i].chat_template = r->e[i]->info.chat_template ? strdup(r->e[i]->info.chat_template) : NULL;
        out->loaded[i] = r->e[i]->model != NULL;
    }
    pthread_mutex_unlock(&r->mu);
    return 0;
}

void registry_list_free(model_listing *l) {
    for (int i = 0; l->items && i < l->n; i++) free(l->items[i].chat_template);
    free(l->items);
    free(l->loaded);
    memset(l, 0, sizeof *l);
}

void registry_load(registry *r, int *busy, int *queued, int *slots) {
    *busy = *queued = *slots = 0;
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->n; i++) {
        if (!r->e[i]->sched) continue;
        int b, q;
        sched_load(r->e[i]->sched, &b, &q);
        *busy += b;
        *queued += q;
        *slots += sched_n_slots(r->e[i]->sched);
    }
    pthread_mutex_unlock(&r->mu);
}

void registry_drain(registry *r, double grace_s) {
    pthread_mutex_lock(&r->mu);
    r->draining = 1;   /* from now on nothing is loaded or unloaded */
    scheduler **s = calloc((size_t)r->n + 1, sizeof *s);
    int n = 0;
    for (int i = 0; s && i < r->n; i++)
        if (r->e[i]->sched) s[n++] = r->e[i]->sched;
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < n; i++) sched_drain(s[i], grace_s);
    free(s);
}
