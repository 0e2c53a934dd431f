/* The four networks of the MEG method and their optimisers: the energy U, the generator G, and the
 * entropy surrogate's network — the statistics network T(x, z) = head([trunk(x), z]) or the encoder E(x). */
#ifndef EBGAN_GAN_H
#define EBGAN_GAN_H

#include "ebgan/net.h"
#include "ebgan/optim.h"

typedef enum eb_entropy_kind {
    EB_ENTROPY_NONE = 0, /* no entropy term: with wgan-gp this is WGAN-GP (DESIGN.md §1) */
    EB_ENTROPY_DIM,      /* DeepInfoMax JSD estimator with a statistics network (the paper's choice) */
    EB_ENTROPY_INFOGAN,  /* lambda2 * E||z - E(G(z))||^2 with an encoder (the seed's lower bound) */
    EB_ENTROPY_VERA      /* VERA's importance-sampled gradient of H[q] with output noise and a posterior */
} eb_entropy_kind;

/* VERA's settings (DESIGN.md §6; src/host/nn/gstep_vera.c): the generator's output noise sigma, learned in
 * log units and held in [sigma_min, sigma_max], and the posterior xi(z | x) = N(z0, diag eta^2) on its own
 * learning rate. */
typedef struct eb_vera_cfg {
    int k;                      /* importance samples per fake */
    double sigma_min, sigma_max;/* the clamp of sigma; it starts at their geometric mean */
    double eta_init;            /* the posterior's scale at the start */
    double post_lr;             /* the posterior's Adam learning rate */
} eb_vera_cfg;

/* What eb_gan_init starts vera with (eb_gan_set_vera changes it). */
#define EB_VERA_DEFAULTS {20, 0.01, 0.3, 0.5, 1e-3}

/* Spec strings of the networks (see net.h); t_trunk may be "" (toy: T's head sees [x, z] directly). */
typedef struct eb_gan_specs {
    const char *u, *g, *t_trunk, *t_head, *e;
} eb_gan_specs;

/* The most networks one entropy surrogate has, and in all (U, G and those). */
#define EB_GAN_AUX_MAX 3
#define EB_GAN_NETS_MAX (2 + EB_GAN_AUX_MAX)

typedef struct eb_gan {
    eb_shape x_shape;    /* one data sample */
    int z_dim;
    eb_entropy_kind entropy;
    eb_net U, G;
    int has_trunk;       /* dim: T has an image trunk */
    eb_net T_trunk, T_head; /* dim only */
    eb_net E;            /* infogan only */
    /* vera only: parameter vectors held as one bias-free linear layer on a 1-value input that never runs:
     * log sigma [1] and the posterior's log eta [z_dim] are its weights */
    eb_net vera_sigma, vera_eta;
    eb_vera_cfg vera;
    eb_optim opt_U, opt_G, opt_T_trunk, opt_T_head, opt_E, opt_vera_sigma, opt_vera_eta;
    /* the nets the entropy surrogate has, as its table entry lists them (src/host/nn/surrogate.c), with their
     * optimisers: what the G step zeroes and fills, the trainer reduces and steps, checkpoints save. They
     * point into this struct: an eb_gan stays where eb_gan_init built it. */
    const struct eb_surrogate *surrogate;
    int n_aux;
    eb_net *aux[EB_GAN_AUX_MAX];
    eb_optim *aux_opt[EB_GAN_AUX_MAX];
} eb_gan;

/* Builds every network the entropy kind needs, with optimisers `opt` (same for all nets, as the paper). */
eb_status eb_gan_init(eb_gan *m, const eb_backend *be, const eb_gan_specs *specs, eb_shape x_shape, int z_dim,
                      eb_entropy_kind entropy, const eb_optim_cfg *opt);
void eb_gan_free(eb_gan *m, const eb_backend *be);
/* vera's settings (checked; ignored by the other surrogates), before eb_gan_init_weights and the G step's init. */
eb_status eb_gan_set_vera(eb_gan *m, const eb_vera_cfg *cfg);
/* The paper's initialisation of every network (net.h), drawn from `rng`. */
eb_status eb_gan_init_weights(eb_gan *m, const eb_backend *be, eb_rng *rng);

/* The nets and their optimisers as a list, for checkpoints: U, G, then m->aux; returns the count (at most
 * EB_GAN_NETS_MAX). */
int eb_gan_nets(eb_gan *m, eb_net **nets, eb_optim **opts);

const char *eb_entropy_name(eb_entropy_kind k);
/* "dim" | "infogan" | "vera" | "none" -> kind; -1 when unknown. */
int eb_entropy_parse(const char *s);

#endif
