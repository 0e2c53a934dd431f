/* `ebgan-gpu sample`: generator samples of a run, optionally sharpened by MALA / ULA chains in latent space
 * (DESIGN.md §3), all chains together in chunks; writes .npy (samples, latents) and PNG grids. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ebgan/mala.h"
#include "ebgan/png_dir.h"
#include "ebgan/png_write.h"
#include "ebgan/shards.h"
#include "ebgan/train.h"
#include "options.h"

typedef struct {
    char run[1024], out[1024], device[8], mcmc[8], prior[16], png_dir[1024], g_weights[8];
    int n, steps, chunk, accept_per_step, record_every;
    int shard, shards; /* this process's shard of the chains (shards 0: all; -1: from the environment) */
    double alpha, beta;
    unsigned long long seed;
} sample_cfg;
#define S(f) EB_OPT_FIELD(sample_cfg, f)
static const eb_opt g_sample_opts[] = {
    {"run", EB_OPT_STR, S(run), "", "run directory (its newest checkpoint is used)"},
    {"n", EB_OPT_INT, S(n), "1000", "number of samples (= chains)"},
    {"chains", EB_OPT_INT, S(n), "1000", "the same as --n"},
    {"out", EB_OPT_STR, S(out), "samples.npy", "output .npy (float32 [n, C, H, W] or [n, D]); FILE_z.npy the latents"},
    {"seed", EB_OPT_U64, S(seed), "0", "seed of z ~ N(0, I) and of the chains' noise"},
    {"mcmc", EB_OPT_STR, S(mcmc), "none", "none | mala | ula: latent chains on E(z) = beta U(G(z)) (+ prior)"},
    {"steps", EB_OPT_INT, S(steps), "100", "MCMC steps"},
    {"alpha", EB_OPT_DBL, S(alpha), "0.01", "MCMC step size"},
    {"beta", EB_OPT_DBL, S(beta), "1", "inverse temperature multiplying U (the paper's 'temp')"},
    {"prior", EB_OPT_STR, S(prior), "gaussian", "gaussian (+ ½||z||²) | none"},
    {"chunk", EB_OPT_INT, S(chunk), "0",
     "chains per chunk (0: 4096 on the CPU, on a GPU what 60% of its free memory holds); only float rounding depends on it"},
    {"record-every", EB_OPT_INT, S(record_every), "0",
     "K > 0: also write the latents every K steps to FILE_trace.npy [T, n, z_dim] (the start, every K-th step, "
     "the last); images: FILE_trace.png, 8 chains by up to 16 of those steps"},
    {"accept-per-step", EB_OPT_INT, S(accept_per_step), "0", "1: print the acceptance rate of every step"},
    {"png-dir", EB_OPT_STR, S(png_dir), "",
     "also write each sample as DIR/<index>.png (images, 0..255, the data's channels): the folder FID tools score"},
    {"g-weights", EB_OPT_STR, S(g_weights), "", "ema | raw: the generator's moving average (--g-ema) or its trained "
                                                "weights (default: ema when the run keeps one)"},
    {"device", EB_OPT_STR, S(device), "", "auto | cpu | cuda (default: the run's)"},
    {"shards", EB_OPT_INT, S(shards), "0",
     "R > 0: write only shard --shard of R (chains k*n/R .. (k+1)*n/R - 1) to FILE-0000k-of-0000R.npy; -1: shard "
     "and R from a SLURM job array or the job's ranks; `ebgan-gpu merge` joins them"},
    {"shard", EB_OPT_INT, S(shard), "0", "this process's shard k in [0, R)"},
};
#undef S
#define N_SAMPLE_OPTS ((int)(sizeof g_sample_opts / sizeof g_sample_opts[0]))

static void png_name(const char *out, const char *suffix, char *buf, size_t cap) {
    size_t L = strlen(out);
    if (L > 4 && !strcmp(out + L - 4, ".npy")) L -= 4;
    snprintf(buf, cap, "%.*s%s", (int)L, out, suffix);
}

/* G(z) of m chains into host rows (inference mode). */
static eb_status generate(eb_trainer *t, eb_mala *s, const eb_real *z, int m, float *x) {
    const eb_backend *be = &t->be;
    EB_TRY(eb_net_forward(be, &t->gan.G, &s->ws_G, z, m, EB_MODE_INFER));
    return be->ops->mem_download(be->ctx, x, s->ws_G.h[t->gan.G.n_layers],
                                 (size_t)m * (size_t)eb_shape_numel(t->gan.x_shape) * sizeof(float));
}

/* cfg->steps steps as segments of `every` steps (the last may be shorter), the latents copied to
 * trace[(k, chain)] after each segment (trace[0] the start). A segment of steps [a, b) uses the counters of
 * those steps (offset advanced by a * total_chains * (dim + 1)), so the chains are the same as in one run up
 * to float rounding of the re-evaluated energy at each segment start; acceptances add up on the host. */
static eb_status run_recorded(const eb_backend *be, eb_mala *s, eb_trainer *t, eb_real *z, int m, int c0, int total,
                              const eb_mala_cfg *mc, int every, float *trace, float *acc, float *acc_seg,
                              double *per_step) {
    size_t zd = (size_t)t->gan.z_dim;
    for (int i = 0; i < m; i++) acc[i] = 0;
    int n_rec = every > 0 ? mc->steps / every + (mc->steps % every ? 1 : 0) : 0;
    if (every > 0)
        EB_TRY(be->ops->mem_download(be->ctx, trace + (size_t)c0 * zd, z, (size_t)m * zd * sizeof(float)));
    int seg = every > 0 ? every : mc->steps;
    for (int a = 0, k = 1; a < mc->steps; a += seg, k++) {
        eb_mala_cfg part = *mc;
        part.steps = mc->steps - a < seg ? mc->steps - a : seg;
        part.offset = mc->offset + (uint64_t)a * (uint64_t)total * (zd + 1);
        EB_TRY(eb_mala_run(be, s, &t->gan.G, &t->gan.U, z, m, c0, total, &part, per_step ? per_step + a : NULL));
        if (mc->kind != EB_MCMC_NONE) {
            EB_TRY(be->ops->mem_download(be->ctx, acc_seg, s->accepted, (size_t)m * sizeof(float)));
            for (int i = 0; i < m; i++) acc[i] += acc_seg[i];
        }
        if (every > 0 && k <= n_rec)
            EB_TRY(be->ops->mem_download(be->ctx, trace + ((size_t)k * total + c0) * zd, z, (size_t)m * zd * sizeof(float)));
    }
    return EB_OK;
}

/* Chains [lo, hi) of c->n (one shard, or all): chain i is keyed by its global index i, so a shard's chains are
 * those of the unsharded run. x, z_host, before hold the range's rows from its first. */
static eb_status sample_all(eb_trainer *t, const sample_cfg *c, int lo, int hi, eb_mala_cfg *mc, float *x,
                            float *z_host, float *before, int n_before, double acc_stats[2], double *per_step,
                            float *trace) {
    const eb_backend *be = &t->be;
    int zd = t->gan.z_dim;
    /* the random numbers do not depend on the chunk (counters per global chain), so it is sized for speed: on
     * a GPU from its free memory (ebgan/mala.h) */
    const int N = hi - lo;
    int C = c->chunk > 0 ? (c->chunk < N ? c->chunk : N)
                         : eb_mala_auto_chunk(be, &t->gan.G, &t->gan.U, (size_t)zd * sizeof(eb_real), N);
    if (mc->kind != EB_MCMC_NONE) printf("%s: %d chains in chunks of %d\n", be->ops->name, N, C);
    size_t xd = (size_t)eb_shape_numel(t->gan.x_shape);
    eb_mala s;
    EB_TRY(eb_mala_init(&s, be, &t->gan.G, &t->gan.U, C));
    void *zbuf = NULL;
    float *acc = malloc((size_t)C * sizeof(float)), *acc_seg = malloc((size_t)C * sizeof(float));
    eb_status st = acc && acc_seg ? be->ops->mem_alloc(be->ctx, &zbuf, (size_t)C * zd * sizeof(eb_real))
                       : EB_FAIL(EB_ERR_OOM, "sample: host buffer");
    double sum = 0, sq = 0;
    for (int c0 = lo; st == EB_OK && c0 < hi; c0 += C) {
        int m = hi - c0 < C ? hi - c0 : C, r0 = c0 - lo; /* global chain c0, row r0 of this range */
        /* chain i starts from z_i = the stream `seed` at i * z_dim: the same z as without MCMC */
        st = be->ops->rng_normal(be->ctx, zbuf, (size_t)m * zd, eb_rng_at(c->seed, (uint64_t)c0 * zd));
        if (st == EB_OK && r0 < n_before) {
            int k = n_before - r0 < m ? n_before - r0 : m;
            float *tmp = malloc((size_t)m * xd * sizeof(float));
            st = tmp ? generate(t, &s, zbuf, m, tmp) : EB_FAIL(EB_ERR_OOM, "sample: host buffer");
            if (st == EB_OK) memcpy(before + (size_t)r0 * xd, tmp, (size_t)k * xd * sizeof(float));
            free(tmp);
        }
        if (st == EB_OK)
            st = run_recorded(be, &s, t, zbuf, m, c0, c->n, mc, trace ? c->record_every : 0, trace, acc, acc_seg,
                              per_step);
        for (int i = 0; st == EB_OK && mc->kind != EB_MCMC_NONE && i < m; i++) {
            double r = acc[i] / (double)mc->steps;
            sum += r, sq += r * r;
        }
        if (st == EB_OK) st = generate(t, &s, zbuf, m, x + (size_t)r0 * xd);
        if (st == EB_OK)
            st = be->ops->mem_download(be->ctx, z_host + (size_t)r0 * zd, zbuf, (size_t)m * zd * sizeof(float));
    }
    acc_stats[0] = sum / N;
    acc_stats[1] = sqrt(fmax(0, sq / N - acc_stats[0] * acc_stats[0]));
    if (zbuf) be->ops->mem_free(be->ctx, zbuf);
    free(acc);
    free(acc_seg);
    eb_mala_free(&s, be);
    return st;
}

/* FILE_trace.png for images: the first (up to 8) chains as rows, up to 16 of the n_rec recorded steps,
 * evenly spaced, as columns (step 0 on the left): G (inference mode, as in the chains) of the traced latents. */
static eb_status trace_picture(eb_trainer *t, const float *trace, int n_rec, int n, const char *out) {
    const eb_backend *be = &t->be;
    const eb_shape xs = t->gan.x_shape;
    const size_t zd = (size_t)t->gan.z_dim, xd = (size_t)eb_shape_numel(xs);
    const int rows = n < 8 ? n : 8, cols = n_rec < 16 ? n_rec : 16, m = rows * cols;
    float *zh = malloc((size_t)m * zd * sizeof(float)), *xh = malloc((size_t)m * xd * sizeof(float));
    void *zdev = NULL;
    eb_net_ws ws = {0};
    eb_status st = zh && xh ? EB_OK : EB_FAIL(EB_ERR_OOM, "sample: trace picture buffers");
    for (int r = 0; st == EB_OK && r < rows; r++)
        for (int j = 0; j < cols; j++) {
            size_t k = cols > 1 ? (size_t)((double)j * (n_rec - 1) / (cols - 1) + 0.5) : 0;
            memcpy(zh + ((size_t)r * cols + j) * zd, trace + (k * (size_t)n + (size_t)r) * zd, zd * sizeof(float));
        }
    if (st == EB_OK) st = be->ops->mem_alloc(be->ctx, &zdev, (size_t)m * zd * sizeof(eb_real));
    if (st == EB_OK) st = be->ops->mem_upload(be->ctx, zdev, zh, (size_t)m * zd * sizeof(float));
    if (st == EB_OK) st = eb_net_ws_init(&ws, be, &t->gan.G, m, 0);
    if (st == EB_OK) st = eb_net_forward(be, &t->gan.G, &ws, zdev, m, EB_MODE_INFER);
    if (st == EB_OK) st = be->ops->mem_download(be->ctx, xh, ws.h[t->gan.G.n_layers], (size_t)m * xd * sizeof(float));
    char path[1100];
    png_name(out, "_trace.png", path, sizeof path);
    if (st == EB_OK) st = eb_png_write_grid(path, xh, m, xs.c, xs.h, xs.w, cols);
    if (ws.arena) eb_net_ws_free(&ws, be);
    if (zdev) be->ops->mem_free(be->ctx, zdev);
    free(zh), free(xh);
    return st;
}

int eb_cli_sample(int argc, char **argv) {
    sample_cfg c;
    char err[1200];
    int rc = eb_opts_parse(g_sample_opts, N_SAMPLE_OPTS, &c, argc, argv,
                           "usage: ebgan-gpu sample --run DIR [--n N] [--out FILE.npy] [--mcmc mala --steps K "
                           "--alpha A --beta B --prior gaussian|none]", err, sizeof err);
    if (rc) {
        if (rc < 0) fprintf(stderr, "ebgan-gpu sample: %s\n", err);
        return rc > 0 ? 0 : 2;
    }
    eb_mala_cfg mc = {EB_MCMC_NONE, c.steps, c.alpha, c.beta, 0, c.seed, (uint64_t)1 << 48, NULL, 0};
    if (!strcmp(c.mcmc, "mala")) mc.kind = EB_MCMC_MALA;
    else if (!strcmp(c.mcmc, "ula")) mc.kind = EB_MCMC_ULA;
    else if (strcmp(c.mcmc, "none")) rc = fprintf(stderr, "ebgan-gpu sample: --mcmc '%s': expected none, mala or ula\n", c.mcmc);
    if (!strcmp(c.prior, "gaussian")) mc.prior = 1;
    else if (strcmp(c.prior, "none")) rc = fprintf(stderr, "ebgan-gpu sample: --prior '%s': expected gaussian or none\n", c.prior);
    if (!c.run[0] || c.n < 1 || c.steps < 0 || !(c.alpha > 0))
        rc = fprintf(stderr, "ebgan-gpu sample: --run DIR, --n >= 1, --steps >= 0 and --alpha > 0 are required\n");
    if (c.shards < 0 && eb_shard_from_env(&c.shard, &c.shards) != EB_OK)
        rc = fprintf(stderr, "ebgan-gpu sample: %s\n", eb_error_message());
    if (c.shards > 0 && (c.shard < 0 || c.shard >= c.shards))
        rc = fprintf(stderr, "ebgan-gpu sample: --shard %d outside [0, %d)\n", c.shard, c.shards);
    if (c.shards > 0 && c.record_every > 0)
        rc = fprintf(stderr, "ebgan-gpu sample: --record-every is not available with --shards\n");
    if (rc) return 2;
    int64_t lo64 = 0, hi64 = c.n;
    if (c.shards > 0) eb_shard_range(c.n, c.shard, c.shards, &lo64, &hi64);
    const int lo = (int)lo64, hi = (int)hi64, N = hi - lo; /* this process's chains */
    if (c.shards > 0) {
        char name[1100];
        eb_shard_path(c.out, "", c.shard, c.shards, name, sizeof name);
        printf("shard %d of %d: chains %d .. %d of %d -> %s\n", c.shard, c.shards, lo, hi - 1, c.n, name);
    }
    eb_trainer t;
    int load_rc = eb_cli_load_run(c.run, c.device, c.g_weights, &t);
    if (load_rc) return load_rc;
    eb_shape xs = t.gan.x_shape;
    size_t xd = (size_t)eb_shape_numel(xs), zd = (size_t)t.gan.z_dim;
    int n_before = N < 64 ? N : 64;
    float *x = malloc((size_t)N * xd * sizeof(float) + 1), *z = malloc((size_t)N * zd * sizeof(float) + 1);
    float *before = malloc((size_t)n_before * xd * sizeof(float));
    double *per_step = c.accept_per_step && mc.kind != EB_MCMC_NONE ? calloc((size_t)c.steps + 1, sizeof(double)) : NULL;
    double acc[2] = {0, 0};
    int n_rec = c.record_every > 0 && mc.kind != EB_MCMC_NONE
                    ? c.steps / c.record_every + (c.steps % c.record_every ? 1 : 0) + 1 : 0;
    float *trace = n_rec ? malloc((size_t)n_rec * c.n * zd * sizeof(float)) : NULL;
    int ret = 0;
    if (!x || !z || !before || (n_rec && !trace) || (c.accept_per_step && mc.kind != EB_MCMC_NONE && !per_step)) {
        /* say so: an allocation failure records no library message */
        fprintf(stderr, "ebgan-gpu sample: out of memory: %d samples need %.3g GB of host buffers%s\n", N,
                ((double)N * (double)(xd + zd) + (double)n_rec * c.n * zd) * sizeof(float) / 1e9,
                n_rec ? " (with the --record-every trace)" : "");
        ret = 1;
        goto out;
    }
    if (sample_all(&t, &c, lo, hi, &mc, x, z, before, n_before, acc, per_step, trace) != EB_OK) {
        fprintf(stderr, "ebgan-gpu sample: %s\n", eb_error_message());
        ret = 1;
        goto out;
    }
    int dense = xs.h == 1 && xs.w == 1;
    int64_t shp[4] = {N, dense ? (int64_t)xd : xs.c, xs.h, xs.w}, zshp[2] = {N, (int64_t)zd};
    char zpath[1100], png[1100], png_before[1100], shard_out[1100];
    if (c.shards > 0) { /* a shard writes only its arrays; `merge` makes the whole set and its picture */
        eb_shard_path(c.out, "", c.shard, c.shards, shard_out, sizeof shard_out);
        eb_shard_path(c.out, "_z", c.shard, c.shards, zpath, sizeof zpath);
    } else {
        snprintf(shard_out, sizeof shard_out, "%s", c.out);
        png_name(c.out, "_z.npy", zpath, sizeof zpath);
    }
    png_name(c.out, ".png", png, sizeof png);
    png_name(c.out, "_before.png", png_before, sizeof png_before);
    eb_status st = eb_npy_write(shard_out, EB_F32, dense ? 2 : 4, shp, x);
    if (st == EB_OK) st = eb_npy_write(zpath, EB_F32, 2, zshp, z);
    char tpath[1100];
    png_name(c.out, "_trace.npy", tpath, sizeof tpath);
    int64_t tshp[3] = {n_rec, c.n, (int64_t)zd};
    if (st == EB_OK && trace) st = eb_npy_write(tpath, EB_F32, 3, tshp, trace);
    int pictures = !dense && (xs.c == 1 || xs.c == 3) && c.shards <= 0;
    if (st == EB_OK && trace && pictures) st = trace_picture(&t, trace, n_rec, c.n, c.out);
    if (st == EB_OK && pictures) st = eb_png_write_grid(png, x, n_before, xs.c, xs.h, xs.w, 8);
    if (st == EB_OK && pictures && mc.kind != EB_MCMC_NONE)
        st = eb_png_write_grid(png_before, before, n_before, xs.c, xs.h, xs.w, 8);
    if (st == EB_OK && c.png_dir[0]) {
        if (dense) st = EB_FAIL(EB_ERR_ARG, "--png-dir needs images; run %s makes %zu-D points", c.run, xd);
        else st = eb_png_dir_write(c.png_dir, x, lo, N, xs.c, xs.h, xs.w);
        if (st == EB_OK) printf("wrote %d PNG files to %s\n", N, c.png_dir);
    }
    if (st != EB_OK) {
        fprintf(stderr, "ebgan-gpu sample: %s\n", eb_error_message());
        ret = 1;
        goto out;
    }
    printf("wrote %d samples to %s, latents to %s%s%s\n", N, shard_out, zpath, pictures ? ", grid " : "",
           pictures ? png : "");
    if (mc.kind != EB_MCMC_NONE) {
        eb_json_line l; /* non-finite values (a diverged chain) print as null, never as nan */
        eb_json_line_begin(&l);
        eb_json_line_str(&l, "mcmc", c.mcmc);
        eb_json_line_int(&l, "chains", N);
        eb_json_line_int(&l, "steps", c.steps);
        eb_json_line_num(&l, "alpha", c.alpha);
        eb_json_line_num(&l, "beta", c.beta);
        eb_json_line_str(&l, "prior", c.prior);
        eb_json_line_num(&l, "acceptance_mean", round(acc[0] * 1e4) / 1e4);
        eb_json_line_num(&l, "acceptance_std_over_chains", round(acc[1] * 1e4) / 1e4);
        eb_json_line_end(&l);
        printf("%s\n", l.buf);
        for (int i = 0; per_step && i < c.steps; i++) printf("step %d acceptance %.4f\n", i + 1, per_step[i] / N);
    }
out:
    free(x), free(z), free(before), free(per_step), free(trace);
    eb_trainer_free(&t);
    return ret;
}

/* `ebgan-gpu merge --out FILE.npy --shards R`: joins the R shards of `sample --shards R` (samples and latents)
 * after checking that the set is complete and consistent (shards.h). */
int eb_cli_merge(int argc, char **argv) {
    struct { char out[1024]; int shards; } c;
#define M(f) EB_OPT_FIELD(__typeof__(c), f)
    const eb_opt opts[] = {
        {"out", EB_OPT_STR, M(out), "samples.npy", "the --out of the sharded `sample` runs: writes FILE.npy, FILE_z.npy"},
        {"shards", EB_OPT_INT, M(shards), "0", "the number of shards R (files FILE-0000k-of-0000R.npy)"},
    };
#undef M
    char err[1200];
    int rc = eb_opts_parse(opts, 2, &c, argc, argv, "usage: ebgan-gpu merge --out FILE.npy --shards R", err, sizeof err);
    if (rc) {
        if (rc < 0) fprintf(stderr, "ebgan-gpu merge: %s\n", err);
        return rc > 0 ? 0 : 2;
    }
    int64_t rows = 0, zrows = 0;
    if (eb_shards_merge(c.out, "", c.shards, &rows) != EB_OK || eb_shards_merge(c.out, "_z", c.shards, &zrows) != EB_OK) {
        fprintf(stderr, "ebgan-gpu merge: %s\n", eb_error_message());
        return 1;
    }
    printf("merged %d shards: %lld samples into %s (latents: FILE_z.npy)\n", c.shards, (long long)rows, c.out);
    return 0;
}
