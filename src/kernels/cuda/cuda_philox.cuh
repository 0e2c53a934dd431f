/* Philox4x32-10 on the device (and host), with exactly the mapping of src/host/core/rng.c; shared by the
 * random-number ops and the fused MALA kernels. */
#ifndef EBGAN_CUDA_PHILOX_CUH
#define EBGAN_CUDA_PHILOX_CUH

#include <stdint.h>

#define EB_PHILOX_M0 0xD2511F53u
#define EB_PHILOX_M1 0xCD9E8D57u
#define EB_PHILOX_W0 0x9E3779B9u
#define EB_PHILOX_W1 0xBB67AE85u

/* Words 0 and 1 of block `index` of the stream `seed` (the only words the mappings use). Also a host
 * function, so the integer mapping can be checked against rng.c without a GPU. */
static __host__ __device__ __forceinline__ void eb_philox_block(uint64_t seed, uint64_t index, uint32_t *w0, uint32_t *w1) {
    uint32_t c0 = (uint32_t)index, c1 = (uint32_t)(index >> 32), c2 = 0u, c3 = 0u;
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < 10; r++) {
        if (r > 0) { /* the key schedule bumps before every round but the first */
            k0 += EB_PHILOX_W0;
            k1 += EB_PHILOX_W1;
        }
        const uint64_t p0 = (uint64_t)EB_PHILOX_M0 * c0, p1 = (uint64_t)EB_PHILOX_M1 * c2; /* mul.wide */
        const uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        const uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    *w0 = c0;
    *w1 = c1;
}


/* The CPU's eb_rng_uniform_at (53 bits) and eb_rng_normal_at, in double. */
static __host__ __device__ __forceinline__ double eb_philox_uniform53(uint64_t seed, uint64_t index) {
    uint32_t w0, w1;
    eb_philox_block(seed, index, &w0, &w1);
    return (double)(((uint64_t)w0 << 21) | (w1 >> 11)) * 0x1p-53;
}

static __host__ __device__ __forceinline__ double eb_philox_normal(uint64_t seed, uint64_t index) {
    uint32_t w0, w1;
    eb_philox_block(seed, index, &w0, &w1);
    const double u1 = ((double)w0 + 1.0) * 0x1p-32, u2 = (double)w1 * 0x1p-32;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
