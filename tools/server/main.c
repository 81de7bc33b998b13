/* infer-server: a local OpenAI- and Ollama-compatible HTTP server over libinfer.
 *
 *   infer-server -m MODEL.gguf [--host 127.0.0.1] [--port 8080] [-c CTX] [-np SLOTS]
 *                [-t N] [--backend auto|cpu|vulkan] [-ngl N|all|auto] [--n-cpu-moe N] [--api-key KEY] [--models-dir DIR]
 *                ... (see usage())
 *
 * Listens first, then loads the model (GET /health says "loading" meanwhile). SIGTERM or
 * SIGINT: stop accepting connections, let running generations finish (cancel them after
 * --grace seconds), answer what is pending, free everything, exit 0. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "server.h"
#include "tool_args.h"

typedef struct server_args {
    server_config cfg;
    registry_params reg;
    tool_ctx_opts ctx;
    double grace_s;
} server_args;

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s -m MODEL.gguf [options]\n"
            "  -m, --model FILE        the model (named by its file name without .gguf)\n"
            "  --models-dir DIR        also serve every DIR/*.gguf, loaded on first use\n"
            "  --mem-budget MIB        unload least recently used models beyond this (0: no limit)\n"
            "  --host ADDR             bind address (default 127.0.0.1; 0.0.0.0 for every interface)\n"
            "  --port N                port (default 8080; 0: any free port, printed at start)\n"
            "  -c, --ctx-size N        context in tokens, shared by the slots as llama-server does: each slot\n"
            "                          gets N / -np (default 4096)\n"
            "  -np, --parallel N       slots: requests generated at the same time (default 1)\n"
            "  --queue N               requests that may wait for a slot; beyond: 503 (default 64)\n"
            "  -t, --threads N         CPU threads per slot (default: all cores)\n"
            "  -b, --batch-size N      most tokens per forward step\n"
            "  --backend auto|cpu|vulkan, --device I, --kv-f16, -ngl N|all|auto, --n-cpu-moe N\n"
            "  --api-key KEY           require 'Authorization: Bearer KEY' (or INFER_API_KEY)\n"
            "  --cors ORIGIN           send CORS headers allowing ORIGIN (default: none)\n"
            "  --max-body BYTES        largest request body (default 8388608)\n"
            "  --timeout S             close connections idle this long (default 60)\n"
            "  --max-time S            longest generation of one request (default 600)\n"
            "  --max-connections N     simultaneous connections (default 256)\n"
            "  --grace S               on SIGTERM, cancel generations still running after S (default 10)\n"
            "  --quiet                 no per-request log lines\n",
            argv0);
}

static int parse_args(int argc, char **argv, server_args *a) {
    memset(a, 0, sizeof *a);
    a->cfg.host = "127.0.0.1";
    a->cfg.port = 8080;
    a->cfg.max_body = 8u << 20;
    a->cfg.idle_timeout_s = 60;
    a->cfg.max_request_s = 600;
    a->cfg.max_connections = 256;
    a->cfg.api_key = getenv("INFER_API_KEY");
    a->reg.sched.n_slots = 1;
    a->reg.sched.queue_size = 64;
    a->grace_s = 10;
    tool_ctx_opts_init(&a->ctx);
    a->ctx.n_ctx = 4096;
    infer_sampler_params unused = infer_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) return -1;
        int used = tool_model_option(o, v, &a->ctx, &unused);
        if (used < 0) return -1;
        if (used > 0 && strncmp(o, "--temp", 6) != 0) {   /* sampling comes with each request */
            i += used - 1;
            continue;
        }
#define OPT(name) (strcmp(o, name) == 0 && v && (i++, 1))
        if (OPT("-m") || OPT("--model")) a->reg.model_path = v;
        else if (OPT("--models-dir")) a->reg.models_dir = v;
        else if (OPT("--mem-budget")) a->reg.mem_budget = strtoull(v, NULL, 10) << 20;
        else if (OPT("--host")) a->cfg.host = v;
        else if (OPT("--port")) a->cfg.port = atoi(v);
        else if (OPT("-np") || OPT("--parallel")) a->reg.sched.n_slots = atoi(v);
        else if (OPT("--queue")) a->reg.sched.queue_size = atoi(v);
        else if (OPT("--api-key")) a->cfg.api_key = v;
        else if (OPT("--cors")) a->cfg.cors_origin = v;
        else if (OPT("--max-body")) a->cfg.max_body = (size_t)strtoull(v, NULL, 10);
        else if (OPT("--timeout")) a->cfg.idle_timeout_s = atoi(v);
        else if (OPT("--max-time")) a->cfg.max_request_s = strtod(v, NULL);
        else if (OPT("--max-connections")) a->cfg.max_connections = atoi(v);
        else if (OPT("--grace")) a->grace_s = strtod(v, NULL);
        else if (strcmp(o, "--quiet") == 0) a->cfg.quiet = 1;
        else {
            fprintf(stderr, "unknown or incomplete option '%s'\n", o);
            return -1;
        }
#undef OPT
    }
    if (!a->reg.model_path && !a->reg.models_dir) return -1;
    if (a->reg.sched.n_slots < 1 || a->reg.sched.n_slots > 256 || a->reg.sched.queue_size < 0 || a->cfg.port < 0 ||
        a->cfg.port > 65535 || a->cfg.max_connections < 1 || a->cfg.idle_timeout_s < 1) {
        fprintf(stderr, "error: -np must be 1..256, --queue >= 0, --port 0..65535, --max-connections and --timeout >= 1\n");
        return -1;
    }
    if (a->cfg.api_key && !*a->cfg.api_key) a->cfg.api_key = NULL;
    a->reg.sched.ctx = tool_ctx_params(&a->ctx);
    return 0;
}

int main(int argc, char **argv) {
    server_args a;
    if (parse_args(argc, argv, &a) != 0) {
        usage(argv[0]);
        return 2;
    }
    /* Signals are taken by sigwait in this thread only: every thread started from here on
     * (HTTP, scheduler, the contexts' workers) inherits the blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    server srv;
    memset(&srv, 0, sizeof srv);
    srv.cfg = a.cfg;
    srv.t_start = tool_now_s();
    metrics_init(&srv.met);
    atomic_init(&srv.state, SERVER_LOADING);
    atomic_init(&srv.in_flight, 0);

    char err[1024];
    struct MHD_Daemon *d = http_start(&srv, err, sizeof err);
    if (!d) {
        fprintf(stderr, "error: %s\n", err);
        metrics_destroy(&srv.met);
        return 1;
    }
    fprintf(stderr, "infer-server %s: listening on http://%s:%d%s\n", INFER_VERSION_STRING, srv.cfg.host, http_port(d),
            srv.cfg.api_key ? " (API key required)" : "");

    registry *reg = NULL;
    if (registry_new(&a.reg, &srv.met, &reg, err, sizeof err) != 0) {
        fprintf(stderr, "error: %s\n", err);
        atomic_store(&srv.state, SERVER_ERROR);
        http_stop(d);
        metrics_destroy(&srv.met);
        return 1;
    }
    srv.reg = reg;
    atomic_store(&srv.state, SERVER_OK);
    fprintf(stderr, "infer-server: ready\n");

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "infer-server: %s received, finishing in-flight requests (up to %.0f s)\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", a.grace_s);
    http_quiesce(d);
    registry_drain(reg, a.grace_s);
    http_finish(&srv, 5);   /* let the streams deliver their last events */
    http_stop(d);
    registry_free(reg);
    metrics_destroy(&srv.met);
    fprintf(stderr, "infer-server: stopped\n");
    return 0;
}
