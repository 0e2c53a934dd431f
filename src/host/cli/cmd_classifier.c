/* `ebgan-gpu train-classifier` (the Fashion-MNIST classifier, its test accuracy in the file's metadata) and the
 * stacked-image branch of `eval`: each channel of each generator sample classified, modes counted (eval.h). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ebgan/backend.h"
#include "ebgan/classifier.h"
#include "ebgan/eval.h"
#include "ebgan/json.h"
#include "ebgan/train.h"
#include "options.h"

typedef struct {
    char out[1024], spec[1024], device[8];
    int steps, batch, log_every;
    unsigned long long seed;
    double lr;
} clf_cfg;

#define C(f) EB_OPT_FIELD(clf_cfg, f)
static const eb_opt g_clf_opts[] = {
    {"out", EB_OPT_STR, C(out), EB_CLASSIFIER_DEFAULT_FILE,
     "output .safetensors (spec and test accuracy in its metadata)"},
    {"steps", EB_OPT_INT, C(steps), "4000", "Adam steps, one minibatch each (4000 x 64 = 4.3 epochs)"},
    {"batch", EB_OPT_INT, C(batch), "64", "minibatch size"},
    {"lr", EB_OPT_DBL, C(lr), "0.001", "Adam learning rate (betas 0.9, 0.999)"},
    {"seed", EB_OPT_U64, C(seed), "0", "seed of the initial weights and the minibatches"},
    {"spec", EB_OPT_STR, C(spec), EB_CLASSIFIER_SPEC,
     "network spec on 1x28x28 (grammar of net.h), ending in 10 logits"},
    {"log-every", EB_OPT_INT, C(log_every), "500", "steps between progress lines (0: none)"},
    {"device", EB_OPT_STR, C(device), "auto", "auto | cpu | cuda"},
};
#undef C
#define N_CLF_OPTS ((int)(sizeof g_clf_opts / sizeof g_clf_opts[0]))

static double clf_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int eb_cli_train_classifier(int argc, char **argv) {
    clf_cfg c;
    char err[1200];
    int rc = eb_opts_parse(g_clf_opts, N_CLF_OPTS, &c, argc, argv,
                           "usage: ebgan-gpu train-classifier [--out FILE.safetensors] [--steps N] [--batch B] "
                           "[--seed S] [--device auto|cpu|cuda]",
                           err, sizeof err);
    if (rc < 0) fprintf(stderr, "ebgan-gpu train-classifier: %s\n", err);
    if (rc) return rc > 0 ? 0 : 2;
    if (c.steps < 1 || c.batch < 1) {
        fprintf(stderr, "ebgan-gpu train-classifier: --steps and --batch must be >= 1\n");
        return 2;
    }
    eb_backend_kind bk = !strcmp(c.device, "cpu") ? EB_BACKEND_CPU : !strcmp(c.device, "cuda") ? EB_BACKEND_CUDA
                       : EB_BACKEND_AUTO;
    if (strcmp(c.device, "cpu") && strcmp(c.device, "cuda") && strcmp(c.device, "auto")) {
        fprintf(stderr, "ebgan-gpu train-classifier: --device '%s': expected auto, cpu or cuda\n", c.device);
        return 2;
    }
    eb_dataset train, test;
    memset(&train, 0, sizeof train);
    memset(&test, 0, sizeof test);
    if (eb_fashion_mnist_load(&train, 0) != EB_OK || eb_fashion_mnist_load(&test, 1) != EB_OK) {
        fprintf(stderr, "ebgan-gpu train-classifier: %s (Debian package dataset-fashion-mnist)\n", eb_error_message());
        eb_dataset_free(&train);
        return 1;
    }
    eb_backend be;
    const char *notice = NULL;
    if (eb_backend_open(&be, bk, &notice) != EB_OK) {
        fprintf(stderr, "ebgan-gpu train-classifier: %s\n", eb_error_message());
        eb_dataset_free(&train);
        eb_dataset_free(&test);
        return 1;
    }
    if (notice) fprintf(stderr, "ebgan-gpu train-classifier: %s\n", notice);
    eb_classifier cl;
    eb_rng rng;
    eb_rng_init(&rng, c.seed ^ 0x434c4153ULL); /* weights: a stream apart from the minibatch draws */
    eb_classifier_train_cfg tc = {c.steps, c.batch, c.seed, c.lr, c.log_every};
    const int eval_batch = c.batch > 256 ? c.batch : 256;
    const double t0 = clf_now();
    double acc = 0;
    int ret = 0;
    printf("training the classifier %s on %lld Fashion-MNIST images: %d steps of %d (%s)\n", c.spec,
           (long long)train.n, c.steps, c.batch, be.ops->name);
    fflush(stdout);
    if (eb_classifier_init(&cl, &be, c.spec, eb_dataset_shape(&train), eval_batch) != EB_OK) {
        fprintf(stderr, "ebgan-gpu train-classifier: %s\n", eb_error_message());
        ret = 1;
    } else {
        if (eb_classifier_init_weights(&cl, &be, &rng) != EB_OK ||
            eb_classifier_train(&cl, &be, &train, &tc, stdout) != EB_OK ||
            eb_classifier_accuracy(&cl, &be, &test, &acc) != EB_OK || eb_classifier_save(&cl, &be, c.out) != EB_OK) {
            fprintf(stderr, "ebgan-gpu train-classifier: %s\n", eb_error_message());
            ret = 1;
        } else {
            printf("test accuracy %.4f on %lld Fashion-MNIST test images (%.1f s); wrote %s\n", acc, (long long)test.n,
                   clf_now() - t0, c.out);
        }
        eb_classifier_free(&cl, &be);
    }
    eb_backend_close(&be);
    eb_dataset_free(&train);
    eb_dataset_free(&test);
    return ret;
}

/* ---- eval on stacked images ---- */

/* Classifies every channel of n samples x[n, S, 28, 28] (row i*S + j of 784 floats is channel j of sample i)
 * and counts the modes. */
static eb_status stacked_count(eb_classifier *cl, const eb_backend *be, const float *x, size_t n, int S,
                               int32_t *labels, eb_stacked_eval *ev) {
    EB_TRY(eb_classifier_predict(cl, be, x, n * (size_t)S, labels));
    return eb_eval_stacked(labels, n, S, cl->n_classes, ev);
}

int eb_cli_eval_stacked(struct eb_trainer *t, const char *run, const char *classifier, int n, unsigned long long seed) {
    FILE *probe = fopen(classifier, "rb");
    if (!probe) {
        fprintf(stderr, "ebgan-gpu eval: no classifier at %s: run `ebgan-gpu train-classifier` first\n", classifier);
        return 1;
    }
    fclose(probe);
    const eb_backend *be = &t->be;
    eb_classifier cl;
    if (eb_classifier_load(&cl, be, classifier, 256) != EB_OK) {
        fprintf(stderr, "ebgan-gpu eval: %s\n", eb_error_message());
        return 1;
    }
    const eb_shape xs = t->gan.x_shape;
    const int S = xs.c;
    const size_t plane = (size_t)xs.h * (size_t)xs.w;
    int ret = 0;
    if (cl.net.in_shape.c != 1 || cl.net.in_shape.h != xs.h || cl.net.in_shape.w != xs.w) {
        char sb[48];
        fprintf(stderr, "ebgan-gpu eval: classifier %s takes %s images, the run's channels are 1x%dx%d\n", classifier,
                eb_shape_str(cl.net.in_shape, sb, sizeof sb), xs.h, xs.w);
        eb_classifier_free(&cl, be);
        return 1;
    }
    /* the real stacks (the first n of the run's fixed set, themselves uniform draws) through the same classifier:
     * what a perfect generator would score, i.e. the part of the figures that is classifier error */
    const size_t nr = (size_t)(t->data.n < (int64_t)n ? t->data.n : (int64_t)n);
    float *x = malloc((size_t)n * (size_t)S * plane * sizeof(float));
    int32_t *labels = malloc((size_t)n * (size_t)S * sizeof(int32_t)), *idx = malloc((nr + 1) * sizeof(int32_t));
    eb_stacked_eval ev, er;
    memset(&ev, 0, sizeof ev);
    memset(&er, 0, sizeof er);
    const double t0 = clf_now();
    eb_status st = x && labels && idx ? EB_OK : EB_FAIL(EB_ERR_OOM, "eval: buffers for %d samples", n);
    if (st == EB_OK) st = eb_trainer_samples(t, n, seed, x);
    if (st == EB_OK) st = stacked_count(&cl, be, x, (size_t)n, S, labels, &ev);
    for (size_t i = 0; i < nr; i++) idx[i] = (int32_t)i;
    if (st == EB_OK && nr) st = eb_dataset_gather(&t->data, idx, nr, x);
    if (st == EB_OK && nr) st = stacked_count(&cl, be, x, nr, S, labels, &er);
    if (st != EB_OK) {
        fprintf(stderr, "ebgan-gpu eval: %s\n", eb_error_message());
        ret = 1;
    } else {
        eb_json_line l;
        eb_json_line_begin(&l);
        eb_json_line_str(&l, "dataset", t->cfg.dataset);
        eb_json_line_int(&l, "stack", S);
        eb_json_line_int(&l, "step", t->step);
        eb_json_line_int(&l, "samples", n);
        eb_json_line_int(&l, "modes", ev.n_modes);
        eb_json_line_int(&l, "modes_covered", ev.modes_covered);
        eb_json_line_num(&l, "kl_modes_uniform", ev.kl_uniform);
        eb_json_line_str(&l, "classifier", classifier);
        eb_json_line_num(&l, "classifier_test_accuracy", cl.test_accuracy >= 0 ? cl.test_accuracy : NAN);
        eb_json_line_int(&l, "real_samples", (int64_t)nr);
        eb_json_line_int(&l, "real_modes_covered", nr ? er.modes_covered : 0);
        eb_json_line_num(&l, "real_kl_modes_uniform", nr ? er.kl_uniform : NAN);
        eb_json_line_num(&l, "eval_seconds", (double)(long)((clf_now() - t0) * 10) / 10);
        eb_json_line_end(&l);
        if (l.overflow) {
            fprintf(stderr, "ebgan-gpu eval: result line too long\n");
            ret = 1;
        } else {
            printf("%s\n", l.buf);
            char path[1100];
            snprintf(path, sizeof path, "%s/eval.json", run);
            FILE *f = fopen(path, "w");
            if (!f || fprintf(f, "%s\n", l.buf) < 0) {
                fprintf(stderr, "ebgan-gpu eval: cannot write %s\n", path);
                ret = 1;
            }
            if (f && fclose(f) != 0) ret = 1;
        }
    }
    eb_stacked_eval_free(&ev);
    eb_stacked_eval_free(&er);
    free(x);
    free(labels);
    free(idx);
    eb_classifier_free(&cl, be);
    return ret;
}
