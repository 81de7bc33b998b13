/* infer-chat: an interactive terminal chat with a GGUF model.
 *
 *   infer-chat -m MODEL [--system TEXT] [-n MAX_REPLY] [-c CTX] [-t THREADS] [-b BATCH]
 *              [--temp T --top-k K --top-p P --min-p M --repeat-penalty R
 *               --presence-penalty P --frequency-penalty F --repeat-last-n N --seed S]
 *              [--backend auto|cpu|vulkan] [--device I] [--kv-f16] [--show-reasoning]
 *              [--verbose-prompt] [--tools FILE.json]
 *
 * Each turn renders the whole conversation with the model's chat template, tokenizes it,
 * keeps the part of the KV cache that matches the new tokens (infer_ctx_kv_truncate) and
 * evaluates only the rest, so a turn costs its own tokens, not the whole history.
 * Replies stream to stdout; prompt and generation speeds go to stderr after each reply.
 * Commands: /reset, /system TEXT, /quit. Ctrl-C stops the current reply. When stdin is
 * not a terminal every line is one user turn and only the replies are printed.
 *
 * Reasoning: gpt-oss (Harmony) replies carry an `analysis` channel before the `final`
 * one, Qwen3 replies a <think> block; both are hidden unless --show-reasoning. History
 * keeps what the template keeps (Harmony: the final channel only).
 *
 * Tools: --tools FILE.json offers an OpenAI-style list of tools to the model through its
 * template. Each reply is parsed for tool calls (infer_chat_parse_reply); every call is
 * shown as "[tool call ID] NAME ARGUMENTS", then one line is read per call as that
 * tool's result (prompt "[result of NAME]> "), and the model continues with the results
 * in the conversation. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "infer.h"

#include <jansson.h>
#include "tool_args.h"
#include "tool_numbers.h"
#include "tool_util.h"

/* ---------------------------------------------------------------- arguments */

typedef struct chat_args {
    const char *model, *system;
    int n_reply, show_reasoning, seed_given;
    int verbose_prompt;   /* print each turn's rendered conversation to stderr */
    const char *tools_path;
    char *tools_json;     /* the --tools file's contents */
    tool_ctx_opts ctx;
    infer_sampler_params sp;
} chat_args;

static void usage(FILE *out, const char *argv0) {
    fprintf(out,
            "usage: %s -m MODEL [--system TEXT] [-n MAX_REPLY] [-c CTX] [-t THREADS] [-b BATCH]\n"
            "          [--temp T] [--top-k K] [--top-p P] [--min-p M] [--repeat-penalty R]\n"
            "          [--presence-penalty P] [--frequency-penalty F] [--repeat-last-n N] [--seed S]\n"
            "          [--backend auto|cpu|vulkan] [--device I] [--kv-f16] [--force-threads]\n"
            "          [--show-reasoning] [--verbose-prompt] [--tools FILE.json]\n"
            "  -n N                   longest reply in tokens (default 1024; -1: until a stop token or the context is full)\n"
            "  --tools FILE.json      offer these OpenAI-style tools; each parsed call is shown and one input line\n"
            "                         per call is read as its result\n%s",
            argv0, TOOL_CTX_OPTIONS_HELP);
}

/* 0: run; 1: --help/--version printed (exit 0); -1: a usage error (already reported). */
static int parse_args(int argc, char **argv, chat_args *a) {
    memset(a, 0, sizeof *a);
    a->n_reply = 1024;
    tool_ctx_opts_init(&a->ctx);
    a->sp = infer_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (tool_help_or_version(o, argv[0], usage)) return 1;
        int used = tool_model_option(o, v, &a->ctx, &a->sp);
        if (used < 0) return -1;
        if (used > 0) {
            if (strcmp(o, "--seed") == 0) a->seed_given = 1;
            i += used - 1;
            continue;
        }
#define OPT(name) (strcmp(o, name) == 0 && v && (i++, 1))
        if (OPT("-m") || OPT("--model")) a->model = v;
        else if (OPT("--system") || OPT("-sys")) a->system = v;
        else if (OPT("-n") || OPT("--n-predict")) {
            if (tool_parse_int(o, v, -1, 0x7fffffff, &a->n_reply) != 0) return -1;
        }
        else if (strcmp(o, "--show-reasoning") == 0) a->show_reasoning = 1;
        else if (strcmp(o, "--verbose-prompt") == 0) a->verbose_prompt = 1;
        else if (OPT("--tools")) a->tools_path = v;
        else {
            fprintf(stderr, "error: unknown or incomplete option '%s'\n", o);
            return -1;
        }
#undef OPT
    }
    if (!a->model) {
        fprintf(stderr, "error: -m MODEL is required\n");
        return -1;
    }
    return 0;
}

/* Reads the --tools file: a JSON array of tool specs, checked here so a typo is reported
 * before the model loads. */
static int load_tools(chat_args *a) {
    json_error_t je;
    json_t *j = json_load_file(a->tools_path, 0, &je);
    int ok = json_is_array(j);
    json_decref(j);
    if (!ok) {
        fprintf(stderr, "error: %s: expected a JSON array of tools (%s)\n", a->tools_path, j ? "not an array" : je.text);
        return -1;
    }
    /* the text itself is passed on: re-serializing would reformat numbers */
    a->tools_json = tool_read_file(a->tools_path, NULL);
    return a->tools_json ? 0 : -1;
}

/* ---------------------------------------------------------------- Ctrl-C */

static volatile sig_atomic_t g_interrupted;   /* set by SIGINT, cleared by the loop */

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

/* No SA_RESTART: a blocking read returns EINTR, so Ctrl-C at the prompt is noticed. */
static void install_sigint(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* ---------------------------------------------------------------- conversation */

typedef struct conversation {
    infer_chat_message *msgs;   /* roles are string literals, every other string is owned */
    size_t n, cap;
} conversation;

static infer_chat_message *conv_push(conversation *c, const char *role, const char *content, size_t len) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        infer_chat_message *g = realloc(c->msgs, cap * sizeof *g);
        if (!g) return NULL;
        c->msgs = g;
        c->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    memcpy(copy, content, len);
    copy[len] = '\0';
    infer_chat_message *m = &c->msgs[c->n++];
    *m = (infer_chat_message){.struct_size = sizeof *m, .role = role, .content = copy};
    return m;
}

static void msg_free(infer_chat_message *m) {
    free((char *)m->content);
    free((char *)m->reasoning_content);
    free((char *)m->tool_call_id);
    free((char *)m->name);
    for (size_t i = 0; i < m->n_tool_calls; i++) {
        free((char *)m->tool_calls[i].id);
        free((char *)m->tool_calls[i].name);
        free((char *)m->tool_calls[i].arguments);
    }
    free((void *)m->tool_calls);
}

static void conv_pop(conversation *c) {
    if (c->n) msg_free(&c->msgs[--c->n]);
}

/* Drops everything but the system message. */
static void conv_clear(conversation *c) {
    size_t keep = c->n && strcmp(c->msgs[0].role, "system") == 0;
    while (c->n > keep) conv_pop(c);
}

static int conv_set_system(conversation *c, const char *text) {
    if (c->n && strcmp(c->msgs[0].role, "system") == 0) {
        char *copy = strdup(text);
        if (!copy) return -1;
        free((char *)c->msgs[0].content);
        c->msgs[0].content = copy;
        return 0;
    }
    if (!conv_push(c, "system", text, strlen(text))) return -1;
    infer_chat_message sys = c->msgs[c->n - 1];   /* move it to the front */
    memmove(c->msgs + 1, c->msgs, (c->n - 1) * sizeof *c->msgs);
    c->msgs[0] = sys;
    return 0;
}

static void conv_free(conversation *c) {
    while (c->n) conv_pop(c);
    free(c->msgs);
}

/* ---------------------------------------------------------------- growable buffers */

typedef struct text_buf {
    char *p;
    size_t n, cap;
} text_buf;

static int text_put(text_buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *g = realloc(b->p, cap);
        if (!g) return -1;
        b->p = g;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

typedef struct token_buf {
    int32_t *p;
    size_t n, cap;
} token_buf;

static int tokens_reserve(token_buf *t, size_t n) {
    if (n <= t->cap) return 0;
    size_t cap = t->cap ? t->cap : 1024;
    while (cap < n) cap *= 2;
    int32_t *g = realloc(t->p, cap * sizeof *g);
    if (!g) return -1;
    t->p = g;
    t->cap = cap;
    return 0;
}

/* ---------------------------------------------------------------- session */

typedef struct chat_session {
    const chat_args *a;
    infer_model *m;
    infer_ctx *ctx;
    infer_sampler *smp;
    int interactive;           /* stdin is a terminal */
    int color;                 /* stdout is a terminal: reasoning shown dimmed */
    int harmony;               /* template family is Harmony (channels) */
    infer_chat_stream *stream; /* splits replies into answer / reasoning / markup */
    int32_t stop[16];
    size_t n_stop;
    conversation conv;
    token_buf cached;          /* tokens held in the KV cache, positions 0..n-1 */
    token_buf prompt;          /* scratch: the rendered conversation, tokenized */
    text_buf rendered;         /* scratch: the rendered conversation */
    int template_warned;       /* the template failure was reported once */
} chat_session;

static int is_stop(const chat_session *s, int32_t tok) {
    for (size_t i = 0; i < s->n_stop; i++)
        if (s->stop[i] == tok) return 1;
    return 0;
}

/* Renders with the model's template (tools offered when --tools was given). A template
 * that raises on this conversation falls back to the plain role/content rendering. */
static infer_status render_once(chat_session *s, size_t *need) {
    infer_chat_render_opts o = {.struct_size = sizeof o, .add_generation_prompt = 1, .tools_json = s->a->tools_json};
    infer_error err = {0};
    infer_status st = infer_chat_render_messages(s->m, s->conv.msgs, s->conv.n, &o, s->rendered.p, s->rendered.cap,
                                                 need, &err);
    if (st == INFER_OK || st == INFER_ERR_BUFFER_SMALL || st == INFER_ERR_NOMEM) return st;
    if (!s->template_warned) {
        fprintf(stderr, "warning: the chat template failed (%s); using plain turns\n", err.message);
        s->template_warned = 1;
    }
    infer_chat_msg *plain = calloc(s->conv.n ? s->conv.n : 1, sizeof *plain);
    if (!plain) return INFER_ERR_NOMEM;
    for (size_t i = 0; i < s->conv.n; i++) {
        plain[i].role = s->conv.msgs[i].role;
        plain[i].content = s->conv.msgs[i].content;
    }
    st = infer_chat_render(s->m, plain, s->conv.n, 1, s->rendered.p, s->rendered.cap, need);
    free(plain);
    return st;
}

/* Renders the conversation with the generation prompt into s->rendered. */
static infer_status render_conversation(chat_session *s) {
    size_t need = 0;
    infer_status st = render_once(s, &need);
    if (st == INFER_ERR_BUFFER_SMALL) {
        char *g = realloc(s->rendered.p, need + 1);
        if (!g) return INFER_ERR_NOMEM;
        s->rendered.p = g;
        s->rendered.cap = need + 1;
        st = render_once(s, &need);
    }
    s->rendered.n = st == INFER_OK ? need : 0;
    return st;
}

/* Tokenizes s->rendered into s->prompt. Special tokens written by the template are
 * parsed; BOS is added only if the model wants one and the template did not write it. */
static infer_status tokenize_rendered(chat_session *s) {
    int32_t bos = infer_token_bos(s->m);
    const char *bos_text = bos >= 0 ? infer_token_text(s->m, bos) : NULL;
    int add_bos = infer_model_add_bos(s->m) &&
                  !(bos_text && *bos_text && strncmp(s->rendered.p, bos_text, strlen(bos_text)) == 0);
    size_t n = 0;
    if (tokens_reserve(&s->prompt, s->rendered.n + 8) != 0) return INFER_ERR_NOMEM;
    infer_status st = infer_tokenize(s->m, s->rendered.p, s->rendered.n, add_bos, 1, s->prompt.p, s->prompt.cap, &n);
    if (st == INFER_ERR_BUFFER_SMALL) {
        if (tokens_reserve(&s->prompt, n) != 0) return INFER_ERR_NOMEM;
        st = infer_tokenize(s->m, s->rendered.p, s->rendered.n, add_bos, 1, s->prompt.p, s->prompt.cap, &n);
    }
    s->prompt.n = st == INFER_OK ? n : 0;
    return st;
}

typedef struct reply_state {
    infer_detok *detok;
    infer_chat_part out;      /* where the detokenizer's text goes now */
    int dim_open;             /* an ANSI dim sequence is open on stdout */
    int reasoning_shown;      /* reasoning was printed since the last answer text */
    int answer_started;       /* answer text was printed (leading newlines skipped before) */
    text_buf history;         /* what the conversation keeps for this turn */
    text_buf raw;             /* every generated token's text, markup included (tool-call parsing) */
} reply_state;

/* History keeps what the template would re-render: Harmony's final channel only;
 * otherwise the whole reply, <think> block included (the template strips it). */
static int keeps_in_history(const chat_session *s, infer_chat_part part) {
    return part == INFER_CHAT_PART_ANSWER || (!s->harmony && part == INFER_CHAT_PART_REASONING);
}

static void write_text(chat_session *s, reply_state *r, const char *text, size_t n) {
    if (n == 0) return;
    if (keeps_in_history(s, r->out)) text_put(&r->history, text, n);
    if (r->out == INFER_CHAT_PART_ANSWER) {
        if (!r->answer_started) {   /* after "</think>\n\n" or a channel switch: no blank lines */
            while (n && (*text == '\n' || *text == ' ')) text++, n--;
            if (n == 0) return;
            r->answer_started = 1;
        }
        if (r->dim_open) {
            fputs("\033[0m", stdout);
            r->dim_open = 0;
        }
        if (r->reasoning_shown) {
            fputs("\n", stdout);
            r->reasoning_shown = 0;
        }
        fwrite(text, 1, n, stdout);
    } else if (r->out == INFER_CHAT_PART_REASONING && s->a->show_reasoning) {
        if (s->color && !r->dim_open) {
            fputs("\033[2m", stdout);
            r->dim_open = 1;
        }
        fwrite(text, 1, n, stdout);
        r->reasoning_shown = 1;
    }
    fflush(stdout);
}

/* Emits what the detokenizer held back (to the current destination). */
static void flush_detok(chat_session *s, reply_state *r) {
    char tail[64];
    size_t n = 0;
    if (infer_detok_flush(r->detok, tail, sizeof tail, &n) == INFER_OK) write_text(s, r, tail, n);
}

/* Routes one generated token (not a stop token) to the screen and to history. */
static void handle_token(chat_session *s, reply_state *r, int32_t tok) {
    if (s->a->tools_json) {
        char bytes[256];
        size_t nb = 0;
        if (infer_token_to_bytes(s->m, tok, bytes, sizeof bytes, &nb) == INFER_OK) text_put(&r->raw, bytes, nb);
    }
    infer_chat_part part = infer_chat_stream_push(s->stream, tok);
    if (part == INFER_CHAT_PART_MARKUP) {
        flush_detok(s, r);
        if (!s->harmony) {   /* <think> tags stay in history for the template to strip */
            const char *t = infer_token_text(s->m, tok);
            if (t) text_put(&r->history, t, strlen(t));
        }
        return;
    }
    if (part != r->out) {
        flush_detok(s, r);
        r->out = part;
    }
    char buf[256];
    size_t n = 0;
    if (infer_detok_push(r->detok, tok, buf, sizeof buf, &n) == INFER_OK) write_text(s, r, buf, n);
}

static void report_context_full(const chat_session *s, size_t need) {
    fprintf(stderr,
            "\n[context full: the conversation needs %zu tokens, the context holds %u. "
            "Type /reset to start over (or restart with a larger -c).]\n",
            need, infer_ctx_n_ctx(s->ctx));
}

/* The reply as history: with tools, the reply is split into content, reasoning and tool
 * calls (the template prints the calls in its own format); otherwise it is kept whole. */
static int push_reply(chat_session *s, const text_buf *reply, const text_buf *raw, size_t *n_calls) {
    *n_calls = 0;
    const char *text = reply->p ? reply->p : "";
    infer_chat_parsed *parsed = NULL;
    if (s->a->tools_json) {   /* the raw reply: Harmony calls live in channels history drops */
        infer_error err = {0};
        if (infer_chat_parse_reply(raw->p ? raw->p : "", s->a->tools_json, &parsed, &err) != INFER_OK) parsed = NULL;
    }
    size_t n = infer_chat_parsed_n_tool_calls(parsed);
    if (n == 0) {
        infer_chat_parsed_free(parsed);
        return conv_push(&s->conv, "assistant", text, reply->n) ? 0 : -1;
    }
    const char *content = infer_chat_parsed_content(parsed), *reasoning = infer_chat_parsed_reasoning(parsed);
    infer_chat_message *m = conv_push(&s->conv, "assistant", content, strlen(content));
    infer_chat_tool_call *calls = calloc(n, sizeof *calls);
    if (!m || !calls) {
        free(calls);
        infer_chat_parsed_free(parsed);
        return -1;
    }
    if (*reasoning) m->reasoning_content = strdup(reasoning);
    for (size_t i = 0; i < n; i++) {
        const infer_chat_tool_call *c = infer_chat_parsed_tool_call(parsed, i);
        calls[i] = (infer_chat_tool_call){sizeof calls[i], strdup(c->id), strdup(c->name), strdup(c->arguments)};
        fprintf(stderr, "[tool call %s] %s %s\n", c->id, c->name, c->arguments);
    }
    m->tool_calls = calls;
    m->n_tool_calls = n;
    *n_calls = n;
    infer_chat_parsed_free(parsed);
    return 0;
}

/* Evaluates the new part of the prompt, then streams the reply and adds it to the
 * conversation. Returns -1 when no reply was added; *n_calls: tool calls in the reply. */
static int respond(chat_session *s, size_t *n_calls) {
    *n_calls = 0;
    g_interrupted = 0;   /* from here on, Ctrl-C (even during the prompt) ends this reply */
    infer_status st = render_conversation(s);
    if (st == INFER_OK) st = tokenize_rendered(s);
    if (st != INFER_OK || s->prompt.n == 0) {
        fprintf(stderr, "error: cannot render/tokenize the conversation (%s)\n", infer_status_str(st));
        return -1;
    }
    if (s->a->verbose_prompt)
        fprintf(stderr, "[rendered prompt, %zu tokens]\n%s\n[end of prompt]\n", s->prompt.n, s->rendered.p);
    const size_t n = s->prompt.n;
    if (n >= infer_ctx_n_ctx(s->ctx)) {   /* leave room for at least one reply token */
        report_context_full(s, n);
        return -1;
    }

    /* Reuse the cached prefix; at least the last prompt token is evaluated, for its logits. */
    size_t keep = 0;
    while (keep < s->cached.n && keep < n && s->cached.p[keep] == s->prompt.p[keep]) keep++;
    if (keep == n) keep = n - 1;
    infer_ctx_kv_truncate(s->ctx, (int32_t)keep);
    s->cached.n = keep;

    double t0 = tool_now_s();
    st = infer_ctx_decode(s->ctx, s->prompt.p + keep, NULL, NULL, (int32_t)(n - keep));
    double t_prompt = tool_now_s() - t0;
    if (st != INFER_OK) {
        if (st == INFER_ERR_CONTEXT_FULL) report_context_full(s, n);
        else fprintf(stderr, "error: decode: %s\n", infer_ctx_last_error(s->ctx));
        /* The cache may hold part of the batch: forget it all beyond what we know. */
        infer_ctx_kv_truncate(s->ctx, (int32_t)keep);
        return -1;
    }
    /* -n -1: the reply may run to the end of the context. */
    size_t reply_max = s->a->n_reply < 0 ? (size_t)infer_ctx_n_ctx(s->ctx) : (size_t)s->a->n_reply;
    if (tokens_reserve(&s->cached, n + reply_max + 1) != 0) {
        fprintf(stderr, "error: out of memory\n");
        return -1;
    }
    memcpy(s->cached.p + keep, s->prompt.p + keep, (n - keep) * sizeof *s->prompt.p);
    s->cached.n = n;
    for (size_t i = keep; i < n; i++) infer_sampler_accept(s->smp, s->prompt.p[i]);

    reply_state r = {0};
    infer_error err;
    r.out = INFER_CHAT_PART_ANSWER;
    infer_chat_stream_reset(s->stream);
    if (infer_detok_init(s->m, &r.detok, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        return -1;
    }

    int32_t logits_row = (int32_t)(n - keep) - 1;   /* the last token of the last decode */
    int n_gen = 0, stopped_by_user = 0, context_full = 0;
    double t1 = tool_now_s();
    while (s->a->n_reply < 0 || n_gen < s->a->n_reply) {
        if (g_interrupted) {
            stopped_by_user = 1;
            break;
        }
        const float *logits = infer_ctx_logits(s->ctx, logits_row);
        if (!logits) break;
        int32_t tok = infer_sampler_sample(s->smp, logits);
        if (tok < 0 || is_stop(s, tok)) break;
        infer_sampler_accept(s->smp, tok);
        handle_token(s, &r, tok);
        n_gen++;
        if (s->cached.n >= infer_ctx_n_ctx(s->ctx)) {
            context_full = 1;
            break;
        }
        st = infer_ctx_decode(s->ctx, &tok, NULL, NULL, 1);
        if (st == INFER_ERR_CONTEXT_FULL) {
            context_full = 1;
            break;
        }
        if (st != INFER_OK) {
            fprintf(stderr, "\nerror: decode: %s\n", infer_ctx_last_error(s->ctx));
            break;
        }
        s->cached.p[s->cached.n++] = tok;
        logits_row = 0;
    }
    double t_gen = tool_now_s() - t1;
    flush_detok(s, &r);
    if (r.dim_open) fputs("\033[0m", stdout);
    fputs("\n", stdout);
    fflush(stdout);
    if (stopped_by_user) fprintf(stderr, "[reply stopped]\n");
    if (context_full)
        fprintf(stderr, "[context full (%u tokens): reply cut. Type /reset to start over.]\n", infer_ctx_n_ctx(s->ctx));

    int pushed = push_reply(s, &r.history, &r.raw, n_calls);
    if (pushed != 0) fprintf(stderr, "error: out of memory\n");
    size_t n_eval = n - keep;
    fprintf(stderr, "[prompt: %zu new tokens (%zu reused) in %.3f s, %.1f tok/s | reply: %d tokens in %.3f s, %.1f tok/s]\n",
            n_eval, keep, t_prompt, t_prompt > 0 ? (double)n_eval / t_prompt : 0.0, n_gen, t_gen,
            t_gen > 0 ? (double)n_gen / t_gen : 0.0);
    infer_detok_free(r.detok);
    free(r.history.p);
    free(r.raw.p);
    return pushed;
}

static ssize_t read_line(chat_session *s, char **line, size_t *cap);

/* One user turn; with tools, calls are answered (one input line per call) and the model
 * continues until it answers without calling (at most 8 rounds). */
static void chat_turn(chat_session *s, const char *user, size_t len) {
    if (!conv_push(&s->conv, "user", user, len)) {
        fprintf(stderr, "error: out of memory\n");
        return;
    }
    size_t n_calls = 0;
    if (respond(s, &n_calls) != 0) {
        conv_pop(&s->conv);
        return;
    }
    char *line = NULL;
    size_t cap = 0;
    for (int round = 0; n_calls > 0 && round < 8; round++) {
        const infer_chat_message *a = &s->conv.msgs[s->conv.n - 1];
        size_t first_call = s->conv.n - 1, k;
        for (k = 0; k < n_calls; k++) {
            const infer_chat_tool_call *c = &s->conv.msgs[first_call].tool_calls[k];
            if (s->interactive) printf("[result of %s]", c->name);
            ssize_t n = read_line(s, &line, &cap);
            if (n < 0) break;
            infer_chat_message *t = conv_push(&s->conv, "tool", line, (size_t)n);
            if (!t) break;
            a = &s->conv.msgs[first_call];   /* the array may have moved */
            t->tool_call_id = strdup(a->tool_calls[k].id);
            t->name = strdup(a->tool_calls[k].name);
        }
        if (k < n_calls) {
            fprintf(stderr, "[tool results incomplete: the calls stay unanswered]\n");
            break;
        }
        if (respond(s, &n_calls) != 0) break;
    }
    free(line);
}

static void reset_session(chat_session *s) {
    conv_clear(&s->conv);
    infer_ctx_kv_clear(s->ctx);
    s->cached.n = 0;
    infer_sampler_reset(s->smp);
}

/* Handles a /command; returns 1 to quit. */
static int run_command(chat_session *s, char *line) {
    if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0) return 1;
    if (strcmp(line, "/reset") == 0) {
        reset_session(s);
        fprintf(stderr, "[conversation reset]\n");
    } else if (strncmp(line, "/system", 7) == 0 && (line[7] == ' ' || line[7] == '\0')) {
        const char *text = line[7] ? line + 8 : "";
        if (conv_set_system(&s->conv, text) != 0) fprintf(stderr, "error: out of memory\n");
        else fprintf(stderr, "[system message set; it applies from the next reply]\n");
    } else {
        fprintf(stderr, "commands: /reset (forget the conversation), /system TEXT, /quit\n");
    }
    return 0;
}

/* Reads one line (without its newline). Returns -1 at end of input, -2 on Ctrl-C. */
static ssize_t read_line(chat_session *s, char **line, size_t *cap) {
    if (s->interactive) {
        fputs("\n> ", stdout);
        fflush(stdout);
    }
    errno = 0;
    ssize_t n = getline(line, cap, stdin);
    if (n < 0) {
        if (errno == EINTR || g_interrupted) {
            clearerr(stdin);
            g_interrupted = 0;
            return -2;
        }
        return -1;
    }
    while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r')) (*line)[--n] = '\0';
    return n;
}

static void chat_loop(chat_session *s) {
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        ssize_t n = read_line(s, &line, &cap);
        if (n == -1) break;
        if (n == -2) {
            fprintf(stderr, "\n(type /quit or press Ctrl-D to leave)\n");
            continue;
        }
        if (n == 0) continue;
        /* The conversation is C strings all the way to the template: a NUL would cut the
         * turn short without a word. Refuse the line instead. */
        const char *nul = memchr(line, '\0', (size_t)n);
        if (nul) {
            fprintf(stderr, "error: the input line contains a NUL byte (at byte %zu); it was not sent\n",
                    (size_t)(nul - line));
            continue;
        }
        if (line[0] == '/') {
            if (run_command(s, line)) break;
            continue;
        }
        chat_turn(s, line, (size_t)n);
    }
    free(line);
}

int main(int argc, char **argv) {
    chat_args a;
    int pr = parse_args(argc, argv, &a);
    if (pr != 0) return tool_parse_exit(pr, argv[0], usage);
    if (!a.seed_given) a.sp.seed = (uint64_t)time(NULL);
    if (a.tools_path && load_tools(&a) != 0) return 1;

    infer_model *m;
    chat_session s = {.a = &a};
    double t0 = tool_now_s();
    if (tool_open_model(a.model, &a.ctx, &m, &s.ctx) != 0) return 1;
    s.m = m;
    s.smp = infer_sampler_new(&a.sp, infer_model_n_vocab(m));
    if (!s.smp) {
        fprintf(stderr, "error: cannot create the sampler\n");
        infer_ctx_free(s.ctx);
        infer_model_free(m);
        return 1;
    }
    s.interactive = isatty(STDIN_FILENO);
    s.color = isatty(STDOUT_FILENO);
    const char *family = infer_chat_template_name(m);
    s.harmony = strcmp(family, "harmony") == 0;
    infer_error serr;
    if (infer_chat_stream_init(m, &s.stream, &serr) != INFER_OK) {
        fprintf(stderr, "error: %s\n", serr.message);
        infer_sampler_free(s.smp);
        infer_ctx_free(s.ctx);
        infer_model_free(m);
        return 1;
    }
    s.n_stop = infer_model_stop_tokens(m, s.stop, sizeof s.stop / sizeof s.stop[0]);
    if (s.n_stop > sizeof s.stop / sizeof s.stop[0]) s.n_stop = sizeof s.stop / sizeof s.stop[0];

    install_sigint();   /* before the banner: once it shows, Ctrl-C is ours */
    fprintf(stderr, "loaded %s (%s) in %.3f s on %s (%s), context %u, template %s, seed %llu\n", a.model,
            infer_model_arch(m), tool_now_s() - t0, infer_ctx_backend_name(s.ctx), infer_ctx_device_name(s.ctx),
            infer_ctx_n_ctx(s.ctx), family, (unsigned long long)a.sp.seed);
    if (infer_chat_template_is_fallback(m))
        fprintf(stderr, "warning: the model's chat template is missing or not recognized; using ChatML\n");
    if (s.n_stop == 0) fprintf(stderr, "warning: no stop token found; replies end after -n tokens\n");
    if (s.interactive)
        fprintf(stderr, "commands: /reset, /system TEXT, /quit; Ctrl-C stops a reply\n");

    if (a.system && conv_set_system(&s.conv, a.system) != 0) fprintf(stderr, "error: out of memory\n");
    if (a.tools_json) fprintf(stderr, "tools offered from %s\n", a.tools_path);
    chat_loop(&s);

    conv_free(&s.conv);
    free(s.cached.p);
    free(s.prompt.p);
    free(s.rendered.p);
    infer_chat_stream_free(s.stream);
    infer_sampler_free(s.smp);
    infer_ctx_free(s.ctx);
    infer_model_free(m);
    free(a.tools_json);
    return 0;
}
