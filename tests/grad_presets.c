/* The paper's networks at their real image sizes (MNIST 28x28 k5 s2 p2, CIFAR 32x32 with k3/k4 convs): the
 * U-step gradient (penalty included) and the G-step gradient against directional finite differences in
 * float64. The small-shape tests of grad_ustep.c do not cover these geometries. */
#include "harness.h"
#include "net_random.h"

#include <stdlib.h>
#include <string.h>

#include "ebgan/backend.h"
#include "ebgan/gstep.h"
#include "ebgan/presets.h"
#include "ebgan/ustep.h"

/* A directional derivative <grad, v> against (L(p + h v) - L(p - h v)) / 2h over all parameters at once:
 * float64, h = 1e-5 with |v| = 1, truncation ~h^2 and rounding ~eps |L| / h ~ 1e-10 relative to the
 * derivatives (O(1e-2..1), relative floor 1e-8); a wrong term of any layer moves <grad, v> by O(its share), far above 1e-6.
 * LeakyReLU kinks are crossed with probability ~h per unit, small over these sizes; three directions. */
#define DIR_H 1e-5
#define DIR_BOUND 1e-6

static void unit_direction(uint64_t *r, double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) v[i] = eb_test_rand_normal(r), s += v[i] * v[i];
    s = 1 / sqrt(s);
    for (size_t i = 0; i < n; i++) v[i] *= s;
}

static double dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static double u_loss(const eb_backend *be, eb_net *U, eb_ustep *us, const double *xr, const double *xf,
                     const double *t, int n, const eb_ustep_cfg *c) {
    double terms[EB_UTERM_COUNT];
    if (eb_ustep_loss(be, U, us, xr, xf, t, n, c) != EB_OK || eb_ustep_read_terms(be, us, terms) != EB_OK)
        return NAN;
    return terms[EB_UTERM_LOSS];
}

static int check_u_preset(const char *model, eb_shape data, eb_penalty_kind pk) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_preset p;
    EB_CHECK_OK(eb_preset_make(&p, model, data, 8, 16)); /* real geometry, narrow width (dim 16) */
    eb_net U;
    EB_CHECK_OK(eb_net_init(&U, &be, "U", p.data, p.u_spec));
    uint64_t rng = eb_test_rand_init(77);
    eb_test_net_randomize(&U, &rng);
    int n = 3;
    size_t d = (size_t)eb_shape_numel(p.data), np = U.n_params;
    double *xr = malloc(n * d * sizeof *xr), *xf = malloc(n * d * sizeof *xf), t[3] = {0.2, 0.7, 0.45};
    eb_test_fill_range(xr, n * d, -1, 1, &rng);
    eb_test_fill_range(xf, n * d, -1, 1, &rng);
    eb_ustep us;
    EB_CHECK_OK(eb_ustep_init(&us, &be, &U, n));
    eb_ustep_cfg c = {pk, 50.0}; /* a large lambda so the penalty's part dominates the check */
    EB_CHECK_OK(eb_ustep_grad(&be, &U, &us, xr, xf, t, n, &c));
    double *g = malloc(np * sizeof *g), *v = malloc(np * sizeof *v), *p0 = malloc(np * sizeof *p0);
    memcpy(g, U.grads, np * sizeof *g);
    memcpy(p0, U.params, np * sizeof *p0);
    double worst = 0;
    for (int k = 0; k < 3; k++) {
        unit_direction(&rng, v, np);
        for (size_t i = 0; i < np; i++) U.params[i] = p0[i] + DIR_H * v[i];
        double lp = u_loss(&be, &U, &us, xr, xf, t, n, &c);
        for (size_t i = 0; i < np; i++) U.params[i] = p0[i] - DIR_H * v[i];
        double lm = u_loss(&be, &U, &us, xr, xf, t, n, &c);
        memcpy(U.params, p0, np * sizeof *p0);
        double fd = (lp - lm) / (2 * DIR_H), an = dot(g, v, np);
        double e = fabs(fd - an) / fmax(fabs(fd), 1e-8);
        printf("  %s U (%s) direction %d: <grad, v> %.10f  finite difference %.10f  rel err %.2e\n", model,
               pk == EB_PENALTY_SCORE ? "score" : "wgan-gp", k, an, fd, e);
        if (!(e <= worst)) worst = e;
    }
    free(xr), free(xf), free(g), free(v), free(p0);
    eb_ustep_free(&us, &be);
    eb_net_free(&U, &be);
    eb_cpu_backend_free(&be);
    EB_CHECK(worst < DIR_BOUND, "%s U-step gradient differs from finite differences: rel err %.3e", model, worst);
    return EB_TEST_PASS;
}

EB_TEST(mnist_u_score_matches_finite_differences) { return check_u_preset("mnist", (eb_shape){3, 28, 28}, EB_PENALTY_SCORE); }
EB_TEST(mnist_u_wgangp_matches_finite_differences) { return check_u_preset("mnist", (eb_shape){1, 28, 28}, EB_PENALTY_WGAN_GP); }
EB_TEST(cifar_u_score_matches_finite_differences) { return check_u_preset("cifar", (eb_shape){3, 32, 32}, EB_PENALTY_SCORE); }

/* The G step of the image presets (G with batch norm and transposed convolutions, T with its conv trunk). */
static int check_g_preset(const char *model, eb_shape data) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_preset p;
    EB_CHECK_OK(eb_preset_make(&p, model, data, 8, 16));
    eb_gan_specs sp = {p.u_spec, p.g_spec, p.t_trunk_spec, p.t_head_spec, p.e_spec};
    eb_optim_cfg oc = {EB_OPTIM_ADAM, 1e-4, 0.5, 0.9, 1e-8};
    eb_gan m;
    EB_CHECK_OK(eb_gan_init(&m, &be, &sp, p.data, p.z_dim, EB_ENTROPY_DIM, &oc));
    eb_rng init;
    eb_rng_init(&init, 78);
    EB_CHECK_OK(eb_gan_init_weights(&m, &be, &init));
    uint64_t rng = eb_test_rand_init(78);
    eb_test_net_randomize(&m.U, &rng);
    eb_test_net_randomize(&m.G, &rng);
    eb_test_net_randomize(&m.T_trunk, &rng);
    eb_test_net_randomize(&m.T_head, &rng);
    int n = 4;
    int32_t perm[4] = {2, 0, 3, 1};
    eb_gstep gs;
    EB_CHECK_OK(eb_gstep_init(&gs, &be, &m, n));
    EB_CHECK_OK(eb_gstep_grad(&be, &m, &gs, n, eb_rng_at(5, 0), perm, 1.0));
    eb_net *nets[3] = {&m.G, &m.T_trunk, &m.T_head};
    double worst = 0;
    for (int k = 0; k < 3; k++) {
        eb_net *net = nets[k];
        size_t np = net->n_params;
        double *g = malloc(np * sizeof *g), *v = malloc(np * sizeof *v), *p0 = malloc(np * sizeof *p0);
        memcpy(g, net->grads, np * sizeof *g);
        memcpy(p0, net->params, np * sizeof *p0);
        unit_direction(&rng, v, np);
        double t[EB_GTERM_COUNT], lp, lm;
        for (size_t i = 0; i < np; i++) net->params[i] = p0[i] + DIR_H * v[i];
        EB_CHECK_OK(eb_gstep_loss(&be, &m, &gs, n, eb_rng_at(5, 0), perm, 1.0));
        EB_CHECK_OK(eb_gstep_read_terms(&be, &gs, t));
        lp = t[EB_GTERM_LOSS];
        for (size_t i = 0; i < np; i++) net->params[i] = p0[i] - DIR_H * v[i];
        EB_CHECK_OK(eb_gstep_loss(&be, &m, &gs, n, eb_rng_at(5, 0), perm, 1.0));
        EB_CHECK_OK(eb_gstep_read_terms(&be, &gs, t));
        lm = t[EB_GTERM_LOSS];
        memcpy(net->params, p0, np * sizeof *p0);
        double fd = (lp - lm) / (2 * DIR_H), an = dot(g, v, np);
        double e = fabs(fd - an) / fmax(fabs(fd), 1e-8);
        printf("  %s G step, %s: <grad, v> %.10f  finite difference %.10f  rel err %.2e\n", model, net->name, an, fd, e);
        if (!(e <= worst)) worst = e;
        free(g), free(v), free(p0);
    }
    eb_gstep_free(&gs, &be);
    eb_gan_free(&m, &be);
    eb_cpu_backend_free(&be);
    EB_CHECK(worst < DIR_BOUND, "%s G-step gradient differs from finite differences: rel err %.3e", model, worst);
    return EB_TEST_PASS;
}

EB_TEST(mnist_g_step_matches_finite_differences) { return check_g_preset("mnist", (eb_shape){3, 28, 28}); }
EB_TEST(cifar_g_step_matches_finite_differences) { return check_g_preset("cifar", (eb_shape){3, 32, 32}); }
