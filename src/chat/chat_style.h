/* Chat template families and how one is detected and rendered.
 *
 * We do not run Jinja. A model's tokenizer.chat_template is classified into one of the
 * families below by its marker tokens, plus the few variant switches that change the
 * text of plain {role, content} conversations; the renderer then reproduces what the
 * real template prints for such conversations (tools and tool calls aside). */
#ifndef INFER_CHAT_CHAT_STYLE_H
#define INFER_CHAT_CHAT_STYLE_H

#include "infer.h"

#include <stddef.h>
#include <time.h>

typedef enum infer_chat_family {
    INFER_CHAT_CHATML,    /* <|im_start|>role\n...<|im_end|>\n (Qwen2, Qwen2.5, Qwen3) */
    INFER_CHAT_LLAMA3,    /* <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|> */
    INFER_CHAT_HARMONY,   /* <|start|>role<|message|>...<|end|> (gpt-oss) */
    INFER_CHAT_GEMMA,     /* <start_of_turn>user\n...<end_of_turn>\n, assistant as "model" (Gemma 2/3) */
} infer_chat_family;

typedef struct infer_chat_style {
    infer_chat_family family;
    int fallback;               /* no recognizable template: ChatML chosen, caller should warn */

    /* ChatML variants */
    int qwen3_think;            /* Qwen3: <think> blocks split off assistant turns, the last
                                 * assistant turn after the final query gets an (empty) block */
    const char *default_system; /* system text used when the conversation has none, as the
                                 * template writes it (escapes still in, see default_system_len) */
    size_t default_system_len;

    /* Llama 3 variants */
    int llama3_always_gen;      /* Llama 3.0's template appends the assistant header even
                                 * without add_generation_prompt */
    int llama3_date_header;     /* Llama 3.1+: a system block with knowledge cutoff and date */
    int llama3_date_today;      /* 3.2: that date is today's (strftime_now), else "26 Jul 2024" */
} infer_chat_style;

/* Classifies a template. family_hint is the family the model's architecture claims
 * (infer_arch.chat_family, a name as infer_chat_family_name prints it, or NULL): it
 * decides when the template is missing; a template that matches no family falls back to
 * ChatML with st->fallback set. The style may point into tmpl, which must outlive it. */
void infer_chat_style_detect(const char *tmpl, const char *family_hint, infer_chat_style *out);

/* Name of the family: "chatml", "llama3", "harmony", "gemma". */
const char *infer_chat_family_name(infer_chat_family f);

/* Renders like infer_chat_render. bos_text is the text of the BOS token ("" if none);
 * now is the local date the templates that print one use. */
infer_status infer_chat_style_render(const infer_chat_style *st, const char *bos_text, const struct tm *now,
                                     const infer_chat_msg *msgs, size_t n_msgs, int add_generation_prompt,
                                     char *buf, size_t cap, size_t *n_out);

/* Renders with the built-in family only (what infer_chat_render did before templates ran). */
infer_status infer_chat_render_builtin(const infer_model *m, const infer_chat_msg *msgs, size_t n_msgs,
                                       int add_generation_prompt, char *buf, size_t cap, size_t *n_out);

#endif
