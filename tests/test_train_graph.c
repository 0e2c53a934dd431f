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

/* Runs 4 iterations under the wrapper; iterations 2..4 must log exactly what iteration 1 logged and make no
 * round trip to the host. */
static int check_replayable(eb_train_cfg *c, const char *what) {
    eb_trainer t;
    const char *notice = NULL;
    EB_CHECK_OK(eb_trainer_init(&t, c, &notice));
    wrap(&t);
    static rec first[MAX_REC];
    int n_first = 0;
    for (int it = 0; it < 4; it++) {
        g_w.n = 0;
        g_w.transfers = g_w.allocs = g_w.syncs = 0;
        EB_CHECK_OK(eb_trainer_iteration(&t));
        EB_CHECK(!g_w.overflow, "%s: more than %d recorded calls", what, MAX_REC);
        EB_CHECK(g_w.transfers == 0 && g_w.allocs == 0 && g_w.syncs == 0,
                 "%s, iteration %d: %ld transfers, %ld allocations, %ld syncs (a graph cannot hold them)", what, it,
                 g_w.transfers, g_w.allocs, g_w.syncs);
        if (it == 0) {
            n_first = g_w.n;
            memcpy(first, g_w.log, (size_t)g_w.n * sizeof *first);
            EB_CHECK(n_first > 0, "%s: no random draw recorded", what);
            for (int i = 0; i < n_first; i++)
                EB_CHECK(first[i].clock == t.clock, "%s: call %d (op %d) does not follow the trainer's clock", what, i,
                         first[i].op);
            continue;
        }
        EB_CHECK(g_w.n == n_first, "%s: iteration %d made %d recorded calls, the first %d", what, it, g_w.n, n_first);
        for (int i = 0; i < n_first; i++)
            EB_CHECK(!memcmp(&first[i], &g_w.log[i], sizeof first[i]),
                     "%s: iteration %d, call %d (op %d) passes other host values than iteration 0 (offset %llu vs "
                     "%llu): a replayed graph would repeat iteration 0's", what, it, i, first[i].op,
                     (unsigned long long)g_w.log[i].offset, (unsigned long long)first[i].offset);
    }
    unwrap(&t);
    printf("  %s: %d recorded calls per iteration, identical over 4 iterations, no host round trip\n", what, n_first);
    eb_trainer_free(&t);
    return EB_TEST_PASS;
}

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
