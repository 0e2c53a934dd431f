/* A network's storage: parameter layout and PyTorch names, initialisation, and its per-batch workspace.
 * One backend allocation per net ([params | grads | buffers]) and one per workspace (DESIGN.md §4). */
#include "net_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- net ---- */

void eb_net_freeze(const eb_net *net, const eb_backend *be) {
    if (be->ops->weights_freeze && net->params) EB_OP(be, weights_freeze, net->params, net->n_params);
}

void eb_net_thaw(const eb_net *net, const eb_backend *be) {
    if (be->ops->weights_thaw && net->params) EB_OP(be, weights_thaw, net->params);
}

eb_status eb_net_init(eb_net *net, const eb_backend *be, const char *name, eb_shape in, const char *spec) {
    memset(net, 0, sizeof *net);
    if (!name || strlen(name) >= sizeof net->name)
        return EB_FAIL(EB_ERR_ARG, "net name '%s' must have 1..%zu characters", name ? name : "(null)",
                       sizeof net->name - 1);
    strcpy(net->name, name);
    EB_TRY(eb_net_spec_parse(name, in, spec, &net->layers, &net->n_layers, &net->out_shape));
    net->in_shape = in;
    net->spec = malloc(strlen(spec ? spec : "") + 1);
    if (!net->spec) {
        free(net->layers);
        memset(net, 0, sizeof *net);
        return EB_FAIL(EB_ERR_OOM, "%s: cannot copy its spec", name);
    }
    strcpy(net->spec, spec ? spec : "");

    /* Layout: parameters layer by layer, weight then bias (the order of eb_net_param_list); bn running
     * stats in buffers; bn saved batch stats [mean | invstd] in the workspace. Every tensor starts on an
     * EB_TENSOR_ALIGN_BYTES boundary (align.h); the padding between tensors is zero and stays zero (its
     * gradient is 0, so Adam and SGD never move it). */
    size_t np = 0, nb = 0, ns = 0, nt = 0;
    for (int l = 0; l < net->n_layers; l++) {
        eb_layer *L = &net->layers[l];
        size_t in_n = eb_layer_in_numel(L);
        L->w_len = L->b_len = 0;
        switch (L->kind) {
        case EB_LAYER_LINEAR:
            L->w_len = (size_t)L->out.c * in_n;
            L->b_len = L->has_bias ? (size_t)L->out.c : 0;
            break;
        case EB_LAYER_CONV2D:
        case EB_LAYER_CONVT2D:
            L->w_len = (size_t)L->in.c * (size_t)L->out.c * (size_t)L->k * (size_t)L->k;
            L->b_len = L->has_bias ? (size_t)L->out.c : 0;
            break;
        case EB_LAYER_BATCHNORM:
            L->w_len = L->b_len = (size_t)L->in.c; /* gamma, beta */
            L->rm_off = nb;
            L->rv_off = nb + eb_align_elems((size_t)L->in.c);
            nb += 2 * eb_align_elems((size_t)L->in.c);
            L->stat_off = ns; /* mean at stat_off, invstd at stat_off + eb_align_elems(c) */
            ns += 2 * eb_align_elems((size_t)L->in.c);
            break;
        default: break;
        }
        L->w_off = np;
        np += eb_align_elems(L->w_len);
        L->b_off = np;
        np += eb_align_elems(L->b_len);
        nt += L->w_len + L->b_len;
    }
    net->n_params = np;
    net->n_trainable = nt;
    net->n_buffers = nb;
    net->n_bn_stats = ns;

    size_t elems = 2 * np + nb;
    if (elems) {
        eb_status st = EB_OP(be, mem_alloc, &net->arena, elems * sizeof(eb_real));
        if (st != EB_OK) {
            eb_net_free(net, be);
            return st;
        }
        eb_real *base = net->arena;
        net->params = base;
        net->grads = base + np;
        net->buffers = base + 2 * np;
        st = EB_OP(be, fill, base, (eb_real)0, elems);
        for (int l = 0; l < net->n_layers && st == EB_OK; l++)
            if (net->layers[l].kind == EB_LAYER_BATCHNORM)
                st = EB_OP(be, fill, net->buffers + net->layers[l].rv_off, (eb_real)1, (size_t)net->layers[l].in.c);
        if (st != EB_OK) {
            eb_net_free(net, be);
            return st;
        }
    }
    return EB_OK;
}

void eb_net_free(eb_net *net, const eb_backend *be) {
    if (!net) return;
    if (net->arena && be) EB_OP(be, mem_free, net->arena);
    free(net->layers);
    free(net->spec);
    memset(net, 0, sizeof *net);
}

/* PyTorch's fan_in of a layer's weight (nn.init._calculate_fan_in_and_fan_out): dim 1 times the kernel
 * area, which for ConvTranspose2d ([c_in, c_out, k, k]) is c_out * k * k. */
static double layer_fan_in(const eb_layer *L) {
    switch (L->kind) {
    case EB_LAYER_LINEAR: return (double)eb_layer_in_numel(L);
    case EB_LAYER_CONV2D: return (double)L->in.c * L->k * L->k;
    case EB_LAYER_CONVT2D: return (double)L->out.c * L->k * L->k;
    default: return 1.0;
    }
}

eb_status eb_net_init_weights(eb_net *net, const eb_backend *be, eb_rng *rng) {
    if (net->n_params == 0 && net->n_buffers == 0) return EB_OK;
    /* Host staging, init time only (not a per-step function). */
    size_t elems = net->n_params + net->n_buffers;
    eb_real *host = calloc(elems, sizeof *host); /* zero padding between tensors (align.h) */
    if (!host) return EB_FAIL(EB_ERR_OOM, "%s: cannot stage %zu initial weights on the host", net->name, elems);
    eb_real *p = host, *buf = host + net->n_params;
    for (int l = 0; l < net->n_layers; l++) {
        const eb_layer *L = &net->layers[l];
        if (L->kind == EB_LAYER_LINEAR) {
            /* PyTorch default: kaiming_uniform_(a = sqrt 5) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
            double bound = 1.0 / sqrt(layer_fan_in(L));
            for (size_t i = 0; i < L->w_len; i++) p[L->w_off + i] = (eb_real)(bound * (2.0 * eb_rng_uniform(rng) - 1.0));
            for (size_t i = 0; i < L->b_len; i++) p[L->b_off + i] = (eb_real)(bound * (2.0 * eb_rng_uniform(rng) - 1.0));
        } else if (L->kind == EB_LAYER_CONV2D || L->kind == EB_LAYER_CONVT2D) {
            /* weights_init of the paper's code: N(0, 0.02) weights; the bias keeps PyTorch's default. */
            uint64_t off = eb_rng_reserve(rng, L->w_len);
            for (size_t i = 0; i < L->w_len; i++) p[L->w_off + i] = (eb_real)(0.02 * eb_rng_normal_at(rng->seed, off + i));
            double bound = 1.0 / sqrt(layer_fan_in(L));
            for (size_t i = 0; i < L->b_len; i++) p[L->b_off + i] = (eb_real)(bound * (2.0 * eb_rng_uniform(rng) - 1.0));
        } else if (L->kind == EB_LAYER_BATCHNORM) {
            /* gamma N(1, 0.02), beta 0; running stats reset to (0, 1). */
            uint64_t off = eb_rng_reserve(rng, L->w_len);
            for (size_t i = 0; i < L->w_len; i++)
                p[L->w_off + i] = (eb_real)(1.0 + 0.02 * eb_rng_normal_at(rng->seed, off + i));
            for (size_t i = 0; i < L->b_len; i++) p[L->b_off + i] = 0;
            for (int c = 0; c < L->in.c; c++) {
                buf[L->rm_off + (size_t)c] = 0;
                buf[L->rv_off + (size_t)c] = 1;
            }
        }
    }
    eb_status st = EB_OK;
    if (net->n_params) st = EB_OP(be, mem_upload, net->params, host, net->n_params * sizeof *host);
    if (st == EB_OK && net->n_buffers) st = EB_OP(be, mem_upload, net->buffers, buf, net->n_buffers * sizeof *host);
    free(host);
    return st;
}

static void param_info_set(eb_param_info *e, const eb_net *net, int l, const char *what, int is_buffer,
                           size_t off, size_t len, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    snprintf(e->name, sizeof e->name, "%s.%d.%s", net->name, l, what);
    e->is_buffer = is_buffer;
    e->offset = off;
    e->len = len;
    e->ndim = ndim;
    e->shape[0] = d0; e->shape[1] = d1; e->shape[2] = d2; e->shape[3] = d3;
}

int eb_net_param_list(const eb_net *net, eb_param_info *out, int cap) {
    int count = 0;
    eb_param_info tmp;
#define EMIT(...) do { param_info_set(count < cap && out ? &out[count] : &tmp, net, l, __VA_ARGS__); count++; } while (0)
    for (int l = 0; l < net->n_layers; l++) {
        const eb_layer *L = &net->layers[l];
        int64_t o = L->out.c, k = L->k;
        switch (L->kind) {
        case EB_LAYER_LINEAR:
            EMIT("weight", 0, L->w_off, L->w_len, 2, o, (int64_t)eb_layer_in_numel(L), 0, 0);
            if (L->b_len) EMIT("bias", 0, L->b_off, L->b_len, 1, o, 0, 0, 0);
            break;
        case EB_LAYER_CONV2D:
            EMIT("weight", 0, L->w_off, L->w_len, 4, o, L->in.c, k, k);
            if (L->b_len) EMIT("bias", 0, L->b_off, L->b_len, 1, o, 0, 0, 0);
            break;
        case EB_LAYER_CONVT2D:
            EMIT("weight", 0, L->w_off, L->w_len, 4, L->in.c, o, k, k);
            if (L->b_len) EMIT("bias", 0, L->b_off, L->b_len, 1, o, 0, 0, 0);
            break;
        case EB_LAYER_BATCHNORM:
            EMIT("weight", 0, L->w_off, L->w_len, 1, L->in.c, 0, 0, 0);
            EMIT("bias", 0, L->b_off, L->b_len, 1, L->in.c, 0, 0, 0);
            EMIT("running_mean", 1, L->rm_off, (size_t)L->in.c, 1, L->in.c, 0, 0, 0);
            EMIT("running_var", 1, L->rv_off, (size_t)L->in.c, 1, L->in.c, 0, 0, 0);
            break;
        default: break;
        }
    }
#undef EMIT
    return count;
}

/* Walks the trainable tensors in parameter order (weight, bias per layer): offsets in the params area. */
void eb_net_params_pack(const eb_net *net, eb_real *span) {
    size_t at = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const eb_layer *L = &net->layers[l];
        /* at <= offset always (offsets only add padding), so a forward memmove never overwrites unread data */
        memmove(span + at, span + L->w_off, L->w_len * sizeof *span);
        at += L->w_len;
        memmove(span + at, span + L->b_off, L->b_len * sizeof *span);
        at += L->b_len;
    }
}

void eb_net_params_unpack(const eb_net *net, eb_real *span) {
    size_t at = net->n_trainable;
    /* backwards, so each tensor moves up before the one below it is written */
    for (int l = net->n_layers - 1; l >= 0; l--) {
        const eb_layer *L = &net->layers[l];
        at -= L->b_len;
        memmove(span + L->b_off, span + at, L->b_len * sizeof *span);
        at -= L->w_len;
        memmove(span + L->w_off, span + at, L->w_len * sizeof *span);
    }
    /* zero the padding: every element not inside a tensor */
    size_t end = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const eb_layer *L = &net->layers[l];
        if (L->w_len) {
            memset(span + end, 0, (L->w_off - end) * sizeof *span);
            end = L->w_off + L->w_len;
        }
        if (L->b_len) {
            memset(span + end, 0, (L->b_off - end) * sizeof *span);
            end = L->b_off + L->b_len;
        }
    }
    memset(span + end, 0, (net->n_params - end) * sizeof *span);
}

double eb_net_macs_per_sample(const eb_net *net) {
    double macs = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const eb_layer *L = &net->layers[l];
        if (L->kind == EB_LAYER_LINEAR) macs += (double)L->w_len;
        /* conv: every output pixel of every output channel sums c_in * k * k products; a conv-transpose is
         * the adjoint of the conv from its output to its input, so it counts the input's pixels */
        if (L->kind == EB_LAYER_CONV2D) macs += (double)L->w_len * L->out.h * L->out.w;
        if (L->kind == EB_LAYER_CONVT2D) macs += (double)L->w_len * L->in.h * L->in.w;
    }
    return macs;
}

int64_t eb_net_max_width(const eb_net *net) {
    int64_t m = eb_shape_numel(net->in_shape);
    for (int l = 0; l < net->n_layers; l++)
        if (eb_shape_numel(net->layers[l].out) > m) m = eb_shape_numel(net->layers[l].out);
    return m;
}

int eb_net_has_curvature(const eb_net *net) {
    for (int l = 0; l < net->n_layers; l++)
        if (eb_layer_is_smooth_act(&net->layers[l])) return 1;
    return 0;
}

int eb_net_has_batchnorm(const eb_net *net) {
    for (int l = 0; l < net->n_layers; l++)
        if (net->layers[l].kind == EB_LAYER_BATCHNORM) return 1;
    return 0;
}

/* ---------------------------------------------------------- workspace ---- */

/* Lays out every buffer of the workspace from `base` (NULL: only count) and returns the elements used.
 * h[l+1] = output of layer l, g[l] = adjoint of layer l's input (l >= 1; g[0] is the caller's dx, g[L] the
 * caller's dy). Reshape layers get none: their h / g alias the layer below / above (net_pass.c). The
 * curvature area holds one injection per smooth activation (DESIGN.md §2 step 5), all kept until the sweep;
 * c points at its start and eb_net_penalty_backward walks it with the same rounding. */
static size_t ws_layout(eb_net_ws *ws, const eb_net *net, size_t B, int need_second_order, eb_real *base) {
    size_t off = 0;
#define TAKE(dst, elems)                           \
    do {                                           \
        size_t at_ = off;                          \
        off += eb_ws_round(elems);                 \
        if (base) (dst) = base + at_;              \
    } while (0)
    size_t c_elems = 0;
    for (int l = 0; l < net->n_layers; l++) {
        const eb_layer *Ly = &net->layers[l];
        if (Ly->kind == EB_LAYER_RESHAPE) continue;
        TAKE(ws->h[l + 1], B * eb_layer_out_numel(Ly));
        if (l >= 1) TAKE(ws->g[l], B * eb_layer_in_numel(Ly));
        if (eb_layer_is_smooth_act(Ly)) c_elems += eb_ws_round(B * eb_layer_in_numel(Ly));
    }
    if (need_second_order) {
        const size_t wide = B * (size_t)eb_net_max_width(net);
        TAKE(ws->t[0], wide);
        TAKE(ws->t[1], wide);
        TAKE(ws->r[0], wide);
        TAKE(ws->r[1], wide);
        if (c_elems) TAKE(ws->c, c_elems);
    }
    if (net->n_bn_stats) TAKE(ws->bn_stats, net->n_bn_stats);
#undef TAKE
    return off;
}

size_t eb_net_ws_elems(const eb_net *net, int max_batch, int need_second_order) {
    return max_batch < 1 ? 0 : ws_layout(NULL, net, (size_t)max_batch, need_second_order, NULL);
}

eb_status eb_net_ws_init_at(eb_net_ws *ws, const eb_net *net, int max_batch, int need_second_order, eb_real *base) {
    memset(ws, 0, sizeof *ws);
    if (max_batch < 1) return EB_FAIL(EB_ERR_ARG, "%s workspace: max_batch %d must be >= 1", net->name, max_batch);
    const int L = net->n_layers;
    ws->max_batch = max_batch;
    ws->n_layers = L;
    /* host array of device pointers, h then g */
    ws->h = calloc(2 * ((size_t)L + 1), sizeof(eb_real *));
    if (!ws->h) return EB_FAIL(EB_ERR_OOM, "%s workspace: cannot allocate %d layer pointers", net->name, 2 * (L + 1));
    ws->g = ws->h + L + 1;
    size_t elems = ws_layout(ws, net, (size_t)max_batch, need_second_order, base);
    ws->arena_bytes = elems * sizeof(eb_real);
    if (elems && !base) {
        eb_net_ws_free(ws, NULL);
        return EB_FAIL(EB_ERR_ARG, "%s workspace: no memory given for %zu elements", net->name, elems);
    }
    return EB_OK;
}

eb_status eb_net_ws_init(eb_net_ws *ws, const eb_backend *be, const eb_net *net, int max_batch, int need_second_order) {
    memset(ws, 0, sizeof *ws);
    const size_t elems = eb_net_ws_elems(net, max_batch, need_second_order);
    void *arena = NULL;
    if (elems) EB_TRY(EB_OP(be, mem_alloc, &arena, elems * sizeof(eb_real)));
    eb_status st = eb_net_ws_init_at(ws, net, max_batch, need_second_order, arena);
    if (st != EB_OK) {
        if (arena) EB_OP(be, mem_free, arena);
        return st;
    }
    ws->arena = arena; /* owned: eb_net_ws_free releases it */
    return EB_OK;
}

void eb_net_ws_free(eb_net_ws *ws, const eb_backend *be) {
    if (!ws) return;
    if (ws->arena && be) EB_OP(be, mem_free, ws->arena); /* NULL when carved from a caller's arena */
    free(ws->h); /* g shares this host allocation */
    memset(ws, 0, sizeof *ws);
}
