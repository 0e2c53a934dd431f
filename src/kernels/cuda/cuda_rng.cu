/* Random numbers on the CUDA backend: Philox4x32-10 with exactly the mapping of src/host/core/rng.c
 * (key = seed, counter = (index lo, index hi, 0, 0), one block per element), so the integer stream is
 * bit-identical to the CPU's; uniforms match exactly, normals up to the last float rounding. */
#include "cuda_ops.cuh"

#include "cuda_philox.cuh"

/* U[0, 1): the top 24 bits of the 53-bit CPU value, i.e. (w0 >> 8) 2^-24, exact in float. */
static __global__ void eb_k_rng_uniform(eb_real *x, size_t n, uint64_t seed, uint64_t offset) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint32_t w0, w1;
        eb_philox_block(seed, offset + i, &w0, &w1);
        x[i] = (float)(w0 >> 8) * 0x1p-24f;
    }
}

/* N(0, 1): Box-Muller, cosine branch, in double as the CPU: u1 = (w0 + 1) 2^-32 in (0, 1], u2 = w1 2^-32. */
static __global__ void eb_k_rng_normal(eb_real *x, size_t n, uint64_t seed, uint64_t offset) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        uint32_t w0, w1;
        eb_philox_block(seed, offset + i, &w0, &w1);
        const double u1 = ((double)w0 + 1.0) * 0x1p-32;
        const double u2 = (double)w1 * 0x1p-32;
        x[i] = (eb_real)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
}

eb_status eb_cuda_rng_normal(void *ctx, eb_real *x, size_t n, uint64_t seed, uint64_t offset) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0) return EB_OK;
    eb_k_rng_normal<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(x, n, seed, offset);
    EB_CUDA_LAUNCHED("eb_k_rng_normal");
    return EB_OK;
}

eb_status eb_cuda_rng_uniform(void *ctx, eb_real *x, size_t n, uint64_t seed, uint64_t offset) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0) return EB_OK;
    eb_k_rng_uniform<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(x, n, seed, offset);
    EB_CUDA_LAUNCHED("eb_k_rng_uniform");
    return EB_OK;
}
