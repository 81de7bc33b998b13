/* A chat reply from generated tokens to what a client sees: each token is routed by the
 * library's chat stream classifier (infer_chat_stream: answer, reasoning, template markup,
 * other Harmony channels) into the job's text buffers; with tools offered, the answer is
 * streamed only while it cannot be the start of a tool call, and the finished reply is
 * split into text and tool calls by the library's reply parser (infer_chat_parse_reply),
 * in OpenAI's or Ollama's shape. The scheduler routes; the dialects assemble. */
#ifndef SERVER_REPLY_H
#define SERVER_REPLY_H
#include <jansson.h>

#include "infer.h"
#include "job.h"

typedef struct reply_router {
    const infer_model *m;
    infer_chat_stream *cs;     /* the template family's token classifier */
    infer_detok *detok;        /* per reply */
    infer_chat_part out;       /* where detokenized text goes now */
    int saw_markup, answer_started;
} reply_router;

/* Returns 0, or -1 when out of memory. */
int reply_router_init(reply_router *r, const infer_model *m);
void reply_router_free(reply_router *r);
/* Starts a new reply (the state right after the generation prompt). 0, or -1 out of memory. */
int reply_router_start(reply_router *r);
/* Routes one generated token of j (stop tokens excluded). Returns 1 when a stop string
 * matched (the content ends before it). With tools offered the token's bytes (markup
 * included) also go to j->raw, where Harmony's tool calls are found. */
int reply_router_push(reply_router *r, job *j, int32_t tok);
/* The end of the reply: text held for a split character. Frees the per-reply state;
 * flush 0 drops the held text (a cancelled reply). Returns 1 when a stop string matched. */
int reply_router_end(reply_router *r, job *j, int flush);

/* Bytes of a reply's answer text (with tools offered, non-Harmony families) that may be
 * streamed before the reply ends: the text before the first tool-call marker, less a tail
 * that could be the start of one; none while the text (after leading whitespace) is empty
 * or starts like a JSON value, which may be a bare JSON call. */
size_t reply_stream_safe(const char *text, size_t n);

/* The Hermes calls (<tool_call>...</tool_call>) already closed in a running reply's answer
 * text, from the `skip`th on, in OpenAI's or Ollama's shape (NULL: none yet), so streams
 * send each call as soon as it is complete. reply_finish parses the same calls again at
 * the end (same order and ids): skip the ones sent. */
json_t *reply_closed_calls(const job *j, size_t skip, int ollama);

/* The finished reply of j (tools offered) from answer byte `from` on (the bytes before it
 * were streamed): the text left once the tool calls are taken out goes to rest; the calls
 * come back as a JSON array in OpenAI's shape ([{"id","type":"function","function":
 * {"name","arguments":"<json text>"}}]) or, with ollama, Ollama's ([{"function":{"name",
 * "arguments":{...}}}]); NULL when there are none. Harmony replies (j->harmony) keep their
 * final channel as the answer and take the calls from the commentary channels in j->raw. */
json_t *reply_finish(const job *j, size_t from, int ollama, sbuf *rest);

#endif
