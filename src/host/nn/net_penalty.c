/* The parameter gradient of a gradient penalty P(g_0), g_0 = grad_x U, by explicit double backprop:
 * a tangent pass forward that reuses the weight-gradient kernels, then one curvature sweep (DESIGN.md §2 4-5). */
#include "net_internal.h"

static int layer_has_weight(const eb_layer *L) {
    return L->kind == EB_LAYER_LINEAR || L->kind == EB_LAYER_CONV2D || L->kind == EB_LAYER_CONVT2D;
}

/* grads_W += alpha * weight-gradient(input = tbar_in, grad_out = g_out) of layer L. */
static eb_status weight_grad(const eb_backend *be, eb_net *net, const eb_layer *L, const eb_real *tbar_in,
                             const eb_real *g_out, int n, eb_real alpha) {
    eb_real *gW = net->grads + L->w_off;
    eb_conv_geom g;
    switch (L->kind) {
    case EB_LAYER_LINEAR:
        return EB_OP(be, linear_backward_weight, tbar_in, g_out, gW, n, (int)eb_layer_in_numel(L), L->out.c, alpha,
                     (eb_real)1);
    case EB_LAYER_CONV2D:
        eb_layer_conv_geom(L, n, &g);
        return EB_OP(be, conv2d_backward_filter, &g, tbar_in, g_out, gW, alpha, (eb_real)1);
    case EB_LAYER_CONVT2D: /* the adjoint conv's filter gradient: roles of input and output swap */
        eb_layer_conv_geom(L, n, &g);
        return EB_OP(be, conv2d_backward_filter, &g, g_out, tbar_in, gW, alpha, (eb_real)1);
    default: return EB_OK;
    }
}

eb_status eb_net_penalty_backward(const eb_backend *be, eb_net *net, eb_net_ws *ws, const eb_real *gbar0,
                                  int n, eb_real alpha) {
    const int L = net->n_layers;
    if (ws->n_layers != L || !ws->h)
        return EB_FAIL(EB_ERR_ARG, "%s: workspace was made for a net with %d layers, not %d", net->name,
                       ws->n_layers, L);
    if (n < 1 || n > ws->max_batch)
        return EB_FAIL(EB_ERR_ARG, "%s: batch %d outside [1, %d] (the workspace's max_batch)", net->name, n,
                       ws->max_batch);
    if (eb_net_has_batchnorm(net))
        return EB_FAIL(EB_ERR_ARG, "%s must not contain batch norm: it couples samples (DESIGN.md §2)", net->name);
    if (!ws->t[0])
        return EB_FAIL(EB_ERR_ARG, "%s: the penalty needs a workspace with second-order buffers "
                       "(eb_net_ws_init need_second_order = 1)", net->name);

    /* The tangent is needed as the input of every weight layer (dP/dW) and smooth activation (curvature);
     * the sweep needs adjoints only down to the lowest weight layer. */
    int top = -1, lo = L;
    for (int l = 0; l < L; l++) {
        const eb_layer *Ly = &net->layers[l];
        if (layer_has_weight(Ly) || eb_layer_is_smooth_act(Ly)) top = l;
        if (layer_has_weight(Ly) && l < lo) lo = l;
    }
    if (top < 0 || lo == L) return EB_OK; /* no parameters: nothing to accumulate */

    /* Step 4: tangent pass forward from gbar_0, tbar_l = J_l tbar_{l-1} (forward without bias, sigma' ⊙ ...).
     * ws->g[l+1] is the adjoint of layer l's output from the seed-1 backward. */
    const eb_real *cur = gbar0;
    size_t c_off = 0;
    int top_inj = -1;
    for (int l = 0; l <= top; l++) {
        const eb_layer *Ly = &net->layers[l];
        const eb_real *g_out = ws->g[l + 1];
        if (layer_has_weight(Ly)) EB_TRY(weight_grad(be, net, Ly, cur, g_out, n, alpha));
        if (eb_layer_is_smooth_act(Ly)) {
            /* Step 5's injection c_l = g_l ⊙ sigma''(a_l) ⊙ tbar_{l-1}, kept until the sweep reaches it. */
            eb_real *cl = ws->c + c_off;
            EB_TRY(EB_OP(be, act_curvature, Ly->act, Ly->slope, ws->h[l], ws->h[l + 1], g_out, cur, cl,
                         (size_t)n * eb_layer_in_numel(Ly), (eb_real)0));
            c_off += eb_ws_round((size_t)ws->max_batch * eb_layer_in_numel(Ly));
            top_inj = l;
        }
        if (l == top || Ly->kind == EB_LAYER_RESHAPE) continue; /* last needed / a view */
        eb_real *out = cur == ws->t[0] ? ws->t[1] : ws->t[0];
        EB_TRY(eb_layer_tangent(be, net, ws, l, ws->h[l], ws->h[l + 1], cur, out, n, EB_MODE_TRAIN));
        cur = out;
    }
    /* Piecewise-linear activations only: every injection is zero, skip the sweep (DESIGN.md §2 step 5). */
    if (top_inj < 0) return EB_OK;

    /* Step 5: one ordinary backward sweep from the topmost injection down; r is the adjoint of the
     * current layer's output (bias gradients included, scaled by alpha like the weights). */
    eb_real *r = NULL;
    for (int l = top_inj; l >= lo; l--) {
        const eb_layer *Ly = &net->layers[l];
        eb_real *other = r == ws->r[0] ? ws->r[1] : ws->r[0];
        if (eb_layer_is_smooth_act(Ly)) {
            c_off -= eb_ws_round((size_t)ws->max_batch * eb_layer_in_numel(Ly));
            eb_real *cl = ws->c + c_off;
            if (r) /* cl = sigma'(a) ⊙ r + cl: the injection joins the adjoint flowing down */
                EB_TRY(EB_OP(be, act_backward, Ly->act, Ly->slope, ws->h[l], ws->h[l + 1], r, cl,
                             (size_t)n * eb_layer_in_numel(Ly), (eb_real)1));
            r = cl;
        } else if (Ly->kind == EB_LAYER_ACT) {
            EB_TRY(eb_layer_backward(be, net, ws, l, ws->h[l], ws->h[l + 1], r, other, (eb_real)0, n, EB_MODE_TRAIN,
                                     (eb_real)0));
            r = other;
        } else if (Ly->kind == EB_LAYER_RESHAPE) {
            continue;
        } else {
            /* weight layer: param grads (alpha) and, above the lowest weight layer, the data adjoint */
            eb_real *dx = l > lo ? other : NULL;
            EB_TRY(eb_layer_backward(be, net, ws, l, ws->h[l], ws->h[l + 1], r, dx, (eb_real)0, n, EB_MODE_TRAIN, alpha));
            r = dx;
        }
    }
    return EB_OK;
}
