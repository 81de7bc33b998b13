#include "prompt_cache.h"

#include <stdio.h>
#include <sys/stat.h>

infer_status tool_prompt_eval(infer_ctx *c, const char *path, const int32_t *toks, size_t n, int32_t *last_row) {
    size_t keep = 0;
    if (path) {
        struct stat sb;
        if (stat(path, &sb) == 0) {
            /* As llama-cli: a file that is there but cannot be used is an error (another
             * model's session, a damaged file, a FIFO), never silently overwritten. */
            infer_status st = infer_ctx_seq_load_file(c, 0, path);
            if (st != INFER_OK) return st;
            int32_t n_saved = 0;
            const int32_t *saved = infer_ctx_seq_tokens(c, 0, &n_saved);
            while (keep < n && keep < (size_t)n_saved && saved[keep] == toks[keep]) keep++;
        } else {
            fprintf(stderr, "prompt cache: %s does not exist yet: it will be written\n", path);
        }
        /* The last prompt token is always evaluated: its logits start the generation. */
        if (keep == n && n > 0) keep = n - 1;
        infer_ctx_seq_truncate(c, 0, (int32_t)keep);
        if (keep == 0) infer_ctx_seq_clear(c, 0);
    }
    infer_status st = infer_ctx_decode(c, toks + keep, NULL, NULL, (int32_t)(n - keep));
    if (st != INFER_OK) return st;
    *last_row = (int32_t)(n - keep) - 1;
    if (!path) return INFER_OK;
    fprintf(stderr, "prompt cache: reused %zu of %zu prompt tokens, evaluated %zu\n", keep, n, n - keep);
    if (keep + 1 < n || keep == 0) {   /* something new was learned: save it */
        if (infer_ctx_seq_save_file(c, 0, path) == INFER_OK)
            fprintf(stderr, "prompt cache: saved %zu tokens to %s\n", n, path);
        else fprintf(stderr, "prompt cache: cannot save: %s\n", infer_ctx_last_error(c));
    }
    return INFER_OK;
}
