/* Sample-quality figures of the paper's experiments: mode coverage of the 2-D mixtures (VEEGAN's
 * definitions) — modes covered, fraction of high-quality samples, KL of the mode histogram from uniform. */
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

#endif
