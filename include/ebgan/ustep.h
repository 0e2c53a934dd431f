/* The U step (DESIGN.md §1-2): loss E U(x_real) - E U(x_fake) + lambda-penalty and its exact parameter
 * gradient, the penalty's part by explicit double backprop. */
#ifndef EBGAN_USTEP_H
#define EBGAN_USTEP_H

#include "ebgan/net.h"

typedef struct eb_ustep_cfg {
    eb_penalty_kind penalty; /* score (on reals) or wgan-gp (on interpolates) or none */
    eb_real lambda;          /* full per-sample norm (DESIGN.md §1 pitfall) */
} eb_ustep_cfg;

/* Indices of the loss terms in the device scalar array `terms` (EB_UTERM_COUNT eb_reals). */
enum { EB_UTERM_U_REAL = 0, EB_UTERM_U_FAKE, EB_UTERM_PENALTY, EB_UTERM_LOSS, EB_UTERM_COUNT };

/* Everything the U step needs besides U itself, one allocation for max_batch. */
typedef struct eb_ustep {
    int max_batch;
    eb_net_ws ws;        /* U's workspace with second-order buffers */
    eb_real *ones;       /* [max_batch]: the backward seed 1 per sample */
    eb_real *gbar;       /* [max_batch, in]: penalty adjoint seed */
    eb_real *g0;         /* [max_batch, in]: grad_x U per sample */
    eb_real *x_hat;      /* [max_batch, in]: wgan-gp interpolates */
    eb_real *terms;      /* [EB_UTERM_COUNT] device scalars */
    void *arena;
    /* where the trainer's U steps make their fakes (eb_ustep_fakes_init; else empty): the U step's own, so
     * that it neither reads nor overwrites what the G step left in its buffers */
    eb_real *z;          /* [max_batch, z_dim] the fakes' latents */
    eb_net_ws ws_G;      /* G's workspace: the fakes are ws_G.h[G's layer count] */
} eb_ustep;

eb_status eb_ustep_init(eb_ustep *us, const eb_backend *be, const eb_net *U, int max_batch);
/* After eb_ustep_init: the latents and G's workspace for max_batch fakes of G (freed by eb_ustep_free). */
eb_status eb_ustep_fakes_init(eb_ustep *us, const eb_backend *be, const eb_net *G);
void eb_ustep_free(eb_ustep *us, const eb_backend *be);
/* n fakes G(us->z) in training mode (batch norm over this batch, or over the global one when the caller set
 * us->ws_G.sync, as the G step's; the caller draws us->z first); *x_fake = [n, x] in us->ws_G. No host
 * transfer: graph-capturable. */
eb_status eb_ustep_fakes(const eb_backend *be, eb_net *G, eb_ustep *us, int n, const eb_real **x_fake);

/* Overwrites U->grads with d loss / d theta and us->terms with the loss terms.
 * interp_t ([n] in [0,1], device) is required for wgan-gp: x_hat = t x_real + (1 - t) x_fake. */
eb_status eb_ustep_grad(const eb_backend *be, eb_net *U, eb_ustep *us, const eb_real *x_real,
                        const eb_real *x_fake, const eb_real *interp_t, int n, const eb_ustep_cfg *cfg);

/* The loss terms only (one input-gradient backward for the penalty, no parameter gradients):
 * what the finite-difference tests differentiate. */
eb_status eb_ustep_loss(const eb_backend *be, eb_net *U, eb_ustep *us, const eb_real *x_real,
                        const eb_real *x_fake, const eb_real *interp_t, int n, const eb_ustep_cfg *cfg);

/* Copies the terms to the host (a sync point: call when logging). */
eb_status eb_ustep_read_terms(const eb_backend *be, const eb_ustep *us, double out[EB_UTERM_COUNT]);

#endif
