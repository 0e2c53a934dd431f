/* CPU reference of the dense entries of the op table: linear forward / backward (row-major GEMMs
 * through CBLAS) and the per-channel bias add / reduction shared by dense and conv layers. */
#include "cpu_ops.h"

#include "cpu_gemm.h"
#include "cpu_parallel.h"
#include <limits.h>
#include <stddef.h>

/* Shapes of a linear layer: n >= 0 rows (n == 0 is an empty batch), in, out >= 1, and every matrix
 * small enough for BLAS's int sizes. */
static eb_status dense_check(const char *op, int n, int in, int out) {
    if (n < 0 || in < 1 || out < 1)
        return EB_FAIL(EB_ERR_ARG, "%s: bad shape n=%d in=%d out=%d (need n >= 0, in >= 1, out >= 1)",
                       op, n, in, out);
    if ((long long)n * in > INT_MAX || (long long)n * out > INT_MAX || (long long)in * out > INT_MAX)
        return EB_FAIL(EB_ERR_ARG, "%s: shape n=%d in=%d out=%d exceeds the BLAS int range", op, n, in, out);
    return EB_OK;
}

/* y[n, out] = x[n, in] * w[out, in]^T (+ b[out]). */
eb_status eb_cpu_linear_forward(void *ctx, const eb_real *x, const eb_real *w, const eb_real *b, eb_real *y,
                                int n, int in, int out) {
    EB_TRY(dense_check("linear_forward", n, in, out));
    if (n == 0) return EB_OK;
    if (!x || !w || !y) return EB_FAIL(EB_ERR_ARG, "linear_forward: NULL buffer");
    eb_cpu_gemm(CblasNoTrans, CblasTrans, n, out, in, (eb_real)1, x, in, w, in, (eb_real)0, y, out);
    if (b) {
        for (int r = 0; r < n; r++) {
            eb_real *row = y + (size_t)r * out;
            for (int o = 0; o < out; o++) row[o] += b[o];
        }
    }
    return EB_OK;
}

/* dx[n, in] = alpha * dy[n, out] * w[out, in] + beta * dx. */
eb_status eb_cpu_linear_backward_data(void *ctx, const eb_real *dy, const eb_real *w, eb_real *dx,
                                      int n, int in, int out, eb_real alpha, eb_real beta) {
    EB_TRY(dense_check("linear_backward_data", n, in, out));
    if (n == 0) return EB_OK;
    if (!dy || !w || !dx) return EB_FAIL(EB_ERR_ARG, "linear_backward_data: NULL buffer");
    eb_cpu_gemm(CblasNoTrans, CblasNoTrans, n, in, out, alpha, dy, out, w, in, beta, dx, in);
    return EB_OK;
}

/* dw[out, in] = alpha * dy[n, out]^T * x[n, in] + beta * dw (an empty batch leaves beta * dw). */
eb_status eb_cpu_linear_backward_weight(void *ctx, const eb_real *x, const eb_real *dy, eb_real *dw,
                                        int n, int in, int out, eb_real alpha, eb_real beta) {
    EB_TRY(dense_check("linear_backward_weight", n, in, out));
    if (!dw || (n > 0 && (!x || !dy))) return EB_FAIL(EB_ERR_ARG, "linear_backward_weight: NULL buffer");
    if (n == 0) {
        /* k == 0 GEMM: BLAS implementations differ on it, so scale by hand (beta == 0 overwrites). */
        size_t m = (size_t)out * in;
        for (size_t i = 0; i < m; i++) dw[i] = beta == 0 ? (eb_real)0 : beta * dw[i];
        return EB_OK;
    }
    eb_cpu_gemm(CblasTrans, CblasNoTrans, out, in, n, alpha, dy, out, x, in, beta, dw, in);
    return EB_OK;
}

static eb_status bias_check(const char *op, int n, int c, int hw) {
    if (n < 0 || c < 1 || hw < 1)
        return EB_FAIL(EB_ERR_ARG, "%s: bad shape n=%d c=%d hw=%d (need n >= 0, c >= 1, hw >= 1)", op, n, c, hw);
    return EB_OK;
}

/* y[n, c, hw] += b[c] (hw = 1 for dense activations [n, c]). */
eb_status eb_cpu_bias_add(void *ctx, eb_real *y, const eb_real *b, int n, int c, int hw) {
    EB_TRY(bias_check("bias_add", n, c, hw));
    if (n == 0) return EB_OK;
    if (!y || !b) return EB_FAIL(EB_ERR_ARG, "bias_add: NULL buffer");
    const size_t rows = (size_t)n * (size_t)c;
#pragma omp parallel num_threads(eb_cpu_threads(rows * (size_t)hw, EB_CPU_PAR_CHEAP))
    {
        size_t lo, hi;
        eb_cpu_split(rows, &lo, &hi); /* (sample, channel) rows */
        for (size_t r = lo; r < hi; r++) {
            eb_real *p = y + r * (size_t)hw;
            const eb_real v = b[r % (size_t)c];
            for (int i = 0; i < hw; i++) p[i] += v;
        }
    }
    return EB_OK;
}

/* db[c] = alpha * sum_{n, hw} dy[n, c, hw] + beta * db. The sum runs in double so the float product
 * does not lose digits over n * hw terms (a batch of 64 images of 32x32 is 65536 terms). */
eb_status eb_cpu_bias_backward(void *ctx, const eb_real *dy, eb_real *db, int n, int c, int hw,
                               eb_real alpha, eb_real beta) {
    EB_TRY(bias_check("bias_backward", n, c, hw));
    if (!db || (n > 0 && !dy)) return EB_FAIL(EB_ERR_ARG, "bias_backward: NULL buffer");
    /* channels are independent sums, each in the same order on any thread count; a channel's pixels go into 8
     * partial sums by pixel index mod 8, added pairwise at the end: 8 independent chains of double additions
     * (vectorised) instead of one that waits 4 cycles per element (a conv layer's dy holds MBs) */
#pragma omp parallel for schedule(static) num_threads(eb_cpu_threads((size_t)n * (size_t)c * (size_t)hw, EB_CPU_PAR_CHEAP))
    for (int ch = 0; ch < c; ch++) {
        double part[8] = {0};
        const int hw8 = hw / 8 * 8;
        for (int s = 0; s < n; s++) {
            const eb_real *p = dy + ((size_t)s * c + ch) * hw;
            for (int i = 0; i < hw8; i += 8)
                for (int j = 0; j < 8; j++) part[j] += (double)p[i + j];
            for (int i = hw8; i < hw; i++) part[i - hw8] += (double)p[i];
        }
        const double acc = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
        const eb_real r = (eb_real)((double)alpha * acc);
        db[ch] = beta == 0 ? r : r + beta * db[ch];
    }
    return EB_OK;
}
