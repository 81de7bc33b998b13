/* libFuzzer entry for saved sessions: the input is a session file loaded into sequence 1
 * of a small context on stories260K (tests/data/models, found next to this source).
 *
 * Byte 0 chooses the mode: bit 0 set: the input's last 8 bytes are replaced by the
 * correct checksum before loading, so mutations get past the checksum and reach the
 * checks behind it (shape, length, tokens); otherwise the input is loaded as it is. A
 * load that succeeds is followed by one decoded token in that sequence, and the other
 * sequence must be untouched. Seeds: tests/corpus/session (real sessions written by
 * infer_ctx_seq_save). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"

static infer_model *g_m;
static infer_ctx *g_c;

/* The library's checksum (FNV-1a 64 over 8-byte words, then the tail bytes). */
static uint64_t checksum(const uint8_t *b, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    for (; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    char path[4096];
    const char *src = __FILE__;   /* .../tests/fuzz/fuzz_session.c */
    const char *cut = strstr(src, "tests/fuzz/");
    snprintf(path, sizeof path, "%.*stests/data/models/stories260K.gguf", cut ? (int)(cut - src) : 0, src);
    const char *env = getenv("INFER_FUZZ_SESSION_MODEL");
    infer_error err;
    if (infer_model_load(env ? env : path, NULL, &g_m, &err) != INFER_OK) {
        fprintf(stderr, "fuzz_session: cannot load %s: %s\n", env ? env : path, err.message);
        return 0;
    }
    infer_ctx_params p = infer_ctx_default_params();
    p.n_ctx = 64;
    p.n_seq_max = 2;
    p.n_threads = 1;
    p.backend = INFER_BACKEND_CPU;
    if (infer_ctx_new(g_m, &p, &g_c, &err) != INFER_OK) fprintf(stderr, "fuzz_session: %s\n", err.message);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_c || size < 1) return 0;
    const int fix = data[0] & 1;
    data++;
    size--;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    if (fix && size >= 8) {
        uint64_t h = checksum(buf, size - 8);
        memcpy(buf + size - 8, &h, 8);
    }
    infer_ctx_seq_clear(g_c, -1);
    int32_t t = 1;
    (void)infer_ctx_decode(g_c, &t, NULL, NULL, 1);   /* sequence 0 holds one token */
    if (infer_ctx_seq_load(g_c, 1, buf, size) == INFER_OK) {
        int32_t seq = 1, tok = 2;
        infer_batch b = {.n_tokens = 1, .tokens = &tok, .seq_id = &seq};
        (void)infer_ctx_decode_batch(g_c, &b);
    } else if (infer_ctx_last_error(g_c)[0] == 0) {
        abort();   /* a refusal must say why */
    }
    if (infer_ctx_seq_len(g_c, 0) != 1) abort();   /* the other sequence untouched */
    free(buf);
    return 0;
}
