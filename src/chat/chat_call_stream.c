/* Hermes/Qwen tool calls followed while a reply streams (infer.h): the answer text is
 * searched for <tool_call> as it grows; each block's body goes to a call scanner
 * (chat_call_scan.h) until </tool_call>, which may come split over any number of pushes
 * (a byte that may start it is held until it cannot). The blocks are delimited exactly as
 * infer_chat_parse_reply delimits them, so both read the same bytes. */
#include "chat/chat_call_scan.h"
#include "core/error.h"
#include "infer.h"

#include <stdlib.h>
#include <string.h>

static const char OPEN[] = "<tool_call>", CLOSE[] = "</tool_call>";
#define OPEN_N (sizeof OPEN - 1)
#define CLOSE_N (sizeof CLOSE - 1)

enum { S_OUT, S_BODY, S_STOPPED };

typedef struct done_call {
    char *name, *args;
    size_t n_args;
} done_call;

struct infer_chat_call_stream {
    int state;
    size_t open_m;      /* bytes of OPEN matched so far (S_OUT) */
    size_t close_m;     /* bytes of CLOSE matched and held back (S_BODY) */
    call_scan *cur;     /* the block being read (S_BODY; kept when the stream stopped on it) */
    done_call *done;    /* finished calls, in order */
    size_t n_done, cap_done;
    int oom;
};

infer_status infer_chat_call_stream_new(infer_chat_call_stream **out) {
    if (!out) return INFER_ERR_INVALID_ARG;
    *out = calloc(1, sizeof **out);
    return *out ? INFER_OK : INFER_ERR_NOMEM;
}

void infer_chat_call_stream_free(infer_chat_call_stream *s) {
    if (!s) return;
    for (size_t i = 0; i < s->n_done; i++) free(s->done[i].name), free(s->done[i].args);
    free(s->done);
    if (s->cur) call_scan_free(s->cur);
    free(s->cur);
    free(s);
}

/* The current call's object closed: it joins the finished ones. */
static int finish_call(infer_chat_call_stream *s) {
    if (s->n_done == s->cap_done) {
        size_t cap = s->cap_done ? s->cap_done * 2 : 4;
        done_call *d = realloc(s->done, cap * sizeof *d);
        if (!d) return -1;
        s->done = d;
        s->cap_done = cap;
    }
    call_scan *c = s->cur;
    done_call d = {strndup(c->name.data ? c->name.data : "", c->name.len), malloc(c->args.len + 1), c->args.len};
    if (!d.name || !d.args) {
        free(d.name);
        free(d.args);
        return -1;
    }
    memcpy(d.args, c->args.data ? c->args.data : "", c->args.len);
    d.args[c->args.len] = 0;
    s->done[s->n_done++] = d;
    call_scan_free(c);
    call_scan_init(c);
    return 0;
}

/* Body bytes for the scanner (the bytes after its object ends are ignored there). */
static void feed(infer_chat_call_stream *s, const char *p, size_t n) {
    if (s->cur->status != CALL_SCAN_RUNNING) return;
    call_scan_status st = call_scan_push(s->cur, p, n);
    if (st == CALL_SCAN_DONE) {
        if (finish_call(s) != 0) s->oom = 1, s->state = S_STOPPED;
        else s->cur->status = CALL_SCAN_DONE;   /* the rest of this block is not read */
    } else if (st != CALL_SCAN_RUNNING) {
        s->state = S_STOPPED;   /* the whole-reply parser stops at this block too, or reads it its own way */
    }
}

static void body_byte(infer_chat_call_stream *s, char c) {
    if (c == CLOSE[s->close_m]) {
        if (++s->close_m < CLOSE_N) return;
        s->close_m = 0;
        if (s->cur->status == CALL_SCAN_RUNNING && call_scan_end(s->cur) != CALL_SCAN_DONE) {
            s->state = S_STOPPED;   /* the block closed inside its object */
            return;
        }
        s->state = S_OUT;
        return;
    }
    if (s->close_m) {   /* not the marker after all: the held bytes were body text */
        feed(s, CLOSE, s->close_m);
        s->close_m = 0;
        if (s->state != S_BODY) return;
        if (c == CLOSE[0]) {
            s->close_m = 1;
            return;
        }
    }
    feed(s, &c, 1);
}

infer_status infer_chat_call_stream_push(infer_chat_call_stream *s, const char *text, size_t n) {
    if (!s || (!text && n)) return INFER_ERR_INVALID_ARG;
    for (size_t i = 0; i < n && s->state != S_STOPPED; i++) {
        char c = text[i];
        if (s->state == S_BODY) {
            body_byte(s, c);
            continue;
        }
        if (c != OPEN[s->open_m]) {
            s->open_m = c == OPEN[0];
            continue;
        }
        if (++s->open_m < OPEN_N) continue;
        s->open_m = 0;
        if (!s->cur && !(s->cur = malloc(sizeof *s->cur))) {
            s->oom = 1;
            s->state = S_STOPPED;
            break;
        }
        call_scan_init(s->cur);
        s->state = S_BODY;
    }
    return s->oom ? INFER_ERR_NOMEM : INFER_OK;
}

size_t infer_chat_call_stream_n_calls(const infer_chat_call_stream *s) {
    if (!s) return 0;
    return s->n_done + (s->cur && s->cur->status != CALL_SCAN_DONE && s->cur->named);
}

infer_status infer_chat_call_stream_call(const infer_chat_call_stream *s, size_t i, infer_chat_call_progress *out) {
    if (!s || !out || out->struct_size < sizeof *out || i >= infer_chat_call_stream_n_calls(s))
        return INFER_ERR_INVALID_ARG;
    if (i < s->n_done) {
        out->name = s->done[i].name;
        out->arguments = s->done[i].args;
        out->n_arguments = s->done[i].n_args;
        out->complete = 1;
    } else {
        out->name = s->cur->name.data ? s->cur->name.data : "";
        out->arguments = s->cur->args.data ? s->cur->args.data : "";
        out->n_arguments = call_scan_args_ready(s->cur);
        out->complete = 0;
    }
    return INFER_OK;
}

int infer_chat_call_stream_stopped(const infer_chat_call_stream *s) { return !s || s->state == S_STOPPED; }
