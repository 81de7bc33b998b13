#include "gguf/gguf_name_index.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a: simple and good enough for short keys like "llama.rope.freq_base". */
static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

bool gguf_name_index_init(gguf_name_index *ix, uint64_t capacity) {
    uint64_t n = 16;
    while (n < capacity * 2) {
        if (n > (UINT64_MAX >> 2)) return false;
        n <<= 1;
    }
    ix->slots = calloc(n, sizeof *ix->slots);
    ix->mask = n - 1;
    return ix->slots != NULL;
}

void gguf_name_index_free(gguf_name_index *ix) {
    free(ix->slots);
    ix->slots = NULL;
    ix->mask = 0;
}

int64_t gguf_name_index_insert(gguf_name_index *ix, const char *name, int64_t index) {
    for (uint64_t i = hash_name(name) & ix->mask;; i = (i + 1) & ix->mask) {
        gguf_name_slot *s = &ix->slots[i];
        if (!s->name) {
            s->name = name;
            s->index = index;
            return -1;
        }
        if (strcmp(s->name, name) == 0) return s->index;
    }
}

int64_t gguf_name_index_find(const gguf_name_index *ix, const char *name) {
    if (!ix->slots || !name) return -1;
    for (uint64_t i = hash_name(name) & ix->mask;; i = (i + 1) & ix->mask) {
        const gguf_name_slot *s = &ix->slots[i];
        if (!s->name) return -1;
        if (strcmp(s->name, name) == 0) return s->index;
    }
}
