/* tool_choice "required" and a named function: the reply is constrained by the grammar
 * sampler to one call of an offered tool, written in the model family's own tool-call
 * syntax so that the library's reply parser reads it back:
 *   Hermes/Qwen   <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>
 *   Llama 3       {"name": ..., "parameters": {...}}
 *   Mistral       [TOOL_CALLS][{"name": ..., "arguments": {...}}]   ([TOOL_CALLS] is a
 *                 control token, which no grammar emits: the server writes it)
 *   Harmony       <|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{...}
 *                 (markup the server writes; one tool only, as the name sits in markup)
 * The arguments follow the tool's JSON schema (infer_json_schema_to_grammar). */
#ifndef SERVER_TOOL_CHOICE_H
#define SERVER_TOOL_CHOICE_H
#include "request.h"

/* Sets j's grammar (and the reply's opening markup, appended to j's prompt) for a call
 * of one of j->tools_json. Returns 0, or -1 after filling e (400 for schemas the
 * converter refuses or a combination this family cannot express). */
int tool_choice_constrain(const model_entry *me, job *j, req_err *e);

/* A chat request's tools and tool_choice (chat_tools.h), its messages rendered with them
 * into j's prompt, and the constraint of a call it requires. 0, or -1 after filling e. */
int tools_chat_prompt(const model_entry *me, json_t *body, json_t *messages, job *j, req_err *e);

#endif
