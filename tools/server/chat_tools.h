/* Tools in chat requests: the tools a client offers (and tool_choice), and conversation
 * messages that carry tool calls and tool results (OpenAI's and Ollama's shapes) turned
 * into the library's chat messages. Replies are split into text and calls in reply.h. */
#ifndef SERVER_CHAT_TOOLS_H
#define SERVER_CHAT_TOOLS_H
#include <jansson.h>

#include "request.h"

/* Reads "tools" and "tool_choice" from a request body. *tools_json gets the tools offered
 * to the model as compact JSON text (malloc'd), or NULL when none are offered (absent,
 * empty or tool_choice "none"). A named function in tool_choice offers only that tool.
 * *required: 1 when the reply must be a call (tool_choice "required" or a function).
 * Returns 0, or -1 after filling e. */
int tools_read(json_t *body, char **tools_json, int *required, req_err *e);

/* Messages converted for infer_chat_render_messages. Strings are borrowed from the JSON
 * (which must outlive this) except the arguments written out from Ollama's objects. */
typedef struct chat_conv {
    infer_chat_message *msgs;
    size_t n, cap;
    infer_chat_tool_call **calls;   /* per message (NULL: none) */
    sbuf *texts;                    /* per message: the content text */
    char **owned;                   /* argument texts written here */
    size_t n_owned, cap_owned;
} chat_conv;

/* messages[i] are {role, content, tool_calls?, tool_call_id?, name?}; system (optional)
 * comes first. Returns 0, or -1 after filling e (conv is then freed). */
int chat_conv_build(json_t *messages, const char *system, chat_conv *c, req_err *e);
void chat_conv_free(chat_conv *c);

#endif
