/* What lets one CUDA graph replay every training iteration (DESIGN.md §4), checked on the CPU backend: an
 * iteration issues no allocation, transfer or synchronisation, and every host value it passes is the same
 * in every iteration (the clock on the backend moves the random draws and the schedules instead). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebgan/backend.h"
#include "ebgan/train.h"

/* ---- a CPU op table that counts host round trips and records the host-side arguments that could
 * carry the step (random positions, schedules) ---- */

enum { MAX_REC = 4096 };

typedef struct rec {
    int op;                 /* which op */
    uint64_t seed, offset, stride;
    const void *clock, *out;
    double lr, t_mul, t_add, decay;
    size_t n;
} rec;

static struct {
    const eb_ops *cpu;
    long transfers, allocs, syncs;
    rec log[MAX_REC];
    int n;
    int overflow;
} g_w;

static void log_pos(int op, const void *out, size_t n, eb_rng_pos p) {
    if (g_w.n == MAX_REC) {
        g_w.overflow = 1;
        return;
    }
    rec r = {op, p.seed, p.offset, p.stride, p.clock, out, 0, 0, 0, 0, n};
    g_w.log[g_w.n++] = r;
}

static eb_status w_alloc(void *c, void **p, size_t b) { g_w.allocs++; return g_w.cpu->mem_alloc(c, p, b); }
static void w_free(void *c, void *p) { g_w.allocs++; g_w.cpu->mem_free(c, p); }
static eb_status w_up(void *c, void *d, const void *s, size_t b) { g_w.transfers++; return g_w.cpu->mem_upload(c, d, s, b); }
static eb_status w_down(void *c, void *d, const void *s, size_t b) { g_w.transfers++; return g_w.cpu->mem_download(c, d, s, b); }
static eb_status w_sync(void *c) { g_w.syncs++; return g_w.cpu->sync(c); }
static eb_status w_normal(void *c, eb_real *x, size_t n, eb_rng_pos p) { log_pos(1, x, n, p); return g_w.cpu->rng_normal(c, x, n, p); }
static eb_status w_uniform(void *c, eb_real *x, size_t n, eb_rng_pos p) { log_pos(2, x, n, p); return g_w.cpu->rng_uniform(c, x, n, p); }
static eb_status w_index(void *c, int32_t *x, size_t n, uint32_t r, eb_rng_pos p) { log_pos(3, x, n + r, p); return g_w.cpu->rng_index(c, x, n, r, p); }
static eb_status w_perm(void *c, int32_t *x, size_t n, eb_rng_pos p) { log_pos(4, x, n, p); return g_w.cpu->rng_perm(c, x, n, p); }
static eb_status w_toy(void *c, eb_toy_kind k, eb_real *x, size_t n, eb_rng_pos p) { log_pos(5, x, n + (size_t)k, p); return g_w.cpu->toy_sample(c, k, x, n, p); }
static eb_status w_propose(void *c, const eb_real *z, const eb_real *g, eb_real *zp, size_t n, size_t d, eb_real a, eb_rng_pos p) {
    log_pos(6, zp, n * d, p);
    return g_w.cpu->mala_propose(c, z, g, zp, n, d, a, p);
}
static eb_status w_accept(void *c, eb_real *z, eb_real *e, eb_real *g, const eb_real *zp, const eb_real *ep, const eb_real *gp,
                          size_t n, size_t d, eb_real a, int ula, eb_rng_pos p, eb_real *acc) {
    log_pos(7, z, n * d, p);
    return g_w.cpu->mala_accept(c, z, e, g, zp, ep, gp, n, d, a, ula, p, acc);
}
static eb_status w_hyper(void *c, eb_real *h, const eb_optim_sched *s) {
    if (g_w.n < MAX_REC) {
        rec r = {8, 0, 0, 0, s->clock, h, s->lr, (double)s->t_mul, (double)s->t_add, (double)s->decay_iters, 0};
        g_w.log[g_w.n++] = r;
    } else {
        g_w.overflow = 1;
    }
    return g_w.cpu->optim_hyper(c, h, s);
}

/* the penalty's seed: which U steps take the penalty, and with what weight (the lazy penalty's schedule) */
static eb_status w_pen(void *c, eb_penalty_kind k, const eb_real *g, size_t rows, size_t cols, eb_real lambda,
                       eb_real *gbar, eb_real *out) {
    if (g_w.n < MAX_REC) {
        rec r = {9, (uint64_t)k, 0, 0, NULL, gbar, (double)lambda, 0, 0, 0, rows * cols};
        g_w.log[g_w.n++] = r;
    } else {
        g_w.overflow = 1;
    }
    return g_w.cpu->penalty_seed(c, k, g, rows, cols, lambda, gbar, out);
}

static eb_ops g_wrapped;

static void wrap(eb_trainer *t) {
    g_w.cpu = t->be.ops;
    g_wrapped = *t->be.ops;
    g_wrapped.mem_alloc = w_alloc;
    g_wrapped.mem_free = w_free;
    g_wrapped.mem_upload = w_up;
    g_wrapped.mem_download = w_down;
    g_wrapped.sync = w_sync;
    g_wrapped.rng_normal = w_normal;
    g_wrapped.rng_uniform = w_uniform;
    g_wrapped.rng_index = w_index;
    g_wrapped.rng_perm = w_perm;
    g_wrapped.toy_sample = w_toy;
    g_wrapped.mala_propose = w_propose;
    g_wrapped.mala_accept = w_accept;
    g_wrapped.optim_hyper = w_hyper;
    g_wrapped.penalty_seed = w_pen;
    t->be.ops = &g_wrapped;
}

static void unwrap(eb_trainer *t) { t->be.ops = g_w.cpu; }

static void cfg_small(eb_train_cfg *c, const char *model, const char *dataset) {
    memset(c, 0, sizeof *c);
    snprintf(c->model, sizeof c->model, "%s", model);
    snprintf(c->dataset, sizeof c->dataset, "%s", dataset);
    snprintf(c->penalty, sizeof c->penalty, "score");
    snprintf(c->entropy, sizeof c->entropy, "dim");
    snprintf(c->lr_decay, sizeof c->lr_decay, "linear");
    snprintf(c->device, sizeof c->device, "cpu");
    snprintf(c->precision, sizeof c->precision, "tf32");
    snprintf(c->cuda_graph, sizeof c->cuda_graph, "on");
    c->dim = 16;
    c->lambda = -1;
    c->mi_weight = 1;
    c->n_critic = 2;
    c->train_mcmc_alpha = 0.01;
    c->batch = 8;
    c->iters = 50;
    c->lr = 1e-3;
    c->beta1 = 0.5;
    c->beta2 = 0.9;
    c->eps = 1e-8;
    c->seed = 9;
    c->log_every = 1;
    c->keep = 1;
}

/* Runs `iters` iterations under the wrapper; each must log exactly what the first iteration of its pattern
 * (iteration_plan.h: one pattern unless --penalty-every K > 1) logged, and make no round trip to the host.
 * With `pen_calls`, pen_calls[i] receives the number of penalty seeds iteration i issued. */
static int check_replayable_for(eb_train_cfg *c, const char *what, int iters, int *pen_calls) {
    eb_trainer t;
    const char *notice = NULL;
    EB_CHECK_OK(eb_trainer_init(&t, c, &notice));
    wrap(&t);
    enum { MAX_PAT = 8 };
    static rec first[MAX_PAT][MAX_REC];
    int n_first[MAX_PAT] = {0};
    EB_CHECK(EB_PLAN_PATTERNS_MAX(t.plan.n_critic) <= MAX_PAT, "%s: too many patterns for this test", what);
    for (int it = 0; it < iters; it++) {
        const int q = eb_iteration_plan_pattern(&t.plan, t.step);
        g_w.n = 0;
        g_w.transfers = g_w.allocs = g_w.syncs = 0;
        EB_CHECK_OK(eb_trainer_iteration(&t));
        EB_CHECK(!g_w.overflow, "%s: more than %d recorded calls", what, MAX_REC);
        EB_CHECK(g_w.transfers == 0 && g_w.allocs == 0 && g_w.syncs == 0,
                 "%s, iteration %d: %ld transfers, %ld allocations, %ld syncs (a graph cannot hold them)", what, it,
                 g_w.transfers, g_w.allocs, g_w.syncs);
        if (pen_calls) {
            pen_calls[it] = 0;
            for (int i = 0; i < g_w.n; i++) pen_calls[it] += g_w.log[i].op == 9;
        }
        if (n_first[q] == 0) {
            n_first[q] = g_w.n;
            memcpy(first[q], g_w.log, (size_t)g_w.n * sizeof *first[q]);
            EB_CHECK(n_first[q] > 0, "%s: no random draw recorded", what);
            for (int i = 0; i < n_first[q]; i++)
                EB_CHECK(first[q][i].op == 9 || first[q][i].clock == t.clock,
                         "%s: call %d (op %d) does not follow the trainer's clock", what, i, first[q][i].op);
            continue;
        }
        EB_CHECK(g_w.n == n_first[q], "%s: iteration %d made %d recorded calls, the first of its pattern %d", what,
                 it, g_w.n, n_first[q]);
        for (int i = 0; i < n_first[q]; i++)
            EB_CHECK(!memcmp(&first[q][i], &g_w.log[i], sizeof first[q][i]),
                     "%s: iteration %d, call %d (op %d) passes other host values than the first of its pattern "
                     "(offset %llu vs %llu): a replayed graph would repeat that iteration's", what, it, i,
                     first[q][i].op, (unsigned long long)g_w.log[i].offset, (unsigned long long)first[q][i].offset);
    }
    unwrap(&t);
    int patterns = 0;
    for (int q = 0; q < MAX_PAT; q++) patterns += n_first[q] > 0;
    printf("  %s: %d pattern(s) over %d iterations, each replayed identically, no host round trip\n", what, patterns,
           iters);
    eb_trainer_free(&t);
    return EB_TEST_PASS;
}

static int check_replayable(eb_train_cfg *c, const char *what) { return check_replayable_for(c, what, 4, NULL); }

EB_TEST(toy_iteration_is_replayable) {
    eb_train_cfg c;
    cfg_small(&c, "toy", "8gaussians");
    return check_replayable(&c, "toy, dim, score");
}

EB_TEST(iteration_with_train_mcmc_wgan_gp_infogan_is_replayable) {
    eb_train_cfg c;
    cfg_small(&c, "toy", "swissroll");
    snprintf(c.penalty, sizeof c.penalty, "wgan-gp");
    snprintf(c.entropy, sizeof c.entropy, "infogan");
    c.train_mcmc = 2;
    return check_replayable(&c, "toy, infogan, wgan-gp, train-mcmc 2");
}

/* --penalty-every 3 with 2 U steps per iteration: U steps 0, 3, 6, ... of the run take the penalty (one seed
 * each; its weight is the plan's, test_iteration_plan), the others none; iterations repeat one of the plan's
 * patterns exactly. */
EB_TEST(lazy_penalty_iterations_replay_per_pattern_and_penalise_every_kth_ustep) {
    enum { ITERS = 9 };
    eb_train_cfg c;
    cfg_small(&c, "toy", "8gaussians");
    c.penalty_every = 3;
    int pen[ITERS];
    if (check_replayable_for(&c, "toy, dim, score, penalty-every 3", ITERS, pen) != EB_TEST_PASS) return EB_TEST_FAIL;
    for (int s = 0; s < ITERS; s++) {
        int want = 0;
        for (int k = 0; k < c.n_critic; k++) want += (s * c.n_critic + k) % 3 == 0;
        EB_CHECK(pen[s] == want, "iteration %d issued %d penalty seeds, its U steps %d", s, pen[s], want);
    }
    return EB_TEST_PASS;
}

/* A resident uint8 image set: indices drawn and gathered on the backend. */
EB_TEST(dataset_iteration_is_replayable) {
    char dir[] = "/tmp/ebgan_graph_XXXXXX", path[64];
    EB_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/img.npy", dir);
    enum { N = 40 };
    static uint8_t px[N * 8 * 8];
    for (int i = 0; i < N * 64; i++) px[i] = (uint8_t)((i * 37) % 251);
    const int64_t shape[4] = {N, 1, 8, 8};
    EB_CHECK_OK(eb_npy_write(path, EB_U8, 4, shape, px));
    eb_train_cfg c;
    cfg_small(&c, "conv:4:3:2:1,lrelu:0.2,linear:1", path);
    int rc = check_replayable(&c, "uint8 images 1x8x8, conv U");
    unlink(path);
    rmdir(dir);
    return rc;
}

/* --conv-algo: heuristic or search (a CPU run accepts both and convolves without cuDNN); anything else is
 * refused naming the option. */
EB_TEST(conv_algo_option_is_checked) {
    eb_train_cfg c;
    cfg_small(&c, "toy", "8gaussians");
    snprintf(c.conv_algo, sizeof c.conv_algo, "fastest");
    eb_trainer t;
    const char *notice = NULL;
    EB_CHECK(eb_trainer_init(&t, &c, &notice) == EB_ERR_ARG, "--conv-algo fastest accepted");
    EB_CHECK(strstr(eb_error_message(), "--conv-algo") != NULL, "message '%s' does not name the option",
             eb_error_message());
    snprintf(c.conv_algo, sizeof c.conv_algo, "search");
    EB_CHECK_OK(eb_trainer_init(&t, &c, &notice));
    EB_CHECK(t.conv_algo == EB_CONV_ALGO_SEARCH, "mode not kept");
    eb_trainer_free(&t);
    return EB_TEST_PASS;
}

/* --penalty-every: at least 1; 0 (a configuration from before the option) is the paper's every U step. */
EB_TEST(penalty_every_option_is_checked) {
    eb_train_cfg c;
    cfg_small(&c, "toy", "8gaussians");
    c.penalty_every = -2;
    eb_trainer t;
    const char *notice = NULL;
    EB_CHECK(eb_trainer_init(&t, &c, &notice) == EB_ERR_ARG, "--penalty-every -2 accepted");
    EB_CHECK(strstr(eb_error_message(), "--penalty-every") != NULL, "message '%s' does not name the option",
             eb_error_message());
    c.penalty_every = 0;
    EB_CHECK_OK(eb_trainer_init(&t, &c, &notice));
    EB_CHECK(t.cfg.penalty_every == 1 && t.plan.penalty_every == 1, "0 resolved to %d, not 1", t.cfg.penalty_every);
    eb_trainer_free(&t);
    return EB_TEST_PASS;
}
