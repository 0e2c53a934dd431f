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
    eb_real *plane; /* [threads][h_in + 2 pad, w_in + 2 pad]: one zero-bordered input plane per thread */
    size_t plane_elems;
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
    p->plane_elems = ((size_t)g->h_in + 2 * (size_t)g->pad) * ((size_t)g->w_in + 2 * (size_t)g->pad);
    /* the gathers move ~K * hwo elements per sample: split them once a chunk has a few thousand */
    p->threads = eb_cpu_threads(nb * per_sample, EB_CPU_PAR_COSTLY);
    eb_real *s = eb_cpu_scratch(ctx, nb * per_sample + (size_t)p->threads * p->plane_elems);
    if (!s) return EB_ERR_OOM; /* eb_cpu_scratch recorded the message */
    p->col = s;
    p->pk = s + (size_t)kk * nb * (size_t)hwo;
    p->plane = p->pk + (size_t)g->c_out * nb * (size_t)hwo;
    return EB_OK;
}

/* dst[k] = src[k * stride], k < len: one output row of a column (stride 1 is a plain copy). */
static inline void conv_gather(eb_real *dst, const eb_real *src, int len, int stride) {
    if (stride == 1) {
        memcpy(dst, src, (size_t)len * sizeof *dst);
    } else if (stride == 2) {
        for (int k = 0; k < len; k++) dst[k] = src[2 * k];
    } else {
        for (int k = 0; k < len; k++) dst[k] = src[(size_t)k * stride];
    }
}

/* dst[k * stride] += src[k], k < len: the adjoint of conv_gather. */
static inline void conv_scatter_add(eb_real *dst, const eb_real *src, int len, int stride) {
    if (stride == 1) {
        for (int k = 0; k < len; k++) dst[k] += src[k];
    } else if (stride == 2) {
        for (int k = 0; k < len; k++) dst[2 * k] += src[k];
    } else {
        for (int k = 0; k < len; k++) dst[(size_t)k * stride] += src[k];
    }
}

/* col[(c, i, j), (s, oh, ow)] = x[s0 + s, c, oh * stride - pad + i, ow * stride - pad + j] (0 in padding),
 * for samples s < nb of the chunk starting at s0 (row length ld = nb * hwo). Each input plane is first
 * copied into a zero-bordered plane [h_in + 2 pad, w_in + 2 pad] so that every column row is a
 * branch-free strided gather (the maps are small, 4x4 to 16x16, so per-row bounds logic would dominate).
 * The (sample, channel) planes are split over the threads, each with its own bordered plane. */
static void conv_im2col(const eb_conv_geom *g, const conv_plan *p, const eb_real *x, int s0, int nb,
                        eb_real *col) {
    const size_t ld = (size_t)nb * p->hwo;
    const int wp = g->w_in + 2 * g->pad;
#pragma omp parallel num_threads(p->threads)
    {
        eb_real *plane = p->plane + (size_t)eb_cpu_thread() * p->plane_elems;
        if (g->pad > 0) memset(plane, 0, p->plane_elems * sizeof *plane); /* the border stays zero */
        size_t lo, hi;
        eb_cpu_split((size_t)nb * (size_t)g->c_in, &lo, &hi);
        for (size_t sc = lo; sc < hi; sc++) {
            const int s = (int)(sc / (size_t)g->c_in), c = (int)(sc % (size_t)g->c_in);
            const eb_real *src = x + ((size_t)(s0 + s) * g->c_in + c) * p->hwi;
            const eb_real *pl = src;
            if (g->pad > 0) {
                for (int ih = 0; ih < g->h_in; ih++)
                    memcpy(plane + (size_t)(ih + g->pad) * wp + g->pad, src + (size_t)ih * g->w_in,
                           (size_t)g->w_in * sizeof *src);
                pl = plane;
            }
            for (int i = 0; i < g->k_h; i++) {
                for (int j = 0; j < g->k_w; j++) {
                    eb_real *d = col + ((size_t)(c * g->k_h + i) * g->k_w + j) * ld + (size_t)s * p->hwo;
                    for (int oh = 0; oh < g->h_out; oh++)
                        conv_gather(d + (size_t)oh * g->w_out, pl + (size_t)(oh * g->stride + i) * wp + j,
                                    g->w_out, g->stride);
                }
            }
        }
    }
}

/* The adjoint of conv_im2col, fused with the beta of the output: per input plane, the window sums are
 * accumulated into the zero-bordered plane, then dx = plane interior + beta * dx (beta == 0 overwrites
 * without reading). Input rows / columns no window reads (h_in larger than the output needs, as in an
 * output_padding transposed conv) receive beta * dx only. */
static void conv_col2im(const eb_conv_geom *g, const conv_plan *p, const eb_real *col, int s0, int nb,
                        eb_real *dx, eb_real beta) {
    const size_t ld = (size_t)nb * p->hwo;
    const int wp = g->w_in + 2 * g->pad;
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
                    for (int oh = 0; oh < g->h_out; oh++)
                        conv_scatter_add(plane + (size_t)(oh * g->stride + i) * wp + j, d + (size_t)oh * g->w_out,
                                         g->w_out, g->stride);
                }
            }
            eb_real *dst = dx + ((size_t)(s0 + s) * g->c_in + c) * p->hwi;
            for (int ih = 0; ih < g->h_in; ih++) {
                const eb_real *v = plane + (size_t)(ih + g->pad) * wp + g->pad;
                eb_real *drow = dst + (size_t)ih * g->w_in;
                if (beta == 0) {
                    memcpy(drow, v, (size_t)g->w_in * sizeof *drow);
                } else {
                    for (int iw = 0; iw < g->w_in; iw++) drow[iw] = v[iw] + beta * drow[iw];
                }
            }
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
