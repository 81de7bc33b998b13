/* libFuzzer entry for the GGUF reader: parses the input from memory (no file I/O) and,
 * when it opens, reads everything a caller could read, so sanitizers see any access
 * outside the input. Build with scripts/run-fuzz.sh. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "infer.h"
#include "gguf/gguf.h"

static volatile unsigned sink;   /* keeps the reads from being optimized away */

static void walk(const infer_gguf *g) {
    unsigned sum = 0;
    for (int64_t i = 0; i < infer_gguf_n_kv(g); i++) {
        const char *k = infer_gguf_kv_key(g, i);
        if (infer_gguf_find_key(g, k) != i) __builtin_trap();   /* keys are unique */
        sum += (unsigned)infer_gguf_kv_int(g, i) + (unsigned)infer_gguf_kv_uint(g, i) + (infer_gguf_kv_float(g, i) > 0);
        uint64_t len = 0;
        const char *s = infer_gguf_kv_str(g, i, &len);
        for (uint64_t j = 0; s && j < len; j++) sum += (uint8_t)s[j];
        for (uint64_t j = 0; j < infer_gguf_kv_arr_len(g, i); j++) {
            sum += (unsigned)infer_gguf_kv_arr_int(g, i, j) + (infer_gguf_kv_arr_float(g, i, j) > 0);
            s = infer_gguf_kv_arr_str(g, i, j, &len);
            for (uint64_t c = 0; s && c < len; c++) sum += (uint8_t)s[c];
        }
    }
    for (int64_t t = 0; t < infer_gguf_n_tensors(g); t++) {
        if (infer_gguf_find_tensor(g, infer_gguf_tensor_name(g, t)) != t) __builtin_trap();
        const uint8_t *p = infer_gguf_tensor_data(g, t);
        uint64_t n = infer_gguf_tensor_bytes(g, t);
        sum += p[0] + p[n - 1];
    }
    sink = sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    infer_gguf *g = NULL;
    infer_error err;
    infer_status st = infer_gguf_open_memory(data, size, &g, &err);
    if (st == INFER_OK) {
        walk(g);
        infer_gguf_close(g);
    } else if (g != NULL || err.message[0] == 0 || err.status != st) {
        __builtin_trap();        /* a failure must leave no handle and explain itself */
    }
    return 0;
}
