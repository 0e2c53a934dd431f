/* Loss seeds on the CUDA backend, each one fused launch: BCE with logits (loss + gradient), squared
 * difference, the gradient penalty (row norms + seed gbar + loss, DESIGN.md §2 step 3) and softmax
 * cross-entropy (a warp per row; the evaluation classifier has k = 10 classes). Losses add
 * to a device scalar through the deterministic grid finish of cuda_reduce.cuh (no float atomics). */
#include "cuda_reduce.cuh"
#include "kernels/penalty_row.h"

__device__ __forceinline__ float eb_loss_sigmoid(float a) {
    if (a >= 0.0f) return 1.0f / (1.0f + expf(-a));
    const float e = expf(a);
    return e / (1.0f + e);
}

/* loss += scale * sum [max(l, 0) - l t + log1p(e^-|l|)] (finite for any l); dlogit = scale (s(l) - t). */
static __global__ void eb_k_bce_logits(const eb_real *logit, eb_real target, size_t n, eb_real scale,
                                       eb_real *loss_dev, eb_real *dlogit, double *partials, unsigned int *counter) {
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const float l = logit[i];
        s += (double)(fmaxf(l, 0.0f) - l * target + log1pf(expf(-fabsf(l))));
        if (dlogit) dlogit[i] = scale * (eb_loss_sigmoid(l) - target);
    }
    if (!loss_dev) return;
    s = eb_block_sum(s);
    eb_grid_finish(s, partials, counter, loss_dev, (double)scale, (eb_real)1);
}

/* loss += scale * sum (a - b)^2; da = 2 scale (a - b). */
static __global__ void eb_k_sqdiff(const eb_real *a, const eb_real *b, size_t n, eb_real scale, eb_real *loss_dev,
                                   eb_real *da, double *partials, unsigned int *counter) {
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const double d = (double)a[i] - (double)b[i];
        s += d * d;
        if (da) da[i] = (eb_real)(2.0 * (double)scale * d);
    }
    if (!loss_dev) return;
    s = eb_block_sum(s);
    eb_grid_finish(s, partials, counter, loss_dev, (double)scale, (eb_real)1);
}

/* One block per row (grid-stride over rows): ||g_r||^2 by a block sum, gbar_r = coef g_r, the row's penalty
 * term into the block partial; the grid finish adds (lambda / rows) * sum to loss_dev. */
static __global__ void eb_k_penalty_seed(eb_penalty_kind k, const eb_real *g, size_t rows, size_t cols,
                                         double lam_b, eb_real *gbar, eb_real *loss_dev, double *partials,
                                         unsigned int *counter) {
    double p = 0.0; /* identical in every thread (block_sum_all broadcasts) */
    for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const eb_real *gr = g + r * cols;
        eb_real *br = gbar + r * cols;
        double sq = 0.0;
        for (size_t j = threadIdx.x; j < cols; j += blockDim.x) sq += (double)gr[j] * (double)gr[j];
        sq = eb_block_sum_all(sq);
        const double coef = eb_penalty_row(k == EB_PENALTY_SCORE, sq, lam_b, &p);
        const float cf = (float)coef;
        for (size_t j = threadIdx.x; j < cols; j += blockDim.x) br[j] = cf * gr[j];
    }
    if (!loss_dev) return;
    eb_grid_finish(p, partials, counter, loss_dev, lam_b, (eb_real)1);
}

/* Rows per block of the softmax cross-entropy: one warp per row (k is small, 10 for the classifier). */
#define EB_XENT_WARPS (EB_CUDA_THREADS / 32)

/* A warp per row (grid-stride over rows): row max by shuffles (max is exact, any order), sum se of e^{l - m}
 * in double by the fixed shuffle tree, broadcast from lane 0; dlogit = scale (e^{l - m} / se - onehot);
 * lane 0 holds the row's term, the block sum and the grid finish add scale * sum to loss_dev. The tree
 * depends on (rows, k) only: deterministic. */
static __global__ void eb_k_softmax_xent(const eb_real *logits, const int32_t *labels, size_t rows, size_t k,
                                         eb_real scale, eb_real *loss_dev, eb_real *dlogit, double *partials,
                                         unsigned int *counter) {
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    double s = 0.0; /* lane 0 of each warp: the sum of its rows' terms */
    for (size_t r = (size_t)blockIdx.x * EB_XENT_WARPS + warp; r < rows; r += (size_t)gridDim.x * EB_XENT_WARPS) {
        const eb_real *l = logits + r * k;
        float m = -INFINITY;
        for (size_t j = lane; j < k; j += 32) m = fmaxf(m, l[j]);
        for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
        double se = 0.0;
        for (size_t j = lane; j < k; j += 32) se += (double)expf(l[j] - m);
        se = __shfl_sync(0xffffffffu, eb_warp_sum(se), 0);
        const double lse = (double)m + log(se);
        const int32_t y = labels[r];
        const int valid = y >= 0 && (size_t)y < k;
        if (dlogit) {
            /* softmax as e^{l - m} / se, not e^{l - lse}: l - m is exact for nearby floats, whereas a float lse
             * near |l| = 1000 would carry a rounding of 3e-5 into every probability */
            eb_real *d = dlogit + r * k;
            const float inv_se = (float)(1.0 / se);
            for (size_t j = lane; j < k; j += 32)
                d[j] = scale * (expf(l[j] - m) * inv_se - ((size_t)y == j ? 1.0f : 0.0f));
        }
        /* a label outside [0, k) cannot be reported from here (ops.h): it poisons the loss instead */
        if (lane == 0) s += valid ? lse - (double)l[y] : (double)NAN;
    }
    if (!loss_dev) return;
    s = eb_block_sum(s);
    eb_grid_finish(s, partials, counter, loss_dev, (double)scale, (eb_real)1);
}

eb_status eb_cuda_bce_logits(void *ctx, const eb_real *logit, eb_real target, size_t n, eb_real scale,
                             eb_real *loss_dev, eb_real *dlogit) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0 || (!loss_dev && !dlogit)) return EB_OK;
    eb_k_bce_logits<<<eb_cuda_red_grid(n), EB_CUDA_THREADS, 0, c->stream>>>(logit, target, n, scale, loss_dev, dlogit,
                                                                            c->partials, c->done_counter);
    EB_CUDA_LAUNCHED("eb_k_bce_logits");
    return EB_OK;
}

eb_status eb_cuda_sqdiff(void *ctx, const eb_real *a, const eb_real *b, size_t n, eb_real scale, eb_real *loss_dev,
                         eb_real *da) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0 || (!loss_dev && !da)) return EB_OK;
    eb_k_sqdiff<<<eb_cuda_red_grid(n), EB_CUDA_THREADS, 0, c->stream>>>(a, b, n, scale, loss_dev, da, c->partials,
                                                                        c->done_counter);
    EB_CUDA_LAUNCHED("eb_k_sqdiff");
    return EB_OK;
}

eb_status eb_cuda_penalty_seed(void *ctx, eb_penalty_kind k, const eb_real *g, size_t rows, size_t cols,
                               eb_real lambda, eb_real *gbar, eb_real *loss_dev) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (k != EB_PENALTY_SCORE && k != EB_PENALTY_WGAN_GP)
        return EB_FAIL(EB_ERR_ARG, "penalty_seed: kind %d is not a penalty (score or wgan-gp)", (int)k);
    if (rows == 0) return EB_OK;
    const unsigned grid = (unsigned)(rows < EB_CUDA_MAX_RED_BLOCKS ? rows : EB_CUDA_MAX_RED_BLOCKS);
    const double lam_b = (double)lambda / (double)rows;
    eb_k_penalty_seed<<<grid, EB_CUDA_THREADS, 0, c->stream>>>(k, g, rows, cols, lam_b, gbar, loss_dev, c->partials,
                                                               c->done_counter);
    EB_CUDA_LAUNCHED("eb_k_penalty_seed");
    return EB_OK;
}

eb_status eb_cuda_softmax_xent(void *ctx, const eb_real *logits, const int32_t *labels, size_t rows, size_t k,
                               eb_real scale, eb_real *loss_dev, eb_real *dlogit) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (rows == 0 || (!loss_dev && !dlogit)) return EB_OK;
    if (k == 0) return EB_FAIL(EB_ERR_ARG, "softmax_xent: %zu rows of 0 classes", rows);
    size_t blocks = (rows + EB_XENT_WARPS - 1) / EB_XENT_WARPS;
    if (blocks > EB_CUDA_MAX_RED_BLOCKS) blocks = EB_CUDA_MAX_RED_BLOCKS;
    eb_k_softmax_xent<<<(unsigned)blocks, EB_CUDA_THREADS, 0, c->stream>>>(logits, labels, rows, k, scale, loss_dev,
                                                                           dlogit, c->partials, c->done_counter);
    EB_CUDA_LAUNCHED("eb_k_softmax_xent");
    return EB_OK;
}
