/* The G step's gradients (G and the surrogate's nets) against central finite differences of the G-step
 * loss itself, in the float64 oracle build: dim with and without an image trunk, infogan, none. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "ebgan/backend.h"
#include "ebgan/gstep.h"

/* Float64 central differences with h = 1e-5 have truncation error O(h^2 * f''') ~ 1e-10 and rounding
 * error O(eps * |L| / h) ~ 1e-11 relative; 1e-6 leaves room for curvature while catching any missing term
 * (a wrong term is O(1) relative). Kinks (lrelu/relu) are crossed with probability ~h, avoided by using
 * smooth activations in these nets. */
#define GSTEP_FD_H 1e-5
#define GSTEP_FD_TOL 1e-6

static double loss_of(const eb_backend *be, eb_gan *m, eb_gstep *gs, int n, const int32_t *perm, double w) {
    double t[EB_GTERM_COUNT];
    if (eb_gstep_loss(be, m, gs, n, eb_rng_at(7, 1000), perm, (eb_real)w) != EB_OK) return NAN;
    if (eb_gstep_read_terms(be, gs, t) != EB_OK) return NAN;
    return t[EB_GTERM_LOSS];
}

/* Checks every parameter of `net` (at most `max_checked`, spread evenly) against finite differences. */
static int check_net(const eb_backend *be, eb_gan *m, eb_gstep *gs, eb_net *net, int n, const int32_t *perm,
                     double w, int max_checked, double *worst) {
    size_t np = net->n_params;
    double *an = malloc(np * sizeof *an), *fd = malloc(np * sizeof *fd);
    size_t stride = np > (size_t)max_checked ? np / (size_t)max_checked : 1, k = 0;
    for (size_t i = 0; i < np; i += stride, k++) {
        eb_real *p = net->params + i; /* CPU backend: device memory is host memory */
        eb_real save = *p;
        *p = save + GSTEP_FD_H;
        double lp = loss_of(be, m, gs, n, perm, w);
        *p = save - GSTEP_FD_H;
        double lm = loss_of(be, m, gs, n, perm, w);
        *p = save;
        fd[k] = (lp - lm) / (2 * GSTEP_FD_H);
        an[k] = net->grads[i];
    }
    double e = eb_test_rel_err(an, fd, k, 1e-8);
    printf("  %-8s %zu of %zu parameters: max rel err %.3e\n", net->name, k, np, e);
    if (e > *worst || isnan(e)) *worst = e;
    free(an);
    free(fd);
    return isnan(e) || e > GSTEP_FD_TOL;
}

static int run_case(eb_shape xs, const eb_gan_specs *sp, int zd, eb_entropy_kind ent, double w) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_optim_cfg oc = {EB_OPTIM_ADAM, 1e-4, 0.5, 0.9, 1e-8};
    eb_gan m;
    EB_CHECK_OK(eb_gan_init(&m, &be, sp, xs, zd, ent, &oc));
    eb_rng rng;
    eb_rng_init(&rng, 42);
    EB_CHECK_OK(eb_gan_init_weights(&m, &be, &rng));
    int n = 5;
    eb_gstep gs;
    EB_CHECK_OK(eb_gstep_init(&gs, &be, &m, n));
    int32_t perm[5] = {3, 0, 4, 1, 2};
    EB_CHECK_OK(eb_gstep_grad(&be, &m, &gs, n, eb_rng_at(7, 1000), perm, (eb_real)w));
    eb_net *nets[5];
    eb_optim *opts[5];
    int k = eb_gan_nets(&m, nets, opts);
    double worst = 0;
    int bad = 0;
    for (int i = 1; i < k; i++) /* nets[0] is U: the G step leaves its gradients alone */
        bad |= check_net(&be, &m, &gs, nets[i], n, perm, w, 60, &worst);
    eb_gstep_free(&gs, &be);
    eb_gan_free(&m, &be);
    eb_cpu_backend_free(&be);
    EB_CHECK(!bad, "G-step gradient differs from finite differences: worst rel err %.3e > %.1e", worst,
             GSTEP_FD_TOL);
    return EB_TEST_PASS;
}

EB_TEST(dim_without_trunk_matches_finite_differences) {
    eb_gan_specs sp = {"linear:8,softplus,linear:1", "linear:8,tanh,linear:8,bn,softplus,linear:2", "",
                       "linear:8,tanh,linear:1", ""};
    return run_case((eb_shape){2, 1, 1}, &sp, 3, EB_ENTROPY_DIM, 1.0);
}

EB_TEST(dim_with_conv_trunk_matches_finite_differences) {
    eb_gan_specs sp = {"conv:3:3:2:1,softplus,linear:1",
                       "linear:18,reshape:2:3:3,bn,tanh,convt:2:3:2:1:1,tanh",
                       "conv:3:3:2:1,softplus,linear:4", "linear:6,softplus,linear:1", ""};
    return run_case((eb_shape){2, 6, 6}, &sp, 3, EB_ENTROPY_DIM, 1.0);
}

EB_TEST(infogan_matches_finite_differences) {
    eb_gan_specs sp = {"linear:8,softplus,linear:1", "linear:8,tanh,linear:2", "", "",
                       "linear:8,softplus,linear:3"};
    return run_case((eb_shape){2, 1, 1}, &sp, 3, EB_ENTROPY_INFOGAN, 0.7);
}

EB_TEST(no_entropy_matches_finite_differences) {
    eb_gan_specs sp = {"linear:8,tanh,linear:1", "linear:8,softplus,linear:2", "", "", ""};
    return run_case((eb_shape){2, 1, 1}, &sp, 2, EB_ENTROPY_NONE, 1.0);
}

EB_TEST(u_with_batchnorm_is_rejected) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_optim_cfg oc = {EB_OPTIM_ADAM, 1e-4, 0.5, 0.9, 1e-8};
    eb_gan_specs sp = {"linear:8,bn,softplus,linear:1", "linear:2", "", "linear:1", ""};
    eb_gan m;
    eb_status st = eb_gan_init(&m, &be, &sp, (eb_shape){2, 1, 1}, 2, EB_ENTROPY_DIM, &oc);
    eb_cpu_backend_free(&be);
    EB_CHECK(st == EB_ERR_ARG, "status %d", st);
    EB_CHECK(strstr(eb_error_message(), "batch norm") != NULL, "message: %s", eb_error_message());
    return EB_TEST_PASS;
}
