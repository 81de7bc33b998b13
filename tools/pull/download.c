#include "download.h"
#include "sha256.h"
#include "tool_progress.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct transfer {
    FILE *f;
    const char *part_path;
    uint64_t offset;          /* bytes already in the .part file when the request started */
    uint64_t written;         /* bytes written by this request */
    long status;              /* HTTP status of the current response */
    uint64_t content_length;  /* of the final response, 0 if not sent */
    char etag_sha[65];        /* a SHA-256 from X-Linked-Etag / ETag, or "" */
    int write_errno;          /* nonzero: our write failed (disk full, file size limit) */
    bool restarted;           /* the server ignored Range: the .part was truncated */
    tool_progress *progress;
} transfer;

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* A quoted or bare 64-hex-digit value, lowercased into out; else out unchanged. */
static void take_sha(const char *v, size_t n, char out[65]) {
    while (n > 0 && (*v == ' ' || *v == '"' || *v == '\t')) v++, n--;
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == '"' || v[n - 1] == ' ')) n--;
    if (n != 64) return;
    for (size_t i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)v[i])) return;
    for (size_t i = 0; i < 64; i++) out[i] = (char)tolower((unsigned char)v[i]);
    out[64] = 0;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *user) {
    transfer *t = user;
    const size_t n = size * nitems;
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {   /* a new response (redirects bring several) */
        const char *sp = memchr(buf, ' ', n);
        t->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        t->content_length = 0;
        return n;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon) return n;
    const size_t klen = (size_t)(colon - buf);
    const char *v = colon + 1;
    const size_t vlen = n - klen - 1;
    if (klen == 14 && strncasecmp(buf, "content-length", 14) == 0) t->content_length = strtoull(v, NULL, 10);
    else if ((klen == 13 && strncasecmp(buf, "x-linked-etag", 13) == 0) || (klen == 4 && strncasecmp(buf, "etag", 4) == 0))
        take_sha(v, vlen, t->etag_sha);
    return n;
}

static size_t on_data(char *buf, size_t size, size_t nmemb, void *user) {
    transfer *t = user;
    const size_t n = size * nmemb;
    if (t->offset > 0 && t->status == 200 && t->written == 0 && !t->restarted) {
        /* the server sent the whole file instead of the range: start the .part again */
        if (fflush(t->f) != 0 || ftruncate(fileno(t->f), 0) != 0 || fseek(t->f, 0, SEEK_SET) != 0) {
            t->write_errno = errno ? errno : EIO;
            return 0;
        }
        t->offset = 0;
        t->restarted = true;
    }
    if (fwrite(buf, 1, n, t->f) != n || fflush(t->f) != 0) {
        t->write_errno = errno ? errno : EIO;
        return 0;   /* CURLE_WRITE_ERROR */
    }
    t->written += n;
    return n;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
    (void)ultotal, (void)ulnow;
    transfer *t = user;
    if (t->progress && dlnow > 0) {   /* nothing to show before the first bytes */
        if (dltotal > 0 && t->status < 300) t->progress->total = t->offset + (uint64_t)dltotal;
        tool_progress_update(t->progress, t->offset + (uint64_t)dlnow, false);
    }
    return 0;
}

static const char *host_of(const char *url, char *buf, size_t cap) {
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    size_t n = strcspn(h, "/:?#");
    snprintf(buf, cap, "%.*s", (int)n, h);
    return buf;
}

typedef enum outcome { DONE, RETRY, RESTART, FAILED } outcome;

/* One request; classifies the result and writes a message for FAILED. */
static outcome attempt(const char *url, transfer *t, const pull_opts *o, char *err, size_t cap) {
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, cap, "cannot initialise libcurl");
        return FAILED;
    }
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "infer-pull/0.1");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->stall_seconds > 0 ? o->stall_seconds : 60L);
    char range[48];   /* CURLOPT_RANGE, not RESUME_FROM: a server that ignores it is handled in on_data */
    snprintf(range, sizeof range, "%llu-", (unsigned long long)t->offset);
    if (t->offset > 0) curl_easy_setopt(c, CURLOPT_RANGE, range);
    const char *token = getenv("HF_TOKEN");
    struct curl_slist *hdr = NULL;
    if (token && *token && strstr(url, "huggingface.co")) {
        char auth[512];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
        hdr = curl_slist_append(hdr, auth);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    }
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
    char host[256];
    if (rc == CURLE_OK) return DONE;
    if (t->write_errno) {
        snprintf(err, cap, "writing %s: %s (the partial download is kept there; free space and run again to resume)",
                 t->part_path, strerror(t->write_errno));
        return FAILED;
    }
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
        if (status == 416 && t->offset > 0) return RESTART;   /* our .part does not fit the file */
        if (status == 404) snprintf(err, cap, "not found (HTTP 404): %s", url);
        else if (status == 401 || status == 403)
            snprintf(err, cap, "access denied (HTTP %ld): %s (gated model? set HF_TOKEN)", status, url);
        else if (status >= 500 && status < 600) return RETRY;
        else snprintf(err, cap, "HTTP %ld: %s", status, url);
        return FAILED;
    }
    if (rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_PROXY) {
        snprintf(err, cap, "cannot connect to %s (offline?): %s", host_of(url, host, sizeof host), curl_err[0] ? curl_err : curl_easy_strerror(rc));
        return FAILED;
    }
    if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_GOT_NOTHING ||
        rc == CURLE_SEND_ERROR || rc == CURLE_HTTP2 || rc == CURLE_HTTP2_STREAM) {
        snprintf(err, cap, "transfer from %s broke: %s", host_of(url, host, sizeof host), curl_err[0] ? curl_err : curl_easy_strerror(rc));
        return RETRY;
    }
    snprintf(err, cap, "download of %s failed: %s", url, curl_err[0] ? curl_err : curl_easy_strerror(rc));
    return FAILED;
}

int pull_download(const char *url, const char *final_path, const char *expect_sha256, uint64_t expect_size,
                  const pull_opts *o, char *err, size_t err_cap) {
    static int curl_ready;   /* process-wide libcurl setup, done once by the tool's one thread */
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            snprintf(err, err_cap, "cannot initialise libcurl");
            return -1;
        }
        curl_ready = 1;
    }
    size_t plen = strlen(final_path) + 6;
    char *part = malloc(plen);
    if (!part) return -1;
    snprintf(part, plen, "%s.part", final_path);
    const char *base = strrchr(final_path, '/');
    base = base ? base + 1 : final_path;
    tool_progress bar;
    transfer t = {0};
    int rc = -1, tries = 0;
    uint64_t total = 0;
    char etag[65] = "";
    for (;;) {
        t = (transfer){.part_path = part, .offset = file_size(part)};
        snprintf(t.etag_sha, sizeof t.etag_sha, "%s", etag);
        if (expect_size && t.offset > expect_size) {   /* cannot be ours: start over */
            remove(part);
            t.offset = 0;
        }
        t.f = fopen(part, t.offset ? "ab" : "wb");
        if (!t.f) {
            snprintf(err, err_cap, "cannot write %s: %s", part, strerror(errno));
            goto out;
        }
        if (!o->quiet) {
            tool_progress_start(&bar, stderr, base, expect_size);
            if (t.offset) fprintf(stderr, "%s: resuming at %llu bytes\n", base, (unsigned long long)t.offset);
            t.progress = &bar;
        }
        outcome r = attempt(url, &t, o, err, err_cap);
        if (fclose(t.f) != 0 && r == DONE) {
            snprintf(err, err_cap, "writing %s: %s", part, strerror(errno));
            r = FAILED;
        }
        snprintf(etag, sizeof etag, "%s", t.etag_sha);
        if (!o->quiet && r == DONE) tool_progress_finish(&bar, file_size(part));
        else if (!o->quiet && bar.tty) fputc('\n', stderr);
        if (r == DONE) {
            total = t.content_length ? t.offset + t.content_length : 0;
            break;
        }
        if (r == FAILED) {
            if (file_size(part) == 0) remove(part);
            goto out;
        }
        if (r == RESTART) remove(part);
        if (tries++ >= o->retries) {
            size_t k = strlen(err);
            snprintf(err + k, err_cap - k, "; gave up after %d attempts (run again to resume from %s)", tries, part);
            goto out;
        }
        if (!o->quiet) fprintf(stderr, "%s: %s; retrying\n", base, err);
        sleep(1);
    }
    /* verify, then publish under the final name */
    const uint64_t got = file_size(part);
    const uint64_t want = expect_size ? expect_size : total;
    if (want && got != want) {
        snprintf(err, err_cap, "size mismatch for %s: expected %llu bytes, got %llu; the download was deleted", base,
                 (unsigned long long)want, (unsigned long long)got);
        remove(part);
        goto out;
    }
    const char *sha = expect_sha256 && *expect_sha256 ? expect_sha256 : (etag[0] ? etag : NULL);
    if (sha) {
        char hex[65];
        if (tool_sha256_file(part, hex) != 0) {
            snprintf(err, err_cap, "cannot read %s back: %s", part, strerror(errno));
            goto out;
        }
        if (strcasecmp(hex, sha) != 0) {
            snprintf(err, err_cap, "SHA-256 mismatch for %s: expected %s, got %s; the download was deleted", base, sha, hex);
            remove(part);
            goto out;
        }
        if (!o->quiet) fprintf(stderr, "%s: SHA-256 verified\n", base);
    }
    if (rename(part, final_path) != 0) {
        snprintf(err, err_cap, "cannot rename %s to %s: %s", part, final_path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(part);
    return rc;
}
