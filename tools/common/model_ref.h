/* Model names as the tools accept them, and where downloaded models live (shared by
 * infer-pull, which downloads, and infer-cli / infer-chat, which only look):
 *   - a path to an existing file;
 *   - a URL (http:// or https://): cached under the last path component;
 *   - a Hugging Face reference OWNER/REPO:FILE.gguf, fetched from
 *     $INFER_HF_ENDPOINT (default https://huggingface.co)/OWNER/REPO/resolve/main/FILE;
 *   - a name in the model catalog ($INFER_CATALOG, else the catalog.json installed with
 *     the tools): a JSON object {"models": {"NAME": {"url" | "hf", "file", "sha256",
 *     "size"}}}.
 * The cache is $INFER_CACHE (default ~/.cache/libinfer/models), one flat directory of
 * FILE.gguf; a download in progress is FILE.gguf.part. */
#ifndef INFER_TOOL_MODEL_REF_H
#define INFER_TOOL_MODEL_REF_H
#include <stddef.h>
#include <stdint.h>

typedef struct model_ref {
    char url[2048];       /* where to download it from */
    char file[256];       /* its name in the cache (no directory part) */
    char sha256[65];      /* expected SHA-256 (lowercase hex) or "" if unknown */
    uint64_t size;        /* expected size in bytes, 0 if unknown */
} model_ref;

/* The catalog in use: $INFER_CATALOG if set, else the installed one, else the source
 * tree's; NULL if none exists. */
const char *model_catalog_path(void);
/* The cache directory into buf; returns buf. */
const char *model_cache_dir(char *buf, size_t cap);
/* Parses a URL, Hugging Face reference or catalog name. Returns 0, or -1 with a message
 * in err (unknown name, malformed reference, bad catalog). */
int model_ref_parse(const char *name, model_ref *out, char *err, size_t err_cap);
/* Where the model named `name` is on disk: the name itself if it exists (of any kind:
 * the loader reports what is wrong with it) or is not a URL, reference or catalog name;
 * else its cache path if it has been downloaded. malloc'd; NULL with a message in err
 * (not downloaded yet: "run infer-pull NAME"). */
char *model_resolve(const char *name, char *err, size_t err_cap);

#endif
