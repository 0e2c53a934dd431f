/* `ebgan-gpu eval --anomaly`: scores the run's anomaly test split (anomaly.h) by U(x) and ||grad_x U(x)||,
 * prints the ranking figures as one JSON line and writes them, the scores and the PR-curve picture. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ebgan/anomaly.h"
#include "ebgan/png_write.h"
#include "ebgan/train.h"

/* U(x) and ||grad_x U(x)|| of every test image, B at a time through the G step's U workspace. */
static eb_status score_split(eb_trainer *t, float *energy, float *gnorm) {
    const eb_backend *be = &t->be;
    const eb_dataset *ds = &t->holdout_test;
    const int B = t->cfg.batch;
    const size_t xd = (size_t)eb_shape_numel(t->gan.x_shape);
    float *x = malloc((size_t)B * xd * sizeof(float)), *g = malloc((size_t)B * xd * sizeof(float));
    int32_t *idx = malloc((size_t)B * sizeof *idx);
    eb_status st = (!x || !g || !idx) ? EB_FAIL(EB_ERR_OOM, "eval --anomaly: host buffers") : EB_OK;
    for (int64_t i = 0; st == EB_OK && i < ds->n; i += B) {
        int m = (int)(ds->n - i < B ? ds->n - i : B);
        for (int r = 0; r < m; r++) idx[r] = (int32_t)(i + r);
        st = eb_dataset_gather(ds, idx, (size_t)m, x);
        if (st == EB_OK) st = be->ops->mem_upload(be->ctx, t->x_real, x, (size_t)m * xd * sizeof(float));
        if (st == EB_OK) st = eb_net_forward(be, &t->gan.U, &t->gs.ws_U, t->x_real, m, EB_MODE_INFER);
        if (st == EB_OK)
            st = be->ops->mem_download(be->ctx, energy + i, t->gs.ws_U.h[t->gan.U.n_layers], (size_t)m * sizeof(float));
        if (st == EB_OK) st = be->ops->fill(be->ctx, t->gs.seed, 1, (size_t)m); /* d U_i / d x_i */
        if (st == EB_OK) st = eb_net_backward(be, &t->gan.U, &t->gs.ws_U, t->gs.seed, m, EB_MODE_INFER, 0, t->gs.dx, 0);
        if (st == EB_OK) st = be->ops->mem_download(be->ctx, g, t->gs.dx, (size_t)m * xd * sizeof(float));
        for (int r = 0; st == EB_OK && r < m; r++) {
            double s = 0;
            for (size_t j = 0; j < xd; j++) s += (double)g[(size_t)r * xd + j] * g[(size_t)r * xd + j];
            gnorm[i + r] = (float)sqrt(s);
        }
    }
    free(x);
    free(g);
    free(idx);
    return st;
}

static eb_status write_outputs(const char *run, const float *energy, const float *gnorm, const uint8_t *pos,
                               size_t n, double base_rate, char *png_path, size_t cap) {
    float *tab = malloc(n * 3 * sizeof(float));
    if (!tab) return EB_FAIL(EB_ERR_OOM, "eval --anomaly: score table");
    for (size_t i = 0; i < n; i++) tab[3 * i] = energy[i], tab[3 * i + 1] = gnorm[i], tab[3 * i + 2] = pos[i];
    char path[1200];
    snprintf(path, sizeof path, "%s/anomaly_scores.npy", run);
    int64_t shape[2] = {(int64_t)n, 3};
    eb_status st = eb_npy_write(path, EB_F32, 2, shape, tab);
    free(tab);
    EB_TRY(st);
    double *r[2] = {0}, *p[2] = {0};
    size_t k[2] = {0};
    st = eb_anomaly_pr_curve(energy, pos, n, &r[0], &p[0], &k[0]);
    if (st == EB_OK) st = eb_anomaly_pr_curve(gnorm, pos, n, &r[1], &p[1], &k[1]);
    if (st == EB_OK) {
        double bx[2] = {0, 1}, by[2] = {base_rate, base_rate};
        /* blue: U(x); orange: ||grad U||; grey dashes: the base rate (a random score) */
        eb_chart_curve cv[3] = {{bx, by, 2, {150, 150, 150}, 6}, {r[0], p[0], k[0], {31, 119, 180}, 0},
                                {r[1], p[1], k[1], {255, 127, 14}, 0}};
        snprintf(png_path, cap, "%s/pr_curve.png", run);
        st = eb_png_write_chart(png_path, cv, 3, 480);
    }
    for (int i = 0; i < 2; i++) free(r[i]), free(p[i]);
    return st;
}

int eb_cli_eval_anomaly(struct eb_trainer *t, const char *run) {
    if (t->holdout_class < 0) {
        fprintf(stderr, "ebgan-gpu eval --anomaly: run %s was trained without --holdout-class, so it has no anomaly "
                        "test split\n", run);
        return 1;
    }
    const eb_dataset *ds = &t->holdout_test;
    size_t n = (size_t)ds->n;
    float *energy = malloc(n * sizeof(float)), *gnorm = malloc(n * sizeof(float));
    uint8_t *pos = malloc(n);
    eb_anomaly_metrics me, mg;
    char png[1200] = "";
    eb_status st = (!energy || !gnorm || !pos) ? EB_FAIL(EB_ERR_OOM, "eval --anomaly: %zu scores", n) : EB_OK;
    for (size_t i = 0; st == EB_OK && i < n; i++) pos[i] = ds->labels[i] == t->holdout_class;
    if (st == EB_OK) st = score_split(t, energy, gnorm);
    if (st == EB_OK) st = eb_anomaly_metrics_compute(energy, pos, n, &me);
    if (st == EB_OK) st = eb_anomaly_metrics_compute(gnorm, pos, n, &mg);
    if (st == EB_OK) st = write_outputs(run, energy, gnorm, pos, n, me.base_rate, png, sizeof png);
    int ret = 0;
    if (st != EB_OK) {
        fprintf(stderr, "ebgan-gpu eval --anomaly: %s\n", eb_error_message());
        ret = 1;
    } else {
        char line[2048];
        snprintf(line, sizeof line,
                 "{\"dataset\": \"%s\", \"anomaly_class\": %d, \"step\": %lld, \"test_samples\": %lld, "
                 "\"anomalies\": %lld, \"base_rate\": %.6f, \"energy_auprc\": %.6f, \"energy_average_precision\": %.6f, "
                 "\"energy_roc_auc\": %.6f, \"grad_norm_auprc\": %.6f, \"grad_norm_average_precision\": %.6f, "
                 "\"grad_norm_roc_auc\": %.6f, \"pr_curve\": \"%s\"}",
                 t->cfg.dataset, t->holdout_class, (long long)t->step, (long long)me.n, (long long)me.n_pos,
                 me.base_rate, me.auprc, me.average_precision, me.roc_auc, mg.auprc, mg.average_precision,
                 mg.roc_auc, png);
        printf("%s\n", line);
        char path[1200];
        snprintf(path, sizeof path, "%s/eval_anomaly.json", run);
        FILE *f = fopen(path, "w");
        if (!f || fprintf(f, "%s\n", line) < 0 || fclose(f) != 0) {
            fprintf(stderr, "ebgan-gpu eval --anomaly: cannot write %s\n", path);
            ret = 1;
        }
    }
    free(energy);
    free(gnorm);
    free(pos);
    return ret;
}
