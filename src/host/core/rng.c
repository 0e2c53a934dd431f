/* Philox4x32-10 (Salmon et al., SC'11) and the fixed mapping from its 32-bit words to uniform and
 * normal numbers; the CUDA kernels reproduce the same integers, so streams agree across devices. */
#include "ebgan/rng.h"

#include <math.h>

/* Multipliers and Weyl key increments of Philox4x32 (Random123's PHILOX_M4x32_*, PHILOX_W32_*). */
#define EB_PHILOX_M0 0xD2511F53u
#define EB_PHILOX_M1 0xCD9E8D57u
#define EB_PHILOX_W0 0x9E3779B9u
#define EB_PHILOX_W1 0xBB67AE85u
#define EB_PHILOX_ROUNDS 10

void eb_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < EB_PHILOX_ROUNDS; r++) {
        if (r > 0) { /* the key schedule bumps before every round but the first */
            k0 += EB_PHILOX_W0;
            k1 += EB_PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)EB_PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)EB_PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Block `index` of the stream `seed`: key = seed (low word first), counter = (index lo, index hi, 0, 0). */
static void rng_block(uint64_t seed, uint64_t index, uint32_t out[4]) {
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), 0u, 0u};
    eb_philox4x32(ctr, key, out);
}

double eb_rng_uniform_at(uint64_t seed, uint64_t index) {
    uint32_t w[4];
    rng_block(seed, index, w);
    /* 53 bits: all 32 of word 0 above the top 21 of word 1; the f32 value is its top 24 bits. */
    uint64_t bits = ((uint64_t)w[0] << 21) | (uint64_t)(w[1] >> 11);
    return (double)bits * 0x1p-53;
}

double eb_rng_normal_at(uint64_t seed, uint64_t index) {
    uint32_t w[4];
    rng_block(seed, index, w);
    /* Box-Muller, cosine branch: u1 in (0, 1] so log(u1) is finite, u2 in [0, 1). */
    double u1 = ((double)w[0] + 1.0) * 0x1p-32;
    double u2 = (double)w[1] * 0x1p-32;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void eb_rng_init(eb_rng *r, uint64_t seed) {
    r->seed = seed;
    r->counter = 0;
}

uint32_t eb_rng_u32(eb_rng *r) {
    uint32_t w[4];
    /* One block per draw: host draws and device draws (eb_rng_reserve) share one counter space and
     * never reuse a block. */
    rng_block(r->seed, r->counter++, w);
    return w[0];
}

double eb_rng_uniform(eb_rng *r) { return eb_rng_uniform_at(r->seed, r->counter++); }

uint32_t eb_rng_below(eb_rng *r, uint32_t n) {
    if (n <= 1) return 0; /* [0, n) holds only 0 (n == 0 is treated like n == 1) */
    /* Rejection of the lowest 2^32 mod n values leaves a multiple of n outcomes: unbiased. */
    uint32_t threshold = (uint32_t)(0u - n) % n;
    for (;;) {
        uint32_t x = eb_rng_u32(r);
        if (x >= threshold) return x % n;
    }
}

uint64_t eb_rng_reserve(eb_rng *r, uint64_t n) {
    uint64_t offset = r->counter;
    r->counter += n;
    return offset;
}
