/* Optimiser updates on the CUDA backend: one grid-stride launch over a net's flat parameter buffer.
 * Adam follows torch.optim.Adam as the CPU reference (cpu_optim.c); bias corrections come from the caller. */
#include "cuda_ops.cuh"

/* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= step * m / (sqrt(v) / sqrt_bc2 + eps), step = lr / bc1. */
static __global__ void eb_k_adam(eb_real *p, const eb_real *g, eb_real *m, eb_real *v, size_t n, float step,
                                 float b1, float b2, float eps, float inv_sqrt_bc2) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float gi = g[i];
        const float mi = b1 * m[i] + (1.0f - b1) * gi;
        const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= step * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}

static __global__ void eb_k_sgd(eb_real *p, const eb_real *g, size_t n, float lr) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] -= lr * g[i];
}

eb_status eb_cuda_adam_update(void *ctx, eb_real *p, const eb_real *g, eb_real *m, eb_real *v, size_t n, eb_real lr,
                              eb_real b1, eb_real b2, eb_real eps, eb_real bc1, eb_real bc2) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (!(bc1 > 0) || !(bc2 > 0))
        return EB_FAIL(EB_ERR_ARG, "adam_update: bias corrections must be > 0 (bc1=%g, bc2=%g)", (double)bc1,
                       (double)bc2);
    if (n == 0) return EB_OK;
    const float step = (float)((double)lr / (double)bc1), inv_sqrt_bc2 = (float)(1.0 / sqrt((double)bc2));
    eb_k_adam<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(p, g, m, v, n, step, b1, b2, eps, inv_sqrt_bc2);
    EB_CUDA_LAUNCHED("eb_k_adam");
    return EB_OK;
}

eb_status eb_cuda_sgd_update(void *ctx, eb_real *p, const eb_real *g, size_t n, eb_real lr) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0) return EB_OK;
    eb_k_sgd<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(p, g, n, lr);
    EB_CUDA_LAUNCHED("eb_k_sgd");
    return EB_OK;
}
