/* Saved sessions: one sequence's state as bytes, and back.
 *
 * Layout (little-endian, no padding):
 *   0   char[8]  magic "INFERSES"
 *   8   u32      format version (1)
 *   12  u32      KV type (INFER_KV_F32 / INFER_KV_F16)
 *   16  u64      model fingerprint (model_fingerprint below)
 *   24  u32      n_layer
 *   28  u32      K row bytes (n_head_kv * head_dim * element size)
 *   32  u32      V row bytes
 *   36  u32      n_tokens (the sequence's length)
 *   40  i32[n]   the token at each position (-1: skipped position)
 *   ... for each layer: K rows [0, n), then V rows [0, n), as stored in the cache
 *   end u64      checksum of every byte before it
 * The size is fixed by the header, so a loader checks it against the bytes it was given
 * before reading anything else, and the checksum catches flipped bytes in the rows.
 * Nothing in the context changes until all of it has been checked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file_open.h"
#include "models/arch.h"
#include "models/context.h"
#include "tensor/dtype.h"

#define SES_MAGIC "INFERSES"
#define SES_VERSION 1u
#define SES_HEADER 40u

/* ---- hashing: FNV-1a, 64-bit (word-wise over long runs, for speed) */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * FNV_PRIME;
    }
    for (; i < n; i++) h = (h ^ b[i]) * FNV_PRIME;
    return h;
}
static uint64_t fnv_u64(uint64_t h, uint64_t v) { return fnv_bytes(h, &v, sizeof v); }
static uint64_t fnv_f32(uint64_t h, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return fnv_u64(h, u);
}

/* What makes a cache's rows mean something: the architecture, every hyperparameter the
 * forward pass uses, and each weight's name, type and shape. */
static uint64_t model_fingerprint(const infer_model *m) {
    const infer_hparams *hp = &m->hp;
    uint64_t h = FNV_OFFSET;
    h = fnv_bytes(h, m->arch_name, strlen(m->arch_name) + 1);
    const uint64_t ints[] = {hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv, hp->head_dim,
                             hp->head_dim_v, hp->n_vocab, hp->n_expert, hp->n_expert_used, hp->n_ff_exp,
                             hp->sliding_window, hp->swa_pattern, (uint64_t)hp->rope.mode, (uint64_t)hp->rope.n_rot,
                             (uint64_t)hp->rope.yarn_orig_ctx};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) h = fnv_u64(h, ints[i]);
    const float floats[] = {hp->rms_eps, hp->rope.freq_base, hp->rope.freq_scale, hp->rope.yarn_factor,
                            hp->rope.attn_factor, hp->attn_scale};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++) h = fnv_f32(h, floats[i]);
    for (int32_t i = 0; i < m->n_weights; i++) {
        const infer_weight *w = &m->weights[i];
        h = fnv_bytes(h, w->name, strlen(w->name) + 1);
        h = fnv_u64(h, w->type);
        for (int d = 0; d < 3; d++) h = fnv_u64(h, (uint64_t)w->ne[d]);
    }
    return h;
}

/* ---- byte helpers */
static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Bytes of a session of n tokens for this cache (SIZE_MAX on overflow). */
static size_t session_bytes(const infer_kv_cache *kv, uint64_t n) {
    const uint64_t rows = (uint64_t)kv->n_layer * (kv->k_row_bytes + kv->v_row_bytes);
    if (n > (SIZE_MAX - SES_HEADER - 8) / (4 + rows)) return SIZE_MAX;
    return (size_t)(SES_HEADER + n * 4 + n * rows + 8);
}

/* Moves the K and V rows [0, n) of sequence seq between the cache and host, layer by
 * layer in the session's order (to_cache: host -> cache; else cache -> host). */
static infer_status transfer_rows(infer_ctx *c, uint32_t seq, uint32_t n, uint8_t *host, int to_cache,
                                  infer_error *e) {
    const infer_kv_cache *kv = &c->kv;
    const size_t kb = (size_t)n * kv->k_row_bytes, vb = (size_t)n * kv->v_row_bytes;
    if (n == 0) return INFER_OK;
    /* Layer by layer on the backend that holds it (a partial offload splits the cache). */
    for (uint32_t il = 0; il < kv->n_layer; il++) {
        infer_backend *be = kv->be[il];
        const infer_backend_ops *o = be->ops;
        const infer_bview k = infer_kv_seq_k(kv, il, seq), v = infer_kv_seq_v(kv, il, seq);
        o->begin(be);
        if (to_cache) {
            o->write(be, k, host, kb);
            o->write(be, v, host + kb, vb);
        } else {
            o->read(be, k, host, kb);
            o->read(be, v, host + kb, vb);
        }
        infer_status st = o->end(be, e);
        if (st != INFER_OK) return st;
        host += kb + vb;
    }
    return INFER_OK;
}

static infer_status ctx_fail(infer_ctx *c, const infer_error *e) {
    infer_err_copy(c->last_error, sizeof c->last_error, e);
    return e->status;
}

infer_status infer_ctx_seq_save(infer_ctx *c, int32_t seq, void *buf, size_t cap, size_t *n_out) {
    if (!c) return INFER_ERR_INVALID_ARG;
    infer_error e = {0};
    if (seq < 0 || (uint32_t)seq >= c->kv.n_seq) {
        infer_err(&e, INFER_ERR_INVALID_ARG, "seq_save: sequence id %d outside [0, %u)", (int)seq, c->kv.n_seq);
        return ctx_fail(c, &e);
    }
    const infer_kv_cache *kv = &c->kv;
    const int32_t n = kv->len[seq];
    const size_t need = session_bytes(kv, (uint64_t)n);
    if (n_out) *n_out = need;
    if (!buf || cap < need) {
        infer_err(&e, INFER_ERR_BUFFER_SMALL, "seq_save: the session needs %zu bytes, the buffer has %zu", need, cap);
        return ctx_fail(c, &e);
    }
    uint8_t *p = buf;
    memcpy(p, SES_MAGIC, 8);
    put_u32(p + 8, SES_VERSION);
    put_u32(p + 12, kv->type == INFER_TYPE_F16 ? INFER_KV_F16 : INFER_KV_F32);
    put_u64(p + 16, model_fingerprint(c->m));
    put_u32(p + 24, kv->n_layer);
    put_u32(p + 28, (uint32_t)kv->k_row_bytes);
    put_u32(p + 32, (uint32_t)kv->v_row_bytes);
    put_u32(p + 36, (uint32_t)n);
    memcpy(p + SES_HEADER, infer_kv_seq_tokens(kv, (uint32_t)seq), (size_t)n * 4);
    uint8_t *rows = p + SES_HEADER + (size_t)n * 4;
    infer_status st = transfer_rows(c, (uint32_t)seq, (uint32_t)n, rows, 0, &e);
    if (st != INFER_OK) return ctx_fail(c, &e);
    put_u64(p + need - 8, fnv_bytes(FNV_OFFSET, p, need - 8));
    c->last_error[0] = 0;
    return INFER_OK;
}

/* Every check of a session against this context; *n_tokens on success. */
static infer_status check_session(const infer_ctx *c, const uint8_t *p, size_t len, uint32_t *n_tokens,
                                  infer_error *e) {
    const infer_kv_cache *kv = &c->kv;
    if (len < SES_HEADER + 8)
        return infer_err(e, INFER_ERR_FORMAT, "session: %zu bytes is shorter than the %u-byte header and checksum",
                         len, SES_HEADER + 8);
    if (memcmp(p, SES_MAGIC, 8) != 0)
        return infer_err(e, INFER_ERR_FORMAT, "session: bad magic (not a libinfer session)");
    const uint32_t version = get_u32(p + 8);
    if (version != SES_VERSION)
        return infer_err(e, INFER_ERR_UNSUPPORTED, "session: format version %u (this library reads %u)", version,
                         SES_VERSION);
    if (get_u64(p + 16) != model_fingerprint(c->m))
        return infer_err(e, INFER_ERR_FORMAT,
                         "session: saved with another model than this one ('%s'): the fingerprints differ",
                         c->m->name && *c->m->name ? c->m->name : c->m->arch_name);
    const uint32_t kv_type = get_u32(p + 12), want_type = kv->type == INFER_TYPE_F16 ? INFER_KV_F16 : INFER_KV_F32;
    if (kv_type != want_type)
        return infer_err(e, INFER_ERR_FORMAT, "session: KV cache type %s, this context uses %s",
                         kv_type == INFER_KV_F16 ? "F16" : kv_type == INFER_KV_F32 ? "F32" : "unknown",
                         want_type == INFER_KV_F16 ? "F16" : "F32");
    if (get_u32(p + 24) != kv->n_layer || get_u32(p + 28) != kv->k_row_bytes || get_u32(p + 32) != kv->v_row_bytes)
        return infer_err(e, INFER_ERR_FORMAT, "session: cache shape (%u layers, rows %u/%u bytes) differs from "
                         "this context's (%u, %zu/%zu)", get_u32(p + 24), get_u32(p + 28), get_u32(p + 32),
                         kv->n_layer, kv->k_row_bytes, kv->v_row_bytes);
    const uint32_t n = get_u32(p + 36);
    const size_t need = session_bytes(kv, n);
    if (need != len)
        return infer_err(e, INFER_ERR_FORMAT, "session: %zu bytes, but its header (%u tokens) means %zu%s", len, n,
                         need, len < need ? " (truncated)" : "");
    const uint64_t sum = get_u64(p + len - 8);
    if (fnv_bytes(FNV_OFFSET, p, len - 8) != sum)
        return infer_err(e, INFER_ERR_FORMAT, "session: checksum mismatch (corrupted file)");
    if (n > kv->n_ctx_seq)
        return infer_err(e, INFER_ERR_CONTEXT_FULL, "session: %u tokens do not fit in a sequence of %u positions", n,
                         kv->n_ctx_seq);
    const int32_t n_vocab = (int32_t)c->m->hp.n_vocab;
    for (uint32_t i = 0; i < n; i++) {
        int32_t t;
        memcpy(&t, p + SES_HEADER + (size_t)i * 4, 4);
        if (t < -1 || t >= n_vocab)
            return infer_err(e, INFER_ERR_FORMAT, "session: token %d at position %u outside [0, %d)", (int)t, i,
                             (int)n_vocab);
    }
    *n_tokens = n;
    return INFER_OK;
}

infer_status infer_ctx_seq_load(infer_ctx *c, int32_t seq, const void *buf, size_t len) {
    if (!c) return INFER_ERR_INVALID_ARG;
    infer_error e = {0};
    if (seq < 0 || (uint32_t)seq >= c->kv.n_seq) {
        infer_err(&e, INFER_ERR_INVALID_ARG, "seq_load: sequence id %d outside [0, %u)", (int)seq, c->kv.n_seq);
        return ctx_fail(c, &e);
    }
    if (!buf) {
        infer_err(&e, INFER_ERR_INVALID_ARG, "seq_load: no buffer");
        return ctx_fail(c, &e);
    }
    uint32_t n = 0;
    infer_status st = check_session(c, buf, len, &n, &e);
    if (st != INFER_OK) return ctx_fail(c, &e);

    infer_kv_cache *kv = &c->kv;
    kv->len[seq] = 0;   /* a backend failure below leaves the sequence empty, never half-loaded */
    uint8_t *rows = (uint8_t *)(uintptr_t)buf + SES_HEADER + (size_t)n * 4;   /* only read from */
    if ((st = transfer_rows(c, (uint32_t)seq, n, rows, 1, &e)) != INFER_OK) return ctx_fail(c, &e);
    memcpy(infer_kv_seq_tokens(kv, (uint32_t)seq), (const uint8_t *)buf + SES_HEADER, (size_t)n * 4);
    kv->len[seq] = (int32_t)n;
    c->last_error[0] = 0;
    return INFER_OK;
}

infer_status infer_ctx_seq_save_file(infer_ctx *c, int32_t seq, const char *path) {
    if (!c) return INFER_ERR_INVALID_ARG;
    infer_error e = {0};
    if (!path) {
        infer_err(&e, INFER_ERR_INVALID_ARG, "seq_save_file: no path");
        return ctx_fail(c, &e);
    }
    size_t need = 0;
    infer_status st = infer_ctx_seq_save(c, seq, NULL, 0, &need);
    if (st != INFER_ERR_BUFFER_SMALL) return st;
    void *buf = malloc(need);
    if (!buf) {
        infer_err(&e, INFER_ERR_NOMEM, "seq_save_file: out of memory for %zu bytes", need);
        return ctx_fail(c, &e);
    }
    if ((st = infer_ctx_seq_save(c, seq, buf, need, &need)) != INFER_OK) {
        free(buf);
        return st;
    }
    /* Written beside the target and renamed over it: a crash never leaves half a file. */
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        free(buf);
        infer_err(&e, INFER_ERR_INVALID_ARG, "seq_save_file: path too long");
        return ctx_fail(c, &e);
    }
    FILE *fp = fopen(tmp, "wb");
    int ok = fp && fwrite(buf, 1, need, fp) == need;
    if (fp && fclose(fp) != 0) ok = 0;
    free(buf);
    if (!ok || rename(tmp, path) != 0) {
        infer_err(&e, INFER_ERR_IO, "cannot write session file '%s': %s", path, strerror(errno));
        remove(tmp);
        return ctx_fail(c, &e);
    }
    return INFER_OK;
}

infer_status infer_ctx_seq_load_file(infer_ctx *c, int32_t seq, const char *path) {
    if (!c) return INFER_ERR_INVALID_ARG;
    infer_error e = {0};
    if (!path) {
        infer_err(&e, INFER_ERR_INVALID_ARG, "seq_load_file: no path");
        return ctx_fail(c, &e);
    }
    /* The library's one rule for files it reads: a non-blocking open, then a regular-file
     * check, so a FIFO, directory, device or socket is refused at once (core/file_open.h). */
    int fd;
    uint64_t size;
    if (infer_file_open_regular(path, &fd, &size, &e) != INFER_OK) {
        char why[sizeof e.message];
        snprintf(why, sizeof why, "%s", e.message);
        infer_err(&e, e.status, "session file: %s", why);
        return ctx_fail(c, &e);
    }
    const size_t most = session_bytes(&c->kv, c->kv.n_ctx_seq);
    if (size > most) {
        close(fd);
        infer_err(&e, INFER_ERR_CONTEXT_FULL,
                  "session file '%s' has %llu bytes, more than a full sequence of this context (%zu)", path,
                  (unsigned long long)size, most);
        return ctx_fail(c, &e);
    }
    const size_t len = (size_t)size;
    uint8_t *buf = malloc(len ? len : 1);
    size_t got = 0;
    while (buf && got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != len) {
        free(buf);
        infer_err(&e, buf ? INFER_ERR_IO : INFER_ERR_NOMEM, "cannot read session file '%s'", path);
        return ctx_fail(c, &e);
    }
    infer_status st = infer_ctx_seq_load(c, seq, buf, len);
    free(buf);
    if (st != INFER_OK) {
        /* Name the file in front of the loader's message. */
        char msg[sizeof c->last_error];
        memcpy(msg, c->last_error, sizeof msg);
        infer_err(&e, st, "'%.200s': %.300s", path, msg);
        infer_err_copy(c->last_error, sizeof c->last_error, &e);
    }
    return st;
}
