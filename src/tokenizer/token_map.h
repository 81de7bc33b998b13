/* Hash maps of the vocabulary: token text -> id, and BPE merge pairs -> (rank, id).
 * Open addressing with linear probing; built once at load, read-only afterwards. */
#ifndef INFER_TOKENIZER_TOKEN_MAP_H
#define INFER_TOKENIZER_TOKEN_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct infer_token_map {
    uint64_t *slots;            /* [mask + 1] (hash tag << 32 | id), UINT64_MAX = empty; the
                                 * tag spares a text compare on most non-matching probes */
    uint32_t mask;
    char *const *text;          /* the vocabulary's texts and lengths (not owned) */
    const uint32_t *len;
} infer_token_map;

/* Builds the map over n texts; a text seen twice maps to its last id. */
bool infer_token_map_build(infer_token_map *m, char *const *text, const uint32_t *len, int32_t n);
void infer_token_map_free(infer_token_map *m);
/* Id of the token whose text is s[0..n), or -1. */
int32_t infer_token_map_find(const infer_token_map *m, const char *s, size_t n);

typedef struct infer_pair_map {
    uint64_t *keys;             /* [mask + 1] (left << 32 | right), UINT64_MAX = empty */
    uint32_t *rank;             /* [mask + 1] merge rank (lower merges first) */
    int32_t *result;            /* [mask + 1] id of the merged token */
    uint32_t mask;
} infer_pair_map;

bool infer_pair_map_init(infer_pair_map *m, size_t n_max);
/* Keeps the first (lowest) rank when a pair is added twice. */
void infer_pair_map_add(infer_pair_map *m, int32_t left, int32_t right, uint32_t rank, int32_t result);
/* Finds a pair: true and *rank, *result set, or false. */
bool infer_pair_map_find(const infer_pair_map *m, int32_t left, int32_t right, uint32_t *rank, int32_t *result);
void infer_pair_map_free(infer_pair_map *m);

#endif
