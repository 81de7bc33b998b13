#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "routes.h"

/* ---------------------------------------------------------------- answers */

static void add_common_headers(http_req *r, struct MHD_Response *resp) {
    if (r->srv->cfg.cors_origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->srv->cfg.cors_origin);
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    }
}

static void queue(http_req *r, int status, struct MHD_Response *resp) {
    if (!resp) {   /* out of memory: drop the connection */
        r->answered = 1;
        r->status = 500;
        return;
    }
    add_common_headers(r, resp);
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    r->answered = 1;
}

void http_send_text(http_req *r, int status, const char *content_type, const char *text) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (resp) MHD_add_response_header(resp, "Content-Type", content_type);
    queue(r, status, resp);
}

void http_send_json(http_req *r, int status, json_t *body) {
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        queue(r, 500, NULL);
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp) MHD_add_response_header(resp, "Content-Type", "application/json");
    else free(text);
    queue(r, status, resp);
}

static const char *error_type(int status) {
    if (status == 401) return "authentication_error";
    if (status == 404) return "not_found_error";
    if (status == 503) return "unavailable_error";
    if (status >= 500) return "server_error";
    return "invalid_request_error";
}

/* Replaces bytes that are not UTF-8 (echoed request values) so the message stays valid JSON. */
static json_t *json_text(const char *s) {
    json_t *v = json_string(s);
    if (v) return v;
    char *c = strdup(s);
    if (!c) return json_string("");
    for (char *p = c; *p;) {
        size_t l = tool_utf8_seq_len((const unsigned char *)p, strlen(p));
        if (!l) *p++ = '?';
        else p += l;
    }
    v = json_string(c);
    free(c);
    return v;
}

void http_send_error(http_req *r, int status, const char *param, const char *code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *body;
    if (r->dialect == HTTP_OLLAMA) {
        body = json_pack("{s:o}", "error", json_text(msg));
    } else {
        body = json_pack("{s:{s:o,s:s,s:o,s:o}}", "error", "message", json_text(msg), "type", error_type(status), "param",
                         param ? json_string(param) : json_null(), "code", code ? json_string(code) : json_null());
    }
    http_send_json(r, status, body);
}

json_t *http_body_json(http_req *r) {
    json_error_t e;
    json_t *v = json_loadb(r->body.p ? r->body.p : "", r->body.n, JSON_REJECT_DUPLICATES, &e);
    if (!v) {
        http_send_error(r, 400, NULL, "invalid_json", "the request body is not valid JSON: %s (line %d, column %d)", e.text,
                        e.line, e.column);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        http_send_error(r, 400, NULL, "invalid_json", "the request body must be a JSON object");
        return NULL;
    }
    return v;
}

/* ---------------------------------------------------------------- disconnects */

/* 1 when the peer has closed its side of the connection. Called on the connection's own
 * thread while MHD is not reading from it, so peeking is safe. */
static int client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return 1;
    if (p.revents & POLLIN) {
        char b;
        return recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
    }
    return 0;
}

/* Waits on the job's condition for at most 100 ms; j->mu held. */
static void wait_a_little(job *j) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

int http_wait_job(http_req *r, job *j) {
    double next_check = tool_now_s() + 0.1;
    pthread_mutex_lock(&j->mu);
    while (j->finish == JOB_RUNNING) {
        wait_a_little(j);
        if (j->finish != JOB_RUNNING || tool_now_s() < next_check) continue;
        next_check = tool_now_s() + 0.1;
        pthread_mutex_unlock(&j->mu);
        int gone = client_gone(r->conn);
        pthread_mutex_lock(&j->mu);
        if (gone) {
            atomic_store(&j->cancelled, 1);
            pthread_mutex_unlock(&j->mu);
            return -1;
        }
    }
    pthread_mutex_unlock(&j->mu);
    return 0;
}

/* ---------------------------------------------------------------- streams */

struct http_stream {
    job *j;
    struct MHD_Connection *conn;
    http_stream_format format;
    void *user;
    void (*free_user)(void *);
    sbuf pending;
    size_t off;
    int eof;
    double next_check;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    http_stream *st = cls;
    for (;;) {
        if (st->off < st->pending.n) {
            size_t n = st->pending.n - st->off;
            if (n > max) n = max;
            memcpy(buf, st->pending.p + st->off, n);
            st->off += n;
            return (ssize_t)n;
        }
        if (st->eof) return MHD_CONTENT_READER_END_OF_STREAM;
        st->pending.n = st->off = 0;
        job *j = st->j;
        pthread_mutex_lock(&j->mu);
        st->eof = st->format(st->user, j, &st->pending);
        if (st->pending.n == 0 && !st->eof) wait_a_little(j);
        pthread_mutex_unlock(&j->mu);
        if (st->pending.n == 0 && !st->eof && tool_now_s() >= st->next_check) {
            st->next_check = tool_now_s() + 0.1;
            if (client_gone(st->conn)) {
                atomic_store(&j->cancelled, 1);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
        }
    }
}

static void stream_free(void *cls) {
    http_stream *st = cls;
    atomic_store(&st->j->cancelled, 1);   /* no-op when it has finished */
    job_release(st->j);
    if (st->free_user) st->free_user(st->user);
    sbuf_free(&st->pending);
    free(st);
}

void http_send_stream(http_req *r, const char *content_type, job *j, http_stream_format format, void *user,
                      void (*free_user)(void *)) {
    http_stream *st = calloc(1, sizeof *st);
    if (!st) {
        atomic_store(&j->cancelled, 1);
        if (free_user) free_user(user);
        queue(r, 500, NULL);
        return;
    }
    job_retain(j);
    st->j = j;
    st->conn = r->conn;
    st->format = format;
    st->user = user;
    st->free_user = free_user;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st, stream_free);
    if (!resp) {
        stream_free(st);
        queue(r, 500, NULL);
        return;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");   /* nginx: pass each event on at once */
    queue(r, 200, resp);
}

/* ---------------------------------------------------------------- requests */

static int authorized(http_req *r) {
    const char *key = r->srv->cfg.api_key;
    if (!key || strcmp(r->url, "/health") == 0) return 1;
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    size_t a = strlen(h), b = strlen(key);
    unsigned diff = (unsigned)(a ^ b);   /* compare every byte: no timing hint */
    for (size_t i = 0; i < b; i++) diff |= (unsigned char)key[i] ^ (unsigned char)(i < a ? h[i] : 0);
    return diff == 0;
}

static void client_address(struct MHD_Connection *c, char *out, size_t cap) {
    snprintf(out, cap, "-");
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    if (ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, out, (socklen_t)cap);
    else if (ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, out, (socklen_t)cap);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_size, void **con_cls) {
    (void)version;
    server *srv = cls;
    http_req *r = *con_cls;
    if (!r) {   /* headers are in; the body (if any) follows in later calls */
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->srv = srv;
        r->conn = conn;
        r->t0 = tool_now_s();
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->url, sizeof r->url, "%s", url);
        for (char *p = r->url; *p; p++)   /* keep the log one line per request whatever the URL holds */
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
        client_address(conn, r->client, sizeof r->client);
        r->dialect = strncmp(url, "/api/", 5) == 0 ? HTTP_OLLAMA : HTTP_OPENAI;
        *con_cls = r;
        atomic_fetch_add(&srv->in_flight, 1);
        if (strcmp(method, "OPTIONS") == 0 && srv->cfg.cors_origin) {
            http_send_text(r, 204, "text/plain", "");
            return MHD_YES;
        }
        if (!authorized(r)) {
            http_send_error(r, 401, NULL, "invalid_api_key", "missing or wrong API key (Authorization: Bearer KEY)");
            return MHD_YES;
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body) {
            http_send_error(r, 413, NULL, "request_too_large", "the request body is larger than %zu bytes", srv->cfg.max_body);
            return MHD_YES;
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->answered && !r->too_large) {
            if (r->body.n + *upload_size > srv->cfg.max_body || sbuf_put(&r->body, upload_data, *upload_size) != 0) {
                r->too_large = 1;
                sbuf_free(&r->body);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->answered) return MHD_YES;
    if (r->too_large) {
        http_send_error(r, 413, NULL, "request_too_large", "the request body is larger than %zu bytes", srv->cfg.max_body);
        return MHD_YES;
    }
    routes_dispatch(r);
    return r->answered ? MHD_YES : MHD_NO;   /* not answered: the client left, drop it */
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)conn;
    server *srv = cls;
    http_req *r = *con_cls;
    if (!r) return;
    metrics_request(&srv->met, r->answered ? r->status : 499);
    if (!srv->cfg.quiet) {
        char when[40];
        rfc3339_now(when);
        when[19] = '\0';   /* seconds are enough */
        fprintf(stderr, "%s %s \"%s %s\" %d %.3fs%s\n", when, r->client, r->method, r->url, r->answered ? r->status : 499,
                tool_now_s() - r->t0, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
    }
    sbuf_free(&r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* Streams send many small writes: without TCP_NODELAY, Nagle's algorithm holds each one
 * back until the client's (delayed) acknowledgement of the previous one, tens of ms. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context, enum MHD_ConnectionNotificationCode code) {
    (void)cls;
    (void)socket_context;
    if (code != MHD_CONNECTION_NOTIFY_STARTED) return;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    int one = 1;
    if (ci) setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    fputs("http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

struct MHD_Daemon *http_start(server *srv, char *err, size_t errcap) {
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *addr;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, srv->cfg.host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)srv->cfg.port);
        addr = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, srv->cfg.host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)srv->cfg.port);
        addr = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errcap, "--host %s: not an IPv4 or IPv6 address", srv->cfg.host);
        return NULL;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)srv->cfg.port, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv->cfg.max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)srv->cfg.idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)64 * 1024, MHD_OPTION_END);
    if (!d) {
        snprintf(err, errcap, "cannot listen on %s:%d (address in use or not permitted)", srv->cfg.host, srv->cfg.port);
        return NULL;
    }
    return d;
}

int http_port(struct MHD_Daemon *d) {
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : 0;
}

void http_quiesce(struct MHD_Daemon *d) {
    MHD_socket s = MHD_quiesce_daemon(d);
    if (s != MHD_INVALID_SOCKET) close(s);
}

void http_finish(server *srv, double timeout_s) {
    double end = tool_now_s() + timeout_s;
    while (atomic_load(&srv->in_flight) > 0 && tool_now_s() < end) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void http_stop(struct MHD_Daemon *d) {
    if (d) MHD_stop_daemon(d);
}
