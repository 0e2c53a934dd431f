/* The entropy surrogates of DESIGN.md §1 as one table (surrogate.c): each entry lists its networks — where
 * they live, what they read, what they must output — and its term of the G step's loss. Private to src/host/nn/. */
#ifndef EBGAN_NN_SURROGATE_H
#define EBGAN_NN_SURROGATE_H

#include <stddef.h>

#include "ebgan/gstep.h"

/* What a surrogate's network reads per sample. */
typedef enum eb_surrogate_input {
    EB_SURROGATE_IN_X,        /* one data sample (a fake G(z) in the G step) */
    EB_SURROGATE_IN_FEATURE_Z /* [the previous net's output (x itself when that net is left out), z] */
} eb_surrogate_input;

/* One network of a surrogate. The offsets place it in the structs that hold every surrogate's nets by name
 * (gan.h, gstep.h), as the option tables of the CLI place their fields. */
typedef struct eb_surrogate_net {
    const char *name;        /* the net's name: checkpoint keys and messages ("T.head") */
    size_t spec_at;          /* offsetof its spec string in eb_gan_specs */
    size_t net_at, opt_at;   /* offsetof its eb_net and its eb_optim in eb_gan */
    size_t ws_at;            /* offsetof its workspace in eb_gstep */
    eb_surrogate_input in;
    int optional;            /* an empty spec leaves it out (dim's trunk on the toy data) */
    int out;                 /* values per sample it must output: 0 any, -1 z_dim, else that count */
    const char *out_what;    /* what that output is, for the message when it does not fit */
    int rows;                /* rows per sample the G step runs it on (its workspace holds max_batch * rows) */
    int param_vec;           /* 1: no spec, a vector of `out` learned values held as the weights of a bias-free
                              * linear layer on a 1-value input (gan.h: vera's log sigma and log eta) */
    size_t lr_at;            /* offsetof a double in eb_gan overriding its optimiser's learning rate; 0: none */
} eb_surrogate_net;

/* What a surrogate with output noise and buffers of its own adds to the G step and the U step (vera). */
typedef struct eb_surrogate_hooks {
    /* the starting values of its parameter vectors, after eb_gan_init_weights drew them */
    eb_status (*init_params)(eb_gan *m, const eb_backend *be);
    /* stream counters per sample the noise takes beyond z: in the G step (u_step 0) or on a U step's fakes */
    uint64_t (*draws)(const eb_gan *m, int u_step);
    /* its G-step buffers (eb_gstep's vera fields, released by eb_gstep_free) */
    eb_status (*ws_init)(eb_gstep *gs, const eb_backend *be, const eb_gan *m, int max_batch);
    /* x_out = x_in + the generator's output noise drawn at pos ([n, x]; in place allowed) */
    eb_status (*perturb)(const eb_backend *be, eb_gan *m, eb_gstep *gs, const eb_real *x_in, eb_real *x_out, int n,
                         eb_rng_pos pos);
} eb_surrogate_hooks;

/* Adds the surrogate's term to the G step: fills gs->terms[EB_GTERM_MI] = w * term on the n fakes xf (gs->z
 * their latents) and, with want_grad, accumulates its gradient into the surrogate's nets and gs->dx. */
typedef eb_status (*eb_surrogate_loss)(const eb_backend *be, eb_gan *m, eb_gstep *gs, const eb_real *xf, int n,
                                       const int32_t *perm_dev, eb_real w, int want_grad);

typedef struct eb_surrogate {
    eb_entropy_kind kind;
    const char *name;               /* the --entropy value */
    int n_nets;
    const eb_surrogate_net *nets;   /* in checkpoint order */
    eb_surrogate_loss loss;         /* NULL: no term (the MI term is 0) */
    int shuffles_z;                 /* the loss pairs fakes with z shuffled over the global batch (perm_dev) */
    int pair_rows;                  /* rows per sample of the G step's [feature, z] buffer (dim: 2, z and z bar) */
    const eb_surrogate_hooks *hooks; /* NULL: fakes are G(z), nothing of its own */
} eb_surrogate;

/* The entry of a kind (NULL for a value outside the enum), or of an --entropy name (NULL when unknown). */
const eb_surrogate *eb_surrogate_of(eb_entropy_kind kind);
const eb_surrogate *eb_surrogate_named(const char *name);

/* The losses of the table's entries (gstep.c). */
eb_status eb_surrogate_dim_loss(const eb_backend *be, eb_gan *m, eb_gstep *gs, const eb_real *xf, int n,
                                const int32_t *perm_dev, eb_real w, int want_grad);
eb_status eb_surrogate_infogan_loss(const eb_backend *be, eb_gan *m, eb_gstep *gs, const eb_real *xf, int n,
                                    const int32_t *perm_dev, eb_real w, int want_grad);

/* vera (gstep_vera.c) */
eb_status eb_surrogate_vera_loss(const eb_backend *be, eb_gan *m, eb_gstep *gs, const eb_real *xf, int n,
                                 const int32_t *perm_dev, eb_real w, int want_grad);
extern const eb_surrogate_hooks eb_surrogate_vera_hooks;

#endif
