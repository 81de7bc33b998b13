#include "request.h"

#include "chat_tools.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void req_fail(req_err *e, int status, const char *param, const char *code, const char *fmt, ...) {
    e->status = status;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

void req_answer_error(http_req *r, const req_err *e) {
    http_send_error(r, e->status ? e->status : 400, e->param[0] ? e->param : NULL, e->code[0] ? e->code : NULL, "%s",
                    e->msg);
}

int req_number(json_t *o, const char *key, double lo, double hi, double *out, req_err *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) {
        req_fail(e, 400, key, "invalid_type", "'%s' must be a number", key);
        return -1;
    }
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) {
        req_fail(e, 400, key, "invalid_value", "'%s' must be between %g and %g", key, lo, hi);
        return -1;
    }
    *out = d;
    return 1;
}

int req_int(json_t *o, const char *key, long long lo, long long hi, long long *out, req_err *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    long long x;
    if (json_is_integer(v)) x = (long long)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) && fabs(json_real_value(v)) < 9e15)
        x = (long long)json_real_value(v);   /* 100.0 is an integer too */
    else {
        req_fail(e, 400, key, "invalid_type", "'%s' must be an integer", key);
        return -1;
    }
    if (x < lo || x > hi) {
        req_fail(e, 400, key, "invalid_value", "'%s' must be between %lld and %lld", key, lo, hi);
        return -1;
    }
    *out = x;
    return 1;
}

int req_bool(json_t *o, const char *key, int *out, req_err *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        req_fail(e, 400, key, "invalid_type", "'%s' must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

int req_string(json_t *o, const char *key, const char **out, size_t *len, req_err *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) {
        req_fail(e, 400, key, "invalid_type", "'%s' must be a string", key);
        return -1;
    }
    *out = json_string_value(v);
    if (len) *len = json_string_length(v);
    return 1;
}

int req_stop(json_t *o, const char *key, job *j, req_err *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (json_is_string(v)) return job_add_stop(j, json_string_value(v), json_string_length(v)) == 0 ? 1 : -1;
    if (!json_is_array(v) || json_array_size(v) > JOB_MAX_STOP) {
        req_fail(e, 400, key, "invalid_type", "'%s' must be a string or an array of at most %d strings", key, JOB_MAX_STOP);
        return -1;
    }
    size_t i;
    json_t *s;
    json_array_foreach(v, i, s) {
        if (!json_is_string(s)) {
            req_fail(e, 400, key, "invalid_type", "'%s[%zu]' must be a string", key, i);
            return -1;
        }
        if (job_add_stop(j, json_string_value(s), json_string_length(s)) != 0) {
            req_fail(e, 500, key, NULL, "out of memory");
            return -1;
        }
    }
    return 1;
}

model_entry *req_model(http_req *r, json_t *body, const char *key, double *load_s) {
    json_t *v = json_object_get(body, key);
    if (v && !json_is_string(v) && !json_is_null(v)) {
        http_send_error(r, 400, key, "invalid_type", "'%s' must be a string", key);
        return NULL;
    }
    const char *name = v && json_is_string(v) ? json_string_value(v) : NULL;
    int status = 0;
    char err[512];
    model_entry *me = registry_acquire(r->srv->reg, name, &status, err, sizeof err, load_s);
    if (!me) http_send_error(r, status, key, status == 404 ? "model_not_found" : NULL, "%s", err);
    return me;
}

model_entry *req_body_model(http_req *r, json_t **body, double *load_s) {
    if (!(*body = http_body_json(r))) return NULL;
    model_entry *me = req_model(r, *body, "model", load_s);
    if (!me) {
        json_decref(*body);
        *body = NULL;
    }
    return me;
}

static int tokenize_into(const model_entry *me, const char *text, size_t n, int add_bos, job *j, req_err *e) {
    infer_status st;
    size_t count = 0;
    int32_t *toks = tool_tokenize(me->model, text, n, add_bos, 1, &count, &st);
    if (!toks) {
        req_fail(e, st == INFER_ERR_NOMEM ? 500 : 400, NULL, NULL, "cannot tokenize the prompt: %s", infer_status_str(st));
        return -1;
    }
    free(j->prompt);
    j->prompt = toks;
    j->n_prompt = count;
    return 0;
}

int req_text_prompt(const model_entry *me, const char *text, size_t n, job *j, req_err *e) {
    return tokenize_into(me, text, n, infer_model_add_bos(me->model), j, e);
}

int req_token_prompt(const model_entry *me, json_t *ids, job *j, req_err *e) {
    size_t n = json_array_size(ids);
    int32_t *toks = malloc((n ? n : 1) * sizeof *toks);
    if (!toks) {
        req_fail(e, 500, NULL, NULL, "out of memory");
        return -1;
    }
    int32_t n_vocab = infer_model_n_vocab(me->model);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= n_vocab) {
            free(toks);
            req_fail(e, 400, "prompt", "invalid_value", "'prompt[%zu]' must be a token id in [0, %d)", i, n_vocab);
            return -1;
        }
        toks[i] = (int32_t)json_integer_value(v);
    }
    free(j->prompt);
    j->prompt = toks;
    j->n_prompt = n;
    return 0;
}

char *req_chat_render(const model_entry *me, json_t *messages, const char *system, const char *tools_json, size_t *n,
                      req_err *e) {
    chat_conv c;
    if (chat_conv_build(messages, system, &c, e) != 0) return NULL;
    infer_chat_render_opts opts = {.struct_size = sizeof opts, .add_generation_prompt = 1, .tools_json = tools_json};
    infer_error err = {0};
    size_t need = 0;
    char *buf = NULL;
    infer_status st = infer_chat_render_messages(me->model, c.msgs, c.n, &opts, NULL, 0, &need, &err);
    if (st == INFER_ERR_BUFFER_SMALL || st == INFER_OK) {
        if (!(buf = malloc(need + 1))) st = INFER_ERR_NOMEM;
        else st = infer_chat_render_messages(me->model, c.msgs, c.n, &opts, buf, need + 1, &need, &err);
    }
    chat_conv_free(&c);
    if (st != INFER_OK) {
        free(buf);
        req_fail(e, st == INFER_ERR_NOMEM ? 500 : 400, "messages", NULL, "cannot render the messages with the chat template: %s%s%s",
                 infer_status_str(st), err.message[0] ? ": " : "", err.message);
        return NULL;
    }
    *n = need;
    return buf;
}

int req_chat_prompt(const model_entry *me, json_t *messages, const char *system, const char *tools_json, job *j,
                    req_err *e) {
    size_t n = 0;
    char *text = req_chat_render(me, messages, system, tools_json, &n, e);
    if (!text) return -1;
    /* BOS only if the model wants one and the template did not write it. */
    int32_t bos = infer_token_bos(me->model);
    const char *bos_text = bos >= 0 ? infer_token_text(me->model, bos) : NULL;
    int add_bos = infer_model_add_bos(me->model) && !(bos_text && *bos_text && strncmp(text, bos_text, strlen(bos_text)) == 0);
    int rc = tokenize_into(me, text, n, add_bos, j, e);
    free(text);
    j->chat = 1;
    j->harmony = strcmp(infer_chat_template_name(me->model), "harmony") == 0;
    return rc;
}

int req_json_object(job *j, req_err *e) {
    free(j->grammar);
    if (!(j->grammar = strdup(infer_json_object_grammar()))) {
        req_fail(e, 500, NULL, NULL, "out of memory");
        return -1;
    }
    return 0;
}

int req_grammar(json_t *v, job *j, req_err *e) {
    if (!json_is_string(v)) {
        req_fail(e, 400, "grammar", "invalid_type", "'grammar' must be a string (GBNF)");
        return -1;
    }
    infer_grammar *g = NULL;
    infer_error ie = {0};
    infer_status st = infer_grammar_parse(json_string_value(v), json_string_length(v), NULL, &g, &ie);
    infer_grammar_free(g);
    if (st != INFER_OK) {
        req_fail(e, st == INFER_ERR_NOMEM ? 500 : 400, "grammar", "invalid_value", "grammar: %s",
                 ie.message[0] ? ie.message : infer_status_str(st));
        return -1;
    }
    free(j->grammar);
    if (!(j->grammar = strndup(json_string_value(v), json_string_length(v)))) {
        req_fail(e, 500, NULL, NULL, "out of memory");
        return -1;
    }
    return 0;
}

int req_json_schema(json_t *schema, const char *param, job *j, req_err *e) {
    if (!json_is_object(schema) && !json_is_boolean(schema)) {
        req_fail(e, 400, param, "invalid_type", "'%s' must be a JSON schema (an object)", param);
        return -1;
    }
    char *text = json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t need = 0;
    infer_error ie = {0};
    infer_status st = text ? infer_json_schema_to_grammar(text, strlen(text), NULL, 0, &need, &ie) : INFER_ERR_NOMEM;
    if (st == INFER_ERR_BUFFER_SMALL || st == INFER_OK) {
        free(j->grammar);
        j->grammar = malloc(need + 1);
        st = j->grammar ? infer_json_schema_to_grammar(text, strlen(text), j->grammar, need + 1, &need, &ie) : INFER_ERR_NOMEM;
    }
    free(text);
    if (st != INFER_OK) {
        free(j->grammar);
        j->grammar = NULL;
        req_fail(e, st == INFER_ERR_NOMEM ? 500 : 400, param, st == INFER_ERR_UNSUPPORTED ? "unsupported_schema" : "invalid_schema",
                 "%s: %s", param, ie.message[0] ? ie.message : infer_status_str(st));
        return -1;
    }
    return 0;
}

int req_check_fits(const model_entry *me, const job *j, req_err *e) {
    uint32_t n_ctx = sched_slot_ctx(me->sched);
    if (j->n_prompt == 0) {
        req_fail(e, 400, "prompt", NULL, "the prompt is empty");
        return -1;
    }
    if (j->n_prompt >= n_ctx) {
        req_fail(e, 400, "messages", "context_length_exceeded",
                 "the prompt has %zu tokens; this server's context holds %u per request", j->n_prompt, n_ctx);
        return -1;
    }
    return 0;
}

int gen_begin(http_req *r, size_t state_size, int chat, gen_req *g) {
    memset(g, 0, sizeof *g);
    g->r = r;
    if (!(g->body = http_body_json(r))) return -1;
    if (!(g->me = req_model(r, g->body, "model", &g->load_s))) {
        json_decref(g->body);
        return -1;
    }
    if (!(g->j = job_new()) || !(g->state = calloc(1, state_size))) {
        http_send_error(r, 500, NULL, NULL, "out of memory");
        gen_end(g, 0, NULL, NULL, NULL);
        return -1;
    }
    gen_state *st = g->state;
    snprintf(st->model, sizeof st->model, "%s", g->me->info.name);
    st->chat = chat;
    return 0;
}

static int submit(http_req *r, const model_entry *me, job *j) {
    j->max_seconds = r->srv->cfg.max_request_s;
    int rc = sched_submit(me->sched, j);
    if (rc == 0) return 0;
    if (rc == -1) metrics_busy(&r->srv->met);
    http_send_error(r, 503, NULL, rc == -1 ? "server_busy" : "shutting_down",
                    rc == -1 ? "all slots are busy and the queue is full; retry later" : "the server is shutting down");
    return -1;
}

/* What a stream holds on to: the route's state and the model entry. */
typedef struct stream_hold {
    void *user;
    http_stream_format format;
    registry *reg;
    model_entry *me;
} stream_hold;

static int hold_format(void *h, job *j, sbuf *out) {
    stream_hold *s = h;
    return s->format(s->user, j, out);
}

/* The dialect's state: what it holds, then itself. */
static void state_free(void *state) {
    gen_state *st = state;
    if (st && st->drop) st->drop(st);
    free(st);
}

static void hold_free(void *h) {
    stream_hold *s = h;
    state_free(s->user);
    registry_release(s->reg, s->me);
    free(s);
}

void req_run(http_req *r, model_entry *me, job *j, int stream, const char *content_type,
             http_stream_format format, void **user, json_t *(*final)(void *user, const job *j)) {
    req_err e = {0};
    if (req_check_fits(me, j, &e) < 0) {
        req_answer_error(r, &e);
        return;
    }
    if (submit(r, me, j) != 0) return;
    if (stream) {
        stream_hold *h = malloc(sizeof *h);
        if (!h) {
            atomic_store(&j->cancelled, 1);
            http_send_error(r, 500, NULL, NULL, "out of memory");
            return;
        }
        *h = (stream_hold){*user, format, r->srv->reg, me};
        registry_retain(r->srv->reg, me);
        *user = NULL;
        http_send_stream(r, content_type, j, hold_format, h, hold_free);
        return;
    }
    if (http_wait_job(r, j) != 0) return;   /* the client left: nothing to answer */
    if (j->finish == JOB_ERROR) http_send_error(r, 500, NULL, NULL, "generation failed: %s", j->error);
    else if (j->finish == JOB_CANCELLED) http_send_error(r, 503, NULL, "cancelled", "the request was cancelled (server shutting down)");
    else http_send_json(r, 200, final(*user, j));
}

void gen_end(gen_req *g, int stream, const char *content_type, http_stream_format format,
             json_t *(*final)(void *user, const job *j)) {
    if (g->e.status) req_answer_error(g->r, &g->e);
    else if (final) req_run(g->r, g->me, g->j, stream, content_type, format, &g->state, final);
    state_free(g->state);   /* NULL when a stream took it */
    json_decref(g->body);
    job_release(g->j);
    registry_release(g->r->srv->reg, g->me);
}

json_t *json_text_n(const char *s, size_t n) {
    json_t *v = json_stringn(s ? s : "", s ? n : 0);
    if (v) return v;
    sbuf b = {0};
    for (size_t i = 0; i < n;) {
        size_t l = tool_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (l && !(l == 1 && s[i] == 0)) sbuf_put(&b, s + i, l), i += l;
        else sbuf_put(&b, "\xef\xbf\xbd", 3), i++;
    }
    v = json_stringn(b.p ? b.p : "", b.n);
    sbuf_free(&b);
    return v ? v : json_string("");
}
