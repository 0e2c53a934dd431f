/* --eval-every: the run's own evaluation (eval.h) of G, and of its moving average when kept, at a fixed z
 * while it trains, into the step's metrics line and TensorBoard. Private to the trainer. */
#ifndef EBGAN_EVAL_DURING_H
#define EBGAN_EVAL_DURING_H

#include "ebgan/json.h"
#include "ebgan/train.h"

/* The z of every evaluation: `ebgan-gpu eval`'s default seed, a stream of its own (never the run's), so that a
 * point of the curve equals `eval --run DIR` of the checkpoint of that step with the same --n. */
#define EB_EVAL_DURING_SEED 12345

typedef struct eb_eval_point {
    int done;               /* evaluated at this step */
    int n_gens;             /* 1: G; 2: G then its average (--g-ema) */
    int samples;
    double seconds;         /* wall time of the evaluation (left out of it/s) */
    int64_t modes_covered[2];
    double hq_fraction[2];  /* 2-D mixtures only; NaN for stacked images */
    double kl_uniform[2];
} eb_eval_point;

/* EB_ERR_ARG when --eval-every is set on a run it cannot evaluate (swissroll; images that are not stacked
 * 28x28; stacked images without --eval-classifier or with a classifier that cannot be read). */
eb_status eb_eval_during_check(const eb_trainer *t);
/* Evaluates the current step (G in inference mode; the training stream and state untouched). */
eb_status eb_eval_during_run(eb_trainer *t, eb_eval_point *out);
/* The point's keys in the step's metrics line (eval_*, eval_ema_*) and its TensorBoard scalars. */
void eb_eval_during_json(const eb_eval_point *p, eb_json_line *l);
eb_status eb_eval_during_tb(eb_trainer *t, int64_t step, const eb_eval_point *p);

#endif
