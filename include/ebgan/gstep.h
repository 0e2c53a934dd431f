/* The G step (DESIGN.md §1): min over G and the surrogate's network of E_z U(G(z)) + entropy surrogate.
 * U contributes input gradients only — no weight-gradient kernels run for U here (DESIGN.md §2). */
#ifndef EBGAN_GSTEP_H
#define EBGAN_GSTEP_H

#include "ebgan/bn_sync.h"
#include "ebgan/gan.h"

/* Device scalars of the G step. */
enum { EB_GTERM_U_FAKE = 0, EB_GTERM_MI, EB_GTERM_LOSS, EB_GTERM_COUNT };

typedef struct eb_gstep {
    int max_batch;
    eb_net_ws ws_G, ws_U, ws_T_trunk, ws_T_head, ws_E, ws_vera_sigma, ws_vera_eta;
    int n_ws_aux;
    eb_net_ws *ws_aux[EB_GAN_AUX_MAX]; /* the workspace of each m->aux[i], in that order */
    eb_real *z;         /* [B, z_dim] */
    eb_real *z_perm;    /* [B, z_dim]: z shuffled across the batch (z bar) */
    eb_real *dx;        /* [B, x]: d loss / d G(z) */
    eb_real *head_in;   /* [2B, f + z_dim]: rows [trunk(x), z] then [trunk(x), z bar] */
    eb_real *d_head_in; /* [2B, f + z_dim] */
    eb_real *dlogit;    /* [2B] */
    eb_real *df;        /* [B, f] */
    eb_real *seed;      /* [B]: 1/B, the backward seed of mean U */
    int32_t *perm;      /* [B] a device permutation slot for callers (the trainer draws rng_perm here) */
    eb_real *terms;     /* [EB_GTERM_COUNT] */
    void *arena;
    /* a batch split over ranks (eb_gstep_set_comm): n is this rank's slice of world * n samples */
    eb_comm *comm;      /* NULL: one process */
    eb_real *z_all;     /* [world * max_batch, z_dim]: every rank's z (dim's shuffle permutes the global batch) */
    eb_bn_sync bn_sync; /* G's (and T's, E's) batch norm over the global batch */
    /* vera (src/host/nn/gstep_vera.c): the noisy fakes and the importance samples, one allocation */
    eb_net_ws ws_Gk;    /* G on the k * B posterior samples (forward only), then on the B of the ELBO */
    eb_real *x_noisy;   /* [B, x]: G(z) + sigma eps, what U sees */
    eb_real *eps_x;     /* [B, x]: eps of the last noise drawn (G step or U step fakes) */
    eb_real *zk, *eps_k;/* [k B, z_dim]: z_k = z + eta eps_k, rows s * B + i */
    eb_real *c;         /* [B, x]: the score estimate ~ -grad_x log q(x) */
    eb_real *vx;        /* [B, x]: scratch (c * x; the ELBO's seed) */
    eb_real *dz;        /* [B, z_dim]: the ELBO's gradient in z */
    eb_rng_pos vera_pos;/* where the posterior's eps_k are drawn (after eps_x) */
    void *vera_arena;
} eb_gstep;

eb_status eb_gstep_init(eb_gstep *gs, const eb_backend *be, const eb_gan *m, int max_batch);
void eb_gstep_free(eb_gstep *gs, const eb_backend *be);
/* Makes every later call a rank's slice of a global batch of world * n samples (DESIGN.md §4 scale-out):
 * batch norm in G, T and E uses the global statistics, and dim's z bar is z_all[perm[rank * n + i]] with
 * perm_dev a permutation of the whole global batch. Gradients stay this rank's: the caller all-reduces them.
 * The single-process communicator is a no-op. */
eb_status eb_gstep_set_comm(eb_gstep *gs, const eb_backend *be, eb_gan *m, eb_comm *comm);

/* Zeroes and fills the gradients of G and of the surrogate's nets (U's grads are untouched), with
 * z ~ N(0, I) drawn at z_pos and the permutation perm_dev ([n] int32 in backend memory, z bar = z[perm];
 * [world * n] after eb_gstep_set_comm;
 * a derangement is not required: the paper uses randperm; NULL allowed unless the surrogate is dim).
 * mi_weight scales the surrogate (infogan: lambda2). No host transfer: graph-capturable. */
eb_status eb_gstep_grad(const eb_backend *be, eb_gan *m, eb_gstep *gs, int n, eb_rng_pos z_pos,
                        const int32_t *perm_dev, eb_real mi_weight);
/* The same loss without gradients (finite-difference tests). */
eb_status eb_gstep_loss(const eb_backend *be, eb_gan *m, eb_gstep *gs, int n, eb_rng_pos z_pos,
                        const int32_t *perm_dev, eb_real mi_weight);
/* The U step's fakes as the surrogate's generator makes them (DESIGN.md §6): vera adds its output noise
 * sigma eps, eps ([n, x]) drawn at pos, in place; nothing for the others. */
eb_status eb_gstep_perturb_fakes(const eb_backend *be, eb_gan *m, eb_gstep *gs, eb_real *x, int n, eb_rng_pos pos);
/* Stream counters per sample the surrogate's noise takes beyond z: in the G step (u_step 0) or on a U step's
 * fakes (u_step 1); 0 for the surrogates without output noise. */
uint64_t eb_gstep_noise_draws(const eb_gan *m, int u_step);
eb_status eb_gstep_read_terms(const eb_backend *be, const eb_gstep *gs, double out[EB_GTERM_COUNT]);

#endif
