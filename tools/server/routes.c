#include "routes.h"

#include <string.h>

typedef struct route {
    const char *method, *path;
    void (*handler)(http_req *r);
    int needs_model;   /* answered 503 while the server is still loading */
} route;

static const route ROUTES[] = {
    {"GET", "/", route_root, 0},
    {"GET", "/health", route_health, 0},
    {"GET", "/metrics", route_metrics, 0},
    {"GET", "/v1/models", openai_models, 1},
    {"POST", "/v1/chat/completions", openai_chat, 1},
    {"POST", "/v1/completions", openai_completions, 1},
    {"POST", "/v1/embeddings", openai_embeddings, 1},
    {"POST", "/apply-template", openai_apply_template, 1},
    {"POST", "/api/chat", ollama_chat, 1},
    {"POST", "/api/generate", ollama_generate, 1},
    {"GET", "/api/tags", ollama_tags, 1},
    {"POST", "/api/show", ollama_show, 1},
    {"GET", "/api/ps", ollama_ps, 1},
    {"GET", "/api/version", ollama_version, 0},
    {"POST", "/api/embed", ollama_embed, 1},
};

void routes_dispatch(http_req *r) {
    int path_known = 0;
    for (size_t i = 0; i < sizeof ROUTES / sizeof *ROUTES; i++) {
        const route *rt = &ROUTES[i];
        if (strcmp(r->url, rt->path) != 0) continue;
        path_known = 1;
        /* HEAD is GET without the body (MHD drops the body itself). */
        if (strcmp(r->method, rt->method) != 0 && !(strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0))
            continue;
        if (rt->needs_model && atomic_load(&r->srv->state) != SERVER_OK) {
            http_send_error(r, 503, NULL, "loading", atomic_load(&r->srv->state) == SERVER_LOADING ? "the model is loading"
                                                                                                 : "the server failed to start");
            return;
        }
        rt->handler(r);
        return;
    }
    if (path_known) http_send_error(r, 405, NULL, "method_not_allowed", "%s is not allowed on %s", r->method, r->url);
    else http_send_error(r, 404, NULL, "not_found", "no such endpoint: %s %s", r->method, r->url);
}

void route_root(http_req *r) { http_send_text(r, 200, "text/plain", "infer-server is running"); }

void route_health(http_req *r) {
    int st = atomic_load(&r->srv->state);
    const char *name = st == SERVER_OK ? "ok" : st == SERVER_LOADING ? "loading" : "error";
    http_send_json(r, st == SERVER_OK ? 200 : 503, json_pack("{s:s}", "status", name));
}

void route_metrics(http_req *r) {
    int busy = 0, queued = 0, slots = 0;
    if (r->srv->reg && atomic_load(&r->srv->state) == SERVER_OK) registry_load(r->srv->reg, &busy, &queued, &slots);
    sbuf out = {0};
    metrics_render(&r->srv->met, queued, busy, slots, &out);
    http_send_text(r, 200, "text/plain; version=0.0.4", out.p ? out.p : "");
    sbuf_free(&out);
}
