/* CPU reference of conv2d (NCHW, OIHW weights, square stride / pad): im2col + one GEMM per chunk of
 * samples for the forward and the filter gradient, GEMM + col2im for the data gradient. */
#include "cpu_ops.h"

#include "cpu_gemm.h"
#include "cpu_parallel.h"
#include <limits.h>
#include <stddef.h>
#include <string.h>

/* Upper bound (elements) on the scratch of one chunk of samples: the columns [K, nb * HWo] plus the
 * packed output / output gradient [c_out, nb * HWo]. 8M elements (32 MiB in f32) keeps a whole batch
 * of 64 of the paper's CIFAR / MNIST conv layers in one GEMM (the widest, 3->64 k4 on 32x32, needs
 * 7.3M); larger shapes are cut into chunks of samples, at least one sample per chunk. (One padded input
 * plane per thread is taken on top.) */
static const size_t conv_chunk_elems = (size_t)8 << 20;

/* Sizes derived from a validated geometry, and the chunking of the batch. */
typedef struct conv_plan {
    int k;        /* rows of the column matrix: c_in * k_h * k_w */
    int hwo;      /* output pixels per sample: h_out * w_out */
    size_t hwi;   /* input pixels per sample: h_in * w_in */
    int nb;       /* samples per chunk */
    eb_real *col; /* [k, nb * hwo] */
    eb_real *pk;  /* [c_out, nb * hwo]: packed y (forward) or dy (backward) */
    eb_real *plane; /* [threads][stride^2 phases][hq, wq]: one zero-bordered input plane per thread, split
                     * into its stride x stride phases (see conv_plane_split) */
    size_t plane_elems;
    int hq, wq;   /* rows / columns of one phase: ceil((h_in + 2 pad) / stride), ceil((w_in + 2 pad) / stride) */
    int threads;  /* OpenMP threads of the loops around the GEMM (samples / planes are independent) */
} conv_plan;

/* Checks the geometry (positive sizes, h_out / w_out consistent with the floor formula of ops.h,
 * sizes within BLAS's int range) and the buffers, then takes the scratch for one chunk. */
static eb_status conv_plan_init(conv_plan *p, void *ctx, const char *op, const eb_conv_geom *g,
                                const void *a, const void *b, const void *c) {
    if (!g) return EB_FAIL(EB_ERR_ARG, "%s: NULL geometry", op);
    if (g->n < 1 || g->c_in < 1 || g->h_in < 1 || g->w_in < 1 || g->c_out < 1 || g->h_out < 1 ||
        g->w_out < 1 || g->k_h < 1 || g->k_w < 1)
        return EB_FAIL(EB_ERR_ARG,
                       "%s: sizes must be positive (n=%d c_in=%d h_in=%d w_in=%d c_out=%d h_out=%d w_out=%d "
                       "k=%dx%d)", op, g->n, g->c_in, g->h_in, g->w_in, g->c_out, g->h_out, g->w_out,
                       g->k_h, g->k_w);
    if (g->stride < 1) return EB_FAIL(EB_ERR_ARG, "%s: stride %d must be >= 1", op, g->stride);
    if (g->pad < 0) return EB_FAIL(EB_ERR_ARG, "%s: pad %d must be >= 0", op, g->pad);
    if ((long long)g->h_in + 2LL * g->pad < g->k_h || (long long)g->w_in + 2LL * g->pad < g->k_w)
        return EB_FAIL(EB_ERR_ARG, "%s: input %dx%d with pad %d too small for kernel %dx%d", op, g->h_in,
                       g->w_in, g->pad, g->k_h, g->k_w);
    const long long ho = ((long long)g->h_in + 2LL * g->pad - g->k_h) / g->stride + 1;
    const long long wo = ((long long)g->w_in + 2LL * g->pad - g->k_w) / g->stride + 1;
    if (ho != g->h_out || wo != g->w_out)
        return EB_FAIL(EB_ERR_ARG,
                       "%s: output %dx%d inconsistent with input %dx%d, kernel %dx%d, stride %d, pad %d "
                       "(expected %lldx%lld)", op, g->h_out, g->w_out, g->h_in, g->w_in, g->k_h, g->k_w,
                       g->stride, g->pad, ho, wo);
    const long long kk = (long long)g->c_in * g->k_h * g->k_w;
    const long long hwo = ho * wo;
    if (kk > INT_MAX || hwo > INT_MAX || kk * g->c_out > INT_MAX || (long long)g->c_out * hwo > INT_MAX)
        return EB_FAIL(EB_ERR_ARG, "%s: layer too large for BLAS int sizes (K=%lld, pixels=%lld, c_out=%d)",
                       op, kk, hwo, g->c_out);
    if (!a || !b || !c) return EB_FAIL(EB_ERR_ARG, "%s: NULL buffer", op);

    p->k = (int)kk;
    p->hwo = (int)hwo;
    p->hwi = (size_t)g->h_in * (size_t)g->w_in;
    const size_t per_sample = (size_t)(kk + g->c_out) * (size_t)hwo;
    size_t nb = conv_chunk_elems / per_sample;
    if (nb < 1) nb = 1;
    if (nb > (size_t)g->n) nb = (size_t)g->n;
    if (nb * (size_t)hwo > INT_MAX) nb = (size_t)INT_MAX / (size_t)hwo;
    p->nb = (int)nb;
    p->hq = (g->h_in + 2 * g->pad + g->stride - 1) / g->stride;
    p->wq = (g->w_in + 2 * g->pad + g->stride - 1) / g->stride;
    p->plane_elems = (size_t)g->stride * (size_t)g->stride * (size_t)p->hq * (size_t)p->wq;
    /* the gathers move ~K * hwo elements per sample: split them once a chunk has a few thousand */
    p->threads = eb_cpu_threads(nb * per_sample, EB_CPU_PAR_COSTLY);
    eb_real *s = eb_cpu_scratch(ctx, nb * per_sample + (size_t)p->threads * p->plane_elems);
    if (!s) return EB_ERR_OOM; /* eb_cpu_scratch recorded the message */
    p->col = s;
    p->pk = s + (size_t)kk * nb * (size_t)hwo;
    p->plane = p->pk + (size_t)g->c_out * nb * (size_t)hwo;
    return EB_OK;
}

/* The zero-bordered input plane [h_in + 2 pad, w_in + 2 pad] is kept split into its stride x stride
 * phases: element (r, q) of the padded plane lives in phase (r % stride, q % stride) at
 * (r / stride, q / stride), each phase [hq, wq]. A window tap (i, j) then reads, for output row oh, the
 * contiguous run phase(i % stride, j % stride)[oh + i / stride][j / stride ..][w_out]: every column row of
 * im2col (and every accumulation of col2im) is a unit-stride copy / add, which vectorises, instead of a
 * gather with stride 2 over rows of 2 to 16 pixels. Stride 1 is the plain bordered plane. */
static inline eb_real *conv_phase(const eb_conv_geom *g, const conv_plan *p, eb_real *plane, int i, int j) {
    const int s = g->stride;
    return plane + (size_t)((i % s) * s + j % s) * p->hq * p->wq + (size_t)(i / s) * p->wq + j / s;
}

/* dst[k] = src[k] / dst[k] += src[k], k < n: one row of a column. The maps are 2x2 to 32x32, so a row is
 * 2 to 32 pixels: the common widths get a loop of constant length (unrolled into whole vector moves), the
 * generic loop's scalar remainder would otherwise dominate rows of 2 to 7. */
#define CONV_ROW_WIDTHS(OP) \
    switch (n) { \
    case 2: for (int k = 0; k < 2; k++) OP; break; \
    case 4: for (int k = 0; k < 4; k++) OP; break; \
    case 7: for (int k = 0; k < 7; k++) OP; break; \
    case 8: for (int k = 0; k < 8; k++) OP; break; \
    case 14: for (int k = 0; k < 14; k++) OP; break; \
    case 16: for (int k = 0; k < 16; k++) OP; break; \
    default: for (int k = 0; k < n; k++) OP; break; \
    }
static inline void conv_row_copy(eb_real *restrict dst, const eb_real *restrict src, int n) {
    CONV_ROW_WIDTHS(dst[k] = src[k])
}
static inline void conv_row_add(eb_real *restrict dst, const eb_real *restrict src, int n) {
    CONV_ROW_WIDTHS(dst[k] += src[k])
}
#undef CONV_ROW_WIDTHS

/* Input plane src [h_in, w_in] -> the interior of the phase-split bordered plane (the border is not touched). */
static void conv_plane_split(const eb_conv_geom *g, const conv_plan *p, const eb_real *src, eb_real *plane) {
    const int s = g->stride;
    for (int ih = 0; ih < g->h_in; ih++) {
        const int r = ih + g->pad;
        const eb_real *row = src + (size_t)ih * g->w_in;
        if (s == 1) {
            memcpy(plane + (size_t)r * p->wq + g->pad, row, (size_t)g->w_in * sizeof *row);
            continue;
        }
        for (int b = 0; b < s; b++) { /* the columns q = iw + pad with q % s == b */
            eb_real *dst = plane + (size_t)((r % s) * s + b) * p->hq * p->wq + (size_t)(r / s) * p->wq;
            const int iw0 = ((b - g->pad) % s + s) % s; /* (iw + pad) / s rises by one per step: no division */
            const int n = iw0 < g->w_in ? (g->w_in - iw0 + s - 1) / s : 0;
            eb_real *d = dst + (iw0 + g->pad) / s;
            const eb_real *r0 = row + iw0;
            for (int k = 0; k < n; k++) d[k] = r0[(size_t)k * s];
        }
    }
}

/* The adjoint of conv_plane_split with the beta of the output: dst = interior + beta * dst (beta == 0
 * overwrites without reading). */
static void conv_plane_merge(const eb_conv_geom *g, const conv_plan *p, const eb_real *plane, eb_real *dst,
                             eb_real beta) {
    const int s = g->stride;
    for (int ih = 0; ih < g->h_in; ih++) {
        const int r = ih + g->pad;
        eb_real *row = dst + (size_t)ih * g->w_in;
        if (s == 1) {
            const eb_real *v = plane + (size_t)r * p->wq + g->pad;
            if (beta == 0) {
                memcpy(row, v, (size_t)g->w_in * sizeof *row);
            } else {
                for (int iw = 0; iw < g->w_in; iw++) row[iw] = v[iw] + beta * row[iw];
            }
            continue;
        }
        for (int b = 0; b < s; b++) {
            const eb_real *v = plane + (size_t)((r % s) * s + b) * p->hq * p->wq + (size_t)(r / s) * p->wq;
            const int iw0 = ((b - g->pad) % s + s) % s;
            const int n = iw0 < g->w_in ? (g->w_in - iw0 + s - 1) / s : 0;
            const eb_real *v0 = v + (iw0 + g->pad) / s;
            eb_real *r0 = row + iw0;
            if (beta == 0) {
                for (int k = 0; k < n; k++) r0[(size_t)k * s] = v0[k];
            } else {
                for (int k = 0; k < n; k++) r0[(size_t)k * s] = v0[k] + beta * r0[(size_t)k * s];
            }
        }
    }
}

/* col[(c, i, j), (s, oh, ow)] = x[s0 + s, c, oh * stride - pad + i, ow * stride - pad + j] (0 in padding),
 * for samples s < nb of the chunk starting at s0 (row length ld = nb * hwo). Each input plane is first
 * copied into the phase-split zero-bordered plane, so that every column row is a branch-free unit-stride
 * copy (the maps are small, 2x2 to 32x32, so per-row bounds logic would dominate). Stride 1 without
 * padding reads the input plane itself. The (sample, channel) planes are split over the threads, each
 * with its own bordered plane. */
static void conv_im2col(const eb_conv_geom *g, const conv_plan *p, const eb_real *x, int s0, int nb,
                        eb_real *col) {
    const size_t ld = (size_t)nb * p->hwo;
    const int wo = g->w_out;
#pragma omp parallel num_threads(p->threads)
    {
        eb_real *plane = p->plane + (size_t)eb_cpu_thread() * p->plane_elems;
        const int direct = g->pad == 0 && g->stride == 1;
        if (!direct) memset(plane, 0, p->plane_elems * sizeof *plane); /* the border stays zero */
        size_t lo, hi;
        eb_cpu_split((size_t)nb * (size_t)g->c_in, &lo, &hi);
        for (size_t sc = lo; sc < hi; sc++) {
            const int s = (int)(sc / (size_t)g->c_in), c = (int)(sc % (size_t)g->c_in);
            const eb_real *src = x + ((size_t)(s0 + s) * g->c_in + c) * p->hwi;
            if (!direct) conv_plane_split(g, p, src, plane);
            for (int i = 0; i < g->k_h; i++) {
                for (int j = 0; j < g->k_w; j++) {
                    eb_real *d = col + ((size_t)(c * g->k_h + i) * g->k_w + j) * ld + (size_t)s * p->hwo;
                    const eb_real *ph = direct ? src + (size_t)i * g->w_in + j : conv_phase(g, p, plane, i, j);
                    for (int oh = 0; oh < g->h_out; oh++) {
                        const eb_real *v = ph + (size_t)oh * p->wq;
                        conv_row_copy(d + (size_t)oh * wo, v, wo);
                    }
                }
            }
        }
    }
}

/* The adjoint of conv_im2col, fused with the beta of the output: per input plane, the window sums are
 * accumulated into the phase-split zero-bordered plane (each element summing its taps in the order
 * (i, j, oh, ow), as a scatter into the unsplit plane would), then dx = interior + beta * dx. Input rows /
 * columns no window reads (h_in larger than the output needs, as in an output_padding transposed conv)
 * receive beta * dx only. */
static void conv_col2im(const eb_conv_geom *g, const conv_plan *p, const eb_real *col, int s0, int nb,
                        eb_real *dx, eb_real beta) {
    const size_t ld = (size_t)nb * p->hwo;
    const int wo = g->w_out;
#pragma omp parallel num_threads(p->threads)
    {
        eb_real *plane = p->plane + (size_t)eb_cpu_thread() * p->plane_elems;
        size_t lo, hi;
        eb_cpu_split((size_t)nb * (size_t)g->c_in, &lo, &hi); /* each (sample, channel) plane on one thread */
        for (size_t sc = lo; sc < hi; sc++) {
            const int s = (int)(sc / (size_t)g->c_in), c = (int)(sc % (size_t)g->c_in);
            memset(plane, 0, p->plane_elems * sizeof *plane);
            for (int i = 0; i < g->k_h; i++) {
                for (int j = 0; j < g->k_w; j++) {
                    const eb_real *d = col + ((size_t)(c * g->k_h + i) * g->k_w + j) * ld + (size_t)s * p->hwo;
                    eb_real *ph = conv_phase(g, p, plane, i, j);
                    for (int oh = 0; oh < g->h_out; oh++) {
                        eb_real *v = ph + (size_t)oh * p->wq;
                        conv_row_add(v, d + (size_t)oh * wo, wo);
                    }
                }
            }
            conv_plane_merge(g, p, plane, dx + ((size_t)(s0 + s) * g->c_in + c) * p->hwi, beta);
        }
    }
}

/* y = alpha * conv(x, w) + beta * y: per chunk, tmp[c_out, nb * hwo] = alpha * w[c_out, K] * col, then
 * scattered into NCHW (one batched GEMM keeps BLAS efficient when hwo is small, e.g. 4x4 maps). */
eb_status eb_cpu_conv2d_forward(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w,
                                eb_real *y, eb_real alpha, eb_real beta) {
    conv_plan p;
    EB_TRY(conv_plan_init(&p, ctx, "conv2d_forward", g, x, w, y));
    for (int s0 = 0; s0 < g->n; s0 += p.nb) {
        const int nb = g->n - s0 < p.nb ? g->n - s0 : p.nb;
        const int cols = nb * p.hwo;
        conv_im2col(g, &p, x, s0, nb, p.col);
        eb_cpu_gemm(CblasNoTrans, CblasNoTrans, g->c_out, cols, p.k, alpha, w, p.k, p.col, cols, (eb_real)0,
                  p.pk, cols);
#pragma omp parallel num_threads(p.threads)
        {
            size_t lo, hi;
            eb_cpu_split((size_t)nb * (size_t)g->c_out, &lo, &hi); /* (sample, channel) rows of y */
            for (size_t r = lo; r < hi; r++) {
                const int s = (int)(r / (size_t)g->c_out), co = (int)(r % (size_t)g->c_out);
                const eb_real *src = p.pk + (size_t)co * cols + (size_t)s * p.hwo;
                eb_real *dst = y + ((size_t)(s0 + s) * g->c_out + co) * p.hwo;
                if (beta == 0) {
                    memcpy(dst, src, (size_t)p.hwo * sizeof *dst);
                } else {
                    for (int q = 0; q < p.hwo; q++) dst[q] = src[q] + beta * dst[q];
                }
            }
        }
    }
    return EB_OK;
}

/* pk[c_out, (s, pixel)] = dy[s0 + s, c_out, pixel]: the chunk's output gradient as one matrix. */
static void conv_pack_dy(const eb_conv_geom *g, const conv_plan *p, const eb_real *dy, int s0, int nb,
                         eb_real *pk) {
    const size_t cols = (size_t)nb * p->hwo;
#pragma omp parallel num_threads(p->threads)
    {
        size_t lo, hi;
        eb_cpu_split((size_t)nb * (size_t)g->c_out, &lo, &hi);
        for (size_t r = lo; r < hi; r++) {
            const int s = (int)(r / (size_t)g->c_out), co = (int)(r % (size_t)g->c_out);
            memcpy(pk + (size_t)co * cols + (size_t)s * p->hwo, dy + ((size_t)(s0 + s) * g->c_out + co) * p->hwo,
                   (size_t)p->hwo * sizeof *pk);
        }
    }
}

/* dx = alpha * conv^T(dy, w) + beta * dx: dcol[K, cols] = alpha * w^T * dy, then col2im into dx
 * (which applies beta). */
eb_status eb_cpu_conv2d_backward_data(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                      eb_real *dx, eb_real alpha, eb_real beta) {
    conv_plan p;
    EB_TRY(conv_plan_init(&p, ctx, "conv2d_backward_data", g, dy, w, dx));
    for (int s0 = 0; s0 < g->n; s0 += p.nb) {
        const int nb = g->n - s0 < p.nb ? g->n - s0 : p.nb;
        const int cols = nb * p.hwo;
        conv_pack_dy(g, &p, dy, s0, nb, p.pk);
        eb_cpu_gemm(CblasTrans, CblasNoTrans, p.k, cols, g->c_out, alpha, w, p.k, p.pk, cols, (eb_real)0, p.col,
                  cols);
        conv_col2im(g, &p, p.col, s0, nb, dx, beta);
    }
    return EB_OK;
}

/* dw = alpha * sum_s dy_s * col_s^T + beta * dw: one GEMM per chunk, the first applies beta and the
 * later ones accumulate (beta = 1). */
eb_status eb_cpu_conv2d_backward_filter(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy,
                                        eb_real *dw, eb_real alpha, eb_real beta) {
    conv_plan p;
    EB_TRY(conv_plan_init(&p, ctx, "conv2d_backward_filter", g, x, dy, dw));
    for (int s0 = 0; s0 < g->n; s0 += p.nb) {
        const int nb = g->n - s0 < p.nb ? g->n - s0 : p.nb;
        const int cols = nb * p.hwo;
        conv_im2col(g, &p, x, s0, nb, p.col);
        conv_pack_dy(g, &p, dy, s0, nb, p.pk);
        eb_cpu_gemm(CblasNoTrans, CblasTrans, g->c_out, p.k, cols, alpha, p.pk, cols, p.col, cols,
                  s0 == 0 ? beta : (eb_real)1, dw, p.k);
    }
    return EB_OK;
}
