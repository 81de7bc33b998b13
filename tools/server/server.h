/* infer-server's shared state: the configuration, the models, the counters. */
#ifndef SERVER_SERVER_H
#define SERVER_SERVER_H
#include <stdatomic.h>
#include <stddef.h>

#include "metrics.h"
#include "registry.h"

typedef struct server_config {
    const char *host;            /* bind address (default 127.0.0.1) */
    int port;
    const char *api_key;         /* NULL: no authentication */
    const char *cors_origin;     /* NULL: no CORS headers (the default) */
    size_t max_body;             /* request bodies beyond this get 413 */
    int idle_timeout_s;          /* a connection silent this long is closed */
    double max_request_s;        /* wall-time limit of one generation */
    int max_connections;
    int quiet;                   /* no per-request log lines */
} server_config;

typedef enum server_state { SERVER_LOADING = 0, SERVER_OK = 1, SERVER_ERROR = 2 } server_state;

typedef struct server {
    server_config cfg;
    registry *reg;               /* NULL while loading */
    metrics met;
    atomic_int state;
    atomic_int in_flight;        /* requests between their headers and their last byte */
    double t_start;
} server;

#endif
