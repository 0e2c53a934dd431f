/* Loss seeds on the CUDA backend, each one fused launch: BCE with logits (loss + gradient), squared
 * difference, and the gradient penalty (row norms + seed gbar + loss, DESIGN.md §2 step 3). Losses add
 * to a device scalar through the deterministic grid finish of cuda_reduce.cuh (no float atomics). */
#include "cuda_reduce.cuh"

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
        double coef;
        if (k == EB_PENALTY_SCORE) {
            p += sq;
            coef = 2.0 * lam_b;
        } else {
            const double norm = sqrt(sq);
            p += (norm - 1.0) * (norm - 1.0);
            coef = norm > 0.0 ? 2.0 * lam_b * (norm - 1.0) / norm : 0.0; /* g_r = 0: gbar_r = 0 (ops.h) */
        }
        const float cf = (float)coef;
        for (size_t j = threadIdx.x; j < cols; j += blockDim.x) br[j] = cf * gr[j];
    }
    if (!loss_dev) return;
    eb_grid_finish(p, partials, counter, loss_dev, lam_b, (eb_real)1);
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
