/* infer_model_quantize: GGUF in, GGUF out with each tensor converted to the type the
 * file type's mix chooses (quant_mix.c). Memory stays bounded whatever the model size:
 * the input is mapped, and each tensor is converted a window of rows at a time by the
 * thread pool and written before the next window, into OUT.part, renamed when done. */
#include "infer.h"
#include "core/error.h"
#include "core/params.h"
#include "gguf/gguf_writer.h"
#include "kernels/cpu/threadpool.h"
#include "models/quant_mix.h"
#include "quant/quant_search.h"
#include "tensor/dtype.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define WINDOW_BYTES ((size_t)32 << 20)   /* output bytes converted per window */

typedef void (*quant_fn)(const float *src, void *dst, int64_t n);

/* File-making quantizers: llama.cpp's searches for the K-quants, the traits' otherwise. */
static quant_fn quantizer_for(uint32_t type) {
    switch (type) {
    case INFER_TYPE_Q4_K: return infer_quant_search_q4_k;
    case INFER_TYPE_Q5_K: return infer_quant_search_q5_k;
    case INFER_TYPE_Q6_K: return infer_quant_search_q6_k;
    case INFER_TYPE_Q2_K: return infer_quant_search_q2_k;
    case INFER_TYPE_Q3_K: return infer_quant_search_q3_k;
    case INFER_TYPE_IQ4_NL: return infer_quant_search_iq4_nl;
    case INFER_TYPE_IQ4_XS: return infer_quant_search_iq4_xs;
    default: break;
    }
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    return tr && tr->supported ? tr->from_float : NULL;
}

static bool is_float_type(uint32_t t) { return t == INFER_TYPE_F32 || t == INFER_TYPE_F16 || t == INFER_TYPE_BF16; }

static const char *type_name(uint32_t t) {
    const char *n = infer_type_name(t);
    return n ? n : "?";
}

#define FIELD(f) INFER_PARAMS_FIELD(infer_quantize_params, f)
/* infer_quantize_params' fields after struct_size, in order (core/params.h): new ones at the end. */
static const infer_params_field params_fields[] = {
    FIELD(type),        FIELD(n_threads), FIELD(pure),     FIELD(allow_requantize),
    FIELD(overrides),   FIELD(n_overrides), FIELD(progress), FIELD(progress_user),
};
#undef FIELD
_Static_assert(sizeof(infer_quantize_params) == INFER_PARAMS_FIELD_END(infer_quantize_params, progress_user),
               "infer_quantize_params: its last field must end at sizeof (core/params.h)");

infer_quantize_params infer_quantize_default_params(void) {
    infer_quantize_params p = {.struct_size = sizeof p};
    p.type = "Q4_K_M";
    return p;
}

const char *const *infer_quantize_type_names(void) {
    /* the file types of quant_mix.c whose tensor types this build can write, F32 aside */
    static const char *const names[] = {
        "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L",
        "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS", "MXFP4_MOE", NULL,
    };
    return names;
}

/* ---------------------------------------------------------------- overrides */

typedef struct override {
    regex_t re;
    uint32_t type;
} override;

static infer_status parse_overrides(const infer_quantize_params *p, override *ov, size_t *n_ok, infer_error *err) {
    *n_ok = 0;
    for (size_t i = 0; i < p->n_overrides; i++) {
        const char *spec = p->overrides[i];
        const char *eq = spec ? strrchr(spec, '=') : NULL;
        if (!eq || eq == spec || !eq[1])
            return infer_err(err, INFER_ERR_INVALID_ARG, "override '%s': expected TENSOR_REGEX=TYPE", spec ? spec : "(null)");
        uint32_t type = UINT32_MAX;
        for (uint32_t t = 0; t < INFER_TYPE_COUNT; t++)
            if (infer_type_name(t) && strcasecmp(infer_type_name(t), eq + 1) == 0) type = t;
        if (type == UINT32_MAX || !quantizer_for(type))
            return infer_err(err, INFER_ERR_UNSUPPORTED, "override '%s': cannot write tensor type '%s'", spec, eq + 1);
        char *pattern = strndup(spec, (size_t)(eq - spec));
        if (!pattern) return infer_err(err, INFER_ERR_NOMEM, "out of memory");
        int rc = regcomp(&ov[*n_ok].re, pattern, REG_EXTENDED | REG_NOSUB);
        free(pattern);
        if (rc != 0) return infer_err(err, INFER_ERR_INVALID_ARG, "override '%s': invalid regular expression", spec);
        ov[(*n_ok)++].type = type;
    }
    return INFER_OK;
}

static uint32_t override_for(const override *ov, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (regexec(&ov[i].re, name, 0, NULL, 0) == 0) return ov[i].type;
    return UINT32_MAX;
}

/* ---------------------------------------------------------------- conversion */

typedef struct convert_job {
    const uint8_t *src;            /* first row of the window */
    size_t src_row_bytes, dst_row_bytes;
    uint8_t *dst;
    int64_t n_per_row, n_rows;
    infer_to_float_fn to_float;    /* NULL: the source is F32 */
    quant_fn quant;
    float *scratch;                /* [nth][n_per_row] */
} convert_job;

static void convert_part(void *arg, int ith, int nth) {
    const convert_job *j = arg;
    long lo, hi;
    infer_split_range((long)j->n_rows, ith, nth, &lo, &hi);
    float *row = j->scratch + (size_t)ith * (size_t)j->n_per_row;
    for (long r = lo; r < hi; r++) {
        const uint8_t *s = j->src + (size_t)r * j->src_row_bytes;
        const float *x = (const float *)s;
        if (j->to_float) {
            j->to_float(s, row, j->n_per_row);
            x = row;
        } else if (((uintptr_t)s & (sizeof(float) - 1)) != 0) {
            memcpy(row, s, (size_t)j->n_per_row * sizeof(float));
            x = row;
        }
        j->quant(x, j->dst + (size_t)r * j->dst_row_bytes, j->n_per_row);
    }
}

/* The input is a read-only file mapping: pages already converted are dropped from this
 * process (they would be re-read from the file if touched again), so the resident size
 * stays at about one window however large the model. */
static void release_input(const void *p, uint64_t n) {
    const long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || n == 0) return;
    uintptr_t lo = (uintptr_t)p & ~(uintptr_t)(page - 1), hi = ((uintptr_t)p + (uintptr_t)n) & ~(uintptr_t)(page - 1);
    if (hi > lo) madvise((void *)lo, (size_t)(hi - lo), MADV_DONTNEED);
}

typedef struct plan_entry {
    int64_t index;       /* in the input file */
    const char *name;
    uint32_t from, to;
} plan_entry;

static int plan_cmp(const void *a, const void *b) {
    return quant_mix_order(((const plan_entry *)a)->name, ((const plan_entry *)b)->name);
}

/* Writes tensor e's data (converted or copied) to f. */
static infer_status write_tensor(const infer_gguf *g, infer_gguf_writer *w, FILE *f, uint64_t wi, const plan_entry *e,
                                 infer_threadpool *tp, float *scratch, uint8_t *window, infer_error *err) {
    const uint8_t *src = infer_gguf_tensor_data(g, e->index);
    const uint64_t bytes_in = infer_gguf_tensor_bytes(g, e->index);
    if (e->from == e->to) {   /* unchanged: copy from the mapping in windows */
        uint64_t done = 0;
        do {
            uint64_t k = bytes_in - done < WINDOW_BYTES ? bytes_in - done : WINDOW_BYTES;
            infer_status st = infer_gguf_writer_write_tensor_data(w, f, wi, src + done, k, done + k == bytes_in, err);
            if (st) return st;
            release_input(src + done, k);
            done += k;
        } while (done < bytes_in);
        return INFER_OK;
    }
    const int64_t n_per_row = (int64_t)infer_gguf_tensor_dim(g, e->index, 0);
    const int64_t n_rows = (int64_t)(infer_gguf_tensor_bytes(g, e->index) / infer_dtype_row_bytes(e->from, n_per_row));
    convert_job job = {
        .src_row_bytes = infer_dtype_row_bytes(e->from, n_per_row),
        .dst_row_bytes = infer_dtype_row_bytes(e->to, n_per_row),
        .n_per_row = n_per_row,
        .to_float = e->from == INFER_TYPE_F32 ? NULL : infer_dtype_traits_get(e->from)->to_float,
        .quant = quantizer_for(e->to),
        .scratch = scratch,
        .dst = window,
    };
    int64_t per_window = (int64_t)(WINDOW_BYTES / job.dst_row_bytes);
    if (per_window < 1) per_window = 1;
    for (int64_t r0 = 0; r0 < n_rows; r0 += per_window) {
        job.n_rows = n_rows - r0 < per_window ? n_rows - r0 : per_window;
        job.src = src + (size_t)r0 * job.src_row_bytes;
        infer_threadpool_run(tp, convert_part, &job);
        infer_status st = infer_gguf_writer_write_tensor_data(w, f, wi, window, (uint64_t)job.n_rows * job.dst_row_bytes,
                                                              r0 + job.n_rows == n_rows, err);
        if (st) return st;
        release_input(job.src, (uint64_t)job.n_rows * job.src_row_bytes);
    }
    return INFER_OK;
}

/* Metadata: everything copied in order except the split keys and the alignment (the
 * output uses the default); file type and quantization version set in place. */
static void copy_metadata(const infer_gguf *g, infer_gguf_writer *w, uint32_t ftype) {
    bool have_ft = false, have_qv = false;
    for (int64_t i = 0; i < infer_gguf_n_kv(g); i++) {
        const char *key = infer_gguf_kv_key(g, i);
        if (strncmp(key, "split.", 6) == 0 || strcmp(key, "general.alignment") == 0) continue;
        if (strcmp(key, "general.file_type") == 0) {
            infer_gguf_writer_set_u32(w, key, ftype);
            have_ft = true;
        } else if (strcmp(key, "general.quantization_version") == 0) {
            infer_gguf_writer_set_u32(w, key, 2);
            have_qv = true;
        } else {
            infer_gguf_writer_copy_kv(w, g, i);
        }
    }
    if (!have_qv) infer_gguf_writer_set_u32(w, "general.quantization_version", 2);
    if (!have_ft) infer_gguf_writer_set_u32(w, "general.file_type", ftype);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Everything after the input is open; the caller frees what is passed in. */
static infer_status quantize_open(const infer_gguf *g, const char *out_path, const char *tmp_path,
                                  const infer_quantize_params *p, const quant_ftype_info *ft,
                                  const override *ov, size_t n_ov, infer_quantize_stats *stats, infer_error *err) {
    const double t0 = now_seconds();
    const int64_t n = infer_gguf_n_tensors(g);
    infer_status st = INFER_OK;
    plan_entry *plan = calloc((size_t)(n > 0 ? n : 1), sizeof *plan);
    const char **names = calloc((size_t)(n > 0 ? n : 1), sizeof *names);
    infer_gguf_writer *w = infer_gguf_writer_new();
    infer_threadpool *tp = NULL;
    float *scratch = NULL;
    uint8_t *window = NULL;
    FILE *f = NULL;
    if (!plan || !names || !w) { st = infer_err(err, INFER_ERR_NOMEM, "out of memory"); goto done; }

    for (int64_t i = 0; i < n; i++) {
        plan[i].index = i;
        plan[i].name = names[i] = infer_gguf_tensor_name(g, i);
        plan[i].from = infer_gguf_tensor_type(g, i);
    }
    qsort(plan, (size_t)n, sizeof *plan, plan_cmp);
    quant_mix_model model = {0};
    quant_mix_model_from_gguf(&model, g, names, n);
    quant_mix_state mix = {0};
    int64_t max_row = 1;
    for (int64_t k = 0; k < n; k++) {
        plan_entry *e = &plan[k];
        const uint32_t nd = infer_gguf_tensor_n_dims(g, e->index);
        uint64_t ne[4] = {1, 1, 1, 1};
        for (uint32_t d = 0; d < nd && d < 4; d++) ne[d] = infer_gguf_tensor_dim(g, e->index, d);
        e->to = e->from;
        if (quant_mix_allows(e->name, nd)) {
            e->to = quant_mix_choose(&model, &mix, ft, e->name, ne, p->pure != 0, override_for(ov, n_ov, e->name));
        }
        if (e->to != e->from) {
            if (!is_float_type(e->from) && !p->allow_requantize) {
                st = infer_err(err, INFER_ERR_INVALID_ARG,
                               "tensor '%s' is already quantized (%s): requantizing to %s loses quality; "
                               "allow it explicitly (--allow-requantize) or start from an F32/F16/BF16 file",
                               e->name, type_name(e->from), type_name(e->to));
                goto done;
            }
            const infer_dtype_traits *tr = infer_dtype_traits_get(e->from);
            if (!tr || !tr->to_float) {
                st = infer_err(err, INFER_ERR_UNSUPPORTED, "tensor '%s': cannot read type %s", e->name, type_name(e->from));
                goto done;
            }
            if (!quantizer_for(e->to)) {
                st = infer_err(err, INFER_ERR_UNSUPPORTED, "tensor '%s': this build cannot write type %s", e->name,
                               type_name(e->to));
                goto done;
            }
            if ((int64_t)ne[0] > max_row) max_row = (int64_t)ne[0];
        }
        infer_gguf_writer_add_tensor_info(w, e->name, e->to, nd, ne);
    }
    copy_metadata(g, w, (uint32_t)ft->ftype);

    int n_threads = p->n_threads;
    if (n_threads <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = online > 0 ? (int)online : 1;
    }
    if (n_threads > 512) n_threads = 512;
    tp = infer_threadpool_new(n_threads);
    scratch = malloc((size_t)n_threads * (size_t)max_row * sizeof(float));
    window = malloc(WINDOW_BYTES + (size_t)max_row * 8);   /* at least one row of any type */
    if (!tp || !scratch || !window) { st = infer_err(err, INFER_ERR_NOMEM, "out of memory for the conversion buffers"); goto done; }

    f = fopen(tmp_path, "wb");
    if (!f) { st = infer_err(err, INFER_ERR_IO, "cannot create '%s': %s", tmp_path, strerror(errno)); goto done; }
    st = infer_gguf_writer_write_header(w, f, err);
    for (int64_t k = 0; !st && k < n; k++) {
        const plan_entry *e = &plan[k];
        st = write_tensor(g, w, f, (uint64_t)k, e, tp, scratch, window, err);
        if (st) {
            if (st == INFER_ERR_IO)
                infer_err(err, st, "writing '%s' (tensor '%s'): %s", tmp_path, e->name, strerror(errno));
            break;
        }
        const uint64_t bin = infer_gguf_tensor_bytes(g, e->index), bout = infer_gguf_writer_tensor_bytes(w, (uint64_t)k);
        uint64_t elems = 1;
        for (uint32_t d = 0; d < infer_gguf_tensor_n_dims(g, e->index); d++) elems *= infer_gguf_tensor_dim(g, e->index, d);
        stats->n_tensors++;
        stats->n_quantized += e->to != e->from;
        stats->n_elements += elems;
        stats->bytes_in += bin;
        stats->bytes_out += bout;
        if (p->progress) {
            infer_quantize_progress pr = {k, n, e->name, e->from, e->to, bin, bout};
            if (p->progress(&pr, p->progress_user)) st = infer_err(err, INFER_ERR_CANCELLED, "quantization cancelled");
        }
    }
    stats->n_fallback = mix.n_fallback;
    if (!st && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        st = infer_err(err, INFER_ERR_IO, "writing '%s': %s", tmp_path, strerror(errno));
    if (fclose(f) != 0 && !st) st = infer_err(err, INFER_ERR_IO, "writing '%s': %s", tmp_path, strerror(errno));
    f = NULL;
    if (!st && rename(tmp_path, out_path) != 0)
        st = infer_err(err, INFER_ERR_IO, "cannot rename '%s' to '%s': %s", tmp_path, out_path, strerror(errno));
    if (st) remove(tmp_path);
    stats->seconds = now_seconds() - t0;
done:
    if (f) {
        fclose(f);
        remove(tmp_path);
    }
    free(window);
    free(scratch);
    infer_threadpool_free(tp);
    infer_gguf_writer_free(w);
    free(names);
    free(plan);
    return st;
}

infer_status infer_model_quantize(const char *in_path, const char *out_path, const infer_quantize_params *params,
                                  infer_quantize_stats *stats, infer_error *err) {
    infer_quantize_stats local;
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!in_path || !out_path || !params) return infer_err(err, INFER_ERR_INVALID_ARG, "NULL path or params");
    infer_quantize_params p = infer_quantize_default_params();
    infer_status read = infer_params_read(params, &p, sizeof p, params_fields,
                                          sizeof params_fields / sizeof params_fields[0], "infer_model_quantize: params",
                                          err);
    if (read != INFER_OK) return read;
    params = &p;   /* the caller's fields, and the defaults for those an older caller lacks */
    const quant_ftype_info *ft = quant_ftype_find(params->type);
    if (!ft || ft->ftype == QF_ALL_F32) {
        char known[512] = "";
        for (const char *const *t = infer_quantize_type_names(); *t; t++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", known[0] ? " " : "", *t);
        return infer_err(err, INFER_ERR_INVALID_ARG, "unknown quantization type '%s' (known: %s)",
                         params->type ? params->type : "(null)", known);
    }
    if (!quantizer_for(ft->base_type))
        return infer_err(err, INFER_ERR_UNSUPPORTED, "this build cannot write %s tensors (file type %s)",
                         type_name(ft->base_type), ft->name);
    if (params->n_overrides && !params->overrides) return infer_err(err, INFER_ERR_INVALID_ARG, "NULL overrides");
    override *ov = calloc(params->n_overrides + 1, sizeof *ov);
    size_t n_ov = 0;
    char *tmp_path = malloc(strlen(out_path) + 6);
    infer_gguf *g = NULL;
    infer_status st = !ov || !tmp_path ? infer_err(err, INFER_ERR_NOMEM, "out of memory") : INFER_OK;
    if (!st) st = parse_overrides(params, ov, &n_ov, err);
    if (!st) st = infer_gguf_open(in_path, &g, err);
    if (!st) {
        int64_t ks = infer_gguf_find_key(g, "split.count");
        if (ks >= 0 && infer_gguf_kv_uint(g, ks) > 1)
            st = infer_err(err, INFER_ERR_UNSUPPORTED, "'%s' is one part of a split model: merge the parts first", in_path);
    }
    if (!st) {
        strcpy(tmp_path, out_path);
        strcat(tmp_path, ".part");
        st = quantize_open(g, out_path, tmp_path, params, ft, ov, n_ov, stats, err);
    }
    infer_gguf_close(g);
    for (size_t i = 0; i < n_ov; i++) regfree(&ov[i].re);
    free(ov);
    free(tmp_path);
    return st;
}
