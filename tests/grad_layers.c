/* Gradient checks of every layer kind and of small whole nets (float64 oracle): input gradient, parameter
 * gradients and tangent (JVP) against central finite differences of the forward pass. */
#include "harness.h"
#include "net_random.h"

#include "ebgan/backend.h"
#include "ebgan/net.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Error bound. Central differences with h = 1e-6 in float64 have truncation error ~h^2 |f'''| ~ 1e-12 and
 * rounding error ~eps |L| / h ~ 2e-16 * 10 / 1e-6 = 2e-9 for the O(10) objectives below, against gradients
 * of order 0.1..10: the relative error of a correct gradient is ~1e-9. A wrong formula (missing term,
 * transposed weight, wrong stride) gives errors of order 1e-1..1, so 1e-6 separates the two by 1000x both ways. */
#define FD_H 1e-6
#define FD_BOUND 1e-6

typedef char eb_assert_f64[sizeof(eb_real) == sizeof(double) ? 1 : -1]; /* grad_* tests link the f64 oracle */

/* L(x) = <wout, net(x)>. */
static eb_status objective(const eb_backend *be, eb_net *net, eb_net_ws *ws, const double *x, const double *wout,
                           int n, eb_net_mode mode, double *L) {
    EB_TRY(eb_net_forward(be, net, ws, x, n, mode));
    const double *y = ws->h[net->n_layers];
    size_t m = (size_t)n * (size_t)eb_shape_numel(net->out_shape);
    double s = 0;
    for (size_t i = 0; i < m; i++) s += wout[i] * y[i];
    *L = s;
    return EB_OK;
}

/* Checks net(spec) on random data: dL/dx, dL/dtheta and the tangent J tx against central differences.
 * Returns EB_TEST_PASS or EB_TEST_FAIL and prints the three errors. */
static int check_net(const char *label, const char *spec, eb_shape in, int n, eb_net_mode mode, uint64_t seed) {
    eb_backend be;
    eb_net net;
    eb_net_ws ws;
    uint64_t rng = eb_test_rand_init(eb_test_seed(seed));
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    EB_CHECK_OK(eb_net_init(&net, &be, "L", in, spec));
    EB_CHECK_OK(eb_net_ws_init(&ws, &be, &net, n, 1));
    eb_test_net_randomize(&net, &rng);
    const size_t nx = (size_t)n * (size_t)eb_shape_numel(in), ny = (size_t)n * (size_t)eb_shape_numel(net.out_shape);
    const size_t np = net.n_params;
    double *x = malloc(nx * sizeof *x), *tx = malloc(nx * sizeof *tx), *dx = malloc(nx * sizeof *dx);
    double *fd_dx = malloc(nx * sizeof *fd_dx), *wout = malloc(ny * sizeof *wout), *ty = malloc(ny * sizeof *ty);
    double *fd_ty = malloc(ny * sizeof *fd_ty), *yp = malloc(ny * sizeof *yp);
    double *gp = malloc((np + 1) * sizeof *gp), *fd_gp = malloc((np + 1) * sizeof *fd_gp);
    EB_CHECK(x && tx && dx && fd_dx && wout && ty && fd_ty && yp && gp && fd_gp, "out of memory");
    eb_test_fill_range(x, nx, -1, 1, &rng);
    eb_test_fill_range(tx, nx, -1, 1, &rng);
    eb_test_fill_range(wout, ny, -1, 1, &rng);
    for (size_t i = 0; i < nx; i++) dx[i] = NAN; /* beta 0 must overwrite */

    /* analytic: forward, backward (grads zeroed, alpha 1), tangent */
    double L0;
    EB_CHECK_OK(objective(&be, &net, &ws, x, wout, n, mode, &L0));
    if (np) memset(net.grads, 0, np * sizeof(double));
    EB_CHECK_OK(eb_net_backward(&be, &net, &ws, wout, n, mode, 1.0, dx, 0.0));
    if (np) memcpy(gp, net.grads, np * sizeof(double));
    EB_CHECK_OK(eb_net_tangent(&be, &net, &ws, tx, n, mode, ty));

    /* finite differences */
    for (size_t i = 0; i < nx; i++) {
        double keep = x[i], Lp, Lm;
        x[i] = keep + FD_H;
        EB_CHECK_OK(objective(&be, &net, &ws, x, wout, n, mode, &Lp));
        x[i] = keep - FD_H;
        EB_CHECK_OK(objective(&be, &net, &ws, x, wout, n, mode, &Lm));
        x[i] = keep;
        fd_dx[i] = (Lp - Lm) / (2 * FD_H);
    }
    for (size_t j = 0; j < np; j++) {
        double keep = net.params[j], Lp, Lm;
        net.params[j] = keep + FD_H;
        EB_CHECK_OK(objective(&be, &net, &ws, x, wout, n, mode, &Lp));
        net.params[j] = keep - FD_H;
        EB_CHECK_OK(objective(&be, &net, &ws, x, wout, n, mode, &Lm));
        net.params[j] = keep;
        fd_gp[j] = (Lp - Lm) / (2 * FD_H);
    }
    double *xs = malloc(nx * sizeof *xs);
    EB_CHECK(xs, "out of memory");
    for (size_t i = 0; i < nx; i++) xs[i] = x[i] + FD_H * tx[i];
    EB_CHECK_OK(eb_net_forward(&be, &net, &ws, xs, n, mode));
    memcpy(yp, ws.h[net.n_layers], ny * sizeof *yp);
    for (size_t i = 0; i < nx; i++) xs[i] = x[i] - FD_H * tx[i];
    EB_CHECK_OK(eb_net_forward(&be, &net, &ws, xs, n, mode));
    for (size_t i = 0; i < ny; i++) fd_ty[i] = (yp[i] - ws.h[net.n_layers][i]) / (2 * FD_H);

    double e_dx = eb_test_rel_err(dx, fd_dx, nx, 1e-3);
    double e_gp = np ? eb_test_rel_err(gp, fd_gp, np, 1e-3) : 0;
    double e_ty = eb_test_rel_err(ty, fd_ty, ny, 1e-3);
    printf("%-22s %-60s n=%d params=%-5zu rel err: dx %.2e  dtheta %.2e  tangent %.2e\n", label, spec, n, np, e_dx,
           e_gp, e_ty);
    int ok = e_dx < FD_BOUND && e_gp < FD_BOUND && e_ty < FD_BOUND;
    free(x); free(tx); free(dx); free(fd_dx); free(wout); free(ty); free(fd_ty); free(yp); free(gp); free(fd_gp);
    free(xs);
    eb_net_ws_free(&ws, &be);
    eb_net_free(&net, &be);
    eb_cpu_backend_free(&be);
    EB_CHECK(ok, "%s: gradient or tangent disagrees with finite differences (bound %.0e)", label, FD_BOUND);
    return EB_TEST_PASS;
}

#define SHAPE(c, h, w) ((eb_shape){(c), (h), (w)})

EB_TEST(linear_bias) { return check_net("linear+bias", "linear:4", SHAPE(5, 1, 1), 3, EB_MODE_TRAIN, 101); }
/* a [c,h,w] input is flattened implicitly */
EB_TEST(linear_nobias_flatten) { return check_net("linear nobias", "linear:3:nobias", SHAPE(2, 2, 3), 4, EB_MODE_TRAIN, 102); }
/* non-square input catches h/w mix-ups; stride 2, padding 1 */
EB_TEST(conv_bias) { return check_net("conv+bias", "conv:4:3:2:1", SHAPE(3, 7, 6), 2, EB_MODE_TRAIN, 103); }
EB_TEST(conv_nobias_stride1) { return check_net("conv nobias", "conv:2:2:1:0:nobias", SHAPE(2, 4, 5), 3, EB_MODE_TRAIN, 104); }
EB_TEST(convt_output_padding) { return check_net("convt op=1", "convt:2:3:2:1:1", SHAPE(3, 4, 5), 2, EB_MODE_TRAIN, 105); }
EB_TEST(convt_k4_nobias) { return check_net("convt k4", "convt:3:4:2:1:0:nobias", SHAPE(2, 3, 3), 2, EB_MODE_TRAIN, 106); }
EB_TEST(act_relu) { return check_net("relu", "relu", SHAPE(3, 2, 2), 3, EB_MODE_TRAIN, 107); }
EB_TEST(act_lrelu) { return check_net("lrelu", "lrelu:0.2", SHAPE(3, 2, 2), 3, EB_MODE_TRAIN, 108); }
EB_TEST(act_tanh) { return check_net("tanh", "tanh", SHAPE(3, 2, 2), 3, EB_MODE_TRAIN, 109); }
EB_TEST(act_softplus) { return check_net("softplus", "softplus", SHAPE(3, 2, 2), 3, EB_MODE_TRAIN, 110); }
EB_TEST(act_sigmoid) { return check_net("sigmoid", "sigmoid", SHAPE(3, 2, 2), 3, EB_MODE_TRAIN, 111); }
/* training mode: batch statistics couple the samples (input gradient and tangent see it) */
EB_TEST(bn_train_image) { return check_net("bn train", "bn", SHAPE(3, 2, 2), 4, EB_MODE_TRAIN, 112); }
EB_TEST(bn_train_dense) { return check_net("bn train dense", "bn", SHAPE(4, 1, 1), 6, EB_MODE_TRAIN, 113); }
EB_TEST(bn_infer) { return check_net("bn infer", "bn", SHAPE(3, 2, 2), 4, EB_MODE_INFER, 114); }
EB_TEST(reshape_view) { return check_net("reshape", "reshape:3:2:2", SHAPE(12, 1, 1), 3, EB_MODE_TRAIN, 115); }
/* a whole net: every kind in one stack (bn in training mode), reshape inside */
EB_TEST(net_mixed_train) {
    return check_net("net train", "conv:4:3:2:1,tanh,convt:3:3:2:1:1,bn,lrelu:0.1,reshape:108:1:1,linear:5,softplus,linear:2",
                     SHAPE(2, 6, 6), 3, EB_MODE_TRAIN, 116);
}
EB_TEST(net_generator_like_infer) {
    return check_net("net G infer", "linear:32,reshape:8:2:2,bn,relu,convt:4:3:2:1:1,bn,relu,convt:2:3:2:1:1,tanh",
                     SHAPE(3, 1, 1), 3, EB_MODE_INFER, 117);
}

/* The layer primitives on separate buffers (the net aliases reshape views; here the copy path runs), and
 * the accumulation contract: grads += alpha * dL/dtheta (bn's through its 1/alpha rescale), dx = dL/dx + beta dx. */
EB_TEST(backward_accumulates) {
    eb_backend be;
    eb_net net;
    eb_net_ws ws;
    uint64_t rng = eb_test_rand_init(eb_test_seed(118));
    const int n = 4;
    const eb_shape in = SHAPE(3, 1, 1);
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    EB_CHECK_OK(eb_net_init(&net, &be, "L", in, "linear:4,bn,tanh,linear:2"));
    EB_CHECK_OK(eb_net_ws_init(&ws, &be, &net, n, 0));
    eb_test_net_randomize(&net, &rng);
    const size_t np = net.n_params, nx = (size_t)n * 3, ny = (size_t)n * 2;
    double x[12], dy[8], dx0[12], dx1[12], dxe[12], g0[512], g1[512], base[512];
    EB_CHECK(np <= 512, "net too large for the test buffers");
    eb_test_fill_range(x, nx, -1, 1, &rng);
    eb_test_fill_range(dy, ny, -1, 1, &rng);
    eb_test_fill_range(base, np, -1, 1, &rng);
    eb_test_fill_range(dx1, nx, -1, 1, &rng);
    memcpy(dxe, dx1, sizeof dxe);
    /* reference: grads from zero with alpha 1 */
    EB_CHECK_OK(eb_net_forward(&be, &net, &ws, x, n, EB_MODE_TRAIN));
    memset(net.grads, 0, np * sizeof(double));
    EB_CHECK_OK(eb_net_backward(&be, &net, &ws, dy, n, EB_MODE_TRAIN, 1.0, dx0, 0.0));
    memcpy(g0, net.grads, np * sizeof(double));
    /* alpha = -0.25 onto base; dx_beta = 0.5 onto dx1 */
    memcpy(net.grads, base, np * sizeof(double));
    EB_CHECK_OK(eb_net_backward(&be, &net, &ws, dy, n, EB_MODE_TRAIN, -0.25, dx1, 0.5));
    memcpy(g1, net.grads, np * sizeof(double));
    double want[512], wantx[12];
    for (size_t j = 0; j < np; j++) want[j] = base[j] - 0.25 * g0[j];
    for (size_t i = 0; i < nx; i++) wantx[i] = dx0[i] + 0.5 * dxe[i];
    double eg = eb_test_rel_err(g1, want, np, 1e-3), ex = eb_test_rel_err(dx1, wantx, nx, 1e-3);
    printf("accumulate: grads %.2e dx %.2e\n", eg, ex);
    EB_CHECK(eg < 1e-12 && ex < 1e-12, "grads += alpha * g / dx = g + beta * dx violated (%.2e, %.2e)", eg, ex);
    /* alpha = 0 and dx = NULL: parameters untouched */
    memcpy(net.grads, base, np * sizeof(double));
    EB_CHECK_OK(eb_net_backward(&be, &net, &ws, dy, n, EB_MODE_TRAIN, 0.0, NULL, 0.0));
    EB_CHECK(memcmp(net.grads, base, np * sizeof(double)) == 0, "param_alpha 0 changed the gradients");
    eb_net_ws_free(&ws, &be);
    eb_net_free(&net, &be);

    /* reshape primitives with distinct buffers: a copy forward / backward / tangent */
    EB_CHECK_OK(eb_net_init(&net, &be, "R", SHAPE(6, 1, 1), "reshape:3:2:1"));
    EB_CHECK_OK(eb_net_ws_init(&ws, &be, &net, 2, 0));
    double a[12], b[12], c[12];
    eb_test_fill_range(a, 12, -1, 1, &rng);
    eb_test_fill_range(c, 12, -1, 1, &rng);
    EB_CHECK_OK(eb_layer_forward(&be, &net, &ws, 0, a, b, 2, EB_MODE_TRAIN));
    EB_CHECK(memcmp(a, b, 12 * sizeof(double)) == 0, "reshape forward is not a copy");
    memcpy(dxe, c, sizeof c);
    EB_CHECK_OK(eb_layer_backward(&be, &net, &ws, 0, a, b, a, c, 2.0, 2, EB_MODE_TRAIN, 1.0));
    for (int i = 0; i < 12; i++) EB_CHECK(fabs(c[i] - (a[i] + 2.0 * dxe[i])) < 1e-15, "reshape backward beta");
    EB_CHECK_OK(eb_layer_tangent(&be, &net, &ws, 0, a, b, c, b, 2, EB_MODE_TRAIN));
    EB_CHECK(memcmp(b, c, 12 * sizeof(double)) == 0, "reshape tangent is not a copy");
    eb_net_ws_free(&ws, &be);
    eb_net_free(&net, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}
