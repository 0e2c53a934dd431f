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

/* Untimed iterations before steady state: 1 runs eagerly (plans, caches); with the CUDA graph 3 (the eager
 * one, the capture, and the first replay, which uploads the graph). */
int eb_train_bench_warmup(const eb_trainer *t);

/* Runs `warmup` untimed iterations, then `iters` (>= 1) timed ones, each followed by the backend's sync. */
eb_status eb_train_bench_time(eb_trainer *t, int warmup, int iters, eb_train_timing *out);

#endif
