/* The growable token list the encoders append to (see tokvec.h). */
#include <stdlib.h>

#include "tokenizer/tokvec.h"

void infer_tokvec_push(infer_tokvec *tv, int32_t tok) {
    if (tv->n == tv->cap) {
        size_t cap = tv->cap ? 2 * tv->cap : 256;
        int32_t *d = realloc(tv->data, cap * sizeof *d);
        if (!d) { tv->oom = true; return; }
        tv->data = d;
        tv->cap = cap;
    }
    tv->data[tv->n++] = tok;
}
