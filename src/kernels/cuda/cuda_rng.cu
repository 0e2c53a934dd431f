/* Random ops on the CUDA backend: Philox4x32-10 with exactly the mapping of src/host/core/rng.c
 * (key = seed, counter = (index lo, index hi, 0, 0), one block per element), so the integer stream is
 * bit-identical to the CPU's; uniforms, indices and permutations match exactly, normals and toy points up
 * to the last float rounding. Positions may follow the device clock (ops.h, eb_rng_pos). */
#include "cuda_ops.cuh"

#include "cuda_philox.cuh"

/* (w0 << 32) | w1 of block `index`: the 64-bit key of rng_index and rng_perm (cpu_random.c) */
static __device__ __forceinline__ uint64_t eb_key64(uint64_t seed, uint64_t index) {
    uint32_t w0, w1;
    eb_philox_block(seed, index, &w0, &w1);
    return ((uint64_t)w0 << 32) | w1;
}

/* U[0, 1): the top 24 bits of the 53-bit CPU value, i.e. (w0 >> 8) 2^-24, exact in float. */
static __global__ void eb_k_rng_uniform(eb_real *x, size_t n, eb_rng_pos p) {
    const uint64_t base = eb_cuda_rng_base(p);
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint32_t w0, w1;
        eb_philox_block(p.seed, base + i, &w0, &w1);
        x[i] = (float)(w0 >> 8) * 0x1p-24f;
    }
}

/* N(0, 1): Box-Muller, cosine branch, in double as the CPU: u1 = (w0 + 1) 2^-32 in (0, 1], u2 = w1 2^-32. */
static __global__ void eb_k_rng_normal(eb_real *x, size_t n, eb_rng_pos p) {
    const uint64_t base = eb_cuda_rng_base(p);
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] = (eb_real)eb_philox_normal(p.seed, base + i);
}

/* idx = floor(key * range / 2^64): the high word of the 64 x 64 product */
static __global__ void eb_k_rng_index(int32_t *idx, size_t n, uint32_t range, eb_rng_pos p) {
    const uint64_t base = eb_cuda_rng_base(p);
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        idx[i] = (int32_t)__umul64hi(eb_key64(p.seed, base + i), (uint64_t)range);
}

/* perm[rank(i)] = i, rank(i) = #{j : key_j < key_i or (key_j == key_i and j < i)}: the stable argsort of the
 * keys, as the CPU's qsort on (key, index). One thread per i; the keys of j come through shared memory one
 * block-sized tile at a time. O(n^2 / 256) Philox evaluations: fine for batch-sized n (the paper's randperm
 * of the batch). */
static __global__ void eb_k_rng_perm(int32_t *perm, size_t n, eb_rng_pos p) {
    __shared__ uint64_t tile[EB_CUDA_THREADS];
    const uint64_t base = eb_cuda_rng_base(p);
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const uint64_t ki = i < n ? eb_key64(p.seed, base + i) : 0;
    size_t rank = 0;
    for (size_t t0 = 0; t0 < n; t0 += blockDim.x) {
        const size_t j = t0 + threadIdx.x;
        tile[threadIdx.x] = j < n ? eb_key64(p.seed, base + j) : 0;
        __syncthreads();
        const size_t lim = n - t0 < blockDim.x ? n - t0 : blockDim.x;
        if (i < n)
            for (size_t q = 0; q < lim; q++) {
                const uint64_t kj = tile[q];
                rank += (kj < ki) || (kj == ki && t0 + q < i);
            }
        __syncthreads();
    }
    if (i < n) perm[rank] = (int32_t)i;
}

/* point i from counters 3i (uniform), 3i + 1, 3i + 2 (normals), through toy_formula.h as the CPU */
static __global__ void eb_k_toy_sample(eb_toy_kind kind, eb_real *x, size_t n, eb_rng_pos p) {
    const uint64_t base = eb_cuda_rng_base(p);
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const uint64_t c = base + 3 * (uint64_t)i;
        double pt[2];
        eb_toy_point(kind, eb_philox_uniform53(p.seed, c), eb_philox_normal(p.seed, c + 1),
                     eb_philox_normal(p.seed, c + 2), pt);
        x[2 * i] = (float)pt[0];
        x[2 * i + 1] = (float)pt[1];
    }
}

static __global__ void eb_k_clock_add(int64_t *clock, int64_t v) { *clock += v; }

eb_status eb_cuda_rng_normal(void *ctx, eb_real *x, size_t n, eb_rng_pos p) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0) return EB_OK;
    eb_k_rng_normal<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(x, n, p);
    EB_CUDA_LAUNCHED("eb_k_rng_normal");
    return EB_OK;
}

eb_status eb_cuda_rng_uniform(void *ctx, eb_real *x, size_t n, eb_rng_pos p) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0) return EB_OK;
    eb_k_rng_uniform<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(x, n, p);
    EB_CUDA_LAUNCHED("eb_k_rng_uniform");
    return EB_OK;
}

eb_status eb_cuda_rng_index(void *ctx, int32_t *idx, size_t n, uint32_t range, eb_rng_pos p) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (range < 1 || range > (uint32_t)INT32_MAX)
        return EB_FAIL(EB_ERR_ARG, "rng_index: range %u outside [1, 2^31)", range);
    if (n == 0) return EB_OK;
    eb_k_rng_index<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(idx, n, range, p);
    EB_CUDA_LAUNCHED("eb_k_rng_index");
    return EB_OK;
}

eb_status eb_cuda_rng_perm(void *ctx, int32_t *perm, size_t n, eb_rng_pos p) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n > (size_t)INT32_MAX) return EB_FAIL(EB_ERR_ARG, "rng_perm: %zu elements exceed 2^31 - 1", n);
    if (n == 0) return EB_OK;
    const unsigned blocks = (unsigned)((n + EB_CUDA_THREADS - 1) / EB_CUDA_THREADS);
    eb_k_rng_perm<<<blocks, EB_CUDA_THREADS, 0, c->stream>>>(perm, n, p);
    EB_CUDA_LAUNCHED("eb_k_rng_perm");
    return EB_OK;
}

eb_status eb_cuda_toy_sample(void *ctx, eb_toy_kind kind, eb_real *x, size_t n, eb_rng_pos p) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (kind != EB_TOY_8GAUSSIANS && kind != EB_TOY_25GAUSSIANS && kind != EB_TOY_SWISSROLL)
        return EB_FAIL(EB_ERR_ARG, "toy_sample: unknown toy kind %d", (int)kind);
    if (n == 0) return EB_OK;
    eb_k_toy_sample<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(kind, x, n, p);
    EB_CUDA_LAUNCHED("eb_k_toy_sample");
    return EB_OK;
}

eb_status eb_cuda_clock_add(void *ctx, int64_t *clock, int64_t v) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    eb_k_clock_add<<<1, 1, 0, c->stream>>>(clock, v);
    EB_CUDA_LAUNCHED("eb_k_clock_add");
    return EB_OK;
}
