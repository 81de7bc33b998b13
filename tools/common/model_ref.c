#include "model_ref.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef INFER_CATALOG_INSTALLED
#define INFER_CATALOG_INSTALLED ""
#endif
#ifndef INFER_CATALOG_SOURCE
#define INFER_CATALOG_SOURCE ""
#endif

const char *model_cache_dir(char *buf, size_t cap) {
    const char *env = getenv("INFER_CACHE");
    if (env && *env) snprintf(buf, cap, "%s", env);
    else snprintf(buf, cap, "%s/.cache/libinfer/models", getenv("HOME") ? getenv("HOME") : ".");
    return buf;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* A file name we are willing to create in the cache: no directories, no dot files. */
static int safe_file_name(const char *f) {
    if (!*f || f[0] == '.' || strlen(f) >= sizeof((model_ref *)0)->file) return 0;
    for (const char *p = f; *p; p++)
        if (*p == '/' || *p == '\\' || (unsigned char)*p < 0x20) return 0;
    return 1;
}

static int fail(char *err, size_t cap, const char *msg, const char *name) {
    snprintf(err, cap, msg, name);
    return -1;
}

static int parse_url(const char *url, model_ref *out, char *err, size_t cap) {
    if (strlen(url) >= sizeof out->url) return fail(err, cap, "URL too long: %.200s", url);
    snprintf(out->url, sizeof out->url, "%s", url);
    const char *path = strstr(url, "://") + 3;
    path = strchr(path, '/');
    if (!path) return fail(err, cap, "URL names no file: %s", url);
    size_t end = strcspn(path, "?#");
    const char *slash = path;
    for (size_t i = 0; i < end; i++)
        if (path[i] == '/') slash = path + i;
    size_t len = (size_t)(path + end - slash - 1);
    if (len == 0 || len >= sizeof out->file) return fail(err, cap, "URL names no file: %s", url);
    memcpy(out->file, slash + 1, len);
    out->file[len] = 0;
    if (!safe_file_name(out->file)) return fail(err, cap, "URL names no usable file name: %s", url);
    return 0;
}

/* OWNER/REPO:FILE -> endpoint URL. */
static int parse_hf(const char *ref, model_ref *out, char *err, size_t cap) {
    const char *colon = strchr(ref, ':'), *slash = strchr(ref, '/');
    int ok = colon && slash && slash < colon && slash > ref && colon > slash + 1 && colon[1];
    for (const char *p = slash ? slash + 1 : ref; ok && p < colon; p++) ok = *p != '/';
    if (!ok) return fail(err, cap, "not a Hugging Face reference OWNER/REPO:FILE.gguf: %s", ref);
    const char *file = colon + 1, *base = strrchr(file, '/');
    if (!safe_file_name(base ? base + 1 : file)) return fail(err, cap, "bad file name in %s", ref);
    snprintf(out->file, sizeof out->file, "%s", base ? base + 1 : file);
    const char *ep = getenv("INFER_HF_ENDPOINT");
    if (!ep || !*ep) ep = "https://huggingface.co";
    size_t eplen = strlen(ep);
    while (eplen > 0 && ep[eplen - 1] == '/') eplen--;
    int n = snprintf(out->url, sizeof out->url, "%.*s/%.*s/resolve/main/%s", (int)eplen, ep, (int)(colon - ref), ref, file);
    if (n < 0 || (size_t)n >= sizeof out->url) return fail(err, cap, "reference too long: %.200s", ref);
    return 0;
}

static int is_hf_ref(const char *s) {
    const char *colon = strchr(s, ':'), *slash = strchr(s, '/');
    return colon && slash && slash < colon && !strstr(s, "://");
}

const char *model_catalog_path(void) {
    const char *env = getenv("INFER_CATALOG");
    if (env && *env) return env;
    if (*INFER_CATALOG_INSTALLED && is_file(INFER_CATALOG_INSTALLED)) return INFER_CATALOG_INSTALLED;
    if (*INFER_CATALOG_SOURCE && is_file(INFER_CATALOG_SOURCE)) return INFER_CATALOG_SOURCE;
    return NULL;
}

static int from_catalog(const char *name, model_ref *out, char *err, size_t cap, int *found) {
    *found = 0;
    const char *path = model_catalog_path();
    if (!path) return 0;
    if (!is_file(path)) return fail(err, cap, "catalog %s (INFER_CATALOG) does not exist", path);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        snprintf(err, cap, "catalog %s: %s (line %d)", path, je.text, je.line);
        return -1;
    }
    json_t *e = json_object_get(json_object_get(root, "models"), name);
    int rc = 0;
    if (json_is_object(e)) {
        *found = 1;
        const char *url = json_string_value(json_object_get(e, "url"));
        const char *hf = json_string_value(json_object_get(e, "hf"));
        const char *file = json_string_value(json_object_get(e, "file"));
        const char *sha = json_string_value(json_object_get(e, "sha256"));
        json_t *size = json_object_get(e, "size");
        if (url) rc = parse_url(url, out, err, cap);
        else if (hf) rc = parse_hf(hf, out, err, cap);
        else rc = fail(err, cap, "catalog entry '%s' has neither \"url\" nor \"hf\"", name);
        if (!rc && file) {
            if (!safe_file_name(file)) rc = fail(err, cap, "catalog entry '%s': bad \"file\"", name);
            else snprintf(out->file, sizeof out->file, "%s", file);
        }
        if (!rc && sha) {
            size_t n = strlen(sha);
            int ok = n == 64;
            for (size_t i = 0; ok && i < n; i++) ok = isxdigit((unsigned char)sha[i]);
            if (!ok) rc = fail(err, cap, "catalog entry '%s': \"sha256\" is not 64 hex digits", name);
            for (size_t i = 0; ok && i <= n; i++) out->sha256[i] = (char)tolower((unsigned char)sha[i]);
        }
        if (!rc && json_is_integer(size) && json_integer_value(size) > 0) out->size = (uint64_t)json_integer_value(size);
    }
    json_decref(root);
    return rc;
}

int model_ref_parse(const char *name, model_ref *out, char *err, size_t err_cap) {
    memset(out, 0, sizeof *out);
    if (!name || !*name) return fail(err, err_cap, "empty model name%s", "");
    if (strncmp(name, "http://", 7) == 0 || strncmp(name, "https://", 8) == 0) return parse_url(name, out, err, err_cap);
    if (is_hf_ref(name)) return parse_hf(name, out, err, err_cap);
    int found = 0;
    if (from_catalog(name, out, err, err_cap, &found) != 0) return -1;
    if (!found)
        return fail(err, err_cap,
                    "unknown model '%s': not a file, a URL, an OWNER/REPO:FILE.gguf reference or a catalog name "
                    "(infer-pull --catalog lists them)", name);
    return 0;
}

char *model_resolve(const char *name, char *err, size_t err_cap) {
    struct stat st;
    if (!name || stat(name, &st) == 0) return name ? strdup(name) : NULL;   /* whatever it is, the loader says */
    const int remote = strncmp(name, "http://", 7) == 0 || strncmp(name, "https://", 8) == 0 || is_hf_ref(name);
    model_ref ref;
    int found = remote;
    if (remote) {
        if (model_ref_parse(name, &ref, err, err_cap) != 0) return NULL;
    } else {
        memset(&ref, 0, sizeof ref);
        if (from_catalog(name, &ref, err, err_cap, &found) != 0) return NULL;
    }
    if (!found) return strdup(name);   /* a path that does not exist: the loader's message names it */
    char dir[1024];
    model_cache_dir(dir, sizeof dir);
    size_t len = strlen(dir) + strlen(ref.file) + 2;
    char *path = malloc(len);
    if (!path) return NULL;
    snprintf(path, len, "%s/%s", dir, ref.file);
    if (!is_file(path)) {
        snprintf(err, err_cap, "model '%s' is not downloaded (%s): run infer-pull %s", name, path, name);
        free(path);
        return NULL;
    }
    return path;
}
