/* infer-quantize: converts a GGUF model to another file type, choosing per-tensor types
 * as llama.cpp's llama-quantize does (library call: infer_model_quantize).
 *
 *   infer-quantize IN.gguf OUT.gguf TYPE [--threads N] [--pure] [--keep REGEX=TYPE]...
 *                  [--allow-requantize] [--quiet]
 *
 * Progress goes to stderr (one line per tensor, or a bar on a terminal), the summary to
 * stdout. Exit status: 0 on success, 1 on failure ("error: <reason>" on stderr; no
 * output file is left), 2 on a usage error. */
#include "infer.h"
#include "tool_progress.h"
#include "tool_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out) {
    fprintf(out,
            "usage: infer-quantize IN.gguf OUT.gguf TYPE [options]\n"
            "  TYPE                 one of:");
    for (const char *const *t = infer_quantize_type_names(); *t; t++) fprintf(out, " %s", *t);
    fprintf(out,
            "\n  --threads N, -t N    worker threads (default: all cores)\n"
            "  --pure               every quantizable tensor gets TYPE's base type (no _S/_M mix)\n"
            "  --keep REGEX=TYPE    tensors whose name matches REGEX get tensor type TYPE (repeatable;\n"
            "                       first match wins), e.g. --keep 'token_embd=F16'\n"
            "  --allow-requantize   accept already quantized input tensors (quality suffers)\n"
            "  --quiet              no per-tensor progress\n");
}

typedef struct progress_state {
    tool_progress bar;
    bool quiet;
    uint64_t done_bytes;
} progress_state;

static int on_tensor(const infer_quantize_progress *p, void *user) {
    progress_state *s = user;
    s->done_bytes += p->bytes_in;
    if (s->quiet) return 0;
    if (s->bar.tty) {
        snprintf(s->bar.label, sizeof s->bar.label, "[%lld/%lld]", (long long)p->index + 1, (long long)p->count);
        tool_progress_update(&s->bar, s->done_bytes, p->index + 1 == p->count);
    } else {
        char a[32], b[32];
        fprintf(stderr, "[%4lld/%4lld] %-40s %-6s -> %-6s %10s -> %10s\n", (long long)p->index + 1, (long long)p->count,
                p->name, infer_type_name(p->from_type), infer_type_name(p->to_type),
                tool_format_bytes(a, sizeof a, (double)p->bytes_in), tool_format_bytes(b, sizeof b, (double)p->bytes_out));
    }
    return 0;
}

int main(int argc, char **argv) {
    infer_quantize_params qp = infer_quantize_default_params();
    const char *pos[3] = {0};
    int n_pos = 0;
    const char **keeps = calloc((size_t)argc, sizeof *keeps);
    size_t n_keep = 0;
    progress_state ps = {0};
    if (!keeps) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(stdout); free(keeps); return 0; }
        else if ((strcmp(a, "--threads") == 0 || strcmp(a, "-t") == 0) && i + 1 < argc) qp.n_threads = atoi(argv[++i]);
        else if (strcmp(a, "--pure") == 0) qp.pure = 1;
        else if (strcmp(a, "--allow-requantize") == 0) qp.allow_requantize = 1;
        else if (strcmp(a, "--quiet") == 0) ps.quiet = true;
        else if (strcmp(a, "--keep") == 0 && i + 1 < argc) keeps[n_keep++] = argv[++i];
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "error: unknown or incomplete option '%s'\n", a); usage(stderr); free(keeps); return 2; }
        else if (n_pos < 3) pos[n_pos++] = a;
        else { fprintf(stderr, "error: unexpected argument '%s'\n", a); usage(stderr); free(keeps); return 2; }
    }
    if (n_pos != 3) { usage(stderr); free(keeps); return 2; }
    qp.type = pos[2];
    qp.overrides = keeps;
    qp.n_overrides = n_keep;
    qp.progress = on_tensor;
    qp.progress_user = &ps;

    infer_gguf *g = NULL;
    infer_error err = {0};
    uint64_t total = 0;
    if (infer_gguf_open(pos[0], &g, &err) == INFER_OK) {
        for (int64_t i = 0; i < infer_gguf_n_tensors(g); i++) total += infer_gguf_tensor_bytes(g, i);
        infer_gguf_close(g);
    }
    tool_progress_start(&ps.bar, stderr, "quantizing", total);

    infer_quantize_stats st;
    infer_status rc = infer_model_quantize(pos[0], pos[1], &qp, &st, &err);
    free(keeps);
    if (rc != INFER_OK) {
        if (ps.bar.tty && !ps.quiet && st.n_tensors) fputc('\n', stderr);
        fprintf(stderr, "error: %s\n", err.message);
        return 1;
    }
    if (ps.bar.tty && !ps.quiet) tool_progress_finish(&ps.bar, ps.done_bytes);
    char a[32], b[32];
    const double n = st.n_elements ? (double)st.n_elements : 1.0;
    printf("quantized %s -> %s (%s)\n", pos[0], pos[1], pos[2]);
    printf("  tensors   %lld (%lld converted, %lld by fallback type)\n", (long long)st.n_tensors, (long long)st.n_quantized,
           (long long)st.n_fallback);
    printf("  size      %s (%.2f bits/weight) -> %s (%.2f bits/weight)\n", tool_format_bytes(a, sizeof a, (double)st.bytes_in),
           8.0 * (double)st.bytes_in / n, tool_format_bytes(b, sizeof b, (double)st.bytes_out), 8.0 * (double)st.bytes_out / n);
    if (qp.n_threads > 0) printf("  time      %.2f s (%d threads)\n", st.seconds, qp.n_threads);
    else printf("  time      %.2f s (all cores)\n", st.seconds);
    return 0;
}
