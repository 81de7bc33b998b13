/* infer-template: render a Jinja chat template with a conversation, exactly as Hugging Face's
 * apply_chat_template (jinja2) would.
 *
 *   infer-template TEMPLATE.jinja CONVERSATION.json [--bos-token S] [--eos-token S] [--date YYYY-MM-DD]
 *   infer-template -m MODEL.gguf CONVERSATION.json [--date YYYY-MM-DD]
 *
 * Prints the rendered text (nothing added) and exits 0, or "error: MESSAGE" on stderr and
 * exits 1. CONVERSATION.json: {"messages": [...], "tools": [...], "add_generation_prompt":
 * true, "extra": {...}}. */
#include "infer.h"
#include "tool_args.h"
#include "tool_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out, const char *argv0) {
    fprintf(out,
            "usage: %s TEMPLATE.jinja CONVERSATION.json [--bos-token S] [--eos-token S] [--date YYYY-MM-DD]\n"
            "       %s -m MODEL.gguf CONVERSATION.json [--date YYYY-MM-DD]\n"
            "  Prints the rendered text exactly (as Python jinja2 with Hugging Face's settings would),\n"
            "  or 'error: MESSAGE' on stderr and exit 1 when the template fails.\n"
            "  CONVERSATION.json: {\"messages\": [...], \"tools\": [...], \"add_generation_prompt\": true, \"extra\": {...}}\n",
            argv0, argv0);
}

/* Renders through buf, growing it once when the first guess is too small. */
static int print_render(infer_status (*render)(void *, char *, size_t, size_t *, infer_error *), void *arg) {
    size_t cap = 1 << 16, need = 0;
    infer_error err = {0};
    for (int pass = 0; pass < 2; pass++) {
        char *buf = malloc(cap);
        if (!buf) { fprintf(stderr, "error: out of memory\n"); return 1; }
        infer_status st = render(arg, buf, cap, &need, &err);
        if (st == INFER_OK) {
            fwrite(buf, 1, need, stdout);
            free(buf);
            return fflush(stdout) == 0 ? 0 : 1;
        }
        free(buf);
        if (st != INFER_ERR_BUFFER_SMALL) {
            fprintf(stderr, "error: %s\n", err.message[0] ? err.message : infer_status_str(st));
            return 1;
        }
        cap = need + 1;
    }
    fprintf(stderr, "error: rendering changed size between passes\n");
    return 1;
}

typedef struct file_job { const char *tmpl, *conv; infer_template_opts opts; } file_job;
static infer_status render_file(void *arg, char *buf, size_t cap, size_t *n, infer_error *err) {
    file_job *j = arg;
    return infer_template_render(j->tmpl, j->conv, &j->opts, buf, cap, n, err);
}

typedef struct model_job { const infer_model *m; const char *req; } model_job;
static infer_status render_model(void *arg, char *buf, size_t cap, size_t *n, infer_error *err) {
    model_job *j = arg;
    return infer_chat_render_json(j->m, j->req, buf, cap, n, err);
}

/* 0: run; 1: --help/--version printed; -1: a usage error (reported). */
static int parse_args(int argc, char **argv, const char **model, const char **bos, const char **eos,
                      const char **date, const char *pos[2]) {
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (tool_help_or_version(a, argv[0], usage)) return 1;
        int has_val = i + 1 < argc;
        if (!strcmp(a, "-m") && has_val) *model = argv[++i];
        else if (!strcmp(a, "--bos-token") && has_val) *bos = argv[++i];
        else if (!strcmp(a, "--eos-token") && has_val) *eos = argv[++i];
        else if (!strcmp(a, "--date") && has_val) *date = argv[++i];
        else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "error: unknown or incomplete option '%s'\n", a);
            return -1;
        } else if (npos < 2) {
            pos[npos++] = a;
        } else {
            fprintf(stderr, "error: unexpected argument '%s'\n", a);
            return -1;
        }
    }
    if (*model ? npos != 1 : npos != 2) {
        fprintf(stderr, "error: expected %s\n", *model ? "one CONVERSATION.json after -m MODEL" : "TEMPLATE.jinja and CONVERSATION.json");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *model = NULL, *bos = NULL, *eos = NULL, *date = NULL, *pos[2] = {NULL, NULL};
    int pr = parse_args(argc, argv, &model, &bos, &eos, &date, pos);
    if (pr != 0) return tool_parse_exit(pr, argv[0], usage);
    const char *conv_path = model ? pos[0] : pos[1];
    char *conv = tool_read_file(conv_path, NULL);   /* reports its own errors */
    if (!conv) return 1;
    int rc;
    if (model) {
        infer_error err = {0};
        infer_model_params mp = infer_model_default_params();
        mp.vocab_only = 1;
        infer_model *m = NULL;
        if (infer_model_load(model, &mp, &m, &err) != INFER_OK) {
            fprintf(stderr, "error: %s\n", err.message);
            free(conv);
            return 1;
        }
        /* the date travels inside the request (added as text: re-serializing would
         * reformat numbers) */
        char *req = NULL;
        const char *brace = strchr(conv, '{');
        if (brace) {
            size_t n = strlen(conv) + (date ? strlen(date) : 0) + 32;
            req = malloc(n);
            if (req && date) snprintf(req, n, "%.*s{\"date\": \"%s\", %s", (int)(brace - conv), conv, date, brace + 1);
            else if (req) snprintf(req, n, "%s", conv);
        }
        if (!req) {
            fprintf(stderr, "error: %s is not a JSON object\n", conv_path);
            infer_model_free(m);
            free(conv);
            return 1;
        }
        model_job j = {m, req};
        rc = print_render(render_model, &j);
        free(req);
        infer_model_free(m);
    } else {
        char *tmpl = tool_read_file(pos[0], NULL);
        if (!tmpl) {
            free(conv);
            return 1;
        }
        file_job j = {tmpl, conv, {sizeof(infer_template_opts), bos, eos, date}};
        rc = print_render(render_file, &j);
        free(tmpl);
    }
    free(conv);
    return rc;
}
