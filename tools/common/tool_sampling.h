/* Output-shaping options shared by the generating tools: a grammar (--grammar,
 * --grammar-file), a JSON schema (--json-schema FILE, -j for any JSON object), stop
 * strings (--stop, repeatable) and per-token log-probabilities (--logprobs N). */
#ifndef INFER_TOOL_SAMPLING_H
#define INFER_TOOL_SAMPLING_H
#include "infer.h"

#define TOOL_MAX_STOPS 16

typedef struct tool_sampling_opts {
    const char *grammar;        /* --grammar TEXT */
    const char *grammar_file;   /* --grammar-file F */
    const char *schema_file;    /* --json-schema F */
    int json_object;            /* -j */
    const char *stops[TOOL_MAX_STOPS];
    int n_stops;
    int logprobs;               /* --logprobs N: 0 off */
} tool_sampling_opts;

/* Like tool_model_option: returns the arguments used (1 or 2), 0 if not ours, -1 on a
 * bad value (already reported). */
int tool_sampling_option(const char *name, const char *value, tool_sampling_opts *o);
/* The sampler for the options: the grammar or schema stage first, then the default
 * chain of sp. Returns 0, or -1 after printing "error: <why>". */
int tool_sampler_make(const infer_model *m, const infer_sampler_params *sp, const tool_sampling_opts *o,
                      infer_sampler **out);
/* Prints a token's log-probability and the top alternatives of `logits` to stderr. */
void tool_print_logprobs(const infer_model *m, const float *logits, int32_t tok, int top_n);

#endif
