/* Reading generation requests: typed field getters that name the offending field, the
 * sampling fields both dialects share, and prompts (raw text or chat messages rendered
 * with the model's template) turned into a job's tokens. */
#ifndef SERVER_REQUEST_H
#define SERVER_REQUEST_H
#include <jansson.h>

#include "http.h"
#include "job.h"
#include "registry.h"

/* What went wrong with a request: answered with http_send_error. */
typedef struct req_err {
    int status;
    char param[64];
    char code[48];
    char msg[512];
} req_err;

void req_fail(req_err *e, int status, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void req_answer_error(http_req *r, const req_err *e);

/* Each getter: 1 when present and valid, 0 when absent (or JSON null), -1 after filling e. */
int req_number(json_t *o, const char *key, double lo, double hi, double *out, req_err *e);
int req_int(json_t *o, const char *key, long long lo, long long hi, long long *out, req_err *e);
int req_bool(json_t *o, const char *key, int *out, req_err *e);
int req_string(json_t *o, const char *key, const char **out, size_t *len, req_err *e);
/* A string or an array of strings (at most JOB_MAX_STOP), added to the job's stops. */
int req_stop(json_t *o, const char *key, job *j, req_err *e);

/* The model named by "model" (absent: the default model), loaded; NULL after answering. */
model_entry *req_model(http_req *r, json_t *body, const char *key, double *load_s);

/* The body as JSON and the model it names (loaded); NULL after answering (nothing to free). */
model_entry *req_body_model(http_req *r, json_t **body, double *load_s);

/* Tokenizes raw text as infer-cli does (BOS if the model wants one, special tokens parsed). */
int req_text_prompt(const model_entry *me, const char *text, size_t n, job *j, req_err *e);
/* Token ids given by the client ([1, 403, ...]), used as they are (no BOS added). */
int req_token_prompt(const model_entry *me, json_t *ids, job *j, req_err *e);
/* Chat messages [{role, content, tool_calls, tool_call_id, name}] (content a string or
 * [{type:"text",text}] parts), preceded by an optional system text, rendered with the
 * model's own template and the offered tools (tools_json, NULL: none). */
int req_chat_prompt(const model_entry *me, json_t *messages, const char *system, const char *tools_json, job *j,
                    req_err *e);
/* The same messages rendered to prompt text (malloc'd, *n bytes), not tokenized. */
char *req_chat_render(const model_entry *me, json_t *messages, const char *system, const char *tools_json, size_t *n,
                      req_err *e);
/* Constrains the job's reply: any JSON object, or the JSON texts valid under a schema
 * (converted to a grammar here, so a bad schema is a 400 naming what is wrong). */
int req_json_object(job *j, req_err *e);
int req_json_schema(json_t *schema, const char *param, job *j, req_err *e);
/* llama.cpp's "grammar" extension: GBNF text (root rule "root") the reply must follow;
 * parsed here so a bad one is a 400 naming the line and column. */
int req_grammar(json_t *v, job *j, req_err *e);

/* Checks the prompt fits a slot, leaving room for one reply token. */
int req_check_fits(const model_entry *me, const job *j, req_err *e);

/* The start of each dialect's per-request state, filled by gen_begin. */
typedef struct gen_state {
    char model[256];   /* the model's name, as answers report it */
    int chat;          /* a chat endpoint (messages) rather than a raw prompt */
    void (*drop)(void *state);   /* frees what the dialect's state holds (NULL: nothing);
                                    called before the state itself is freed */
} gen_state;

/* A generation request as both dialects handle it: the body as JSON, the model it names
 * (loaded), a new job, the dialect's per-request state and what went wrong. */
typedef struct gen_req {
    http_req *r;
    json_t *body;
    model_entry *me;
    job *j;
    double load_s;
    void *state;    /* state_size zeroed bytes starting with a gen_state; a stream takes it over */
    req_err e;      /* set by the dialect when the request is refused */
} gen_req;

/* Returns 0, or -1 after answering (with nothing left to free). */
int gen_begin(http_req *r, size_t state_size, int chat, gen_req *g);
/* Answers g->e when it was filled, else runs the job (req_run, with the state as the
 * stream's or final's user); then frees what gen_begin gave. */
void gen_end(gen_req *g, int stream, const char *content_type, http_stream_format format,
             json_t *(*final)(void *user, const job *j));

/* Checks the prompt fits, submits the job and answers: a stream over the job in
 * content_type (the stream takes *user, frees it at its end and sets *user to NULL; it
 * holds the model until then so it cannot be unloaded under it), or, once the job is done,
 * final(*user, j) as JSON. Errors are answered in the route's dialect (503 when every
 * slot and the queue are busy). */
void req_run(http_req *r, model_entry *me, job *j, int stream, const char *content_type,
             http_stream_format format, void **user, json_t *(*final)(void *user, const job *j));

/* A JSON string from bytes that should be UTF-8 (invalid bytes become U+FFFD). */
json_t *json_text_n(const char *s, size_t n);

#endif
