#include "tool_util.h"

#include "core/file_open.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

char *tool_read_file(const char *path, size_t *len_out) {
    char *data = NULL;
    infer_error err = {0};
    if (infer_file_read_all(path, TOOL_MAX_INPUT_BYTES, &data, len_out, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        return NULL;
    }
    return data;
}

double tool_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t tool_utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

int32_t *tool_tokenize(const infer_model *m, const char *text, size_t len, int add_bos, int parse_special,
                       size_t *n_out, infer_status *st) {
    size_t n = 0;
    *st = infer_tokenize(m, text, len, add_bos, parse_special, NULL, 0, &n);   /* count only */
    if (*st != INFER_OK && *st != INFER_ERR_BUFFER_SMALL) return NULL;
    int32_t *toks = malloc((n ? n : 1) * sizeof *toks);
    if (!toks) {
        *st = INFER_ERR_NOMEM;
        return NULL;
    }
    *st = infer_tokenize(m, text, len, add_bos, parse_special, toks, n, &n);
    if (*st != INFER_OK) {
        free(toks);
        return NULL;
    }
    *n_out = n;
    return toks;
}
