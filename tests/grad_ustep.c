/* The whole U-step gradient (E U(real) - E U(fake) + lambda-penalty, DESIGN.md §1-2) against central finite
 * differences of eb_ustep_loss over every parameter, in float64: the double backprop must be exact. */
#include "harness.h"
#include "net_random.h"

#include "ebgan/backend.h"
#include "ebgan/ustep.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Error bound. Central differences with h = 1e-6 in float64: truncation ~h^2 |L'''| ~ 1e-12, rounding
 * ~eps |L| / h ~ 2e-16 * 10 / 1e-6 = 2e-9 (|L| = O(1..10) here), against parameter gradients of order 0.1..1:
 * a correct gradient shows relative errors ~1e-9..1e-8. Any missing part of the double backprop (a skipped
 * curvature term, a bias that should get a penalty gradient, a wrong tangent) is O(lambda * |dP/dtheta|),
 * which the lambdas below make O(0.1..1) of the gradient scale, so 1e-6 separates both by >= 100x. */
#define FD_H 1e-6
#define FD_BOUND 1e-6

typedef char eb_assert_f64[sizeof(eb_real) == sizeof(double) ? 1 : -1]; /* grad_* tests link the f64 oracle */

typedef struct fixture {
    eb_backend be;
    eb_net U;
    eb_ustep us;
    int n;
    size_t d;
    double *x_real, *x_fake, *t;
} fixture;

static int fixture_init(fixture *f, const char *spec, eb_shape in, int n, uint64_t seed) {
    uint64_t rng = eb_test_rand_init(eb_test_seed(seed));
    memset(f, 0, sizeof *f);
    EB_CHECK_OK(eb_cpu_backend_init(&f->be));
    EB_CHECK_OK(eb_net_init(&f->U, &f->be, "U", in, spec));
    EB_CHECK_OK(eb_ustep_init(&f->us, &f->be, &f->U, n));
    eb_test_net_randomize(&f->U, &rng);
    f->n = n;
    f->d = (size_t)eb_shape_numel(in);
    f->x_real = malloc((size_t)n * f->d * sizeof(double));
    f->x_fake = malloc((size_t)n * f->d * sizeof(double));
    f->t = malloc((size_t)n * sizeof(double));
    EB_CHECK(f->x_real && f->x_fake && f->t, "out of memory");
    eb_test_fill_range(f->x_real, (size_t)n * f->d, -1, 1, &rng);
    eb_test_fill_range(f->x_fake, (size_t)n * f->d, -1.5, 1.5, &rng);
    eb_test_fill_range(f->t, (size_t)n, 0, 1, &rng);
    return EB_TEST_PASS;
}

static void fixture_free(fixture *f) {
    free(f->x_real);
    free(f->x_fake);
    free(f->t);
    eb_ustep_free(&f->us, &f->be);
    eb_net_free(&f->U, &f->be);
    eb_cpu_backend_free(&f->be);
}

static eb_status loss_term(fixture *f, const eb_ustep_cfg *cfg, int term, double *out) {
    double terms[EB_UTERM_COUNT];
    EB_TRY(eb_ustep_loss(&f->be, &f->U, &f->us, f->x_real, f->x_fake, f->t, f->n, cfg));
    EB_TRY(eb_ustep_read_terms(&f->be, &f->us, terms));
    *out = terms[term];
    return EB_OK;
}

/* Central differences of terms[term] over every parameter. */
static int fd_grad(fixture *f, const eb_ustep_cfg *cfg, int term, double *fd) {
    for (size_t j = 0; j < f->U.n_params; j++) {
        double keep = f->U.params[j], lp, lm;
        f->U.params[j] = keep + FD_H;
        EB_CHECK_OK(loss_term(f, cfg, term, &lp));
        f->U.params[j] = keep - FD_H;
        EB_CHECK_OK(loss_term(f, cfg, term, &lm));
        f->U.params[j] = keep;
        fd[j] = (lp - lm) / (2 * FD_H);
    }
    return EB_TEST_PASS;
}

/* eb_ustep_grad vs finite differences of the whole loss over every parameter; also checks that the terms
 * written by eb_ustep_grad equal eb_ustep_loss's and that the penalty is not negligible. */
static int check_ustep(const char *label, const char *spec, eb_shape in, int n, eb_penalty_kind pen, double lambda,
                       uint64_t seed) {
    fixture f;
    if (fixture_init(&f, spec, in, n, seed) != EB_TEST_PASS) return EB_TEST_FAIL;
    const eb_ustep_cfg cfg = {pen, (eb_real)lambda};
    const size_t np = f.U.n_params;
    double *g = malloc(np * sizeof *g), *fd = malloc(np * sizeof *fd);
    EB_CHECK(g && fd, "out of memory");
    double tg[EB_UTERM_COUNT], tl[EB_UTERM_COUNT];
    for (size_t j = 0; j < np; j++) f.U.grads[j] = NAN; /* "overwrites U->grads" */
    EB_CHECK_OK(eb_ustep_grad(&f.be, &f.U, &f.us, f.x_real, f.x_fake, f.t, n, &cfg));
    memcpy(g, f.U.grads, np * sizeof *g);
    EB_CHECK_OK(eb_ustep_read_terms(&f.be, &f.us, tg));
    EB_CHECK_OK(eb_ustep_loss(&f.be, &f.U, &f.us, f.x_real, f.x_fake, f.t, n, &cfg));
    EB_CHECK_OK(eb_ustep_read_terms(&f.be, &f.us, tl));
    if (fd_grad(&f, &cfg, EB_UTERM_LOSS, fd) != EB_TEST_PASS) return EB_TEST_FAIL;
    double err = eb_test_rel_err(g, fd, np, 1e-3);
    printf("%-26s %-9s params=%-4zu U_real %+.4f U_fake %+.4f penalty %.4f loss %+.4f | max rel err %.2e\n", label,
           pen == EB_PENALTY_SCORE ? "score" : pen == EB_PENALTY_WGAN_GP ? "wgan-gp" : "none", np, tg[0], tg[1],
           tg[2], tg[3], err);
    for (int i = 0; i < EB_UTERM_COUNT; i++)
        EB_CHECK(fabs(tg[i] - tl[i]) <= 1e-12 * (1 + fabs(tl[i])), "term %d differs between grad and loss: %g vs %g", i,
                 tg[i], tl[i]);
    EB_CHECK(fabs(tg[3] - (tg[0] - tg[1] + tg[2])) < 1e-12, "loss != u_real - u_fake + penalty");
    EB_CHECK(pen == EB_PENALTY_NONE || tg[2] > 1e-3, "penalty %g too small to be tested", tg[2]);
    free(g);
    free(fd);
    fixture_free(&f);
    EB_CHECK(err < FD_BOUND, "%s: U-step gradient disagrees with finite differences: %.2e (bound %.0e)", label, err,
             FD_BOUND);
    return EB_TEST_PASS;
}

/* The penalty's gradient alone: grad(lambda) - grad(no penalty) against differences of terms[PENALTY]. */
static int check_penalty_only(const char *label, const char *spec, eb_shape in, int n, eb_penalty_kind pen,
                              double lambda, uint64_t seed, int expect_curvature) {
    fixture f;
    if (fixture_init(&f, spec, in, n, seed) != EB_TEST_PASS) return EB_TEST_FAIL;
    EB_CHECK(eb_net_has_curvature(&f.U) == expect_curvature, "has_curvature = %d, expected %d",
             eb_net_has_curvature(&f.U), expect_curvature);
    const eb_ustep_cfg cfg = {pen, (eb_real)lambda}, none = {EB_PENALTY_NONE, 0};
    const size_t np = f.U.n_params;
    double *g = malloc(np * sizeof *g), *fd = malloc(np * sizeof *fd);
    EB_CHECK(g && fd, "out of memory");
    EB_CHECK_OK(eb_ustep_grad(&f.be, &f.U, &f.us, f.x_real, f.x_fake, f.t, n, &cfg));
    memcpy(g, f.U.grads, np * sizeof *g);
    EB_CHECK_OK(eb_ustep_grad(&f.be, &f.U, &f.us, f.x_real, f.x_fake, f.t, n, &none));
    for (size_t j = 0; j < np; j++) g[j] -= f.U.grads[j];
    if (fd_grad(&f, &cfg, EB_UTERM_PENALTY, fd) != EB_TEST_PASS) return EB_TEST_FAIL;
    double err = eb_test_rel_err(g, fd, np, 1e-3), scale = 0;
    for (size_t j = 0; j < np; j++) scale = fmax(scale, fabs(fd[j]));
    printf("%-26s %-9s params=%-4zu penalty-only: max |dP/dtheta| %.3e  max rel err %.2e\n", label,
           pen == EB_PENALTY_SCORE ? "score" : "wgan-gp", np, scale, err);
    free(g);
    free(fd);
    fixture_free(&f);
    EB_CHECK(scale > 1e-3, "penalty gradient %g too small to be tested", scale);
    EB_CHECK(err < FD_BOUND, "%s: penalty gradient disagrees with finite differences: %.2e (bound %.0e)", label, err,
             FD_BOUND);
    return EB_TEST_PASS;
}

#define SHAPE(c, h, w) ((eb_shape){(c), (h), (w)})

/* (a) LeakyReLU conv U (the paper's kind): 8x8 -> 4x4 -> 2x2, curvature sweep skipped. */
static const char spec_lrelu_conv[] = "conv:4:3:2:1,lrelu:0.2,conv:6:3:2:1,lrelu:0.2,linear:1";
/* (b) softplus conv U with a convt and tanh inside: the curvature sweep runs through every layer kind U may use. */
static const char spec_softplus_conv[] =
    "conv:4:3:2:1,softplus,convt:3:3:2:1:1,tanh,conv:4:4:2:1,softplus,reshape:36:1:1,linear:1";
/* (c) MLP U with tanh and softplus */
static const char spec_mlp_smooth[] = "linear:8,tanh,linear:8,softplus,linear:1";
/* piecewise-linear MLP: ReLU and LeakyReLU only */
static const char spec_mlp_pwl[] = "linear:8,lrelu:0.2,linear:8,relu,linear:1";

EB_TEST(lrelu_conv_score) { return check_ustep("(a) lrelu conv U", spec_lrelu_conv, SHAPE(2, 8, 8), 4, EB_PENALTY_SCORE, 0.5, 201); }
EB_TEST(lrelu_conv_wgangp) { return check_ustep("(a) lrelu conv U", spec_lrelu_conv, SHAPE(2, 8, 8), 4, EB_PENALTY_WGAN_GP, 0.5, 202); }
/* this net's input gradients are small (~0.03 per sample), so the score case takes lambda = 50 to make the
 * penalty term O(0.1) like the energy terms */
EB_TEST(softplus_conv_score) { return check_ustep("(b) softplus conv U", spec_softplus_conv, SHAPE(2, 6, 6), 4, EB_PENALTY_SCORE, 50.0, 203); }
EB_TEST(softplus_conv_wgangp) { return check_ustep("(b) softplus conv U", spec_softplus_conv, SHAPE(2, 6, 6), 4, EB_PENALTY_WGAN_GP, 0.5, 204); }
EB_TEST(mlp_smooth_score) { return check_ustep("(c) tanh/softplus MLP U", spec_mlp_smooth, SHAPE(3, 1, 1), 5, EB_PENALTY_SCORE, 0.5, 205); }
EB_TEST(mlp_smooth_wgangp) { return check_ustep("(c) tanh/softplus MLP U", spec_mlp_smooth, SHAPE(3, 1, 1), 5, EB_PENALTY_WGAN_GP, 0.5, 206); }
EB_TEST(no_penalty) { return check_ustep("(c) tanh/softplus MLP U", spec_mlp_smooth, SHAPE(3, 1, 1), 5, EB_PENALTY_NONE, 0, 207); }
/* The penalty part alone (loss with lambda minus loss without), where the curvature sweep matters most. */
EB_TEST(penalty_only_softplus_conv) {
    return check_penalty_only("(b) softplus conv U", spec_softplus_conv, SHAPE(2, 6, 6), 4, EB_PENALTY_SCORE, 50.0, 208, 1);
}
EB_TEST(penalty_only_mlp_wgangp) {
    return check_penalty_only("(c) tanh/softplus MLP U", spec_mlp_smooth, SHAPE(3, 1, 1), 5, EB_PENALTY_WGAN_GP, 1.0, 209, 1);
}
/* Piecewise-linear U: eb_net_has_curvature is 0, the sweep is skipped, and the penalty gradient (tangent
 * pass + weight-gradient reuse only) must still match finite differences. */
EB_TEST(penalty_only_pwl_skips_sweep) {
    return check_penalty_only("pwl MLP U (no sweep)", spec_mlp_pwl, SHAPE(3, 1, 1), 5, EB_PENALTY_SCORE, 1.0, 210, 0);
}
EB_TEST(penalty_only_lrelu_conv) {
    return check_penalty_only("(a) lrelu conv U", spec_lrelu_conv, SHAPE(2, 8, 8), 4, EB_PENALTY_SCORE, 1.0, 211, 0);
}

/* The lazy penalty (--penalty-every K): the plan gives the K-th U steps {penalty, K lambda} and the others {none,
 * 0} (test_iteration_plan). In float64 on conv U (a): the K-th step's gradient matches finite differences of
 * E U(real) - E U(fake) + K lambda P, and its penalty part is K times the full penalty's. (A skipped step
 * runs {none, 0}: the no_penalty case above.) */
EB_TEST(lazy_penalty_kth_step_gradient_is_k_times_the_penalty) {
    enum { K = 4 };
    const double lambda = 0.5;
    fixture f;
    if (fixture_init(&f, spec_lrelu_conv, SHAPE(2, 8, 8), 4, 212) != EB_TEST_PASS) return EB_TEST_FAIL;
    const eb_ustep_cfg full = {EB_PENALTY_SCORE, (eb_real)lambda}, none = {EB_PENALTY_NONE, 0};
    const eb_ustep_cfg kth = {EB_PENALTY_SCORE, (eb_real)(K * lambda)};
    const size_t np = f.U.n_params;
    double *g[3], *fd = malloc(np * sizeof *fd);
    const eb_ustep_cfg *cfgs[3] = {&kth, &full, &none};
    for (int i = 0; i < 3; i++) {
        g[i] = malloc(np * sizeof *g[i]);
        EB_CHECK(g[i], "out of memory");
        EB_CHECK_OK(eb_ustep_grad(&f.be, &f.U, &f.us, f.x_real, f.x_fake, f.t, f.n, cfgs[i]));
        memcpy(g[i], f.U.grads, np * sizeof *g[i]);
    }
    EB_CHECK(fd && fd_grad(&f, &kth, EB_UTERM_LOSS, fd) == EB_TEST_PASS, "finite differences");
    const double err_fd = eb_test_rel_err(g[0], fd, np, 1e-3);
    double err_k = 0, scale = 0;
    for (size_t j = 0; j < np; j++) {
        const double pen_k = g[0][j] - g[2][j], pen_1 = g[1][j] - g[2][j];
        err_k = fmax(err_k, fabs(pen_k - K * pen_1));
        scale = fmax(scale, fabs(K * pen_1));
    }
    printf("K = %d: K-th step vs finite differences %.2e; its penalty part vs K x the full one %.2e (scale %.3e)\n",
           K, err_fd, err_k, scale);
    for (int i = 0; i < 3; i++) free(g[i]);
    free(fd);
    fixture_free(&f);
    EB_CHECK(scale > 1e-3, "penalty gradient %g too small to be tested", scale);
    EB_CHECK(err_fd < FD_BOUND, "K-th step's gradient disagrees with finite differences: %.2e", err_fd);
    EB_CHECK(err_k < 1e-12 * (1 + scale), "K-th step's penalty gradient is not K times the full one: %.2e", err_k);
    return EB_TEST_PASS;
}
