/* The Ollama dialect: /api/chat, /api/generate (newline-delimited JSON streams),
 * /api/tags, /api/show, /api/ps, /api/version, /api/embed. Durations are nanoseconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reply.h"
#include "request.h"
#include "routes.h"
#include "tool_choice.h"

typedef struct oll_stream {
    gen_state g;
    int think;                /* send reasoning as "thinking" */
    size_t sent, rsent;
    double t_request, load_s;
} oll_stream;

static json_int_t ns(double s) { return (json_int_t)(s > 0 ? s * 1e9 : 0); }

/* ---------------------------------------------------------------- request fields */

static int read_options(json_t *b, job *j, req_err *e) {
    json_t *o = json_object_get(b, "options");
    if (!o || json_is_null(o)) return 0;
    if (!json_is_object(o)) {
        req_fail(e, 400, "options", "invalid_type", "'options' must be an object");
        return -1;
    }
    double d;
    long long x;
    int rc;
    if ((rc = req_number(o, "temperature", 0, 100, &d, e)) < 0) return -1;
    if (rc) j->sp.temperature = (float)d;
    if ((rc = req_int(o, "top_k", 0, 1 << 30, &x, e)) < 0) return -1;
    if (rc) j->sp.top_k = (int32_t)x;
    if ((rc = req_number(o, "top_p", 0, 1, &d, e)) < 0) return -1;
    if (rc) j->sp.top_p = (float)d;
    if ((rc = req_number(o, "min_p", 0, 1, &d, e)) < 0) return -1;
    if (rc) j->sp.min_p = (float)d;
    if ((rc = req_number(o, "repeat_penalty", 0, 100, &d, e)) < 0) return -1;
    if (rc) j->sp.repeat_penalty = (float)d;
    if ((rc = req_number(o, "presence_penalty", -100, 100, &d, e)) < 0) return -1;
    if (rc) j->sp.presence_penalty = (float)d;
    if ((rc = req_number(o, "frequency_penalty", -100, 100, &d, e)) < 0) return -1;
    if (rc) j->sp.frequency_penalty = (float)d;
    if ((rc = req_int(o, "repeat_last_n", -1, 1 << 30, &x, e)) < 0) return -1;
    if (rc) j->sp.penalty_last_n = (int32_t)(x < 0 ? 1 << 30 : x);
    if ((rc = req_int(o, "seed", -(1LL << 62), 1LL << 62, &x, e)) < 0) return -1;
    if (rc) j->sp.seed = (uint64_t)x;
    /* -1: no limit, -2: fill the context (both: until the slot's context is full) */
    if ((rc = req_int(o, "num_predict", -2, 1 << 30, &x, e)) < 0) return -1;
    if (rc) j->max_tokens = x < 0 ? -1 : (int)x;
    /* num_ctx is checked for type only: every slot has the server's fixed context (-c). */
    if ((rc = req_int(o, "num_ctx", 0, 1 << 30, &x, e)) < 0) return -1;
    if (req_stop(o, "stop", j, e) < 0) return -1;
    return 0;
}

static int read_common(json_t *b, job *j, oll_stream *s, int *stream, req_err *e) {
    *stream = 1;   /* Ollama streams unless told not to */
    if (req_bool(b, "stream", stream, e) < 0) return -1;
    json_t *t = json_object_get(b, "think");
    if (t && !json_is_null(t)) {
        if (json_is_boolean(t)) s->think = json_is_true(t);
        else if (json_is_string(t)) s->think = 1;   /* "low" / "medium" / "high" */
        else {
            req_fail(e, 400, "think", "invalid_type", "'think' must be a boolean or a string");
            return -1;
        }
    }
    json_t *f = json_object_get(b, "format");   /* "json" or a JSON schema */
    if (json_is_string(f) && strcmp(json_string_value(f), "json") == 0) {
        if (req_json_object(j, e) < 0) return -1;
    } else if (json_is_object(f)) {
        if (req_json_schema(f, "format", j, e) < 0) return -1;
    } else if (f && !json_is_null(f) && !(json_is_string(f) && json_string_length(f) == 0)) {
        req_fail(e, 400, "format", "invalid_value", "'format' must be \"json\" or a JSON schema");
        return -1;
    }
    json_t *tools = json_object_get(b, "tools");
    if (!s->g.chat && tools && !json_is_null(tools)) {
        req_fail(e, 400, "tools", "unsupported", "tools need /api/chat");
        return -1;
    }
    return read_options(b, j, e);
}

/* ---------------------------------------------------------------- answers */

static json_t *base(const oll_stream *s) {
    char when[40];
    rfc3339_now(when);
    return json_pack("{s:s,s:s}", "model", s->g.model, "created_at", when);
}

/* A piece of the reply: {"message":{...}} for chat, {"response":...} for generate. */
static json_t *piece(const oll_stream *s, const char *text, size_t n, const char *thinking, size_t tn, int done) {
    json_t *o = base(s);
    if (s->g.chat) {
        json_t *msg = json_pack("{s:s,s:o}", "role", "assistant", "content", json_text_n(text, n));
        if (thinking && tn) json_object_set_new(msg, "thinking", json_text_n(thinking, tn));
        json_object_set_new(o, "message", msg);
    } else {
        json_object_set_new(o, "response", json_text_n(text, n));
        if (thinking && tn) json_object_set_new(o, "thinking", json_text_n(thinking, tn));
    }
    json_object_set_new(o, "done", json_boolean(done));
    return o;
}

static void add_stats(const oll_stream *s, const job *j, json_t *o) {
    double t_done = j->t_done > 0 ? j->t_done : tool_now_s();
    double t_prompt = j->t_prompt_done > 0 ? j->t_prompt_done : t_done;
    json_object_set_new(o, "done_reason", json_string(j->finish == JOB_LENGTH ? "length" : "stop"));
    json_object_set_new(o, "total_duration", json_integer(ns(t_done - s->t_request)));
    json_object_set_new(o, "load_duration", json_integer(ns(s->load_s)));
    json_object_set_new(o, "prompt_eval_count", json_integer((json_int_t)j->n_prompt));
    json_object_set_new(o, "prompt_eval_duration", json_integer(ns(t_prompt - j->t_start)));
    json_object_set_new(o, "eval_count", json_integer(j->n_gen));
    json_object_set_new(o, "eval_duration", json_integer(ns(t_done - t_prompt)));
}

static void ndjson(sbuf *out, json_t *v) {
    char *t = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!t) return;
    sbuf_puts(out, t);
    sbuf_puts(out, "\n");
    free(t);
}

/* The end of a reply with tools from answer byte `from` on: its text with the tool calls
 * taken out, and the calls as message.tool_calls (NULL when not done and both are empty). */
static json_t *piece_with_calls(const oll_stream *s, const job *j, size_t from, const char *thinking, size_t tn, int done) {
    sbuf text = {0};
    json_t *calls = reply_finish(j, from, 1, &text);
    if (!done && !calls && text.n == 0) {   /* nothing left to say before the last object */
        sbuf_free(&text);
        return NULL;
    }
    json_t *o = piece(s, text.p, text.n, thinking, tn, done);
    sbuf_free(&text);
    if (calls) json_object_set_new(json_object_get(o, "message"), "tool_calls", calls);
    return o;
}

static int format_ndjson(void *user, job *j, sbuf *out) {
    oll_stream *s = user;
    size_t tn = s->think && j->reasoning.n > s->rsent ? j->reasoning.n - s->rsent : 0;
    /* With tools offered, text that may still turn into a tool call waits for the end. */
    size_t visible = j->content_visible;
    if (j->tools_json && !j->harmony) {
        size_t safe = reply_stream_safe(j->content.p, j->content.n);
        if (safe < visible) visible = safe;
    }
    if (j->tools_json && j->finish != JOB_RUNNING) visible = s->sent;
    if (visible < s->sent) visible = s->sent;
    if (visible > s->sent || tn) {
        ndjson(out, piece(s, j->content.p + s->sent, visible - s->sent, j->reasoning.p + s->rsent, tn, 0));
        s->sent = visible;
        s->rsent += tn;
    }
    if (j->finish == JOB_RUNNING) return 0;
    if (j->finish == JOB_ERROR) {
        ndjson(out, json_pack("{s:s}", "error", j->error));
        return 1;
    }
    if (j->tools_json) ndjson(out, piece_with_calls(s, j, s->sent, NULL, 0, 0));
    json_t *last = piece(s, "", 0, NULL, 0, 1);
    add_stats(s, j, last);
    ndjson(out, last);
    return 1;
}

static json_t *final_json(void *user, const job *j) {
    const oll_stream *s = user;
    const char *thinking = j->reasoning.p;
    size_t tn = s->think ? j->reasoning.n : 0;
    json_t *o = j->tools_json ? piece_with_calls(s, j, 0, thinking, tn, 1) : piece(s, j->content.p, j->content.n, thinking, tn, 1);
    add_stats(s, j, o);
    return o;
}

/* ---------------------------------------------------------------- endpoints */

/* Reads the request into the job. Returns 1 when it is ready to run, 0 when it was
 * answered here (a load request), -1 after filling e. */
static int read_request(gen_req *g, oll_stream *s, int *stream) {
    json_t *b = g->body;
    req_err *e = &g->e;
    if (read_common(b, g->j, s, stream, e) < 0) return -1;
    json_t *msgs = json_object_get(b, "messages");
    const char *prompt = NULL, *system = NULL;
    size_t prompt_len = 0;
    int raw = 0;
    if (s->g.chat) {
        if (msgs && !json_is_null(msgs) && !json_is_array(msgs)) {
            req_fail(e, 400, "messages", "invalid_type", "'messages' must be an array");
            return -1;
        }
    } else if (req_string(b, "prompt", &prompt, &prompt_len, e) < 0 || req_string(b, "system", &system, NULL, e) < 0 ||
               req_bool(b, "raw", &raw, e) < 0)
        return -1;
    /* No messages / no prompt: Ollama's way to load a model and report it ready. */
    if (s->g.chat ? json_array_size(msgs) == 0 : prompt_len == 0) {
        json_t *o = piece(s, "", 0, NULL, 0, 1);
        json_object_set_new(o, "done_reason", json_string("load"));
        http_send_json(g->r, 200, o);
        return 0;
    }
    if (s->g.chat) return tools_chat_prompt(g->me, b, msgs, g->j, e) < 0 ? -1 : 1;
    if (raw) return req_text_prompt(g->me, prompt, prompt_len, g->j, e) < 0 ? -1 : 1;
    /* Ollama applies the chat template to a plain prompt: one user turn. */
    json_t *one = json_pack("[{s:s,s:s%}]", "role", "user", "content", prompt, prompt_len);
    int rc = req_chat_prompt(g->me, one, system, NULL, g->j, e);
    json_decref(one);
    return rc < 0 ? -1 : 1;
}

static void generate(http_req *r, int chat) {
    gen_req g;
    if (gen_begin(r, sizeof(oll_stream), chat, &g) != 0) return;
    oll_stream *s = g.state;
    int stream = 1;
    s->t_request = r->t0;
    s->load_s = g.load_s;
    int ready = read_request(&g, s, &stream);
    gen_end(&g, stream, "application/x-ndjson", format_ndjson, ready ? final_json : NULL);
}

void ollama_chat(http_req *r) { generate(r, 1); }
void ollama_generate(http_req *r) { generate(r, 0); }

/* ---------------------------------------------------------------- model listings */

static void digest(const model_info *mi, char out[65]) {
    uint64_t h = 1469598103934665603ull;   /* FNV-1a of what identifies the file's version */
    char key[512];
    snprintf(key, sizeof key, "%s|%llu|%.0f", mi->name, (unsigned long long)mi->file_size, mi->mtime);
    for (int k = 0; k < 4; k++) {
        for (const char *p = key; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
        h = (h ^ (uint64_t)k) * 1099511628211ull;
        snprintf(out + 16 * k, 17, "%016llx", (unsigned long long)h);
    }
}

static json_t *details(const model_info *mi) {
    return json_pack("{s:s,s:s,s:s,s:[s],s:s,s:s}", "parent_model", "", "format", "gguf", "family", mi->arch, "families",
                     mi->arch, "parameter_size", mi->params_label, "quantization_level", mi->quant);
}

static void modified_at(const model_info *mi, char out[40]) {
    time_t t = (time_t)mi->mtime;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void listing(http_req *r, int loaded_only) {
    model_listing l;
    if (registry_list(r->srv->reg, &l) != 0) {
        http_send_error(r, 500, NULL, NULL, "out of memory");
        return;
    }
    json_t *arr = json_array();
    for (int i = 0; i < l.n; i++) {
        if (loaded_only && !l.loaded[i]) continue;
        const model_info *mi = &l.items[i];
        char dg[65], when[40];
        digest(mi, dg);
        modified_at(mi, when);
        json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:o}", "name", mi->name, "model", mi->name, "size", (json_int_t)mi->file_size,
                              "digest", dg, "details", details(mi));
        if (loaded_only) {
            json_object_set_new(o, "expires_at", json_string("2999-01-01T00:00:00Z"));   /* kept until evicted */
            json_object_set_new(o, "size_vram", json_integer(0));
            json_object_set_new(o, "context_length", json_integer((json_int_t)mi->ctx_train));
        } else {
            json_object_set_new(o, "modified_at", json_string(when));
        }
        json_array_append_new(arr, o);
    }
    registry_list_free(&l);
    http_send_json(r, 200, json_pack("{s:o}", "models", arr));
}

void ollama_tags(http_req *r) { listing(r, 0); }
void ollama_ps(http_req *r) { listing(r, 1); }

void ollama_show(http_req *r) {
    json_t *b = http_body_json(r);
    if (!b) return;
    json_t *name = json_object_get(b, "model");
    if (!name) name = json_object_get(b, "name");
    if (!json_is_string(name)) {
        json_decref(b);
        http_send_error(r, 400, "model", "invalid_type", "'model' must be a string");
        return;
    }
    char want[256];
    snprintf(want, sizeof want, "%s", json_string_value(name));
    size_t n = strlen(want);
    if (n > 7 && strcmp(want + n - 7, ":latest") == 0) want[n - 7] = '\0';
    json_decref(b);
    model_listing l;
    if (registry_list(r->srv->reg, &l) != 0) {
        http_send_error(r, 500, NULL, NULL, "out of memory");
        return;
    }
    int found = -1;
    for (int i = 0; i < l.n && found < 0; i++)
        if (strcmp(l.items[i].name, want) == 0) found = i;
    if (found < 0) {
        registry_list_free(&l);
        http_send_error(r, 404, "model", "model_not_found", "model '%s' not found", want);
        return;
    }
    const model_info *mi = &l.items[found];
    char key[96], when[40];
    modified_at(mi, when);
    json_t *info = json_pack("{s:s,s:I}", "general.architecture", mi->arch, "general.parameter_count", (json_int_t)mi->n_params);
    snprintf(key, sizeof key, "%s.context_length", mi->arch);
    json_object_set_new(info, key, json_integer((json_int_t)mi->ctx_train));
    json_t *o = json_pack("{s:s,s:s,s:o,s:o,s:o,s:[s],s:s}", "modelfile", "", "parameters", "", "template",
                          json_text_n(mi->chat_template, mi->chat_template ? strlen(mi->chat_template) : 0), "details",
                          details(mi), "model_info", info, "capabilities", "completion", "modified_at", when);
    registry_list_free(&l);
    http_send_json(r, 200, o);
}

void ollama_version(http_req *r) { http_send_json(r, 200, json_pack("{s:s}", "version", INFER_VERSION_STRING)); }
