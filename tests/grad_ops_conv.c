/* Float64 checks of the CPU conv2d ops through the op table: forward against a direct loop, the data and
 * filter gradients against central differences and adjoint identities, (alpha, beta), the transposed conv
 * composition of the net layer against a direct ConvTranspose2d loop, and geometry errors; and of the Winograd
 * ops (conv/wino_ops.c) called directly against the same loops. */
#define XS_SEED 0x9E3779B97F4A7C15ull
#include "oracle_ctx.h"

#include "ebgan/backend.h"
#include "kernels/cpu/conv/wino.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Host buffers: the CPU backend's memory is host memory, so tests pass malloc'd pointers to its ops. */


/* ---- geometry helpers ---- */
static size_t x_elems(const eb_conv_geom *g) { return (size_t)g->n * g->c_in * g->h_in * g->w_in; }
static size_t y_elems(const eb_conv_geom *g) { return (size_t)g->n * g->c_out * g->h_out * g->w_out; }
static size_t w_elems(const eb_conv_geom *g) { return (size_t)g->c_out * g->c_in * g->k_h * g->k_w; }

/* A conv whose input is `op` rows / columns larger than its output needs (op < stride): the geometry of the
 * adjoint conv of a ConvTranspose2d with output_padding op. */
static eb_conv_geom geom_make(int n, int c_in, int c_out, int h_out, int w_out, int k_h, int k_w, int stride,
                              int pad, int op_h, int op_w) {
    eb_conv_geom g = {.n = n, .c_in = c_in, .c_out = c_out, .h_out = h_out, .w_out = w_out,
                      .k_h = k_h, .k_w = k_w, .stride = stride, .pad = pad};
    g.h_in = (h_out - 1) * stride - 2 * pad + k_h + op_h;
    g.w_in = (w_out - 1) * stride - 2 * pad + k_w + op_w;
    return g;
}

/* Fixed shapes covering stride 1/2/3, padding, non-square images and kernels, k = 3, 4, 5 and
 * output_padding-style inputs, followed by random draws. */
#define N_FIXED 13
#define N_SHAPES 18
static eb_conv_geom shape_get(int idx) {
    static const int fixed[N_FIXED][11] = {
        /* n c_in c_out h_out w_out k_h k_w stride pad op_h op_w */
        {2, 3, 4, 7, 9, 3, 3, 1, 1, 0, 0},  /* "same" 3x3 on a 7x9 image */
        {3, 2, 5, 4, 3, 4, 4, 2, 1, 0, 0},  /* DCGAN-style k4 s2 p1: 8x6 -> 4x3 */
        {2, 3, 2, 5, 4, 5, 5, 2, 2, 0, 1},  /* k5 s2 p2, odd input width */
        {1, 4, 3, 5, 4, 4, 4, 2, 1, 1, 1},  /* output_padding 1 in both directions: 11x9 -> 5x4 */
        {2, 2, 3, 3, 2, 3, 5, 3, 0, 2, 1},  /* stride 3, 3x5 kernel, extra rows / columns */
        {2, 1, 2, 5, 6, 5, 5, 1, 2, 0, 0},  /* k5 p2 s1 */
        {1, 3, 2, 1, 2, 4, 3, 2, 0, 1, 0},  /* a single output row */
        /* channels of the preset networks' order (c_in >= 8: backward data as one GEMM per input phase): */
        {2, 9, 10, 5, 6, 3, 3, 1, 1, 0, 0}, /* k3 s1 p1, 10 output channels: two row tiles, one partial */
        {1, 12, 20, 4, 3, 4, 4, 2, 1, 1, 0},/* k4 s2 p1 with an output_padding row */
        {2, 30, 17, 3, 4, 3, 3, 1, 1, 0, 0},/* 270 taps: the reduction spans two panels of 256 */
        {2, 8, 3, 3, 3, 2, 2, 3, 0, 2, 1},  /* k2 s3: input phase 2 meets no tap (dx there is beta * dx) */
        /* the small maps of the mnist trunk, where half the taps read the border: border bands (direct.h) */
        {2, 9, 10, 4, 4, 5, 5, 2, 2, 0, 0}, /* k5 s2 p2: 7x7 -> 4x4 */
        {3, 16, 9, 2, 2, 5, 5, 2, 2, 1, 1}, /* k5 s2 p2: 4x4 -> 2x2, every output its own band */
    };
    if (idx < N_FIXED) {
        const int *f = fixed[idx];
        return geom_make(f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10]);
    }
    int k = rng_int(3, 5), s = rng_int(1, 3);
    int pad = rng_int(0, (k - 1) / 2); /* k - 2 pad >= 1 keeps h_in >= 1 */
    return geom_make(rng_int(1, 3), rng_int(1, 4), rng_int(1, 4), rng_int(1, 5), rng_int(1, 5), k, k, s, pad,
                     rng_int(0, s - 1), rng_int(0, s - 1));
}

/* ---- direct loops (the oracle): y = conv(x, w), and the two adjoints ---- */
static void direct_forward(const eb_conv_geom *g, const double *x, const double *w, double *y) {
    for (int n = 0; n < g->n; n++)
        for (int co = 0; co < g->c_out; co++)
            for (int oh = 0; oh < g->h_out; oh++)
                for (int ow = 0; ow < g->w_out; ow++) {
                    double acc = 0.0;
                    for (int ci = 0; ci < g->c_in; ci++)
                        for (int i = 0; i < g->k_h; i++)
                            for (int j = 0; j < g->k_w; j++) {
                                int ih = oh * g->stride - g->pad + i, iw = ow * g->stride - g->pad + j;
                                if (ih < 0 || ih >= g->h_in || iw < 0 || iw >= g->w_in) continue;
                                acc += x[((size_t)(n * g->c_in + ci) * g->h_in + ih) * g->w_in + iw] *
                                       w[((size_t)(co * g->c_in + ci) * g->k_h + i) * g->k_w + j];
                            }
                    y[((size_t)(n * g->c_out + co) * g->h_out + oh) * g->w_out + ow] = acc;
                }
}

static void direct_backward_data(const eb_conv_geom *g, const double *dy, const double *w, double *dx) {
    memset(dx, 0, x_elems(g) * sizeof *dx);
    for (int n = 0; n < g->n; n++)
        for (int co = 0; co < g->c_out; co++)
            for (int oh = 0; oh < g->h_out; oh++)
                for (int ow = 0; ow < g->w_out; ow++) {
                    double d = dy[((size_t)(n * g->c_out + co) * g->h_out + oh) * g->w_out + ow];
                    for (int ci = 0; ci < g->c_in; ci++)
                        for (int i = 0; i < g->k_h; i++)
                            for (int j = 0; j < g->k_w; j++) {
                                int ih = oh * g->stride - g->pad + i, iw = ow * g->stride - g->pad + j;
                                if (ih < 0 || ih >= g->h_in || iw < 0 || iw >= g->w_in) continue;
                                dx[((size_t)(n * g->c_in + ci) * g->h_in + ih) * g->w_in + iw] +=
                                    d * w[((size_t)(co * g->c_in + ci) * g->k_h + i) * g->k_w + j];
                            }
                }
}

static void direct_backward_filter(const eb_conv_geom *g, const double *x, const double *dy, double *dw) {
    memset(dw, 0, w_elems(g) * sizeof *dw);
    for (int n = 0; n < g->n; n++)
        for (int co = 0; co < g->c_out; co++)
            for (int oh = 0; oh < g->h_out; oh++)
                for (int ow = 0; ow < g->w_out; ow++) {
                    double d = dy[((size_t)(n * g->c_out + co) * g->h_out + oh) * g->w_out + ow];
                    for (int ci = 0; ci < g->c_in; ci++)
                        for (int i = 0; i < g->k_h; i++)
                            for (int j = 0; j < g->k_w; j++) {
                                int ih = oh * g->stride - g->pad + i, iw = ow * g->stride - g->pad + j;
                                if (ih < 0 || ih >= g->h_in || iw < 0 || iw >= g->w_in) continue;
                                dw[((size_t)(co * g->c_in + ci) * g->k_h + i) * g->k_w + j] +=
                                    d * x[((size_t)(n * g->c_in + ci) * g->h_in + ih) * g->w_in + iw];
                            }
                }
}

static double dot(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}
static double dot_abs(const double *a, const double *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += fabs(a[i] * b[i]);
    return s;
}

/* Central difference of L(v) = <dy, conv(v)> at every entry of v (v is x or w; the op's other input
 * is fixed). The difference L(v + h e_i) - L(v - h e_i) is summed as <dy, y+ - y-> (algebraically the same
 * scalar) so outputs the entry does not touch cancel exactly instead of adding O(eps * |L|) rounding. */
static int fd_grad(eb_backend *be, const eb_conv_geom *g, double *x, double *w, double *v, size_t nv,
                   const double *dy, double *out) {
    const double h = 1e-6;
    size_t ny = y_elems(g);
    double *yp = malloc(ny * sizeof *yp), *ym = malloc(ny * sizeof *ym);
    int ok = 1;
    for (size_t i = 0; i < nv && ok; i++) {
        double v0 = v[i];
        v[i] = v0 + h;
        ok = be->ops->conv2d_forward(be->ctx, g, x, w, yp, 1.0, 0.0) == EB_OK;
        v[i] = v0 - h;
        ok = ok && be->ops->conv2d_forward(be->ctx, g, x, w, ym, 1.0, 0.0) == EB_OK;
        v[i] = v0;
        double s = 0.0;
        for (size_t j = 0; j < ny; j++) s += dy[j] * (yp[j] - ym[j]);
        out[i] = s / (2.0 * h);
    }
    free(yp);
    free(ym);
    return ok;
}

static void geom_print(const char *what, int idx, const eb_conv_geom *g, double err) {
    printf("  %s shape %d: n=%d %dx%dx%d -> %dx%dx%d k=%dx%d s=%d p=%d: rel err %.3g\n", what, idx, g->n,
           g->c_in, g->h_in, g->w_in, g->c_out, g->h_out, g->w_out, g->k_h, g->k_w, g->stride, g->pad, err);
}

EB_TEST(conv_forward_matches_direct_loop) {
    /* Bound 1e-12: both sides sum at most c_in*k*k <= 100 products of O(1) terms in double (different
     * orders), so they differ by ~1e-15 relative; an indexing error is an O(1) difference. */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (int s = 0; s < N_SHAPES; s++) {
        eb_conv_geom g = shape_get(s);
        double *x = rand_buf(x_elems(&g)), *w = rand_buf(w_elems(&g));
        double *y = nan_buf(y_elems(&g)), *ref = malloc(y_elems(&g) * sizeof *ref);
        EB_CHECK_OK(be.ops->conv2d_forward(be.ctx, &g, x, w, y, 1.0, 0.0));
        direct_forward(&g, x, w, ref);
        double err = eb_test_rel_err(y, ref, y_elems(&g), 1e-300);
        geom_print("forward", s, &g, err);
        EB_CHECK(err < 1e-12, "shape %d: forward rel err %.3g", s, err);
        free(x), free(w), free(y), free(ref);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(conv_backward_data_matches_finite_differences) {
    /* L(x) = <dy, conv(x, w)> is linear in x, so the central difference has no truncation error; its error
     * is rounding: each perturbed output moves by h*|w| and is computed to ~eps*|y|, so the difference
     * quotient carries ~eps*|y|*|dy|*(c_out*k*k touched outputs)/h ~ 2e-16*1*100/1e-6 = 2e-8 absolute against
     * gradients of size ~1-10. Bound 1e-7; a wrong index or flipped kernel gives O(1). */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (int s = 0; s < N_SHAPES; s++) {
        eb_conv_geom g = shape_get(s);
        size_t nx = x_elems(&g);
        double *x = rand_buf(nx), *w = rand_buf(w_elems(&g)), *dy = rand_buf(y_elems(&g));
        double *dx = nan_buf(nx), *fd = malloc(nx * sizeof *fd);
        EB_CHECK_OK(be.ops->conv2d_backward_data(be.ctx, &g, dy, w, dx, 1.0, 0.0));
        EB_CHECK(fd_grad(&be, &g, x, w, x, nx, dy, fd), "forward failed: %s", eb_error_message());
        double err = eb_test_rel_err(dx, fd, nx, 1e-300);
        geom_print("backward_data vs fd", s, &g, err);
        EB_CHECK(err < 1e-7, "shape %d: backward_data rel err %.3g", s, err);
        free(x), free(w), free(dy), free(dx), free(fd);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(conv_backward_filter_matches_finite_differences) {
    /* L(w) = <dy, conv(x, w)> is linear in w: as above, only rounding; each weight touches up to
     * n*h_out*w_out <= 75 outputs, so the error is ~2e-16*75/1e-6 ~ 2e-8 against gradients of ~1-10. Bound 1e-7. */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (int s = 0; s < N_SHAPES; s++) {
        eb_conv_geom g = shape_get(s);
        size_t nw = w_elems(&g);
        double *x = rand_buf(x_elems(&g)), *w = rand_buf(nw), *dy = rand_buf(y_elems(&g));
        double *dw = nan_buf(nw), *fd = malloc(nw * sizeof *fd);
        EB_CHECK_OK(be.ops->conv2d_backward_filter(be.ctx, &g, x, dy, dw, 1.0, 0.0));
        EB_CHECK(fd_grad(&be, &g, x, w, w, nw, dy, fd), "forward failed: %s", eb_error_message());
        double err = eb_test_rel_err(dw, fd, nw, 1e-300);
        geom_print("backward_filter vs fd", s, &g, err);
        EB_CHECK(err < 1e-7, "shape %d: backward_filter rel err %.3g", s, err);
        free(x), free(w), free(dy), free(dw), free(fd);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(conv_adjoint_identities) {
    /* <conv(x, w), y> == <x, backward_data(y, w)> == <w, backward_filter(x, y)>: the three are the same
     * sum of products in different orders, so they agree to ~eps * (sum of |products|). Bound 1e-12 relative
     * to that sum. */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (int s = 0; s < N_SHAPES; s++) {
        eb_conv_geom g = shape_get(s);
        size_t nx = x_elems(&g), ny = y_elems(&g), nw = w_elems(&g);
        double *x = rand_buf(nx), *w = rand_buf(nw), *yv = rand_buf(ny);
        double *cx = nan_buf(ny), *bd = nan_buf(nx), *bf = nan_buf(nw);
        EB_CHECK_OK(be.ops->conv2d_forward(be.ctx, &g, x, w, cx, 1.0, 0.0));
        EB_CHECK_OK(be.ops->conv2d_backward_data(be.ctx, &g, yv, w, bd, 1.0, 0.0));
        EB_CHECK_OK(be.ops->conv2d_backward_filter(be.ctx, &g, x, yv, bf, 1.0, 0.0));
        double a = dot(cx, yv, ny), b = dot(x, bd, nx), c = dot(w, bf, nw);
        double scale = dot_abs(cx, yv, ny) + 1e-300;
        EB_CHECK(fabs(a - b) / scale < 1e-12, "shape %d: <conv x, y> = %.17g, <x, conv^T y> = %.17g", s, a, b);
        EB_CHECK(fabs(a - c) / scale < 1e-12, "shape %d: <conv x, y> = %.17g, <w, dW(x, y)> = %.17g", s, a, c);
        free(x), free(w), free(yv), free(cx), free(bd), free(bf);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* out = alpha * ref + beta * out0 for one op: 0 fills NaN with beta = 0, 1 beta = 1, 2 general. */
typedef eb_status (*conv_op_fn)(eb_backend *be, const eb_conv_geom *g, const double *a, const double *b,
                                double *out, double alpha, double beta);
static eb_status op_fwd(eb_backend *be, const eb_conv_geom *g, const double *a, const double *b, double *o,
                        double al, double be_) { return be->ops->conv2d_forward(be->ctx, g, a, b, o, al, be_); }
static eb_status op_bd(eb_backend *be, const eb_conv_geom *g, const double *a, const double *b, double *o,
                       double al, double be_) { return be->ops->conv2d_backward_data(be->ctx, g, a, b, o, al, be_); }
static eb_status op_bf(eb_backend *be, const eb_conv_geom *g, const double *a, const double *b, double *o,
                       double al, double be_) { return be->ops->conv2d_backward_filter(be->ctx, g, a, b, o, al, be_); }

static int check_alpha_beta(eb_backend *be, const eb_conv_geom *g, conv_op_fn fn, const char *name,
                            size_t na, size_t nb, size_t nout) {
    /* Bound 1e-14: alpha and beta scale one rounded result, so the sides differ by a few ulps. */
    double *a = rand_buf(na), *b = rand_buf(nb), *out0 = rand_buf(nout);
    double *ref = nan_buf(nout), *out = malloc(nout * sizeof *out), *want = malloc(nout * sizeof *want);
    const double alphas[3] = {0.7, 1.0, -1.5}, betas[3] = {0.0, 1.0, 0.25};
    int ok = fn(be, g, a, b, ref, 1.0, 0.0) == EB_OK;
    for (int c = 0; c < 3 && ok; c++) {
        if (betas[c] == 0.0)
            for (size_t i = 0; i < nout; i++) out[i] = NAN; /* beta == 0 must overwrite, never compute 0*NaN */
        else
            memcpy(out, out0, nout * sizeof *out);
        ok = fn(be, g, a, b, out, alphas[c], betas[c]) == EB_OK;
        for (size_t i = 0; i < nout; i++) want[i] = alphas[c] * ref[i] + (betas[c] == 0.0 ? 0.0 : betas[c] * out0[i]);
        double err = eb_test_rel_err(out, want, nout, 1e-300);
        if (!ok || !(err < 1e-14)) {
            fprintf(stderr, "%s: alpha %g beta %g: rel err %.3g (%s)\n", name, alphas[c], betas[c], err,
                    ok ? "ok" : eb_error_message());
            ok = 0;
        }
    }
    free(a), free(b), free(out0), free(ref), free(out), free(want);
    return ok;
}

EB_TEST(conv_alpha_beta_semantics) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (int s = 0; s < 4; s++) {
        eb_conv_geom g = shape_get(s == 3 ? N_FIXED : s);
        size_t nx = x_elems(&g), ny = y_elems(&g), nw = w_elems(&g);
        EB_CHECK(check_alpha_beta(&be, &g, op_fwd, "conv2d_forward", nx, nw, ny), "shape %d", s);
        EB_CHECK(check_alpha_beta(&be, &g, op_bd, "conv2d_backward_data", ny, nw, nx), "shape %d", s);
        EB_CHECK(check_alpha_beta(&be, &g, op_bf, "conv2d_backward_filter", nx, ny, nw), "shape %d", s);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(conv_batch_split_into_chunks) {
    /* 24 samples of 16x32x32 -> 8x32x32 with k5 p2: the filter gradient's 24576 pixels are two chunks of
     * conv/direct_ops.c (16K pixels each at most), whose sums are added at the end, where beta is applied once; the
     * forward and the data gradient run in many column blocks and reduction panels (400 taps > 256). Same
     * bounds as above (sums of <= 400 or <= 24*1024 products of O(1) terms; 1e-12 relative to the largest). */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_conv_geom g = geom_make(24, 16, 8, 32, 32, 5, 5, 1, 2, 0, 0);
    size_t nx = x_elems(&g), ny = y_elems(&g), nw = w_elems(&g);
    double *x = rand_buf(nx), *w = rand_buf(nw), *dy = rand_buf(ny), *dw0 = rand_buf(nw);
    double *y = nan_buf(ny), *dx = nan_buf(nx), *dw = malloc(nw * sizeof *dw);
    double *ry = malloc(ny * sizeof *ry), *rdx = malloc(nx * sizeof *rdx), *rdw = malloc(nw * sizeof *rdw);
    EB_CHECK_OK(be.ops->conv2d_forward(be.ctx, &g, x, w, y, 1.0, 0.0));
    EB_CHECK_OK(be.ops->conv2d_backward_data(be.ctx, &g, dy, w, dx, 1.0, 0.0));
    memcpy(dw, dw0, nw * sizeof *dw);
    EB_CHECK_OK(be.ops->conv2d_backward_filter(be.ctx, &g, x, dy, dw, 2.0, 0.5));
    direct_forward(&g, x, w, ry);
    direct_backward_data(&g, dy, w, rdx);
    direct_backward_filter(&g, x, dy, rdw);
    for (size_t i = 0; i < nw; i++) rdw[i] = 2.0 * rdw[i] + 0.5 * dw0[i];
    double ey = eb_test_rel_err(y, ry, ny, 1e-300), ex = eb_test_rel_err(dx, rdx, nx, 1e-300);
    double ew = eb_test_rel_err(dw, rdw, nw, 1e-300);
    printf("  chunked: forward %.3g, backward_data %.3g, backward_filter %.3g\n", ey, ex, ew);
    EB_CHECK(ey < 1e-12, "forward rel err %.3g", ey);
    EB_CHECK(ex < 1e-12, "backward_data rel err %.3g", ex);
    EB_CHECK(ew < 1e-12, "backward_filter (alpha 2, beta 0.5) rel err %.3g", ew);
    free(x), free(w), free(dy), free(dw0), free(y), free(dx), free(dw), free(ry), free(rdx), free(rdw);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(conv_large_batches_copy_their_input_in_parts) {
    /* The zero-bordered copy of an op's input (dy for the data gradient) is made for at most 8M elements at a
     * time: 520 x 16 x 34 x 34 (forward, filter) and 260 x 32 x 32 x 32 (data gradient of a k1 conv) take two
     * parts, and the filter gradient's 520K pixels several groups of chunks. Against the direct loops, 1e-12. */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const eb_conv_geom shapes[2] = {geom_make(520, 16, 1, 32, 32, 3, 3, 1, 1, 0, 0),
                                    geom_make(260, 8, 32, 32, 32, 1, 1, 1, 0, 0, 0)};
    for (int s = 0; s < 2; s++) {
        const eb_conv_geom *g = &shapes[s];
        size_t nx = x_elems(g), ny = y_elems(g), nw = w_elems(g);
        double *x = rand_buf(nx), *w = rand_buf(nw), *dy = rand_buf(ny);
        double *out = nan_buf(nx > ny ? nx : ny), *ref = malloc((nx > ny ? nx : ny) * sizeof *ref), *dw = nan_buf(nw);
        double *rdw = malloc(nw * sizeof *rdw);
        if (s == 0) {
            EB_CHECK_OK(be.ops->conv2d_forward(be.ctx, g, x, w, out, 1.0, 0.0));
            direct_forward(g, x, w, ref);
            double e = eb_test_rel_err(out, ref, ny, 1e-300);
            printf("  %d samples: forward rel err %.3g\n", g->n, e);
            EB_CHECK(e < 1e-12, "forward rel err %.3g", e);
            EB_CHECK_OK(be.ops->conv2d_backward_filter(be.ctx, g, x, dy, dw, 1.0, 0.0));
            direct_backward_filter(g, x, dy, rdw);
            e = eb_test_rel_err(dw, rdw, nw, 1e-300);
            printf("  %d samples: backward_filter rel err %.3g\n", g->n, e);
            EB_CHECK(e < 1e-12, "backward_filter rel err %.3g", e);
        } else {
            EB_CHECK_OK(be.ops->conv2d_backward_data(be.ctx, g, dy, w, out, 1.0, 0.0));
            direct_backward_data(g, dy, w, ref);
            double e = eb_test_rel_err(out, ref, nx, 1e-300);
            printf("  %d samples: backward_data rel err %.3g\n", g->n, e);
            EB_CHECK(e < 1e-12, "backward_data rel err %.3g", e);
        }
        free(x), free(w), free(dy), free(out), free(ref), free(dw), free(rdw);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(narrow_maps_copy_their_samples_innermost_in_parts) {
    /* Maps narrower than a vector (the 4x4 -> 2x2 layer of the mnist trunk) take copies with the sample innermost;
     * 520 samples of 256 x 8 x 8 bordered planes pass 8M elements and take two parts, whose filter-gradient sums
     * continue from one part to the next. Against the direct loops, 1e-12. */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const eb_conv_geom g = geom_make(520, 256, 8, 2, 2, 5, 5, 2, 2, 1, 1);
    const size_t nx = x_elems(&g), ny = y_elems(&g), nw = w_elems(&g);
    double *x = rand_buf(nx), *w = rand_buf(nw), *dy = rand_buf(ny), *y = nan_buf(ny), *ry = malloc(ny * sizeof *ry);
    double *dw = nan_buf(nw), *rdw = malloc(nw * sizeof *rdw);
    EB_CHECK(x && w && dy && y && ry && dw && rdw, "out of memory");
    EB_CHECK_OK(be.ops->conv2d_forward(be.ctx, &g, x, w, y, 1.0, 0.0));
    direct_forward(&g, x, w, ry);
    double e = eb_test_rel_err(y, ry, ny, 1e-300);
    printf("  forward rel err %.3g\n", e);
    EB_CHECK(e < 1e-12, "forward rel err %.3g", e);
    EB_CHECK_OK(be.ops->conv2d_backward_filter(be.ctx, &g, x, dy, dw, 1.0, 0.0));
    direct_backward_filter(&g, x, dy, rdw);
    e = eb_test_rel_err(dw, rdw, nw, 1e-300);
    printf("  backward_filter rel err %.3g\n", e);
    EB_CHECK(e < 1e-12, "backward_filter rel err %.3g", e);
    free(x), free(w), free(dy), free(y), free(ry), free(dw), free(rdw);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

#ifdef _OPENMP
/* The three ops of one layer on 1 and on 3 threads, through the op table (wino 0) or the Winograd ops called
 * directly (wino 1): the same bits, or a failed check naming the op. */
static int same_bits_on_1_and_3_threads(eb_backend *be, const eb_conv_geom *g, int wino, int s) {
    const size_t nx = x_elems(g), ny = y_elems(g), nw = w_elems(g);
    double *x = rand_buf(nx), *w = rand_buf(nw), *dy = rand_buf(ny), *out[2][3];
    const int saved = omp_get_max_threads();
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r == 0 ? 1 : 3);
        out[r][0] = nan_buf(ny), out[r][1] = nan_buf(nx), out[r][2] = nan_buf(nw);
        EB_CHECK_OK(wino ? eb_cpu_wino_forward(be->ctx, g, x, w, out[r][0], 1.0, 0.0)
                         : be->ops->conv2d_forward(be->ctx, g, x, w, out[r][0], 1.0, 0.0));
        EB_CHECK_OK(wino ? eb_cpu_wino_backward_data(be->ctx, g, dy, w, out[r][1], 1.0, 0.0)
                         : be->ops->conv2d_backward_data(be->ctx, g, dy, w, out[r][1], 1.0, 0.0));
        EB_CHECK_OK(wino ? eb_cpu_wino_backward_filter(be->ctx, g, x, dy, out[r][2], 1.0, 0.0)
                         : be->ops->conv2d_backward_filter(be->ctx, g, x, dy, out[r][2], 1.0, 0.0));
    }
    omp_set_num_threads(saved);
    EB_CHECK(memcmp(out[0][0], out[1][0], ny * sizeof(double)) == 0, "shape %d: forward differs with 3 threads", s);
    EB_CHECK(memcmp(out[0][1], out[1][1], nx * sizeof(double)) == 0, "shape %d: backward_data differs with 3 threads", s);
    EB_CHECK(memcmp(out[0][2], out[1][2], nw * sizeof(double)) == 0, "shape %d: backward_filter differs with 3 threads", s);
    free(x), free(w), free(dy);
    for (int r = 0; r < 2; r++) free(out[r][0]), free(out[r][1]), free(out[r][2]);
    return EB_TEST_PASS;
}
#endif

EB_TEST(conv_results_do_not_depend_on_the_thread_count) {
    /* The threads split the columns of each GEMM (pixels, taps, chunks of pixels), never a sum: one thread and
     * three give the same bits, for a shape with several blocks, strips and both backward-data paths. */
#ifdef _OPENMP
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    /* each op of each shape has >= 1M multiply-adds, enough for the direct ops to use the threads; the third one's
     * filter gradient sums two chunks of pixels; the last one's 2x2 outputs are border bands of their own */
    const eb_conv_geom shapes[4] = {geom_make(8, 12, 40, 9, 9, 4, 4, 2, 1, 0, 0), geom_make(8, 3, 32, 18, 18, 3, 3, 1, 1, 0, 0),
                                    geom_make(17, 2, 8, 32, 32, 3, 3, 1, 1, 0, 0),
                                    geom_make(40, 32, 64, 2, 2, 5, 5, 2, 2, 1, 1)};
    for (int s = 0; s < 4; s++) EB_CHECK(same_bits_on_1_and_3_threads(&be, &shapes[s], 0, s) == EB_TEST_PASS, "shape %d", s);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
#else
    return EB_TEST_SKIP;
#endif
}

/* ---- the transposed conv as the net layer builds it, against PyTorch's ConvTranspose2d definition:
 * xt [n, ci, hi, wi], wt [ci, co, k, k], out [n, co, ho, wo], ho = (hi - 1) * s - 2p + k + op,
 * out[n, co, ih*s - p + i, iw*s - p + j] += xt[n, ci, ih, iw] * wt[ci, co, i, j]. ---- */
typedef struct convt_shape { int n, ci, co, hi, wi, k, s, p, op_h, op_w; } convt_shape;

static void direct_convt(const convt_shape *t, int ho, int wo, const double *xt, const double *wt, double *out) {
    memset(out, 0, (size_t)t->n * t->co * ho * wo * sizeof *out);
    for (int n = 0; n < t->n; n++)
        for (int ci = 0; ci < t->ci; ci++)
            for (int ih = 0; ih < t->hi; ih++)
                for (int iw = 0; iw < t->wi; iw++) {
                    double v = xt[((size_t)(n * t->ci + ci) * t->hi + ih) * t->wi + iw];
                    for (int co = 0; co < t->co; co++)
                        for (int i = 0; i < t->k; i++)
                            for (int j = 0; j < t->k; j++) {
                                int oh = ih * t->s - t->p + i, ow = iw * t->s - t->p + j;
                                if (oh < 0 || oh >= ho || ow < 0 || ow >= wo) continue;
                                out[((size_t)(n * t->co + co) * ho + oh) * wo + ow] +=
                                    v * wt[((size_t)(ci * t->co + co) * t->k + i) * t->k + j];
                            }
                }
}

/* The gradients of L = <dout, convT(xt, wt)> written directly from the definition above. */
static void direct_convt_grads(const convt_shape *t, int ho, int wo, const double *xt, const double *wt,
                               const double *dout, double *dxt, double *dwt) {
    memset(dxt, 0, (size_t)t->n * t->ci * t->hi * t->wi * sizeof *dxt);
    memset(dwt, 0, (size_t)t->ci * t->co * t->k * t->k * sizeof *dwt);
    for (int n = 0; n < t->n; n++)
        for (int ci = 0; ci < t->ci; ci++)
            for (int ih = 0; ih < t->hi; ih++)
                for (int iw = 0; iw < t->wi; iw++) {
                    size_t xi = ((size_t)(n * t->ci + ci) * t->hi + ih) * t->wi + iw;
                    for (int co = 0; co < t->co; co++)
                        for (int i = 0; i < t->k; i++)
                            for (int j = 0; j < t->k; j++) {
                                int oh = ih * t->s - t->p + i, ow = iw * t->s - t->p + j;
                                if (oh < 0 || oh >= ho || ow < 0 || ow >= wo) continue;
                                size_t wi = ((size_t)(ci * t->co + co) * t->k + i) * t->k + j;
                                double d = dout[((size_t)(n * t->co + co) * ho + oh) * wo + ow];
                                dxt[xi] += d * wt[wi];
                                dwt[wi] += d * xt[xi];
                            }
                }
}

EB_TEST(conv_transpose_composition_matches_direct_loop) {
    /* The net layer's ConvTranspose2d: forward = conv2d_backward_data, input gradient = conv2d_forward
     * (no bias), weight gradient = conv2d_backward_filter(x = dout, dy = xt), all on the adjoint conv2d's
     * geometry (its input is the convT output). Bound 1e-12 as for the forward (<= c*k*k or n*h*w
     * products of O(1) terms, summed in double in different orders). */
    static const convt_shape fixed[] = {
        {2, 4, 3, 4, 4, 4, 2, 1, 0, 0},  /* DCGAN generator block: 4x4 -> 8x8 */
        {2, 3, 2, 3, 5, 3, 2, 1, 1, 1},  /* k3 s2 p1 output_padding 1: 3x5 -> 6x10 */
        {1, 2, 3, 4, 3, 5, 2, 2, 1, 0},  /* k5 s2 p2, output_padding only in h: 4x3 -> 8x5 */
        {2, 2, 2, 2, 3, 4, 3, 0, 2, 1},  /* stride 3, output_padding 2 / 1 */
        {1, 3, 2, 5, 4, 3, 1, 1, 0, 0},  /* stride 1 */
    };
    const int n_fixed = (int)(sizeof fixed / sizeof fixed[0]);
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (int c = 0; c < n_fixed + 4; c++) {
        convt_shape t;
        if (c < n_fixed) {
            t = fixed[c];
        } else {
            t.n = rng_int(1, 3), t.ci = rng_int(1, 4), t.co = rng_int(1, 4), t.hi = rng_int(1, 5);
            t.wi = rng_int(1, 5), t.k = rng_int(3, 5), t.s = rng_int(1, 3), t.p = rng_int(0, (t.k - 1) / 2);
            t.op_h = rng_int(0, t.s - 1), t.op_w = rng_int(0, t.s - 1);
        }
        int ho = (t.hi - 1) * t.s - 2 * t.p + t.k + t.op_h, wo = (t.wi - 1) * t.s - 2 * t.p + t.k + t.op_w;
        /* The adjoint conv2d: input = the convT output (co channels), output = the convT input (ci). */
        eb_conv_geom g = {.n = t.n, .c_in = t.co, .h_in = ho, .w_in = wo, .c_out = t.ci, .h_out = t.hi,
                          .w_out = t.wi, .k_h = t.k, .k_w = t.k, .stride = t.s, .pad = t.p};
        size_t nxt = (size_t)t.n * t.ci * t.hi * t.wi, nout = (size_t)t.n * t.co * ho * wo;
        size_t nwt = (size_t)t.ci * t.co * t.k * t.k;
        double *xt = rand_buf(nxt), *wt = rand_buf(nwt), *dout = rand_buf(nout);
        double *out = nan_buf(nout), *dxt = nan_buf(nxt), *dwt = nan_buf(nwt);
        double *rout = malloc(nout * sizeof *rout), *rdxt = malloc(nxt * sizeof *rdxt), *rdwt = malloc(nwt * sizeof *rdwt);
        EB_CHECK_OK(be.ops->conv2d_backward_data(be.ctx, &g, xt, wt, out, 1.0, 0.0));
        EB_CHECK_OK(be.ops->conv2d_forward(be.ctx, &g, dout, wt, dxt, 1.0, 0.0));
        EB_CHECK_OK(be.ops->conv2d_backward_filter(be.ctx, &g, dout, xt, dwt, 1.0, 0.0));
        direct_convt(&t, ho, wo, xt, wt, rout);
        direct_convt_grads(&t, ho, wo, xt, wt, dout, rdxt, rdwt);
        double e1 = eb_test_rel_err(out, rout, nout, 1e-300), e2 = eb_test_rel_err(dxt, rdxt, nxt, 1e-300);
        double e3 = eb_test_rel_err(dwt, rdwt, nwt, 1e-300);
        printf("  convT %d: n=%d %dx%dx%d -> %dx%dx%d k=%d s=%d p=%d op=%d,%d: out %.3g dx %.3g dw %.3g\n", c, t.n,
               t.ci, t.hi, t.wi, t.co, ho, wo, t.k, t.s, t.p, t.op_h, t.op_w, e1, e2, e3);
        EB_CHECK(e1 < 1e-12, "convT case %d: forward rel err %.3g", c, e1);
        EB_CHECK(e2 < 1e-12, "convT case %d: input gradient rel err %.3g", c, e2);
        EB_CHECK(e3 < 1e-12, "convT case %d: weight gradient rel err %.3g", c, e3);
        free(xt), free(wt), free(dout), free(out), free(dxt), free(dwt), free(rout), free(rdxt), free(rdwt);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(conv_bad_geometry_is_arg_error) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const eb_conv_geom good = geom_make(2, 3, 4, 4, 4, 4, 4, 2, 1, 0, 0); /* 8x8 -> 4x4 */
    double *x = rand_buf(x_elems(&good)), *w = rand_buf(w_elems(&good)), *y = rand_buf(y_elems(&good));
    EB_CHECK_OK(be.ops->conv2d_forward(be.ctx, &good, x, w, y, 1.0, 0.0));
    struct { eb_conv_geom g; const char *why; const char *needle; } bad[7];
    for (int i = 0; i < 7; i++) bad[i].g = good;
    bad[0].g.h_out = 5, bad[0].why = "h_out too large", bad[0].needle = "expected 4x4";
    bad[1].g.w_out = 3, bad[1].why = "w_out too small", bad[1].needle = "expected 4x4";
    bad[2].g.stride = 0, bad[2].why = "stride 0", bad[2].needle = "stride";
    bad[3].g.pad = -1, bad[3].why = "negative pad", bad[3].needle = "pad";
    bad[4].g.c_in = 0, bad[4].why = "no input channels", bad[4].needle = "positive";
    bad[5].g.h_in = 2, bad[5].g.pad = 0, bad[5].why = "input smaller than the kernel", bad[5].needle = "too small";
    bad[6].g.k_w = 0, bad[6].why = "zero kernel width", bad[6].needle = "positive";
    for (int i = 0; i < 7; i++) {
        for (int op = 0; op < 3; op++) {
            eb_error_clear();
            eb_status st = op == 0 ? be.ops->conv2d_forward(be.ctx, &bad[i].g, x, w, y, 1.0, 0.0)
                         : op == 1 ? be.ops->conv2d_backward_data(be.ctx, &bad[i].g, y, w, x, 1.0, 0.0)
                                   : be.ops->conv2d_backward_filter(be.ctx, &bad[i].g, x, y, w, 1.0, 0.0);
            const char *msg = eb_error_message();
            if (op == 0) printf("  %s -> %s: %s\n", bad[i].why, eb_status_name(st), msg);
            EB_CHECK(st == EB_ERR_ARG, "%s (op %d): status %s", bad[i].why, op, eb_status_name(st));
            EB_CHECK(strstr(msg, bad[i].needle) != NULL, "%s (op %d): message '%s' lacks '%s'", bad[i].why, op,
                     msg, bad[i].needle);
            EB_CHECK(strstr(msg, "conv2d_") != NULL, "%s: message '%s' does not name the op", bad[i].why, msg);
        }
    }
    eb_error_clear();
    EB_CHECK(be.ops->conv2d_forward(be.ctx, NULL, x, w, y, 1.0, 0.0) == EB_ERR_ARG, "NULL geometry accepted");
    EB_CHECK(be.ops->conv2d_forward(be.ctx, &good, NULL, w, y, 1.0, 0.0) == EB_ERR_ARG, "NULL input accepted");
    /* one sample of 512 x 2100 x 2100 (2.26G elements with its border): the filter gradient's gathers index a
     * sample with 32-bit offsets, so it refuses before reading a buffer */
    eb_conv_geom huge = geom_make(1, 512, 1, 1050, 1050, 4, 4, 2, 1, 0, 0);
    eb_error_clear();
    EB_CHECK(be.ops->conv2d_backward_filter(be.ctx, &huge, x, y, w, 1.0, 0.0) == EB_ERR_ARG &&
                 strstr(eb_error_message(), "> 2^31") != NULL,
             "a 2^31-element sample accepted by backward_filter: '%s'", eb_error_message());
    free(x), free(w), free(y);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* ---- the Winograd ops (conv/wino_ops.c), called directly: the op table takes them only where they save enough
 * multiply-adds, so these shapes cover their edges whatever that choice ---- */

/* One Winograd op against its direct loop with alpha 2, beta 0.5 on a random output: 1e-12 relative (the
 * transforms add a few roundings to each sum of <= 160 x 16 products of O(1) terms; an index error is O(1)). */
static int wino_check(eb_backend *be, const eb_conv_geom *g, int which, const char *what) {
    const size_t nx = x_elems(g), ny = y_elems(g), nw = w_elems(g);
    const size_t nout = which == 0 ? ny : which == 1 ? nx : nw;
    double *x = rand_buf(nx), *w = rand_buf(nw), *dy = rand_buf(ny), *out0 = rand_buf(nout);
    double *out = malloc(nout * sizeof *out), *ref = malloc(nout * sizeof *ref);
    memcpy(out, out0, nout * sizeof *out);
    eb_status st = which == 0   ? eb_cpu_wino_forward(be->ctx, g, x, w, out, 2.0, 0.5)
                   : which == 1 ? eb_cpu_wino_backward_data(be->ctx, g, dy, w, out, 2.0, 0.5)
                                : eb_cpu_wino_backward_filter(be->ctx, g, x, dy, out, 2.0, 0.5);
    if (which == 0) direct_forward(g, x, w, ref);
    else if (which == 1) direct_backward_data(g, dy, w, ref);
    else direct_backward_filter(g, x, dy, ref);
    for (size_t i = 0; i < nout; i++) ref[i] = 2.0 * ref[i] + 0.5 * out0[i];
    const double err = st == EB_OK ? eb_test_rel_err(out, ref, nout, 1e-300) : INFINITY;
    printf("  winograd %s: n=%d %dx%dx%d -> %dx%dx%d k=%d s=%d p=%d: rel err %.3g\n", what, g->n, g->c_in, g->h_in,
           g->w_in, g->c_out, g->h_out, g->w_out, g->k_h, g->stride, g->pad, err);
    free(x), free(w), free(dy), free(out0), free(out), free(ref);
    return err < 1e-12;
}

EB_TEST(winograd_ops_match_the_direct_loops) {
    /* n c_in c_out h_out w_out k s pad op_h op_w */
    static const int shapes[][10] = {
        {2, 16, 10, 9, 11, 3, 1, 1, 0, 0}, /* F(2x2, 3x3): odd map, 10 output channels (a part row group) */
        {1, 4, 9, 6, 5, 4, 2, 1, 1, 0},    /* k4 s2 p1, F(2x2, 2x2) per phase, an input row no tap reads */
        {1, 16, 8, 4, 5, 2, 1, 0, 0, 0},   /* k2 s1 p0 */
        {1, 4, 8, 4, 4, 6, 2, 2, 1, 1},    /* k6 s2 p2: F(2x2, 3x3) per phase, output_padding */
        {1, 40, 8, 4, 4, 4, 2, 1, 0, 0},   /* 160 reduction channels: two GEMM panels of 128 */
        {1, 16, 8, 6, 6, 3, 1, 2, 0, 0},   /* k3 p2: the 4x4 input is smaller than the output */
        {3, 16, 52, 5, 4, 3, 1, 1, 0, 0},  /* 52 output channels: two strips of 48 */
        {2, 3, 8, 8, 8, 4, 2, 1, 0, 0},    /* 12 reduction channels (not a multiple of 8) */
    };
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int *f = shapes[s];
        const eb_conv_geom g = geom_make(f[0], f[1], f[2], f[3], f[4], f[5], f[5], f[6], f[7], f[8], f[9]);
        EB_CHECK(wino_check(&be, &g, 0, "forward"), "shape %zu: forward", s);
        EB_CHECK(wino_check(&be, &g, 1, "backward data"), "shape %zu: backward data", s);
        EB_CHECK(wino_check(&be, &g, 2, "backward filter"), "shape %zu: backward filter", s);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(winograd_ops_run_in_blocks_and_chunks) {
    /* 24 samples of 16x32x32, k3: 6144 tiles, many blocks of tile rows for the forward and the data gradient,
     * and the filter gradient's V and dM of 12 samples per chunk, summed chunk after chunk (beta applied once) */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const eb_conv_geom g = geom_make(24, 16, 16, 32, 32, 3, 3, 1, 1, 0, 0);
    for (int which = 0; which < 3; which++) EB_CHECK(wino_check(&be, &g, which, "blocks"), "op %d", which);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(winograd_results_do_not_depend_on_the_thread_count) {
    /* blocks of tiles, phase jobs and the filter gradient's t2 GEMMs are split over the threads, never a sum */
#ifdef _OPENMP
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const eb_conv_geom shapes[2] = {geom_make(8, 16, 24, 12, 12, 3, 3, 1, 1, 0, 0), geom_make(8, 8, 16, 8, 8, 4, 4, 2, 1, 0, 0)};
    for (int s = 0; s < 2; s++) EB_CHECK(same_bits_on_1_and_3_threads(&be, &shapes[s], 1, s) == EB_TEST_PASS, "shape %d", s);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
#else
    return EB_TEST_SKIP;
#endif
}
