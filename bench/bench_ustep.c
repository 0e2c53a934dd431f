/* Benchmark of one full U step (eb_ustep_grad with the score penalty + the Adam update) on the paper's
 * presets: toy at batch 256 width 512, mnist (3 stacked channels) and cifar at batch 64. One JSON line each.
 * Usage: bench_ustep [cpu|cuda|auto] [model ...]   (env EBGAN_BENCH_STEPS overrides the step counts) */
#define _POSIX_C_SOURCE 200809L
#include "ebgan/backend.h"
#include "ebgan/optim.h"
#include "ebgan/presets.h"
#include "ebgan/ustep.h"
#include "host/cli/process_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define BENCH_TRY(expr)                                                                          \
    do {                                                                                         \
        eb_status st_ = (expr);                                                                  \
        if (st_ != EB_OK) {                                                                      \
            fprintf(stderr, "bench_ustep: %s: %s\n", #expr, eb_error_message());                 \
            return 1;                                                                            \
        }                                                                                        \
    } while (0)

static int bench_model(const eb_backend *be, const char *model, eb_shape data, int steps) {
    eb_preset p;
    eb_net U;
    eb_ustep us;
    eb_optim opt;
    eb_rng rng;
    BENCH_TRY(eb_preset_make(&p, model, data, 0, 0));
    const int n = p.batch;
    BENCH_TRY(eb_net_init(&U, be, "U", data, p.u_spec));
    eb_rng_init(&rng, 1234);
    BENCH_TRY(eb_net_init_weights(&U, be, &rng));
    BENCH_TRY(eb_ustep_init(&us, be, &U, n));
    const eb_optim_cfg ocfg = {EB_OPTIM_ADAM, p.lr, p.beta1, p.beta2, 1e-8};
    BENCH_TRY(eb_optim_init(&opt, be, U.n_params, &ocfg));
    /* inputs on the device: real and fake ~ N(0, 1), interpolation weights U[0, 1) */
    const size_t d = (size_t)eb_shape_numel(data), nx = (size_t)n * d;
    void *buf = NULL;
    BENCH_TRY(be->ops->mem_alloc(be->ctx, &buf, (2 * nx + (size_t)n) * sizeof(eb_real)));
    eb_real *x_real = buf, *x_fake = x_real + nx, *t = x_fake + nx;
    BENCH_TRY(be->ops->rng_normal(be->ctx, x_real, 2 * nx, eb_rng_at(rng.seed, eb_rng_reserve(&rng,  2 * nx))));
    BENCH_TRY(be->ops->rng_uniform(be->ctx, t, (size_t)n, eb_rng_at(rng.seed, eb_rng_reserve(&rng,  (size_t)n))));
    const eb_ustep_cfg cfg = {EB_PENALTY_SCORE, (eb_real)p.lambda};

    /* one warm-up step (scratch growth, caches), then the timed ones */
    BENCH_TRY(eb_ustep_grad(be, &U, &us, x_real, x_fake, t, n, &cfg));
    BENCH_TRY(eb_optim_step(&opt, be, U.params, U.grads));
    BENCH_TRY(be->ops->sync(be->ctx));
    double t0 = now_s();
    for (int s = 0; s < steps; s++) {
        BENCH_TRY(eb_ustep_grad(be, &U, &us, x_real, x_fake, t, n, &cfg));
        BENCH_TRY(eb_optim_step(&opt, be, U.params, U.grads));
    }
    BENCH_TRY(be->ops->sync(be->ctx));
    double ms = 1e3 * (now_s() - t0) / steps;
    double terms[EB_UTERM_COUNT];
    BENCH_TRY(eb_ustep_read_terms(be, &us, terms));
    printf("{\"bench\":\"ustep\",\"model\":\"%s\",\"backend\":\"%s\",\"real\":\"%s\",\"batch\":%d,\"dim\":%d,"
           "\"data\":[%d,%d,%d],\"params\":%zu,\"penalty\":\"score\",\"steps\":%d,\"ms_per_step\":%.3f,"
           "\"loss\":%.6g,\"blas_core\":\"%s\"}\n",
           model, be->ops->name, EB_REAL_NAME, n, p.dim, data.c, data.h, data.w, U.n_params, steps, ms, terms[EB_UTERM_LOSS],
           eb_blas_core_name());
    fflush(stdout);
    be->ops->mem_free(be->ctx, buf);
    eb_optim_free(&opt, be);
    eb_ustep_free(&us, be);
    eb_net_free(&U, be);
    return 0;
}

int main(int argc, char **argv) {
    if (eb_process_env_blas_core()) eb_process_env_reexec(argv); /* OpenBLAS's kernels as ebgan-gpu's */
    eb_backend_kind kind = EB_BACKEND_CPU;
    int first_model = 1;
    if (argc > 1 && (strcmp(argv[1], "cpu") == 0 || strcmp(argv[1], "cuda") == 0 || strcmp(argv[1], "auto") == 0)) {
        kind = argv[1][0] == 'c' ? (argv[1][1] == 'p' ? EB_BACKEND_CPU : EB_BACKEND_CUDA) : EB_BACKEND_AUTO;
        first_model = 2;
    }
    eb_backend be;
    const char *notice = NULL;
    if (eb_backend_open(&be, kind, &notice) != EB_OK) {
        fprintf(stderr, "bench_ustep: %s\n", eb_error_message());
        return 1;
    }
    if (notice) fprintf(stderr, "bench_ustep: %s\n", notice);
    const char *env = getenv("EBGAN_BENCH_STEPS");
    const int gpu = eb_backend_is_cuda(&be);
    static const struct { const char *model; eb_shape data; int cpu_steps; } runs[] = {
        {"toy", {2, 1, 1}, 20},
        {"mnist", {3, 28, 28}, 3},
        {"cifar", {3, 32, 32}, 3},
    };
    int rc = 0, n_wanted = 0;
    for (int i = 0; i < 3; i++) {
        int wanted = argc <= first_model;
        for (int a = first_model; a < argc; a++) wanted |= strcmp(argv[a], runs[i].model) == 0;
        if (!wanted) continue;
        n_wanted++;
        int steps = env ? atoi(env) : gpu ? 50 : runs[i].cpu_steps;
        if (steps < 1) steps = 1;
        rc |= bench_model(&be, runs[i].model, runs[i].data, steps);
    }
    eb_backend_close(&be);
    if (!n_wanted) fprintf(stderr, "bench_ustep: no preset named: nothing was measured (toy, mnist, cifar)\n");
    return rc || !n_wanted;
}
