/* Steady-state timing of training iterations (train_bench.h): the one loop that `ebgan-gpu bench` and
 * bench/bench_train.c report, so that both measure the same thing. */
#define _POSIX_C_SOURCE 200809L
#include "ebgan/train_bench.h"

#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int eb_train_bench_cycle(const eb_trainer *t) {
    /* with the lazy penalty the U steps' pattern repeats every K / gcd(K, n_critic) iterations (iteration_plan.h) */
    int a = t->plan.penalty_every > 1 ? t->plan.penalty_every : 1, b = t->plan.n_critic > 0 ? t->plan.n_critic : 1;
    const int k = a;
    while (b) {
        const int r = a % b;
        a = b;
        b = r;
    }
    return k / a;
}

int eb_train_bench_warmup(const eb_trainer *t) { return (t->use_graph ? 3 : 1) * eb_train_bench_cycle(t); }

eb_status eb_train_bench_time(eb_trainer *t, int warmup, int iters, eb_train_timing *out) {
    const eb_backend *be = &t->be;
    out->iters = 0;
    out->mean_s = out->best_s = 0;
    if (iters < 1) return EB_FAIL(EB_ERR_ARG, "benchmark: %d timed iterations: at least 1 is needed", iters);
    const int cycle = eb_train_bench_cycle(t);
    iters = (iters + cycle - 1) / cycle * cycle; /* whole cycles: the mean is the run's */
    for (int w = 0; w < warmup; w++) EB_TRY(eb_trainer_iteration(t));
    EB_TRY(be->ops->sync(be->ctx));
    double total = 0, best = 0;
    for (int s = 0; s < iters; s++) {
        const double t0 = now_s();
        EB_TRY(eb_trainer_iteration(t));
        EB_TRY(be->ops->sync(be->ctx));
        const double d = now_s() - t0;
        total += d;
        if (s == 0 || d < best) best = d;
    }
    out->iters = iters;
    out->mean_s = total / iters;
    out->best_s = best;
    return EB_OK;
}
