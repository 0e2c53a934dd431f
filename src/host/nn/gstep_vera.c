/* VERA's entropy term of the G step (DESIGN.md §6; Grathwohl et al., ICLR 2021): fakes x = G(z) + sigma eps,
 * an importance-sampled score c ~ -grad_x log q(x) from a posterior xi(z | x) = N(z, diag eta^2), and eta's ELBO. */
#include <math.h>
#include <string.h>

#include "ebgan/gstep.h"
#include "surrogate.h"

/* sigma's clamp in log units, as the ops take it */
static eb_real log_lo(const eb_gan *m) { return (eb_real)log(m->vera.sigma_min); }
static eb_real log_hi(const eb_gan *m) { return (eb_real)log(m->vera.sigma_max); }
static eb_real *log_sigma(eb_gan *m) { return m->vera_sigma.params; }
static eb_real *log_eta(eb_gan *m) { return m->vera_eta.params; }

/* sigma starts at the geometric mean of its range, eta at eta_init in every coordinate. */
static eb_status vera_init_params(eb_gan *m, const eb_backend *be) {
    const eb_ops *o = be->ops;
    EB_TRY(o->fill(be->ctx, m->vera_sigma.params, 0, m->vera_sigma.n_params));
    EB_TRY(o->fill(be->ctx, m->vera_eta.params, 0, m->vera_eta.n_params));
    EB_TRY(o->fill(be->ctx, log_sigma(m), (eb_real)(0.5 * (log(m->vera.sigma_min) + log(m->vera.sigma_max))), 1));
    return o->fill(be->ctx, log_eta(m), (eb_real)log(m->vera.eta_init), (size_t)m->z_dim);
}

/* the G step: eps_x then the k posterior draws; a U step's fakes: eps_x */
static uint64_t vera_draws(const eb_gan *m, int u_step) {
    const uint64_t xd = (uint64_t)eb_shape_numel(m->x_shape);
    return u_step ? xd : xd + (uint64_t)m->vera.k * (uint64_t)m->z_dim;
}

static eb_status vera_ws_init(eb_gstep *gs, const eb_backend *be, const eb_gan *m, int max_batch) {
    const size_t B = (size_t)max_batch, K = (size_t)m->vera.k, zd = (size_t)m->z_dim;
    const size_t xd = (size_t)eb_shape_numel(m->x_shape);
    size_t sizes[] = {B * xd, B * xd, K * B * zd, K * B * zd, B * xd, B * xd, B * zd};
    eb_real **slots[] = {&gs->x_noisy, &gs->eps_x, &gs->zk, &gs->eps_k, &gs->c, &gs->vx, &gs->dz};
    const size_t n_slots = sizeof sizes / sizeof sizes[0];
    size_t total = 0;
    for (size_t i = 0; i < n_slots; i++) total += eb_align_elems(sizes[i]);
    EB_TRY(be->ops->mem_alloc(be->ctx, &gs->vera_arena, total * sizeof(eb_real)));
    eb_real *p = gs->vera_arena;
    for (size_t i = 0; i < n_slots; i++) {
        *slots[i] = p;
        p += eb_align_elems(sizes[i]);
    }
    if (K * B > (size_t)INT32_MAX) return EB_FAIL(EB_ERR_ARG, "vera: %zu importance samples per batch", K * B);
    return eb_net_ws_init(&gs->ws_Gk, be, &m->G, (int)(K * B), 0);
}

static eb_status vera_perturb(const eb_backend *be, eb_gan *m, eb_gstep *gs, const eb_real *x_in, eb_real *x_out,
                              int n, eb_rng_pos pos) {
    const eb_ops *o = be->ops;
    const size_t nx = (size_t)n * (size_t)eb_shape_numel(m->x_shape);
    EB_TRY(o->rng_normal(be->ctx, gs->eps_x, nx, pos));
    if (x_out != x_in) EB_TRY(o->mem_copy(be->ctx, x_out, x_in, nx * sizeof(eb_real)));
    gs->vera_pos = pos;
    gs->vera_pos.offset += nx;
    return o->vera_noise(be->ctx, x_out, gs->eps_x, log_sigma(m), log_lo(m), log_hi(m), nx);
}

const eb_surrogate_hooks eb_surrogate_vera_hooks = {vera_init_params, vera_draws, vera_ws_init,
                                                    vera_perturb};

/* The MI slot holds -w mean_i <c_i, x_i> with c held fixed: its x-gradient -w c / n is the entropy's, times w.
 * Then sigma's gradient from all of d loss / dx (U's included), and eta's from its own ELBO
 * log q(x, z) + H[xi] at one reparameterised draw per fake (the first of the k). */
eb_status eb_surrogate_vera_loss(const eb_backend *be, eb_gan *m, eb_gstep *gs, const eb_real *xf, int n,
                                 const int32_t *perm_dev, eb_real w, int want_grad) {
    (void)perm_dev;
    const eb_ops *o = be->ops;
    const size_t N = (size_t)n, K = (size_t)m->vera.k, zd = (size_t)m->z_dim;
    const size_t xd = (size_t)eb_shape_numel(m->x_shape);
    const eb_real lo = log_lo(m), hi = log_hi(m);
    /* z_k ~ xi(. | x) around the z that made x; one batched forward of G, no gradient through c */
    EB_TRY(o->rng_normal(be->ctx, gs->eps_k, K * N * zd, gs->vera_pos));
    EB_TRY(o->vera_post_sample(be->ctx, gs->z, gs->eps_k, log_eta(m), N, K, zd, gs->zk));
    EB_TRY(eb_net_forward(be, &m->G, &gs->ws_Gk, gs->zk, (int)(K * N), EB_MODE_TRAIN));
    const eb_real *gk = gs->ws_Gk.h[m->G.n_layers];
    EB_TRY(o->vera_score(be->ctx, xf, gk, gs->zk, gs->z, log_eta(m), log_sigma(m), lo, hi, N, K, xd, zd, gs->c));
    EB_TRY(o->mul(be->ctx, gs->vx, gs->c, xf, N * xd));
    EB_TRY(o->reduce_sum(be->ctx, gs->vx, N * xd, gs->terms + EB_GTERM_MI, -w / (eb_real)n, 0));
    if (!want_grad) return EB_OK;
    EB_TRY(o->axpby(be->ctx, gs->dx, -w / (eb_real)n, gs->c, 1, N * xd));
    EB_TRY(o->vera_sigma_grad(be->ctx, gs->dx, gs->eps_x, log_sigma(m), lo, hi, N * xd, m->vera_sigma.grads));
    /* eta: minus the ELBO's mean over the fakes at z' = the first block of z_k (x fixed) */
    EB_TRY(eb_net_forward(be, &m->G, &gs->ws_Gk, gs->zk, n, EB_MODE_TRAIN));
    EB_TRY(o->vera_post_seed(be->ctx, xf, gs->ws_Gk.h[m->G.n_layers], log_sigma(m), lo, hi, N * xd,
                             (eb_real)1 / (eb_real)n, gs->vx));
    EB_TRY(eb_net_backward(be, &m->G, &gs->ws_Gk, gs->vx, n, EB_MODE_TRAIN, 0, gs->dz, 0));
    return o->vera_post_grad(be->ctx, gs->dz, gs->zk, gs->eps_k, log_eta(m), N, zd, (eb_real)1 / (eb_real)n,
                             m->vera_eta.grads);
}
