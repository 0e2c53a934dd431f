/* Optimisers over one flat parameter buffer: Adam (PyTorch semantics) and plain SGD.
 * The moments are one allocation; one update launch per net. */
#ifndef EBGAN_OPTIM_H
#define EBGAN_OPTIM_H

#include <stdint.h>
#include "ebgan/ops.h"

typedef enum eb_optim_kind { EB_OPTIM_ADAM = 0, EB_OPTIM_SGD } eb_optim_kind;

typedef struct eb_optim_cfg {
    eb_optim_kind kind;
    double lr;          /* paper: 1e-4 */
    double beta1, beta2;/* paper: 0.5, 0.9 */
    double eps;         /* 1e-8 */
} eb_optim_cfg;

typedef struct eb_optim {
    eb_optim_cfg cfg;
    size_t n;
    int64_t step;       /* updates done (checkpointed) */
    eb_real *hyper;     /* [3]: lr, bc1, bc2 of the update in flight (backend memory) */
    eb_real *m, *v;     /* [n] each (Adam only); one allocation with hyper */
    void *arena;
} eb_optim;

eb_status eb_optim_init(eb_optim *o, const eb_backend *be, size_t n, const eb_optim_cfg *cfg);
void eb_optim_free(eb_optim *o, const eb_backend *be);
/* Where an update takes its number and learning rate from the backend clock (a training iteration s):
 * update t = s * t_mul + t_add; lr linearly decayed over decay_iters iterations (0: constant). */
typedef struct eb_optim_clock {
    const int64_t *clock; /* backend memory */
    int64_t t_mul, t_add;
    int64_t decay_iters;
} eb_optim_clock;

/* One update of params[n] from grads[n], update number step + 1 and lr cfg.lr; advances step. */
eb_status eb_optim_step(eb_optim *o, const eb_backend *be, eb_real *params, const eb_real *grads);
/* One update scheduled by `clk` (NULL: as eb_optim_step); does not advance step (the caller keeps the
 * host count in line with the clock). Graph-capturable: no host value changes between replays. */
eb_status eb_optim_update(eb_optim *o, const eb_backend *be, eb_real *params, const eb_real *grads,
                          const eb_optim_clock *clk);

#endif
