/* The fused MALA step on the GPU (DESIGN.md §3): one kernel for the proposal, one for both log q terms and
 * the accept/reject with the in-place copy; one thread per chain, Philox counters as the CPU reference. */
#include "cuda_ops.cuh"
#include "cuda_philox.cuh"

static __global__ void eb_k_mala_propose(const eb_real *z, const eb_real *grad, eb_real *zp, size_t n, size_t dim,
                                         double alpha, eb_rng_pos pos) {
    const uint64_t seed = pos.seed, base = eb_cuda_rng_base(pos);
    const double s = sqrt(2.0 * alpha);
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n * dim; i += (size_t)gridDim.x * blockDim.x) {
        size_t c = i / dim, j = i % dim;
        double xi = eb_philox_normal(seed, base + c * (dim + 1) + j);
        zp[i] = (eb_real)((double)z[i] - alpha * (double)grad[i] + s * xi);
    }
}

static __global__ void eb_k_mala_accept(eb_real *z, eb_real *e, eb_real *g, const eb_real *zp, const eb_real *ep,
                                        const eb_real *gp, size_t n, size_t dim, double a, int ula, eb_rng_pos pos,
                                        eb_real *accepted) {
    const uint64_t seed = pos.seed, base = eb_cuda_rng_base(pos);
    for (size_t c = (size_t)blockIdx.x * blockDim.x + threadIdx.x; c < n; c += (size_t)gridDim.x * blockDim.x) {
        const eb_real *zc = z + c * dim, *pc = zp + c * dim, *gc = g + c * dim, *qc = gp + c * dim;
        bool take = true;
        if (!ula) {
            double fwd = 0, bwd = 0;
            for (size_t j = 0; j < dim; j++) {
                double f = (double)pc[j] - (double)zc[j] + a * (double)gc[j];
                double b = (double)zc[j] - (double)pc[j] + a * (double)qc[j];
                fwd += f * f;
                bwd += b * b;
            }
            double log_gamma = -(double)ep[c] + (double)e[c] + (fwd - bwd) / (4 * a);
            double u = eb_philox_uniform53(seed, base + c * (dim + 1) + dim);
            take = log_gamma >= 0 ? log(u) < 0 : log(u) < log_gamma; /* NaN rejects (cpu_mala.c) */
        }
        if (!take) continue;
        for (size_t j = 0; j < dim; j++) {
            z[c * dim + j] = pc[j];
            g[c * dim + j] = qc[j];
        }
        e[c] = ep[c];
        if (accepted) accepted[c] += 1;
    }
}

eb_status eb_cuda_mala_propose(void *ctx, const eb_real *z, const eb_real *grad, eb_real *z_prop, size_t n,
                               size_t dim, eb_real alpha, eb_rng_pos base) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (!(alpha > 0)) return EB_FAIL(EB_ERR_ARG, "mala_propose: step size alpha must be > 0, got %g", (double)alpha);
    if (n * dim == 0) return EB_OK;
    eb_k_mala_propose<<<eb_cuda_grid(c, n * dim), EB_CUDA_THREADS, 0, c->stream>>>(z, grad, z_prop, n, dim,
                                                                                  (double)alpha, base);
    EB_CUDA_LAUNCHED("eb_k_mala_propose");
    return EB_OK;
}

eb_status eb_cuda_mala_accept(void *ctx, eb_real *z, eb_real *e, eb_real *g, const eb_real *z_prop,
                              const eb_real *e_prop, const eb_real *g_prop, size_t n, size_t dim, eb_real alpha,
                              int ula, eb_rng_pos base, eb_real *accepted) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (!(alpha > 0)) return EB_FAIL(EB_ERR_ARG, "mala_accept: step size alpha must be > 0, got %g", (double)alpha);
    if (n == 0) return EB_OK;
    eb_k_mala_accept<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(z, e, g, z_prop, e_prop, g_prop, n, dim,
                                                                           (double)alpha, ula, base, accepted);
    EB_CUDA_LAUNCHED("eb_k_mala_accept");
    return EB_OK;
}
