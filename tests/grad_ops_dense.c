/* Float64 checks of the CPU dense ops through the op table: linear forward (with and without bias) against
 * a direct loop, its data and weight gradients against central differences, (alpha, beta), and the
 * per-channel bias add / reduction. */
#define XS_SEED 0xD1B54A32D192ED03ull
#include "oracle_ctx.h"

#include "ebgan/backend.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Host buffers: the CPU backend's memory is host memory, so tests pass malloc'd pointers to its ops. */


/* Shapes: a few fixed (single row, single input / output, a hidden-512-like width) and random draws. */
#define N_SHAPES 8
static void shape_get(int idx, int *n, int *in, int *out) {
    static const int fixed[4][3] = {{1, 1, 1}, {5, 7, 3}, {3, 1, 9}, {4, 64, 33}};
    if (idx < 4) {
        *n = fixed[idx][0], *in = fixed[idx][1], *out = fixed[idx][2];
        return;
    }
    *n = rng_int(1, 9), *in = rng_int(1, 17), *out = rng_int(1, 13);
}

/* y = x w^T (+ b), directly. */
static void direct_linear(const double *x, const double *w, const double *b, double *y, int n, int in, int out) {
    for (int r = 0; r < n; r++)
        for (int o = 0; o < out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int i = 0; i < in; i++) acc += x[(size_t)r * in + i] * w[(size_t)o * in + i];
            y[(size_t)r * out + o] = acc;
        }
}

/* Central differences of L(v) = <dy, x w^T> at every entry of v (x or w). L is linear in v, so the only
 * error is rounding; <dy, y+ - y-> is the same scalar as L(v+h) - L(v-h) with untouched outputs cancelling
 * exactly. */
static int fd_grad(eb_backend *be, double *x, double *w, double *v, size_t nv, const double *dy, int n, int in,
                   int out, double *g) {
    const double h = 1e-6;
    size_t ny = (size_t)n * out;
    double *yp = malloc(ny * sizeof *yp), *ym = malloc(ny * sizeof *ym);
    int ok = 1;
    for (size_t i = 0; i < nv && ok; i++) {
        double v0 = v[i];
        v[i] = v0 + h;
        ok = be->ops->linear_forward(be->ctx, x, w, NULL, yp, n, in, out) == EB_OK;
        v[i] = v0 - h;
        ok = ok && be->ops->linear_forward(be->ctx, x, w, NULL, ym, n, in, out) == EB_OK;
        v[i] = v0;
        double s = 0.0;
        for (size_t j = 0; j < ny; j++) s += dy[j] * (yp[j] - ym[j]);
        g[i] = s / (2.0 * h);
    }
    free(yp);
    free(ym);
    return ok;
}

EB_TEST(linear_forward_with_bias_matches_direct_loop) {
    /* Bound 1e-12: both sides sum <= 64 products of O(1) terms in double, in different orders (~1e-15). */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (int s = 0; s < N_SHAPES; s++) {
        int n, in, out;
        shape_get(s, &n, &in, &out);
        double *x = rand_buf((size_t)n * in), *w = rand_buf((size_t)out * in), *b = rand_buf(out);
        double *y = nan_buf((size_t)n * out), *ref = malloc((size_t)n * out * sizeof *ref);
        EB_CHECK_OK(be.ops->linear_forward(be.ctx, x, w, b, y, n, in, out));
        direct_linear(x, w, b, ref, n, in, out);
        double err = eb_test_rel_err(y, ref, (size_t)n * out, 1e-300);
        EB_CHECK(err < 1e-12, "n=%d in=%d out=%d: rel err %.3g", n, in, out, err);
        free(x), free(w), free(b), free(y), free(ref);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(linear_forward_without_bias_matches_direct_loop) {
    /* b = NULL (the tangent pass of DESIGN.md §2 step 4); the output starts as NaN, so it must be
     * overwritten, not accumulated. Bound 1e-12 as above. */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (int s = 0; s < N_SHAPES; s++) {
        int n, in, out;
        shape_get(s, &n, &in, &out);
        double *x = rand_buf((size_t)n * in), *w = rand_buf((size_t)out * in);
        double *y = nan_buf((size_t)n * out), *ref = malloc((size_t)n * out * sizeof *ref);
        EB_CHECK_OK(be.ops->linear_forward(be.ctx, x, w, NULL, y, n, in, out));
        direct_linear(x, w, NULL, ref, n, in, out);
        double err = eb_test_rel_err(y, ref, (size_t)n * out, 1e-300);
        EB_CHECK(err < 1e-12, "n=%d in=%d out=%d: rel err %.3g", n, in, out, err);
        free(x), free(w), free(y), free(ref);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(linear_backward_data_matches_finite_differences) {
    /* L(x) = <dy, x w^T> is linear in x: no truncation error; each x entry touches `out` <= 33 outputs
     * computed to ~eps*|y| (|y| <= ~8), so the quotient errs by ~2e-16*8*33/1e-6 ~ 5e-8 at worst against
     * gradients of size ~1-5. Bound 1e-7; a transposed or misindexed GEMM gives O(1). */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (int s = 0; s < N_SHAPES; s++) {
        int n, in, out;
        shape_get(s, &n, &in, &out);
        size_t nx = (size_t)n * in;
        double *x = rand_buf(nx), *w = rand_buf((size_t)out * in), *dy = rand_buf((size_t)n * out);
        double *dx = nan_buf(nx), *fd = malloc(nx * sizeof *fd);
        EB_CHECK_OK(be.ops->linear_backward_data(be.ctx, dy, w, dx, n, in, out, 1.0, 0.0));
        EB_CHECK(fd_grad(&be, x, w, x, nx, dy, n, in, out, fd), "forward failed: %s", eb_error_message());
        double err = eb_test_rel_err(dx, fd, nx, 1e-300);
        printf("  backward_data n=%d in=%d out=%d: rel err %.3g\n", n, in, out, err);
        EB_CHECK(err < 1e-7, "n=%d in=%d out=%d: rel err %.3g", n, in, out, err);
        free(x), free(w), free(dy), free(dx), free(fd);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(linear_backward_weight_matches_finite_differences) {
    /* L(w) = <dy, x w^T> is linear in w; each weight touches n <= 9 outputs. Bound 1e-7 as above. */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (int s = 0; s < N_SHAPES; s++) {
        int n, in, out;
        shape_get(s, &n, &in, &out);
        size_t nw = (size_t)out * in;
        double *x = rand_buf((size_t)n * in), *w = rand_buf(nw), *dy = rand_buf((size_t)n * out);
        double *dw = nan_buf(nw), *fd = malloc(nw * sizeof *fd);
        EB_CHECK_OK(be.ops->linear_backward_weight(be.ctx, x, dy, dw, n, in, out, 1.0, 0.0));
        EB_CHECK(fd_grad(&be, x, w, w, nw, dy, n, in, out, fd), "forward failed: %s", eb_error_message());
        double err = eb_test_rel_err(dw, fd, nw, 1e-300);
        printf("  backward_weight n=%d in=%d out=%d: rel err %.3g\n", n, in, out, err);
        EB_CHECK(err < 1e-7, "n=%d in=%d out=%d: rel err %.3g", n, in, out, err);
        free(x), free(w), free(dy), free(dw), free(fd);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* One accumulating op as f(a, b, out, alpha, beta) so (alpha, beta) is checked the same way for each. */
typedef eb_status (*acc_fn)(eb_backend *be, const double *a, const double *b, double *out, int n, int in,
                            int out_, double alpha, double beta);
static eb_status acc_bd(eb_backend *be, const double *dy, const double *w, double *dx, int n, int in, int out,
                        double al, double bt) {
    return be->ops->linear_backward_data(be->ctx, dy, w, dx, n, in, out, al, bt);
}
static eb_status acc_bw(eb_backend *be, const double *x, const double *dy, double *dw, int n, int in, int out,
                        double al, double bt) {
    return be->ops->linear_backward_weight(be->ctx, x, dy, dw, n, in, out, al, bt);
}
/* bias_backward over [n, c = in, hw = out]: a, b unused beyond a = dy. */
static eb_status acc_bb(eb_backend *be, const double *dy, const double *unused, double *db, int n, int c, int hw,
                        double al, double bt) {
    return be->ops->bias_backward(be->ctx, dy, db, n, c, hw, al, bt);
}

/* out = alpha * ref + beta * out0 for beta = 0 (out NaN beforehand), 1, and a general value.
 * Bound 1e-14: alpha and beta scale one rounded result, so the sides differ by a few ulps. */
static int check_alpha_beta(eb_backend *be, acc_fn fn, const char *name, int n, int in, int out, size_t na,
                            size_t nb, size_t nout) {
    double *a = rand_buf(na), *b = rand_buf(nb), *out0 = rand_buf(nout);
    double *ref = nan_buf(nout), *o = malloc(nout * sizeof *o), *want = malloc(nout * sizeof *want);
    const double alphas[3] = {0.7, 1.0, -1.5}, betas[3] = {0.0, 1.0, 0.25};
    int ok = fn(be, a, b, ref, n, in, out, 1.0, 0.0) == EB_OK;
    for (int c = 0; c < 3 && ok; c++) {
        if (betas[c] == 0.0)
            for (size_t i = 0; i < nout; i++) o[i] = NAN; /* beta == 0 must overwrite, never compute 0*NaN */
        else
            memcpy(o, out0, nout * sizeof *o);
        ok = fn(be, a, b, o, n, in, out, alphas[c], betas[c]) == EB_OK;
        for (size_t i = 0; i < nout; i++) want[i] = alphas[c] * ref[i] + (betas[c] == 0.0 ? 0.0 : betas[c] * out0[i]);
        double err = eb_test_rel_err(o, want, nout, 1e-300);
        if (!ok || !(err < 1e-14)) {
            fprintf(stderr, "%s n=%d in=%d out=%d: alpha %g beta %g: rel err %.3g (%s)\n", name, n, in, out,
                    alphas[c], betas[c], err, ok ? "ok" : eb_error_message());
            ok = 0;
        }
    }
    free(a), free(b), free(out0), free(ref), free(o), free(want);
    return ok;
}

EB_TEST(linear_alpha_beta_semantics) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (int s = 0; s < N_SHAPES; s++) {
        int n, in, out;
        shape_get(s, &n, &in, &out);
        size_t nx = (size_t)n * in, ny = (size_t)n * out, nw = (size_t)out * in;
        EB_CHECK(check_alpha_beta(&be, acc_bd, "linear_backward_data", n, in, out, ny, nw, nx), "shape %d", s);
        EB_CHECK(check_alpha_beta(&be, acc_bw, "linear_backward_weight", n, in, out, nx, ny, nw), "shape %d", s);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(bias_add_matches_direct_loop) {
    /* Dense (hw = 1) and image (hw > 1) layouts; one addition per element, so the result is exact. */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const int shapes[4][3] = {{3, 5, 1}, {2, 4, 12}, {1, 1, 7}, {4, 3, 20}};
    for (int s = 0; s < 4; s++) {
        int n = shapes[s][0], c = shapes[s][1], hw = shapes[s][2];
        size_t ne = (size_t)n * c * hw;
        double *y = rand_buf(ne), *b = rand_buf(c), *ref = malloc(ne * sizeof *ref);
        for (int r = 0; r < n; r++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < hw; i++) {
                    size_t k = ((size_t)r * c + ch) * hw + i;
                    ref[k] = y[k] + b[ch];
                }
        EB_CHECK_OK(be.ops->bias_add(be.ctx, y, b, n, c, hw));
        double err = eb_test_rel_err(y, ref, ne, 1e-300);
        EB_CHECK(err == 0.0, "n=%d c=%d hw=%d: rel err %.3g", n, c, hw, err);
        free(y), free(b), free(ref);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(bias_backward_matches_finite_differences) {
    /* L(b) = <dy, bias_add(y0, b)> is linear in b with dL/db[c] = sum_{n, hw} dy; the central difference
     * <dy, y+ - y-> / 2h has rounding error ~eps*|y0|*(n*hw <= 80 terms)/h ~ 2e-8 against gradients ~1-5.
     * Bound 1e-7. */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const int shapes[4][3] = {{3, 5, 1}, {2, 4, 12}, {1, 1, 7}, {4, 3, 20}};
    const double h = 1e-6;
    for (int s = 0; s < 4; s++) {
        int n = shapes[s][0], c = shapes[s][1], hw = shapes[s][2];
        size_t ne = (size_t)n * c * hw;
        double *y0 = rand_buf(ne), *dy = rand_buf(ne), *b = rand_buf(c);
        double *db = nan_buf(c), *fd = malloc(c * sizeof *fd);
        double *yp = malloc(ne * sizeof *yp), *ym = malloc(ne * sizeof *ym);
        EB_CHECK_OK(be.ops->bias_backward(be.ctx, dy, db, n, c, hw, 1.0, 0.0));
        for (int ch = 0; ch < c; ch++) {
            double b0 = b[ch];
            memcpy(yp, y0, ne * sizeof *yp), memcpy(ym, y0, ne * sizeof *ym);
            b[ch] = b0 + h;
            EB_CHECK_OK(be.ops->bias_add(be.ctx, yp, b, n, c, hw));
            b[ch] = b0 - h;
            EB_CHECK_OK(be.ops->bias_add(be.ctx, ym, b, n, c, hw));
            b[ch] = b0;
            double acc = 0.0;
            for (size_t k = 0; k < ne; k++) acc += dy[k] * (yp[k] - ym[k]);
            fd[ch] = acc / (2.0 * h);
        }
        double err = eb_test_rel_err(db, fd, c, 1e-300);
        printf("  bias_backward n=%d c=%d hw=%d: rel err %.3g\n", n, c, hw, err);
        EB_CHECK(err < 1e-7, "n=%d c=%d hw=%d: rel err %.3g", n, c, hw, err);
        free(y0), free(dy), free(b), free(db), free(fd), free(yp), free(ym);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(bias_backward_alpha_beta_semantics) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const int shapes[3][3] = {{3, 5, 1}, {2, 4, 12}, {4, 3, 20}};
    for (int s = 0; s < 3; s++) {
        int n = shapes[s][0], c = shapes[s][1], hw = shapes[s][2];
        EB_CHECK(check_alpha_beta(&be, acc_bb, "bias_backward", n, c, hw, (size_t)n * c * hw, 1, c), "shape %d", s);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(dense_bad_shape_is_arg_error) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    double *a = rand_buf(64), *b = rand_buf(64), *c = rand_buf(64);
    struct { int n, in, out; } bad[] = {{-1, 2, 2}, {2, 0, 2}, {2, 2, 0}, {2, -3, 2}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int n = bad[i].n, in = bad[i].in, out = bad[i].out;
        eb_status st[3] = {be.ops->linear_forward(be.ctx, a, b, NULL, c, n, in, out),
                           be.ops->linear_backward_data(be.ctx, a, b, c, n, in, out, 1.0, 0.0),
                           be.ops->linear_backward_weight(be.ctx, a, b, c, n, in, out, 1.0, 0.0)};
        for (int k = 0; k < 3; k++) EB_CHECK(st[k] == EB_ERR_ARG, "n=%d in=%d out=%d op %d: %s", n, in, out, k,
                                             eb_status_name(st[k]));
        EB_CHECK(strstr(eb_error_message(), "linear_") != NULL, "message '%s' does not name the op",
                 eb_error_message());
    }
    printf("  %s\n", eb_error_message());
    EB_CHECK(be.ops->bias_add(be.ctx, a, b, 2, 0, 1) == EB_ERR_ARG, "bias_add accepted c = 0");
    EB_CHECK(be.ops->bias_backward(be.ctx, a, b, 2, 3, 0, 1.0, 0.0) == EB_ERR_ARG, "bias_backward accepted hw = 0");
    EB_CHECK(strstr(eb_error_message(), "bias_backward") != NULL, "message '%s'", eb_error_message());
    EB_CHECK(be.ops->linear_forward(be.ctx, NULL, b, NULL, c, 2, 2, 2) == EB_ERR_ARG, "NULL input accepted");
    /* An empty batch is no error: the weight gradient is then beta * dw (0 when beta == 0). */
    for (int i = 0; i < 4; i++) c[i] = NAN;
    EB_CHECK_OK(be.ops->linear_backward_weight(be.ctx, NULL, NULL, c, 0, 2, 2, 1.0, 0.0));
    for (int i = 0; i < 4; i++) EB_CHECK(c[i] == 0.0, "empty batch: dw[%d] = %g, want 0", i, c[i]);
    free(a), free(b), free(c);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}
