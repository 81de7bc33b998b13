#include "reply.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- routing tokens */

int reply_router_init(reply_router *r, const infer_model *m) {
    memset(r, 0, sizeof *r);
    r->m = m;
    r->cs = infer_chat_stream_new(m);
    return r->cs ? 0 : -1;
}

void reply_router_free(reply_router *r) {
    infer_chat_stream_free(r->cs);
    infer_detok_free(r->detok);
    memset(r, 0, sizeof *r);
}

int reply_router_start(reply_router *r) {
    infer_detok_free(r->detok);
    r->detok = infer_detok_new(r->m);
    r->out = INFER_CHAT_PART_ANSWER;
    r->saw_markup = r->answer_started = 0;
    if (r->cs) infer_chat_stream_reset(r->cs);
    return r->detok ? 0 : -1;
}

static int route_text(reply_router *r, job *j, const char *text, size_t n) {
    if (n == 0) return 0;
    if (r->out == INFER_CHAT_PART_ANSWER) {
        if (r->saw_markup && !r->answer_started) {   /* "</think>\n\n": no leading blank lines */
            while (n && (*text == '\n' || *text == ' ')) text++, n--;
            if (n == 0) return 0;
        }
        r->answer_started = 1;
        return job_append_content(j, text, n);
    }
    if (r->out == INFER_CHAT_PART_REASONING) job_append_reasoning(j, text, n);
    /* Other Harmony channels (commentary) are not text: their calls are read from raw. */
    return 0;
}

static int flush_detok(reply_router *r, job *j) {
    char tail[64];
    size_t n = 0;
    if (r->detok && infer_detok_flush(r->detok, tail, sizeof tail, &n) == INFER_OK) return route_text(r, j, tail, n);
    return 0;
}

int reply_router_push(reply_router *r, job *j, int32_t tok) {
    int stopped = 0;
    if (j->tools_json) {   /* the reply as the model wrote it, markup included */
        char piece[256];
        size_t n = 0;
        if (infer_token_to_bytes(r->m, tok, piece, sizeof piece, &n) == INFER_OK) job_append_raw(j, piece, n);
    }
    if (j->chat && r->cs) {
        infer_chat_part part = infer_chat_stream_push(r->cs, tok);
        if (part == INFER_CHAT_PART_MARKUP) {
            stopped = flush_detok(r, j);
            r->saw_markup = 1;
            return stopped;
        }
        if (part != r->out) {
            stopped = flush_detok(r, j);
            r->out = part;
        }
    }
    char buf[256];
    size_t n = 0;
    if (infer_detok_push(r->detok, tok, buf, sizeof buf, &n) == INFER_OK) stopped |= route_text(r, j, buf, n);
    return stopped;
}

int reply_router_end(reply_router *r, job *j, int flush) {
    int stopped = flush ? flush_detok(r, j) : 0;
    infer_detok_free(r->detok);
    r->detok = NULL;
    return stopped;
}

/* ---------------------------------------------------------------- tool calls in text */

/* Where the families the library parses start a call inside the answer text. */
static const char *const MARKERS[] = {"<tool_call>", "[TOOL_CALLS]", "<|python_tag|>"};
#define N_MARKERS (sizeof MARKERS / sizeof MARKERS[0])

static int is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/* The first marker in text, or n. */
static size_t first_marker(const char *t, size_t n) {
    size_t at = n;
    for (size_t k = 0; k < N_MARKERS; k++) {
        const char *hit = memmem(t, n, MARKERS[k], strlen(MARKERS[k]));
        if (hit && (size_t)(hit - t) < at) at = (size_t)(hit - t);
    }
    return at;
}

/* Whether t (the reply after leading whitespace) opens a code fence, ``` or ```json, whose
 * body starts like JSON, or is still a prefix of such an opening. Models write a whole
 * call that way too (Qwen2.5-Coder without a system prompt); the library parses it. */
static int fence_may_hold_json(const char *t, size_t n) {
    static const char open[] = "```", tag[] = "json";
    size_t i = 0;
    for (; i < 3; i++)
        if (i == n) return 1;
        else if (t[i] != open[i]) return 0;
    size_t k = 0;   /* the language tag: none or json */
    while (i < n && k < 4 && t[i] == tag[k]) i++, k++;
    if (i == n) return 1;
    if (k != 0 && k != 4) return 0;
    while (i < n && is_space(t[i])) i++;
    return i == n || t[i] == '{' || t[i] == '[';
}

/* Where a call may start: 0 when the text starts (after whitespace) like JSON, or a code
 * fence of JSON, or is only whitespace so far, else the first marker (n: none). */
static size_t split_point(const char *t, size_t n) {
    size_t q = 0;
    while (q < n && is_space(t[q])) q++;
    if (q == n || t[q] == '{' || t[q] == '[' || fence_may_hold_json(t + q, n - q)) return 0;
    return first_marker(t, n);
}

size_t reply_stream_safe(const char *t, size_t n) {
    size_t safe = split_point(t, n);
    /* a tail that could still become a marker */
    for (size_t k = 0; k < N_MARKERS && safe == n; k++) {
        size_t lm = strlen(MARKERS[k]);
        for (size_t len = lm - 1 < n ? lm - 1 : n; len > 0; len--)
            if (n - len < safe && memcmp(t + n - len, MARKERS[k], len) == 0) {
                safe = n - len;
                break;
            }
    }
    /* whitespace usually comes right before a call: held until the text goes on */
    while (safe > 0 && is_space(t[safe - 1])) safe--;
    return safe;
}

/* The parsed calls in OpenAI's or Ollama's shape; NULL when none. */
static json_t *calls_json(const infer_chat_parsed *p, int ollama) {
    json_t *calls = NULL;
    size_t k = infer_chat_parsed_n_tool_calls(p);
    for (size_t i = 0; i < k; i++) {
        const infer_chat_tool_call *tc = infer_chat_parsed_tool_call(p, i);
        if (!tc || !tc->name) continue;
        const char *args = tc->arguments ? tc->arguments : "{}";
        json_t *call;
        if (ollama) {
            json_t *obj = json_loads(args, JSON_DECODE_ANY, NULL);
            if (!json_is_object(obj)) json_decref(obj), obj = json_object();
            call = json_pack("{s:{s:s,s:o}}", "function", "name", tc->name, "arguments", obj);
        } else {
            call = json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", tc->id ? tc->id : "", "type", "function", "function", "name",
                             tc->name, "arguments", args);
        }
        if (!call) continue;
        if (!calls) calls = json_array();
        json_array_append_new(calls, call);
    }
    return calls;
}

/* Parses n bytes with the library; NULL when they hold no call (or cannot be parsed). */
static infer_chat_parsed *parse_calls(const char *text, size_t n, const char *tools_json) {
    if (!text || n == 0 || memchr(text, 0, n)) return NULL;
    char *t = strndup(text, n);
    infer_chat_parsed *p = NULL;
    infer_error err;
    if (!t || infer_chat_parse_reply(t, tools_json, &p, &err) != INFER_OK) p = NULL;
    free(t);
    if (p && infer_chat_parsed_n_tool_calls(p) == 0) {
        infer_chat_parsed_free(p);
        p = NULL;
    }
    return p;
}

json_t *reply_closed_calls(const job *j, size_t skip, int ollama) {
    static const char close[] = "</tool_call>";
    const char *t = j->content.p;
    size_t n = j->content.n;
    if (j->harmony || !t || n == 0) return NULL;
    size_t at = split_point(t, n);
    if (at >= n || n - at < sizeof MARKERS[0] || memcmp(t + at, MARKERS[0], strlen(MARKERS[0])) != 0) return NULL;
    size_t end = at;   /* just after the last closed block */
    for (const char *c = t + at; (c = memmem(c, (size_t)(t + n - c), close, sizeof close - 1)); c += sizeof close - 1)
        end = (size_t)(c - t) + sizeof close - 1;
    infer_chat_parsed *p = end > at ? parse_calls(t + at, end - at, j->tools_json) : NULL;
    json_t *calls = p ? calls_json(p, ollama) : NULL;
    infer_chat_parsed_free(p);
    if (calls && skip) {
        json_t *rest = json_array();
        for (size_t i = skip; i < json_array_size(calls); i++) json_array_append(rest, json_array_get(calls, i));
        json_decref(calls);
        calls = json_array_size(rest) ? rest : (json_decref(rest), NULL);
    }
    return calls;
}

json_t *reply_finish(const job *j, size_t from, int ollama, sbuf *rest) {
    const char *t = j->content.p ? j->content.p : "";
    size_t n = j->content.n;
    if (from > n) from = n;
    if (j->harmony) {   /* the final channel is the answer; calls are commentary messages */
        sbuf_put(rest, t + from, n - from);
        infer_chat_parsed *p = parse_calls(j->raw.p, j->raw.n, j->tools_json);
        json_t *calls = p ? calls_json(p, ollama) : NULL;
        infer_chat_parsed_free(p);
        return calls;
    }
    size_t at = split_point(t, n);
    if (at < from) at = from;
    infer_chat_parsed *p = at < n ? parse_calls(t + at, n - at, j->tools_json) : NULL;
    if (!p) {
        sbuf_put(rest, t + from, n - from);
        return NULL;
    }
    size_t before = at;   /* the text before the first call, without the blank before it */
    while (before > from && is_space(t[before - 1])) before--;
    sbuf_put(rest, t + from, before - from);
    sbuf_puts(rest, infer_chat_parsed_content(p));
    json_t *calls = calls_json(p, ollama);
    infer_chat_parsed_free(p);
    return calls;
}
