/* Seeded pseudo-random generator owned by a sampler: xoshiro256** seeded through
 * splitmix64, so every 64-bit seed (0 included) gives a well-mixed, distinct stream.
 * Header-only: the state is a plain value inside the sampler, no global state. */
#ifndef INFER_SAMPLE_RNG_H
#define INFER_SAMPLE_RNG_H

#include <stdint.h>

typedef struct infer_rng {
    uint64_t s[4];
} infer_rng;

static inline uint64_t infer_rng_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline void infer_rng_seed(infer_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = infer_rng_splitmix64(&x);
}

static inline uint64_t infer_rng_rotl(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }

static inline uint64_t infer_rng_next(infer_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = infer_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = infer_rng_rotl(s[3], 45);
    return result;
}

/* Uniform double in [0, 1) with 53 random bits. */
static inline double infer_rng_uniform(infer_rng *r) {
    return (double)(infer_rng_next(r) >> 11) * 0x1.0p-53;
}

#endif
