/* One HTTP(S) download into the model cache with libcurl: resumed from FILE.part with a
 * Range request, retried when the connection breaks, checked against the expected size
 * and SHA-256 (from the catalog, or the server's X-Linked-Etag / ETag when it is a
 * SHA-256, as Hugging Face sends for large files), renamed to its final name only when
 * complete and verified. */
#ifndef INFER_PULL_DOWNLOAD_H
#define INFER_PULL_DOWNLOAD_H
#include <stddef.h>
#include <stdint.h>

typedef struct pull_opts {
    int quiet;            /* no progress display */
    int retries;          /* further attempts after a broken transfer */
    long stall_seconds;   /* a transfer below 1 byte/s for this long counts as broken */
} pull_opts;

/* Downloads url to final_path (via final_path.part). expect_sha256: 64 hex digits or
 * NULL/""; expect_size 0 if unknown. Returns 0, or -1 with a message in err. */
int pull_download(const char *url, const char *final_path, const char *expect_sha256, uint64_t expect_size,
                  const pull_opts *o, char *err, size_t err_cap);

#endif
