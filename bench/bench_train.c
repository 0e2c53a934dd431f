/* Benchmark of one full training iteration (a G step with the dim surrogate + n_critic U steps with the score
 * penalty, Adam on every net) through the public trainer API, on the paper's presets; the counterpart of
 * bench/ref_pytorch.py (scripts/bench_compare.sh runs both). Toy data: the built-in 25gaussians; mnist
 * ([3,28,28], StackedMNIST's shape) and cifar ([3,32,32]): a small random uint8 .npy in a temp directory.
 * Usage: bench_train [cpu|cuda|auto] [model ...]
 * Env: EBGAN_BENCH_STEPS (timed iterations; default cuda 50, cpu toy 20 / mnist 3 / cifar 2),
 *      EBGAN_BENCH_BATCH (default 64; 0 = the preset's), EBGAN_BENCH_PRECISION (CUDA: fp32 | tf32 | bf16, default tf32),
 *      EBGAN_BENCH_PENALTY (score | wgan-gp | none; default score),
 *      EBGAN_BENCH_PENALTY_EVERY (K: `train --penalty-every K`, the lazy penalty; default 1: every U step; the
 *      timed iterations are rounded up to whole cycles of its pattern, K / gcd(K, n_critic) iterations),
 *      EBGAN_BENCH_MCMC (K: `train --train-mcmc K`, MALA steps on each U step's negatives; default 0). With K > 0
 *      the line adds energy_ms (mean) and energy_min_ms (best): one MALA energy evaluation of the batch alone
 *      (U(G(z)) and its z-gradient: G and U forward, U and G input-only backward), timed as the iterations; an
 *      iteration costs its passes when
 *      ms_per_it ~ (plain ms_per_it) + n_critic (K + 1) energy_ms (best: min_ms_per_it, energy_min_ms).
 * watch_ms: the divergence watch's marks of one iteration alone (docs/DESIGN.md §4.8), included in ms_per_it;
 * watch_check_ms: one check of the nets' state, made where `train` logs or saves (not in ms_per_it).
 * One JSON line per model: {"impl":"ebgan","model","device","batch","it_per_s","ms_per_it",...}. */
#define _POSIX_C_SOURCE 200809L
#include "ebgan/blas_core.h"
#include "ebgan/data.h"
#include "ebgan/mala.h"
#include "ebgan/train.h"
#include "ebgan/train_bench.h"
#include "host/cli/process_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The defaults of `ebgan-gpu train` (src/host/cli/cmd_train.c), no run directory. */
static void default_cfg(eb_train_cfg *c, const char *model, const char *dataset, const char *device, int batch) {
    memset(c, 0, sizeof *c);
    snprintf(c->model, sizeof c->model, "%s", model);
    snprintf(c->dataset, sizeof c->dataset, "%s", dataset);
    const char *pen = getenv("EBGAN_BENCH_PENALTY"); /* score (default) | wgan-gp | none: none bounds the lazy one */
    snprintf(c->penalty, sizeof c->penalty, "%s", pen && pen[0] ? pen : "score");
    snprintf(c->entropy, sizeof c->entropy, "dim");
    snprintf(c->lr_decay, sizeof c->lr_decay, "none");
    snprintf(c->device, sizeof c->device, "%s", device);
    const char *prec = getenv("EBGAN_BENCH_PRECISION");
    snprintf(c->precision, sizeof c->precision, "%s", prec && prec[0] ? prec : "tf32");
    const char *graph = getenv("EBGAN_BENCH_GRAPH"); /* on (default) | off: the CUDA graph of the iteration */
    snprintf(c->cuda_graph, sizeof c->cuda_graph, "%s", graph && graph[0] ? graph : "on");
    c->lambda = -1;
    c->mi_weight = 1;
    c->n_critic = 5;
    const char *mcmc = getenv("EBGAN_BENCH_MCMC");
    c->train_mcmc = mcmc && mcmc[0] ? atoi(mcmc) : 0;
    c->train_mcmc_alpha = 0.01;
    const char *every = getenv("EBGAN_BENCH_PENALTY_EVERY");
    c->penalty_every = every && every[0] ? atoi(every) : 1;
    c->batch = batch;
    c->iters = 100000;
    c->lr = 1e-4;
    c->beta1 = 0.5;
    c->beta2 = 0.9;
    c->eps = 1e-8;
    c->seed = 1;
    c->log_every = 50;
    c->ckpt_every = 500;
    c->keep = 3;
    c->plot_every = 500;
}

#define BENCH_TRY(expr)                                                                                  \
    do {                                                                                                 \
        if ((expr) != EB_OK) {                                                                           \
            fprintf(stderr, "bench_train: %s: %s\n", #expr, eb_error_message());                         \
            eb_trainer_free(&t);                                                                         \
            return 1;                                                                                    \
        }                                                                                                \
    } while (0)

static int bench_model(const char *model, const char *dataset, const char *device, int batch, int steps) {
    eb_train_cfg cfg;
    default_cfg(&cfg, model, dataset, device, batch);
    eb_trainer t;
    const char *notice = NULL;
    if (eb_trainer_init(&t, &cfg, &notice) != EB_OK) {
        fprintf(stderr, "bench_train: %s: %s\n", model, eb_error_message());
        return 1;
    }
    if (notice) fprintf(stderr, "bench_train: %s\n", notice);
    const eb_backend *be = &t.be;
    /* warm-up (and the CUDA graph's capture and upload) untimed: the mean must not carry one-time costs */
    eb_train_timing tm;
    BENCH_TRY(eb_train_bench_time(&t, eb_train_bench_warmup(&t), steps, &tm));
    steps = tm.iters;
    const double dt = tm.mean_s, best = tm.best_s;
    double energy_ms = 0, energy_min_ms = 0;
    if (cfg.train_mcmc > 0) { /* the cost of the MALA passes alone, on the trainer's nets and latents */
        eb_mala_cfg mc = {EB_MCMC_MALA, 1, cfg.train_mcmc_alpha, 1.0, 1, cfg.seed, 0, NULL, 0};
        const int reps = 5 * steps;
        double e_total = 0, e_best = 1e30;
        for (int s = 0; s < reps; s++) {
            double t0 = now_s();
            BENCH_TRY(eb_mala_energy(be, &t.mala, &t.gan.G, &t.gan.U, t.us.z, t.cfg.batch, &mc, t.mala.e, t.mala.g));
            BENCH_TRY(be->ops->sync(be->ctx));
            const double d = now_s() - t0;
            e_total += d;
            if (d < e_best) e_best = d;
        }
        energy_ms = 1e3 * e_total / reps;
        energy_min_ms = 1e3 * e_best;
    }
    /* the divergence watch: its marks of one iteration alone, as the iteration issues them, and one check of
     * the state where the run logs or saves (marks of every net's state and their download) */
    double w_total = 0, c_total = 0;
    const int w_reps = 20 * steps;
    for (int s = 0; s < w_reps; s++) {
        double t0 = now_s();
        BENCH_TRY(eb_divergence_mark(&t));
        BENCH_TRY(be->ops->sync(be->ctx));
        double t1 = now_s();
        BENCH_TRY(eb_divergence_check_save(&t));
        w_total += t1 - t0;
        c_total += now_s() - t1;
    }
    const double watch_ms = 1e3 * w_total / w_reps, watch_check_ms = 1e3 * c_total / w_reps;
    double u[EB_UTERM_COUNT];
    BENCH_TRY(eb_ustep_read_terms(be, &t.us, u));
    const eb_shape x = t.preset.data;
    printf("{\"impl\":\"ebgan\",\"model\":\"%s\",\"device\":\"%s\",\"batch\":%d,\"it_per_s\":%.5f,"
           "\"ms_per_it\":%.3f,\"min_ms_per_it\":%.3f,\"cuda_graph\":%s,\"backend\":\"%s\",\"precision\":\"%s\",\"steps\":%d,\"n_critic\":%d,\"dim\":%d,"
           "\"z_dim\":%d,\"data\":[%d,%d,%d],\"lambda\":%.9g,\"penalty\":\"%s\",\"penalty_every\":%d,\"train_mcmc\":%d,"
           "\"energy_ms\":%.3f,\"energy_min_ms\":%.3f,\"watch_ms\":%.4f,\"watch_check_ms\":%.3f,\"u_loss\":%.6g,"
           "\"blas_core\":\"%s\"}\n",
           model, eb_backend_is_cuda(be) ? "cuda" : "cpu", t.cfg.batch, 1.0 / dt, 1e3 * dt, 1e3 * best,
           t.use_graph ? "true" : "false", be->ops->name,
           eb_backend_is_cuda(be) ? t.cfg.precision : "fp32", steps, t.cfg.n_critic, t.cfg.dim, t.cfg.z_dim, x.c,
           x.h, x.w, t.cfg.lambda, t.cfg.penalty, t.cfg.penalty_every, t.cfg.train_mcmc, energy_ms, energy_min_ms,
           watch_ms, watch_check_ms, u[EB_UTERM_LOSS], eb_blas_core_name());
    fflush(stdout);
    eb_trainer_free(&t);
    return 0;
}

int main(int argc, char **argv) {
    if (eb_process_env_blas_core()) eb_process_env_reexec(argv); /* OpenBLAS's kernels as ebgan-gpu's */
    const char *device = "cpu";
    int first = 1;
    if (argc > 1 && (!strcmp(argv[1], "cpu") || !strcmp(argv[1], "cuda") || !strcmp(argv[1], "auto"))) {
        device = argv[1];
        first = 2;
    }
    const char *env_steps = getenv("EBGAN_BENCH_STEPS"), *env_batch = getenv("EBGAN_BENCH_BATCH");
    int batch = env_batch && env_batch[0] ? atoi(env_batch) : 64;
    char dir[] = "/tmp/ebgan_bench_train_XXXXXX", path[2][64];
    if (!mkdtemp(dir)) {
        perror("bench_train: mkdtemp");
        return 1;
    }
    static const struct { const char *model; int c, hw, cpu_steps; } runs[] = {
        {"toy", 0, 0, 20}, {"mnist", 3, 28, 3}, {"cifar", 3, 32, 2}};
    int rc = 0, n_wanted = 0;
    for (int i = 0; i < 3; i++) {
        int wanted = argc <= first;
        for (int a = first; a < argc; a++) wanted |= !strcmp(argv[a], runs[i].model);
        if (!wanted) continue;
        n_wanted++;
        const char *data = "25gaussians";
        if (runs[i].c) {
            snprintf(path[i - 1], sizeof path[0], "%s/%s.npy", dir, runs[i].model);
            if (eb_npy_write_random_images(path[i - 1], 256, runs[i].c, runs[i].hw, runs[i].hw, 12345) != EB_OK) {
                fprintf(stderr, "bench_train: %s\n", eb_error_message());
                rc = 1;
                continue;
            }
            data = path[i - 1];
        }
        int gpu = !strcmp(device, "cuda"); /* auto on a GPU machine: set EBGAN_BENCH_STEPS */
        int steps = env_steps && env_steps[0] ? atoi(env_steps) : gpu ? 50 : runs[i].cpu_steps;
        rc |= bench_model(runs[i].model, data, device, batch, steps < 1 ? 1 : steps);
        if (runs[i].c) unlink(path[i - 1]);
    }
    rmdir(dir);
    if (!n_wanted) fprintf(stderr, "bench_train: no preset named: nothing was measured (toy, mnist, cifar)\n");
    return rc || !n_wanted;
}
