/* libFuzzer entry for the tool-call parser: the input is a generated reply (any bytes).
 * Parsing must succeed or fail cleanly, and every call it returns must carry a name, an
 * id and arguments. The streaming follower (infer_chat_call_stream) gets the same bytes
 * whole and in pieces of 1-16 bytes: a reported call's name never changes and its
 * arguments only grow by appending (a complete call not at all), and both feedings end
 * in the same calls. Seeds: tests/corpus/tool_calls. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"

static const char TOOLS[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\"}}}]";

typedef struct snap {
    size_t n;
    char **name, **args;
    size_t *n_args;
    int *complete;
} snap;

static void snap_free(snap *s) {
    for (size_t i = 0; i < s->n; i++) free(s->name[i]), free(s->args[i]);
    free(s->name);
    free(s->args);
    free(s->n_args);
    free(s->complete);
    memset(s, 0, sizeof *s);
}

/* The stream's calls now, checked against the last snapshot (then replaced by them). */
static void snap_take(const infer_chat_call_stream *cs, snap *s) {
    size_t n = infer_chat_call_stream_n_calls(cs);
    if (n < s->n) __builtin_trap();
    snap t = {n, calloc(n + 1, sizeof(char *)), calloc(n + 1, sizeof(char *)), calloc(n + 1, sizeof(size_t)),
              calloc(n + 1, sizeof(int))};
    if (!t.name || !t.args || !t.n_args || !t.complete) __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        infer_chat_call_progress p = {.struct_size = sizeof p};
        if (infer_chat_call_stream_call(cs, i, &p) != INFER_OK || !p.name || !p.arguments) __builtin_trap();
        t.name[i] = strdup(p.name);
        t.args[i] = malloc(p.n_arguments + 1);
        if (!t.name[i] || !t.args[i]) __builtin_trap();
        memcpy(t.args[i], p.arguments, p.n_arguments);   /* every byte reported must be readable */
        t.n_args[i] = p.n_arguments;
        t.complete[i] = p.complete;
        if (i < s->n) {
            if (strcmp(t.name[i], s->name[i]) != 0 || t.n_args[i] < s->n_args[i] ||
                memcmp(t.args[i], s->args[i], s->n_args[i]) != 0 || (s->complete[i] && t.n_args[i] != s->n_args[i]))
                __builtin_trap();
        }
    }
    snap_free(s);
    *s = t;
}

/* Feeds data in pieces (1-16 bytes, from seed; 0: whole) and returns the end state. */
static snap follow(const uint8_t *data, size_t size, unsigned seed, int *stopped) {
    infer_chat_call_stream *cs = NULL;
    snap s = {0};
    if (infer_chat_call_stream_new(&cs) != INFER_OK) __builtin_trap();
    for (size_t i = 0; i < size;) {
        size_t k = size;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            k = 1 + (seed >> 16) % 16;
        }
        if (k > size - i) k = size - i;
        if (infer_chat_call_stream_push(cs, (const char *)data + i, k) != INFER_OK) __builtin_trap();
        i += k;
        snap_take(cs, &s);
    }
    *stopped = infer_chat_call_stream_stopped(cs);
    infer_chat_call_stream_free(cs);
    return s;
}

static void check_stream(const uint8_t *data, size_t size) {
    int st_whole = 0, st_pieces = 0;
    snap whole = follow(data, size, 0, &st_whole);
    snap pieces = follow(data, size, size ? 1u + data[0] : 1u, &st_pieces);
    if (whole.n != pieces.n || st_whole != st_pieces) __builtin_trap();
    for (size_t i = 0; i < whole.n; i++)
        if (strcmp(whole.name[i], pieces.name[i]) != 0 || whole.n_args[i] != pieces.n_args[i] ||
            memcmp(whole.args[i], pieces.args[i], whole.n_args[i]) != 0 || whole.complete[i] != pieces.complete[i])
            __builtin_trap();
    snap_free(&whole);
    snap_free(&pieces);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_stream(data, size);
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;   /* the API takes NUL-terminated text: an embedded NUL ends it */
    for (int with_tools = 0; with_tools < 2; with_tools++) {
        infer_chat_parsed *p = NULL;
        infer_error err;
        infer_status st = infer_chat_parse_reply(text, with_tools ? TOOLS : NULL, &p, &err);
        if (st != INFER_OK) {
            if (p) __builtin_trap();
            continue;
        }
        if (!infer_chat_parsed_content(p) || !infer_chat_parsed_reasoning(p)) __builtin_trap();
        for (size_t i = 0; i < infer_chat_parsed_n_tool_calls(p); i++) {
            const infer_chat_tool_call *c = infer_chat_parsed_tool_call(p, i);
            if (!c || !c->name || !c->id || !c->arguments) __builtin_trap();
        }
        infer_chat_parsed_free(p);
    }
    free(text);
    return 0;
}
