/* One training iteration as a plan fixed at init (DESIGN.md §1, §4): the phases that run, the optimiser updates
 * each makes and the counters of the run's stream every draw takes. The trainer issues and counts it from here. */
#ifndef EBGAN_ITERATION_PLAN_H
#define EBGAN_ITERATION_PLAN_H

#include <stdint.h>

#include "ebgan/gan.h"
#include "ebgan/ustep.h"

/* What the plan is made from: the resolved settings (global batch) and the data's draw size. */
typedef struct eb_iteration_plan_cfg {
    int batch;                /* global batch: every draw covers it, each rank takes its slice */
    int z_dim;
    int n_critic;             /* U steps per iteration */
    int train_mcmc;           /* MALA steps on each U step's latents (0: none) */
    eb_penalty_kind penalty;
    int64_t decay_iters;      /* linear learning-rate decay over this many iterations (0: constant) */
    uint64_t data_counters;   /* counters one real batch of `batch` rows takes (batch_source.h) */
    double lambda;            /* the penalty's weight on every U step (the paper's) */
    int penalty_every;        /* K: the penalty on every K-th U step only, weighted K lambda (lazy, < 1: 1) */
} eb_iteration_plan_cfg;

typedef struct eb_iteration_plan {
    /* G step: G, then the entropy surrogate's nets (m->aux), each reduced and updated once per iteration */
    int n_g_nets;
    eb_net *g_nets[1 + EB_GAN_AUX_MAX];
    eb_optim *g_opts[1 + EB_GAN_AUX_MAX];
    /* U steps: n_critic of them after the G step, each updating U once (update number s * n_critic + k + 1) */
    int n_critic;
    eb_net *u_net;
    eb_optim *u_opt;
    int mcmc_steps;           /* > 0: each U step refines its latents by MALA first */
    int interp;               /* each U step uses its wgan-gp interpolation weights */
    eb_penalty_kind penalty;
    double lambda;
    int penalty_every;        /* K >= 1: U step u of the run (u = s * n_critic + k) has the penalty iff u % K == 0 */
    int64_t decay_iters;
    /* counters of the run's stream each draw takes over the global batch, in the order drawn; a phase that
     * does not run still takes its (zero or unused) counters, so the layout depends on the settings only */
    uint64_t perm, z_g;                 /* G step: dim's permutation, the latents (and vera's noise after them) */
    uint64_t data, z_u, mcmc, interp_t; /* each U step: the real batch, the latents, MALA's chains, wgan-gp's t */
    uint64_t noise_u;                   /* each U step: the fakes' output noise (vera; 0 otherwise) */
    uint64_t stride;                    /* one iteration: perm + z_g + n_critic * (data + z_u + mcmc + noise_u +
                                         * interp_t) */
} eb_iteration_plan;

/* The plan of `c` for the model m (its nets and optimisers are referenced, not owned: no _free). */
eb_status eb_iteration_plan_init(eb_iteration_plan *p, eb_gan *m, const eb_iteration_plan_cfg *c);

/* The U step k of iteration `step`: {penalty, K lambda} on every K-th U step of the run, counted from its first,
 * and {none, 0} on the others, which skip the double backprop (DESIGN.md §2, lazy penalty). A pure function of
 * (step, k), so a resumed run penalises the U steps the uninterrupted one did. At K = 1: {penalty, lambda}. */
eb_ustep_cfg eb_iteration_plan_ustep(const eb_iteration_plan *p, int64_t step, int k);

/* Iterations whose U steps run the same launches share a pattern (they differ in the clock only), and the
 * pattern fixes them: the first penalised k of the iteration (later ones follow every K), or n_critic for
 * none. So at most n_critic + 1 patterns, whatever K; at K = 1 there is one, 0. One CUDA graph per pattern
 * replays any iteration of it (DESIGN.md §4.5). */
#define EB_PLAN_PATTERNS_MAX(n_critic) ((n_critic) + 1)
int eb_iteration_plan_pattern(const eb_iteration_plan *p, int64_t step);

/* The host's count of one finished iteration: every optimiser's update number moves as the plan updates it. */
void eb_iteration_plan_count(const eb_iteration_plan *p);

#endif
