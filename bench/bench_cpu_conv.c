/* Benchmark of the CPU conv2d ops (implicit GEMMs on conv/tile.c) on the layers of the cifar and mnist presets'
 * trunks at batch 64. Prints one JSON line per shape: ms per call (mean and best) and GFLOP/s of forward, backward data, filter.
 * Usage: bench_cpu_conv [seconds per measurement (1)] [cifar|mnist|all (all)] */
#include "ebgan/backend.h"
#include "host/cli/process_env.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec t; /* C11 wall clock: good enough for calls of milliseconds */
    timespec_get(&t, TIME_UTC);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Inputs in [-1, 1) from a local xorshift (the values do not matter for timing, only that they are finite). */
static eb_real *bench_buf(size_t n, uint64_t *st) {
    eb_real *p = malloc(n * sizeof *p); /* the CPU backend's memory is host memory */
    for (size_t i = 0; p && i < n; i++) {
        *st ^= *st << 13, *st ^= *st >> 7, *st ^= *st << 17;
        p[i] = (eb_real)((double)(*st >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    return p;
}

/* Seconds per call of op `which` (0 forward, 1 backward data, 2 backward filter): one warm-up call (grows
 * the scratch), then repeats until min_s has passed (at least 3 calls); *best: the fastest single call (on a
 * machine shared with other jobs the mean moves with their load, the best call much less). Negative on error. */
static double bench_time(eb_backend *be, const eb_conv_geom *g, int which, eb_real *x, eb_real *w, eb_real *y,
                         double min_s, double *best) {
    int calls = 0;
    double t0 = 0.0, prev = 0.0;
    *best = 1e30;
    for (;;) {
        eb_status st = which == 0 ? be->ops->conv2d_forward(be->ctx, g, x, w, y, 1, 0)
                     : which == 1 ? be->ops->conv2d_backward_data(be->ctx, g, y, w, x, 1, 0)
                                  : be->ops->conv2d_backward_filter(be->ctx, g, x, y, w, 1, 0);
        if (st != EB_OK) {
            fprintf(stderr, "bench_cpu_conv: %s\n", eb_error_message());
            return -1.0;
        }
        const double now = now_s();
        if (calls == 0) t0 = now; /* the warm-up call is not timed */
        else if (now - prev < *best) *best = now - prev;
        prev = now;
        calls++;
        double el = now - t0;
        if (calls > 3 && el >= min_s) return el / (calls - 1);
    }
}

int main(int argc, char **argv) {
    if (eb_process_env_blas_core()) eb_process_env_reexec(argv); /* OpenBLAS's kernels as ebgan-gpu's */
    double min_s = argc > 1 ? atof(argv[1]) : 1.0; /* seconds per measurement */
    const char *which = argc > 2 ? argv[2] : "all";
    /* The trunks of presets.c (dim 512): cifar's seven convs k3 s1 p1 / k4 s2 p1 on 32 -> 4, mnist's four k5 s2
     * p2 on 28 -> 2 (n_stack 3 channels in). c_in c_out h w k stride pad */
    static const int shapes[][7] = {
        {3, 64, 32, 32, 3, 1, 1},   {64, 64, 32, 32, 4, 2, 1}, {64, 128, 16, 16, 3, 1, 1}, {128, 128, 16, 16, 4, 2, 1},
        {128, 256, 8, 8, 3, 1, 1},  {256, 256, 8, 8, 4, 2, 1}, {256, 512, 4, 4, 3, 1, 1},
        {3, 64, 28, 28, 5, 2, 2},   {64, 128, 14, 14, 5, 2, 2}, {128, 256, 7, 7, 5, 2, 2}, {256, 512, 4, 4, 5, 2, 2},
    };
    const int n_shapes = (int)(sizeof shapes / sizeof shapes[0]), first_mnist = 7;
    const int lo = strcmp(which, "mnist") == 0 ? first_mnist : 0, hi = strcmp(which, "cifar") == 0 ? first_mnist : n_shapes;
    const int batch = 64;
    eb_backend be;
    if (eb_cpu_backend_init(&be) != EB_OK) {
        fprintf(stderr, "bench_cpu_conv: %s\n", eb_error_message());
        return 1;
    }
    uint64_t st = 0x243F6A8885A308D3ull;
    int rc = 0;
    for (int s = lo; s < hi && rc == 0; s++) {
        eb_conv_geom g = {.n = batch, .c_in = shapes[s][0], .h_in = shapes[s][2], .w_in = shapes[s][3],
                          .c_out = shapes[s][1], .k_h = shapes[s][4], .k_w = shapes[s][4], .stride = shapes[s][5],
                          .pad = shapes[s][6]};
        g.h_out = (g.h_in + 2 * g.pad - g.k_h) / g.stride + 1;
        g.w_out = (g.w_in + 2 * g.pad - g.k_w) / g.stride + 1;
        size_t nx = (size_t)g.n * g.c_in * g.h_in * g.w_in, ny = (size_t)g.n * g.c_out * g.h_out * g.w_out;
        size_t nw = (size_t)g.c_out * g.c_in * g.k_h * g.k_w;
        eb_real *x = bench_buf(nx, &st), *w = bench_buf(nw, &st), *y = bench_buf(ny, &st);
        if (!x || !w || !y) {
            fprintf(stderr, "bench_cpu_conv: out of host memory\n");
            rc = 1;
        }
        /* 2 flops (multiply + add) per MAC; each of the three ops does n * c_out * HWo * c_in * k_h * k_w MACs */
        double gflop = 2.0 * g.n * g.c_out * g.h_out * g.w_out * (double)g.c_in * g.k_h * g.k_w * 1e-9;
        double t[3] = {0, 0, 0}, b[3] = {0, 0, 0};
        for (int k = 0; k < 3 && rc == 0; k++) {
            t[k] = bench_time(&be, &g, k, x, w, y, min_s, &b[k]);
            if (t[k] < 0) rc = 1;
        }
        if (rc == 0)
            printf("{\"bench\":\"cpu_conv2d\",\"real\":\"%s\",\"n\":%d,\"c_in\":%d,\"c_out\":%d,\"h_in\":%d,\"w_in\":%d,"
                   "\"k\":%d,\"stride\":%d,\"pad\":%d,\"gflop_per_call\":%.4f,"
                   "\"fwd_ms\":%.3f,\"bwd_data_ms\":%.3f,\"bwd_filter_ms\":%.3f,"
                   "\"fwd_min_ms\":%.3f,\"bwd_data_min_ms\":%.3f,\"bwd_filter_min_ms\":%.3f,"
                   "\"fwd_gflops\":%.2f,\"bwd_data_gflops\":%.2f,\"bwd_filter_gflops\":%.2f,\"blas_core\":\"%s\"}\n",
                   EB_REAL_NAME, g.n, g.c_in, g.c_out, g.h_in, g.w_in, g.k_h, g.stride, g.pad, gflop, t[0] * 1e3,
                   t[1] * 1e3, t[2] * 1e3, b[0] * 1e3, b[1] * 1e3, b[2] * 1e3, gflop / t[0], gflop / t[1], gflop / t[2], eb_blas_core_name());
        fflush(stdout);
        free(x), free(w), free(y);
    }
    eb_cpu_backend_free(&be);
    return rc;
}
