/* MALA chains on the GPU (DESIGN.md §3): the same Philox stream as the CPU reference, so whole chains through
 * a real G (batch norm, inference mode) and U agree with the CPU's; the chunking does not change them; and
 * 100,000 chains of the cifar preset run in chunks sized from free memory. Exit 77 without a usable GPU. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "ebgan/backend.h"
#include "ebgan/cuda.h"
#include "ebgan/mala.h"
#include "ebgan/presets.h"

enum { N = 4096, ZD = 3 };

static int no_gpu(const char *name) {
    char why[512];
    if (eb_cuda_devices(why, sizeof why) > 0) return 0;
    printf("%s: no usable CUDA GPU (%s): skipped\n", name, why);
    return 1;
}

/* The same net on both backends: weights from `r` on the CPU, bn running statistics set away from (0, 1)
 * so inference mode matters, then uploaded to the GPU copy. */
static eb_status net_pair(eb_net *c, eb_net *g, const eb_backend *cpu, const eb_backend *gpu, const char *name,
                          eb_shape in, const char *spec, eb_rng *r) {
    EB_TRY(eb_net_init(c, cpu, name, in, spec));
    EB_TRY(eb_net_init(g, gpu, name, in, spec));
    EB_TRY(eb_net_init_weights(c, cpu, r));
    for (int l = 0; l < c->n_layers; l++) {
        const eb_layer *L = &c->layers[l];
        if (L->kind != EB_LAYER_BATCHNORM) continue;
        for (int k = 0; k < L->in.c; k++) {
            c->buffers[L->rm_off + k] = (eb_real)(eb_rng_uniform(r) - 0.5);
            c->buffers[L->rv_off + k] = (eb_real)(0.5 + 1.5 * eb_rng_uniform(r));
        }
    }
    EB_TRY(gpu->ops->mem_upload(gpu->ctx, g->params, c->params, c->n_params * sizeof(eb_real)));
    if (c->n_buffers) EB_TRY(gpu->ops->mem_upload(gpu->ctx, g->buffers, c->buffers, c->n_buffers * sizeof(eb_real)));
    return EB_OK;
}

/* Runs the chains z (host, [n, ZD], updated) on `be` in chunks of `chunk`; accepted counts to acc (host). */
static eb_status run_on(const eb_backend *be, eb_net *G, eb_net *U, float *z, float *acc, int n, int chunk,
                        const eb_mala_cfg *cfg) {
    eb_mala s;
    void *dz = NULL;
    EB_TRY(eb_mala_init(&s, be, G, U, chunk));
    eb_status st = be->ops->mem_alloc(be->ctx, &dz, (size_t)chunk * ZD * sizeof(float));
    for (int c0 = 0; st == EB_OK && c0 < n; c0 += chunk) {
        int m = n - c0 < chunk ? n - c0 : chunk;
        st = be->ops->mem_upload(be->ctx, dz, z + (size_t)c0 * ZD, (size_t)m * ZD * sizeof(float));
        if (st == EB_OK) st = eb_mala_run(be, &s, G, U, dz, m, c0, n, cfg, NULL);
        if (st == EB_OK) st = be->ops->mem_download(be->ctx, z + (size_t)c0 * ZD, dz, (size_t)m * ZD * sizeof(float));
        if (st == EB_OK) st = be->ops->mem_download(be->ctx, acc + c0, s.accepted, (size_t)m * sizeof(float));
    }
    if (dz) be->ops->mem_free(be->ctx, dz);
    eb_mala_free(&s, be);
    return st;
}

/* Chains of a and b that agree: same acceptance count and every coordinate within 1e-4 (1 + |z|). Float
 * rounding of the energies (fp32 GEMMs summed in another order, ~1e-6 relative) moves a chain only where an
 * accept decision has log u within ~1e-6 of log gamma: about 1e-6 of the 4096 x 30 decisions, so at most a
 * few chains; 0.5% of the chains may differ, the rest must agree. */
static int agreeing(const float *za, const float *aa, const float *zb, const float *ab, int n, double *max_err) {
    int ok = 0;
    *max_err = 0;
    for (int c = 0; c < n; c++) {
        double e = 0;
        for (int j = 0; j < ZD; j++) {
            double d = fabs((double)za[c * ZD + j] - zb[c * ZD + j]) / (1 + fabs((double)zb[c * ZD + j]));
            if (d > e) e = d;
        }
        if (aa[c] == ab[c] && e < 1e-4) {
            ok++;
            if (e > *max_err) *max_err = e;
        }
    }
    return ok;
}

typedef struct pair_fx {
    eb_backend cpu, gpu;
    eb_net Gc, Gg, Uc, Ug;
    float *z0, *zc, *zg, *zg2, *ac, *ag, *ag2;
} pair_fx;

static eb_status fx_open(pair_fx *f) {
    memset(f, 0, sizeof *f);
    EB_TRY(eb_cpu_backend_init(&f->cpu));
    EB_TRY(eb_cuda_backend_init(&f->gpu, 0));
    EB_TRY(eb_cuda_set_precision(&f->gpu, EB_PRECISION_FP32)); /* parity, not tf32 rounding */
    eb_rng r;
    eb_rng_init(&r, 41);
    EB_TRY(net_pair(&f->Gc, &f->Gg, &f->cpu, &f->gpu, "G", (eb_shape){ZD, 1, 1},
                    "linear:32,bn,relu,linear:32,bn,tanh,linear:4", &r));
    EB_TRY(net_pair(&f->Uc, &f->Ug, &f->cpu, &f->gpu, "U", (eb_shape){4, 1, 1},
                    "linear:64,softplus,linear:64,lrelu:0.2,linear:1", &r));
    float **bufs[] = {&f->z0, &f->zc, &f->zg, &f->zg2, &f->ac, &f->ag, &f->ag2};
    for (int i = 0; i < 7; i++)
        if (!(*bufs[i] = malloc((size_t)N * ZD * sizeof(float)))) return EB_FAIL(EB_ERR_OOM, "test buffers");
    EB_TRY(f->cpu.ops->rng_normal(f->cpu.ctx, f->z0, (size_t)N * ZD, eb_rng_at(42, 0)));
    return EB_OK;
}

static void fx_close(pair_fx *f) {
    free(f->z0), free(f->zc), free(f->zg), free(f->zg2), free(f->ac), free(f->ag), free(f->ag2);
    if (f->Gg.arena) eb_net_free(&f->Gg, &f->gpu);
    if (f->Ug.arena) eb_net_free(&f->Ug, &f->gpu);
    if (f->Gc.arena) eb_net_free(&f->Gc, &f->cpu);
    if (f->Uc.arena) eb_net_free(&f->Uc, &f->cpu);
    if (f->gpu.ctx) eb_cuda_backend_free(&f->gpu);
    if (f->cpu.ops) eb_cpu_backend_free(&f->cpu);
}

EB_TEST(chains_match_the_cpu_on_the_same_stream) {
    if (no_gpu("chains_match_the_cpu_on_the_same_stream")) return EB_TEST_SKIP;
    pair_fx f;
    EB_CHECK_OK(fx_open(&f));
    eb_mala_cfg cfg = {EB_MCMC_MALA, 30, 1.0, 1.0, 1, 43, 1000, NULL, 0};
    memcpy(f.zc, f.z0, (size_t)N * ZD * sizeof(float));
    memcpy(f.zg, f.z0, (size_t)N * ZD * sizeof(float));
    EB_CHECK_OK(run_on(&f.cpu, &f.Gc, &f.Uc, f.zc, f.ac, N, N, &cfg));
    EB_CHECK_OK(run_on(&f.gpu, &f.Gg, &f.Ug, f.zg, f.ag, N, N, &cfg));
    double err, rate = 0;
    int ok = agreeing(f.zg, f.ag, f.zc, f.ac, N, &err);
    for (int c = 0; c < N; c++) rate += f.ac[c] / (N * 30.0);
    printf("  %d of %d chains agree (max relative difference %.2e), CPU acceptance %.3f\n", ok, N, err, rate);
    EB_CHECK(ok >= N - N / 200, "only %d of %d chains agree with the CPU", ok, N);
    EB_CHECK(rate > 0.05 && rate < 0.999, "degenerate acceptance %.3f", rate);
    fx_close(&f);
    return EB_TEST_PASS;
}

EB_TEST(chunked_and_unchunked_gpu_runs_agree) {
    if (no_gpu("chunked_and_unchunked_gpu_runs_agree")) return EB_TEST_SKIP;
    pair_fx f;
    EB_CHECK_OK(fx_open(&f));
    eb_mala_cfg cfg = {EB_MCMC_MALA, 30, 1.0, 1.0, 1, 44, 0, NULL, 0};
    memcpy(f.zg, f.z0, (size_t)N * ZD * sizeof(float));
    memcpy(f.zg2, f.z0, (size_t)N * ZD * sizeof(float));
    EB_CHECK_OK(run_on(&f.gpu, &f.Gg, &f.Ug, f.zg, f.ag, N, N, &cfg));
    EB_CHECK_OK(run_on(&f.gpu, &f.Gg, &f.Ug, f.zg2, f.ag2, N, 1000, &cfg)); /* 4 chunks of 1000 and one of 96 */
    double err;
    int ok = agreeing(f.zg2, f.ag2, f.zg, f.ag, N, &err);
    int same = !memcmp(f.zg, f.zg2, (size_t)N * ZD * sizeof(float));
    printf("  %d of %d chains agree (max relative difference %.2e; bit-identical: %s)\n", ok, N, err,
           same ? "yes" : "no");
    EB_CHECK(ok >= N - N / 200, "only %d of %d chains agree across chunkings", ok, N);
    fx_close(&f);
    return EB_TEST_PASS;
}

/* The cifar preset (random weights) at 100,000 chains: chunks from free memory, 2 steps, finite results. */
EB_TEST(hundred_thousand_cifar_chains_in_chunks_from_free_memory) {
    if (no_gpu("hundred_thousand_cifar_chains_in_chunks_from_free_memory")) return EB_TEST_SKIP;
    const int n = 100000;
    eb_backend be;
    EB_CHECK_OK(eb_cuda_backend_init(&be, 0));
    eb_preset p;
    eb_net G, U;
    EB_CHECK_OK(eb_preset_make(&p, "cifar", (eb_shape){3, 32, 32}, 0, 0));
    EB_CHECK_OK(eb_net_init(&G, &be, "G", (eb_shape){p.z_dim, 1, 1}, p.g_spec));
    EB_CHECK_OK(eb_net_init(&U, &be, "U", p.data, p.u_spec));
    eb_rng r;
    eb_rng_init(&r, 45);
    EB_CHECK_OK(eb_net_init_weights(&G, &be, &r));
    EB_CHECK_OK(eb_net_init_weights(&U, &be, &r));
    const size_t zbytes = (size_t)p.z_dim * sizeof(eb_real);
    int C = eb_mala_auto_chunk(&be, &G, &U, zbytes, n);
    size_t free_b = 0, total_b = 0;
    EB_CHECK_OK(eb_cuda_mem_info(&be, &free_b, &total_b));
    printf("  chunk %d chains (%.1f MiB of MALA buffers; %.0f MiB free of %.0f)\n", C,
           eb_mala_bytes(&G, &U, C) / 1048576.0, free_b / 1048576.0, total_b / 1048576.0);
    EB_CHECK(C >= 1000, "chunk %d: the sizing leaves too little", C);
    eb_mala s;
    void *z;
    EB_CHECK_OK(eb_mala_init(&s, &be, &G, &U, C));
    EB_CHECK_OK(be.ops->mem_alloc(be.ctx, &z, (size_t)C * zbytes));
    float *zh = malloc((size_t)C * zbytes), *acc = malloc((size_t)C * sizeof(float));
    eb_mala_cfg cfg = {EB_MCMC_MALA, 2, 1e-3, 1.0, 1, 46, 0, NULL, 0};
    double total_acc = 0;
    int bad = 0;
    for (int c0 = 0; c0 < n; c0 += C) {
        int m = n - c0 < C ? n - c0 : C;
        EB_CHECK_OK(be.ops->rng_normal(be.ctx, z, (size_t)m * p.z_dim, eb_rng_at(47, (uint64_t)c0 * p.z_dim)));
        EB_CHECK_OK(eb_mala_run(&be, &s, &G, &U, z, m, c0, n, &cfg, NULL));
        EB_CHECK_OK(be.ops->mem_download(be.ctx, zh, z, (size_t)m * zbytes));
        EB_CHECK_OK(be.ops->mem_download(be.ctx, acc, s.accepted, (size_t)m * sizeof(float)));
        for (size_t i = 0; i < (size_t)m * p.z_dim; i++) bad += !isfinite(zh[i]);
        for (int i = 0; i < m; i++) total_acc += acc[i];
    }
    printf("  acceptance %.3f over %d chains, %d non-finite latents\n", total_acc / (2.0 * n), n, bad);
    EB_CHECK(bad == 0, "%d non-finite latents", bad);
    EB_CHECK(total_acc > 0 && total_acc <= 2.0 * n, "acceptance out of range");
    free(zh), free(acc);
    be.ops->mem_free(be.ctx, z);
    eb_mala_free(&s, &be);
    eb_net_free(&G, &be);
    eb_net_free(&U, &be);
    eb_cuda_backend_free(&be);
    return EB_TEST_PASS;
}
