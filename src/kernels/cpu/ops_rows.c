/* Row movement: embedding lookup from any supported weight type, KV cache stores. */
#include <string.h>
#include "kernels/cpu/ops.h"
#include "tensor/dtype.h"
#include "core/error.h"

typedef struct {
    const uint8_t *table;
    const infer_dtype_traits *tr;
    size_t row_bytes;
    int64_t row_len;
    const int32_t *ids;
    int64_t n;
    float *out;
} rows_task;

static void rows_range(void *arg, int ith, int nth) {
    const rows_task *t = arg;
    long lo, hi;
    infer_split_range((long)t->n, ith, nth, &lo, &hi);
    for (long i = lo; i < hi; i++)
        t->tr->to_float(t->table + (size_t)t->ids[i] * t->row_bytes, t->out + i * t->row_len, t->row_len);
}

infer_status infer_cpu_get_rows(infer_threadpool *tp, const void *table, uint32_t type,
                                int64_t table_rows, int64_t row_len, const int32_t *ids,
                                int64_t n, float *out, infer_error *err) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    if (!tr || !tr->supported || !tr->to_float)
        return infer_err(err, INFER_ERR_UNSUPPORTED, "get_rows: table type %u (%s) cannot be dequantized",
                         type, tr ? tr->name : "unknown");
    const size_t row_bytes = infer_dtype_row_bytes(type, row_len);
    if (row_bytes == 0)
        return infer_err(err, INFER_ERR_INVALID_ARG, "get_rows: row length %lld is not a multiple of the %s block size",
                         (long long)row_len, tr->name);
    /* Ids come from the caller's tokens: check them all before touching memory. */
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= table_rows)
            return infer_err(err, INFER_ERR_INVALID_ARG, "get_rows: id %d at index %lld outside the table's %lld rows",
                             ids[i], (long long)i, (long long)table_rows);
    rows_task t = { table, tr, row_bytes, row_len, ids, n, out };
    if (n * row_len < 65536) rows_range(&t, 0, 1);
    else infer_threadpool_run(tp, rows_range, &t);
    return INFER_OK;
}

infer_status infer_cpu_kv_store(const float *src, const int32_t *pos, int64_t n_tok,
                                int64_t row_len, void *cache, uint32_t cache_type,
                                int64_t cache_rows, infer_error *err) {
    if (cache_type != INFER_TYPE_F32 && cache_type != INFER_TYPE_F16)
        return infer_err(err, INFER_ERR_UNSUPPORTED, "kv_store: cache type %u is not F32 or F16", cache_type);
    for (int64_t t = 0; t < n_tok; t++)
        if (pos[t] < 0 || pos[t] >= cache_rows)
            return infer_err(err, INFER_ERR_INVALID_ARG, "kv_store: position %d of token %lld outside the cache's %lld rows",
                             pos[t], (long long)t, (long long)cache_rows);
    for (int64_t t = 0; t < n_tok; t++) {
        const float *s = src + t * row_len;
        if (cache_type == INFER_TYPE_F32) {
            memcpy((float *)cache + (size_t)pos[t] * row_len, s, sizeof(float) * (size_t)row_len);
        } else {
            uint16_t *d = (uint16_t *)cache + (size_t)pos[t] * row_len;
            for (int64_t i = 0; i < row_len; i++) d[i] = infer_f32_to_fp16(s[i]);
        }
    }
    return INFER_OK;
}
