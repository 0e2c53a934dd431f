/* Synchronised batch norm's pieces on the CUDA backend, as the CPU reference (cpu_bn_global.c): per-channel
 * sums (one block per channel, double, fixed tree) and elementwise forward / backward from global statistics. */
#include "cuda_reduce.cuh"

__device__ __forceinline__ size_t eb_bng_index(size_t j, int ch, int c, int hw) {
    const size_t i = j / (size_t)hw, p = j - i * (size_t)hw;
    return (i * (size_t)c + (size_t)ch) * (size_t)hw + p;
}

static __global__ void eb_k_bn_channel_sums(const eb_real *x, const eb_real *center, eb_real *out, int n, int c,
                                            int hw) {
    const size_t m = (size_t)n * (size_t)hw;
    for (int ch = blockIdx.x; ch < c; ch += gridDim.x) {
        const double mu = center ? (double)center[ch] : 0.0;
        double s = 0.0;
        for (size_t j = threadIdx.x; j < m; j += blockDim.x) {
            const double v = (double)x[eb_bng_index(j, ch, c, hw)];
            s += center ? (v - mu) * (v - mu) : v;
        }
        s = eb_block_sum_all(s);
        if (threadIdx.x == 0) out[ch] = (eb_real)s;
    }
}

static __global__ void eb_k_bn_forward_global(const eb_real *x, const eb_real *gamma, const eb_real *beta, eb_real *y,
                                              const eb_real *mean, const eb_real *sumsq, double count, eb_real eps,
                                              size_t total, int c, int hw) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const int ch = (int)((i / (size_t)hw) % (size_t)c);
        const double invstd = 1.0 / sqrt((double)sumsq[ch] / count + (double)eps);
        const float k = (float)((gamma ? (double)gamma[ch] : 1.0) * invstd);
        y[i] = k * (x[i] - mean[ch]) + (beta ? beta[ch] : 0.0f);
    }
}

/* The per-channel state after the forward (separate launch: the forward kernel reads sumsq while running). */
static __global__ void eb_k_bn_global_stats(const eb_real *mean, const eb_real *sumsq, double count,
                                            eb_real *save_invstd, eb_real *run_mean, eb_real *run_var,
                                            eb_real momentum, eb_real eps, int c) {
    for (int ch = blockIdx.x * blockDim.x + threadIdx.x; ch < c; ch += gridDim.x * blockDim.x) {
        const double ss = (double)sumsq[ch], mom = (double)momentum;
        save_invstd[ch] = (eb_real)(1.0 / sqrt(ss / count + (double)eps));
        if (run_mean) run_mean[ch] = (eb_real)((1.0 - mom) * (double)run_mean[ch] + mom * (double)mean[ch]);
        if (run_var) run_var[ch] = (eb_real)((1.0 - mom) * (double)run_var[ch] + mom * ss / (count - 1.0));
    }
}

static __global__ void eb_k_bn_backward_global(const eb_real *x, const eb_real *dy, const eb_real *gamma,
                                               const eb_real *save_mean, const eb_real *save_invstd,
                                               const eb_real *sums, double count, eb_real *dx, size_t total, int c,
                                               int hw) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const int ch = (int)((i / (size_t)hw) % (size_t)c);
        const float invstd = save_invstd[ch];
        const float k = (gamma ? gamma[ch] : 1.0f) * invstd;
        const float mvx = (float)((double)sums[ch] / count), mv = (float)((double)sums[c + ch] / count);
        const float xhat = (x[i] - save_mean[ch]) * invstd;
        dx[i] = k * (dy[i] - mv - xhat * mvx);
    }
}

static eb_status eb_bng_check(const char *op, int n, int c, int hw) {
    if (n <= 0 || c <= 0 || hw <= 0) return EB_FAIL(EB_ERR_ARG, "%s: bad shape n=%d c=%d hw=%d", op, n, c, hw);
    return EB_OK;
}

eb_status eb_cuda_bn_channel_sums(void *ctx, const eb_real *x, const eb_real *center, eb_real *out, int n, int c,
                                  int hw) {
    eb_cuda_ctx *cx = (eb_cuda_ctx *)ctx;
    EB_TRY(eb_bng_check("bn_channel_sums", n, c, hw));
    eb_k_bn_channel_sums<<<(unsigned)(c < 65535 ? c : 65535), EB_CUDA_THREADS, 0, cx->stream>>>(x, center, out, n, c,
                                                                                                hw);
    EB_CUDA_LAUNCHED("eb_k_bn_channel_sums");
    return EB_OK;
}

eb_status eb_cuda_bn_forward_global(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta, eb_real *y,
                                    const eb_real *mean, const eb_real *sumsq, double count, eb_real *save_invstd,
                                    eb_real *run_mean, eb_real *run_var, eb_real momentum, eb_real eps, int n, int c,
                                    int hw) {
    eb_cuda_ctx *cx = (eb_cuda_ctx *)ctx;
    EB_TRY(eb_bng_check("bn_forward_global", n, c, hw));
    if (count < 2) return EB_FAIL(EB_ERR_ARG, "bn_forward_global: need more than 1 value per channel (count %g)", count);
    const size_t total = (size_t)n * c * hw;
    eb_k_bn_forward_global<<<eb_cuda_grid(cx, total), EB_CUDA_THREADS, 0, cx->stream>>>(x, gamma, beta, y, mean, sumsq,
                                                                                       count, eps, total, c, hw);
    EB_CUDA_LAUNCHED("eb_k_bn_forward_global");
    eb_k_bn_global_stats<<<eb_cuda_grid(cx, (size_t)c), EB_CUDA_THREADS, 0, cx->stream>>>(
        mean, sumsq, count, save_invstd, run_mean, run_var, momentum, eps, c);
    EB_CUDA_LAUNCHED("eb_k_bn_global_stats");
    return EB_OK;
}

eb_status eb_cuda_bn_backward_global(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma,
                                     const eb_real *save_mean, const eb_real *save_invstd, const eb_real *sums,
                                     double count, eb_real *dx, int n, int c, int hw) {
    eb_cuda_ctx *cx = (eb_cuda_ctx *)ctx;
    EB_TRY(eb_bng_check("bn_backward_global", n, c, hw));
    const size_t total = (size_t)n * c * hw;
    eb_k_bn_backward_global<<<eb_cuda_grid(cx, total), EB_CUDA_THREADS, 0, cx->stream>>>(
        x, dy, gamma, save_mean, save_invstd, sums, count, dx, total, c, hw);
    EB_CUDA_LAUNCHED("eb_k_bn_backward_global");
    return EB_OK;
}
