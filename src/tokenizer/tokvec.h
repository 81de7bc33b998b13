/* A growable token list: what the SentencePiece and BPE encoders append to and the
 * tokenizer driver (tokenize.c) hands back. Its own unit so the encoders depend on it,
 * not on the driver that calls them. */
#ifndef INFER_TOKENIZER_TOKVEC_H
#define INFER_TOKENIZER_TOKVEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct infer_tokvec {
    int32_t *data;
    size_t n, cap;
    bool oom;                   /* an append failed: the list is incomplete */
} infer_tokvec;

/* Appends tok; on allocation failure sets oom and drops it. */
void infer_tokvec_push(infer_tokvec *tv, int32_t tok);

#endif
