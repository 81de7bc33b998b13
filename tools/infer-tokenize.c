/* infer-tokenize: prints the token ids a model's tokenizer gives for a text.
 *
 *   infer-tokenize -m MODEL [--parse-special] [--no-bos] [--pieces] (-f FILE | -p TEXT)
 *
 * Works on vocab-only GGUF files. The file's bytes are tokenized exactly as they are
 * (no newline added or stripped). BOS is prepended when the model asks for it
 * (tokenizer.ggml.add_bos_token) unless --no-bos. Output: the ids separated by spaces
 * on one line; with --pieces, one "id<TAB>piece" line per token, where the piece is the
 * token's bytes with control characters, backslashes and bytes that are not valid
 * UTF-8 written as C escapes (\n, \t, \\, \xNN).
 *
 * Exit status: 0 on success, 1 if the model or file cannot be read, 2 on a usage error. */
#include "infer.h"
#include "tool_args.h"
#include "tool_util.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f, const char *argv0) {
    (void)argv0;
    fprintf(f, "usage: infer-tokenize -m MODEL [--parse-special] [--no-bos] [--pieces] (-f FILE | -p TEXT)\n"
               "       infer-tokenize -h | --help | --version\n");
}

static void print_escaped(const char *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        size_t k = tool_utf8_seq_len(s + i, n - i);
        unsigned c = s[i];
        if (k > 1) { fwrite(s + i, 1, k, stdout); i += k; continue; }
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '\\') fputs("\\\\", stdout);
        else if (k == 0 || c < 0x20 || c == 0x7f) printf("\\x%02X", c);
        else putchar((int)c);
        i++;
    }
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *file = NULL, *prompt = NULL;
    bool parse_special = false, no_bos = false, pieces = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (tool_help_or_version(a, argv[0], usage)) return 0;
        if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && i + 1 < argc) model_path = argv[++i];
        else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && i + 1 < argc) file = argv[++i];
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && i + 1 < argc) prompt = argv[++i];
        else if (!strcmp(a, "--parse-special")) parse_special = true;
        else if (!strcmp(a, "--no-bos")) no_bos = true;
        else if (!strcmp(a, "--pieces")) pieces = true;
        else { fprintf(stderr, "error: unknown or incomplete argument '%s'\n", a); usage(stderr, argv[0]); return 2; }
    }
    if (!model_path || (!file == !prompt)) {
        fprintf(stderr, "error: -m MODEL and one of -f FILE or -p TEXT are required\n");
        usage(stderr, argv[0]);
        return 2;
    }

    char *text = NULL;
    size_t len = 0;
    if (file) {
        text = tool_read_file(file, &len);   /* prints the reason on failure */
        if (!text) return 1;
    } else {
        len = strlen(prompt);
    }

    infer_model_params mp = infer_model_default_params();
    mp.vocab_only = 1;
    infer_model *m = NULL;
    infer_error err = {0};
    if (infer_model_load(model_path, &mp, &m, &err) != INFER_OK) {
        fprintf(stderr, "error: %s: %s\n", model_path, err.message);
        free(text);
        return 1;
    }
    const char *src = file ? text : prompt;
    int add_bos = !no_bos && infer_model_add_bos(m);
    size_t n = 0;
    infer_status st;
    int32_t *toks = tool_tokenize(m, src, len, add_bos, parse_special, &n, &st);
    if (!toks) {
        fprintf(stderr, "error: tokenizing failed: %s\n", infer_status_str(st));
        free(text); infer_model_free(m);
        return 1;
    }
    if (pieces) {
        char small[256];
        for (size_t i = 0; i < n; i++) {
            size_t k = 0;
            char *buf = small;
            if (infer_token_to_bytes(m, toks[i], small, sizeof small, &k) == INFER_ERR_BUFFER_SMALL) {
                buf = malloc(k);
                if (!buf || infer_token_to_bytes(m, toks[i], buf, k, &k) != INFER_OK) k = 0;
            }
            printf("%d\t", toks[i]);
            if (buf) print_escaped(buf, k);
            putchar('\n');
            if (buf != small) free(buf);
        }
    } else {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", toks[i]);
        putchar('\n');
    }
    free(toks);
    free(text);
    infer_model_free(m);
    return 0;
}
