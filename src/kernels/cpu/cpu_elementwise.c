/* CPU reference of the elementwise, data-movement, reduction and random-number ops of eb_ops.
 * Reductions accumulate in double so the float build is an accurate oracle for the CUDA parity tests. */
#include "cpu_ops.h"

#include "cpu_parallel.h"
#include <math.h>
#include <string.h>

eb_status eb_cpu_fill(void *ctx, eb_real *x, eb_real v, size_t n) {
    (void)ctx;
#pragma omp parallel for schedule(static) num_threads(eb_cpu_threads(n, EB_CPU_PAR_CHEAP))
    for (size_t i = 0; i < n; i++) x[i] = v;
    return EB_OK;
}

eb_status eb_cpu_axpby(void *ctx, eb_real *y, eb_real a, const eb_real *x, eb_real b, size_t n) {
    (void)ctx;
    const int nt = eb_cpu_threads(n, EB_CPU_PAR_CHEAP);
    if (b == 0) { /* overwrite: y may hold garbage (ops.h conventions) */
#pragma omp parallel for schedule(static) num_threads(nt)
        for (size_t i = 0; i < n; i++) y[i] = a * x[i];
    } else {
#pragma omp parallel for schedule(static) num_threads(nt)
        for (size_t i = 0; i < n; i++) y[i] = a * x[i] + b * y[i];
    }
    return EB_OK;
}

eb_status eb_cpu_mul(void *ctx, eb_real *y, const eb_real *a, const eb_real *b, size_t n) {
    (void)ctx;
#pragma omp parallel for schedule(static) num_threads(eb_cpu_threads(n, EB_CPU_PAR_CHEAP))
    for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
    return EB_OK;
}

eb_status eb_cpu_copy_2d(void *ctx, eb_real *dst, size_t dst_ld, const eb_real *src, size_t src_ld,
                         size_t rows, size_t cols) {
    (void)ctx;
    if (rows > 1 && (cols > dst_ld || cols > src_ld)) /* rows would overlap */
        return EB_FAIL(EB_ERR_ARG, "copy_2d: %zu columns exceed a leading dimension (dst %zu, src %zu)",
                       cols, dst_ld, src_ld);
    for (size_t r = 0; r < rows; r++) memmove(dst + r * dst_ld, src + r * src_ld, cols * sizeof(eb_real));
    return EB_OK;
}

eb_status eb_cpu_gather_rows(void *ctx, eb_real *dst, const eb_real *src, const int32_t *idx,
                             size_t rows, size_t cols) {
    (void)ctx;
    for (size_t r = 0; r < rows; r++) {
        if (idx[r] < 0) return EB_FAIL(EB_ERR_ARG, "gather_rows: negative index %d at row %zu", (int)idx[r], r);
        memcpy(dst + r * cols, src + (size_t)idx[r] * cols, cols * sizeof(eb_real));
    }
    return EB_OK;
}

eb_status eb_cpu_gather_rows_u8(void *ctx, eb_real *dst, const uint8_t *src, const int32_t *idx,
                                size_t rows, size_t cols, eb_real scale, eb_real shift) {
    (void)ctx;
    for (size_t r = 0; r < rows; r++) {
        if (idx[r] < 0)
            return EB_FAIL(EB_ERR_ARG, "gather_rows_u8: negative index %d at row %zu", (int)idx[r], r);
        const uint8_t *s = src + (size_t)idx[r] * cols;
        eb_real *d = dst + r * cols;
        for (size_t c = 0; c < cols; c++) d[c] = scale * (eb_real)s[c] + shift;
    }
    return EB_OK;
}

eb_status eb_cpu_lerp_rows(void *ctx, eb_real *out, const eb_real *t, const eb_real *x, const eb_real *y,
                           size_t rows, size_t cols) {
    (void)ctx;
    for (size_t r = 0; r < rows; r++) {
        eb_real tr = t[r], sr = 1 - t[r];
        for (size_t c = 0; c < cols; c++) out[r * cols + c] = tr * x[r * cols + c] + sr * y[r * cols + c];
    }
    return EB_OK;
}

eb_status eb_cpu_reduce_sum(void *ctx, const eb_real *x, size_t n, eb_real *out_dev, eb_real alpha, eb_real beta) {
    (void)ctx;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i];
    double r = (double)alpha * s;
    if (beta != 0) r += (double)beta * (double)*out_dev;
    *out_dev = (eb_real)r;
    return EB_OK;
}

/* One pass that only reads: x - x is 0 for every finite x and NaN for an infinity or a NaN, so the loop has no
 * branch and vectorises (no fast-math in C, CMakeLists.txt: the comparison is kept). */
eb_status eb_cpu_nonfinite_mark(void *ctx, const eb_real *x, size_t n, const int64_t *clock, int64_t *first) {
    (void)ctx;
    if (*first >= 0) return EB_OK; /* already marked: the first iteration is what the host reports */
    int bad = 0;
    for (size_t i = 0; i < n; i++) bad |= !(x[i] - x[i] == 0);
    if (bad) *first = clock ? *clock : 0;
    return EB_OK;
}

eb_status eb_cpu_row_sqnorm(void *ctx, const eb_real *x, size_t rows, size_t cols, eb_real *out) {
    (void)ctx;
    for (size_t r = 0; r < rows; r++) {
        double s = 0.0;
        for (size_t c = 0; c < cols; c++) {
            double v = (double)x[r * cols + c];
            s += v * v;
        }
        out[r] = (eb_real)s;
    }
    return EB_OK;
}

