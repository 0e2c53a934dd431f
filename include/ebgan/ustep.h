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
} eb_ustep;

eb_status eb_ustep_init(eb_ustep *us, const eb_backend *be, const eb_net *U, int max_batch);
void eb_ustep_free(eb_ustep *us, const eb_backend *be);

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
