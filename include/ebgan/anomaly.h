/* Anomaly detection as in the MEG paper's MNIST experiment: one class held out of training, a fixed split of
 * the normal classes, and the energy U(x) or ||grad_x U(x)|| as the anomaly score, ranked by AUPRC. */
#ifndef EBGAN_ANOMALY_H
#define EBGAN_ANOMALY_H

#include <stddef.h>
#include <stdint.h>
#include "ebgan/data.h"

/* ---- the split (src/host/data/data_holdout.c) ----
 * The paper's data/mnist_anomaly.py: every image of the sources pooled (for fashion-mnist the trainer pools
 * the training and the t10k files: 70000 images, as the paper pools all of MNIST); the images not of class k
 * (the normals) shuffled by a fixed seed; the first floor(0.8 n_normal) are the training set; the test set is
 * the other normals followed by every image of class k, in source order. The seed is fixed (not --seed), so
 * every run of a class sees the same split. Labels are kept (class ids); anomaly = label == k. */
#define EB_HOLDOUT_SEED 42ULL
#define EB_HOLDOUT_TRAIN_PERCENT 80

/* The paper trains this experiment with lambda = 100 on its channel-norm penalty (mean over pixels), which is
 * lambda = 100 / (H W) on our full per-sample norm (DESIGN.md §1): the default under --holdout-class. */
#define EB_HOLDOUT_PAPER_LAMBDA 100.0
static inline double eb_holdout_lambda(eb_shape x) { return EB_HOLDOUT_PAPER_LAMBDA / ((double)x.h * (double)x.w); }

/* EB_ERR_ARG naming the cause when a source has no labels, the sources differ in shape or storage, or k is
 * outside [0, n_classes). */
eb_status eb_dataset_holdout_split(const eb_dataset *const *srcs, int n_srcs, int k, eb_dataset *train,
                                   eb_dataset *test);

/* ---- the figures (src/host/train/eval_anomaly.c), anomaly = positive, higher score = more anomalous ----
 * As scikit-learn computes them: the curve has one point per distinct score (ties form one threshold).
 *   auprc:             auc(recall, precision) of precision_recall_curve, the trapezoid rule over the curve
 *                      with its end point (recall 0, precision 1): what the paper's code reports;
 *   average_precision: sum_i (R_i - R_{i-1}) P_i (average_precision_score, no interpolation);
 *   roc_auc:           trapezoids under (FPR, TPR) from (0, 0) (roc_auc_score; ties count one half);
 *   base_rate:         positives / n, the AUPRC and AP of a random score. */
typedef struct eb_anomaly_metrics {
    double auprc, average_precision, roc_auc, base_rate;
    int64_t n, n_pos;
} eb_anomaly_metrics;

/* EB_ERR_ARG without both classes; EB_ERR_NUMERIC for a score that is not finite (a diverged model). */
eb_status eb_anomaly_metrics_compute(const float *score, const uint8_t *positive, size_t n, eb_anomaly_metrics *m);

/* The precision-recall curve in order of increasing recall, starting at (recall 0, precision 1): *npts points
 * in malloc'd arrays (free both). */
eb_status eb_anomaly_pr_curve(const float *score, const uint8_t *positive, size_t n, double **recall,
                              double **precision, size_t *npts);

#endif
