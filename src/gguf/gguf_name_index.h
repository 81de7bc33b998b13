/* A small open-addressing hash from NUL-terminated names to indices, used for metadata
 * keys and tensor names (lookups by name, and duplicate detection in O(n) so that a
 * hostile file with many entries cannot make opening quadratic). */
#ifndef INFER_GGUF_NAME_INDEX_H
#define INFER_GGUF_NAME_INDEX_H

#include <stdbool.h>
#include <stdint.h>

typedef struct gguf_name_slot {
    const char *name;          /* borrowed from the owner; NULL = empty slot */
    int64_t index;
} gguf_name_slot;

typedef struct gguf_name_index {
    gguf_name_slot *slots;     /* [mask + 1], a power of two >= 2 * capacity */
    uint64_t mask;
} gguf_name_index;

/* Prepares room for `capacity` names. Returns false on allocation failure. */
bool gguf_name_index_init(gguf_name_index *ix, uint64_t capacity);
void gguf_name_index_free(gguf_name_index *ix);
/* Inserts name -> index. If the name is already present, returns the earlier index and
 * inserts nothing; otherwise returns -1. The name must outlive the index. */
int64_t gguf_name_index_insert(gguf_name_index *ix, const char *name, int64_t index);
/* Index of the name, or -1. */
int64_t gguf_name_index_find(const gguf_name_index *ix, const char *name);

#endif
