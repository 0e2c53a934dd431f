/* What data parallelism costs per training iteration (README "Data parallelism"): for each preset at the
 * paper's settings, the bytes all-reduced and gathered, the collectives issued and the FLOPs per iteration;
 * under `mpirun -np R` also the measured time of the iteration's exact sequence of collectives through the
 * engine's MPI communicator (host buffers, this machine) and the MPI all-reduce bus bandwidth per size.
 * Usage: [mpirun -np R] bench_allreduce [reps]. One JSON line per preset (rank 0). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ebgan/comm.h"
#include "ebgan/gan.h"
#include "ebgan/pass_model.h"
#include "ebgan/presets.h"
#include "host/cli/process_env.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One collective of the iteration: an all-reduce of n reals, or (gather) an all-gather of n per rank. */
typedef struct { size_t n; int gather; } coll;

/* The collectives of one iteration in issue order (trainer.c iteration_launch, bn_sync.c, gstep.c):
 * G step: G forward (2 per bn layer), dim's z all-gather, G backward (1 per bn layer), grads of G, T trunk,
 * T head; then n_critic times: G forward (2 per bn layer), grads of U. */
static int push(coll *out, int k, int cap, size_t n, int gather) {
    if (k < cap) out[k].n = n, out[k].gather = gather;
    return k + 1;
}

/* the two all-reduces (sum, centred sum of squares) of every bn layer in one forward of G */
static int g_forward(const eb_net *G, coll *out, int k, int cap) {
    for (int l = 0; l < G->n_layers; l++)
        if (G->layers[l].kind == EB_LAYER_BATCHNORM) {
            k = push(out, k, cap, (size_t)G->layers[l].in.c, 0);
            k = push(out, k, cap, (size_t)G->layers[l].in.c, 0);
        }
    return k;
}

static int iteration_collectives(const eb_gan *m, int b, int n_critic, coll *out, int cap) {
    const eb_net *G = &m->G;
    int k = g_forward(G, out, 0, cap);
    k = push(out, k, cap, (size_t)b * m->z_dim, 1);
    for (int l = G->n_layers - 1; l >= 0; l--)
        if (G->layers[l].kind == EB_LAYER_BATCHNORM) k = push(out, k, cap, 2 * (size_t)G->layers[l].in.c, 0);
    k = push(out, k, cap, G->n_params, 0);
    if (m->has_trunk) k = push(out, k, cap, m->T_trunk.n_params, 0);
    k = push(out, k, cap, m->T_head.n_params, 0);
    for (int i = 0; i < n_critic; i++) {
        k = g_forward(G, out, k, cap);
        k = push(out, k, cap, m->U.n_params, 0);
    }
    return k;
}

int main(int argc, char **argv) {
    if (eb_process_env_blas_core()) eb_process_env_reexec(argv); /* OpenBLAS's kernels as ebgan-gpu's */
    const int reps = argc > 1 ? atoi(argv[1]) : 20;
    eb_ranks r;
    eb_comm comm;
    eb_comm_single(&comm);
    if (eb_ranks_resolve(-1, -1, -1, &r) != EB_OK) return fprintf(stderr, "%s\n", eb_error_message()), 1;
    eb_backend be;
    if (eb_cpu_backend_init(&be) != EB_OK) return 1;
    if (eb_comm_open(&comm, &r, "auto", &be) != EB_OK) return fprintf(stderr, "%s\n", eb_error_message()), 1;
    const int R = comm.world;
    struct { const char *model; eb_shape data; int batch; } presets[3] = {
        {"toy", {2, 1, 1}, 256}, {"mnist", {3, 28, 28}, 64}, {"cifar", {3, 32, 32}, 64}};
    const int n_critic = 5;
    for (int p = 0; p < 3; p++) {
        eb_preset pr;
        if (eb_preset_make(&pr, presets[p].model, presets[p].data, 0, 0) != EB_OK) return 1;
        eb_gan m;
        eb_gan_specs specs = {pr.u_spec, pr.g_spec, pr.t_trunk_spec, pr.t_head_spec, pr.e_spec};
        eb_optim_cfg oc = {EB_OPTIM_ADAM, 1e-4, 0.5, 0.9, 1e-8};
        if (eb_gan_init(&m, &be, &specs, pr.data, pr.z_dim, EB_ENTROPY_DIM, &oc) != EB_OK)
            return fprintf(stderr, "%s\n", eb_error_message()), 1;
        const int B = presets[p].batch, b = R > 1 ? B / R : B;
        /* FLOPs of one iteration on the global batch B (pass_model.h) */
        const double flops = eb_pass_model_flops(&m, B, n_critic);
        coll c[256];
        const int nc = iteration_collectives(&m, b, n_critic, c, 256);
        double reduce_bytes = 0, gather_bytes = 0;
        size_t maxn = 0;
        for (int i = 0; i < nc; i++) {
            if (c[i].gather) gather_bytes += (double)c[i].n * R * sizeof(eb_real);
            else reduce_bytes += (double)c[i].n * sizeof(eb_real);
            size_t need = c[i].gather ? c[i].n * (size_t)R : c[i].n;
            if (need > maxn) maxn = need;
        }
        double t_iter = 0, bw_u = 0;
        if (R > 1) {
            eb_real *buf = calloc(maxn + 1, sizeof *buf), *send = calloc(maxn + 1, sizeof *send);
            for (int rep = -2; rep < reps; rep++) { /* two warm-ups */
                double t0 = now_s();
                for (int i = 0; i < nc; i++) {
                    if (c[i].gather) comm.ops->allgather(&comm, send, buf, c[i].n);
                    else eb_comm_allreduce_sum(&comm, buf, c[i].n);
                }
                double dt = now_s() - t0;
                if (rep >= 0) t_iter += dt / reps;
            }
            /* U's gradient alone: the largest message; bus bandwidth as nccl-tests defines it, 2 (R-1)/R S / t */
            double t0 = now_s();
            for (int rep = 0; rep < reps; rep++) eb_comm_allreduce_sum(&comm, buf, m.U.n_params);
            double tu = (now_s() - t0) / reps;
            bw_u = 2.0 * (R - 1) / R * m.U.n_params * sizeof(eb_real) / tu;
            free(buf), free(send);
            double v[2] = {t_iter, bw_u};
            eb_comm_host_allreduce(&comm, v, 2, EB_COMM_MAX); /* the slowest rank */
            t_iter = v[0], bw_u = v[1];
        }
        /* Predicted scaling on paper, weak scaling (each GPU keeps the preset's batch, the global batch grows
         * with R): per collective alpha + 2 (R-1)/R S / busbw (all-gather: S_rank / busbw), no overlap with
         * compute (the collectives sit in the stream between the ops). Bus bandwidths from nccl-tests'
         * published all_reduce busbw: 8x H100 SXM over NVLink/NVSwitch ~460 GB/s; over 400 Gb/s InfiniBand, one
         * NIC per GPU, ~45 GB/s (90% of 50 GB/s line rate). Latencies (assumed): 20 us in a node, 60 us across
         * 8 nodes. Compute: FLOPs at EBGAN_BENCH_TFLOPS (default 50: an assumed sustained rate for these
         * small nets, not measured here). */
        const char *tf = getenv("EBGAN_BENCH_TFLOPS");
        const double rate = (tf && atof(tf) > 0 ? atof(tf) : 50) * 1e12, t_c = flops / rate;
        coll cw[256];
        const int nw = iteration_collectives(&m, B, n_critic, cw, 256);
        const struct { int R; double busbw, alpha; } sys[2] = {{8, 460e9, 20e-6}, {64, 45e9, 60e-6}};
        double eff[2];
        for (int si = 0; si < 2; si++) {
            const double Rs = sys[si].R;
            double t = 0;
            for (int i = 0; i < nw; i++) {
                const double S = (double)cw[i].n * sizeof(eb_real);
                t += sys[si].alpha + (cw[i].gather ? (Rs - 1) * S : 2 * (Rs - 1) / Rs * S) / sys[si].busbw;
            }
            eff[si] = t_c / (t_c + t);
        }
        if (comm.rank == 0)
            printf("{\"bench\":\"allreduce\",\"model\":\"%s\",\"batch\":%d,\"ranks\":%d,\"params_U\":%zu,\"params_G\":%zu,"
                   "\"params_T\":%zu,\"collectives_per_iter\":%d,\"allreduce_bytes_per_iter\":%.0f,"
                   "\"allgather_bytes_per_iter\":%.0f,\"gflop_per_iter\":%.3f,\"mpi_ms_per_iter\":%.3f,"
                   "\"mpi_busbw_U_GBps\":%.3f,\"assumed_tflops\":%.0f,\"compute_ms\":%.3f,"
                   "\"pred_eff_8gpu_nvlink\":%.3f,\"pred_eff_64gpu_ib400\":%.3f}\n",
                   presets[p].model, B, R, m.U.n_params, m.G.n_params, m.T_trunk.n_params + m.T_head.n_params, nc,
                   reduce_bytes, gather_bytes, flops * 1e-9, t_iter * 1e3, bw_u * 1e-9, rate * 1e-12, t_c * 1e3,
                   eff[0], eff[1]);
        fflush(stdout);
        eb_gan_free(&m, &be);
    }
    eb_comm_close(&comm);
    eb_cpu_backend_free(&be);
    return 0;
}
