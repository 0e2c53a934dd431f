/* Benchmark of latent MALA: chain-steps per second at 1,000, 10,000 and 100,000 chains for the toy and
 * cifar presets (random weights), on the CPU and, where present, the GPU. One JSON line per measurement. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ebgan/backend.h"
#include "ebgan/mala.h"
#include "ebgan/presets.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

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
    int chunk = chains < (eb_backend_is_cuda(be) ? 65536 : 1024) ? chains : (eb_backend_is_cuda(be) ? 65536 : 1024);
    eb_mala s;
    void *z;
    if (eb_mala_init(&s, be, &G, &U, chunk) || be->ops->mem_alloc(be->ctx, &z, (size_t)chunk * p.z_dim * sizeof(eb_real))) {
        fprintf(stderr, "bench_mala: %s\n", eb_error_message());
        return 1;
    }
    be->ops->rng_normal(be->ctx, z, (size_t)chunk * p.z_dim, 3, 0);
    /* one step of one chunk first (warm-up, and the estimate of the whole) */
    eb_mala_cfg mc = {EB_MCMC_MALA, 1, 0.01, 1.0, 1, 5, 0};
    eb_mala_run(be, &s, &G, &U, z, chunk, 0, chains, &mc, NULL);
    be->ops->sync(be->ctx);
    double t0 = now_s();
    eb_mala_run(be, &s, &G, &U, z, chunk, 0, chains, &mc, NULL);
    be->ops->sync(be->ctx);
    double per_chunk_step = now_s() - t0;
    int n_chunks = (chains + chunk - 1) / chunk;
    int steps = (int)(budget_s / (per_chunk_step * n_chunks));
    if (steps > 20) steps = 20;
    double rate;
    const char *how;
    if (steps >= 1) {
        mc.steps = steps;
        t0 = now_s();
        for (int c = 0; c < n_chunks; c++) eb_mala_run(be, &s, &G, &U, z, chunk, 0, chains, &mc, NULL);
        be->ops->sync(be->ctx);
        rate = (double)chains * steps / (now_s() - t0);
        how = "measured";
    } else { /* too slow for the budget: one chunk-step extrapolated to the whole set of chains */
        rate = (double)chunk / per_chunk_step;
        how = "one chunk-step, extrapolated";
    }
    printf("{\"bench\":\"mala\",\"backend\":\"%s\",\"model\":\"%s\",\"chains\":%d,\"chunk\":%d,\"steps\":%d,"
           "\"chain_steps_per_s\":%.1f,\"how\":\"%s\"}\n", be->ops->name, model, chains, chunk, steps, rate, how);
    fflush(stdout);
    be->ops->mem_free(be->ctx, z);
    eb_mala_free(&s, be);
    eb_net_free(&G, be);
    eb_net_free(&U, be);
    return 0;
}

int main(int argc, char **argv) {
    double budget = argc > 1 ? atof(argv[1]) : 10.0; /* seconds per measurement */
    int counts[3] = {1000, 10000, 100000};
    for (int dev = 0; dev < 2; dev++) {
        eb_backend be;
        if (dev == 1 && eb_cuda_device_count() == 0) {
            printf("{\"bench\":\"mala\",\"backend\":\"cuda\",\"skipped\":\"no usable CUDA GPU\"}\n");
            break;
        }
        if ((dev == 0 ? eb_cpu_backend_init(&be) : eb_cuda_backend_init(&be, 0)) != EB_OK) return 1;
        for (int i = 0; i < 3; i++) bench(&be, "toy", (eb_shape){2, 1, 1}, counts[i], budget);
        for (int i = 0; i < 3; i++) bench(&be, "cifar", (eb_shape){3, 32, 32}, counts[i], budget);
        eb_backend_close(&be);
    }
    return 0;
}
