/* Open-addressing hash maps for token lookup (see token_map.h). */
#include "tokenizer/token_map.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t n) {
    /* FNV-1a, 64-bit: short keys, good enough spread. */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h ^ (h >> 31);
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static uint32_t table_size(size_t n) {
    uint32_t cap = 16;
    while (cap < 2 * n + 1) cap <<= 1;
    return cap;
}

#define EMPTY_SLOT UINT64_MAX

static uint64_t make_slot(uint64_t h, int32_t id) { return (h >> 32) << 32 | (uint32_t)id; }
static int32_t slot_id(uint64_t s) { return (int32_t)(uint32_t)s; }

bool infer_token_map_build(infer_token_map *m, char *const *text, const uint32_t *len, int32_t n) {
    uint32_t cap = table_size((size_t)n);
    m->slots = malloc((size_t)cap * sizeof *m->slots);
    if (!m->slots) return false;
    memset(m->slots, 0xFF, (size_t)cap * sizeof *m->slots);
    m->mask = cap - 1;
    m->text = text;
    m->len = len;
    for (int32_t id = 0; id < n; id++) {
        uint64_t h = hash_bytes(text[id], len[id]);
        uint64_t slot = make_slot(h, id);
        for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
            uint64_t s = m->slots[i];
            if (s == EMPTY_SLOT) { m->slots[i] = slot; break; }
            int32_t t = slot_id(s);
            if ((s >> 32) == (slot >> 32) && len[t] == len[id] && memcmp(text[t], text[id], len[id]) == 0) {
                m->slots[i] = slot;
                break;
            }
        }
    }
    return true;
}

void infer_token_map_free(infer_token_map *m) {
    free(m->slots);
    m->slots = NULL;
}

int32_t infer_token_map_find(const infer_token_map *m, const char *s, size_t n) {
    if (!m->slots) return -1;
    uint64_t h = hash_bytes(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
        uint64_t slot = m->slots[i];
        if (slot == EMPTY_SLOT) return -1;
        int32_t t = slot_id(slot);
        if ((uint32_t)(slot >> 32) == tag && m->len[t] == n && memcmp(m->text[t], s, n) == 0) return t;
    }
}

bool infer_pair_map_init(infer_pair_map *m, size_t n_max) {
    uint32_t cap = table_size(n_max);
    m->keys = malloc((size_t)cap * sizeof *m->keys);
    m->rank = malloc((size_t)cap * sizeof *m->rank);
    m->result = malloc((size_t)cap * sizeof *m->result);
    m->mask = cap - 1;
    if (!m->keys || !m->rank || !m->result) { infer_pair_map_free(m); return false; }
    memset(m->keys, 0xFF, (size_t)cap * sizeof *m->keys);
    return true;
}

static uint64_t pair_key(int32_t left, int32_t right) {
    return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
}

void infer_pair_map_add(infer_pair_map *m, int32_t left, int32_t right, uint32_t rank, int32_t result) {
    uint64_t k = pair_key(left, right);
    uint32_t i = (uint32_t)hash_u64(k) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        if (m->keys[i] == UINT64_MAX) {
            m->keys[i] = k; m->rank[i] = rank; m->result[i] = result;
            return;
        }
        if (m->keys[i] == k) return;
    }
}

bool infer_pair_map_find(const infer_pair_map *m, int32_t left, int32_t right, uint32_t *rank, int32_t *result) {
    if (!m->keys) return false;
    uint64_t k = pair_key(left, right);
    uint32_t i = (uint32_t)hash_u64(k) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        if (m->keys[i] == UINT64_MAX) return false;
        if (m->keys[i] == k) { *rank = m->rank[i]; *result = m->result[i]; return true; }
    }
}

void infer_pair_map_free(infer_pair_map *m) {
    free(m->keys); free(m->rank); free(m->result);
    m->keys = NULL; m->rank = NULL; m->result = NULL;
}
