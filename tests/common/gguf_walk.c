#include "gguf_walk.h"

unsigned test_gguf_walk(const infer_gguf *g, test_gguf_walk_broken_fn broken) {
    unsigned sum = 0;
    for (int64_t i = 0; i < infer_gguf_n_kv(g); i++) {
        const char *k = infer_gguf_kv_key(g, i);
        if (!k) {
            broken("metadata key is NULL", i);
            continue;
        }
        if (infer_gguf_find_key(g, k) != i) broken("metadata key finds another entry", i);
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
        if (infer_gguf_find_tensor(g, infer_gguf_tensor_name(g, t)) != t) broken("tensor name finds another entry", t);
        const uint8_t *p = infer_gguf_tensor_data(g, t);
        uint64_t n = infer_gguf_tensor_bytes(g, t);
        if (n == 0) {
            broken("tensor has no bytes", t);
            continue;
        }
        sum += p[0] + p[n - 1];
    }
    return sum;
}
