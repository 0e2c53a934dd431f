/* Steady-state timing of training iterations, the measurement of `ebgan-gpu bench` and bench/bench_train.c:
 * warm-up (and the CUDA graph's capture) untimed, then each iteration timed to the backend's completion. */
#ifndef EBGAN_TRAIN_BENCH_H
#define EBGAN_TRAIN_BENCH_H

#include "ebgan/train.h"

typedef struct eb_train_timing {
    int iters;         /* iterations timed */
    double mean_s;     /* seconds per iteration, mean */
    double best_s;     /* seconds of the fastest iteration (the busy machine's least disturbed one) */
} eb_train_timing;

/* Iterations after which the U steps' pattern repeats: 1, or with the lazy penalty K / gcd(K, n_critic). */
int eb_train_bench_cycle(const eb_trainer *t);

/* Untimed iterations before steady state, per pattern of the cycle (each has its own CUDA graph): 1 runs eagerly
 * (plans, caches); with the CUDA graph 3 (the eager one, the capture, and the first replay, which uploads it). */
int eb_train_bench_warmup(const eb_trainer *t);

/* Runs `warmup` untimed iterations, then `iters` (>= 1, rounded up to whole cycles) timed ones, each followed by
 * the backend's sync; out->iters says how many were timed. */
eb_status eb_train_bench_time(eb_trainer *t, int warmup, int iters, eb_train_timing *out);

#endif
