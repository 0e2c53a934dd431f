/* VERA's entropy-gradient ops on the GPU (ops.h, DESIGN.md §6), the CPU reference's arithmetic (cpu_vera.c):
 * the output noise elementwise, the score one block per sample, the parameter gradients as block sums. */
#include "cuda_reduce.cuh"

/* The most importance samples: their log-weights sit in shared memory, one double each. */
#define EB_VERA_MAX_K 4096

__device__ __forceinline__ double eb_vera_sigma(const eb_real *log_sigma, double lo, double hi) {
    double s = (double)*log_sigma;
    return exp(s < lo ? lo : s > hi ? hi : s);
}

static __global__ void eb_k_vera_noise(eb_real *x, const eb_real *eps, const eb_real *log_sigma, double lo, double hi,
                                       size_t n) {
    const double sg = eb_vera_sigma(log_sigma, lo, hi);
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] = (eb_real)((double)x[i] + sg * (double)eps[i]);
}

static __global__ void eb_k_vera_post_sample(const eb_real *z0, const eb_real *eps, const eb_real *log_eta, size_t n,
                                             size_t k, size_t zd, eb_real *zk) {
    for (size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x; t < k * n * zd; t += (size_t)gridDim.x * blockDim.x) {
        const size_t r = t / zd, j = t % zd;
        zk[t] = (eb_real)((double)z0[(r % n) * zd + j] + exp((double)log_eta[j]) * (double)eps[t]);
    }
}

/* One block per sample: the k log-weights by block sums into shared memory, then the weighted residual. */
static __global__ void eb_k_vera_score(const eb_real *x, const eb_real *g, const eb_real *zk, const eb_real *z0,
                                       const eb_real *log_eta, const eb_real *log_sigma, double lo, double hi,
                                       size_t n, size_t k, size_t xd, size_t zd, eb_real *c) {
    extern __shared__ double s_lw[];
    const double sg = eb_vera_sigma(log_sigma, lo, hi), inv_s2 = 1.0 / (sg * sg);
    for (size_t i = blockIdx.x; i < n; i += gridDim.x) {
        for (size_t s = 0; s < k; s++) {
            const eb_real *gr = g + (s * n + i) * xd, *zr = zk + (s * n + i) * zd, *zc = z0 + i * zd;
            double part = 0;
            for (size_t j = threadIdx.x; j < xd; j += blockDim.x) {
                double d = (double)x[i * xd + j] - (double)gr[j];
                part -= 0.5 * d * d * inv_s2;
            }
            for (size_t j = threadIdx.x; j < zd; j += blockDim.x) {
                double e = ((double)zr[j] - (double)zc[j]) / exp((double)log_eta[j]);
                part += 0.5 * (e * e - (double)zr[j] * (double)zr[j]);
            }
            part = eb_block_sum_all(part);
            if (threadIdx.x == 0) s_lw[s] = part;
        }
        __syncthreads();
        double top = -INFINITY, tot = 0;
        for (size_t s = 0; s < k; s++) top = s_lw[s] > top ? s_lw[s] : top;
        for (size_t s = 0; s < k; s++) tot += exp(s_lw[s] - top);
        for (size_t j = threadIdx.x; j < xd; j += blockDim.x) {
            double acc = 0;
            for (size_t s = 0; s < k; s++)
                acc += exp(s_lw[s] - top) * ((double)x[i * xd + j] - (double)g[(s * n + i) * xd + j]);
            c[i * xd + j] = (eb_real)(acc / tot * inv_s2);
        }
        __syncthreads(); /* s_lw is the next sample's */
    }
}

/* One block. */
static __global__ void eb_k_vera_sigma_grad(const eb_real *dx, const eb_real *eps, const eb_real *log_sigma, double lo,
                                            double hi, size_t n, eb_real *grad) {
    double part = 0;
    for (size_t i = threadIdx.x; i < n; i += blockDim.x) part += (double)dx[i] * (double)eps[i];
    part = eb_block_sum(part);
    if (threadIdx.x != 0) return;
    const double s = (double)*log_sigma, d = eb_vera_sigma(log_sigma, lo, hi) * part;
    if ((s <= lo && d > 0) || (s >= hi && d < 0)) return; /* the clamp holds it (cpu_vera.c) */
    *grad = (eb_real)((double)*grad + d);
}

static __global__ void eb_k_vera_post_seed(const eb_real *x, const eb_real *g, const eb_real *log_sigma, double lo,
                                           double hi, size_t n, double scale, eb_real *dy) {
    const double sg = eb_vera_sigma(log_sigma, lo, hi), f = scale / (sg * sg);
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dy[i] = (eb_real)(f * ((double)g[i] - (double)x[i]));
}

/* One block per latent coordinate j. */
static __global__ void eb_k_vera_post_grad(const eb_real *dz, const eb_real *z, const eb_real *eps,
                                           const eb_real *log_eta, size_t n, size_t zd, double scale, eb_real *grad) {
    for (size_t j = blockIdx.x; j < zd; j += gridDim.x) {
        double part = 0;
        for (size_t i = threadIdx.x; i < n; i += blockDim.x)
            part += ((double)dz[i * zd + j] + scale * (double)z[i * zd + j]) * (double)eps[i * zd + j];
        part = eb_block_sum(part);
        if (threadIdx.x == 0) grad[j] = (eb_real)(exp((double)log_eta[j]) * part - 1.0);
        __syncthreads();
    }
}

eb_status eb_cuda_vera_noise(void *ctx, eb_real *x, const eb_real *eps, const eb_real *log_sigma, eb_real lo,
                             eb_real hi, size_t n) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0) return EB_OK;
    eb_k_vera_noise<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(x, eps, log_sigma, (double)lo, (double)hi, n);
    EB_CUDA_LAUNCHED("eb_k_vera_noise");
    return EB_OK;
}

eb_status eb_cuda_vera_post_sample(void *ctx, const eb_real *z0, const eb_real *eps, const eb_real *log_eta,
                                   size_t n, size_t k, size_t zd, eb_real *zk) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (k * n * zd == 0) return EB_OK;
    eb_k_vera_post_sample<<<eb_cuda_grid(c, k * n * zd), EB_CUDA_THREADS, 0, c->stream>>>(z0, eps, log_eta, n, k, zd, zk);
    EB_CUDA_LAUNCHED("eb_k_vera_post_sample");
    return EB_OK;
}

eb_status eb_cuda_vera_score(void *ctx, const eb_real *x, const eb_real *g, const eb_real *zk, const eb_real *z0,
                             const eb_real *log_eta, const eb_real *log_sigma, eb_real lo, eb_real hi, size_t n,
                             size_t k, size_t xd, size_t zd, eb_real *cout) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (k == 0) return EB_FAIL(EB_ERR_ARG, "vera_score: needs at least one importance sample");
    if (k > EB_VERA_MAX_K) return EB_FAIL(EB_ERR_ARG, "vera_score: %zu importance samples, at most %d", k, EB_VERA_MAX_K);
    if (n == 0) return EB_OK;
    const unsigned blocks = (unsigned)(n < 65535 ? n : 65535);
    eb_k_vera_score<<<blocks, EB_CUDA_THREADS, k * sizeof(double), c->stream>>>(x, g, zk, z0, log_eta, log_sigma,
                                                                              (double)lo, (double)hi, n, k, xd, zd, cout);
    EB_CUDA_LAUNCHED("eb_k_vera_score");
    return EB_OK;
}

eb_status eb_cuda_vera_sigma_grad(void *ctx, const eb_real *dx, const eb_real *eps, const eb_real *log_sigma,
                                  eb_real lo, eb_real hi, size_t n, eb_real *grad) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    eb_k_vera_sigma_grad<<<1, EB_CUDA_THREADS, 0, c->stream>>>(dx, eps, log_sigma, (double)lo, (double)hi, n, grad);
    EB_CUDA_LAUNCHED("eb_k_vera_sigma_grad");
    return EB_OK;
}

eb_status eb_cuda_vera_post_seed(void *ctx, const eb_real *x, const eb_real *g, const eb_real *log_sigma, eb_real lo,
                                 eb_real hi, size_t n, eb_real scale, eb_real *dy) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0) return EB_OK;
    eb_k_vera_post_seed<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(x, g, log_sigma, (double)lo, (double)hi,
                                                                              n, (double)scale, dy);
    EB_CUDA_LAUNCHED("eb_k_vera_post_seed");
    return EB_OK;
}

eb_status eb_cuda_vera_post_grad(void *ctx, const eb_real *dz, const eb_real *z, const eb_real *eps,
                                 const eb_real *log_eta, size_t n, size_t zd, eb_real scale, eb_real *grad) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (zd == 0) return EB_OK;
    const unsigned blocks = (unsigned)(zd < 65535 ? zd : 65535);
    eb_k_vera_post_grad<<<blocks, EB_CUDA_THREADS, 0, c->stream>>>(dz, z, eps, log_eta, n, zd, (double)scale, grad);
    EB_CUDA_LAUNCHED("eb_k_vera_post_grad");
    return EB_OK;
}
