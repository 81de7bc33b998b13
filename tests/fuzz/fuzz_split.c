/* libFuzzer entry for split GGUF sets (src/gguf/gguf_split.c): the input is cut into up
 * to three files named as gguf-split names them (<dir>/f-0000K-of-0000N.gguf) and the set
 * is opened from its first part with infer_gguf_open_split; when it opens, every tensor's
 * name, part and first/last data byte are read, so the sanitizers see any pointer into
 * the wrong part's mapping.
 *
 * Input layout: byte 0 = number of parts N (1 + b % 3); then N - 1 little-endian u16
 * lengths; then the parts' bytes one after the other (the last part takes the rest).
 * Seeds (tests/corpus/split/) are small valid sets made with the GGUF writer:
 *   FUZZ_SPLIT_WRITE_SEEDS=tests/corpus/split build-fuzz/tests/fuzz/fuzz_split -runs=0 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf_writer.h"
#include "infer.h"
#include "tensor/dtype.h"

static char dir[64];
static volatile unsigned sink;

static int write_file(const char *path, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    fclose(f);
    return w == n ? 0 : -1;
}

/* A valid set of n parts: metadata in the first, two small F32 tensors per part. */
static int write_seed(const char *out, int n, int dup) {
    uint8_t *img[3] = {0};
    size_t size[3] = {0};
    for (int p = 0; p < n; p++) {
        infer_gguf_writer *w = infer_gguf_writer_new();
        if (!w) return -1;
        if (p == 0) {
            infer_gguf_writer_set_str(w, "general.architecture", "llama");
            infer_gguf_writer_set_str(w, "general.name", "fuzz-split");
        }
        infer_gguf_writer_set_u16(w, "split.no", (uint16_t)p);
        infer_gguf_writer_set_u16(w, "split.count", (uint16_t)n);
        infer_gguf_writer_set_i32(w, "split.tensors.count", 2 * n);
        float data[16];
        for (int i = 0; i < 16; i++) data[i] = (float)(p * 16 + i);
        uint64_t ne[2] = {8, 2};
        char name[32];
        for (int t = 0; t < 2; t++) {
            snprintf(name, sizeof name, "blk.%d.t%d.weight", dup && p == n - 1 ? 0 : p, t);
            infer_gguf_writer_add_tensor(w, name, INFER_TYPE_F32, t ? 2 : 1, ne, data);
        }
        void *m = NULL;
        infer_error err;
        infer_status st = infer_gguf_writer_to_memory(w, &m, &size[p], &err);
        infer_gguf_writer_free(w);
        if (st != INFER_OK) return -1;
        img[p] = m;
    }
    FILE *f = fopen(out, "wb");
    if (!f) return -1;
    fputc(n - 1, f);
    for (int p = 0; p < n - 1; p++) {
        fputc((int)(size[p] & 0xff), f);
        fputc((int)(size[p] >> 8 & 0xff), f);
    }
    for (int p = 0; p < n; p++) {
        fwrite(img[p], 1, size[p], f);
        free(img[p]);
    }
    fclose(f);
    return 0;
}

static void remove_dir(void) { rmdir(dir); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *seeds = getenv("FUZZ_SPLIT_WRITE_SEEDS");
    if (seeds) {
        char path[512];
        int rc = 0;
        for (int n = 1; n <= 3; n++) {
            snprintf(path, sizeof path, "%s/set-%d.bin", seeds, n);
            rc |= write_seed(path, n, 0);
        }
        snprintf(path, sizeof path, "%s/set-3-duplicate.bin", seeds);
        rc |= write_seed(path, 3, 1);
        exit(rc ? 1 : 0);
    }
    snprintf(dir, sizeof dir, "/tmp/fuzz_split_XXXXXX");
    if (!mkdtemp(dir)) abort();
    atexit(remove_dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int n = 1 + data[0] % 3;
    size_t at = 1 + 2 * (size_t)(n - 1);
    if (size < at) return 0;
    char paths[3][128];
    for (int p = 0; p < n; p++) {
        size_t len = p < n - 1 ? (size_t)(data[1 + 2 * p] | data[2 + 2 * p] << 8) : size - at;
        if (len > size - at) len = size - at;
        snprintf(paths[p], sizeof paths[p], "%s/f-%05d-of-%05d.gguf", dir, p + 1, n);
        if (write_file(paths[p], data + at, len) != 0) return 0;
        at += len;
    }
    infer_gguf *g = NULL;
    infer_error err;
    infer_status st = infer_gguf_open_split(paths[0], &g, &err);
    if (st == INFER_OK) {
        const int32_t parts = infer_gguf_n_parts(g);
        if (parts < 1 || parts > n) __builtin_trap();
        for (int32_t p = 0; p < parts; p++)
            if (!infer_gguf_part(g, p) || !infer_gguf_part_path(g, p)) __builtin_trap();
        for (int64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
            const uint8_t *d = infer_gguf_tensor_data(g, i);
            uint64_t b = infer_gguf_tensor_bytes(g, i);
            int32_t part = infer_gguf_tensor_part(g, i);
            const char *name = infer_gguf_tensor_name(g, i);
            if (!d || !name || part < 0 || part >= parts || infer_gguf_find_tensor(g, name) != i) __builtin_trap();
            sink += b ? (unsigned)d[0] + d[b - 1] : 0u;
        }
        infer_gguf_close(g);
    } else if (g != NULL || err.message[0] == 0 || err.status != st) {
        __builtin_trap();   /* a failure leaves no handle and explains itself */
    }
    for (int p = 0; p < n; p++) unlink(paths[p]);
    return 0;
}
