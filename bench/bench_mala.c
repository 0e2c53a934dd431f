/* Benchmark of latent MALA: chain-steps per second at 1,000, 10,000 and 100,000 chains for the toy and
 * cifar presets (random weights), on the CPU and, where present, the GPU. One JSON line per measurement. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ebgan/backend.h"
#include "ebgan/cuda.h"
#include "ebgan/mala.h"
#include "ebgan/presets.h"
#include "host/cli/process_env.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Time of `steps` MALA steps of one chunk (its initial energy evaluation included), synchronised. */
static eb_status time_run(const eb_backend *be, eb_mala *s, eb_net *G, eb_net *U, void *z, int chunk, int chains,
                          int steps, double *secs) {
    eb_mala_cfg mc = {EB_MCMC_MALA, steps, 1e-3, 1.0, 1, 5, 0, NULL, 0}; /* small alpha: most proposals accepted */
    double t0 = now_s();
    EB_TRY(eb_mala_run(be, s, G, U, z, chunk, 0, chains, &mc, NULL));
    EB_TRY(be->ops->sync(be->ctx));
    *secs = now_s() - t0;
    return EB_OK;
}

/* One measurement. The chunk is what `sample` picks (eb_mala_auto_chunk: 4096 chains or 1 GiB on the CPU,
 * 60% of the free memory on a GPU); the chunks of a run are independent and run one after the other, so the
 * rate of the whole is that of one chunk. Steady state: t(1 + k steps) - t(1 step) over k steps (each run
 * starts with one energy evaluation, which this cancels), k up to 20 as the budget allows; with k = 0 (one
 * step of a chunk already over the budget: the CPU on the cifar preset, ~1 GFLOP per chain-step) the rate
 * is chunk / t(1 step), which counts that start twice, and is marked so. When all chains for 1 + k steps fit
 * the budget as well, the whole run is timed too (all_chains_*). */
static int bench(const eb_backend *be, const char *model, eb_shape data, int chains, double budget_s) {
    eb_preset p;
    eb_net G, U;
    if (eb_preset_make(&p, model, data, 0, 0) != EB_OK || eb_net_init(&G, be, "G", (eb_shape){p.z_dim, 1, 1}, p.g_spec) ||
        eb_net_init(&U, be, "U", p.data, p.u_spec)) {
        fprintf(stderr, "bench_mala: %s\n", eb_error_message());
        return 1;
    }
    eb_rng r;
    eb_rng_init(&r, 1);
    eb_net_init_weights(&G, be, &r);
    eb_net_init_weights(&U, be, &r);
    const size_t zbytes = (size_t)p.z_dim * sizeof(eb_real);
    const int chunk = eb_mala_auto_chunk(be, &G, &U, zbytes, chains);
    eb_mala s;
    void *z = NULL;
    if (eb_mala_init(&s, be, &G, &U, chunk) || be->ops->mem_alloc(be->ctx, &z, (size_t)chunk * zbytes)) {
        fprintf(stderr, "bench_mala: %s\n", eb_error_message());
        return 1;
    }
    double t1 = 0, tk = 0, all = -1;
    int k = 0;
    eb_status st = be->ops->rng_normal(be->ctx, z, (size_t)chunk * p.z_dim, eb_rng_at(3, 0));
    if (st == EB_OK) st = time_run(be, &s, &G, &U, z, chunk, chains, 1, &t1); /* warm-up: cuDNN, caches */
    if (st == EB_OK) st = time_run(be, &s, &G, &U, z, chunk, chains, 1, &t1);
    if (st == EB_OK) {
        k = (int)(0.4 * budget_s / t1); /* one step costs at most t1 */
        if (k < 1 && t1 < 0.6 * budget_s) k = 1;
        if (k > 20) k = 20;
        if (k >= 1) st = time_run(be, &s, &G, &U, z, chunk, chains, 1 + k, &tk);
    }
    const int n_chunks = (chains + chunk - 1) / chunk;
    if (st == EB_OK && k >= 1 && (t1 + (tk - t1)) * n_chunks < 0.5 * budget_s) {
        double t0 = now_s();
        for (int c0 = 0; st == EB_OK && c0 < chains; c0 += chunk) {
            int m = chains - c0 < chunk ? chains - c0 : chunk;
            eb_mala_cfg mc = {EB_MCMC_MALA, 1 + k, 1e-3, 1.0, 1, 5, 0, NULL, 0};
            st = be->ops->rng_normal(be->ctx, z, (size_t)m * p.z_dim, eb_rng_at(3, (uint64_t)c0 * p.z_dim));
            if (st == EB_OK) st = eb_mala_run(be, &s, &G, &U, z, m, c0, chains, &mc, NULL);
        }
        if (st == EB_OK) st = be->ops->sync(be->ctx);
        all = now_s() - t0;
    }
    if (st != EB_OK) {
        fprintf(stderr, "bench_mala: %s %s: %s\n", be->ops->name, model, eb_error_message());
        return 1;
    }
    const double rate = k >= 1 && tk > t1 ? (double)chunk * k / (tk - t1) : (double)chunk / t1;
    const char *how = k >= 1 ? "steady state of one chunk" : "one step of one chunk, start counted twice";
    /* GEMM work of one chain-step: forward through G and U, then the input gradient back through U and G
     * (a backward-data pass costs the forward's multiply-adds); 2 flops per multiply-add */
    const double gflop = 2.0 * 2.0 * (eb_net_macs_per_sample(&G) + eb_net_macs_per_sample(&U)) * 1e-9;
    printf("{\"bench\":\"mala\",\"backend\":\"%s\",\"model\":\"%s\",\"chains\":%d,\"chunk\":%d,"
           "\"bytes_per_chain\":%zu,\"steps_timed\":%d,\"chain_steps_per_s\":%.1f,\"gflop_per_chain_step\":%.6f,"
           "\"tflop_per_s\":%.4f,\"precision\":\"%s\",\"how\":\"%s\",\"blas_core\":\"%s\"",
           be->ops->name, model, chains, chunk, eb_mala_bytes(&G, &U, 1024) / 1024 + zbytes, k, rate, gflop,
           rate * gflop * 1e-3, eb_cuda_precision_name(eb_cuda_get_precision(be)), how, eb_blas_core_name());
    if (all > 0)
        printf(",\"all_chains_steps\":%d,\"all_chains_wall_s\":%.3f,\"all_chains_steps_per_s\":%.1f", 1 + k, all,
               (double)chains * (1 + k) / all);
    printf("}\n");
    fflush(stdout);
    be->ops->mem_free(be->ctx, z);
    eb_mala_free(&s, be);
    eb_net_free(&G, be);
    eb_net_free(&U, be);
    return 0;
}

int main(int argc, char **argv) {
    if (eb_process_env_blas_core()) eb_process_env_reexec(argv); /* OpenBLAS's kernels as ebgan-gpu's */
    double budget = argc > 1 ? atof(argv[1]) : 10.0; /* seconds per measurement */
    const char *only = argc > 2 ? argv[2] : "all";   /* cpu | cuda | all */
    int counts[3] = {1000, 10000, 100000};
    /* Exit 0 only when every measurement asked for was taken: a harness must not read "nothing measured"
     * (no GPU, a failed run) as success. */
    int rc = 0, measured = 0;
    for (int dev = 0; dev < 2; dev++) {
        eb_backend be;
        if (strcmp(only, "all") && strcmp(only, dev ? "cuda" : "cpu")) continue;
        char why[512];
        if (dev == 1 && eb_cuda_devices(why, sizeof why) == 0) {
            printf("{\"bench\":\"mala\",\"backend\":\"cuda\",\"skipped\":\"no usable CUDA GPU\"}\n");
            fprintf(stderr, "bench_mala: no usable CUDA GPU: %s\n", why);
            rc = 1;
            break;
        }
        if ((dev == 0 ? eb_cpu_backend_init(&be) : eb_cuda_backend_init(&be, 0)) != EB_OK) {
            fprintf(stderr, "bench_mala: %s\n", eb_error_message());
            return 1;
        }
        for (int m = 0; m < 2; m++)
            for (int i = 0; i < 3; i++) {
                const int bad = m == 0 ? bench(&be, "toy", (eb_shape){2, 1, 1}, counts[i], budget)
                                       : bench(&be, "cifar", (eb_shape){3, 32, 32}, counts[i], budget);
                rc |= bad;
                measured += !bad;
            }
        eb_backend_close(&be);
    }
    if (!measured) fprintf(stderr, "bench_mala: nothing was measured ('%s' is cpu, cuda or all)\n", only);
    return rc || !measured;
}
