/* The OpenAI dialect: /v1/chat/completions, /v1/completions, /v1/models, /v1/embeddings. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat_tools.h"
#include "reply.h"
#include "request.h"
#include "routes.h"
#include "tool_choice.h"

typedef struct oai_stream {
    gen_state g;              /* model name; chat: chat.completion.chunk vs text_completion */
    char id[64];
    long long created;
    int include_usage;
    int role_sent;
    int calls_sent;           /* tool calls went out (finish_reason "tool_calls") */
    size_t n_calls_sent;      /* how many */
    size_t sent, rsent;       /* content / reasoning bytes already streamed */
    int lp_sent;              /* logprobs entries already streamed */
    const infer_model *m;     /* for token texts (the stream holds the model) */
    /* Hermes calls streamed in pieces (the first n_calls_sent calls are these) */
    infer_chat_call_stream *calls;   /* follows the answer text (NULL: not yet made) */
    size_t fed;               /* answer bytes given to it */
    size_t n_piecewise;       /* calls announced piece by piece (the first ones sent) */
    size_t args_sent;         /* arguments bytes sent of the last of them */
    int last_complete;        /* ... and whether its object closed */
} oai_stream;

static void oai_stream_drop(void *state) { infer_chat_call_stream_free(((oai_stream *)state)->calls); }

/* ---------------------------------------------------------------- request fields */

/* The sampling and length fields both endpoints share. */
static int read_sampling(json_t *b, job *j, int chat, req_err *e) {
    double d;
    long long x;
    int rc;
    if ((rc = req_number(b, "temperature", 0, 2, &d, e)) < 0) return -1;
    if (rc) j->sp.temperature = (float)d;
    if ((rc = req_number(b, "top_p", 0, 1, &d, e)) < 0) return -1;
    if (rc) j->sp.top_p = (float)d;
    if ((rc = req_number(b, "presence_penalty", -2, 2, &d, e)) < 0) return -1;
    if (rc) j->sp.presence_penalty = (float)d;
    if ((rc = req_number(b, "frequency_penalty", -2, 2, &d, e)) < 0) return -1;
    if (rc) j->sp.frequency_penalty = (float)d;
    /* llama.cpp's extensions, accepted by many OpenAI-speaking clients */
    if ((rc = req_int(b, "top_k", 0, 1 << 30, &x, e)) < 0) return -1;
    if (rc) j->sp.top_k = (int32_t)x;
    if ((rc = req_number(b, "min_p", 0, 1, &d, e)) < 0) return -1;
    if (rc) j->sp.min_p = (float)d;
    if ((rc = req_number(b, "repeat_penalty", 0, 10, &d, e)) < 0) return -1;
    if (rc) j->sp.repeat_penalty = (float)d;
    if ((rc = req_int(b, "seed", -(1LL << 62), 1LL << 62, &x, e)) < 0) return -1;
    if (rc) j->sp.seed = (uint64_t)x;
    if ((rc = req_int(b, "n", 1, 1, &x, e)) < 0) {
        req_fail(e, 400, "n", "invalid_value", "'n' must be 1 (one choice per request)");
        return -1;
    }
    j->max_tokens = chat ? -1 : 16;   /* OpenAI's defaults: chat until done, completions 16 */
    if ((rc = req_int(b, "max_tokens", 0, 1 << 30, &x, e)) < 0) return -1;
    if (rc) j->max_tokens = (int)x;
    if ((rc = req_int(b, "max_completion_tokens", 0, 1 << 30, &x, e)) < 0) return -1;
    if (rc) j->max_tokens = (int)x;
    if (req_stop(b, "stop", j, e) < 0) return -1;
    return 0;
}

/* What shapes the output: logprobs, response_format (a grammar); fields this server does
 * not implement yet are refused rather than silently ignored. */
static int read_output(json_t *b, job *j, int chat, req_err *e) {
    json_t *v;
    long long top = 0;
    int rc;
    if (chat) {   /* logprobs: true, top_logprobs: 0..20 */
        if (req_bool(b, "logprobs", &j->logprobs, e) < 0 || (rc = req_int(b, "top_logprobs", 0, JOB_MAX_TOP, &top, e)) < 0)
            return -1;
        if (rc && !j->logprobs) {
            req_fail(e, 400, "top_logprobs", "invalid_value", "'top_logprobs' needs 'logprobs': true");
            return -1;
        }
    } else {      /* logprobs: 0..5 alternatives */
        if ((rc = req_int(b, "logprobs", 0, 5, &top, e)) < 0) return -1;
        j->logprobs = rc;
    }
    j->top_logprobs = (int)top;
    if (!chat && (v = json_object_get(b, "tools")) && !json_is_null(v)) {
        req_fail(e, 400, "tools", "unsupported", "tools need /v1/chat/completions");
        return -1;
    }
    if ((v = json_object_get(b, "response_format")) && !json_is_null(v)) {
        json_t *t = json_object_get(v, "type");
        if (!json_is_object(v) || !json_is_string(t)) {
            req_fail(e, 400, "response_format", "invalid_type", "'response_format' must be an object with a string 'type'");
            return -1;
        }
        const char *type = json_string_value(t);
        if (strcmp(type, "json_object") == 0) {
            if (req_json_object(j, e) < 0) return -1;
        } else if (strcmp(type, "json_schema") == 0) {
            json_t *js = json_object_get(v, "json_schema");
            if (!json_is_object(js) || !json_object_get(js, "schema")) {
                req_fail(e, 400, "response_format", "invalid_type", "'response_format.json_schema.schema' is missing");
                return -1;
            }
            if (req_json_schema(json_object_get(js, "schema"), "response_format", j, e) < 0) return -1;
        } else if (strcmp(type, "text") != 0) {
            req_fail(e, 400, "response_format", "invalid_value", "response_format type '%.40s' is not text, json_object or json_schema", type);
            return -1;
        }
    }
    if ((v = json_object_get(b, "grammar")) && !json_is_null(v)) {   /* llama.cpp's extension */
        if (j->grammar) {
            req_fail(e, 400, "grammar", "invalid_value", "'grammar' cannot be combined with response_format");
            return -1;
        }
        if (req_grammar(v, j, e) < 0) return -1;
    }
    if (!chat && (v = json_object_get(b, "echo")) && json_is_true(v)) {
        req_fail(e, 400, "echo", "unsupported", "echo is not supported");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- answers */

static json_t *token_json(const infer_model *m, int32_t tok, int with_bytes, json_t **bytes_out) {
    char buf[256];
    size_t n = 0;
    if (infer_token_to_bytes(m, tok, buf, sizeof buf, &n) != INFER_OK) n = 0;
    if (with_bytes) {
        *bytes_out = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(*bytes_out, json_integer((unsigned char)buf[i]));
    }
    return json_text_n(buf, n);
}

/* OpenAI's logprobs of generated tokens [from, to): chat {"content":[...]} or the
 * completions' parallel arrays. */
static json_t *logprobs_json(const oai_stream *s, const job *j, int from, int to) {
    if (!j->logprobs || to <= from) return json_null();
    json_t *content = json_array(), *tokens = json_array(), *lps = json_array(), *tops = json_array();
    for (int i = from; i < to; i++) {
        const job_logprob *l = &j->lp[i];
        json_t *bytes = NULL;
        if (s->g.chat) {
            json_t *top = json_array();
            for (int k = 0; k < l->n_top; k++) {
                json_t *tb = NULL;
                json_t *tt = token_json(s->m, l->top[k].token, 1, &tb);
                json_array_append_new(top, json_pack("{s:o,s:f,s:o}", "token", tt, "logprob", (double)l->top[k].logprob, "bytes", tb));
            }
            json_t *tt = token_json(s->m, j->gen[i], 1, &bytes);
            json_array_append_new(content, json_pack("{s:o,s:f,s:o,s:o}", "token", tt, "logprob", (double)l->logprob, "bytes",
                                                     bytes, "top_logprobs", top));
        } else {
            json_t *top = json_object();
            for (int k = 0; k < l->n_top; k++) {
                json_t *tt = token_json(s->m, l->top[k].token, 0, NULL);
                json_object_set_new(top, json_string_value(tt), json_real(l->top[k].logprob));
                json_decref(tt);
            }
            json_array_append_new(tokens, token_json(s->m, j->gen[i], 0, NULL));
            json_array_append_new(lps, json_real(l->logprob));
            json_array_append_new(tops, top);
        }
    }
    if (s->g.chat) {
        json_decref(tokens);
        json_decref(lps);
        json_decref(tops);
        return json_pack("{s:o,s:n}", "content", content, "refusal");
    }
    json_decref(content);
    return json_pack("{s:o,s:o,s:o}", "tokens", tokens, "token_logprobs", lps, "top_logprobs", tops);
}

static json_t *usage_json(const job *j) {
    return json_pack("{s:i,s:i,s:i,s:{s:i}}", "prompt_tokens", (int)j->n_prompt, "completion_tokens", j->n_gen,
                     "total_tokens", (int)j->n_prompt + j->n_gen, "prompt_tokens_details", "cached_tokens", j->n_cached);
}

static const char *finish_reason(job_finish f) { return f == JOB_LENGTH ? "length" : "stop"; }

static json_t *final_json(void *user, const job *j) {
    const oai_stream *s = user;
    json_t *choice;
    if (s->g.chat) {
        sbuf text = {0};
        json_t *calls = NULL;
        if (j->tools_json) calls = reply_finish(j, 0, 0, &text);
        else sbuf_put(&text, j->content.p, j->content.n);
        json_t *msg = json_pack("{s:s,s:o}", "role", "assistant", "content",
                                calls && text.n == 0 ? json_null() : json_text_n(text.p, text.n));
        sbuf_free(&text);
        if (j->reasoning.n) json_object_set_new(msg, "reasoning_content", json_text_n(j->reasoning.p, j->reasoning.n));
        if (calls) json_object_set_new(msg, "tool_calls", calls);
        choice = json_pack("{s:i,s:o,s:o,s:s}", "index", 0, "message", msg, "logprobs", logprobs_json(s, j, 0, j->n_gen),
                           "finish_reason", calls ? "tool_calls" : finish_reason(j->finish));
    } else {
        choice = json_pack("{s:i,s:o,s:o,s:s}", "index", 0, "text", json_text_n(j->content.p, j->content.n), "logprobs",
                           logprobs_json(s, j, 0, j->n_gen), "finish_reason", finish_reason(j->finish));
        if (j->keep_tokens) {
            json_t *ids = json_array();
            for (int i = 0; i < j->n_gen; i++) json_array_append_new(ids, json_integer(j->gen[i]));
            json_object_set_new(choice, "tokens", ids);
        }
    }
    return json_pack("{s:s,s:s,s:I,s:s,s:s,s:[o],s:o}", "id", s->id, "object", s->g.chat ? "chat.completion" : "text_completion",
                     "created", (json_int_t)s->created, "model", s->g.model, "system_fingerprint", "libinfer-" INFER_VERSION_STRING,
                     "choices", choice, "usage", usage_json(j));
}

static void sse(sbuf *out, json_t *v) {
    char *t = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!t) return;
    sbuf_puts(out, "data: ");
    sbuf_puts(out, t);
    sbuf_puts(out, "\n\n");
    free(t);
}

static json_t *chunk(const oai_stream *s, json_t *choice) {
    return json_pack("{s:s,s:s,s:I,s:s,s:s,s:[o]}", "id", s->id, "object", s->g.chat ? "chat.completion.chunk" : "text_completion",
                     "created", (json_int_t)s->created, "model", s->g.model, "system_fingerprint", "libinfer-" INFER_VERSION_STRING,
                     "choices", choice);
}

static json_t *delta_choice(const oai_stream *s, const char *key, const char *text, size_t n, const char *finish) {
    json_t *fin = finish ? json_string(finish) : json_null();
    if (!s->g.chat)
        return json_pack("{s:i,s:o,s:n,s:o}", "index", 0, "text", json_text_n(text, n), "logprobs", "finish_reason", fin);
    json_t *delta = json_object();
    if (key) json_object_set_new(delta, key, json_text_n(text, n));
    return json_pack("{s:i,s:o,s:n,s:o}", "index", 0, "delta", delta, "logprobs", "finish_reason", fin);
}

/* Tool calls from the (n_calls_sent)th on, one delta each (OpenAI's streamed form: index,
 * id, type, name and the whole arguments). */
static void send_calls(oai_stream *s, json_t *calls, sbuf *out) {
    size_t i;
    json_t *call;
    json_array_foreach(calls, i, call) {
        json_object_set_new(call, "index", json_integer((json_int_t)s->n_calls_sent++));
        json_t *c = delta_choice(s, NULL, "", 0, NULL);
        json_object_set_new(json_object_get(c, "delta"), "tool_calls", json_pack("[O]", call));
        sse(out, chunk(s, c));
        s->calls_sent = 1;
    }
    json_decref(calls);
}

/* One streamed tool-call delta: {"index", ...fields} in choices[0].delta.tool_calls. */
static void send_call_delta(oai_stream *s, json_t *call, sbuf *out) {
    json_t *c = delta_choice(s, NULL, "", 0, NULL);
    json_object_set_new(json_object_get(c, "delta"), "tool_calls", json_pack("[o]", call));
    sse(out, chunk(s, c));
    s->calls_sent = 1;
}

/* An id for a call sent before its arguments are known (the library's ids hash them):
 * "call" and 5 base-36 digits from the response's id and the call's index, 9
 * alphanumerics as Mistral templates require of ids sent back. */
static void piecewise_id(const oai_stream *s, size_t index, char id[16]) {
    uint64_t h = 1469598103934665603ull;
    for (const char *c = s->id; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    h = (h ^ index) * 1099511628211ull;
    memcpy(id, "call", 4);
    for (int i = 0; i < 5; i++, h /= 36) id[4 + i] = "0123456789abcdefghijklmnopqrstuvwxyz"[h % 36];
    id[9] = 0;
}

/* Hermes calls as the answer grows (llama.cpp's and OpenAI's streamed form): a call's
 * first delta carries index, id, type, name and the arguments known so far, later ones
 * only index and the arguments text added since. Once the library stops following calls
 * (another shape, a block that is not valid), whole calls go out as their blocks close. */
static void stream_calls(oai_stream *s, const job *j, sbuf *out) {
    if (!s->calls && infer_chat_call_stream_new(&s->calls) != INFER_OK) return;
    size_t upto = j->content_visible < j->content.n ? j->content_visible : j->content.n;
    if (upto > s->fed) infer_chat_call_stream_push(s->calls, j->content.p + s->fed, upto - s->fed);
    s->fed = upto;
    size_t n = infer_chat_call_stream_n_calls(s->calls);
    for (size_t i = s->n_piecewise ? s->n_piecewise - 1 : 0; i < n; i++) {
        infer_chat_call_progress p = {.struct_size = sizeof p};
        if (infer_chat_call_stream_call(s->calls, i, &p) != INFER_OK) break;
        if (i == s->n_piecewise) {
            char id[16];
            piecewise_id(s, i, id);
            send_call_delta(s, json_pack("{s:I,s:s,s:s,s:{s:s,s:o}}", "index", (json_int_t)i, "id", id, "type", "function",
                                         "function", "name", p.name, "arguments", json_text_n(p.arguments, p.n_arguments)),
                            out);
            s->n_piecewise = s->n_calls_sent = i + 1;
        } else if (p.n_arguments > s->args_sent) {
            send_call_delta(s, json_pack("{s:I,s:{s:o}}", "index", (json_int_t)i, "function", "arguments",
                                         json_text_n(p.arguments + s->args_sent, p.n_arguments - s->args_sent)),
                            out);
        }
        s->args_sent = p.n_arguments;
        s->last_complete = p.complete;
    }
    if (infer_chat_call_stream_stopped(s->calls)) send_calls(s, reply_closed_calls(j, s->n_calls_sent, 0), out);
}

/* At the end: the arguments of the last call sent in pieces that the finished reply's
 * parse has beyond what was sent (nothing, normally: both read the same text). When that
 * parse disagrees (the call was cut short or not valid JSON), what was sent stands. */
static void finish_piecewise(oai_stream *s, json_t *calls, sbuf *out) {
    if (!s->n_piecewise) return;
    size_t i = s->n_piecewise - 1;
    const char *args = json_string_value(json_object_get(json_object_get(json_array_get(calls, i), "function"), "arguments"));
    if (!args || strlen(args) <= s->args_sent) return;
    infer_chat_call_progress p = {.struct_size = sizeof p};
    if (infer_chat_call_stream_call(s->calls, i, &p) != INFER_OK || memcmp(p.arguments, args, s->args_sent) != 0) return;
    send_call_delta(s, json_pack("{s:I,s:{s:s}}", "index", (json_int_t)i, "function", "arguments", args + s->args_sent), out);
    s->args_sent = strlen(args);
    s->last_complete = 1;
}

/* The end of a reply with tools: the text not streamed yet, then the calls not sent yet. */
static void send_reply_end(oai_stream *s, const job *j, sbuf *out) {
    sbuf text = {0};
    json_t *calls = reply_finish(j, s->sent, 0, &text);
    finish_piecewise(s, calls, out);
    if (text.n) {
        json_t *c = delta_choice(s, "content", text.p, text.n, NULL);
        json_object_set_new(c, "logprobs", logprobs_json(s, j, s->lp_sent, j->n_gen));
        s->lp_sent = j->n_gen;
        sse(out, chunk(s, c));
    }
    s->sent = j->content.n;
    sbuf_free(&text);
    json_t *left = json_array();   /* the calls not streamed while the reply ran */
    for (size_t i = s->n_calls_sent; i < json_array_size(calls); i++) json_array_append(left, json_array_get(calls, i));
    json_decref(calls);
    send_calls(s, left, out);
}

/* Server-sent events: a role chunk, text deltas, a chunk with finish_reason, optionally a
 * usage chunk, then [DONE]. */
static int format_sse(void *user, job *j, sbuf *out) {
    oai_stream *s = user;
    if (s->g.chat && !s->role_sent) {
        json_t *c = delta_choice(s, "content", "", 0, NULL);
        json_object_set_new(json_object_get(c, "delta"), "role", json_string("assistant"));
        sse(out, chunk(s, c));
        s->role_sent = 1;
    }
    if (s->g.chat && j->reasoning.n > s->rsent) {
        sse(out, chunk(s, delta_choice(s, "reasoning_content", j->reasoning.p + s->rsent, j->reasoning.n - s->rsent, NULL)));
        s->rsent = j->reasoning.n;
    }
    /* With tools offered, text that may still turn into a tool call waits for the end. */
    size_t visible = j->content_visible;
    if (j->tools_json && !j->harmony) {
        size_t safe = reply_stream_safe(j->content.p, j->content.n);
        if (safe < visible) visible = safe;
    }
    if (!(j->tools_json && j->finish != JOB_RUNNING) && visible > s->sent) {
        json_t *c = delta_choice(s, "content", j->content.p + s->sent, visible - s->sent, NULL);
        json_object_set_new(c, "logprobs", logprobs_json(s, j, s->lp_sent, j->n_gen));
        s->lp_sent = j->n_gen;
        sse(out, chunk(s, c));
        s->sent = visible;
    }
    if (j->tools_json && !j->harmony && s->g.chat && j->finish != JOB_ERROR) stream_calls(s, j, out);
    if (j->finish == JOB_RUNNING) return 0;
    if (j->tools_json && j->finish != JOB_ERROR) send_reply_end(s, j, out);
    if (j->finish == JOB_ERROR) {
        sse(out, json_pack("{s:{s:s,s:s,s:n,s:n}}", "error", "message", j->error, "type", "server_error", "param", "code"));
    } else {
        /* a call cut short by max_tokens: "length", as OpenAI says */
        int cut = s->n_piecewise && !s->last_complete && j->finish == JOB_LENGTH;
        json_t *c = delta_choice(s, NULL, "", 0, s->calls_sent && !cut ? "tool_calls" : finish_reason(j->finish));
        json_object_set_new(c, "logprobs", logprobs_json(s, j, s->lp_sent, j->n_gen));
        sse(out, chunk(s, c));
        if (s->include_usage) {
            json_t *u = chunk(s, json_null());
            json_object_set_new(u, "choices", json_array());
            json_object_set_new(u, "usage", usage_json(j));
            sse(out, u);
        }
    }
    sbuf_puts(out, "data: [DONE]\n\n");
    return 1;
}

/* ---------------------------------------------------------------- endpoints */

/* Reads the request into the job; 0, or -1 after filling e. */
static int read_request(gen_req *g, oai_stream *s, int *stream) {
    json_t *b = g->body;
    job *j = g->j;
    req_err *e = &g->e;
    if (req_bool(b, "stream", stream, e) < 0 || read_output(b, j, s->g.chat, e) < 0 || read_sampling(b, j, s->g.chat, e) < 0)
        return -1;
    json_t *so = json_object_get(b, "stream_options");
    if (so && json_is_object(so) && req_bool(so, "include_usage", &s->include_usage, e) < 0) return -1;
    if (s->g.chat) return tools_chat_prompt(g->me, b, json_object_get(b, "messages"), j, e);
    json_t *p = json_object_get(b, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0))) p = json_array_get(p, 0);
    if (json_is_array(p) && json_array_size(p) > 0 && json_is_integer(json_array_get(p, 0))) {
        if (req_token_prompt(g->me, p, j, e) < 0) return -1;
    } else if (!json_is_string(p)) {
        req_fail(e, 400, "prompt", "invalid_type", "'prompt' must be a string, an array of one string or of token ids");
        return -1;
    } else if (req_text_prompt(g->me, json_string_value(p), json_string_length(p), j, e) < 0)
        return -1;
    /* llama.cpp's extension: the generated token ids in the answer */
    return req_bool(b, "return_tokens", &j->keep_tokens, e) < 0 ? -1 : 0;
}

static void completion(http_req *r, int chat) {
    gen_req g;
    if (gen_begin(r, sizeof(oai_stream), chat, &g) != 0) return;
    oai_stream *s = g.state;
    int stream = 0;
    s->created = (long long)time(NULL);
    make_id(chat ? "chatcmpl-" : "cmpl-", s->id, sizeof s->id);
    s->m = g.me->model;
    s->g.drop = oai_stream_drop;
    read_request(&g, s, &stream);
    gen_end(&g, stream, "text/event-stream", format_sse, final_json);
}

void openai_chat(http_req *r) { completion(r, 1); }

/* llama.cpp's POST /apply-template: a chat request's messages and tools rendered with the
 * model's template, {"prompt": text}, nothing generated (for clients that tokenize or
 * inspect prompts themselves). */
void openai_apply_template(http_req *r) {
    json_t *b;
    double load_s;
    model_entry *me = req_body_model(r, &b, &load_s);
    if (!me) return;
    req_err e = {0};
    char *tools = NULL, *text = NULL;
    size_t n = 0;
    int required = 0;
    if (tools_read(b, &tools, &required, &e) == 0 && (text = req_chat_render(me, json_object_get(b, "messages"), NULL, tools, &n, &e)))
        http_send_json(r, 200, json_pack("{s:o}", "prompt", json_text_n(text, n)));
    else
        req_answer_error(r, &e);
    free(text);
    free(tools);
    json_decref(b);
    registry_release(r->srv->reg, me);
}
void openai_completions(http_req *r) { completion(r, 0); }

void openai_models(http_req *r) {
    model_listing l;
    if (registry_list(r->srv->reg, &l) != 0) {
        http_send_error(r, 500, NULL, NULL, "out of memory");
        return;
    }
    json_t *data = json_array();
    for (int i = 0; i < l.n; i++) {
        const model_info *mi = &l.items[i];
        json_array_append_new(
            data, json_pack("{s:s,s:s,s:I,s:s,s:{s:s,s:s,s:I,s:I,s:I,s:b}}", "id", mi->name, "object", "model", "created",
                            (json_int_t)mi->mtime, "owned_by", "libinfer", "meta", "architecture", mi->arch, "quantization",
                            mi->quant, "size", (json_int_t)mi->file_size, "n_params", (json_int_t)mi->n_params, "n_ctx_train",
                            (json_int_t)mi->ctx_train, "loaded", l.loaded[i]));
    }
    registry_list_free(&l);
    http_send_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}
