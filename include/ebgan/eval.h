/* Sample-quality figures of the paper's experiments: mode coverage of the 2-D mixtures (VEEGAN's
 * definitions) — modes covered, fraction of high-quality samples, KL of the mode histogram from uniform —
 * and of stacked images (StackedMNIST: modes covered out of classes^stack, KL from uniform). */
#ifndef EBGAN_EVAL_H
#define EBGAN_EVAL_H

#include <stddef.h>
#include "ebgan/data.h"

typedef struct eb_toy_eval {
    int n_modes;          /* 8 or 25 */
    int modes_covered;    /* modes nearest to at least one high-quality sample (VEEGAN) */
    double hq_fraction;   /* samples within 3 std (Euclidean distance <= 3 * per-coordinate std) of a mode */
    double kl_uniform;    /* sum_k p_k log(p_k K) over the high-quality samples' mode histogram (0 = uniform) */
    int counts[EB_TOY_MAX_MODES];
} eb_toy_eval;

/* x: n samples [n, 2]. EB_ERR_ARG for a toy without modes (swissroll). */
eb_status eb_eval_toy(eb_toy_kind kind, const float *x, size_t n, eb_toy_eval *out);

/* Stacked images: each sample's channels classified separately; mode = sum_j label_j * n_classes^j (the
 * label order of eb_dataset_stack). */
typedef struct eb_stacked_eval {
    int stack;            /* channels per sample */
    int n_classes;        /* per channel (10) */
    int64_t n_modes;      /* n_classes^stack (1000 for 3 stacks) */
    int64_t samples;
    int64_t modes_covered;/* modes with at least one sample */
    double kl_uniform;    /* sum over non-empty modes of p log(p * n_modes), p = count / samples (the paper's code) */
    int64_t *counts;      /* [n_modes] samples per mode (owned; eb_stacked_eval_free) */
} eb_stacked_eval;

#define EB_STACKED_MAX_MODES 100000000 /* 10^8: the counts table is at most 800 MB */

/* labels: [n, stack] row-major, labels[i * stack + j] = class of channel j of sample i, in [0, n_classes).
 * EB_ERR_ARG for n == 0, a label out of range, or n_classes^stack above EB_STACKED_MAX_MODES. */
eb_status eb_eval_stacked(const int32_t *labels, size_t n, int stack, int n_classes, eb_stacked_eval *out);
void eb_stacked_eval_free(eb_stacked_eval *e);

#endif
