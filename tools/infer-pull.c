/* infer-pull: downloads a GGUF model into the model cache (see tools/common/model_ref.h for
 * the names it accepts and where the cache is), with a progress bar on a terminal and
 * plain progress lines otherwise; resumes interrupted downloads, verifies size and
 * SHA-256 when known, never leaves a partial file under the final name, and fetches all
 * parts of a split model (NAME-00001-of-0000N.gguf).
 *
 *   infer-pull NAME [--sha256 HEX] [--retries N] [--quiet]   download; prints the path
 *   infer-pull --list                                         cached models and sizes
 *   infer-pull --rm NAME                                      delete a cached model
 *   infer-pull --catalog                                      names the catalog knows
 *
 * Exit status: 0 success, 1 failure ("error: <reason>" on stderr), 2 usage error. */
#include "download.h"
#include "model_ref.h"
#include "tool_progress.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *out) {
    fprintf(out, "usage: infer-pull NAME [--sha256 HEX] [--retries N] [--quiet]\n"
                 "       infer-pull --list | --rm NAME | --catalog\n"
                 "NAME: https://.../FILE.gguf, OWNER/REPO:FILE.gguf (Hugging Face; endpoint $INFER_HF_ENDPOINT),\n"
                 "      or a catalog name ($INFER_CATALOG). Cache: $INFER_CACHE (default ~/.cache/libinfer/models)\n");
}

/* mkdir -p */
static int make_dirs(const char *path) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Split models: FILE-00001-of-00003.gguf. Returns the part count and where the first
 * number starts in s, or 0. */
static int split_count(const char *s, size_t *num_at) {
    size_t n = strlen(s);
    const char *tail = "-00001-of-00000.gguf";
    size_t tl = strlen(tail);
    if (n < tl) return 0;
    const char *t = s + n - tl;
    if (t[0] != '-' || strncmp(t + 6, "-of-", 4) != 0 || strcmp(t + 15, ".gguf") != 0) return 0;
    for (int i = 1; i <= 5; i++)
        if (!isdigit((unsigned char)t[i]) || !isdigit((unsigned char)t[i + 9])) return 0;
    *num_at = (size_t)(t + 1 - s);
    return atoi(t + 10);
}

/* s with the 5-digit part number at `at` replaced by k. */
static void with_part(char *s, size_t at, int k) {
    for (int i = 4; i >= 0; i--, k /= 10) s[at + (size_t)i] = (char)('0' + k % 10);   /* k < 100000 */
}

static int pull(const char *name, const char *sha_opt, const pull_opts *o) {
    model_ref ref;
    char err[2048];
    if (model_ref_parse(name, &ref, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        return 1;
    }
    if (sha_opt) snprintf(ref.sha256, sizeof ref.sha256, "%s", sha_opt);
    char dir[1024];
    model_cache_dir(dir, sizeof dir);
    if (make_dirs(dir) != 0) {
        fprintf(stderr, "error: cannot create the cache directory %s: %s\n", dir, strerror(errno));
        return 1;
    }
    size_t file_at = 0, url_at = 0;
    int parts = split_count(ref.file, &file_at);
    if (parts > 1 && split_count(ref.url, &url_at) != parts) parts = 1;   /* URL does not follow the file's pattern */
    if (parts < 1) parts = 1;
    char first[2048] = "";
    for (int k = 1; k <= parts; k++) {
        if (parts > 1) {
            with_part(ref.file, file_at, k);
            with_part(ref.url, url_at, k);
        }
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, ref.file);
        if (k == 1) snprintf(first, sizeof first, "%s", path);
        struct stat st;
        if (stat(path, &st) == 0) {
            if (!o->quiet) fprintf(stderr, "%s: already downloaded\n", ref.file);
            continue;
        }
        /* the catalog's checksum and size describe a single-file model */
        const int single = parts == 1;
        if (pull_download(ref.url, path, single ? ref.sha256 : NULL, single ? ref.size : 0, o, err, sizeof err) != 0) {
            fprintf(stderr, "error: %s\n", err);
            return 1;
        }
    }
    printf("%s\n", first);
    return 0;
}

static int list_cache(void) {
    char dir[1024];
    model_cache_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) {
        printf("(no models: %s does not exist)\n", dir);
        return 0;
    }
    struct dirent *e;
    int n = 0;
    double total = 0;
    printf("%s\n", dir);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        const int done = len > 5 && strcmp(e->d_name + len - 5, ".gguf") == 0;
        const int part = len > 10 && strcmp(e->d_name + len - 10, ".gguf.part") == 0;
        if (!done && !part) continue;
        char path[2048], sz[32];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        printf("  %10s  %s%s\n", tool_format_bytes(sz, sizeof sz, (double)st.st_size), e->d_name, part ? "  (incomplete)" : "");
        total += (double)st.st_size;
        n++;
    }
    closedir(d);
    char sz[32];
    printf("%d file(s), %s\n", n, tool_format_bytes(sz, sizeof sz, total));
    return 0;
}

static int remove_model(const char *name) {
    char dir[1024], err[2048];
    model_cache_dir(dir, sizeof dir);
    model_ref ref;
    if (model_ref_parse(name, &ref, err, sizeof err) != 0) {
        /* a file name as --list shows it */
        if (strchr(name, '/') || name[0] == '.') {
            fprintf(stderr, "error: %s\n", err);
            return 1;
        }
        memset(&ref, 0, sizeof ref);
        snprintf(ref.file, sizeof ref.file, "%s", name);
    }
    size_t at = 0;
    int parts = split_count(ref.file, &at), removed = 0;
    if (parts < 1) parts = 1;
    for (int k = 1; k <= parts; k++) {
        if (parts > 1) with_part(ref.file, at, k);
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, ref.file);
        if (remove(path) == 0) { printf("removed %s\n", path); removed++; }
        strncat(path, ".part", sizeof path - strlen(path) - 1);
        if (remove(path) == 0) { printf("removed %s\n", path); removed++; }
    }
    if (!removed) {
        fprintf(stderr, "error: %s is not in the cache (%s)\n", name, dir);
        return 1;
    }
    return 0;
}

static int list_catalog(void) {
    const char *path = model_catalog_path();
    json_error_t je;
    json_t *root = path ? json_load_file(path, 0, &je) : NULL;
    if (!root) {
        if (path) fprintf(stderr, "error: catalog %s: %s (line %d)\n", path, je.text, je.line);
        else fprintf(stderr, "error: no catalog found (set INFER_CATALOG)\n");
        return 1;
    }
    printf("%s\n", path);
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(root, "models"), key, v) {
        const char *src = json_string_value(json_object_get(v, "hf"));
        if (!src) src = json_string_value(json_object_get(v, "url"));
        const char *about = json_string_value(json_object_get(v, "about"));
        printf("  %-24s %s%s%s\n", key, src ? src : "?", about ? "  " : "", about ? about : "");
    }
    json_decref(root);
    return 0;
}

int main(int argc, char **argv) {
    pull_opts o = {.retries = 3, .stall_seconds = 60};
    const char *name = NULL, *sha = NULL, *env = getenv("INFER_PULL_STALL_S");
    if (env && atol(env) > 0) o.stall_seconds = atol(env);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(stdout); return 0; }
        if (strcmp(a, "--list") == 0) return list_cache();
        if (strcmp(a, "--catalog") == 0) return list_catalog();
        if (strcmp(a, "--rm") == 0 && i + 1 < argc) return remove_model(argv[i + 1]);
        if (strcmp(a, "--quiet") == 0) o.quiet = 1;
        else if (strcmp(a, "--retries") == 0 && i + 1 < argc) o.retries = atoi(argv[++i]);
        else if (strcmp(a, "--sha256") == 0 && i + 1 < argc) {
            sha = argv[++i];
            int ok = strlen(sha) == 64;
            for (int k = 0; ok && k < 64; k++) ok = isxdigit((unsigned char)sha[k]);
            if (!ok) { fprintf(stderr, "error: --sha256 needs 64 hex digits\n"); return 2; }
        } else if (a[0] == '-') { fprintf(stderr, "error: unknown or incomplete option '%s'\n", a); usage(stderr); return 2; }
        else if (!name) name = a;
        else { usage(stderr); return 2; }
    }
    if (!name) { usage(stderr); return 2; }
    return pull(name, sha, &o);
}
