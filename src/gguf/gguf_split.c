/* Split GGUF sets (llama.cpp's gguf-split): a model given as its first part,
 * `<prefix>-00001-of-0000N.gguf`, is opened with all N parts. Each part is an ordinary
 * GGUF file, opened and validated on its own by infer_gguf_open (mapped, every offset
 * and size checked against that file). This file adds what only the set can check:
 *   - every part says split.count = N, split.no = its place and the same
 *     split.tensors.count, and carries no general.architecture other than the first's
 *     (a part of another model);
 *   - no tensor name appears in two parts, and the parts hold exactly
 *     split.tensors.count tensors together.
 * The result is one infer_gguf: the first part's header and metadata (borrowed), and the
 * union of the parts' tensor tables whose data pointers go into each part's mapping. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"

#define SPLIT_MAX_PARTS 9999   /* the %05d names llama.cpp writes; far more than any real set */

/* The metadata of one part that the set checks. */
typedef struct split_keys {
    uint32_t no, count, tensors;
    bool has_no, has_count, has_tensors;
} split_keys;

static infer_status read_split_keys(const infer_gguf *g, split_keys *k, infer_error *err) {
    memset(k, 0, sizeof *k);
    infer_status st;
    k->has_no = infer_gguf_find_key(g, "split.no") >= 0;
    k->has_count = infer_gguf_find_key(g, "split.count") >= 0;
    k->has_tensors = infer_gguf_find_key(g, "split.tensors.count") >= 0;
    if (k->has_no && (st = infer_gguf_get_u32(g, "split.no", &k->no, err)) != INFER_OK) return st;
    if (k->has_count && (st = infer_gguf_get_u32(g, "split.count", &k->count, err)) != INFER_OK) return st;
    if (k->has_tensors && (st = infer_gguf_get_u32(g, "split.tensors.count", &k->tensors, err)) != INFER_OK) return st;
    return INFER_OK;
}

/* general.architecture as a length-bounded string, or NULL/0 when absent. */
static const char *arch_of(const infer_gguf *g, uint64_t *len) {
    int64_t i = infer_gguf_find_key(g, "general.architecture");
    *len = 0;
    if (i < 0 || infer_gguf_kv_type(g, i) != INFER_GGUF_STRING) return NULL;
    return infer_gguf_kv_str(g, i, len);
}

/* "<prefix>-NNNNN-of-MMMMM.gguf" for part `no` (0-based) of `count`, from the first
 * part's path; NULL (message in err) when that path does not end the way gguf-split
 * names a first part. */
static char *part_path(const char *first, uint32_t no, uint32_t count, infer_error *err) {
    char want[64];
    snprintf(want, sizeof want, "-%05u-of-%05u.gguf", 1u, count);
    size_t n = strlen(first), w = strlen(want);
    if (n < w || strcmp(first + n - w, want) != 0) {
        infer_err(err, INFER_ERR_FORMAT,
                  "'%s' is the first part of a split model (split.count = %" PRIu32 ") but its name does not end in"
                  " '%s', so the other parts cannot be found",
                  first, count, want);
        return NULL;
    }
    char *p = malloc(n + 1);
    if (!p) {
        infer_err(err, INFER_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(p, first, n - w);
    snprintf(p + n - w, w + 1, "-%05u-of-%05u.gguf", no + 1, count);
    return p;
}

void gguf_split_close(infer_gguf *g) {
    if (!g) return;
    for (int32_t i = 0; i < g->n_parts; i++) infer_gguf_close(g->parts[i]);
    free(g->parts);
    free(g->tensors);   /* names belong to the parts */
    gguf_name_index_free(&g->tensor_index);
    free(g);            /* kv, kv_index, path: borrowed from parts[0] */
}

/* Checks part `no` (already open) against the first part's keys. */
static infer_status check_part(const infer_gguf *part, uint32_t no, const split_keys *first, const infer_gguf *g0,
                               infer_error *err) {
    split_keys k;
    infer_status st = read_split_keys(part, &k, err);
    if (st != INFER_OK) return st;
    if (!k.has_no || !k.has_count)
        return infer_err(err, INFER_ERR_FORMAT, "has no split.no / split.count: not a part of a split model");
    if (k.count != first->count)
        return infer_err(err, INFER_ERR_FORMAT, "split.count = %" PRIu32 ", but the first part says %" PRIu32
                         " (a part of another split?)", k.count, first->count);
    if (k.no != no)
        return infer_err(err, INFER_ERR_FORMAT, "split.no = %" PRIu32 ", expected %" PRIu32 " for part %" PRIu32
                         " (parts renamed or mixed up?)", k.no, no, no + 1);
    if (!k.has_tensors || k.tensors != first->tensors)
        return infer_err(err, INFER_ERR_FORMAT, "split.tensors.count = %" PRIu32 ", but the first part says %" PRIu32
                         " (a part of another model?)", k.has_tensors ? k.tensors : 0, first->tensors);
    uint64_t alen, alen0;
    const char *a = arch_of(part, &alen), *a0 = arch_of(g0, &alen0);
    if (a && (!a0 || alen != alen0 || memcmp(a, a0, (size_t)alen) != 0))
        return infer_err(err, INFER_ERR_FORMAT, "general.architecture differs from the first part's (a part of another model)");
    return INFER_OK;
}

/* Prefixes err's message with the part's name: "split part 2 of 3 ('P'): ...". */
static infer_status name_part(infer_error *err, infer_status st, uint32_t no, uint32_t count, const char *path) {
    if (!err) return st;
    char msg[sizeof err->message];
    snprintf(msg, sizeof msg, "%s", err->message);
    /* infer_gguf_open already starts its messages with the path: do not repeat it. */
    size_t n = strlen(path);
    const char *rest = strncmp(msg, path, n) == 0 && msg[n] == ':' ? msg + n + 2 : msg;
    return infer_err(err, st, "split part %" PRIu32 " of %" PRIu32 " ('%s'): %s", no + 1, count, path, rest);
}

/* Joins the parts' tensor tables into g (the set): a name seen in two parts is refused,
 * then the total must be split.tensors.count (a part short of tensors, or one from
 * another split of the same layout, shows up here). */
static infer_status merge_tensors(infer_gguf *g, const split_keys *first, infer_error *err) {
    int64_t total = 0;
    for (int32_t i = 0; i < g->n_parts; i++) total += g->parts[i]->n_tensors;
    g->tensors = calloc(total ? (size_t)total : 1, sizeof *g->tensors);
    if (!g->tensors || !gguf_name_index_init(&g->tensor_index, (uint64_t)total))
        return infer_err(err, INFER_ERR_NOMEM, "out of memory for %" PRId64 " tensors", total);
    int64_t n = 0;
    for (int32_t p = 0; p < g->n_parts; p++) {
        const infer_gguf *part = g->parts[p];
        for (int64_t i = 0; i < part->n_tensors; i++) {
            gguf_tensor t = part->tensors[i];
            t.part = p;
            int64_t prev = gguf_name_index_insert(&g->tensor_index, t.name, n);
            if (prev >= 0)
                return infer_err(err, INFER_ERR_FORMAT, "split model: tensor '%s' is in part %" PRId32 " ('%s') and again"
                                 " in part %" PRId32 " ('%s')", t.name, g->tensors[prev].part + 1,
                                 g->parts[g->tensors[prev].part]->path, p + 1, part->path);
            g->tensors[n++] = t;
            g->n_tensors = n;
        }
    }
    if (total != (int64_t)first->tensors)
        return infer_err(err, INFER_ERR_FORMAT, "split model '%s': the %" PRId32 " parts hold %" PRId64
                         " tensors together, but split.tensors.count says %" PRIu32 " (a part is missing tensors or"
                         " belongs to another model)", g->parts[0]->path, g->n_parts, total, first->tensors);
    return INFER_OK;
}

infer_status infer_gguf_open_split(const char *path, infer_gguf **out, infer_error *err) {
    if (!out) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_gguf_open_split: out is NULL");
    *out = NULL;
    infer_gguf *g0 = NULL;
    infer_status st = infer_gguf_open(path, &g0, err);
    if (st != INFER_OK) return st;
    split_keys first;
    if ((st = read_split_keys(g0, &first, err)) != INFER_OK) {
        infer_gguf_close(g0);
        return st;
    }
    if (!first.has_count || (first.count == 1 && (!first.has_no || first.no == 0))) {
        *out = g0;   /* a single file (or a "set" of one) */
        return INFER_OK;
    }
    /* From here on g0 is the first part of a set. */
    if (first.count == 0 || first.count > SPLIT_MAX_PARTS) st = infer_err(err, INFER_ERR_FORMAT,
        "'%s': split.count = %" PRIu32 " (must be 1 to %d)", path, first.count, SPLIT_MAX_PARTS);
    else if (!first.has_no) st = infer_err(err, INFER_ERR_FORMAT, "'%s': split.count is set but split.no is missing", path);
    else if (first.no != 0) {
        char *p1 = NULL;
        /* Name the file to give instead, when the name allows it. */
        char want[64];
        snprintf(want, sizeof want, "-%05u-of-%05u.gguf", first.no + 1, first.count);
        size_t n = strlen(path), w = strlen(want);
        if (n >= w && strcmp(path + n - w, want) == 0 && (p1 = malloc(n + 1))) {
            memcpy(p1, path, n - w);
            snprintf(p1 + n - w, w + 1, "-%05u-of-%05u.gguf", 1u, first.count);
        }
        st = infer_err(err, INFER_ERR_INVALID_ARG, "'%s' is part %" PRIu32 " of %" PRIu32 " of a split model: load it from"
                       " its first part%s%s%s", path, first.no + 1, first.count, p1 ? " ('" : "", p1 ? p1 : "",
                       p1 ? "')" : "");
        free(p1);
    } else if (!first.has_tensors) st = infer_err(err, INFER_ERR_FORMAT, "'%s': split.count is set but split.tensors.count"
                                                  " is missing", path);
    if (st != INFER_OK) {
        infer_gguf_close(g0);
        return st;
    }

    infer_gguf *g = calloc(1, sizeof *g);
    infer_gguf **parts = calloc(first.count, sizeof *parts);
    if (!g || !parts) {
        free(g);
        free(parts);
        infer_gguf_close(g0);
        return infer_err(err, INFER_ERR_NOMEM, "out of memory for a split model of %" PRIu32 " parts", first.count);
    }
    /* The set borrows the first part's header and metadata. */
    *g = *g0;
    g->tensors = NULL;
    g->n_tensors = 0;
    memset(&g->tensor_index, 0, sizeof g->tensor_index);
    g->map = NULL;
    g->parts = parts;
    g->parts[0] = g0;
    g->n_parts = 1;
    for (uint32_t no = 1; no < first.count && st == INFER_OK; no++) {
        char *pp = part_path(path, no, first.count, err);
        if (!pp) {
            st = err ? err->status : INFER_ERR_FORMAT;
            break;
        }
        infer_gguf *part = NULL;
        st = infer_gguf_open(pp, &part, err);
        if (st == INFER_OK) {
            g->parts[g->n_parts++] = part;
            st = check_part(part, no, &first, g0, err);
        }
        if (st != INFER_OK) name_part(err, st, no, first.count, pp);
        free(pp);
    }
    if (st == INFER_OK) st = merge_tensors(g, &first, err);
    if (st != INFER_OK) {
        gguf_split_close(g);
        return st;
    }
    if (err) {
        err->status = INFER_OK;
        err->message[0] = 0;
    }
    *out = g;
    return INFER_OK;
}
