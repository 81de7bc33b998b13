/* --prompt-cache FILE for the tools, as llama-cli has it: the prompt's state is saved
 * after it is evaluated; a later run whose prompt starts with the saved tokens loads it
 * and evaluates only the rest. */
#ifndef INFER_TOOL_PROMPT_CACHE_H
#define INFER_TOOL_PROMPT_CACHE_H
#include <stddef.h>
#include <stdint.h>

#include "infer.h"

/* Evaluates toks[0..n) into sequence 0 of an empty context c, through the session file
 * at path when path is not NULL: a missing file is written after the evaluation; a file
 * that exists but cannot be loaded (another model, damaged, not a regular file) is an
 * error (the context's last error names it). Prints how many tokens were reused and
 * evaluated on stderr. On INFER_OK, *last_row is the index to pass to infer_ctx_logits
 * for the logits after the prompt's last token. */
infer_status tool_prompt_eval(infer_ctx *c, const char *path, const int32_t *toks, size_t n, int32_t *last_row);

#endif
