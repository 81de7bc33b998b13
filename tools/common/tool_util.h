/* Small helpers shared by the command-line tools (not part of the library). */
#ifndef INFER_TOOL_UTIL_H
#define INFER_TOOL_UTIL_H
#include <stddef.h>
#include <stdint.h>

#include "infer.h"

/* Text inputs (-f, --tokens-file) larger than this are refused. */
#define TOOL_MAX_INPUT_BYTES ((uint64_t)1 << 30)
/* Reads a whole regular file (infer_file_open_regular: a FIFO, directory, device or
 * socket is refused at once, never waited on) into a NUL-terminated heap buffer.
 * Returns NULL after printing "error: <why, naming the path>" to stderr. */
char *tool_read_file(const char *path, size_t *len_out);
/* Wall-clock seconds from a monotonic clock. */
double tool_now_s(void);
/* Length of the valid UTF-8 sequence at s (n >= 1 bytes left), or 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
size_t tool_utf8_seq_len(const unsigned char *s, size_t n);
/* Tokenizes len bytes of text (see infer_tokenize) into a malloc'd array of *n_out
 * tokens. On failure returns NULL and sets *st (INFER_ERR_NOMEM when out of memory). */
int32_t *tool_tokenize(const infer_model *m, const char *text, size_t len, int add_bos, int parse_special,
                       size_t *n_out, infer_status *st);

#endif
