/* Synchronised batch norm: when a batch is split over ranks, G's batch-norm layers normalise with the
 * statistics of the whole batch (per-channel sums all-reduced), forward and backward, so R ranks compute
 * what one process computes on the full batch (DESIGN.md §4 scale-out). */
#ifndef EBGAN_BN_SYNC_H
#define EBGAN_BN_SYNC_H

#include "ebgan/comm.h"
#include "ebgan/net.h"

/* A workspace points at one of these (eb_net_ws.sync) to make its batch a slice of a global batch. */
typedef struct eb_bn_sync {
    eb_comm *comm;
    eb_real *scratch;  /* [2 * max_channels] backend memory: the all-reduced sums */
    size_t max_channels;
} eb_bn_sync;

/* Scratch for the widest batch-norm layer of the nets (NULL entries skipped). */
eb_status eb_bn_sync_init(eb_bn_sync *s, const eb_backend *be, eb_comm *comm, const eb_net *const *nets, int n_nets);
void eb_bn_sync_free(eb_bn_sync *s, const eb_backend *be);

/* Layer l (batch norm, training mode) of `net` on this rank's n samples (net_pass.c calls these when
 * ws->sync is set): forward saves the global mean / invstd in the workspace and updates the running
 * statistics as one process would; backward adds param_alpha * (this rank's dgamma, dbeta) to the grads
 * (the trainer all-reduces grads afterwards) and, when dx != NULL, writes the exact dx through the
 * global statistics. */
eb_status eb_bn_sync_forward(const eb_backend *be, eb_net *net, eb_net_ws *ws, int l, const eb_real *x,
                             eb_real *y, int n);
eb_status eb_bn_sync_backward(const eb_backend *be, eb_net *net, eb_net_ws *ws, int l, const eb_real *x,
                              const eb_real *dy, eb_real *dx, int n, eb_real param_alpha);

#endif
