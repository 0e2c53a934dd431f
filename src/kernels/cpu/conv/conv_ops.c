/* The conv2d entries of the CPU op table (ops.h): the geometry checked once, then each op on the Winograd path
 * where it saves enough multiply-adds (wino.h; frozen weights read transformed, frozen_weights.h), else direct. */
#include "../cpu_ops.h"

#include "direct.h"
#include "frozen_weights.h"
#include "wino.h"

#include <limits.h>

/* Checks the geometry (positive sizes, h_out / w_out consistent with the floor formula of ops.h, sizes within
 * int range) and the buffers. */
static eb_status conv_check(const char *op, const eb_conv_geom *g, const void *a, const void *b, const void *c) {
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
    const long long kk = (long long)g->c_in * g->k_h * g->k_w, ko = (long long)g->c_out * g->k_h * g->k_w;
    const long long pix_in = (long long)g->n * g->h_in * g->w_in, pix_out = (long long)g->n * ho * wo;
    if (kk > INT_MAX || ko > INT_MAX || pix_in > INT_MAX || pix_out > INT_MAX)
        return EB_FAIL(EB_ERR_ARG, "%s: layer too large (taps %lld / %lld, pixels %lld / %lld over INT_MAX)", op,
                       kk, ko, pix_in, pix_out);
    if (!a || !b || !c) return EB_FAIL(EB_ERR_ARG, "%s: NULL buffer", op);
    return EB_OK;
}

/* Op EB_WINO_FORWARD (out = conv(in)) or EB_WINO_DATA (out = conv^T(in)) on the Winograd path, from the frozen
 * weights' transform where there is one (frozen_weights.h), else transforming w in the call. */
static eb_status conv_wino(void *ctx, const eb_conv_geom *g, int op, const eb_real *in, const eb_real *w, eb_real *out,
                           eb_real alpha, eb_real beta) {
    const eb_real *U;
    EB_TRY(eb_cpu_frozen_form_get(ctx, g, op, w, &U));
    if (op == EB_WINO_FORWARD)
        return U ? eb_cpu_wino_forward_prep(ctx, g, in, U, out, alpha, beta)
                 : eb_cpu_wino_forward(ctx, g, in, w, out, alpha, beta);
    return U ? eb_cpu_wino_backward_data_prep(ctx, g, in, U, out, alpha, beta)
             : eb_cpu_wino_backward_data(ctx, g, in, w, out, alpha, beta);
}

/* y = alpha * conv(x, w) + beta * y. */
eb_status eb_cpu_conv2d_forward(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w,
                                eb_real *y, eb_real alpha, eb_real beta) {
    EB_TRY(conv_check("conv2d_forward", g, x, w, y));
    if (eb_cpu_wino_fits(g, EB_WINO_FORWARD)) return conv_wino(ctx, g, EB_WINO_FORWARD, x, w, y, alpha, beta);
    return eb_cpu_direct_forward(ctx, g, x, w, y, alpha, beta);
}

/* dx = alpha * conv^T(dy, w) + beta * dx. */
eb_status eb_cpu_conv2d_backward_data(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                      eb_real *dx, eb_real alpha, eb_real beta) {
    EB_TRY(conv_check("conv2d_backward_data", g, dy, w, dx));
    if (eb_cpu_wino_fits(g, EB_WINO_DATA)) return conv_wino(ctx, g, EB_WINO_DATA, dy, w, dx, alpha, beta);
    return eb_cpu_direct_backward_data(ctx, g, dy, w, dx, alpha, beta);
}

/* dw = alpha * (the correlation of x with dy) + beta * dw. */
eb_status eb_cpu_conv2d_backward_filter(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy,
                                        eb_real *dw, eb_real alpha, eb_real beta) {
    EB_TRY(conv_check("conv2d_backward_filter", g, x, dy, dw));
    if (eb_cpu_wino_fits(g, EB_WINO_FILTER)) return eb_cpu_wino_backward_filter(ctx, g, x, dy, dw, alpha, beta);
    return eb_cpu_direct_backward_filter(ctx, g, x, dy, dw, alpha, beta);
}
