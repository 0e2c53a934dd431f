/* --eval-every (eval_during.h): mode coverage of the 2-D mixtures, or of stacked images by the classifier,
 * measured on samples of a fixed z between iterations, for G and for its moving average. */
#include "eval_during.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ebgan/classifier.h"
#include "ebgan/eval.h"

static double clock_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Four decimals, as `ebgan-gpu eval` prints them: a curve's point and a later eval compare equal. */
static double r4(double v) { return round(v * 1e4) / 1e4; }

static int is_stacked(const eb_trainer *t) {
    const eb_shape xs = t->gan.x_shape;
    return !t->is_toy && t->cfg.stack >= 2 && xs.c == t->cfg.stack && xs.h == 28 && xs.w == 28;
}

static int sample_count(const eb_trainer *t) {
    if (t->cfg.eval_n > 0) return t->cfg.eval_n;
    return t->is_toy ? 10000 : 26000; /* eval's defaults: VEEGAN's and the paper's StackedMNIST counts */
}

eb_status eb_eval_during_check(const eb_trainer *t) {
    if (t->cfg.eval_every <= 0) return EB_OK;
    double centres[2 * EB_TOY_MAX_MODES], sd;
    if (t->is_toy && eb_toy_modes(t->toy, centres, &sd) == 0)
        return EB_FAIL(EB_ERR_ARG, "--eval-every: %s has no modes to evaluate", eb_toy_name(t->toy));
    if (t->is_toy) return EB_OK;
    if (!is_stacked(t))
        return EB_FAIL(EB_ERR_ARG, "--eval-every evaluates the 2-D mixtures and stacked 28x28 images (--stack >= 2); "
                       "this run trains on %s", t->cfg.dataset);
    if (!t->cfg.eval_classifier[0])
        return EB_FAIL(EB_ERR_ARG, "--eval-every on stacked images needs --eval-classifier FILE (made by "
                       "`ebgan-gpu train-classifier`)");
    FILE *f = fopen(t->cfg.eval_classifier, "rb");
    if (!f) return EB_FAIL(EB_ERR_IO, "--eval-classifier %s: cannot be read", t->cfg.eval_classifier);
    fclose(f);
    return EB_OK;
}

/* One generator's figures into slot k. */
static eb_status eval_one(eb_trainer *t, eb_classifier *cl, float *x, int32_t *labels, int n, eb_eval_point *p,
                          int k) {
    EB_TRY(eb_trainer_samples(t, n, EB_EVAL_DURING_SEED, x));
    if (t->is_toy) {
        eb_toy_eval ev;
        EB_TRY(eb_eval_toy(t->toy, x, (size_t)n, &ev));
        p->modes_covered[k] = ev.modes_covered;
        p->hq_fraction[k] = r4(ev.hq_fraction);
        p->kl_uniform[k] = r4(ev.kl_uniform);
        return EB_OK;
    }
    const int S = t->gan.x_shape.c;
    eb_stacked_eval ev;
    EB_TRY(eb_classifier_predict(cl, &t->be, x, (size_t)n * (size_t)S, labels));
    EB_TRY(eb_eval_stacked(labels, (size_t)n, S, cl->n_classes, &ev));
    p->modes_covered[k] = ev.modes_covered;
    p->hq_fraction[k] = NAN;
    p->kl_uniform[k] = ev.kl_uniform; /* as `eval` prints it for stacked images: unrounded */
    eb_stacked_eval_free(&ev);
    return EB_OK;
}

eb_status eb_eval_during_run(eb_trainer *t, eb_eval_point *p) {
    memset(p, 0, sizeof *p);
    const double t0 = clock_s();
    const int n = sample_count(t);
    const size_t xd = (size_t)eb_shape_numel(t->gan.x_shape);
    eb_classifier cl;
    memset(&cl, 0, sizeof cl);
    int has_cl = 0;
    float *x = malloc((size_t)n * xd * sizeof(float));
    int32_t *labels = t->is_toy ? NULL : malloc((size_t)n * (size_t)t->gan.x_shape.c * sizeof(int32_t));
    eb_status st = x && (t->is_toy || labels) ? EB_OK : EB_FAIL(EB_ERR_OOM, "--eval-every: buffers for %d samples", n);
    if (st == EB_OK && !t->is_toy) {
        st = eb_classifier_load(&cl, &t->be, t->cfg.eval_classifier, 256);
        has_cl = st == EB_OK;
    }
    p->n_gens = t->g_ema.w ? 2 : 1;
    p->samples = n;
    if (st == EB_OK) st = eval_one(t, &cl, x, labels, n, p, 0);
    if (st == EB_OK && t->g_ema.w) { /* the average stands in for G, then G's own tensors go back */
        st = eb_g_ema_stand_in(&t->g_ema, &t->be, &t->gan.G);
        if (st == EB_OK) st = eval_one(t, &cl, x, labels, n, p, 1);
        eb_status back = eb_g_ema_stand_down(&t->g_ema, &t->be, &t->gan.G);
        if (st == EB_OK) st = back;
    }
    if (has_cl) eb_classifier_free(&cl, &t->be);
    free(x);
    free(labels);
    p->done = st == EB_OK;
    p->seconds = clock_s() - t0;
    return st;
}

void eb_eval_during_json(const eb_eval_point *p, eb_json_line *l) {
    if (!p->done) return;
    static const char *const pre[2] = {"eval_", "eval_ema_"};
    char key[64];
    eb_json_line_int(l, "eval_samples", p->samples);
    for (int k = 0; k < p->n_gens; k++) {
        snprintf(key, sizeof key, "%smodes_covered", pre[k]);
        eb_json_line_int(l, key, p->modes_covered[k]);
        if (!isnan(p->hq_fraction[k])) {
            snprintf(key, sizeof key, "%shigh_quality_fraction", pre[k]);
            eb_json_line_num(l, key, p->hq_fraction[k]);
        }
        snprintf(key, sizeof key, "%skl_modes_uniform", pre[k]);
        eb_json_line_num(l, key, p->kl_uniform[k]);
    }
    eb_json_line_num(l, "eval_s", round(p->seconds * 1000) / 1000);
}

eb_status eb_eval_during_tb(eb_trainer *t, int64_t step, const eb_eval_point *p) {
    if (!p->done) return EB_OK;
    static const char *const tags[2][3] = {
        {"eval/modes_covered", "eval/high_quality_fraction", "eval/kl_modes_uniform"},
        {"eval_ema/modes_covered", "eval_ema/high_quality_fraction", "eval_ema/kl_modes_uniform"}};
    eb_tb_scalar v[7];
    int n = 0;
    for (int k = 0; k < p->n_gens; k++) {
        v[n++] = (eb_tb_scalar){tags[k][0], (double)p->modes_covered[k]};
        if (!isnan(p->hq_fraction[k])) v[n++] = (eb_tb_scalar){tags[k][1], p->hq_fraction[k]};
        v[n++] = (eb_tb_scalar){tags[k][2], p->kl_uniform[k]};
    }
    v[n++] = (eb_tb_scalar){"speed/eval_s", p->seconds};
    return eb_trainer_tb_scalars(t, step, v, n);
}
