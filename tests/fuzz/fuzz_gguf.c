/* libFuzzer entry for the GGUF reader: parses the input from memory (no file I/O) and,
 * when it opens, reads everything a caller could read, so sanitizers see any access
 * outside the input. Build with scripts/run-fuzz.sh. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "infer.h"
#include "gguf/gguf.h"
#include "gguf_walk.h"

static volatile unsigned sink;   /* keeps the reads from being optimized away */

static void trap_on_broken(const char *what, int64_t i) {
    (void)what;
    (void)i;
    __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    infer_gguf *g = NULL;
    infer_error err;
    infer_status st = infer_gguf_open_memory(data, size, &g, &err);
    if (st == INFER_OK) {
        sink = test_gguf_walk(g, trap_on_broken);
        infer_gguf_close(g);
    } else if (g != NULL || err.message[0] == 0 || err.status != st) {
        __builtin_trap();        /* a failure must leave no handle and explain itself */
    }
    return 0;
}
