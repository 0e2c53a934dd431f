/* VERA's entropy term (gstep_vera.c) in the float64 oracle build: on a linear-Gaussian generator its gradient
 * estimate matches the closed-form entropy gradient; the posterior's ELBO gradient and the G step's gradient
 * (c held fixed) match central finite differences. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "ebgan/backend.h"
#include "ebgan/gstep.h"

#define FD_H 1e-5
#define FD_TOL 1e-6 /* as grad_gstep.c: float64 central differences of smooth nets */

/* A loss of the parameters as they stand now, and its central difference in one of them. */
typedef double (*loss_fn)(void *arg);

static double central_diff(double *param, loss_fn loss, void *arg) {
    const double keep = *param;
    *param = keep + FD_H;
    const double lp = loss(arg);
    *param = keep - FD_H;
    const double lm = loss(arg);
    *param = keep;
    return (lp - lm) / (2 * FD_H);
}

typedef struct vcase {
    eb_backend be;
    eb_gan m;
    eb_gstep gs;
    int n;
} vcase;

static int vcase_open(vcase *v, const char *u, const char *g, int zd, int n, const eb_vera_cfg *vc) {
    EB_CHECK_OK(eb_cpu_backend_init(&v->be));
    eb_optim_cfg oc = {EB_OPTIM_ADAM, 1e-4, 0.5, 0.9, 1e-8};
    eb_gan_specs sp = {u, g, "", "", ""};
    EB_CHECK_OK(eb_gan_init(&v->m, &v->be, &sp, (eb_shape){2, 1, 1}, zd, EB_ENTROPY_VERA, &oc));
    EB_CHECK_OK(eb_gan_set_vera(&v->m, vc));
    eb_rng rng;
    eb_rng_init(&rng, 42);
    EB_CHECK_OK(eb_gan_init_weights(&v->m, &v->be, &rng));
    EB_CHECK_OK(eb_gstep_init(&v->gs, &v->be, &v->m, n));
    v->n = n;
    return EB_TEST_PASS;
}

/* Smooth nets (no kinks for the finite differences to cross), z_dim 3, k posterior samples, n fakes. */
static int vcase_open_smooth(vcase *v, int k, int n) {
    const eb_vera_cfg vc = {k, 0.05, 0.5, 0.4, 1e-3};
    return vcase_open(v, "linear:8,softplus,linear:1", "linear:8,tanh,linear:8,softplus,linear:2", 3, n, &vc);
}

static void vcase_close(vcase *v) {
    eb_gstep_free(&v->gs, &v->be);
    eb_gan_free(&v->m, &v->be);
    eb_cpu_backend_free(&v->be);
}

/* ---- the estimator against the linear-Gaussian generator's closed form ---- */

/* x = W z + b + sigma eps, z ~ N(0, I_2): q = N(b, S), S = W W^T + sigma^2 I, H = 1/2 log det(2 pi e S);
 * dH/dW = S^-1 W, dH/dlog sigma = sigma^2 tr S^-1. With U = 0 the G step's loss is -<c, x> and its gradients
 * estimate -dH; each batch is an independent estimate, so their spread gives the Monte Carlo error. */
EB_TEST(linear_gaussian_entropy_gradient_within_monte_carlo_error) {
    const double W[4] = {0.8, -0.3, 0.4, 0.6}, b[2] = {0.2, -0.1}, sigma = 0.3; /* W [out, in] */
    /* a posterior wider than the true one (sd 0.32 and 0.41 here) and many samples: the self-normalised
     * weights' bias is then well below the Monte Carlo error (a too narrow eta pulls c towards (x - G(z0)) / s^2) */
    const eb_vera_cfg vc = {256, 0.01, 1.0, 0.6, 1e-3};
    vcase v;
    if (vcase_open(&v, "linear:1", "linear:2", 2, 128, &vc) != EB_TEST_PASS) return EB_TEST_FAIL;
    eb_layer *gl = &v.m.G.layers[0];
    memcpy(v.m.G.params + gl->w_off, W, sizeof W);
    memcpy(v.m.G.params + gl->b_off, b, sizeof b);
    memset(v.m.U.params, 0, v.m.U.n_params * sizeof(eb_real)); /* U = 0: only the entropy term is left */
    v.m.vera_sigma.params[0] = log(sigma);
    /* the closed form */
    const double s2 = sigma * sigma;
    const double S[4] = {W[0] * W[0] + W[1] * W[1] + s2, W[0] * W[2] + W[1] * W[3], W[0] * W[2] + W[1] * W[3],
                         W[2] * W[2] + W[3] * W[3] + s2};
    const double det = S[0] * S[3] - S[1] * S[2];
    const double Si[4] = {S[3] / det, -S[1] / det, -S[2] / det, S[0] / det};
    double want[7]; /* -dH: W (4), b (2), log sigma */
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < 2; i++) want[o * 2 + i] = -(Si[o * 2 + 0] * W[0 * 2 + i] + Si[o * 2 + 1] * W[1 * 2 + i]);
    want[4] = want[5] = 0;
    want[6] = -s2 * (Si[0] + Si[3]);
    enum { R = 60 };
    double sum[7] = {0}, sq[7] = {0};
    for (int r = 0; r < R; r++) {
        EB_CHECK_OK(eb_gstep_grad(&v.be, &v.m, &v.gs, v.n, eb_rng_at(7, (uint64_t)r << 24), NULL, 1));
        double got[7] = {v.m.G.grads[gl->w_off], v.m.G.grads[gl->w_off + 1], v.m.G.grads[gl->w_off + 2],
                         v.m.G.grads[gl->w_off + 3], v.m.G.grads[gl->b_off], v.m.G.grads[gl->b_off + 1],
                         v.m.vera_sigma.grads[0]};
        for (int j = 0; j < 7; j++) sum[j] += got[j], sq[j] += got[j] * got[j];
    }
    int bad = 0;
    for (int j = 0; j < 7; j++) {
        const double mean = sum[j] / R, se = sqrt((sq[j] / R - mean * mean) / (R - 1));
        const double tol = 4 * se;
        printf("  param %d: mean %+.5f  closed form %+.5f  se %.5f\n", j, mean, want[j], se);
        bad |= !(fabs(mean - want[j]) <= tol);
    }
    vcase_close(&v);
    EB_CHECK(!bad, "the estimate differs from the closed-form entropy gradient beyond its Monte Carlo error");
    return EB_TEST_PASS;
}

/* ---- the posterior's ELBO gradient ---- */

/* -ELBO of log eta (x, z0 and the draws fixed): -(1/n) sum_i [log N(x_i; G(z'_i), sigma^2 I) + log N(z'_i; 0, I)]
 * - sum_j log eta_j, z'_i = z0_i + eta eps_i (constants dropped), written from the definition in float64. */
typedef struct elbo_arg {
    vcase *v;
    const double *x, *z0, *eps;
    double *leta, *zp, sigma;
} elbo_arg;

static double neg_elbo(void *arg) {
    const elbo_arg *a = arg;
    vcase *v = a->v;
    const int n = v->n, zd = v->m.z_dim;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < zd; j++) a->zp[i * zd + j] = a->z0[i * zd + j] + exp(a->leta[j]) * a->eps[i * zd + j];
    eb_net_ws ws;
    if (eb_net_ws_init(&ws, &v->be, &v->m.G, n, 0) != EB_OK) return NAN;
    if (eb_net_forward(&v->be, &v->m.G, &ws, a->zp, n, EB_MODE_TRAIN) != EB_OK) return NAN;
    const double *g = ws.h[v->m.G.n_layers];
    double s = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < 2; j++) {
            const double r = a->x[i * 2 + j] - g[i * 2 + j];
            s += 0.5 * r * r / (a->sigma * a->sigma);
        }
        for (int j = 0; j < zd; j++) s += 0.5 * a->zp[i * zd + j] * a->zp[i * zd + j];
    }
    eb_net_ws_free(&ws, &v->be);
    double ent = 0;
    for (int j = 0; j < zd; j++) ent += a->leta[j];
    return s / n - ent;
}

EB_TEST(posterior_elbo_gradient_matches_finite_differences) {
    vcase v;
    if (vcase_open_smooth(&v, 5, 6) != EB_TEST_PASS) return EB_TEST_FAIL;
    v.m.vera_eta.params[1] = log(0.7); /* coordinates unlike each other */
    EB_CHECK_OK(eb_gstep_grad(&v.be, &v.m, &v.gs, v.n, eb_rng_at(7, 1000), NULL, 0.5));
    const int n = v.n, zd = v.m.z_dim;
    double *x = malloc(sizeof(double) * 2 * n), *z0 = malloc(sizeof(double) * zd * n);
    double *eps = malloc(sizeof(double) * zd * n), *zp = malloc(sizeof(double) * zd * n), leta[3], an[3], fd[3];
    memcpy(x, v.gs.x_noisy, sizeof(double) * 2 * n);
    memcpy(z0, v.gs.z, sizeof(double) * zd * n);
    memcpy(eps, v.gs.eps_k, sizeof(double) * zd * n); /* the first of the k draws is the ELBO's */
    const double lo = log(v.m.vera.sigma_min), hi = log(v.m.vera.sigma_max), ls = v.m.vera_sigma.params[0];
    const double sigma = exp(ls < lo ? lo : ls > hi ? hi : ls);
    for (int j = 0; j < zd; j++) leta[j] = v.m.vera_eta.params[j], an[j] = v.m.vera_eta.grads[j];
    elbo_arg arg = {&v, x, z0, eps, leta, zp, sigma};
    for (int j = 0; j < zd; j++) fd[j] = central_diff(&leta[j], neg_elbo, &arg);
    const double e = eb_test_rel_err(an, fd, (size_t)zd, 1e-8);
    printf("  log eta: max rel err %.3e\n", e);
    free(x), free(z0), free(eps), free(zp);
    vcase_close(&v);
    EB_CHECK(e <= FD_TOL, "ELBO gradient differs from finite differences: %.3e", e);
    return EB_TEST_PASS;
}

/* ---- the G step's gradient with c held fixed ---- */

/* mean U(x) - w mean <c, x> at the current parameters, x = G(z) + sigma eps (the same draws), c given. */
typedef struct cfix_arg {
    vcase *v;
    const double *c;
    double w;
} cfix_arg;

static double loss_c_fixed(void *arg) {
    const cfix_arg *a = arg;
    vcase *v = a->v;
    double t[EB_GTERM_COUNT];
    if (eb_gstep_loss(&v->be, &v->m, &v->gs, v->n, eb_rng_at(7, 1000), NULL, (eb_real)a->w) != EB_OK) return NAN;
    if (eb_gstep_read_terms(&v->be, &v->gs, t) != EB_OK) return NAN;
    double cx = 0;
    for (int i = 0; i < v->n * 2; i++) cx += a->c[i] * v->gs.x_noisy[i];
    return t[EB_GTERM_U_FAKE] - a->w * cx / v->n;
}

/* Every one of the first np parameters of `net` (its gradients from the G step, which the loss-only calls
 * leave alone) against central differences. */
static int check_params(cfix_arg *a, eb_net *net, size_t np, double *worst) {
    double *an = malloc(np * sizeof *an), *fd = malloc(np * sizeof *fd);
    for (size_t i = 0; i < np; i++) {
        fd[i] = central_diff(&net->params[i], loss_c_fixed, a);
        an[i] = net->grads[i];
    }
    const double e = eb_test_rel_err(an, fd, np, 1e-8);
    printf("  %-8s %zu parameters: max rel err %.3e\n", net->name, np, e);
    if (!(e <= *worst)) *worst = e;
    free(an);
    free(fd);
    return !(e <= FD_TOL);
}

EB_TEST(g_step_gradient_with_c_fixed_matches_finite_differences) {
    vcase v;
    if (vcase_open_smooth(&v, 4, 5) != EB_TEST_PASS) return EB_TEST_FAIL;
    const double w = 0.7;
    EB_CHECK_OK(eb_gstep_grad(&v.be, &v.m, &v.gs, v.n, eb_rng_at(7, 1000), NULL, (eb_real)w));
    double c[10];
    memcpy(c, v.gs.c, sizeof c);
    cfix_arg arg = {&v, c, w};
    double worst = 0;
    int bad = check_params(&arg, &v.m.G, v.m.G.n_params, &worst);
    bad |= check_params(&arg, &v.m.vera_sigma, 1, &worst); /* log sigma (the rest is alignment padding) */
    vcase_close(&v);
    EB_CHECK(!bad, "G-step gradient differs from finite differences: worst rel err %.3e > %.1e", worst, FD_TOL);
    return EB_TEST_PASS;
}
