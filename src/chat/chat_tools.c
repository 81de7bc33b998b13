/* Tool calls in a generated assistant reply: split the text into answer, reasoning and
 * calls for the formats models are trained on (Hermes/Qwen, Llama 3.x, Mistral, Harmony)
 * plus a bare-JSON fallback. Arguments come back as compact JSON text: for Hermes calls
 * the model's own text without whitespace between tokens (chat_call_scan.h), for the
 * others re-serialized by jansson. */
#include "chat/chat_call_scan.h"
#include "chat/chat_text.h"
#include "core/error.h"
#include "infer.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct infer_chat_parsed {
    char *content, *reasoning;
    infer_chat_tool_call *calls;
    size_t n_calls, cap_calls;
};

typedef infer_strbuf sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) { infer_strbuf_put(b, s, n); }

/* The buffer's text handed over (an empty string when nothing was written). */
static char *sb_take(sbuf *b) {
    if (b->oom) {
        infer_strbuf_free(b);
        return NULL;
    }
    if (!b->data) return strdup("");
    return b->data;
}

static int is_ws(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

/* [p, p+n) without surrounding whitespace. */
static void trim(const char **p, size_t *n) {
    while (*n && is_ws(**p)) (*p)++, (*n)--;
    while (*n && is_ws((*p)[*n - 1])) (*n)--;
}

/* ---------------------------------------------------------------- calls */

/* A short id of 9 alphanumerics ("call" + 5 base-36 digits from the call's text): Mistral
 * templates require exactly that form, OpenAI clients accept any string. */
static char *make_id(const char *name, const char *args, size_t index) {
    uint64_t h = 1469598103934665603ull;
    for (const char *s = name; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    for (const char *s = args; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h = (h ^ index) * 1099511628211ull;
    char id[16] = "call";
    for (int i = 0; i < 5; i++) {
        id[4 + i] = "0123456789abcdefghijklmnopqrstuvwxyz"[h % 36];
        h /= 36;
    }
    id[9] = 0;
    return strdup(id);
}

static int add_call(infer_chat_parsed *p, const char *name, size_t name_n, const char *args, const char *id) {
    if (p->n_calls == p->cap_calls) {
        size_t cap = p->cap_calls ? p->cap_calls * 2 : 4;
        infer_chat_tool_call *g = realloc(p->calls, cap * sizeof *g);
        if (!g) return -1;
        p->calls = g;
        p->cap_calls = cap;
    }
    char *nm = strndup(name, name_n);
    char *ar = strdup(args && *args ? args : "{}");
    char *ident = id && *id ? strdup(id) : (nm && ar ? make_id(nm, ar, p->n_calls) : NULL);
    if (!nm || !ar || !ident) {
        free(nm);
        free(ar);
        free(ident);
        return -1;
    }
    p->calls[p->n_calls++] = (infer_chat_tool_call){sizeof(infer_chat_tool_call), ident, nm, ar};
    return 0;
}

/* Arguments as compact JSON text: objects are serialized, strings holding JSON kept. */
static char *args_text(const json_t *a) {
    if (!a || json_is_null(a)) return strdup("{}");
    if (json_is_string(a)) return strdup(json_string_value(a));
    return json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(16));
}

/* {"name": ..., "arguments"|"parameters": ...} (also {"function": {...}} and
 * {"type": "function", ...}); 1 when it was a call. */
static int call_from_object(infer_chat_parsed *p, const json_t *o) {
    if (!json_is_object(o)) return 0;
    const json_t *fn = json_object_get(o, "function");
    if (json_is_object(fn) && json_is_string(json_object_get(fn, "name"))) {
        const json_t *id = json_object_get(o, "id");
        const json_t *a = json_object_get(fn, "arguments");
        if (!a) a = json_object_get(fn, "parameters");
        char *args = args_text(a);
        const char *name = json_string_value(json_object_get(fn, "name"));
        int r = args && add_call(p, name, strlen(name), args, json_string_value(id)) == 0;
        free(args);
        return r ? 1 : -1;
    }
    const json_t *name = json_object_get(o, "name");
    const json_t *a = json_object_get(o, "arguments");
    if (!a) a = json_object_get(o, "parameters");
    if (!json_is_string(name) || (a && !json_is_object(a) && !json_is_string(a))) return 0;
    char *args = args_text(a);
    const char *nm = json_string_value(name);
    int r = args && add_call(p, nm, strlen(nm), args, json_string_value(json_object_get(o, "id"))) == 0;
    free(args);
    return r ? 1 : -1;
}

/* A JSON value that is a call or a list of calls; returns how many were added, or -1
 * when it is not (entirely) calls. */
static int calls_from_json(infer_chat_parsed *p, const json_t *j) {
    size_t before = p->n_calls;
    if (json_is_array(j) && json_array_size(j) > 0) {
        size_t i;
        json_t *x;
        json_array_foreach(j, i, x) {
            if (call_from_object(p, x) != 1) goto undo;
        }
        return (int)(p->n_calls - before);
    }
    if (json_is_object(j)) {
        const json_t *tc = json_object_get(j, "tool_calls");
        if (!tc) tc = json_object_get(j, "tool_call");
        if (tc) return calls_from_json(p, tc);
        return call_from_object(p, j) == 1 ? 1 : -1;
    }
    return -1;
undo:
    while (p->n_calls > before) {
        infer_chat_tool_call *c = &p->calls[--p->n_calls];
        free((char *)c->id);
        free((char *)c->name);
        free((char *)c->arguments);
    }
    return -1;
}

static json_t *load_json(const char *s, size_t n, size_t *used) {
    json_error_t e;
    json_t *j = json_loadb(s, n, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY, &e);
    if (used) *used = j ? e.position : 0;
    return j;
}

/* Parses the JSON value at s and adds the calls it holds; returns how many (<= 0: none). */
static int calls_in_text(infer_chat_parsed *p, const char *s, size_t n, size_t *used) {
    json_t *j = load_json(s, n, used);
    int r = j ? calls_from_json(p, j) : -1;
    json_decref(j);
    return r;
}

/* ---------------------------------------------------------------- formats */

/* A valid block holding one plain call object gets the call scanner's name and arguments
 * text (the model's JSON without whitespace between tokens), which
 * infer_chat_call_stream reports while the reply streams: a streamed call's pieces add up
 * to what the finished reply's parse says. 0, or -1 when out of memory. */
static int same_as_stream(infer_chat_tool_call *c, const char *q, size_t qn) {
    call_scan *s = malloc(sizeof *s);
    if (!s) return -1;
    call_scan_init(s);
    call_scan_push(s, q, qn);
    int rc = 0;
    if (call_scan_end(s) == CALL_SCAN_DONE) {
        char *name = strndup(s->name.data ? s->name.data : "", s->name.len);
        char *args = strndup(s->args.data, s->args.len);
        if (name && args) {
            free((char *)c->name);
            free((char *)c->arguments);
            c->name = name;
            c->arguments = args;
        } else {
            free(name);
            free(args);
            rc = -1;
        }
    }
    call_scan_free(s);
    free(s);
    return rc;
}

/* Hermes / Qwen: <tool_call>{json}</tool_call>, any number, text around them is content. */
static int parse_hermes(infer_chat_parsed *p, const char *s, size_t n, sbuf *content) {
    static const char open[] = "<tool_call>", close[] = "</tool_call>";
    const char *end = s + n, *cur = s;
    int found = 0;
    for (;;) {
        const char *a = memmem(cur, (size_t)(end - cur), open, sizeof open - 1);
        if (!a) break;
        const char *body = a + sizeof open - 1;
        const char *b = memmem(body, (size_t)(end - body), close, sizeof close - 1);
        const char *body_end = b ? b : end;   /* an unclosed last call (stopped at </tool_call>) */
        const char *q = body;
        size_t qn = (size_t)(body_end - body);
        trim(&q, &qn);
        int got = calls_in_text(p, q, qn, NULL);
        if (got <= 0) break;
        if (got == 1 && same_as_stream(&p->calls[p->n_calls - 1], q, qn) < 0) return -1;
        sb_put(content, cur, (size_t)(a - cur));
        found = 1;
        cur = b ? b + sizeof close - 1 : end;
    }
    if (!found) return 0;
    sb_put(content, cur, (size_t)(end - cur));
    return 1;
}

/* Mistral: [TOOL_CALLS][{...}, ...] or [TOOL_CALLS]name[ARGS]{...} (repeated), the text
 * before it is content. */
static int parse_mistral(infer_chat_parsed *p, const char *s, size_t n, sbuf *content) {
    static const char tag[] = "[TOOL_CALLS]";
    const char *a = memmem(s, n, tag, sizeof tag - 1);
    if (!a) return 0;
    const char *end = s + n, *q = a + sizeof tag - 1;
    size_t before = p->n_calls;
    while (q < end && is_ws(*q)) q++;
    if (q < end && *q == '[') {
        if (calls_in_text(p, q, (size_t)(end - q), NULL) <= 0) return 0;
    } else {
        while (q < end) {
            const char *args = memmem(q, (size_t)(end - q), "[ARGS]", 6);
            if (!args) break;
            const char *name_end = args;
            const char *idm = memmem(q, (size_t)(args - q), "[CALL_ID]", 9);
            char id[64] = "";
            if (idm) {
                size_t idn = (size_t)(args - (idm + 9));
                if (idn < sizeof id) memcpy(id, idm + 9, idn), id[idn] = 0;
                name_end = idm;
            }
            const char *nm = q;
            size_t nn = (size_t)(name_end - q);
            trim(&nm, &nn);
            const char *body = args + 6;
            size_t used = 0;
            json_t *j = load_json(body, (size_t)(end - body), &used);
            if (!j || nn == 0) {
                json_decref(j);
                break;
            }
            char *at = args_text(j);
            json_decref(j);
            int bad = !at || add_call(p, nm, nn, at, id[0] ? id : NULL) != 0;
            free(at);
            if (bad) return -1;
            q = body + used;
            while (q < end && is_ws(*q)) q++;
            if ((size_t)(end - q) >= sizeof tag - 1 && memcmp(q, tag, sizeof tag - 1) == 0) q += sizeof tag - 1;
        }
        if (p->n_calls == before) return 0;
    }
    sb_put(content, s, (size_t)(a - s));
    return 1;
}

/* Llama 3.x: <|python_tag|>{"name": ..., "parameters": ...} (calls may be separated by ';'). */
static int parse_python_tag(infer_chat_parsed *p, const char *s, size_t n, sbuf *content) {
    static const char tag[] = "<|python_tag|>";
    const char *a = memmem(s, n, tag, sizeof tag - 1);
    if (!a) return 0;
    const char *end = s + n, *q = a + sizeof tag - 1;
    size_t before = p->n_calls;
    while (q < end) {
        while (q < end && (is_ws(*q) || *q == ';')) q++;
        if (q >= end) break;
        size_t used = 0;
        if (calls_in_text(p, q, (size_t)(end - q), &used) <= 0) break;
        q += used;
    }
    if (p->n_calls == before) return 0;
    sb_put(content, s, (size_t)(a - s));
    return 1;
}

static int tool_offered(const json_t *tools, const char *name) {
    if (!json_is_array(tools)) return 1;
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        const json_t *fn = json_object_get(t, "function");
        const char *n = json_string_value(json_object_get(fn ? fn : t, "name"));
        if (n && strcmp(n, name) == 0) return 1;
    }
    return 0;
}

/* The whole reply (maybe in a ```json fence) is a call or a list of calls: Llama 3.x's
 * plain JSON calls and the generic fallback. Only names of offered tools count. */
static int parse_bare_json(infer_chat_parsed *p, const char *s, size_t n, const json_t *tools) {
    const char *q = s;
    size_t qn = n;
    trim(&q, &qn);
    if (qn > 7 && memcmp(q, "```", 3) == 0) {
        const char *nl = memchr(q, '\n', qn);
        if (nl && qn >= 6 && memcmp(q + qn - 3, "```", 3) == 0) {
            qn = (size_t)(q + qn - 3 - (nl + 1));
            q = nl + 1;
            trim(&q, &qn);
        }
    }
    if (qn == 0 || (q[0] != '{' && q[0] != '[')) return 0;
    size_t used = 0;
    json_t *j = load_json(q, qn, &used);
    if (j && used != qn) {   /* the whole reply must be the call: text after it is an answer */
        json_decref(j);
        j = NULL;
    }
    if (!j) return 0;
    size_t before = p->n_calls;
    int r = calls_from_json(p, j);
    json_decref(j);
    if (r <= 0) return 0;
    for (size_t i = before; i < p->n_calls; i++) {
        if (!tool_offered(tools, p->calls[i].name)) {
            while (p->n_calls > before) {
                infer_chat_tool_call *c = &p->calls[--p->n_calls];
                free((char *)c->id);
                free((char *)c->name);
                free((char *)c->arguments);
            }
            return 0;
        }
    }
    return 1;
}

/* Harmony (gpt-oss): messages `<|channel|>NAME [to=functions.X] ...<|message|>BODY` ended by
 * <|end|>, <|call|> or <|return|>, separated by <|start|>assistant. */
static int parse_harmony(infer_chat_parsed *p, const char *s, size_t n, sbuf *content, sbuf *reasoning) {
    const char *end = s + n, *cur = s;
    static const char *const enders[] = {"<|end|>", "<|call|>", "<|return|>", "<|start|>"};
    while (cur < end) {
        const char *msg = memmem(cur, (size_t)(end - cur), "<|message|>", 11);
        if (!msg) break;
        const char *hdr = cur;
        size_t hn = (size_t)(msg - cur);
        const char *body = msg + 11, *body_end = end;
        for (size_t k = 0; k < 4; k++) {
            const char *e = memmem(body, (size_t)(end - body), enders[k], strlen(enders[k]));
            if (e && e < body_end) body_end = e;
        }
        char channel[32] = "", recipient[128] = "";
        const char *ch = memmem(hdr, hn, "<|channel|>", 11);
        if (ch) {
            const char *w = ch + 11;
            size_t k = 0;
            while (w < msg && !is_ws(*w) && *w != '<' && k < sizeof channel - 1) channel[k++] = *w++;
            channel[k] = 0;
        }
        const char *to = memmem(hdr, hn, "to=", 3);
        if (to) {
            const char *w = to + 3;
            size_t k = 0;
            while (w < msg && !is_ws(*w) && *w != '<' && k < sizeof recipient - 1) recipient[k++] = *w++;
            recipient[k] = 0;
        }
        if (strncmp(recipient, "functions.", 10) == 0) {
            const char *a = body;
            size_t an = (size_t)(body_end - body);
            trim(&a, &an);
            json_t *j = load_json(a, an, NULL);
            char *at = j ? args_text(j) : strndup(a, an);
            json_decref(j);
            int bad = !at || add_call(p, recipient + 10, strlen(recipient + 10), at, NULL) != 0;
            free(at);
            if (bad) return -1;
        } else if (strcmp(channel, "analysis") == 0) {
            sb_put(reasoning, body, (size_t)(body_end - body));
        } else {
            sb_put(content, body, (size_t)(body_end - body));
        }
        cur = body_end;
        for (size_t k = 0; k < 3; k++)
            if ((size_t)(end - cur) >= strlen(enders[k]) && memcmp(cur, enders[k], strlen(enders[k])) == 0)
                cur += strlen(enders[k]);
    }
    return 1;
}

/* ---------------------------------------------------------------- public */

infer_status infer_chat_parse_reply(const char *text, const char *tools_json, infer_chat_parsed **out,
                                    infer_error *err) {
    if (out) *out = NULL;
    if (!text || !out) return infer_err(err, INFER_ERR_INVALID_ARG, "parse reply: NULL text or output");
    json_t *tools = NULL;
    if (tools_json) {
        json_error_t je;
        tools = json_loads(tools_json, 0, &je);
        if (!json_is_array(tools)) {
            json_decref(tools);
            return infer_err(err, INFER_ERR_INVALID_ARG, "tools: expected a JSON array (%s)", je.text);
        }
    }
    infer_chat_parsed *p = calloc(1, sizeof *p);
    if (!p) {
        json_decref(tools);
        return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    }
    sbuf content = {0}, reasoning = {0};
    size_t n = strlen(text);
    const char *rest = text;
    size_t rn = n;
    int r = 0;
    if (memmem(text, n, "<|channel|>", 11) && memmem(text, n, "<|message|>", 11)) {
        r = parse_harmony(p, text, n, &content, &reasoning);
    } else {
        /* a <think> block (the generation prompt may have opened it already) */
        const char *close = memmem(text, n, "</think>", 8);
        if (close) {
            const char *a = text;
            size_t an = (size_t)(close - text);
            const char *open = memmem(text, an, "<think>", 7);
            if (open) {
                a = open + 7;
                an = (size_t)(close - a);
                sb_put(&content, text, (size_t)(open - text));
            }
            trim(&a, &an);
            sb_put(&reasoning, a, an);
            rest = close + 8;
            rn = (size_t)(text + n - rest);
            while (rn && is_ws(*rest)) rest++, rn--;
        } else if (n >= 7 && memcmp(text, "<think>", 7) == 0) {
            const char *a = text + 7;
            size_t an = n - 7;
            trim(&a, &an);
            sb_put(&reasoning, a, an);
            rn = 0;
        }
        sbuf tc = {0};
        r = parse_hermes(p, rest, rn, &tc);
        if (r == 0) r = parse_mistral(p, rest, rn, &tc);
        if (r == 0) r = parse_python_tag(p, rest, rn, &tc);
        if (r == 0 && tools) r = parse_bare_json(p, rest, rn, tools);
        if (r > 0 && p->n_calls) {
            const char *c = tc.data ? tc.data : "";
            size_t cn = tc.len;
            trim(&c, &cn);
            sb_put(&content, c, cn);
        } else if (r >= 0) {
            sb_put(&content, rest, rn);
            r = 0;
        }
        infer_strbuf_free(&tc);
    }
    json_decref(tools);
    p->content = sb_take(&content);
    p->reasoning = sb_take(&reasoning);
    if (r < 0 || !p->content || !p->reasoning) {
        infer_chat_parsed_free(p);
        return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    }
    *out = p;
    return INFER_OK;
}

void infer_chat_parsed_free(infer_chat_parsed *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n_calls; i++) {
        free((char *)p->calls[i].id);
        free((char *)p->calls[i].name);
        free((char *)p->calls[i].arguments);
    }
    free(p->calls);
    free(p->content);
    free(p->reasoning);
    free(p);
}

const char *infer_chat_parsed_content(const infer_chat_parsed *p) { return p && p->content ? p->content : ""; }
const char *infer_chat_parsed_reasoning(const infer_chat_parsed *p) { return p && p->reasoning ? p->reasoning : ""; }
size_t infer_chat_parsed_n_tool_calls(const infer_chat_parsed *p) { return p ? p->n_calls : 0; }
const infer_chat_tool_call *infer_chat_parsed_tool_call(const infer_chat_parsed *p, size_t i) {
    return p && i < p->n_calls ? &p->calls[i] : NULL;
}
