/* The iteration plan (iteration_plan.h) is what an iteration does: for every method the draws one iteration
 * makes add up to the plan's stride (the launch checks it and fails otherwise), and every optimiser moves by
 * the updates the plan gives it. On the CPU backend, with the toy data. */
#include "harness.h"

#include <stdio.h>
#include <string.h>

#include "ebgan/train.h"

typedef struct method {
    const char *entropy, *penalty, *dataset;
    int n_critic, train_mcmc;
} method;

static const method k_methods[] = {
    {"dim", "score", "8gaussians", 2, 0},
    {"infogan", "wgan-gp", "swissroll", 3, 2},
    {"none", "none", "8gaussians", 1, 0},
    {"vera", "score", "8gaussians", 2, 1},
};

static void cfg_toy(eb_train_cfg *c, const method *m) {
    memset(c, 0, sizeof *c);
    snprintf(c->model, sizeof c->model, "toy");
    snprintf(c->dataset, sizeof c->dataset, "%s", m->dataset);
    snprintf(c->penalty, sizeof c->penalty, "%s", m->penalty);
    snprintf(c->entropy, sizeof c->entropy, "%s", m->entropy);
    snprintf(c->lr_decay, sizeof c->lr_decay, "none");
    snprintf(c->device, sizeof c->device, "cpu");
    snprintf(c->precision, sizeof c->precision, "tf32");
    c->dim = 16;
    c->lambda = -1;
    c->mi_weight = 1;
    c->n_critic = m->n_critic;
    c->train_mcmc = m->train_mcmc;
    c->train_mcmc_alpha = 0.01;
    c->vera_k = 3;
    c->vera_sigma_min = 0.01;
    c->vera_sigma_max = 0.3;
    c->vera_eta_init = 0.5;
    c->vera_post_lr = 1e-3;
    c->batch = 8;
    c->iters = 10;
    c->lr = 1e-3;
    c->beta1 = 0.5;
    c->beta2 = 0.9;
    c->eps = 1e-8;
    c->seed = 4;
    c->log_every = 1;
    c->keep = 1;
}

/* A trainer for method m on the CPU, at step 0. */
static eb_status start(eb_trainer *t, const method *m) {
    eb_train_cfg c;
    cfg_toy(&c, m);
    const char *notice = NULL;
    return eb_trainer_init(t, &c, &notice);
}

/* Iterations 1 and 2 (each launch checks its draws against the plan's stride). */
static eb_status two_iterations(eb_trainer *t) {
    EB_TRY(eb_trainer_iteration(t));
    return eb_trainer_iteration(t);
}

/* Two iterations of each method run (a launch whose draws missed the stride fails), each moving the stream
 * by the stride, which is the layout existing checkpoints' rng_counter follows: B (permutation) + B z (G's
 * latents) + n_critic times [3 B (toy points) + B z (latents) + train_mcmc B (z + 1) (MALA) + B (wgan-gp's t)],
 * and vera's noise. */
EB_TEST(every_method_draws_exactly_its_plans_stride) {
    for (size_t i = 0; i < sizeof k_methods / sizeof k_methods[0]; i++) {
        const method *m = &k_methods[i];
        eb_trainer t;
        EB_CHECK_OK(start(&t, m));
        const uint64_t B = (uint64_t)t.cfg.batch, z = (uint64_t)t.cfg.z_dim;
        /* vera's output noise: B (x + k z) after G's latents (x, then the posterior's k draws), B x per U step */
        const uint64_t x = 2, vera = !strcmp(m->entropy, "vera"), k = (uint64_t)t.cfg.vera_k;
        const uint64_t per_u = 3 * B + B * z + (uint64_t)m->train_mcmc * B * (z + 1) + vera * B * x + B;
        const uint64_t want = B + B * z + vera * B * (x + k * z) + (uint64_t)m->n_critic * per_u;
        EB_CHECK(t.plan.stride == want, "%s: the plan's stride is %llu, the layout %llu", m->entropy,
                 (unsigned long long)t.plan.stride, (unsigned long long)want);
        const uint64_t at = t.rng.counter;
        EB_CHECK_OK(two_iterations(&t));
        EB_CHECK(t.rng.counter == at + 2 * want, "%s: two iterations moved the stream by %llu, not 2 x %llu",
                 m->entropy, (unsigned long long)(t.rng.counter - at), (unsigned long long)want);
        eb_trainer_free(&t);
    }
    return EB_TEST_PASS;
}

/* After two iterations G and each of the surrogate's nets have been updated twice, U 2 n_critic times, as the
 * plan lists them (the checkpoint records these counts; the resume checks them). */
EB_TEST(every_optimiser_moves_by_the_plans_updates) {
    for (size_t i = 0; i < sizeof k_methods / sizeof k_methods[0]; i++) {
        const method *m = &k_methods[i];
        eb_trainer t;
        EB_CHECK_OK(start(&t, m));
        EB_CHECK(t.plan.n_g_nets == 1 + t.gan.n_aux, "%s: the G step updates %d nets, G and %d surrogate nets exist",
                 m->entropy, t.plan.n_g_nets, t.gan.n_aux);
        EB_CHECK_OK(two_iterations(&t));
        eb_net *nets[EB_GAN_NETS_MAX];
        eb_optim *opts[EB_GAN_NETS_MAX];
        const int k = eb_gan_nets(&t.gan, nets, opts);
        for (int j = 0; j < k; j++) {
            const int64_t want = nets[j] == &t.gan.U ? 2 * m->n_critic : 2;
            EB_CHECK(opts[j]->step == want, "%s: %s's optimiser made %lld updates, not %lld", m->entropy, nets[j]->name,
                     (long long)opts[j]->step, (long long)want);
        }
        eb_trainer_free(&t);
    }
    return EB_TEST_PASS;
}

/* The plan of a lazy penalty for n_critic U steps per iteration and every K-th U step penalised (score, lambda
 * 0.25), without a model: the plan only references the nets. */
static eb_status lazy_plan(eb_iteration_plan *p, eb_gan *m, int n_critic, int K) {
    memset(m, 0, sizeof *m);
    const eb_iteration_plan_cfg c = {8, 2, n_critic, 0, EB_PENALTY_SCORE, 0, 24, 0.25, K};
    return eb_iteration_plan_init(p, m, &c);
}

/* --penalty-every K: U step u = s n_critic + k of the run has the penalty with weight K lambda iff u % K == 0,
 * the others none; at K = 1 every U step has lambda itself. Whatever K and n_critic, across many iterations. */
EB_TEST(lazy_penalty_takes_every_kth_ustep_of_the_run_with_k_lambda) {
    static const int ks[] = {1, 2, 3, 4, 7, 16}, ns[] = {1, 2, 5};
    for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
            eb_iteration_plan p;
            eb_gan m;
            EB_CHECK_OK(lazy_plan(&p, &m, ns[b], ks[a]));
            int64_t penalised = 0;
            for (int64_t s = 0; s < 200; s++)
                for (int k = 0; k < ns[b]; k++) {
                    const eb_ustep_cfg u = eb_iteration_plan_ustep(&p, s, k);
                    const int want = (s * ns[b] + k) % ks[a] == 0;
                    EB_CHECK(u.penalty == (want ? EB_PENALTY_SCORE : EB_PENALTY_NONE), "K %d n_critic %d: U step %d "
                             "of iteration %lld %s the penalty", ks[a], ns[b], k, (long long)s, want ? "lacks" : "has");
                    EB_CHECK(u.lambda == (want ? (eb_real)(0.25 * ks[a]) : 0), "K %d: weight %g, not K lambda",
                             ks[a], (double)u.lambda);
                    penalised += want;
                }
            EB_CHECK(penalised == (200 * ns[b] + ks[a] - 1) / ks[a], "K %d: %lld penalised U steps", ks[a],
                     (long long)penalised);
        }
    eb_iteration_plan p;
    eb_gan m;
    EB_CHECK_OK(lazy_plan(&p, &m, 5, 1));
    EB_CHECK(eb_iteration_plan_ustep(&p, 123, 4).lambda == (eb_real)0.25, "K = 1 must weigh lambda itself");
    return EB_TEST_PASS;
}

/* Iterations of one pattern run the same U-step configurations (one CUDA graph replays them all), there are at
 * most n_critic + 1 patterns, and at K = 1 one. */
EB_TEST(lazy_penalty_pattern_fixes_the_iterations_usteps) {
    static const int ks[] = {1, 3, 4, 16}, ns[] = {1, 2, 5};
    for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
            eb_iteration_plan p;
            eb_gan m;
            EB_CHECK_OK(lazy_plan(&p, &m, ns[b], ks[a]));
            int64_t first[EB_PLAN_PATTERNS_MAX(5)];
            for (int q = 0; q < EB_PLAN_PATTERNS_MAX(5); q++) first[q] = -1;
            int patterns = 0;
            for (int64_t s = 0; s < 100; s++) {
                const int q = eb_iteration_plan_pattern(&p, s);
                EB_CHECK(q >= 0 && q < EB_PLAN_PATTERNS_MAX(ns[b]), "pattern %d out of range", q);
                if (first[q] < 0) {
                    first[q] = s;
                    patterns++;
                    continue;
                }
                for (int k = 0; k < ns[b]; k++) {
                    const eb_ustep_cfg u = eb_iteration_plan_ustep(&p, s, k), v = eb_iteration_plan_ustep(&p, first[q], k);
                    EB_CHECK(u.penalty == v.penalty && u.lambda == v.lambda, "K %d n_critic %d: iterations %lld and "
                             "%lld share pattern %d but differ at U step %d", ks[a], ns[b], (long long)s,
                             (long long)first[q], q, k);
                }
            }
            EB_CHECK(ks[a] > 1 || patterns == 1, "K = 1: %d patterns, one graph must replay every iteration", patterns);
        }
    return EB_TEST_PASS;
}
