/* Float64 oracle checks of the CPU pointwise ops through the op table: activations, batch norm, losses
 * and optimisers against central finite differences and direct formulas; data movement bit-exact. */
#include "oracle_ctx.h"

#include "ebgan/backend.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Central-difference step. For a function of size |f| the difference quotient carries a rounding error
 * ~ eps |f| / h = 2.2e-16 |f| / 1e-6 ~ 2e-10 |f| and a truncation error ~ h^2 |f'''| / 6 ~ 1e-13 |f'''|. */
#define FD_H 1e-6

/* ---------------------------------------------------------------- activations */

/* Pre-activations away from the kinks of relu / leaky relu: |a| > 1e-3 >> FD_H, so a +- h never crosses 0. */
static double *act_inputs(tctx *t, size_t n, double scale) {
    double *a = t_buf(t, n);
    for (size_t i = 0; i < n; i++) {
        double v;
        do v = scale * t_normal(t);
        while (fabs(v) <= 1e-3);
        a[i] = v;
    }
    return a;
}

/* dx = sigma'(a) dy + beta dx against sigma' by central differences of act_forward.
 * Bound 1e-7: |y| <= ~8 and |dy| <= ~5 give a rounding error ~ 2e-10 * 8 * 5 ~ 1e-8 over a scale >= 1. */
static int check_act_backward(eb_act_kind k, double slope, uint64_t salt, const char *name) {
    tctx t;
    if (!t_open(&t, salt)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t n = (size_t)t_int(&t, 64, 400);
    double *a = act_inputs(&t, n, 2.0), *y = t_buf(&t, n), *dy = t_randn(&t, n, 1.0, 0.0);
    double *dx0 = t_randn(&t, n, 1.0, 0.0), *dx = t_copy(&t, dx0, n);
    double *ap = t_buf(&t, n), *am = t_buf(&t, n), *yp = t_buf(&t, n), *ym = t_buf(&t, n), *ref = t_buf(&t, n);
    const double beta = t_unif(&t, 0.2, 0.9);
    EB_CHECK_OK(o->act_forward(t.be.ctx, k, slope, a, y, n));
    EB_CHECK_OK(o->act_backward(t.be.ctx, k, slope, a, y, dy, dx, n, beta));
    for (size_t i = 0; i < n; i++) {
        ap[i] = a[i] + FD_H;
        am[i] = a[i] - FD_H;
    }
    EB_CHECK_OK(o->act_forward(t.be.ctx, k, slope, ap, yp, n));
    EB_CHECK_OK(o->act_forward(t.be.ctx, k, slope, am, ym, n));
    for (size_t i = 0; i < n; i++) ref[i] = (yp[i] - ym[i]) / (2 * FD_H) * dy[i] + beta * dx0[i];
    double err = eb_test_rel_err(dx, ref, n, 1.0);
    printf("act_backward %-10s n=%zu: rel err vs FD %.3e (bound 1e-7)\n", name, n, err);
    EB_CHECK(err < 1e-7, "%s: backward rel err %.3e", name, err);
    t_close(&t);
    return EB_TEST_PASS;
}

/* c = g sigma''(a) t + beta c against sigma'' by central differences of sigma' (act_backward with dy = 1).
 * Bound 1e-7 as above (|sigma'| <= 1, |g t| <= ~10). Piecewise-linear kinds must give exactly beta * c. */
static int check_act_curvature(eb_act_kind k, double slope, uint64_t salt, const char *name) {
    tctx t;
    if (!t_open(&t, salt)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t n = (size_t)t_int(&t, 64, 400);
    double *a = act_inputs(&t, n, 2.0), *y = t_buf(&t, n), *g = t_randn(&t, n, 1.0, 0.0);
    double *tv = t_randn(&t, n, 1.0, 0.0), *c0 = t_randn(&t, n, 1.0, 0.0), *c = t_copy(&t, c0, n);
    double *ones = t_buf(&t, n), *ap = t_buf(&t, n), *am = t_buf(&t, n), *yp = t_buf(&t, n), *ym = t_buf(&t, n);
    double *dp = t_buf(&t, n), *dm = t_buf(&t, n), *ref = t_buf(&t, n);
    const double beta = t_unif(&t, 0.2, 0.9);
    EB_CHECK_OK(o->act_forward(t.be.ctx, k, slope, a, y, n));
    EB_CHECK_OK(o->act_curvature(t.be.ctx, k, slope, a, y, g, tv, c, n, beta));
    for (size_t i = 0; i < n; i++) {
        ones[i] = 1.0;
        ap[i] = a[i] + FD_H;
        am[i] = a[i] - FD_H;
    }
    EB_CHECK_OK(o->act_forward(t.be.ctx, k, slope, ap, yp, n));
    EB_CHECK_OK(o->act_forward(t.be.ctx, k, slope, am, ym, n));
    EB_CHECK_OK(o->act_backward(t.be.ctx, k, slope, ap, yp, ones, dp, n, 0.0));
    EB_CHECK_OK(o->act_backward(t.be.ctx, k, slope, am, ym, ones, dm, n, 0.0));
    for (size_t i = 0; i < n; i++) ref[i] = g[i] * (dp[i] - dm[i]) / (2 * FD_H) * tv[i] + beta * c0[i];
    double err = eb_test_rel_err(c, ref, n, 1.0);
    printf("act_curvature %-10s n=%zu: rel err vs FD of sigma' %.3e (bound 1e-7)\n", name, n, err);
    EB_CHECK(err < 1e-7, "%s: curvature rel err %.3e", name, err);
    if (k == EB_ACT_IDENTITY || k == EB_ACT_RELU || k == EB_ACT_LEAKY_RELU)
        for (size_t i = 0; i < n; i++) EB_CHECK(c[i] == beta * c0[i], "%s: sigma'' must be exactly 0 (i=%zu)", name, i);
    t_close(&t);
    return EB_TEST_PASS;
}

EB_TEST(act_backward_identity) { return check_act_backward(EB_ACT_IDENTITY, 0.0, 101, "identity"); }
EB_TEST(act_backward_relu) { return check_act_backward(EB_ACT_RELU, 0.0, 102, "relu"); }
EB_TEST(act_backward_leaky_relu) { return check_act_backward(EB_ACT_LEAKY_RELU, 0.2, 103, "leaky_relu"); }
EB_TEST(act_backward_tanh) { return check_act_backward(EB_ACT_TANH, 0.0, 104, "tanh"); }
EB_TEST(act_backward_softplus) { return check_act_backward(EB_ACT_SOFTPLUS, 0.0, 105, "softplus"); }
EB_TEST(act_backward_sigmoid) { return check_act_backward(EB_ACT_SIGMOID, 0.0, 106, "sigmoid"); }
EB_TEST(act_curvature_identity) { return check_act_curvature(EB_ACT_IDENTITY, 0.0, 111, "identity"); }
EB_TEST(act_curvature_relu) { return check_act_curvature(EB_ACT_RELU, 0.0, 112, "relu"); }
EB_TEST(act_curvature_leaky_relu) { return check_act_curvature(EB_ACT_LEAKY_RELU, 0.2, 113, "leaky_relu"); }
EB_TEST(act_curvature_tanh) { return check_act_curvature(EB_ACT_TANH, 0.0, 114, "tanh"); }
EB_TEST(act_curvature_softplus) { return check_act_curvature(EB_ACT_SOFTPLUS, 0.0, 115, "softplus"); }
EB_TEST(act_curvature_sigmoid) { return check_act_curvature(EB_ACT_SIGMOID, 0.0, 116, "sigmoid"); }

/* Forward values against the textbook formulas (moderate |a|, where the naive forms are accurate). */
EB_TEST(act_forward_formulas) {
    tctx t;
    if (!t_open(&t, 120)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t n = (size_t)t_int(&t, 64, 400);
    double *a = t_randn(&t, n, 3.0, 0.0), *y = t_buf(&t, n);
    const eb_act_kind kinds[] = {EB_ACT_IDENTITY, EB_ACT_RELU, EB_ACT_LEAKY_RELU, EB_ACT_TANH, EB_ACT_SOFTPLUS,
                                 EB_ACT_SIGMOID};
    const double slope = 0.2;
    for (int j = 0; j < 6; j++) {
        EB_CHECK_OK(o->act_forward(t.be.ctx, kinds[j], slope, a, y, n));
        for (size_t i = 0; i < n; i++) {
            double v = a[i], r = 0;
            switch (kinds[j]) {
            case EB_ACT_IDENTITY: r = v; break;
            case EB_ACT_RELU: r = v > 0 ? v : 0; break;
            case EB_ACT_LEAKY_RELU: r = v > 0 ? v : slope * v; break;
            case EB_ACT_TANH: r = tanh(v); break;
            case EB_ACT_SOFTPLUS: r = log(1 + exp(v)); break;
            case EB_ACT_SIGMOID: r = 1 / (1 + exp(-v)); break;
            }
            /* 1e-14 relative: the stable forms differ from the naive ones by a few ulps at these |a| */
            EB_CHECK(fabs(y[i] - r) <= 1e-14 * fmax(1.0, fabs(r)), "kind %d a=%g: %.17g vs %.17g", j, v, y[i], r);
        }
    }
    t_close(&t);
    return EB_TEST_PASS;
}

/* softplus and its derivatives stay finite and correct where exp(|a|) overflows or underflows. */
/* The fused bias + activation is, bit for bit, bias_add then act_forward (the same float sum, the same
 * activation formula): dense (hw = 1) and NCHW, every kind, and b == NULL (activation only). */
EB_TEST(bias_act_forward_equals_bias_add_then_act) {
    const eb_act_kind kinds[6] = {EB_ACT_IDENTITY, EB_ACT_RELU, EB_ACT_LEAKY_RELU, EB_ACT_TANH, EB_ACT_SOFTPLUS, EB_ACT_SIGMOID};
    for (int k = 0; k < 6; k++)
        for (int layout = 0; layout < 3; layout++) {
            tctx t;
            if (!t_open(&t, 160 + 3 * (uint64_t)k + (uint64_t)layout)) return EB_TEST_FAIL;
            const eb_ops *o = t.be.ops;
            const int n = t_int(&t, 1, 5), c = t_int(&t, 1, 7), hw = layout == 0 ? 1 : t_int(&t, 2, 20);
            const size_t total = (size_t)n * c * hw;
            double *a0 = t_randn(&t, total, 2.0, 0.0), *b = layout == 2 ? NULL : t_randn(&t, (size_t)c, 1.0, 0.0);
            double *a1 = t_copy(&t, a0, total), *a2 = t_copy(&t, a0, total), *y1 = t_buf(&t, total), *y2 = t_buf(&t, total);
            if (b) EB_CHECK_OK(o->bias_add(t.be.ctx, a1, b, n, c, hw));
            EB_CHECK_OK(o->act_forward(t.be.ctx, kinds[k], 0.2, a1, y1, total));
            EB_CHECK_OK(o->bias_act_forward(t.be.ctx, a2, b, kinds[k], 0.2, y2, n, c, hw));
            EB_CHECK(!memcmp(a1, a2, total * sizeof *a1), "kind %d layout %d: pre-activations differ", (int)kinds[k], layout);
            EB_CHECK(!memcmp(y1, y2, total * sizeof *y1), "kind %d layout %d: activations differ", (int)kinds[k], layout);
            t_close(&t);
        }
    return EB_TEST_PASS;
}

EB_TEST(softplus_stable_large_inputs) {
    tctx t;
    if (!t_open(&t, 121)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    double *a = t_buf(&t, 4), *y = t_buf(&t, 4), *d = t_buf(&t, 4), *c = t_buf(&t, 4), *ones = t_buf(&t, 4);
    const double av[4] = {100.0, -100.0, 800.0, -800.0};
    for (int i = 0; i < 4; i++) {
        a[i] = av[i];
        ones[i] = 1.0;
    }
    EB_CHECK_OK(o->act_forward(t.be.ctx, EB_ACT_SOFTPLUS, 0, a, y, 4));
    EB_CHECK_OK(o->act_backward(t.be.ctx, EB_ACT_SOFTPLUS, 0, a, y, ones, d, 4, 0.0));
    EB_CHECK_OK(o->act_curvature(t.be.ctx, EB_ACT_SOFTPLUS, 0, a, y, ones, ones, c, 4, 0.0));
    for (int i = 0; i < 4; i++) EB_CHECK(isfinite(y[i]) && isfinite(d[i]) && isfinite(c[i]), "a=%g not finite", av[i]);
    /* softplus(100) = 100 + log1p(e^-100) = 100 to double precision; softplus(-100) = e^-100 (3.72e-44) */
    EB_CHECK(y[0] == 100.0 && y[2] == 800.0, "softplus(100)=%.17g softplus(800)=%.17g", y[0], y[2]);
    EB_CHECK(fabs(y[1] - exp(-100.0)) <= 1e-15 * exp(-100.0), "softplus(-100)=%.17g", y[1]);
    EB_CHECK(y[3] >= 0 && y[3] < 1e-300, "softplus(-800)=%g", y[3]);
    EB_CHECK(d[0] == 1.0 && fabs(d[1] - exp(-100.0)) <= 1e-15 * exp(-100.0), "sigmoid(+-100)=%g %g", d[0], d[1]);
    EB_CHECK(fabs(c[0] - exp(-100.0)) <= 1e-14 * exp(-100.0) && c[2] >= 0, "softplus''(100)=%g", c[0]);
    t_close(&t);
    return EB_TEST_PASS;
}

/* ---------------------------------------------------------------- batch norm */

typedef struct bn_case {
    int n, c, hw;
    size_t len;
    double eps;
} bn_case;

/* A shape with at least 3 values per channel (with 2 the normalised output is +-1 and its gradient ~ eps). */
static bn_case bn_shape(tctx *t) {
    bn_case s;
    do {
        s.n = t_int(t, 2, 6);
        s.c = t_int(t, 1, 4);
        s.hw = t_int(t, 1, 9);
    } while (s.n * s.hw < 3);
    s.len = (size_t)s.n * s.c * s.hw;
    s.eps = 1e-5;
    return s;
}

/* <w, y> for y = bn_forward_train(x, gamma, beta) */
static double bn_train_loss(tctx *t, const bn_case *s, const double *x, const double *gamma, const double *beta,
                            const double *w, double *y, double *sm, double *si) {
    if (t->be.ops->bn_forward_train(t->be.ctx, x, gamma, beta, y, sm, si, NULL, NULL, 0.1, s->eps, s->n, s->c,
                                    s->hw) != EB_OK)
        return NAN;
    double l = 0;
    for (size_t i = 0; i < s->len; i++) l += w[i] * y[i];
    return l;
}

/* Central difference of f wrt v[i], restoring v[i]. */
#define FD_AT(v, i, expr, out)                                                                             \
    do {                                                                                                   \
        double v0_ = (v)[i];                                                                               \
        (v)[i] = v0_ + FD_H;                                                                               \
        double fp_ = (expr);                                                                               \
        (v)[i] = v0_ - FD_H;                                                                               \
        double fm_ = (expr);                                                                               \
        (v)[i] = v0_;                                                                                      \
        (out) = (fp_ - fm_) / (2 * FD_H);                                                                  \
    } while (0)

/* dx, dgamma, dbeta of the training-mode backward against central differences of L = <w, y(x, gamma, beta)>.
 * |L| <= ~30, so the FD rounding error is ~ 2e-10 * 30 ~ 6e-9; bound 1e-6 relative to max(|grad|, 1). */
EB_TEST(bn_backward_train_fd) {
    tctx t;
    if (!t_open(&t, 201)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    bn_case s = bn_shape(&t);
    double *x = t_randn(&t, s.len, 2.0, 0.7), *w = t_randn(&t, s.len, 1.0, 0.0), *y = t_buf(&t, s.len);
    double *gamma = t_randn(&t, (size_t)s.c, 0.5, 1.0), *beta = t_randn(&t, (size_t)s.c, 0.5, 0.0);
    double *sm = t_buf(&t, (size_t)s.c), *si = t_buf(&t, (size_t)s.c);
    double *dx = t_buf(&t, s.len), *dg = t_buf(&t, (size_t)s.c), *db = t_buf(&t, (size_t)s.c);
    double *rx = t_buf(&t, s.len), *rg = t_buf(&t, (size_t)s.c), *rb = t_buf(&t, (size_t)s.c);
    double *ys = t_buf(&t, s.len), *sm2 = t_buf(&t, (size_t)s.c), *si2 = t_buf(&t, (size_t)s.c);
    EB_CHECK(isfinite(bn_train_loss(&t, &s, x, gamma, beta, w, y, sm, si)), "forward: %s", eb_error_message());
    /* dgamma, dbeta hold NaN here: beta_acc = 0 must overwrite them */
    EB_CHECK_OK(o->bn_backward_train(t.be.ctx, x, w, gamma, sm, si, dx, dg, db, 0.0, s.n, s.c, s.hw));
    for (size_t i = 0; i < s.len; i++) FD_AT(x, i, bn_train_loss(&t, &s, x, gamma, beta, w, ys, sm2, si2), rx[i]);
    for (int i = 0; i < s.c; i++) {
        FD_AT(gamma, i, bn_train_loss(&t, &s, x, gamma, beta, w, ys, sm2, si2), rg[i]);
        FD_AT(beta, i, bn_train_loss(&t, &s, x, gamma, beta, w, ys, sm2, si2), rb[i]);
    }
    double ex = eb_test_rel_err(dx, rx, s.len, 1.0), eg = eb_test_rel_err(dg, rg, (size_t)s.c, 1.0);
    double eb = eb_test_rel_err(db, rb, (size_t)s.c, 1.0);
    printf("bn_backward_train [%d,%d,%d]: rel err dx %.3e dgamma %.3e dbeta %.3e (bound 1e-6)\n", s.n, s.c, s.hw,
           ex, eg, eb);
    EB_CHECK(ex < 1e-6 && eg < 1e-6 && eb < 1e-6, "dx %.3e dgamma %.3e dbeta %.3e", ex, eg, eb);
    /* beta_acc accumulates: dgamma = grad + beta_acc * dgamma_old; dx may be NULL */
    double *dg0 = t_randn(&t, (size_t)s.c, 1.0, 0.0), *db0 = t_randn(&t, (size_t)s.c, 1.0, 0.0);
    double *dg2 = t_copy(&t, dg0, (size_t)s.c), *db2 = t_copy(&t, db0, (size_t)s.c);
    EB_CHECK_OK(o->bn_backward_train(t.be.ctx, x, w, gamma, sm, si, NULL, dg2, db2, 0.5, s.n, s.c, s.hw));
    for (int i = 0; i < s.c; i++)
        EB_CHECK(fabs(dg2[i] - (dg[i] + 0.5 * dg0[i])) <= 1e-14 * (1 + fabs(dg2[i])) &&
                     fabs(db2[i] - (db[i] + 0.5 * db0[i])) <= 1e-14 * (1 + fabs(db2[i])),
                 "beta_acc accumulation, channel %d", i);
    t_close(&t);
    return EB_TEST_PASS;
}

/* ty = J tx against (y(x + h tx) - y(x - h tx)) / 2h, elementwise. |y| <= ~5: FD error ~ 1e-9; bound 1e-6. */
EB_TEST(bn_tangent_train_fd) {
    tctx t;
    if (!t_open(&t, 202)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    bn_case s = bn_shape(&t);
    size_t C = (size_t)s.c;
    double *x = t_randn(&t, s.len, 2.0, -0.4), *tx = t_randn(&t, s.len, 1.0, 0.3), *y = t_buf(&t, s.len);
    double *gamma = t_randn(&t, C, 0.5, 1.0), *beta = t_randn(&t, C, 0.5, 0.0);
    double *sm = t_buf(&t, C), *si = t_buf(&t, C), *ty = t_buf(&t, s.len), *ref = t_buf(&t, s.len);
    double *xp = t_buf(&t, s.len), *xm = t_buf(&t, s.len), *yp = t_buf(&t, s.len), *ym = t_buf(&t, s.len);
    double *sm2 = t_buf(&t, C), *si2 = t_buf(&t, C);
    EB_CHECK_OK(o->bn_forward_train(t.be.ctx, x, gamma, beta, y, sm, si, NULL, NULL, 0.1, s.eps, s.n, s.c, s.hw));
    EB_CHECK_OK(o->bn_tangent_train(t.be.ctx, x, tx, gamma, sm, si, ty, s.n, s.c, s.hw));
    for (size_t i = 0; i < s.len; i++) {
        xp[i] = x[i] + FD_H * tx[i];
        xm[i] = x[i] - FD_H * tx[i];
    }
    EB_CHECK_OK(o->bn_forward_train(t.be.ctx, xp, gamma, beta, yp, sm2, si2, NULL, NULL, 0.1, s.eps, s.n, s.c, s.hw));
    EB_CHECK_OK(o->bn_forward_train(t.be.ctx, xm, gamma, beta, ym, sm2, si2, NULL, NULL, 0.1, s.eps, s.n, s.c, s.hw));
    for (size_t i = 0; i < s.len; i++) ref[i] = (yp[i] - ym[i]) / (2 * FD_H);
    double err = eb_test_rel_err(ty, ref, s.len, 1.0);
    printf("bn_tangent_train [%d,%d,%d]: rel err vs FD %.3e (bound 1e-6)\n", s.n, s.c, s.hw, err);
    EB_CHECK(err < 1e-6, "rel err %.3e", err);
    t_close(&t);
    return EB_TEST_PASS;
}

static double bn_infer_loss(tctx *t, const bn_case *s, const double *x, const double *gamma, const double *beta,
                            const double *rm, const double *rv, const double *w, double *y) {
    if (t->be.ops->bn_forward_infer(t->be.ctx, x, gamma, beta, rm, rv, s->eps, y, s->n, s->c, s->hw) != EB_OK)
        return NAN;
    double l = 0;
    for (size_t i = 0; i < s->len; i++) l += w[i] * y[i];
    return l;
}

/* Inference mode: dx = gamma / sqrt(run_var + eps) dy, dgamma, dbeta against central differences of
 * L = <w, y>; beta_acc accumulates. Same error budget as the training case: bound 1e-6. */
EB_TEST(bn_backward_infer_fd) {
    tctx t;
    if (!t_open(&t, 203)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    bn_case s = bn_shape(&t);
    size_t C = (size_t)s.c;
    double *x = t_randn(&t, s.len, 2.0, 0.5), *w = t_randn(&t, s.len, 1.0, 0.0), *y = t_buf(&t, s.len);
    double *gamma = t_randn(&t, C, 0.5, 1.0), *beta = t_randn(&t, C, 0.5, 0.0), *rm = t_randn(&t, C, 0.5, 0.3);
    double *rv = t_buf(&t, C);
    for (size_t i = 0; i < C; i++) rv[i] = t_unif(&t, 0.5, 3.0);
    double *dx = t_buf(&t, s.len), *dg0 = t_randn(&t, C, 1.0, 0.0), *db0 = t_randn(&t, C, 1.0, 0.0);
    double *dg = t_copy(&t, dg0, C), *db = t_copy(&t, db0, C);
    double *rx = t_buf(&t, s.len), *rg = t_buf(&t, C), *rb = t_buf(&t, C);
    const double beta_acc = 0.75;
    EB_CHECK_OK(o->bn_backward_infer(t.be.ctx, x, w, gamma, rm, rv, s.eps, dx, dg, db, beta_acc, s.n, s.c, s.hw));
    for (size_t i = 0; i < s.len; i++) FD_AT(x, i, bn_infer_loss(&t, &s, x, gamma, beta, rm, rv, w, y), rx[i]);
    for (size_t i = 0; i < C; i++) {
        FD_AT(gamma, i, bn_infer_loss(&t, &s, x, gamma, beta, rm, rv, w, y), rg[i]);
        FD_AT(beta, i, bn_infer_loss(&t, &s, x, gamma, beta, rm, rv, w, y), rb[i]);
        rg[i] += beta_acc * dg0[i];
        rb[i] += beta_acc * db0[i];
    }
    double ex = eb_test_rel_err(dx, rx, s.len, 1.0), eg = eb_test_rel_err(dg, rg, C, 1.0);
    double eb = eb_test_rel_err(db, rb, C, 1.0);
    printf("bn_backward_infer [%d,%d,%d]: rel err dx %.3e dgamma %.3e dbeta %.3e (bound 1e-6)\n", s.n, s.c, s.hw,
           ex, eg, eb);
    EB_CHECK(ex < 1e-6 && eg < 1e-6 && eb < 1e-6, "dx %.3e dgamma %.3e dbeta %.3e", ex, eg, eb);
    t_close(&t);
    return EB_TEST_PASS;
}

/* Two training steps: save_mean / save_invstd use the biased batch variance, the running stats follow
 * run = (1 - m) run + m batch with the unbiased variance (PyTorch). Bound 1e-13: the same formula in
 * double, summed in another order. */
EB_TEST(bn_running_stats_formula) {
    tctx t;
    if (!t_open(&t, 204)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    bn_case s = bn_shape(&t);
    size_t C = (size_t)s.c;
    double *gamma = t_randn(&t, C, 0.5, 1.0), *beta = t_randn(&t, C, 0.5, 0.0), *y = t_buf(&t, s.len);
    double *rm = t_randn(&t, C, 1.0, 0.0), *rv = t_buf(&t, C), *sm = t_buf(&t, C), *si = t_buf(&t, C);
    for (size_t i = 0; i < C; i++) rv[i] = t_unif(&t, 0.5, 2.0);
    double *erm = t_copy(&t, rm, C), *erv = t_copy(&t, rv, C);
    const double mom = t_unif(&t, 0.05, 0.3);
    const double m = (double)s.n * s.hw;
    for (int step = 0; step < 2; step++) {
        double *x = t_randn(&t, s.len, 1.5, step ? -1.0 : 2.0);
        EB_CHECK_OK(o->bn_forward_train(t.be.ctx, x, gamma, beta, y, sm, si, rm, rv, mom, s.eps, s.n, s.c, s.hw));
        for (int ch = 0; ch < s.c; ch++) {
            double sum = 0, ss = 0;
            for (int i = 0; i < s.n; i++)
                for (int p = 0; p < s.hw; p++) sum += x[((size_t)i * s.c + ch) * s.hw + p];
            double mean = sum / m;
            for (int i = 0; i < s.n; i++)
                for (int p = 0; p < s.hw; p++) {
                    double d = x[((size_t)i * s.c + ch) * s.hw + p] - mean;
                    ss += d * d;
                }
            double invstd = 1 / sqrt(ss / m + s.eps);
            erm[ch] = (1 - mom) * erm[ch] + mom * mean;
            erv[ch] = (1 - mom) * erv[ch] + mom * ss / (m - 1);
            EB_CHECK(fabs(sm[ch] - mean) <= 1e-13 * (1 + fabs(mean)), "save_mean %g vs %g", sm[ch], mean);
            EB_CHECK(fabs(si[ch] - invstd) <= 1e-13 * invstd, "save_invstd %g vs %g", si[ch], invstd);
            EB_CHECK(fabs(rm[ch] - erm[ch]) <= 1e-13 * (1 + fabs(erm[ch])), "run_mean %g vs %g", rm[ch], erm[ch]);
            EB_CHECK(fabs(rv[ch] - erv[ch]) <= 1e-13 * erv[ch], "run_var %g vs %g", rv[ch], erv[ch]);
            for (int i = 0; i < s.n; i++)
                for (int p = 0; p < s.hw; p++) {
                    size_t j = ((size_t)i * s.c + ch) * s.hw + p;
                    double r = gamma[ch] * (x[j] - mean) * invstd + beta[ch];
                    EB_CHECK(fabs(y[j] - r) <= 1e-13 * (1 + fabs(r)), "y %g vs %g", y[j], r);
                }
        }
    }
    /* one value per channel has no unbiased variance: refused with a message, like PyTorch */
    EB_CHECK(o->bn_forward_train(t.be.ctx, gamma, gamma, beta, y, sm, si, rm, rv, mom, s.eps, 1, s.c, 1) ==
                 EB_ERR_ARG, "n*hw == 1 must be refused");
    t_close(&t);
    return EB_TEST_PASS;
}

/* ---------------------------------------------------------------- losses */

/* loss_dev += scale * sum bce(l, target) against -t log s - (1 - t) log(1 - s) in double (|l| <= ~10, where
 * it is accurate: bound 1e-12), and dlogit against central differences of the loss the op accumulates. The
 * loss is a sum of per-element terms, so d/dl_i is taken on the one-element slice l + i: its loss is
 * ~ scale * 10, the FD rounding error ~ 2e-10 * 10 * scale, against gradients ~ scale: bound 1e-7. */
EB_TEST(bce_logits_fd_and_formula) {
    tctx t;
    if (!t_open(&t, 301)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    const double targets[3] = {0.0, 1.0, 0.3};
    for (int tk = 0; tk < 3; tk++) {
        size_t n = (size_t)t_int(&t, 16, 160);
        double *l = t_randn(&t, n, 3.0, 0.0), *dl = t_buf(&t, n), *ref = t_buf(&t, n), *scratch = t_buf(&t, n);
        double *acc = t_buf(&t, 1);
        const double tg = targets[tk], scale = 1.0 / (2.0 * n), acc0 = t_normal(&t);
        acc[0] = acc0;
        EB_CHECK_OK(o->bce_logits(t.be.ctx, l, tg, n, scale, acc, dl));
        double direct = 0;
        for (size_t i = 0; i < n; i++) {
            double sg = 1 / (1 + exp(-l[i]));
            direct += -tg * log(sg) - (1 - tg) * log(1 - sg);
        }
        direct *= scale;
        double lerr = fabs((acc[0] - acc0) - direct) / fmax(fabs(direct), 1e-3);
        for (size_t i = 0; i < n; i++) {
#define BCE_LOSS (acc[0] = 0, o->bce_logits(t.be.ctx, l + i, tg, 1, scale, acc, scratch), acc[0])
            FD_AT(l, i, BCE_LOSS, ref[i]);
#undef BCE_LOSS
        }
        double gerr = eb_test_rel_err(dl, ref, n, scale);
        printf("bce_logits target %.1f n=%zu: loss rel err %.3e (bound 1e-12), dlogit rel err vs FD %.3e (bound 1e-7)\n",
               tg, n, lerr, gerr);
        EB_CHECK(lerr < 1e-12 && gerr < 1e-7, "target %g: loss %.3e dlogit %.3e", tg, lerr, gerr);
    }
    t_close(&t);
    return EB_TEST_PASS;
}

/* |logit| = 100: the naive log(1 - sigmoid) is -inf; the op must stay finite and exact. */
EB_TEST(bce_logits_stable_large_logits) {
    tctx t;
    if (!t_open(&t, 302)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    double *l = t_buf(&t, 1), *dl = t_buf(&t, 1), *acc = t_buf(&t, 1);
    const double lv[2] = {100.0, -100.0}, tv[2] = {0.0, 1.0};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            l[0] = lv[i];
            acc[0] = 0;
            EB_CHECK_OK(o->bce_logits(t.be.ctx, l, tv[j], 1, 1.0, acc, dl));
            /* exact: bce = max(l,0) - l t + log1p(e^-|l|), e^-100 = 3.72e-44 */
            double ref = (lv[i] > 0 ? lv[i] : 0) - lv[i] * tv[j] + exp(-100.0);
            double dref = (lv[i] > 0 ? 1.0 : exp(-100.0)) - tv[j];
            EB_CHECK(isfinite(acc[0]) && isfinite(dl[0]), "l=%g t=%g: loss %g dlogit %g", lv[i], tv[j], acc[0], dl[0]);
            EB_CHECK(fabs(acc[0] - ref) <= 1e-15 * fmax(ref, exp(-100.0)), "l=%g t=%g: loss %.17g vs %.17g", lv[i],
                     tv[j], acc[0], ref);
            EB_CHECK(fabs(dl[0] - dref) <= 1e-15 * fmax(fabs(dref), exp(-100.0)), "l=%g t=%g: dlogit %.17g vs %.17g",
                     lv[i], tv[j], dl[0], dref);
        }
    t_close(&t);
    return EB_TEST_PASS;
}

/* loss_dev += scale * sum (a - b)^2 (bound 1e-13 vs the direct sum); da = 2 scale (a - b) against central
 * differences of the loss on the one-element slice (separable, as for bce; bound 1e-7). */
EB_TEST(sqdiff_fd_and_formula) {
    tctx t;
    if (!t_open(&t, 303)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t n = (size_t)t_int(&t, 16, 200);
    double *a = t_randn(&t, n, 1.0, 0.0), *b = t_randn(&t, n, 1.0, 0.2), *da = t_buf(&t, n), *ref = t_buf(&t, n);
    double *acc = t_buf(&t, 1), *scratch = t_buf(&t, n);
    const double scale = t_unif(&t, 0.1, 2.0) / n, acc0 = t_normal(&t);
    acc[0] = acc0;
    EB_CHECK_OK(o->sqdiff(t.be.ctx, a, b, n, scale, acc, da));
    double direct = 0;
    for (size_t i = 0; i < n; i++) direct += (a[i] - b[i]) * (a[i] - b[i]);
    direct *= scale;
    double lerr = fabs((acc[0] - acc0) - direct) / direct;
    for (size_t i = 0; i < n; i++) {
#define SQ_LOSS (acc[0] = 0, o->sqdiff(t.be.ctx, a + i, b + i, 1, scale, acc, scratch), acc[0])
        FD_AT(a, i, SQ_LOSS, ref[i]);
#undef SQ_LOSS
    }
    double gerr = eb_test_rel_err(da, ref, n, scale);
    printf("sqdiff n=%zu: loss rel err %.3e (bound 1e-13), da rel err vs FD %.3e (bound 1e-7)\n", n, lerr, gerr);
    EB_CHECK(lerr < 1e-13 && gerr < 1e-7, "loss %.3e da %.3e", lerr, gerr);
    /* da may be NULL: only the loss accumulates */
    acc[0] = 1.0;
    EB_CHECK_OK(o->sqdiff(t.be.ctx, a, b, n, scale, acc, NULL));
    EB_CHECK(fabs(acc[0] - 1.0 - direct) <= 1e-13 * (1 + direct), "da == NULL: loss %.17g", acc[0]);
    t_close(&t);
    return EB_TEST_PASS;
}

/* P and gbar of ops.h against the direct float64 formula (bound 1e-13) and gbar against central
 * differences of the P that the op accumulates (bound 1e-7: |P| <= ~lambda * 30 ~ 300 gives an FD error
 * ~ 6e-8 over gradients of size ~ lambda). */
static int check_penalty(eb_penalty_kind k, uint64_t salt, const char *name) {
    tctx t;
    if (!t_open(&t, salt)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t rows = (size_t)t_int(&t, 2, 8), cols = (size_t)t_int(&t, 3, 24), len = rows * cols;
    double *g = t_randn(&t, len, 0.4, 0.0), *gbar = t_buf(&t, len), *ref = t_buf(&t, len), *dir = t_buf(&t, len);
    double *acc = t_buf(&t, 1), *scratch = t_buf(&t, len);
    const double lambda = t_unif(&t, 0.1, 10.0), acc0 = t_normal(&t);
    acc[0] = acc0;
    EB_CHECK_OK(o->penalty_seed(t.be.ctx, k, g, rows, cols, lambda, gbar, acc));
    double p = 0;
    for (size_t r = 0; r < rows; r++) {
        double sq = 0;
        for (size_t c = 0; c < cols; c++) sq += g[r * cols + c] * g[r * cols + c];
        double nr = sqrt(sq);
        p += k == EB_PENALTY_SCORE ? sq : (nr - 1) * (nr - 1);
        for (size_t c = 0; c < cols; c++)
            dir[r * cols + c] = k == EB_PENALTY_SCORE ? 2 * lambda / rows * g[r * cols + c]
                                                      : 2 * lambda / rows * (nr - 1) * g[r * cols + c] / nr;
    }
    p *= lambda / rows;
    double perr = fabs((acc[0] - acc0) - p) / p;
    double derr = eb_test_rel_err(gbar, dir, len, 1e-3);
    for (size_t i = 0; i < len; i++) {
#define PEN_LOSS (acc[0] = 0, o->penalty_seed(t.be.ctx, k, g, rows, cols, lambda, scratch, acc), acc[0])
        FD_AT(g, i, PEN_LOSS, ref[i]);
#undef PEN_LOSS
    }
    double ferr = eb_test_rel_err(gbar, ref, len, 1e-3);
    printf("penalty %-8s [%zu x %zu]: P rel err %.3e, gbar vs formula %.3e (bound 1e-13), gbar vs FD %.3e "
           "(bound 1e-7)\n", name, rows, cols, perr, derr, ferr);
    EB_CHECK(perr < 1e-13 && derr < 1e-13 && ferr < 1e-7, "%s: P %.3e formula %.3e FD %.3e", name, perr, derr, ferr);
    t_close(&t);
    return EB_TEST_PASS;
}

EB_TEST(penalty_score_fd_and_formula) { return check_penalty(EB_PENALTY_SCORE, 304, "score"); }
EB_TEST(penalty_wgan_gp_fd_and_formula) { return check_penalty(EB_PENALTY_WGAN_GP, 305, "wgan-gp"); }

/* wgan-gp at g_r = 0: P gets lambda / rows * 1 for that row and gbar_r = 0 (documented choice). */
EB_TEST(penalty_wgan_gp_zero_row) {
    tctx t;
    if (!t_open(&t, 306)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t rows = 3, cols = (size_t)t_int(&t, 2, 10);
    double *g = t_randn(&t, rows * cols, 1.0, 0.0), *gbar = t_buf(&t, rows * cols), *acc = t_buf(&t, 1);
    for (size_t c = 0; c < cols; c++) g[cols + c] = 0.0;
    acc[0] = 0;
    EB_CHECK_OK(o->penalty_seed(t.be.ctx, EB_PENALTY_WGAN_GP, g, rows, cols, 2.0, gbar, acc));
    EB_CHECK(isfinite(acc[0]), "P not finite");
    for (size_t c = 0; c < cols; c++) EB_CHECK(gbar[cols + c] == 0.0, "gbar of the zero row must be 0");
    EB_CHECK(o->penalty_seed(t.be.ctx, EB_PENALTY_NONE, g, rows, cols, 2.0, gbar, acc) == EB_ERR_ARG,
             "kind none must be refused");
    t_close(&t);
    return EB_TEST_PASS;
}

/* ---------------------------------------------------------------- alpha / beta semantics */

/* beta == 0 overwrites an output that holds NaN (never 0 * NaN); beta != 0 accumulates. */
EB_TEST(beta_zero_overwrites_nan) {
    tctx t;
    if (!t_open(&t, 401)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t n = (size_t)t_int(&t, 8, 64);
    double *a = act_inputs(&t, n, 1.0), *y = t_buf(&t, n), *dy = t_randn(&t, n, 1.0, 0.0), *out = t_buf(&t, n);
    const eb_act_kind kinds[3] = {EB_ACT_TANH, EB_ACT_RELU, EB_ACT_SOFTPLUS};
    for (int j = 0; j < 3; j++) {
        EB_CHECK_OK(o->act_forward(t.be.ctx, kinds[j], 0.1, a, y, n));
        EB_CHECK_OK(o->fill(t.be.ctx, out, NAN, n));
        EB_CHECK_OK(o->act_backward(t.be.ctx, kinds[j], 0.1, a, y, dy, out, n, 0.0));
        EB_CHECK(!eb_test_has_nonfinite(out, n), "act_backward kind %d: NaN survived beta = 0", (int)kinds[j]);
        EB_CHECK_OK(o->fill(t.be.ctx, out, NAN, n));
        EB_CHECK_OK(o->act_curvature(t.be.ctx, kinds[j], 0.1, a, y, dy, dy, out, n, 0.0));
        EB_CHECK(!eb_test_has_nonfinite(out, n), "act_curvature kind %d: NaN survived beta = 0", (int)kinds[j]);
    }
    EB_CHECK_OK(o->fill(t.be.ctx, out, NAN, n));
    EB_CHECK_OK(o->axpby(t.be.ctx, out, 2.0, dy, 0.0, n));
    for (size_t i = 0; i < n; i++) EB_CHECK(out[i] == 2.0 * dy[i], "axpby b = 0 at %zu", i);
    double *s = t_buf(&t, 1);
    EB_CHECK_OK(o->reduce_sum(t.be.ctx, dy, n, s, 1.0, 0.0));
    EB_CHECK(isfinite(s[0]), "reduce_sum beta = 0 kept NaN");
    /* bn gamma/beta grads with beta_acc = 0 are covered in bn_backward_train_fd (they start as NaN) */
    t_close(&t);
    return EB_TEST_PASS;
}

/* ---------------------------------------------------------------- elementwise, reductions, data movement */

EB_TEST(axpby_mul_fill_sgd_exact) {
    tctx t;
    if (!t_open(&t, 501)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t n = (size_t)t_int(&t, 10, 500);
    double *x = t_randn(&t, n, 1.0, 0.0), *y0 = t_randn(&t, n, 1.0, 0.0), *y = t_copy(&t, y0, n), *z = t_buf(&t, n);
    const double a = t_normal(&t), b = t_normal(&t);
    EB_CHECK_OK(o->axpby(t.be.ctx, y, a, x, b, n));
    EB_CHECK_OK(o->mul(t.be.ctx, z, x, y0, n));
    for (size_t i = 0; i < n; i++) {
        EB_CHECK(y[i] == a * x[i] + b * y0[i], "axpby at %zu", i); /* same expression: exact */
        EB_CHECK(z[i] == x[i] * y0[i], "mul at %zu", i);
    }
    EB_CHECK_OK(o->fill(t.be.ctx, z, -0.375, n));
    for (size_t i = 0; i < n; i++) EB_CHECK(z[i] == -0.375, "fill at %zu", i);
    double *p = t_copy(&t, y0, n);
    const double lr_slot[3] = {0.125, 1, 1}; /* {lr, bc1, bc2}: SGD reads lr */
    EB_CHECK_OK(o->sgd_update(t.be.ctx, p, x, n, lr_slot));
    for (size_t i = 0; i < n; i++) EB_CHECK(p[i] == y0[i] - 0.125 * x[i], "sgd_update at %zu", i);
    t_close(&t);
    return EB_TEST_PASS;
}

/* out = alpha * sum + beta * out (bound 1e-14 vs the same sum in double) and row_sqnorm. */
EB_TEST(reduce_sum_and_row_sqnorm) {
    tctx t;
    if (!t_open(&t, 502)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t rows = (size_t)t_int(&t, 2, 20), cols = (size_t)t_int(&t, 2, 50), n = rows * cols;
    double *x = t_randn(&t, n, 1.0, 0.1), *s = t_buf(&t, 1), *sq = t_buf(&t, rows);
    const double alpha = t_normal(&t), beta = t_normal(&t), s0 = t_normal(&t);
    s[0] = s0;
    EB_CHECK_OK(o->reduce_sum(t.be.ctx, x, n, s, alpha, beta));
    double ref = 0;
    for (size_t i = 0; i < n; i++) ref += x[i];
    ref = alpha * ref + beta * s0;
    EB_CHECK(fabs(s[0] - ref) <= 1e-14 * (fabs(ref) + n), "reduce_sum %.17g vs %.17g", s[0], ref);
    EB_CHECK_OK(o->row_sqnorm(t.be.ctx, x, rows, cols, sq));
    for (size_t r = 0; r < rows; r++) {
        double q = 0;
        for (size_t c = 0; c < cols; c++) q += x[r * cols + c] * x[r * cols + c];
        EB_CHECK(fabs(sq[r] - q) <= 1e-14 * q, "row_sqnorm row %zu", r);
    }
    t_close(&t);
    return EB_TEST_PASS;
}

EB_TEST(copy_2d_exact) {
    tctx t;
    if (!t_open(&t, 503)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t rows = (size_t)t_int(&t, 1, 12), cols = (size_t)t_int(&t, 1, 9);
    size_t sld = cols + (size_t)t_int(&t, 0, 5), dld = cols + (size_t)t_int(&t, 0, 5);
    double *src = t_randn(&t, rows * sld, 1.0, 0.0), *dst0 = t_randn(&t, rows * dld, 1.0, 0.0);
    double *dst = t_copy(&t, dst0, rows * dld);
    EB_CHECK_OK(o->copy_2d(t.be.ctx, dst, dld, src, sld, rows, cols));
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < dld; c++) {
            double want = c < cols ? src[r * sld + c] : dst0[r * dld + c]; /* padding untouched */
            EB_CHECK(dst[r * dld + c] == want, "copy_2d (%zu, %zu)", r, c);
        }
    t_close(&t);
    return EB_TEST_PASS;
}

EB_TEST(gather_rows_exact) {
    tctx t;
    if (!t_open(&t, 504)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t src_rows = (size_t)t_int(&t, 2, 30), rows = (size_t)t_int(&t, 1, 40), cols = (size_t)t_int(&t, 1, 17);
    double *src = t_randn(&t, src_rows * cols, 1.0, 0.0), *dst = t_buf(&t, rows * cols);
    int32_t *idx = NULL;
    uint8_t *u8 = NULL;
    EB_CHECK_OK(o->mem_alloc(t.be.ctx, (void **)&idx, rows * sizeof *idx));
    EB_CHECK_OK(o->mem_alloc(t.be.ctx, (void **)&u8, src_rows * cols));
    for (size_t r = 0; r < rows; r++) idx[r] = (int32_t)t_int(&t, 0, (int)src_rows - 1);
    for (size_t i = 0; i < src_rows * cols; i++) u8[i] = (uint8_t)t_int(&t, 0, 255);
    EB_CHECK_OK(o->gather_rows(t.be.ctx, dst, src, idx, rows, cols));
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            EB_CHECK(dst[r * cols + c] == src[(size_t)idx[r] * cols + c], "gather_rows (%zu, %zu)", r, c);
    const double scale = 2.0 / 255.0, shift = -1.0;
    EB_CHECK_OK(o->gather_rows_u8(t.be.ctx, dst, u8, idx, rows, cols, scale, shift));
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            double want = scale * (double)u8[(size_t)idx[r] * cols + c] + shift;
            EB_CHECK(dst[r * cols + c] == want, "gather_rows_u8 (%zu, %zu)", r, c);
            EB_CHECK(dst[r * cols + c] >= -1.0 - 1e-15 && dst[r * cols + c] <= 1.0 + 1e-15, "u8 range");
        }
    o->mem_free(t.be.ctx, idx);
    o->mem_free(t.be.ctx, u8);
    t_close(&t);
    return EB_TEST_PASS;
}

EB_TEST(lerp_rows_exact) {
    tctx t;
    if (!t_open(&t, 505)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t rows = (size_t)t_int(&t, 1, 20), cols = (size_t)t_int(&t, 1, 30), n = rows * cols;
    double *x = t_randn(&t, n, 1.0, 0.0), *y = t_randn(&t, n, 1.0, 0.0), *tt = t_buf(&t, rows), *out = t_buf(&t, n);
    for (size_t r = 0; r < rows; r++) tt[r] = t_unif(&t, 0.0, 1.0);
    EB_CHECK_OK(o->lerp_rows(t.be.ctx, out, tt, x, y, rows, cols));
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            EB_CHECK(out[i] == tt[r] * x[i] + (1 - tt[r]) * y[i], "lerp_rows (%zu, %zu)", r, c);
        }
    t_close(&t);
    return EB_TEST_PASS;
}

/* ---------------------------------------------------------------- optimisers and memory */

/* Three Adam steps against torch.optim.Adam's update written out by hand (no weight decay, no amsgrad):
 *   m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; bc_i = 1 - b_i^t;
 *   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
 * Bound 1e-14 relative on p, m, v: the same arithmetic in double. */
EB_TEST(adam_matches_pytorch_reference) {
    tctx t;
    if (!t_open(&t, 601)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t n = (size_t)t_int(&t, 10, 300);
    double *p = t_randn(&t, n, 1.0, 0.0), *m = t_buf(&t, n), *v = t_buf(&t, n), *g = t_buf(&t, n);
    double *rp = t_copy(&t, p, n), *rm = t_buf(&t, n), *rv = t_buf(&t, n);
    EB_CHECK_OK(o->fill(t.be.ctx, m, 0.0, n));
    EB_CHECK_OK(o->fill(t.be.ctx, v, 0.0, n));
    for (size_t i = 0; i < n; i++) rm[i] = rv[i] = 0;
    const double lr = 1e-3, b1 = 0.5, b2 = 0.9, eps = 1e-8;
    for (int step = 1; step <= 3; step++) {
        for (size_t i = 0; i < n; i++) g[i] = t_normal(&t) * (i % 7 == 0 ? 1e-6 : 1.0); /* some tiny grads: eps matters */
        const double bc1 = 1 - pow(b1, step), bc2 = 1 - pow(b2, step);
        /* the schedule op gives the host's lr and bias corrections exactly (one double pow, no rounding) */
        double hyper[3];
        const eb_optim_sched sc = {lr, b1, b2, NULL, 0, step, 0};
        EB_CHECK_OK(o->optim_hyper(t.be.ctx, hyper, &sc));
        EB_CHECK(hyper[0] == lr && hyper[1] == bc1 && hyper[2] == bc2, "optim_hyper step %d: {%g, %g, %g}", step,
                 hyper[0], hyper[1], hyper[2]);
        EB_CHECK_OK(o->adam_update(t.be.ctx, p, g, m, v, n, hyper, b1, b2, eps));
        for (size_t i = 0; i < n; i++) {
            rm[i] = b1 * rm[i] + (1 - b1) * g[i];
            rv[i] = b2 * rv[i] + (1 - b2) * g[i] * g[i];
            rp[i] -= (lr / bc1) * rm[i] / (sqrt(rv[i]) / sqrt(bc2) + eps);
        }
        double ep = eb_test_rel_err(p, rp, n, 1.0), em = eb_test_rel_err(m, rm, n, 1e-6);
        double ev = eb_test_rel_err(v, rv, n, 1e-12);
        printf("adam step %d n=%zu: rel err p %.3e m %.3e v %.3e (bound 1e-14)\n", step, n, ep, em, ev);
        EB_CHECK(ep < 1e-14 && em < 1e-14 && ev < 1e-14, "step %d: p %.3e m %.3e v %.3e", step, ep, em, ev);
    }
    t_close(&t);
    return EB_TEST_PASS;
}

/* mem_copy's ranges must not overlap (the GPU's copy leaves overlap undefined): the CPU reference refuses an
 * overlapping copy with EB_ERR_ARG and leaves the memory as it was; adjacent ranges are fine. */
EB_TEST(mem_copy_refuses_overlapping_ranges) {
    tctx t;
    if (!t_open(&t, 702)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    const size_t n = 64;
    double *d = NULL, before[64], after[64];
    EB_CHECK_OK(o->mem_alloc(t.be.ctx, (void **)&d, 2 * n * sizeof(double)));
    for (size_t i = 0; i < 2 * n; i++) d[i] = t_normal(&t);
    memcpy(before, d, sizeof before);
    eb_status st = o->mem_copy(t.be.ctx, d + 1, d, n * sizeof(double));
    EB_CHECK(st == EB_ERR_ARG, "an overlapping copy returned status %d, expected EB_ERR_ARG", (int)st);
    EB_CHECK(strstr(eb_error_message(), "overlap") != NULL, "message does not say overlap: %s", eb_error_message());
    memcpy(after, d, sizeof after);
    EB_CHECK(memcmp(before, after, sizeof before) == 0, "a refused copy wrote memory");
    EB_CHECK_OK(o->mem_copy(t.be.ctx, d + n, d, n * sizeof(double)));
    EB_CHECK(memcmp(d, d + n, n * sizeof(double)) == 0, "adjacent ranges copy");
    o->mem_free(t.be.ctx, d);
    t_close(&t);
    return EB_TEST_PASS;
}

/* mem_alloc: 64-byte aligned, round trips through upload / copy / download, and an impossible size fails
 * with EB_ERR_OOM and a message that names the bytes asked. */
EB_TEST(mem_alloc_roundtrip_and_oom_message) {
    tctx t;
    if (!t_open(&t, 701)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t n = (size_t)t_int(&t, 1, 1000);
    double *host = malloc(n * sizeof *host), *back = malloc(n * sizeof *back);
    EB_CHECK(host && back, "host buffers");
    for (size_t i = 0; i < n; i++) host[i] = t_normal(&t);
    void *d1 = NULL, *d2 = NULL;
    EB_CHECK_OK(o->mem_alloc(t.be.ctx, &d1, n * sizeof(double)));
    EB_CHECK_OK(o->mem_alloc(t.be.ctx, &d2, n * sizeof(double)));
    EB_CHECK(((uintptr_t)d1 % 64) == 0 && ((uintptr_t)d2 % 64) == 0, "alignment");
    EB_CHECK_OK(o->mem_upload(t.be.ctx, d1, host, n * sizeof(double)));
    EB_CHECK_OK(o->mem_copy(t.be.ctx, d2, d1, n * sizeof(double)));
    EB_CHECK_OK(o->sync(t.be.ctx));
    EB_CHECK_OK(o->mem_download(t.be.ctx, back, d2, n * sizeof(double)));
    EB_CHECK(memcmp(host, back, n * sizeof(double)) == 0, "round trip");
    o->mem_free(t.be.ctx, d1);
    o->mem_free(t.be.ctx, d2);
    free(host);
    free(back);
    void *huge = (void *)1;
    const size_t ask = (SIZE_MAX / 4) & ~(size_t)63; /* beyond any address space */
    eb_status st = o->mem_alloc(t.be.ctx, &huge, ask);
    char num[32];
    snprintf(num, sizeof num, "%zu", ask);
    EB_CHECK(st == EB_ERR_OOM && huge == NULL, "status %d", (int)st);
    EB_CHECK(strstr(eb_error_message(), num) != NULL, "message does not name %s bytes: %s", num, eb_error_message());
    printf("oom message: %s\n", eb_error_message());
    t_close(&t);
    return EB_TEST_PASS;
}
