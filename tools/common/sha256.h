/* SHA-256 (FIPS 180-4), streaming: for verifying downloads. */
#ifndef INFER_TOOL_SHA256_H
#define INFER_TOOL_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct tool_sha256 {
    uint32_t h[8];
    uint64_t n_bytes;
    uint8_t block[64];
    size_t fill;
} tool_sha256;

void tool_sha256_init(tool_sha256 *s);
void tool_sha256_update(tool_sha256 *s, const void *data, size_t n);
/* 64 lowercase hex digits and a NUL into hex[65]. */
void tool_sha256_hex(tool_sha256 *s, char hex[65]);
/* Hash of a whole file into hex[65]; 0 on success, -1 if it cannot be read. */
int tool_sha256_file(const char *path, char hex[65]);

#endif
