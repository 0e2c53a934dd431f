/* Philox4x32-10, the counter-based generator both backends use: the stream is a pure function of
 * (seed, counter), so results do not depend on the device, the chunking or the thread layout. */
#ifndef EBGAN_RNG_H
#define EBGAN_RNG_H

#include <stdint.h>

/* One Philox4x32-10 block: 4 x 32 random bits for 128-bit counter (ctr) and 64-bit key. */
void eb_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Element i of a stream keyed by seed at position `offset + i`:
 * uniform in [0, 1) with 24-bit (f32) / 53-bit resolution; normal by Box-Muller from the block's words.
 * The exact mapping (every backend reproduces the integers bit for bit; only the float transform may round):
 *   key = {seed & 0xffffffff, seed >> 32};  ctr = {index & 0xffffffff, index >> 32, 0, 0};
 *   w[0..3] = eb_philox4x32(ctr, key)       (one block per element, words 2..3 unused)
 *   uniform_at = ((uint64)w0 << 21 | w1 >> 11) * 2^-53                  (53 bits, in [0, 1))
 *   f32 uniform (rng_uniform in float builds) = (w0 >> 8) * 2^-24       (= uniform_at truncated to 24 bits)
 *   normal_at  = sqrt(-2 ln u1) * cos(2 pi u2),  u1 = (w0 + 1) * 2^-32 in (0, 1],  u2 = w1 * 2^-32 in [0, 1) */
double eb_rng_uniform_at(uint64_t seed, uint64_t index);
double eb_rng_normal_at(uint64_t seed, uint64_t index);

/* Host-side stream for things decided on the host (permutations, minibatch indices).
 * State is (seed, counter): checkpointed as two integers. Host draws and device draws share one counter
 * space of blocks: eb_rng_u32 returns w0 of block `counter` and advances it by 1, eb_rng_uniform returns
 * eb_rng_uniform_at(seed, counter) and advances by 1, eb_rng_reserve(n) returns counter and advances by n. */
typedef struct eb_rng { uint64_t seed; uint64_t counter; } eb_rng;
void eb_rng_init(eb_rng *r, uint64_t seed);
uint32_t eb_rng_u32(eb_rng *r);
double eb_rng_uniform(eb_rng *r);           /* [0, 1) */
uint32_t eb_rng_below(eb_rng *r, uint32_t n); /* uniform in [0, n), unbiased */
/* Reserve `n` counters for a device-side draw and return the offset to pass to rng_normal/rng_uniform. */
uint64_t eb_rng_reserve(eb_rng *r, uint64_t n);

#endif
