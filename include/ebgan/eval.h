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

/* The learned density exp(-U) / Z of a 2-D mixture run: Z by the midpoint rule on a g x g grid over
 * [lo, hi]^2, the held-out data's negative log-likelihood under it, and how its mass sits on the modes. */
typedef struct eb_toy_density {
    double log_z;         /* log of the integral of exp(-U) over the window */
    double nll;           /* mean over held-out points of U(x) + log Z (nats; the mixture's own is about -2.0) */
    double mass_near;     /* share of the window's mass within 3 std of a mode */
    double mass_uniform;  /* that share for a flat density: the discs' area over the window's */
    double mode_mass_kl;  /* sum_k m_k log(m_k K) of the per-mode masses m (normalised; 0 = balanced) */
    double top3_share;    /* the three heaviest modes' share of the mass near modes */
} eb_toy_density;

/* u_grid [g * g] is U at the cell centres (row y, column x); u_held [n] U at the held-out points. */
eb_status eb_eval_toy_density(eb_toy_kind kind, const float *u_grid, int g, double lo, double hi,
                              const float *u_held, size_t n, eb_toy_density *out);

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
