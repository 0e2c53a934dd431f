/* The anomaly protocol (anomaly.h): the held-out split as the paper makes it, and AUPRC / average precision /
 * ROC AUC equal to scikit-learn's on random scores with many ties. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebgan/anomaly.h"
#include "harness.h"

/* n images of 1x2x2 whose first two pixels encode a global id (so every image is identifiable), label
 * (id * 7) % 10. */
static int make_labelled(eb_dataset *ds, const char *name, int64_t n, int64_t id0) {
    if (eb_dataset_init(ds, name, n, 1, 2, 2, EB_DATA_U8, 1) != EB_OK) return 0;
    ds->n_classes = 10;
    for (int64_t i = 0; i < n; i++) {
        int64_t id = id0 + i;
        ds->u8[4 * i] = (uint8_t)(id & 0xFF);
        ds->u8[4 * i + 1] = (uint8_t)(id >> 8);
        ds->labels[i] = (int32_t)((id * 7) % 10);
    }
    return 1;
}

static int64_t row_id(const eb_dataset *ds, int64_t i) { return ds->u8[4 * i] | (int64_t)ds->u8[4 * i + 1] << 8; }

EB_TEST(holdout_split_follows_the_papers_protocol) {
    eb_dataset a, b, train, test, train2, test2;
    EB_CHECK(make_labelled(&a, "a", 3000, 0) && make_labelled(&b, "b", 1000, 3000), "alloc");
    const eb_dataset *srcs[2] = {&a, &b};
    const int k = 3;
    EB_CHECK_OK(eb_dataset_holdout_split(srcs, 2, k, &train, &test));
    int64_t n_held = 0;
    for (int64_t i = 0; i < 4000; i++) n_held += (i * 7) % 10 == k;
    const int64_t n_norm = 4000 - n_held, n_train = n_norm * 80 / 100;
    EB_CHECK(train.n == n_train, "train %lld, expected floor(0.8 * %lld)", (long long)train.n, (long long)n_norm);
    EB_CHECK(test.n == n_norm - n_train + n_held, "test %lld", (long long)test.n);
    /* every pooled image exactly once; no held-out image in training; the held-out class after the normals */
    char *seen = calloc(4000, 1);
    for (int64_t i = 0; i < train.n; i++) {
        int64_t id = row_id(&train, i);
        EB_CHECK(train.labels[i] != k && train.labels[i] == (int32_t)((id * 7) % 10), "train row %lld", (long long)i);
        seen[id]++;
    }
    for (int64_t i = 0; i < test.n; i++) {
        int64_t id = row_id(&test, i);
        EB_CHECK(test.labels[i] == (int32_t)((id * 7) % 10), "label of test row %lld", (long long)i);
        EB_CHECK((test.labels[i] == k) == (i >= n_norm - n_train), "test row %lld: normals first, then class %d",
                 (long long)i, k);
        seen[id]++;
    }
    for (int64_t id = 0; id < 4000; id++) EB_CHECK(seen[id] == 1, "image %lld seen %d times", (long long)id, seen[id]);
    free(seen);
    /* shuffled (not the source order), and the same split every time: the seed is fixed */
    int64_t in_order = 0;
    for (int64_t i = 1; i < train.n; i++) in_order += row_id(&train, i) > row_id(&train, i - 1);
    EB_CHECK(in_order < train.n * 6 / 10, "training set looks unshuffled (%lld ascending pairs)", (long long)in_order);
    EB_CHECK_OK(eb_dataset_holdout_split(srcs, 2, k, &train2, &test2));
    EB_CHECK(!memcmp(train.u8, train2.u8, (size_t)train.n * 4) && !memcmp(test.u8, test2.u8, (size_t)test.n * 4),
             "split differs between calls");
    eb_dataset_free(&train);
    eb_dataset_free(&test);
    eb_dataset_free(&train2);
    eb_dataset_free(&test2);
    eb_dataset_free(&a);
    eb_dataset_free(&b);
    return EB_TEST_PASS;
}

EB_TEST(holdout_rejects_unlabelled_data_and_classes_out_of_range) {
    eb_dataset a, train, test;
    EB_CHECK(make_labelled(&a, "labelled.idx", 100, 0), "alloc");
    const eb_dataset *srcs[1] = {&a};
    EB_CHECK(eb_dataset_holdout_split(srcs, 1, 10, &train, &test) == EB_ERR_ARG, "class 10 of 10");
    EB_CHECK(strstr(eb_error_message(), "--holdout-class 10 is out of range") &&
                 strstr(eb_error_message(), "classes 0..9"), "message: %s", eb_error_message());
    EB_CHECK(eb_dataset_holdout_split(srcs, 1, -1, &train, &test) == EB_ERR_ARG, "class -1");
    free(a.labels);
    a.labels = NULL;
    a.n_classes = 0;
    EB_CHECK(eb_dataset_holdout_split(srcs, 1, 0, &train, &test) == EB_ERR_ARG, "no labels");
    EB_CHECK(strstr(eb_error_message(), "needs labelled data: labelled.idx has no labels"), "message: %s",
             eb_error_message());
    EB_CHECK(train.n == 0 && test.n == 0, "nothing returned on error");
    eb_dataset_free(&a);
    return EB_TEST_PASS;
}

/* Worked by hand: scores 0.9+ 0.8- 0.7+ 0.6- (+ = anomaly). Thresholds give (recall, precision)
 * (.5, 1) (.5, .5) (1, 2/3) (1, .5) after the start (0, 1); ROC (0, .5) (.5, .5) (.5, 1) (1, 1). */
EB_TEST(metrics_of_a_small_case_worked_by_hand) {
    const float s[4] = {0.9f, 0.8f, 0.7f, 0.6f};
    const uint8_t y[4] = {1, 0, 1, 0};
    eb_anomaly_metrics m;
    EB_CHECK_OK(eb_anomaly_metrics_compute(s, y, 4, &m));
    const double auprc = 0.5 * 1.0 + 0.5 * (0.5 + 2.0 / 3.0) / 2, ap = 0.5 * 1.0 + 0.5 * (2.0 / 3.0), roc = 0.75;
    EB_CHECK(fabs(m.auprc - auprc) < 1e-15, "auprc %.17g, expected %.17g", m.auprc, auprc);
    EB_CHECK(fabs(m.average_precision - ap) < 1e-15, "ap %.17g, expected %.17g", m.average_precision, ap);
    EB_CHECK(fabs(m.roc_auc - roc) < 1e-15, "roc %.17g", m.roc_auc);
    EB_CHECK(m.base_rate == 0.5 && m.n == 4 && m.n_pos == 2, "base rate %g", m.base_rate);
    /* all tied: one threshold, the chance figures */
    const float t[4] = {1, 1, 1, 1};
    EB_CHECK_OK(eb_anomaly_metrics_compute(t, y, 4, &m));
    EB_CHECK(fabs(m.roc_auc - 0.5) < 1e-15 && fabs(m.average_precision - 0.5) < 1e-15 &&
                 fabs(m.auprc - 0.75) < 1e-15, "tied: roc %g ap %g auprc %g", m.roc_auc, m.average_precision, m.auprc);
    return EB_TEST_PASS;
}

EB_TEST(metrics_reject_one_class_and_nonfinite_scores) {
    const float s[3] = {1, 2, 3}, bad[3] = {1, NAN, 3};
    const uint8_t none[3] = {0, 0, 0}, some[3] = {0, 1, 0};
    eb_anomaly_metrics m;
    EB_CHECK(eb_anomaly_metrics_compute(s, none, 3, &m) == EB_ERR_ARG, "no anomaly");
    EB_CHECK(strstr(eb_error_message(), "both classes"), "message: %s", eb_error_message());
    EB_CHECK(eb_anomaly_metrics_compute(bad, some, 3, &m) == EB_ERR_NUMERIC, "NaN score");
    EB_CHECK(strstr(eb_error_message(), "score 1 is nan"), "message: %s", eb_error_message());
    return EB_TEST_PASS;
}

static int have_sklearn(void) {
    return system("python3 -c 'import numpy, sklearn.metrics' >/dev/null 2>&1") == 0;
}

/* Random scores on a coarse grid (many ties), random labels at several base rates and sizes: every figure
 * within 1e-12 of scikit-learn's (precision_recall_curve + auc as the paper, average_precision_score,
 * roc_auc_score), and the PR curve point for point. */
EB_TEST(metrics_match_scikit_learn_on_random_scores_with_ties) {
    if (!have_sklearn()) {
        printf("  python3 with numpy + scikit-learn not importable: skipped\n");
        return EB_TEST_SKIP;
    }
    const char *bin = getenv("EBGAN_BINARY_DIR"), *src = getenv("EBGAN_SOURCE_DIR");
    char dir[1024], path[1200], cmd[4000];
    snprintf(dir, sizeof dir, "%s/test-runs/anomaly-sklearn", bin ? bin : ".");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    EB_CHECK(system(cmd) == 0, "scratch dir");
    snprintf(path, sizeof path, "%s/cases.txt", dir);
    FILE *f = fopen(path, "w");
    EB_CHECK(f, "open %s", path);
    uint32_t r = 2024u;
    const int sizes[5] = {7, 50, 333, 2000, 20000};
    const double rates[3] = {0.05, 0.36, 0.8};
    const int levels[3] = {3, 20, 100000}; /* distinct score values: from almost all tied to few ties */
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 3; c++) {
                int n = sizes[a];
                float *s = malloc((size_t)n * sizeof *s);
                uint8_t *y = malloc((size_t)n);
                int pos = 0;
                for (int i = 0; i < n; i++) {
                    r = r * 1664525u + 1013904223u;
                    y[i] = (r >> 8) * (1.0 / 16777216.0) < rates[b];
                    r = r * 1664525u + 1013904223u;
                    /* anomalies score a little higher on average, so the figures are not all at chance */
                    s[i] = (float)((int)((r >> 8) % (uint32_t)levels[c]) + (y[i] ? levels[c] / 4 : 0)) * 0.37f;
                    pos += y[i];
                }
                if (pos == 0) y[0] = 1;
                if (pos == n) y[0] = 0;
                eb_anomaly_metrics m;
                double *rc, *pc;
                size_t k;
                EB_CHECK_OK(eb_anomaly_metrics_compute(s, y, (size_t)n, &m));
                EB_CHECK_OK(eb_anomaly_pr_curve(s, y, (size_t)n, &rc, &pc, &k));
                fprintf(f, "case %d %.17g %.17g %.17g %.17g\n", n, m.auprc, m.average_precision, m.roc_auc, m.base_rate);
                for (int i = 0; i < n; i++) fprintf(f, "%.9g %d\n", (double)s[i], y[i]);
                fprintf(f, "curve %zu\n", k);
                for (size_t i = 0; i < k; i++) fprintf(f, "%.17g %.17g\n", rc[i], pc[i]);
                free(rc);
                free(pc);
                free(s);
                free(y);
            }
    fclose(f);
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/py/check_anomaly_metrics.py' '%s'", src ? src : "..", path);
    int rc = system(cmd);
    EB_CHECK(rc == 0, "scikit-learn disagrees (status %d); cases in %s", rc, path);
    return EB_TEST_PASS;
}
