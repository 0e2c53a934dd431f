/* Optimiser updates on the CUDA backend: one grid-stride launch over a net's flat parameter buffer.
 * Adam follows torch.optim.Adam as the CPU reference (cpu_optim.c); lr and bias corrections are read from
 * the device slot optim_hyper wrote, so a replayed CUDA graph follows the schedule (DESIGN.md §4). */
#include "cuda_ops.cuh"

/* One thread: hyper = {lr_s, 1 - b1^t, 1 - b2^t} in double from the clock, as cpu_optim.c. */
static __global__ void eb_k_optim_hyper(eb_real *hyper, double lr, double beta1, double beta2, const int64_t *clock,
                                        int64_t t_mul, int64_t t_add, int64_t decay_iters) {
    const int64_t s = clock ? *clock : 0;
    const double t = (double)(s * t_mul + t_add);
    hyper[0] = (eb_real)(decay_iters > 0 ? lr * (1.0 - (double)s / (double)decay_iters) : lr);
    hyper[1] = (eb_real)(1.0 - pow(beta1, t));
    hyper[2] = (eb_real)(1.0 - pow(beta2, t));
}

/* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= step * m / (sqrt(v) / sqrt_bc2 + eps), step = lr / bc1. */
static __global__ void eb_k_adam(eb_real *p, const eb_real *g, eb_real *m, eb_real *v, size_t n,
                                 const eb_real *hyper, float b1, float b2, float eps) {
    const float step = (float)((double)hyper[0] / (double)hyper[1]);
    const float inv_sqrt_bc2 = (float)(1.0 / sqrt((double)hyper[2]));
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float gi = g[i];
        const float mi = b1 * m[i] + (1.0f - b1) * gi;
        const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= step * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}

static __global__ void eb_k_sgd(eb_real *p, const eb_real *g, size_t n, const eb_real *hyper) {
    const float lr = hyper[0];
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] -= lr * g[i];
}

eb_status eb_cuda_optim_hyper(void *ctx, eb_real *hyper, const eb_optim_sched *sc) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (!sc->clock && !(sc->t_add >= 1))
        return EB_FAIL(EB_ERR_ARG, "optim_hyper: update number %lld must be >= 1", (long long)sc->t_add);
    eb_k_optim_hyper<<<1, 1, 0, c->stream>>>(hyper, sc->lr, sc->beta1, sc->beta2, sc->clock, sc->t_mul, sc->t_add,
                                            sc->decay_iters);
    EB_CUDA_LAUNCHED("eb_k_optim_hyper");
    return EB_OK;
}

eb_status eb_cuda_adam_update(void *ctx, eb_real *p, const eb_real *g, eb_real *m, eb_real *v, size_t n,
                              const eb_real *hyper, eb_real b1, eb_real b2, eb_real eps) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0) return EB_OK;
    eb_k_adam<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(p, g, m, v, n, hyper, b1, b2, eps);
    EB_CUDA_LAUNCHED("eb_k_adam");
    return EB_OK;
}

eb_status eb_cuda_sgd_update(void *ctx, eb_real *p, const eb_real *g, size_t n, const eb_real *hyper) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0) return EB_OK;
    eb_k_sgd<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(p, g, n, hyper);
    EB_CUDA_LAUNCHED("eb_k_sgd");
    return EB_OK;
}
