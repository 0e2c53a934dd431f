/* One training iteration as a plan fixed at init (DESIGN.md §1, §4): the phases that run, the optimiser updates
 * each makes and the counters of the run's stream every draw takes. The trainer issues and counts it from here. */
#ifndef EBGAN_ITERATION_PLAN_H
#define EBGAN_ITERATION_PLAN_H

#include <stdint.h>

#include "ebgan/gan.h"

/* What the plan is made from: the resolved settings (global batch) and the data's draw size. */
typedef struct eb_iteration_plan_cfg {
    int batch;                /* global batch: every draw covers it, each rank takes its slice */
    int z_dim;
    int n_critic;             /* U steps per iteration */
    int train_mcmc;           /* MALA steps on each U step's latents (0: none) */
    eb_penalty_kind penalty;
    int64_t decay_iters;      /* linear learning-rate decay over this many iterations (0: constant) */
    uint64_t data_counters;   /* counters one real batch of `batch` rows takes (batch_source.h) */
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

/* The host's count of one finished iteration: every optimiser's update number moves as the plan updates it. */
void eb_iteration_plan_count(const eb_iteration_plan *p);

#endif
