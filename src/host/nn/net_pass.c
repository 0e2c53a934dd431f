/* Forward, backward and tangent (JVP) of single layers and of whole sequential nets, over a workspace
 * and through the op table only, so the same code drives every backend (DESIGN.md §2, §4). */
#include "net_internal.h"
#include "ebgan/bn_sync.h"

/* Channels x pixels of a per-sample shape, for bias and batch-norm ops (hw = 1 for dense data). */
static int shape_hw(eb_shape s) { return s.h * s.w; }

static eb_status check_net_call(const eb_net *net, const eb_net_ws *ws, int n) {
    if (ws->n_layers != net->n_layers || !ws->h)
        return EB_FAIL(EB_ERR_ARG, "%s: workspace was made for a net with %d layers, not %d", net->name,
                       ws->n_layers, net->n_layers);
    if (n < 1 || n > ws->max_batch)
        return EB_FAIL(EB_ERR_ARG, "%s: batch %d outside [1, %d] (the workspace's max_batch)", net->name, n,
                       ws->max_batch);
    return EB_OK;
}

static eb_status check_call(const eb_net *net, const eb_net_ws *ws, int l, int n) {
    EB_TRY(check_net_call(net, ws, n));
    if (l < 0 || l >= net->n_layers)
        return EB_FAIL(EB_ERR_ARG, "%s: layer %d outside [0, %d)", net->name, l, net->n_layers);
    return EB_OK;
}

/* -------------------------------------------------------------- layers ---- */

/* The layer's forward; with_bias == 0 leaves the bias of linear / conv / convT layers to the caller
 * (eb_net_forward fuses it with the activation that follows). */
static eb_status layer_forward(const eb_backend *be, eb_net *net, eb_net_ws *ws, int l, const eb_real *x, eb_real *y,
                               int n, eb_net_mode mode, int with_bias) {
    EB_TRY(check_call(net, ws, l, n));
    const eb_layer *L = &net->layers[l];
    const eb_real *W = net->params + L->w_off;
    const eb_real *b = L->b_len && (with_bias || L->kind == EB_LAYER_BATCHNORM) ? net->params + L->b_off : NULL;
    eb_conv_geom g;
    switch (L->kind) {
    case EB_LAYER_LINEAR:
        return EB_OP(be, linear_forward, x, W, b, y, n, (int)eb_layer_in_numel(L), L->out.c);
    case EB_LAYER_CONV2D:
        eb_layer_conv_geom(L, n, &g);
        EB_TRY(EB_OP(be, conv2d_forward, &g, x, W, y, (eb_real)1, (eb_real)0));
        return b ? EB_OP(be, bias_add, y, b, n, L->out.c, shape_hw(L->out)) : EB_OK;
    case EB_LAYER_CONVT2D:
        /* y = C^T x for the adjoint conv2d C (output shape -> input shape): its backward-data. */
        eb_layer_conv_geom(L, n, &g);
        EB_TRY(EB_OP(be, conv2d_backward_data, &g, x, W, y, (eb_real)1, (eb_real)0));
        return b ? EB_OP(be, bias_add, y, b, n, L->out.c, shape_hw(L->out)) : EB_OK;
    case EB_LAYER_ACT:
        return EB_OP(be, act_forward, L->act, L->slope, x, y, (size_t)n * eb_layer_in_numel(L));
    case EB_LAYER_BATCHNORM: {
        eb_real *rm = net->buffers + L->rm_off, *rv = net->buffers + L->rv_off;
        if (mode == EB_MODE_TRAIN && ws->sync) return eb_bn_sync_forward(be, net, ws, l, x, y, n);
        if (mode == EB_MODE_TRAIN) {
            eb_real *mean = ws->bn_stats + L->stat_off, *invstd = mean + eb_align_elems((size_t)L->in.c);
            return EB_OP(be, bn_forward_train, x, W, b, y, mean, invstd, rm, rv, L->bn_momentum, L->bn_eps, n,
                         L->in.c, shape_hw(L->in));
        }
        return EB_OP(be, bn_forward_infer, x, W, b, rm, rv, L->bn_eps, y, n, L->in.c, shape_hw(L->in));
    }
    case EB_LAYER_RESHAPE:
        /* A view: nothing to do when the net aliases y to x (eb_net_forward does). */
        return x == y ? EB_OK : EB_OP(be, mem_copy, y, x, (size_t)n * eb_layer_in_numel(L) * sizeof(eb_real));
    }
    return EB_FAIL(EB_ERR_ARG, "%s layer %d: unknown layer kind %d", net->name, l, (int)L->kind);
}

eb_status eb_layer_forward(const eb_backend *be, eb_net *net, eb_net_ws *ws, int l, const eb_real *x, eb_real *y,
                           int n, eb_net_mode mode) {
    return layer_forward(be, net, ws, l, x, y, n, mode, 1);
}

/* bn's parameter gradient accumulates as d = result + beta_acc * d (no alpha in the op): with
 * beta_acc = 1/alpha and a rescale by alpha afterwards, d = alpha * result + d_old. */
static eb_status bn_backward(const eb_backend *be, eb_net *net, eb_net_ws *ws, const eb_layer *L, int l,
                             const eb_real *x, const eb_real *dy, eb_real *dx, eb_real dx_beta, int n,
                             eb_net_mode mode, eb_real param_alpha) {
    if (dx && dx_beta != 0)
        return EB_FAIL(EB_ERR_ARG, "%s layer %d (bn): backward cannot accumulate into dx (dx_beta %g)", net->name,
                       l, (double)dx_beta);
    const eb_real *gamma = net->params + L->w_off;
    eb_real *dgamma = param_alpha != 0 ? net->grads + L->w_off : NULL;
    eb_real *dbeta = param_alpha != 0 ? net->grads + L->b_off : NULL;
    eb_real beta_acc = param_alpha != 0 ? (eb_real)1 / param_alpha : (eb_real)0;
    const int c = L->in.c, hw = shape_hw(L->in);
    if (!dx && !dgamma) return EB_OK;
    if (mode == EB_MODE_TRAIN && ws->sync) return eb_bn_sync_backward(be, net, ws, l, x, dy, dx, n, param_alpha);
    if (mode == EB_MODE_TRAIN) {
        const eb_real *mean = ws->bn_stats + L->stat_off, *invstd = mean + eb_align_elems((size_t)c);
        EB_TRY(EB_OP(be, bn_backward_train, x, dy, gamma, mean, invstd, dx, dgamma, dbeta, beta_acc, n, c, hw));
    } else {
        EB_TRY(EB_OP(be, bn_backward_infer, x, dy, gamma, net->buffers + L->rm_off, net->buffers + L->rv_off,
                     L->bn_eps, dx, dgamma, dbeta, beta_acc, n, c, hw));
    }
    /* gamma and beta are separate aligned tensors (net.c) */
    if (dgamma && param_alpha != 1) {
        EB_TRY(EB_OP(be, axpby, dgamma, param_alpha, dgamma, (eb_real)0, (size_t)c));
        EB_TRY(EB_OP(be, axpby, dbeta, param_alpha, dbeta, (eb_real)0, (size_t)c));
    }
    return EB_OK;
}

eb_status eb_layer_backward(const eb_backend *be, eb_net *net, eb_net_ws *ws, int l, const eb_real *x,
                            const eb_real *y, const eb_real *dy, eb_real *dx, eb_real dx_beta, int n,
                            eb_net_mode mode, eb_real param_alpha) {
    EB_TRY(check_call(net, ws, l, n));
    const eb_layer *L = &net->layers[l];
    const eb_real *W = net->params + L->w_off;
    eb_real *gW = net->grads + L->w_off, *gb = net->grads + L->b_off;
    const int want_params = param_alpha != 0;
    eb_conv_geom g;
    switch (L->kind) {
    case EB_LAYER_LINEAR: {
        const int in = (int)eb_layer_in_numel(L), out = L->out.c;
        if (want_params) {
            EB_TRY(EB_OP(be, linear_backward_weight, x, dy, gW, n, in, out, param_alpha, (eb_real)1));
            if (L->b_len) EB_TRY(EB_OP(be, bias_backward, dy, gb, n, out, 1, param_alpha, (eb_real)1));
        }
        return dx ? EB_OP(be, linear_backward_data, dy, W, dx, n, in, out, (eb_real)1, dx_beta) : EB_OK;
    }
    case EB_LAYER_CONV2D:
    case EB_LAYER_CONVT2D: {
        /* conv-transpose, y = C^T x: dW is the adjoint conv's filter gradient with input dy and output-gradient
         * x; dx = C dy is that conv's forward. */
        const int tr = L->kind == EB_LAYER_CONVT2D;
        eb_layer_conv_geom(L, n, &g);
        if (want_params) {
            EB_TRY(EB_OP(be, conv2d_backward_filter, &g, tr ? dy : x, tr ? x : dy, gW, param_alpha, (eb_real)1));
            if (L->b_len) EB_TRY(EB_OP(be, bias_backward, dy, gb, n, L->out.c, shape_hw(L->out), param_alpha, (eb_real)1));
        }
        if (!dx) return EB_OK;
        return tr ? EB_OP(be, conv2d_forward, &g, dy, W, dx, (eb_real)1, dx_beta)
                  : EB_OP(be, conv2d_backward_data, &g, dy, W, dx, (eb_real)1, dx_beta);
    }
    case EB_LAYER_ACT:
        return dx ? EB_OP(be, act_backward, L->act, L->slope, x, y, dy, dx, (size_t)n * eb_layer_in_numel(L), dx_beta)
                  : EB_OK;
    case EB_LAYER_BATCHNORM:
        return bn_backward(be, net, ws, L, l, x, dy, dx, dx_beta, n, mode, param_alpha);
    case EB_LAYER_RESHAPE: {
        size_t count = (size_t)n * eb_layer_in_numel(L);
        if (!dx) return EB_OK;
        if (dx == dy) /* aliased view: dx = dy + dx_beta * dx = (1 + dx_beta) dy */
            return dx_beta == 0 ? EB_OK : EB_OP(be, axpby, dx, 1 + dx_beta, dy, (eb_real)0, count);
        return EB_OP(be, axpby, dx, (eb_real)1, dy, dx_beta, count);
    }
    }
    return EB_FAIL(EB_ERR_ARG, "%s layer %d: unknown layer kind %d", net->name, l, (int)L->kind);
}

eb_status eb_layer_tangent(const eb_backend *be, eb_net *net, eb_net_ws *ws, int l, const eb_real *x,
                           const eb_real *y, const eb_real *tx, eb_real *ty, int n, eb_net_mode mode) {
    EB_TRY(check_call(net, ws, l, n));
    const eb_layer *L = &net->layers[l];
    const eb_real *W = net->params + L->w_off;
    eb_conv_geom g;
    switch (L->kind) {
    case EB_LAYER_LINEAR: /* the forward without bias (DESIGN.md §2 step 4) */
        return EB_OP(be, linear_forward, tx, W, NULL, ty, n, (int)eb_layer_in_numel(L), L->out.c);
    case EB_LAYER_CONV2D:
        eb_layer_conv_geom(L, n, &g);
        return EB_OP(be, conv2d_forward, &g, tx, W, ty, (eb_real)1, (eb_real)0);
    case EB_LAYER_CONVT2D:
        eb_layer_conv_geom(L, n, &g);
        return EB_OP(be, conv2d_backward_data, &g, tx, W, ty, (eb_real)1, (eb_real)0);
    case EB_LAYER_ACT: /* sigma'(a) is diagonal: the backward kernel is the tangent */
        return EB_OP(be, act_backward, L->act, L->slope, x, y, tx, ty, (size_t)n * eb_layer_in_numel(L), (eb_real)0);
    case EB_LAYER_BATCHNORM: {
        const int c = L->in.c, hw = shape_hw(L->in);
        if (mode == EB_MODE_TRAIN && ws->sync) /* only U (never batch-normed) needs tangents */
            return EB_FAIL(EB_ERR_UNSUPPORTED, "%s layer %d: tangent of a synchronised batch norm", net->name, l);
        if (mode == EB_MODE_TRAIN) {
            const eb_real *mean = ws->bn_stats + L->stat_off, *invstd = mean + eb_align_elems((size_t)c);
            return EB_OP(be, bn_tangent_train, x, tx, W, mean, invstd, ty, n, c, hw);
        }
        /* inference mode is affine and diagonal: its tangent is its backward-data */
        return EB_OP(be, bn_backward_infer, x, tx, W, net->buffers + L->rm_off, net->buffers + L->rv_off, L->bn_eps,
                     ty, NULL, NULL, (eb_real)0, n, c, hw);
    }
    case EB_LAYER_RESHAPE:
        return tx == ty ? EB_OK : EB_OP(be, mem_copy, ty, tx, (size_t)n * eb_layer_in_numel(L) * sizeof(eb_real));
    }
    return EB_FAIL(EB_ERR_ARG, "%s layer %d: unknown layer kind %d", net->name, l, (int)L->kind);
}

/* ---------------------------------------------------------------- nets ---- */

eb_status eb_net_forward(const eb_backend *be, eb_net *net, eb_net_ws *ws, const eb_real *x, int n, eb_net_mode mode) {
    EB_TRY(check_net_call(net, ws, n));
    ws->h[0] = (eb_real *)x; /* not owned: the caller's input stays where it is */
    for (int l = 0; l < net->n_layers; l++) {
        if (net->layers[l].kind == EB_LAYER_RESHAPE) {
            ws->h[l + 1] = ws->h[l]; /* a view: same memory, new per-sample shape */
            continue;
        }
        const eb_layer *L = &net->layers[l];
        const int fuse = (L->kind == EB_LAYER_LINEAR || L->kind == EB_LAYER_CONV2D || L->kind == EB_LAYER_CONVT2D) &&
                         L->b_len && l + 1 < net->n_layers && net->layers[l + 1].kind == EB_LAYER_ACT;
        if (fuse) {
            /* matmul / conv without its bias, then bias + activation in one pass: h[l+1] gets the
             * pre-activation (the backward and tangent read it), h[l+2] the activation */
            const eb_layer *A = &net->layers[l + 1];
            EB_TRY(layer_forward(be, net, ws, l, ws->h[l], ws->h[l + 1], n, mode, 0));
            EB_TRY(EB_OP(be, bias_act_forward, ws->h[l + 1], net->params + L->b_off, A->act, A->slope, ws->h[l + 2],
                         n, L->out.c, shape_hw(L->out)));
            l++;
            continue;
        }
        EB_TRY(layer_forward(be, net, ws, l, ws->h[l], ws->h[l + 1], n, mode, 1));
    }
    return EB_OK;
}

eb_status eb_net_backward(const eb_backend *be, eb_net *net, eb_net_ws *ws, const eb_real *dy, int n,
                          eb_net_mode mode, eb_real param_alpha, eb_real *dx, eb_real dx_beta) {
    EB_TRY(check_net_call(net, ws, n));
    const int L = net->n_layers;
    ws->g[L] = (eb_real *)dy;
    if (L == 0) /* the empty net is the identity */
        return dx ? EB_OP(be, axpby, dx, (eb_real)1, dy, dx_beta, (size_t)n * (size_t)eb_shape_numel(net->in_shape))
                  : EB_OK;
    for (int l = L - 1; l >= 1; l--) {
        if (net->layers[l].kind == EB_LAYER_RESHAPE) {
            ws->g[l] = ws->g[l + 1];
            continue;
        }
        EB_TRY(eb_layer_backward(be, net, ws, l, ws->h[l], ws->h[l + 1], ws->g[l + 1], ws->g[l], (eb_real)0, n, mode,
                                 param_alpha));
    }
    /* Layer 0: its data gradient only when the caller wants dx (U in the G step, the penalty's g_0). */
    ws->g[0] = dx;
    if (!dx && param_alpha == 0) return EB_OK;
    return eb_layer_backward(be, net, ws, 0, ws->h[0], ws->h[1], ws->g[1], dx, dx_beta, n, mode, param_alpha);
}

eb_status eb_net_tangent(const eb_backend *be, eb_net *net, eb_net_ws *ws, const eb_real *tx, int n,
                         eb_net_mode mode, eb_real *ty) {
    EB_TRY(check_net_call(net, ws, n));
    const int L = net->n_layers;
    if (L == 0)
        return EB_OP(be, mem_copy, ty, tx, (size_t)n * (size_t)eb_shape_numel(net->in_shape) * sizeof(eb_real));
    const eb_real *cur = tx;
    for (int l = 0; l < L; l++) {
        const int last = l == L - 1;
        if (net->layers[l].kind == EB_LAYER_RESHAPE && !last) continue; /* view */
        eb_real *out = ty;
        if (!last) {
            if (!ws->t[0])
                return EB_FAIL(EB_ERR_ARG, "%s: tangent pass needs a workspace with second-order buffers "
                               "(eb_net_ws_init need_second_order = 1)", net->name);
            out = cur == ws->t[0] ? ws->t[1] : ws->t[0];
        }
        EB_TRY(eb_layer_tangent(be, net, ws, l, ws->h[l], ws->h[l + 1], cur, out, n, mode));
        cur = out;
    }
    return EB_OK;
}
