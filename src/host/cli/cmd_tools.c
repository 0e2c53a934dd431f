/* The companion commands that read a run (sample: cmd_sample.c): energy (U(x) and grad_x U, the
 * anomaly score), grads (the U-step gradient for cross-checks), eval (mode coverage). Formats: README. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_source.h"
#include "cli.h"
#include "ebgan/atomic_file.h"
#include "ebgan/eval.h"
#include "ebgan/json.h"
#include "ebgan/png_write.h"
#include "ebgan/safetensors.h"
#include "ebgan/train.h"
#include "options.h"

static int fail(const char *cmd) {
    fprintf(stderr, "ebgan-gpu %s: %s\n", cmd, eb_error_message());
    return 1;
}

/* Values per row of an [N, ...] array: the product of the dimensions after the first, -1 when it overflows
 * (a header may declare 0 rows of absurd dimensions: the product must not be computed in signed overflow). */
static int64_t row_numel(const eb_npy *a) {
    uint64_t p = 1;
    for (int i = 1; i < a->ndim; i++)
        if (a->shape[i] < 0 || __builtin_mul_overflow(p, (uint64_t)a->shape[i], &p) || p > (uint64_t)INT64_MAX)
            return -1;
    return (int64_t)p;
}

static int parse(const eb_opt *tab, int n, void *cfg, int argc, char **argv, const char *usage, const char *cmd) {
    char err[1200];
    int rc = eb_opts_parse(tab, n, cfg, argc, argv, usage, err, sizeof err);
    if (rc < 0) fprintf(stderr, "ebgan-gpu %s: %s\n", cmd, err);
    return rc;
}

/* ---- energy ---- */
typedef struct { char run[1024], input[1024], out[1024], grad[1024], device[8]; } energy_cfg;
#define E(f) EB_OPT_FIELD(energy_cfg, f)
static const eb_opt g_energy_opts[] = {
    {"run", EB_OPT_STR, E(run), "", "run directory"},
    {"input", EB_OPT_STR, E(input), "", "input .npy, float32 [N, ...] of the model's sample shape"},
    {"out", EB_OPT_STR, E(out), "energy.npy", "output .npy: U(x) per row, float32 [N]"},
    {"grad", EB_OPT_STR, E(grad), "", "optional output .npy: grad_x U(x), float32, the input's shape"},
    {"device", EB_OPT_STR, E(device), "", "auto | cpu | cuda (default: the run's)"},
};
#undef E

int eb_cli_energy(int argc, char **argv) {
    energy_cfg c;
    int rc = parse(g_energy_opts, 5, &c, argc, argv,
                   "usage: ebgan-gpu energy --run DIR --input X.npy --out E.npy [--grad G.npy]", "energy");
    if (rc) return rc > 0 ? 0 : 2;
    if (!c.run[0] || !c.input[0]) {
        fprintf(stderr, "ebgan-gpu energy: --run DIR and --input X.npy are required\n");
        return 2;
    }
    eb_npy in;
    if (eb_npy_read(&in, c.input) != EB_OK) return fail("energy");
    eb_trainer t;
    int load_rc = eb_cli_load_run(c.run, c.device, NULL, &t);
    if (load_rc) {
        eb_npy_free(&in);
        return load_rc;
    }
    const eb_backend *be = &t.be;
    size_t xd = (size_t)eb_shape_numel(t.gan.x_shape);
    int64_t per = row_numel(&in);
    int ret = 0;
    float *e = NULL, *g = NULL;
    if (in.dtype != EB_F32 || in.ndim < 2 || (size_t)per != xd) {
        char sb[64];
        fprintf(stderr, "ebgan-gpu energy: %s: expected float32 [N, ...] with %zu values per row (model input %s)\n",
                c.input, xd, eb_shape_str(t.gan.x_shape, sb, sizeof sb));
        ret = 1;
        goto out;
    }
    int64_t N = in.shape[0];
    e = malloc((size_t)N * sizeof(float) + 1);
    g = c.grad[0] ? malloc((size_t)N * xd * sizeof(float) + 1) : NULL;
    if (!e || (c.grad[0] && !g)) {
        fprintf(stderr, "ebgan-gpu energy: out of memory: %lld rows need %.3g GB of host buffers\n", (long long)N,
                (double)N * (1.0 + (c.grad[0] ? (double)xd : 0)) * sizeof(float) / 1e9);
        ret = 1;
        goto out;
    }
    int B = t.cfg.batch;
    const float *x = in.data;
    for (int64_t i = 0; i < N && ret == 0; i += B) {
        int m = (int)(N - i < B ? N - i : B);
        eb_status st = be->ops->mem_upload(be->ctx, t.x_real, x + i * xd, (size_t)m * xd * sizeof(float));
        if (st == EB_OK) st = eb_net_forward(be, &t.gan.U, &t.gs.ws_U, t.x_real, m, EB_MODE_INFER);
        if (st == EB_OK)
            st = be->ops->mem_download(be->ctx, e + i, t.gs.ws_U.h[t.gan.U.n_layers], (size_t)m * sizeof(float));
        if (st == EB_OK && g) {
            st = be->ops->fill(be->ctx, t.gs.seed, 1, (size_t)m); /* d U_i / d x_i: seed 1 per row */
            if (st == EB_OK)
                st = eb_net_backward(be, &t.gan.U, &t.gs.ws_U, t.gs.seed, m, EB_MODE_INFER, 0, t.gs.dx, 0);
            if (st == EB_OK)
                st = be->ops->mem_download(be->ctx, g + i * xd, t.gs.dx, (size_t)m * xd * sizeof(float));
        }
        if (st != EB_OK) ret = fail("energy");
    }
    if (ret == 0) {
        int64_t shp[1] = {N};
        if (eb_npy_write(c.out, EB_F32, 1, shp, e) != EB_OK) ret = fail("energy");
        else if (g && eb_npy_write(c.grad, EB_F32, in.ndim, in.shape, g) != EB_OK) ret = fail("energy");
        else printf("wrote U(x) of %lld rows to %s%s%s\n", (long long)N, c.out, g ? " and grad_x U to " : "",
                    g ? c.grad : "");
    }
out:
    free(e);
    free(g);
    eb_npy_free(&in);
    eb_trainer_free(&t);
    return ret;
}

/* ---- grads ---- */
typedef struct { char run[1024], real[1024], fake[1024], out[1024], device[8]; unsigned long long seed; } grads_cfg;
#define G(f) EB_OPT_FIELD(grads_cfg, f)
static const eb_opt g_grads_opts[] = {
    {"run", EB_OPT_STR, G(run), "", "run directory"},
    {"real", EB_OPT_STR, G(real), "", "real batch .npy, float32 [B, ...]"},
    {"fake", EB_OPT_STR, G(fake), "", "fake batch .npy, float32 [B, ...] (same B)"},
    {"out", EB_OPT_STR, G(out), "grads.safetensors", "output: gradient of every U parameter, and the penalty's part"},
    {"seed", EB_OPT_U64, G(seed), "0", "wgan-gp: seed of the interpolation weights"},
    {"device", EB_OPT_STR, G(device), "", "auto | cpu | cuda (default: the run's)"},
};
#undef G

static eb_status grads_compute(eb_trainer *t, const float *xr, const float *xf, int B, eb_ustep *us,
                               const grads_cfg *c, float *full, float *base, double terms[EB_UTERM_COUNT]) {
    const eb_backend *be = &t->be;
    eb_net *U = &t->gan.U;
    size_t xd = (size_t)eb_shape_numel(t->gan.x_shape);
    void *buf = NULL;
    const size_t slot = eb_align_elems((size_t)B * xd); /* [real | fake | t], each aligned (align.h) */
    EB_TRY(be->ops->mem_alloc(be->ctx, &buf, (2 * slot + (size_t)B) * sizeof(float)));
    eb_real *dr = buf, *df = dr + slot, *ti = df + slot;
    eb_status st = be->ops->mem_upload(be->ctx, dr, xr, (size_t)B * xd * sizeof(float));
    if (st == EB_OK) st = be->ops->mem_upload(be->ctx, df, xf, (size_t)B * xd * sizeof(float));
    if (st == EB_OK) st = be->ops->rng_uniform(be->ctx, ti, (size_t)B, eb_rng_at(c->seed, 0));
    eb_penalty_kind pk = t->penalty;
    eb_ustep_cfg none = {EB_PENALTY_NONE, 0}, with = {pk, (eb_real)t->cfg.lambda};
    if (st == EB_OK) st = eb_ustep_grad(be, U, us, dr, df, ti, B, &none);
    if (st == EB_OK) st = be->ops->mem_download(be->ctx, base, U->grads, U->n_params * sizeof(float));
    if (st == EB_OK) st = eb_ustep_grad(be, U, us, dr, df, ti, B, &with);
    if (st == EB_OK) st = be->ops->mem_download(be->ctx, full, U->grads, U->n_params * sizeof(float));
    if (st == EB_OK) st = eb_ustep_read_terms(be, us, terms);
    be->ops->mem_free(be->ctx, buf);
    return st;
}

int eb_cli_grads(int argc, char **argv) {
    grads_cfg c;
    int rc = parse(g_grads_opts, 6, &c, argc, argv,
                   "usage: ebgan-gpu grads --run DIR --real X.npy --fake Y.npy --out G.safetensors", "grads");
    if (rc) return rc > 0 ? 0 : 2;
    if (!c.run[0] || !c.real[0] || !c.fake[0]) {
        fprintf(stderr, "ebgan-gpu grads: --run, --real and --fake are required\n");
        return 2;
    }
    eb_npy r, f;
    if (eb_npy_read(&r, c.real) != EB_OK) return fail("grads");
    if (eb_npy_read(&f, c.fake) != EB_OK) {
        eb_npy_free(&r);
        return fail("grads");
    }
    eb_trainer t;
    int load_rc = eb_cli_load_run(c.run, c.device, NULL, &t);
    if (load_rc) {
        eb_npy_free(&r);
        eb_npy_free(&f);
        return load_rc;
    }
    int ret = 0;
    size_t xd = (size_t)eb_shape_numel(t.gan.x_shape);
    int64_t pr = row_numel(&r), pf = row_numel(&f);
    eb_net *U = &t.gan.U;
    float *full = NULL, *base = NULL, *pen = NULL;
    eb_ustep us = {0};
    if (r.dtype != EB_F32 || f.dtype != EB_F32 || (size_t)pr != xd || (size_t)pf != xd || r.shape[0] != f.shape[0] ||
        r.shape[0] < 1) {
        fprintf(stderr, "ebgan-gpu grads: --real and --fake must be float32 [B, ...] with the same B and %zu values "
                        "per row\n", xd);
        ret = 1;
        goto out;
    }
    int B = (int)r.shape[0];
    full = malloc(U->n_params * sizeof(float));
    base = malloc(U->n_params * sizeof(float));
    pen = malloc(U->n_params * sizeof(float));
    double terms[EB_UTERM_COUNT];
    if (!full || !base || !pen || eb_ustep_init(&us, &t.be, U, B) != EB_OK ||
        grads_compute(&t, r.data, f.data, B, &us, &c, full, base, terms) != EB_OK) {
        ret = fail("grads");
        goto out;
    }
    for (size_t i = 0; i < U->n_params; i++) pen[i] = full[i] - base[i];
    int np = eb_net_param_list(U, NULL, 0);
    eb_param_info *info = calloc((size_t)np, sizeof *info);
    eb_st_entry *ent = calloc(2 * (size_t)np, sizeof *ent);
    char (*names)[96] = calloc(2 * (size_t)np, sizeof *names);
    int ne = 0;
    eb_net_param_list(U, info, np);
    for (int j = 0; j < np; j++) {
        if (info[j].is_buffer) continue;
        for (int part = 0; part < 2; part++) {
            snprintf(names[ne], sizeof names[0], "%s%s", part ? "penalty_grad." : "grad.", info[j].name);
            ent[ne] = (eb_st_entry){names[ne], EB_ST_F32, info[j].ndim, {0}, (part ? pen : full) + info[j].offset};
            for (int d = 0; d < info[j].ndim; d++) ent[ne].shape[d] = info[j].shape[d];
            ne++;
        }
    }
    char v[4][40];
    snprintf(v[0], 40, "%.9g", terms[EB_UTERM_LOSS]);
    snprintf(v[1], 40, "%.9g", terms[EB_UTERM_U_REAL]);
    snprintf(v[2], 40, "%.9g", terms[EB_UTERM_U_FAKE]);
    snprintf(v[3], 40, "%.9g", terms[EB_UTERM_PENALTY]);
    eb_st_meta meta[6] = {{"loss", v[0]}, {"u_real", v[1]}, {"u_fake", v[2]}, {"penalty", v[3]},
                          {"penalty_kind", t.cfg.penalty}, {"definition",
                          "loss = mean U(real) - mean U(fake) + penalty; penalty = lambda/B sum_i ||grad_x U(x_i)||^2 "
                          "(score, on real) or lambda/B sum_i (||grad U(x_hat_i)|| - 1)^2 (wgan-gp)"}};
    if (eb_safetensors_write(c.out, ent, ne, meta, 6) != EB_OK) ret = fail("grads");
    else printf("wrote %d gradients of the U-step loss (loss %.6g, penalty %.6g) to %s\n", ne / 2, terms[EB_UTERM_LOSS],
                terms[EB_UTERM_PENALTY], c.out);
    free(info);
    free(ent);
    free(names);
out:
    if (us.arena) eb_ustep_free(&us, &t.be);
    free(full);
    free(base);
    free(pen);
    eb_npy_free(&r);
    eb_npy_free(&f);
    eb_trainer_free(&t);
    return ret;
}

/* ---- eval ---- */
typedef struct { char run[1024], device[8], classifier[1024], g_weights[8]; int n, anomaly; unsigned long long seed; } eval_cfg;
#define V(f) EB_OPT_FIELD(eval_cfg, f)
static const eb_opt g_eval_opts[] = {
    {"run", EB_OPT_STR, V(run), "", "run directory"},
    {"n", EB_OPT_INT, V(n), "0", "number of generator samples (0: 10000 for 2-D mixtures, 26000 for stacked images "
                                 "as the paper's StackedMNIST)"},
    {"seed", EB_OPT_U64, V(seed), "12345", "seed of z"},
    {"device", EB_OPT_STR, V(device), "", "auto | cpu | cuda (default: the run's)"},
    {"classifier", EB_OPT_STR, V(classifier), "classifier-fashion.safetensors",
     "stacked images: the classifier of each channel (made by `ebgan-gpu train-classifier`)"},
    {"anomaly", EB_OPT_FLAG, V(anomaly), "0",
     "score the anomaly test split of a --holdout-class run by U(x) and ||grad_x U(x)|| (AUPRC, ROC AUC)"},
    {"g-weights", EB_OPT_STR, V(g_weights), "", "ema | raw: the generator's moving average (--g-ema) or its trained "
                                                "weights (default: ema when the run keeps one)"},
};
#undef V

#define EVAL_DENSITY_GRID 400     /* cells per axis: 0.01 wide, under the modes' std of 0.0177 */
#define EVAL_DENSITY_RANGE 2.0    /* [-2, 2]^2, the heat map's window */
#define EVAL_HELD_OUT_SALT 0x484f4c44ULL /* held-out points: a stream no training draw uses */

/* The energy as a density (eval.h): U on the grid and on n fresh points of the run's mixture. */
static eb_status eval_density(eb_trainer *t, int n, uint64_t seed, eb_toy_density *out) {
    const int g = EVAL_DENSITY_GRID;
    float *grid = malloc((size_t)g * g * 2 * sizeof(float)), *ug = malloc((size_t)g * g * sizeof(float));
    float *held = malloc((size_t)n * 2 * sizeof(float)), *uh = malloc((size_t)n * sizeof(float));
    eb_status st = EB_OK;
    if (!grid || !ug || !held || !uh) st = EB_FAIL(EB_ERR_OOM, "eval: density buffers");
    const double lo = -EVAL_DENSITY_RANGE, h = 2 * EVAL_DENSITY_RANGE / g;
    for (int iy = 0; st == EB_OK && iy < g; iy++)
        for (int ix = 0; ix < g; ix++) {
            grid[2 * ((size_t)iy * g + ix)] = (float)(lo + (ix + 0.5) * h);
            grid[2 * ((size_t)iy * g + ix) + 1] = (float)(lo + (iy + 0.5) * h);
        }
    if (st == EB_OK) {
        eb_rng rng;
        eb_rng_init(&rng, seed ^ EVAL_HELD_OUT_SALT);
        eb_toy_fill(t->toy, &rng, held, (size_t)n);
        st = eb_trainer_energy(t, grid, g * g, ug);
    }
    if (st == EB_OK) st = eb_trainer_energy(t, held, n, uh);
    if (st == EB_OK) st = eb_eval_toy_density(t->toy, ug, g, lo, -lo, uh, (size_t)n, out);
    free(grid);
    free(ug);
    free(held);
    free(uh);
    return st;
}

int eb_cli_eval(int argc, char **argv) {
    eval_cfg c;
    int rc = parse(g_eval_opts, (int)(sizeof g_eval_opts / sizeof g_eval_opts[0]), &c, argc, argv,
                   "usage: ebgan-gpu eval --run DIR [--n N] [--classifier FILE.safetensors] [--anomaly]", "eval");
    if (rc) return rc > 0 ? 0 : 2;
    if (!c.run[0] || c.n < 0) {
        fprintf(stderr, "ebgan-gpu eval: --run DIR is required (and --n >= 0)\n");
        return 2;
    }
    eb_trainer t;
    int load_rc = eb_cli_load_run(c.run, c.device, c.g_weights, &t);
    if (load_rc) return load_rc;
    int ret = 0;
    if (c.anomaly) {
        ret = eb_cli_eval_anomaly(&t, c.run);
        eb_trainer_free(&t);
        return ret;
    }
    if (!t.is_toy) {
        eb_shape xs = t.gan.x_shape;
        if (t.cfg.stack >= 2 && xs.c == t.cfg.stack && xs.h == 28 && xs.w == 28)
            ret = eb_cli_eval_stacked(&t, c.run, c.classifier, c.n ? c.n : 26000, c.seed);
        else {
            fprintf(stderr, "ebgan-gpu eval: only the 2-D mixtures (8gaussians, 25gaussians) and stacked 28x28 images "
                            "(--stack >= 2) are evaluated so far; run %s trained on %s\n", c.run, t.cfg.dataset);
            ret = 1;
        }
        eb_trainer_free(&t);
        return ret;
    }
    if (c.n == 0) c.n = 10000;
    float *x = malloc((size_t)c.n * 2 * sizeof(float));
    eb_toy_eval ev;
    eb_toy_density dens;
    if (!x) {
        fprintf(stderr, "ebgan-gpu eval: out of memory: --n %d needs %.3g GB of host buffers\n", c.n,
                (double)c.n * 2 * sizeof(float) / 1e9);
        ret = 1;
    } else if (eb_trainer_samples(&t, c.n, c.seed, x) != EB_OK || eb_eval_toy(t.toy, x, (size_t)c.n, &ev) != EB_OK ||
               eval_density(&t, c.n, c.seed, &dens) != EB_OK) {
        ret = fail("eval");
    } else {
        eb_json_line l; /* non-finite values print as null, never as nan */
        eb_json_line_begin(&l);
        eb_json_line_str(&l, "dataset", eb_toy_name(t.toy));
        eb_json_line_int(&l, "step", t.step);
        eb_json_line_int(&l, "samples", c.n);
        eb_json_line_int(&l, "modes", ev.n_modes);
        eb_json_line_int(&l, "modes_covered", ev.modes_covered);
        eb_json_line_num(&l, "high_quality_fraction", round(ev.hq_fraction * 1e4) / 1e4);
        eb_json_line_num(&l, "kl_modes_uniform", round(ev.kl_uniform * 1e4) / 1e4);
        eb_json_line_num(&l, "density_nll", round(dens.nll * 1e4) / 1e4);
        eb_json_line_num(&l, "density_mass_near_modes", round(dens.mass_near * 1e4) / 1e4);
        eb_json_line_num(&l, "density_mass_uniform", round(dens.mass_uniform * 1e4) / 1e4);
        eb_json_line_num(&l, "density_mode_kl", round(dens.mode_mass_kl * 1e4) / 1e4);
        eb_json_line_num(&l, "density_top3_share", round(dens.top3_share * 1e4) / 1e4);
        eb_json_line_end(&l);
        printf("%s\n", l.buf);
        char path[1100];
        snprintf(path, sizeof path, "%s/eval.json", c.run);
        char text[EB_JSON_LINE_MAX + 2];
        int n = snprintf(text, sizeof text, "%s\n", l.buf);
        if (eb_atomic_write_file(path, text, (size_t)n) != EB_OK) ret = fail("eval");
    }
    free(x);
    eb_trainer_free(&t);
    return ret;
}
