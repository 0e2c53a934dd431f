/* Elementwise and data-movement ops of the CUDA backend (fill, axpby, mul, copy_2d, row gathers, lerp), the plain
 * reductions (reduce_sum, row_sqnorm) and nonfinite_mark: grid-stride kernels on the backend's stream. */
#include "cuda_reduce.cuh"

#define EB_GRID_STRIDE(i, n)                                                                              \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

static __global__ void eb_k_fill(eb_real *x, eb_real v, size_t n) {
    EB_GRID_STRIDE(i, n) x[i] = v;
}

/* b == 0 overwrites y without reading it (y may hold NaN). */
static __global__ void eb_k_axpby(eb_real *y, eb_real a, const eb_real *x, eb_real b, size_t n) {
    if (b == (eb_real)0) {
        EB_GRID_STRIDE(i, n) y[i] = a * x[i];
    } else {
        EB_GRID_STRIDE(i, n) y[i] = a * x[i] + b * y[i];
    }
}

static __global__ void eb_k_mul(eb_real *y, const eb_real *a, const eb_real *b, size_t n) {
    EB_GRID_STRIDE(i, n) y[i] = a[i] * b[i];
}

/* Indices are not range-checked on the device (that would need a sync); the host draws them. */
static __global__ void eb_k_gather_rows(eb_real *dst, const eb_real *src, const int32_t *idx, size_t rows,
                                        size_t cols) {
    EB_GRID_STRIDE(i, rows * cols) {
        const size_t r = i / cols, col = i - r * cols;
        dst[i] = src[(size_t)idx[r] * cols + col];
    }
}

static __global__ void eb_k_gather_rows_u8(eb_real *dst, const uint8_t *src, const int32_t *idx, size_t rows,
                                           size_t cols, eb_real scale, eb_real shift) {
    EB_GRID_STRIDE(i, rows * cols) {
        const size_t r = i / cols, col = i - r * cols;
        dst[i] = scale * (eb_real)src[(size_t)idx[r] * cols + col] + shift;
    }
}

static __global__ void eb_k_lerp_rows(eb_real *out, const eb_real *t, const eb_real *x, const eb_real *y,
                                      size_t rows, size_t cols) {
    EB_GRID_STRIDE(i, rows * cols) {
        const eb_real tr = t[i / cols];
        out[i] = tr * x[i] + ((eb_real)1 - tr) * y[i];
    }
}

/* Deterministic sum (see cuda_reduce.cuh): per-thread double accumulation in a fixed grid-stride order,
 * a fixed block tree, then the last block adds the block partials in block order. */
static __global__ void eb_k_reduce_sum(const eb_real *x, size_t n, eb_real *out, eb_real alpha, eb_real beta,
                                       double *partials, unsigned int *counter) {
    double s = 0.0;
    EB_GRID_STRIDE(i, n) s += (double)x[i];
    s = eb_block_sum(s);
    eb_grid_finish(s, partials, counter, out, alpha, beta);
}

/* Every thread that sees a non-finite value writes the same clock value, so the race is harmless; the early
 * return keeps an already marked buffer from being read again. */
static __global__ void eb_k_nonfinite_mark(const eb_real *x, size_t n, const int64_t *clock, int64_t *first) {
    if (*first >= 0) return;
    int bad = 0;
    EB_GRID_STRIDE(i, n) bad |= !isfinite(x[i]);
    if (bad) *first = clock ? *clock : 0;
}

/* One block per row (grid-stride over rows). */
static __global__ void eb_k_row_sqnorm(const eb_real *x, size_t rows, size_t cols, eb_real *out) {
    for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const eb_real *xr = x + r * cols;
        double s = 0.0;
        for (size_t j = threadIdx.x; j < cols; j += blockDim.x) s += (double)xr[j] * (double)xr[j];
        s = eb_block_sum(s);
        if (threadIdx.x == 0) out[r] = (eb_real)s;
    }
}

static inline unsigned eb_rows_grid(size_t rows) {
    return rows == 0 ? 1u : (unsigned)(rows < 65535 ? rows : 65535);
}

eb_status eb_cuda_fill(void *ctx, eb_real *x, eb_real v, size_t n) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0) return EB_OK;
    eb_k_fill<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(x, v, n);
    EB_CUDA_LAUNCHED("eb_k_fill");
    return EB_OK;
}

eb_status eb_cuda_axpby(void *ctx, eb_real *y, eb_real a, const eb_real *x, eb_real b, size_t n) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0) return EB_OK;
    eb_k_axpby<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(y, a, x, b, n);
    EB_CUDA_LAUNCHED("eb_k_axpby");
    return EB_OK;
}

eb_status eb_cuda_mul(void *ctx, eb_real *y, const eb_real *a, const eb_real *b, size_t n) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0) return EB_OK;
    eb_k_mul<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(y, a, b, n);
    EB_CUDA_LAUNCHED("eb_k_mul");
    return EB_OK;
}

/* A strided 2-D copy is exactly what cudaMemcpy2DAsync does (pitches in bytes); it is graph-capturable. */
eb_status eb_cuda_copy_2d(void *ctx, eb_real *dst, size_t dst_ld, const eb_real *src, size_t src_ld,
                          size_t rows, size_t cols) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (rows == 0 || cols == 0) return EB_OK;
    if (rows > 1 && (cols > dst_ld || cols > src_ld)) /* rows would overlap (as the CPU reference) */
        return EB_FAIL(EB_ERR_ARG, "copy_2d: %zu columns exceed a leading dimension (dst %zu, src %zu)", cols, dst_ld,
                       src_ld);
    if (rows == 1) {
        EB_CUDA_CHECK(cudaMemcpyAsync(dst, src, cols * sizeof(eb_real), cudaMemcpyDeviceToDevice, c->stream));
        return EB_OK;
    }
    EB_CUDA_CHECK(cudaMemcpy2DAsync(dst, dst_ld * sizeof(eb_real), src, src_ld * sizeof(eb_real),
                                    cols * sizeof(eb_real), rows, cudaMemcpyDeviceToDevice, c->stream));
    return EB_OK;
}

eb_status eb_cuda_gather_rows(void *ctx, eb_real *dst, const eb_real *src, const int32_t *idx, size_t rows,
                              size_t cols) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (rows == 0 || cols == 0) return EB_OK;
    eb_k_gather_rows<<<eb_cuda_grid(c, rows * cols), EB_CUDA_THREADS, 0, c->stream>>>(dst, src, idx, rows, cols);
    EB_CUDA_LAUNCHED("eb_k_gather_rows");
    return EB_OK;
}

eb_status eb_cuda_gather_rows_u8(void *ctx, eb_real *dst, const uint8_t *src, const int32_t *idx, size_t rows,
                                 size_t cols, eb_real scale, eb_real shift) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (rows == 0 || cols == 0) return EB_OK;
    eb_k_gather_rows_u8<<<eb_cuda_grid(c, rows * cols), EB_CUDA_THREADS, 0, c->stream>>>(dst, src, idx, rows, cols,
                                                                                        scale, shift);
    EB_CUDA_LAUNCHED("eb_k_gather_rows_u8");
    return EB_OK;
}

eb_status eb_cuda_lerp_rows(void *ctx, eb_real *out, const eb_real *t, const eb_real *x, const eb_real *y,
                            size_t rows, size_t cols) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (rows == 0 || cols == 0) return EB_OK;
    eb_k_lerp_rows<<<eb_cuda_grid(c, rows * cols), EB_CUDA_THREADS, 0, c->stream>>>(out, t, x, y, rows, cols);
    EB_CUDA_LAUNCHED("eb_k_lerp_rows");
    return EB_OK;
}

eb_status eb_cuda_reduce_sum(void *ctx, const eb_real *x, size_t n, eb_real *out_dev, eb_real alpha, eb_real beta) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    /* n == 0 still writes out_dev = beta * out_dev (one block, empty sum). */
    eb_k_reduce_sum<<<eb_cuda_red_grid(n), EB_CUDA_THREADS, 0, c->stream>>>(x, n, out_dev, alpha, beta, c->partials,
                                                                            c->done_counter);
    EB_CUDA_LAUNCHED("eb_k_reduce_sum");
    return EB_OK;
}

eb_status eb_cuda_nonfinite_mark(void *ctx, const eb_real *x, size_t n, const int64_t *clock, int64_t *first) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (n == 0) return EB_OK;
    eb_k_nonfinite_mark<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(x, n, clock, first);
    EB_CUDA_LAUNCHED("eb_k_nonfinite_mark");
    return EB_OK;
}

eb_status eb_cuda_row_sqnorm(void *ctx, const eb_real *x, size_t rows, size_t cols, eb_real *out) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (rows == 0) return EB_OK;
    eb_k_row_sqnorm<<<eb_rows_grid(rows), EB_CUDA_THREADS, 0, c->stream>>>(x, rows, cols, out);
    EB_CUDA_LAUNCHED("eb_k_row_sqnorm");
    return EB_OK;
}
