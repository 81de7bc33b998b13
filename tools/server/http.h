/* The HTTP side of infer-server on libmicrohttpd: one thread per connection (so a handler
 * may block while its generation runs, and a slow client only holds its own thread),
 * request bodies gathered up to a size limit, bearer-key check, optional CORS, one log
 * line per request, and helpers to answer with JSON, errors or a stream. */
#ifndef SERVER_HTTP_H
#define SERVER_HTTP_H
#include <jansson.h>
#include <stddef.h>

#include "job.h"
#include "server.h"
#include "util.h"

typedef enum http_dialect { HTTP_OPENAI = 0, HTTP_OLLAMA = 1 } http_dialect;

typedef struct http_req {
    server *srv;
    struct MHD_Connection *conn;
    char method[16];
    char url[512];
    char client[64];
    sbuf body;
    int too_large;
    http_dialect dialect;        /* which error shape this route answers with */
    double t0;
    int status;                  /* what was answered (for the log and metrics) */
    int answered;
} http_req;

/* Starts listening. Returns NULL with err filled on failure. */
struct MHD_Daemon *http_start(server *srv, char *err, size_t errcap);
/* Stops accepting new connections (SIGTERM); running ones continue. */
/* The port actually bound (useful with --port 0). */
int http_port(struct MHD_Daemon *d);
void http_quiesce(struct MHD_Daemon *d);
/* Waits (up to timeout_s) until every request received has been answered to the end. */
void http_finish(server *srv, double timeout_s);
void http_stop(struct MHD_Daemon *d);

/* ---- answers (each handler answers exactly once) */
void http_send_json(http_req *r, int status, json_t *body);   /* steals body */
void http_send_text(http_req *r, int status, const char *content_type, const char *text);
/* An error in the route's dialect: OpenAI {"error":{"message","type","param","code"}} or
 * Ollama {"error":"message"}. type/param/code may be NULL (type then follows status). */
void http_send_error(http_req *r, int status, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A streamed answer over a job. format() is called with j->mu held and appends the bytes
 * that became ready to out; it returns 1 once the stream is complete. The stream takes a
 * reference to the job and cancels it if the client goes away first. */
typedef struct http_stream http_stream;
typedef int (*http_stream_format)(void *user, job *j, sbuf *out);
void http_send_stream(http_req *r, const char *content_type, job *j, http_stream_format format, void *user,
                      void (*free_user)(void *));

/* Waits for a job to finish. Returns 0, or -1 when the client disconnected first (the job
 * is then cancelled and no answer is needed). */
int http_wait_job(http_req *r, job *j);

/* The parsed body as a JSON object, or NULL after answering 400. */
json_t *http_body_json(http_req *r);

#endif
