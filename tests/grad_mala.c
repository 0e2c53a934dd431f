/* MALA in latent space (DESIGN.md §3), float64 oracle: the proposal and the acceptance rule against a direct
 * evaluation of the formulas (a NaN energy rejects), chains that reproduce laws known in closed form (through
 * an identity G, and through a G with batch norm in inference mode), ULA's known bias, and the independence of
 * the result from the chunking. Statistics use the chains' final states (independent across chains). */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "ebgan/backend.h"
#include "ebgan/mala.h"

#define CHAINS 4000

/* A net from a spec with its parameters set explicitly (values in layer order), on the CPU backend. */
static int make_net(eb_net *net, const eb_backend *be, const char *name, int in, const char *spec,
                    const double *values, size_t nvalues) {
    if (eb_net_init(net, be, name, (eb_shape){in, 1, 1}, spec) != EB_OK) return 0;
    if (net->n_trainable != nvalues) return 0;
    /* values in parameter order, as PyTorch lists them; the net's layout is aligned (net.h) */
    memcpy(net->params, values, nvalues * sizeof(double));
    eb_net_params_unpack(net, net->params);
    return 1;
}

typedef struct moments { double mean, var, abs_mean, pos; } moments;

/* Runs n chains from N(0, I) for cfg->steps and returns coordinate 0's moments over the chains. */
static int run_chains(const eb_backend *be, eb_net *G, eb_net *U, int dim, const eb_mala_cfg *cfg, moments *m,
                      double *accept_rate) {
    eb_mala s;
    if (eb_mala_init(&s, be, G, U, CHAINS) != EB_OK) return 0;
    double *z = malloc((size_t)CHAINS * dim * sizeof *z);
    if (!z || be->ops->rng_normal(be->ctx, z, (size_t)CHAINS * dim, eb_rng_at(cfg->seed + 1, 0)) != EB_OK) return 0;
    if (eb_mala_run(be, &s, G, U, z, CHAINS, 0, CHAINS, cfg, NULL) != EB_OK) return 0;
    double sum = 0, sq = 0, ab = 0, pos = 0, acc = 0;
    for (int c = 0; c < CHAINS; c++) {
        double x = z[c * dim];
        sum += x, sq += x * x, ab += fabs(x), pos += x > 0, acc += s.accepted[c];
    }
    m->mean = sum / CHAINS;
    m->var = sq / CHAINS - m->mean * m->mean;
    m->abs_mean = ab / CHAINS;
    m->pos = pos / CHAINS;
    *accept_rate = acc / ((double)CHAINS * cfg->steps);
    free(z);
    eb_mala_free(&s, be);
    return 1;
}

EB_TEST(proposal_and_acceptance_match_the_formulas) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    enum { N = 500, D = 3 };
    static double z[N * D], g[N * D], zp[N * D], gp[N * D], e[N], ep[N], z0[N * D], acc[N];
    uint64_t r = eb_test_rand_init(5);
    eb_test_fill_range(z, N * D, -1, 1, &r);
    eb_test_fill_range(g, N * D, -1, 1, &r);
    eb_test_fill_range(gp, N * D, -1, 1, &r);
    eb_test_fill_range(e, N, 0, 1, &r);
    eb_test_fill_range(ep, N, 0, 1, &r);
    memset(acc, 0, sizeof acc);
    const double a = 0.2;
    const uint64_t seed = 11, base = 1000;
    EB_CHECK_OK(be.ops->mala_propose(be.ctx, z, g, zp, N, D, a, eb_rng_at(seed, base)));
    for (int c = 0; c < N; c++)
        for (int j = 0; j < D; j++) {
            double want = z[c * D + j] - a * g[c * D + j] + sqrt(2 * a) * eb_rng_normal_at(seed, base + c * (D + 1) + j);
            EB_CHECK(fabs(zp[c * D + j] - want) < 1e-15, "proposal of chain %d differs", c);
        }
    memcpy(z0, z, sizeof z);
    static double g0[N * D];
    memcpy(g0, g, sizeof g); /* accepted chains take g_prop in place */
    double e0[N];
    memcpy(e0, e, sizeof e);
    EB_CHECK_OK(be.ops->mala_accept(be.ctx, z, e, g, zp, ep, gp, N, D, a, 0, eb_rng_at(seed, base), acc));
    int n_acc = 0;
    for (int c = 0; c < N; c++) {
        /* log q(a|b) = -||a - b + alpha grad(b)||^2 / (4 alpha), the squared norm (DESIGN.md §3) */
        double lq_fwd = 0, lq_bwd = 0;
        for (int j = 0; j < D; j++) {
            double f = zp[c * D + j] - z0[c * D + j] + a * g0[c * D + j];
            double b = z0[c * D + j] - zp[c * D + j] + a * gp[c * D + j];
            lq_fwd -= f * f / (4 * a);
            lq_bwd -= b * b / (4 * a);
        }
        double log_gamma = -ep[c] + e0[c] + lq_bwd - lq_fwd;
        double u = eb_rng_uniform_at(seed, base + c * (D + 1) + D);
        int want = log(u) < fmin(0, log_gamma);
        int got = acc[c] == 1;
        n_acc += got;
        EB_CHECK(want == got, "chain %d: accepted %d, formula says %d (log gamma %.6f, log u %.6f)", c, got, want,
                 log_gamma, log(u));
        EB_CHECK(!memcmp(z + c * D, got ? zp + c * D : z0 + c * D, D * sizeof(double)), "chain %d state", c);
        EB_CHECK(e[c] == (got ? ep[c] : e0[c]), "chain %d energy", c);
    }
    printf("  %d of %d proposals accepted, every decision as the float64 formula\n", n_acc, N);
    EB_CHECK(n_acc > 0 && n_acc < N, "degenerate test: %d accepted", n_acc);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* E(z) = beta (w.z + b) + ½||z||²: the law is N(-beta w, I). 5 standard errors: mean 5/sqrt(4000) = 0.079,
 * variance 5 sqrt(2/4000) = 0.11. */
EB_TEST(gaussian_with_linear_energy_has_the_shifted_mean) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_net U;
    double w[3] = {0.5, -1.0, 0.3};
    EB_CHECK(make_net(&U, &be, "U", 2, "linear:1", w, 3), "net");
    eb_mala_cfg cfg = {EB_MCMC_MALA, 200, 0.5, 1.0, 1, 21, 0, NULL, 0};
    moments m;
    double acc;
    EB_CHECK(run_chains(&be, NULL, &U, 2, &cfg, &m, &acc), "run: %s", eb_error_message());
    printf("  mean %.4f (want -0.5)  variance %.4f (want 1)  acceptance %.3f\n", m.mean, m.var, acc);
    EB_CHECK(fabs(m.mean + 0.5) < 0.079, "mean %.4f", m.mean);
    EB_CHECK(fabs(m.var - 1) < 0.11, "variance %.4f", m.var);
    eb_net_free(&U, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* E(z) = |z| = relu(z) + relu(-z): Laplace(0, 1), mean 0, variance 2, E|z| = 1. 5 standard errors over
 * 4000 chains: mean 5 sqrt(2/4000) = 0.11, variance 5 sqrt((24 - 4)/4000) = 0.35, E|z| 5/sqrt(4000) = 0.08. */
EB_TEST(laplace_energy_gives_the_laplace_law) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_net U;
    double w[4] = {1, -1, 1, 1};
    EB_CHECK(make_net(&U, &be, "U", 1, "linear:2:nobias,relu,linear:1:nobias", w, 4), "net");
    eb_mala_cfg cfg = {EB_MCMC_MALA, 400, 0.5, 1.0, 0, 22, 0, NULL, 0};
    moments m;
    double acc;
    EB_CHECK(run_chains(&be, NULL, &U, 1, &cfg, &m, &acc), "run: %s", eb_error_message());
    printf("  mean %.4f (0)  variance %.4f (2)  E|z| %.4f (1)  acceptance %.3f\n", m.mean, m.var, m.abs_mean, acc);
    EB_CHECK(fabs(m.mean) < 0.11 && fabs(m.var - 2) < 0.35 && fabs(m.abs_mean - 1) < 0.08, "Laplace moments off");
    eb_net_free(&U, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* E(z) = ½z² - c1 relu(z) - c2 relu(-z): density ∝ exp(c1²/2) N(c1, 1) on z > 0 and exp(c2²/2) N(-c2, 1) on
 * z < 0, two modes of unequal weight (c1 = 3, c2 = 2: P(z > 0) = 0.926). The chains start from N(0, 1), half
 * on each side, so the weights come out right only if the chains cross between the modes at the correct
 * rates. Exact moments by numerical integration (step 1e-4 on [-14, 14]: error far below 1e-6); bounds
 * 5 standard errors of the sample moments over the chains' independent final states. */
EB_TEST(two_mode_mixture_gives_the_exact_mode_weights_and_moments) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const double c1 = 3, c2 = 2;
    eb_net U;
    double w[4] = {1, -1, -c1, -c2};
    EB_CHECK(make_net(&U, &be, "U", 1, "linear:2:nobias,relu,linear:1:nobias", w, 4), "net");
    double Z = 0, m1 = 0, m2 = 0, m4 = 0, pp = 0, h = 1e-4;
    for (double x = -14; x <= 14; x += h) {
        double p = exp(-0.5 * x * x + (x > 0 ? c1 * x : -c2 * x));
        Z += p, m1 += x * p, m2 += x * x * p, m4 += x * x * x * x * p, pp += x > 0 ? p : 0;
    }
    m1 /= Z, m2 /= Z, m4 /= Z, pp /= Z;
    eb_mala_cfg cfg = {EB_MCMC_MALA, 600, 0.5, 1.0, 1, 23, 0, NULL, 0};
    moments m;
    double acc;
    EB_CHECK(run_chains(&be, NULL, &U, 1, &cfg, &m, &acc), "run: %s", eb_error_message());
    double se1 = 5 * sqrt((m2 - m1 * m1) / CHAINS), se2 = 5 * sqrt((m4 - m2 * m2) / CHAINS);
    double sep = 5 * sqrt(pp * (1 - pp) / CHAINS), m2_got = m.var + m.mean * m.mean;
    printf("  E z %.4f (exact %.4f +- %.3f)  E z^2 %.4f (exact %.4f +- %.3f)  P(z > 0) %.4f (exact %.4f +- %.3f)"
           "  acceptance %.3f\n", m.mean, m1, se1, m2_got, m2, se2, m.pos, pp, sep, acc);
    EB_CHECK(fabs(m.mean - m1) < se1, "E z off");
    EB_CHECK(fabs(m2_got - m2) < se2, "E z^2 off");
    EB_CHECK(fabs(m.pos - pp) < sep, "mode weight %.4f, want %.4f", m.pos, pp);
    eb_net_free(&U, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* Target N(0, 1) (beta 0, the prior alone). ULA with step alpha is z' = (1 - alpha) z + sqrt(2 alpha) xi, whose
 * stationary variance is 2 alpha / (1 - (1 - alpha)²) = 1 / (1 - alpha / 2): 1.333 at alpha = 0.5. MALA's MH
 * correction removes that bias. Bounds: 5 standard errors of a variance, 5 sqrt(2/4000) var. */
EB_TEST(ula_shows_its_known_bias_and_mala_removes_it) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_net U;
    double w[2] = {0, 0};
    EB_CHECK(make_net(&U, &be, "U", 1, "linear:1", w, 2), "net");
    eb_mala_cfg cfg = {EB_MCMC_ULA, 200, 0.5, 0.0, 1, 24, 0, NULL, 0};
    moments mu, mm;
    double acc_u, acc_m;
    EB_CHECK(run_chains(&be, NULL, &U, 1, &cfg, &mu, &acc_u), "ula");
    cfg.kind = EB_MCMC_MALA;
    EB_CHECK(run_chains(&be, NULL, &U, 1, &cfg, &mm, &acc_m), "mala");
    printf("  ULA variance %.4f (theory 1.3333)  MALA variance %.4f (target 1)  MALA acceptance %.3f\n", mu.var,
           mm.var, acc_m);
    EB_CHECK(fabs(mu.var - 4.0 / 3) < 5 * sqrt(2.0 / CHAINS) * 4.0 / 3, "ULA variance %.4f", mu.var);
    EB_CHECK(fabs(mm.var - 1) < 5 * sqrt(2.0 / CHAINS), "MALA variance %.4f", mm.var);
    EB_CHECK(acc_u == 1.0, "ULA must accept every step");
    eb_net_free(&U, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* The chains through a real G and U are the same bit for bit whether run at once or in chunks. */
EB_TEST(chunked_and_unchunked_runs_agree_bit_for_bit) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_net G, U;
    EB_CHECK_OK(eb_net_init(&G, &be, "G", (eb_shape){2, 1, 1}, "linear:6,bn,tanh,linear:2"));
    EB_CHECK_OK(eb_net_init(&U, &be, "U", (eb_shape){2, 1, 1}, "linear:8,softplus,linear:1"));
    eb_rng r;
    eb_rng_init(&r, 3);
    EB_CHECK_OK(eb_net_init_weights(&G, &be, &r));
    EB_CHECK_OK(eb_net_init_weights(&U, &be, &r));
    enum { N = 300, D = 2 };
    static double a[N * D], b[N * D];
    EB_CHECK_OK(be.ops->rng_normal(be.ctx, a, N * D, eb_rng_at(9, 0)));
    memcpy(b, a, sizeof a);
    eb_mala_cfg cfg = {EB_MCMC_MALA, 30, 0.1, 1.0, 1, 25, 77, NULL, 0};
    eb_mala s;
    EB_CHECK_OK(eb_mala_init(&s, &be, &G, &U, N));
    EB_CHECK_OK(eb_mala_run(&be, &s, &G, &U, a, N, 0, N, &cfg, NULL));
    for (int c0 = 0; c0 < N; c0 += 64) {
        int n = N - c0 < 64 ? N - c0 : 64;
        EB_CHECK_OK(eb_mala_run(&be, &s, &G, &U, b + c0 * D, n, c0, N, &cfg, NULL));
    }
    eb_mala_free(&s, &be);
    EB_CHECK(!memcmp(a, b, sizeof a), "chunks of 64 give other chains than one run of 300");
    int moved = 0;
    double z0[N * D];
    EB_CHECK_OK(be.ops->rng_normal(be.ctx, z0, N * D, eb_rng_at(9, 0)));
    for (int i = 0; i < N * D; i++) moved += a[i] != z0[i];
    EB_CHECK(moved > N, "chains did not move");
    eb_net_free(&G, &be);
    eb_net_free(&U, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* Through a real G with batch norm, which MALA must run in inference mode (DESIGN.md §3 note b): G = linear
 * then bn with set running statistics is the affine map x = S (A z + b - rm) + beta, S = diag(gamma /
 * sqrt(rv + eps)), so with U(x) = w.x and the prior the law of z is N(-beta_E A^T S w, I). Batch statistics
 * would give another, chain-coupled energy. Bounds: 5 standard errors, 5 / sqrt(4000) = 0.079 for a mean,
 * 5 sqrt(2 / 4000) = 0.11 for a variance. */
EB_TEST(affine_generator_in_inference_mode_gives_the_known_gaussian) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_net G, U;
    const double A[4] = {0.8, -0.3, 0.5, 1.2}, bias[2] = {0.4, -0.7}, gamma[2] = {1.5, 0.6}, beta_bn[2] = {0.1, 2.0};
    const double rm[2] = {3.0, -1.0}, rv[2] = {4.0, 0.25}, w[3] = {0.7, -0.9, 5.0}, beta = 0.8;
    double gp[10];
    memcpy(gp, A, sizeof A), memcpy(gp + 4, bias, sizeof bias), memcpy(gp + 6, gamma, sizeof gamma);
    memcpy(gp + 8, beta_bn, sizeof beta_bn);
    EB_CHECK(make_net(&G, &be, "G", 2, "linear:2,bn", gp, 10), "G");
    EB_CHECK(G.layers[1].kind == EB_LAYER_BATCHNORM, "bn layer");
    memcpy(G.buffers + G.layers[1].rm_off, rm, sizeof rm), memcpy(G.buffers + G.layers[1].rv_off, rv, sizeof rv);
    EB_CHECK(make_net(&U, &be, "U", 2, "linear:1", w, 3), "U");
    double want[2];
    for (int j = 0; j < 2; j++) { /* -beta (A^T S w)_j, A row-major [out, in] */
        want[j] = 0;
        for (int i = 0; i < 2; i++) want[j] -= beta * A[i * 2 + j] * gamma[i] / sqrt(rv[i] + 1e-5) * w[i];
    }
    eb_mala_cfg cfg = {EB_MCMC_MALA, 200, 0.5, beta, 1, 26, 0, NULL, 0};
    eb_mala s;
    EB_CHECK_OK(eb_mala_init(&s, &be, &G, &U, CHAINS));
    double *z = malloc((size_t)CHAINS * 2 * sizeof *z);
    EB_CHECK_OK(be.ops->rng_normal(be.ctx, z, (size_t)CHAINS * 2, eb_rng_at(27, 0)));
    EB_CHECK_OK(eb_mala_run(&be, &s, &G, &U, z, CHAINS, 0, CHAINS, &cfg, NULL));
    for (int j = 0; j < 2; j++) {
        double sum = 0, sq = 0;
        for (int c = 0; c < CHAINS; c++) sum += z[c * 2 + j], sq += z[c * 2 + j] * z[c * 2 + j];
        double mean = sum / CHAINS, var = sq / CHAINS - mean * mean;
        printf("  z_%d: mean %.4f (want %.4f)  variance %.4f (want 1)\n", j, mean, want[j], var);
        EB_CHECK(fabs(mean - want[j]) < 0.079, "mean of z_%d", j);
        EB_CHECK(fabs(var - 1) < 0.11, "variance of z_%d", j);
    }
    free(z);
    eb_mala_free(&s, &be);
    eb_net_free(&G, &be);
    eb_net_free(&U, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* A proposal whose energy is NaN (or inf - inf) is rejected: min(0, NaN) must not read as 0 (accept). */
EB_TEST(nan_proposal_energy_is_rejected) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    enum { N = 64, D = 2 };
    double z[N * D], g[N * D], zp[N * D], gp[N * D], e[N], ep[N], acc[N], z0[N * D];
    EB_CHECK_OK(be.ops->rng_normal(be.ctx, z, N * D, eb_rng_at(31, 0)));
    EB_CHECK_OK(be.ops->rng_normal(be.ctx, g, N * D, eb_rng_at(32, 0)));
    EB_CHECK_OK(be.ops->rng_normal(be.ctx, gp, N * D, eb_rng_at(33, 0)));
    memcpy(z0, z, sizeof z);
    for (int c = 0; c < N; c++) e[c] = 1, ep[c] = c % 2 ? NAN : -5, acc[c] = 0;
    EB_CHECK_OK(be.ops->mala_propose(be.ctx, z, g, zp, N, D, 0.01, eb_rng_at(5, 0)));
    EB_CHECK_OK(be.ops->mala_accept(be.ctx, z, e, g, zp, ep, gp, N, D, 0.01, 0, eb_rng_at(5, 0), acc));
    int nan_taken = 0, good_taken = 0;
    for (int c = 0; c < N; c++) {
        if (c % 2) nan_taken += acc[c] != 0 || memcmp(z + c * D, z0 + c * D, sizeof(double) * D) || e[c] != 1;
        else good_taken += acc[c] == 1;
    }
    printf("  NaN proposals taken %d of %d; finite, much lower-energy proposals taken %d of %d\n", nan_taken, N / 2,
           good_taken, N / 2);
    EB_CHECK(nan_taken == 0, "%d NaN-energy proposals accepted", nan_taken);
    EB_CHECK(good_taken > N / 4, "the finite proposals (energy 6 lower) should mostly be accepted");
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}
