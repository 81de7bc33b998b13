/* Built against the *installed* library with `pkg-config --cflags --libs infer`:
 * proves the installed header, library and pkg-config file work for a user.
 *   hello FILE.gguf  -> prints the version and what the file holds; exit 0 on success. */
#include <infer.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    printf("libinfer %s\n", infer_version());
    if (strcmp(infer_version(), INFER_VERSION_STRING) != 0) {
        fprintf(stderr, "error: header says %s, library says %s\n", INFER_VERSION_STRING, infer_version());
        return 1;
    }
    if (argc < 2) return 0;
    infer_gguf *g = NULL;
    infer_error err;
    if (infer_gguf_open(argv[1], &g, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        return 1;
    }
    int64_t arch = infer_gguf_find_key(g, "general.architecture");
    uint64_t len = 0;
    const char *s = arch >= 0 ? infer_gguf_kv_str(g, arch, &len) : "";
    printf("gguf v%u: %lld metadata entries, %lld tensors, architecture %.*s\n", (unsigned)infer_gguf_version(g),
           (long long)infer_gguf_n_kv(g), (long long)infer_gguf_n_tensors(g), (int)len, s);
    int ok = infer_gguf_n_tensors(g) > 0 && infer_gguf_tensor_data(g, 0) != NULL;
    infer_gguf_close(g);
    /* An error path through the installed library too. */
    if (infer_gguf_open("/nonexistent.gguf", &g, &err) != INFER_ERR_IO) return 1;
    printf("status %d: %s\n", (int)err.status, infer_status_str(err.status));
    return ok ? 0 : 1;
}
