/* Batch norm over the channels of x[n, c, hw] on the CUDA backend, PyTorch semantics as the CPU reference
 * (cpu_batchnorm.c): biased variance normalises, unbiased enters running_var, run = (1-m) run + m batch.
 * One block per channel; per-channel sums in double with a fixed tree (deterministic). */
#include "cuda_reduce.cuh"

/* Element j of channel ch, j in [0, n*hw): sample j / hw, position j % hw. */
__device__ __forceinline__ size_t eb_bn_index(size_t j, int ch, int c, int hw) {
    const size_t i = j / (size_t)hw, p = j - i * (size_t)hw;
    return (i * (size_t)c + (size_t)ch) * (size_t)hw + p;
}

/* acc = v + beta_acc * acc (beta_acc == 0 overwrites). */
__device__ __forceinline__ eb_real eb_bn_accumulate(double v, eb_real beta_acc, eb_real acc) {
    return (eb_real)(beta_acc != (eb_real)0 ? v + (double)beta_acc * (double)acc : v);
}

static __global__ void eb_k_bn_forward_train(const eb_real *x, const eb_real *gamma, const eb_real *beta, eb_real *y,
                                             eb_real *save_mean, eb_real *save_invstd, eb_real *run_mean,
                                             eb_real *run_var, eb_real momentum, eb_real eps, int n, int c, int hw) {
    const size_t m = (size_t)n * (size_t)hw;
    for (int ch = blockIdx.x; ch < c; ch += gridDim.x) {
        double s = 0.0;
        for (size_t j = threadIdx.x; j < m; j += blockDim.x) s += (double)x[eb_bn_index(j, ch, c, hw)];
        const double mean = eb_block_sum_all(s) / (double)m;
        double ss = 0.0; /* two-pass variance: no cancellation for large means */
        for (size_t j = threadIdx.x; j < m; j += blockDim.x) {
            const double d = (double)x[eb_bn_index(j, ch, c, hw)] - mean;
            ss += d * d;
        }
        ss = eb_block_sum_all(ss);
        const double invstd = 1.0 / sqrt(ss / (double)m + (double)eps);
        const double g = gamma ? (double)gamma[ch] : 1.0;
        const float k = (float)(g * invstd), b = beta ? beta[ch] : 0.0f, mf = (float)mean;
        for (size_t j = threadIdx.x; j < m; j += blockDim.x) {
            const size_t at = eb_bn_index(j, ch, c, hw);
            y[at] = k * (x[at] - mf) + b;
        }
        if (threadIdx.x == 0) {
            const double mom = (double)momentum;
            if (save_mean) save_mean[ch] = (eb_real)mean;
            if (save_invstd) save_invstd[ch] = (eb_real)invstd;
            if (run_mean) run_mean[ch] = (eb_real)((1.0 - mom) * (double)run_mean[ch] + mom * mean);
            if (run_var) run_var[ch] = (eb_real)((1.0 - mom) * (double)run_var[ch] + mom * ss / ((double)m - 1.0));
        }
    }
}

static __global__ void eb_k_bn_forward_infer(const eb_real *x, const eb_real *gamma, const eb_real *beta,
                                             const eb_real *run_mean, const eb_real *run_var, eb_real eps, eb_real *y,
                                             size_t total, int c, int hw) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const int ch = (int)((i / (size_t)hw) % (size_t)c);
        const double invstd = 1.0 / sqrt((double)run_var[ch] + (double)eps);
        const float k = (float)((gamma ? (double)gamma[ch] : 1.0) * invstd);
        y[i] = k * (x[i] - run_mean[ch]) + (beta ? beta[ch] : 0.0f);
    }
}

/* out = k (v - mean(v) - xhat mean(v xhat)), the batch-statistics Jacobian shared by the backward and the
 * tangent; also dgamma = sum v xhat, dbeta = sum v (each may be NULL) for the backward. */
static __global__ void eb_k_bn_jacobian(const eb_real *x, const eb_real *v, const eb_real *gamma,
                                        const eb_real *save_mean, const eb_real *save_invstd, eb_real *out,
                                        eb_real *dgamma, eb_real *dbeta, eb_real beta_acc, int n, int c, int hw) {
    const size_t m = (size_t)n * (size_t)hw;
    for (int ch = blockIdx.x; ch < c; ch += gridDim.x) {
        const float mean = save_mean[ch], invstd = save_invstd[ch];
        double s = 0.0, sx = 0.0;
        for (size_t j = threadIdx.x; j < m; j += blockDim.x) {
            const size_t at = eb_bn_index(j, ch, c, hw);
            const double vv = (double)v[at];
            s += vv;
            sx += vv * (((double)x[at] - (double)mean) * (double)invstd);
        }
        s = eb_block_sum_all(s);
        sx = eb_block_sum_all(sx);
        if (threadIdx.x == 0) {
            if (dgamma) dgamma[ch] = eb_bn_accumulate(sx, beta_acc, dgamma[ch]);
            if (dbeta) dbeta[ch] = eb_bn_accumulate(s, beta_acc, dbeta[ch]);
        }
        if (out) {
            const float k = (float)((gamma ? (double)gamma[ch] : 1.0) * (double)invstd);
            const float mv = (float)(s / (double)m), mvx = (float)(sx / (double)m);
            for (size_t j = threadIdx.x; j < m; j += blockDim.x) {
                const size_t at = eb_bn_index(j, ch, c, hw);
                const float xhat = (x[at] - mean) * invstd;
                out[at] = k * (v[at] - mv - xhat * mvx);
            }
        }
    }
}

/* Inference backward: dx = gamma invstd dy (may be NULL); dgamma = sum dy xhat, dbeta = sum dy with the
 * running statistics (each may be NULL). */
static __global__ void eb_k_bn_backward_infer(const eb_real *x, const eb_real *dy, const eb_real *gamma,
                                              const eb_real *run_mean, const eb_real *run_var, eb_real eps,
                                              eb_real *dx, eb_real *dgamma, eb_real *dbeta, eb_real beta_acc, int n,
                                              int c, int hw) {
    const size_t m = (size_t)n * (size_t)hw;
    for (int ch = blockIdx.x; ch < c; ch += gridDim.x) {
        const double mean = (double)run_mean[ch];
        const double invstd = 1.0 / sqrt((double)run_var[ch] + (double)eps);
        if (dgamma || dbeta) {
            double s = 0.0, sx = 0.0;
            for (size_t j = threadIdx.x; j < m; j += blockDim.x) {
                const size_t at = eb_bn_index(j, ch, c, hw);
                const double d = (double)dy[at];
                s += d;
                sx += d * (((double)x[at] - mean) * invstd);
            }
            s = eb_block_sum_all(s);
            sx = eb_block_sum_all(sx);
            if (threadIdx.x == 0) {
                if (dgamma) dgamma[ch] = eb_bn_accumulate(sx, beta_acc, dgamma[ch]);
                if (dbeta) dbeta[ch] = eb_bn_accumulate(s, beta_acc, dbeta[ch]);
            }
        }
        if (dx) {
            const float k = (float)((gamma ? (double)gamma[ch] : 1.0) * invstd);
            for (size_t j = threadIdx.x; j < m; j += blockDim.x) {
                const size_t at = eb_bn_index(j, ch, c, hw);
                dx[at] = k * dy[at];
            }
        }
    }
}

static eb_status eb_bn_check(const char *op, int n, int c, int hw) {
    if (n <= 0 || c <= 0 || hw <= 0) return EB_FAIL(EB_ERR_ARG, "%s: bad shape n=%d c=%d hw=%d", op, n, c, hw);
    return EB_OK;
}

static inline unsigned eb_bn_grid(int c) { return (unsigned)(c < 65535 ? c : 65535); }

eb_status eb_cuda_bn_forward_train(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta, eb_real *y,
                                   eb_real *save_mean, eb_real *save_invstd, eb_real *run_mean, eb_real *run_var,
                                   eb_real momentum, eb_real eps, int n, int c, int hw) {
    eb_cuda_ctx *cx = (eb_cuda_ctx *)ctx;
    EB_TRY(eb_bn_check("bn_forward_train", n, c, hw));
    if ((double)n * (double)hw < 2) /* the unbiased variance of one value is undefined (PyTorch refuses too) */
        return EB_FAIL(EB_ERR_ARG, "bn_forward_train: need more than 1 value per channel (n=%d, hw=%d)", n, hw);
    eb_k_bn_forward_train<<<eb_bn_grid(c), EB_CUDA_THREADS, 0, cx->stream>>>(
        x, gamma, beta, y, save_mean, save_invstd, run_mean, run_var, momentum, eps, n, c, hw);
    EB_CUDA_LAUNCHED("eb_k_bn_forward_train");
    return EB_OK;
}

eb_status eb_cuda_bn_forward_infer(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta,
                                   const eb_real *run_mean, const eb_real *run_var, eb_real eps, eb_real *y, int n,
                                   int c, int hw) {
    eb_cuda_ctx *cx = (eb_cuda_ctx *)ctx;
    EB_TRY(eb_bn_check("bn_forward_infer", n, c, hw));
    const size_t total = (size_t)n * c * hw;
    eb_k_bn_forward_infer<<<eb_cuda_grid(cx, total), EB_CUDA_THREADS, 0, cx->stream>>>(x, gamma, beta, run_mean,
                                                                                      run_var, eps, y, total, c, hw);
    EB_CUDA_LAUNCHED("eb_k_bn_forward_infer");
    return EB_OK;
}

eb_status eb_cuda_bn_backward_train(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma,
                                    const eb_real *save_mean, const eb_real *save_invstd, eb_real *dx,
                                    eb_real *dgamma, eb_real *dbeta, eb_real beta_acc, int n, int c, int hw) {
    eb_cuda_ctx *cx = (eb_cuda_ctx *)ctx;
    EB_TRY(eb_bn_check("bn_backward_train", n, c, hw));
    eb_k_bn_jacobian<<<eb_bn_grid(c), EB_CUDA_THREADS, 0, cx->stream>>>(x, dy, gamma, save_mean, save_invstd, dx,
                                                                       dgamma, dbeta, beta_acc, n, c, hw);
    EB_CUDA_LAUNCHED("eb_k_bn_jacobian (backward)");
    return EB_OK;
}

eb_status eb_cuda_bn_tangent_train(void *ctx, const eb_real *x, const eb_real *tx, const eb_real *gamma,
                                   const eb_real *save_mean, const eb_real *save_invstd, eb_real *ty, int n, int c,
                                   int hw) {
    eb_cuda_ctx *cx = (eb_cuda_ctx *)ctx;
    EB_TRY(eb_bn_check("bn_tangent_train", n, c, hw));
    eb_k_bn_jacobian<<<eb_bn_grid(c), EB_CUDA_THREADS, 0, cx->stream>>>(x, tx, gamma, save_mean, save_invstd, ty,
                                                                       NULL, NULL, (eb_real)0, n, c, hw);
    EB_CUDA_LAUNCHED("eb_k_bn_jacobian (tangent)");
    return EB_OK;
}

eb_status eb_cuda_bn_backward_infer(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma,
                                    const eb_real *run_mean, const eb_real *run_var, eb_real eps, eb_real *dx,
                                    eb_real *dgamma, eb_real *dbeta, eb_real beta_acc, int n, int c, int hw) {
    eb_cuda_ctx *cx = (eb_cuda_ctx *)ctx;
    EB_TRY(eb_bn_check("bn_backward_infer", n, c, hw));
    eb_k_bn_backward_infer<<<eb_bn_grid(c), EB_CUDA_THREADS, 0, cx->stream>>>(
        x, dy, gamma, run_mean, run_var, eps, dx, dgamma, dbeta, beta_acc, n, c, hw);
    EB_CUDA_LAUNCHED("eb_k_bn_backward_infer");
    return EB_OK;
}
