/* Synchronised batch norm over ranks from the op table's bn_channel_sums / bn_forward_global /
 * bn_backward_global and the communicator's all-reduce: two-pass statistics as the single process. */
#include "ebgan/bn_sync.h"
#include "net_internal.h"

#include <string.h>

eb_status eb_bn_sync_init(eb_bn_sync *s, const eb_backend *be, eb_comm *comm, const eb_net *const *nets, int n_nets) {
    memset(s, 0, sizeof *s);
    s->comm = comm;
    size_t cmax = 1;
    for (int k = 0; k < n_nets; k++) {
        if (!nets[k]) continue;
        for (int l = 0; l < nets[k]->n_layers; l++)
            if (nets[k]->layers[l].kind == EB_LAYER_BATCHNORM && (size_t)nets[k]->layers[l].in.c > cmax)
                cmax = (size_t)nets[k]->layers[l].in.c;
    }
    s->max_channels = cmax;
    return EB_OP(be, mem_alloc, (void **)&s->scratch, 2 * cmax * sizeof(eb_real));
}

void eb_bn_sync_free(eb_bn_sync *s, const eb_backend *be) {
    if (s->scratch) EB_OP(be, mem_free, s->scratch);
    memset(s, 0, sizeof *s);
}

static eb_status check(const eb_net *net, const eb_net_ws *ws, const eb_layer *L, int l) {
    if (!ws->sync || !ws->sync->scratch) return EB_FAIL(EB_ERR_ARG, "%s layer %d: no batch-norm sync state", net->name, l);
    if ((size_t)L->in.c > ws->sync->max_channels)
        return EB_FAIL(EB_ERR_ARG, "%s layer %d: %d channels, sync scratch for %zu", net->name, l, L->in.c,
                       ws->sync->max_channels);
    return EB_OK;
}

eb_status eb_bn_sync_forward(const eb_backend *be, eb_net *net, eb_net_ws *ws, int l, const eb_real *x, eb_real *y,
                             int n) {
    const eb_layer *L = &net->layers[l];
    EB_TRY(check(net, ws, L, l));
    eb_bn_sync *s = ws->sync;
    const int c = L->in.c, hw = L->in.h * L->in.w;
    const double count = (double)n * hw * s->comm->world;
    eb_real *mean = ws->bn_stats + L->stat_off, *invstd = mean + eb_align_elems((size_t)c), *sumsq = s->scratch;
    const eb_real *gamma = net->params + L->w_off, *beta = L->b_len ? net->params + L->b_off : NULL;
    EB_TRY(EB_OP(be, bn_channel_sums, x, NULL, mean, n, c, hw));
    EB_TRY(eb_comm_allreduce_sum(s->comm, mean, (size_t)c));
    EB_TRY(EB_OP(be, axpby, mean, (eb_real)(1.0 / count), mean, (eb_real)0, (size_t)c));
    EB_TRY(EB_OP(be, bn_channel_sums, x, mean, sumsq, n, c, hw)); /* two passes, as bn_forward_train */
    EB_TRY(eb_comm_allreduce_sum(s->comm, sumsq, (size_t)c));
    return EB_OP(be, bn_forward_global, x, gamma, beta, y, mean, sumsq, count, invstd, net->buffers + L->rm_off,
                 net->buffers + L->rv_off, L->bn_momentum, L->bn_eps, n, c, hw);
}

eb_status eb_bn_sync_backward(const eb_backend *be, eb_net *net, eb_net_ws *ws, int l, const eb_real *x,
                              const eb_real *dy, eb_real *dx, int n, eb_real param_alpha) {
    const eb_layer *L = &net->layers[l];
    EB_TRY(check(net, ws, L, l));
    if (!dx && param_alpha == 0) return EB_OK;
    eb_bn_sync *s = ws->sync;
    const int c = L->in.c, hw = L->in.h * L->in.w;
    const double count = (double)n * hw * s->comm->world;
    const eb_real *mean = ws->bn_stats + L->stat_off, *invstd = mean + eb_align_elems((size_t)c);
    const eb_real *gamma = net->params + L->w_off;
    eb_real *sums = s->scratch; /* [sum dy xhat | sum dy]: this rank's, then all ranks' */
    EB_TRY(EB_OP(be, bn_backward_train, x, dy, gamma, mean, invstd, NULL, sums, sums + c, (eb_real)0, n, c, hw));
    if (param_alpha != 0) { /* gamma and beta are separate aligned tensors (net.c) */
        EB_TRY(EB_OP(be, axpby, net->grads + L->w_off, param_alpha, sums, (eb_real)1, (size_t)c));
        EB_TRY(EB_OP(be, axpby, net->grads + L->b_off, param_alpha, sums + c, (eb_real)1, (size_t)c));
    }
    if (!dx) return EB_OK;
    EB_TRY(eb_comm_allreduce_sum(s->comm, sums, 2 * (size_t)c));
    return EB_OP(be, bn_backward_global, x, dy, gamma, mean, invstd, sums, count, dx, n, c, hw);
}
