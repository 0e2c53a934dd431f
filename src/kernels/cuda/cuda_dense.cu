/* Dense layers on cuBLAS (row-major products expressed as column-major GEMMs, compute type from the
 * backend's precision) and the per-channel bias add / bias gradient kernels (dense: hw = 1; conv: NCHW). */
#include "cuda_reduce.cuh"

static cublasComputeType_t eb_gemm_compute(eb_cuda_precision p) {
    switch (p) {
    case EB_PRECISION_FP32: return CUBLAS_COMPUTE_32F;
    case EB_PRECISION_BF16: return CUBLAS_COMPUTE_32F_FAST_16BF;
    case EB_PRECISION_TF32:
    default: return CUBLAS_COMPUTE_32F_FAST_TF32;
    }
}

static __global__ void eb_k_scale(eb_real *x, eb_real beta, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] = beta == (eb_real)0 ? (eb_real)0 : beta * x[i];
}

/* Column-major C[m, n] = alpha * op(A) op(B) + beta * C, all float storage. An empty sum (k = 0) still
 * scales C by beta (cuBLAS would leave it to us). */
static eb_status eb_gemm(eb_cuda_ctx *c, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                         float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (m <= 0 || n <= 0) return EB_OK;
    if (k <= 0) {
        const size_t cnt = (size_t)m * n; /* C is dense here: ldc == m in every caller */
        eb_k_scale<<<eb_cuda_grid(c, cnt), EB_CUDA_THREADS, 0, c->stream>>>(C, beta, cnt);
        EB_CUDA_LAUNCHED("eb_k_scale");
        return EB_OK;
    }
    EB_CUBLAS_CHECK(cublasGemmEx(c->cublas, ta, tb, m, n, k, &alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, &beta, C,
                                 CUDA_R_32F, ldc, eb_gemm_compute(c->precision), CUBLAS_GEMM_DEFAULT));
    return EB_OK;
}

static eb_status eb_dims_check(const char *op, int n, int in, int out) {
    if (n < 0 || in < 1 || out < 1)
        return EB_FAIL(EB_ERR_ARG, "%s: bad shape n=%d in=%d out=%d (need n >= 0, in >= 1, out >= 1)", op, n, in,
                       out);
    return EB_OK;
}

/* Row-major y[n, out] = x[n, in] w[out, in]^T is column-major y^T (out x n) = w^T' x^T, i.e. GEMM(T, N)
 * with A = w (column-major in x out, ld in) and B = x (in x n, ld in). */
eb_status eb_cuda_linear_forward(void *ctx, const eb_real *x, const eb_real *w, const eb_real *b, eb_real *y, int n,
                                 int in, int out) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    EB_TRY(eb_dims_check("linear_forward", n, in, out));
    EB_TRY(eb_gemm(c, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, 1.0f, w, in, x, in, 0.0f, y, out));
    if (b) EB_TRY(eb_cuda_bias_add(ctx, y, b, n, out, 1));
    return EB_OK;
}

/* dx[n, in] = dy[n, out] w[out, in]: column-major dx^T (in x n) = w' (in x out, ld in) dy^T (out x n, ld out). */
eb_status eb_cuda_linear_backward_data(void *ctx, const eb_real *dy, const eb_real *w, eb_real *dx, int n, int in,
                                       int out, eb_real alpha, eb_real beta) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    EB_TRY(eb_dims_check("linear_backward_data", n, in, out));
    return eb_gemm(c, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, alpha, w, in, dy, out, beta, dx, in);
}

/* dw[out, in] = dy^T x: column-major dw^T (in x out) = x' (in x n, ld in) (dy' (out x n, ld out))^T. */
eb_status eb_cuda_linear_backward_weight(void *ctx, const eb_real *x, const eb_real *dy, eb_real *dw, int n, int in,
                                         int out, eb_real alpha, eb_real beta) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    EB_TRY(eb_dims_check("linear_backward_weight", n, in, out));
    return eb_gemm(c, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, alpha, x, in, dy, out, beta, dw, in);
}

static __global__ void eb_k_bias_add(eb_real *y, const eb_real *b, size_t total, int c, int hw) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x)
        y[i] += b[(i / (size_t)hw) % (size_t)c];
}

/* Dense (hw = 1): one thread per channel walks the batch (coalesced across threads). */
static __global__ void eb_k_bias_backward_cols(const eb_real *dy, eb_real *db, int n, int c, eb_real alpha,
                                               eb_real beta) {
    for (int ch = blockIdx.x * blockDim.x + threadIdx.x; ch < c; ch += gridDim.x * blockDim.x) {
        double s = 0.0;
        for (int i = 0; i < n; i++) s += (double)dy[(size_t)i * c + ch];
        double r = (double)alpha * s;
        if (beta != (eb_real)0) r += (double)beta * (double)db[ch];
        db[ch] = (eb_real)r;
    }
}

/* Images (hw > 1): one block per channel reduces its n * hw values (fixed order: deterministic). */
static __global__ void eb_k_bias_backward_chan(const eb_real *dy, eb_real *db, int n, int c, int hw, eb_real alpha,
                                               eb_real beta) {
    for (int ch = blockIdx.x; ch < c; ch += gridDim.x) {
        double s = 0.0;
        for (int i = 0; i < n; i++) {
            const eb_real *p = dy + ((size_t)i * c + ch) * hw;
            for (int j = threadIdx.x; j < hw; j += blockDim.x) s += (double)p[j];
        }
        s = eb_block_sum(s);
        if (threadIdx.x == 0) {
            double r = (double)alpha * s;
            if (beta != (eb_real)0) r += (double)beta * (double)db[ch];
            db[ch] = (eb_real)r;
        }
    }
}

eb_status eb_cuda_bias_add(void *ctx, eb_real *y, const eb_real *b, int n, int c, int hw) {
    eb_cuda_ctx *cx = (eb_cuda_ctx *)ctx;
    if (n < 0 || c < 1 || hw < 1)
        return EB_FAIL(EB_ERR_ARG, "bias_add: bad shape n=%d c=%d hw=%d (need n >= 0, c >= 1, hw >= 1)", n, c, hw);
    const size_t total = (size_t)n * c * hw;
    if (total == 0) return EB_OK;
    eb_k_bias_add<<<eb_cuda_grid(cx, total), EB_CUDA_THREADS, 0, cx->stream>>>(y, b, total, c, hw);
    EB_CUDA_LAUNCHED("eb_k_bias_add");
    return EB_OK;
}

eb_status eb_cuda_bias_backward(void *ctx, const eb_real *dy, eb_real *db, int n, int c, int hw, eb_real alpha,
                                eb_real beta) {
    eb_cuda_ctx *cx = (eb_cuda_ctx *)ctx;
    if (n < 0 || c < 1 || hw < 1)
        return EB_FAIL(EB_ERR_ARG, "bias_backward: bad shape n=%d c=%d hw=%d (need n >= 0, c >= 1, hw >= 1)", n, c,
                       hw);
    if (hw == 1) {
        eb_k_bias_backward_cols<<<eb_cuda_grid(cx, (size_t)c), EB_CUDA_THREADS, 0, cx->stream>>>(dy, db, n, c, alpha,
                                                                                                 beta);
        EB_CUDA_LAUNCHED("eb_k_bias_backward_cols");
    } else {
        const unsigned grid = (unsigned)(c < 65535 ? c : 65535);
        eb_k_bias_backward_chan<<<grid, EB_CUDA_THREADS, 0, cx->stream>>>(dy, db, n, c, hw, alpha, beta);
        EB_CUDA_LAUNCHED("eb_k_bias_backward_chan");
    }
    return EB_OK;
}
