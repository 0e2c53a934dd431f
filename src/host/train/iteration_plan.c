/* The iteration plan (iteration_plan.h): one place that says what an iteration runs and draws, read by the
 * trainer's launch (which checks that its draws add up to the stride) and by its host-side count. */
#include "ebgan/iteration_plan.h"

#include <string.h>

#include "ebgan/gstep.h"

eb_status eb_iteration_plan_init(eb_iteration_plan *p, eb_gan *m, const eb_iteration_plan_cfg *c) {
    memset(p, 0, sizeof *p);
    if (c->batch < 1 || c->z_dim < 1 || c->n_critic < 1 || c->train_mcmc < 0)
        return EB_FAIL(EB_ERR_ARG, "iteration plan: batch %d, z_dim %d, n_critic %d, train_mcmc %d out of range",
                       c->batch, c->z_dim, c->n_critic, c->train_mcmc);
    p->g_nets[0] = &m->G;
    p->g_opts[0] = &m->opt_G;
    p->n_g_nets = 1;
    for (int i = 0; i < m->n_aux; i++, p->n_g_nets++) {
        p->g_nets[p->n_g_nets] = m->aux[i];
        p->g_opts[p->n_g_nets] = m->aux_opt[i];
    }
    p->n_critic = c->n_critic;
    p->u_net = &m->U;
    p->u_opt = &m->opt_U;
    p->mcmc_steps = c->train_mcmc;
    p->interp = c->penalty == EB_PENALTY_WGAN_GP;
    p->penalty = c->penalty;
    p->lambda = c->lambda;
    p->penalty_every = c->penalty_every > 1 ? c->penalty_every : 1;
    p->decay_iters = c->decay_iters;
    const uint64_t B = (uint64_t)c->batch, zn = B * (uint64_t)c->z_dim;
    p->perm = B;
    p->z_g = zn;
    p->data = c->data_counters;
    p->z_u = zn;
    /* per chain and MALA step: z_dim for the proposal, 1 for the acceptance test (mala.h) */
    p->mcmc = (uint64_t)c->train_mcmc * B * (uint64_t)(c->z_dim + 1);
    p->interp_t = B;
    /* the surrogate's output noise (vera): the G step's after its latents, each U step's after its fakes */
    p->z_g += B * eb_gstep_noise_draws(m, 0);
    p->noise_u = B * eb_gstep_noise_draws(m, 1);
    p->stride = p->perm + p->z_g +
                (uint64_t)c->n_critic * (p->data + p->z_u + p->mcmc + p->noise_u + p->interp_t);
    return EB_OK;
}

/* The run's U-step number of U step k in iteration `step`, modulo K (no overflow for any step). */
static int64_t ustep_phase(const eb_iteration_plan *p, int64_t step, int k) {
    const int64_t K = p->penalty_every;
    return ((step % K) * (p->n_critic % K) + k) % K;
}

eb_ustep_cfg eb_iteration_plan_ustep(const eb_iteration_plan *p, int64_t step, int k) {
    if (p->penalty == EB_PENALTY_NONE || ustep_phase(p, step, k) != 0) return (eb_ustep_cfg){EB_PENALTY_NONE, 0};
    /* K lambda in double, then rounded once: at K = 1 exactly the weight every U step had before */
    return (eb_ustep_cfg){p->penalty, (eb_real)(p->lambda * (double)p->penalty_every)};
}

int eb_iteration_plan_pattern(const eb_iteration_plan *p, int64_t step) {
    if (p->penalty == EB_PENALTY_NONE) return 0; /* every U step alike */
    for (int k = 0; k < p->n_critic && k < p->penalty_every; k++)
        if (ustep_phase(p, step, k) == 0) return k;
    return p->n_critic;
}

void eb_iteration_plan_count(const eb_iteration_plan *p) {
    for (int i = 0; i < p->n_g_nets; i++) p->g_opts[i]->step++;
    p->u_opt->step += p->n_critic;
}
