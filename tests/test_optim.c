/* eb_optim: Adam with PyTorch semantics (step counter and bias corrections on the host) and SGD, against
 * a float64 reference of torch.optim.Adam's update written out here. */
#include "harness.h"

#include "ebgan/backend.h"
#include "ebgan/optim.h"

#include <string.h>

#define N 37

/* Three Adam steps with fresh random gradients; the float result must match the float64 reference to
 * float rounding: each step moves p by at most lr (~1e-2 here), computed with ~1e-7 relative error, so
 * |diff| <= 1e-6 absolute on parameters of order 1. */
EB_TEST(adam_matches_pytorch) {
    eb_backend be;
    eb_optim o;
    uint64_t rng = 31;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const eb_optim_cfg cfg = {EB_OPTIM_ADAM, 1e-2, 0.5, 0.9, 1e-8};
    EB_CHECK_OK(eb_optim_init(&o, &be, N, &cfg));
    float p[N], g[N];
    double pr[N], m[N] = {0}, v[N] = {0};
    eb_test_fill_uniform_f(p, N, &rng);
    for (int i = 0; i < N; i++) pr[i] = p[i];
    for (int t = 1; t <= 3; t++) {
        eb_test_fill_uniform_f(g, N, &rng);
        EB_CHECK_OK(eb_optim_step(&o, &be, p, g)); /* CPU backend: device memory is host memory */
        const double bc1 = 1 - pow(0.5, t), bc2 = 1 - pow(0.9, t);
        for (int i = 0; i < N; i++) {
            m[i] = 0.5 * m[i] + 0.5 * g[i];
            v[i] = 0.9 * v[i] + 0.1 * (double)g[i] * g[i];
            pr[i] -= 1e-2 * (m[i] / bc1) / (sqrt(v[i] / bc2) + 1e-8);
        }
        EB_CHECK(o.step == t, "step counter %lld after %d updates", (long long)o.step, t);
    }
    double err = 0;
    for (int i = 0; i < N; i++) err = fmax(err, fabs(p[i] - pr[i]));
    printf("adam: max |p - p_ref| after 3 steps = %.2e\n", err);
    EB_CHECK(err < 1e-6, "Adam differs from the PyTorch update: %.2e", err);
    eb_optim_free(&o, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(sgd_step) {
    eb_backend be;
    eb_optim o;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const eb_optim_cfg cfg = {EB_OPTIM_SGD, 0.25, 0, 0, 0};
    EB_CHECK_OK(eb_optim_init(&o, &be, 3, &cfg));
    float p[3] = {1.0f, -2.0f, 0.5f}, g[3] = {0.5f, 1.0f, -4.0f};
    EB_CHECK_OK(eb_optim_step(&o, &be, p, g));
    EB_CHECK(p[0] == 0.875f && p[1] == -2.25f && p[2] == 1.5f, "sgd: %g %g %g", p[0], p[1], p[2]);
    eb_optim_free(&o, &be);
    const eb_optim_cfg bad = {EB_OPTIM_ADAM, 1e-4, 1.0, 0.9, 1e-8};
    EB_CHECK(eb_optim_init(&o, &be, 3, &bad) == EB_ERR_ARG, "beta1 = 1 accepted");
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}
