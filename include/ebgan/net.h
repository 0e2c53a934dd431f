/* Sequential networks built from a spec string: layers, parameter layout and names, and the
 * forward / backward / tangent passes over a workspace (no autograd tape; DESIGN.md §2). */
#ifndef EBGAN_NET_H
#define EBGAN_NET_H

#include <stddef.h>
#include <stdint.h>
#include "ebgan/align.h"
#include "ebgan/ops.h"
#include "ebgan/rng.h"

/* Spec grammar: comma-separated layers, applied in order to an input of per-sample shape [c, h, w]
 * (dense data: [d, 1, 1]). Layer i owns the parameters "<net>.<i>.weight" / ".bias" (as nn.Sequential):
 *   linear:OUT[:nobias]            dense; a [c,h,w] input is flattened implicitly
 *   conv:OUT:K:S:P[:nobias]        conv2d, square kernel K, stride S, padding P
 *   convt:OUT:K:S:P:OP[:nobias]    conv_transpose2d with output_padding OP
 *   relu | lrelu:SLOPE | tanh | softplus | sigmoid
 *   bn                             batch norm over channels (G only: U must not couple samples)
 *   reshape:C:H:W                  view the per-sample vector as [C, H, W] (or back, reshape:D:1:1)
 * Example (toy energy): "linear:512,lrelu:0.2,linear:512,lrelu:0.2,linear:512,lrelu:0.2,linear:1" */

typedef enum eb_layer_kind {
    EB_LAYER_LINEAR = 0, EB_LAYER_CONV2D, EB_LAYER_CONVT2D, EB_LAYER_ACT, EB_LAYER_BATCHNORM, EB_LAYER_RESHAPE
} eb_layer_kind;

typedef struct eb_shape { int c, h, w; } eb_shape; /* per sample; numel = c*h*w */
static inline int64_t eb_shape_numel(eb_shape s) { return (int64_t)s.c * s.h * s.w; }

typedef struct eb_layer {
    eb_layer_kind kind;
    eb_shape in, out;
    int k, stride, pad, out_pad; /* conv / convt */
    int has_bias;
    eb_act_kind act;             /* act */
    eb_real slope;               /* lrelu */
    eb_real bn_eps, bn_momentum; /* bn: 1e-5, 0.1 (PyTorch) */
    /* offsets (elements) into net->params / net->grads, each EB_TENSOR_ALIGN_BYTES-aligned; len 0 when absent */
    size_t w_off, w_len, b_off, b_len;
    /* bn running stats: offsets into net->buffers */
    size_t rm_off, rv_off;
    /* bn saved batch statistics: offsets into the workspace's bn area */
    size_t stat_off;
} eb_layer;

typedef struct eb_net {
    char name[16];     /* "U", "G", "T", "E", ...: the prefix of parameter names */
    char *spec;        /* the spec string it was built from (owned) */
    int n_layers;
    eb_layer *layers;  /* host memory, owned */
    eb_shape in_shape, out_shape;
    size_t n_params;   /* elements of the params (and of the grads) area: every tensor aligned, zero padding */
    size_t n_trainable;/* trainable elements proper (PyTorch's count): n_params less the padding */
    size_t n_buffers;  /* elements of the buffers area (bn running stats, aligned) */
    size_t n_bn_stats; /* elements of the workspace's bn area (saved mean, 1/std per batch, aligned) */
    /* on the backend, one allocation: [params | grads | buffers] */
    void *arena;
    eb_real *params, *grads, *buffers;
} eb_net;

/* One named tensor of a net, for checkpoints and the `grads` command. */
typedef struct eb_param_info {
    char name[64];     /* e.g. "U.0.weight", "G.1.running_mean" */
    int is_buffer;     /* 0: in params (and grads); 1: in buffers */
    size_t offset, len;
    int ndim;
    int64_t shape[4];  /* PyTorch shapes: linear [out, in]; conv [o, i, k, k]; convt [i, o, k, k]; bias [o] */
} eb_param_info;

/* Parse `spec` for input shape `in`, check every shape, allocate params/grads/buffers on `be` (zeroed;
 * bn running_var = 1). Errors (EB_ERR_ARG) name the layer index and the problem. */
eb_status eb_net_init(eb_net *net, const eb_backend *be, const char *name, eb_shape in, const char *spec);
void eb_net_free(eb_net *net, const eb_backend *be);

/* Frozen weights. Between eb_net_freeze and eb_net_thaw the caller keeps the net's parameters unchanged, and
 * the backend may keep what it derives from them (ops.h: weights_freeze; the CPU's Winograd transforms of each
 * conv / convt layer, made on its first convolution there): a U step runs each layer's forward and its data
 * gradient three times with the same weights (DESIGN.md §2: the fake and real batches, the penalty's tangent and
 * backward). Pairs nest (the U step's inside the trainer's keeps the outer's forms); on a backend without
 * weights_freeze both do nothing. */
void eb_net_freeze(const eb_net *net, const eb_backend *be);
void eb_net_thaw(const eb_net *net, const eb_backend *be);

/* The paper's initialisation: every weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's default,
 * which the paper's code keeps for linear layers and biases), then conv / convt weights N(0, 0.02) and
 * bn gamma N(1, 0.02), beta 0 (the paper's weights_init). Draws on the host from `rng`. */
eb_status eb_net_init_weights(eb_net *net, const eb_backend *be, eb_rng *rng);

/* Named tensors in a fixed order (layer by layer, weight before bias, then buffers). Returns the
 * count; writes at most `cap` entries (out may be NULL to count). */
int eb_net_param_list(const eb_net *net, eb_param_info *out, int cap);
/* A flat tensor over the params area (n_params elements, e.g. an Adam moment) to the packed parameter
 * order of eb_net_param_list (its first n_trainable elements, as checkpoints store it), and back (the
 * padding zeroed). In place. */
void eb_net_params_pack(const eb_net *net, eb_real *span);
void eb_net_params_unpack(const eb_net *net, eb_real *span);
/* Multiply-adds of one sample's forward pass through the linear, conv and conv-transpose layers (the GEMM
 * work; a backward-data or backward-weight pass costs as much again each). */
double eb_net_macs_per_sample(const eb_net *net);
/* Max per-sample activation size over the input and all layer outputs (elements). */
int64_t eb_net_max_width(const eb_net *net);
/* 1 if any activation has sigma'' != 0 (so the penalty needs the curvature sweep, DESIGN.md §2 step 5). */
int eb_net_has_curvature(const eb_net *net);
/* 1 if the net has a batch-norm layer. */
int eb_net_has_batchnorm(const eb_net *net);

typedef enum eb_net_mode { EB_MODE_TRAIN = 0, EB_MODE_INFER } eb_net_mode; /* bn: batch or running stats */

/* Per-batch buffers of one net for up to max_batch samples, one allocation.
 * h[l] is the output of layer l-1 (h[0] the input, not owned: it points at the caller's buffer),
 * g[l] the adjoint of h[l] from the last backward, t[2]/r[2]/c ping-pong buffers for the tangent
 * pass and the curvature sweep. */
typedef struct eb_net_ws {
    int max_batch;
    int n_layers;
    eb_real **h;            /* n_layers + 1 */
    eb_real **g;            /* n_layers + 1 */
    eb_real *t[2], *r[2], *c;
    eb_real *bn_stats;      /* saved mean / invstd of every bn layer */
    struct eb_bn_sync *sync; /* NULL: bn statistics of this batch; else of the batch over all ranks (bn_sync.h) */
    void *arena;
    size_t arena_bytes;
} eb_net_ws;

/* need_second_order: also allocate the tangent / sweep buffers (U only). */
eb_status eb_net_ws_init(eb_net_ws *ws, const eb_backend *be, const eb_net *net, int max_batch, int need_second_order);
void eb_net_ws_free(eb_net_ws *ws, const eb_backend *be);

/* Forward n samples of x ([n, in] on the backend): fills ws->h[1..L]; the output is ws->h[L]. */
eb_status eb_net_forward(const eb_backend *be, eb_net *net, eb_net_ws *ws, const eb_real *x, int n, eb_net_mode mode);

/* Backward from dy (adjoint of the output, [n, out]) after a forward of the same batch and mode.
 * Fills ws->g[l] for l = L..1 (g[L] aliases dy). Parameter gradients accumulate as
 * grads += param_alpha * dL/dtheta when param_alpha != 0 (skipped entirely when 0: the G step needs
 * only input gradients from U, DESIGN.md §2). When dx != NULL: dx = dL/dx + dx_beta * dx. */
eb_status eb_net_backward(const eb_backend *be, eb_net *net, eb_net_ws *ws, const eb_real *dy, int n,
                          eb_net_mode mode, eb_real param_alpha, eb_real *dx, eb_real dx_beta);

/* The parameter gradient of P(g_0) where g_0 = J^T 1 came from eb_net_backward with seed 1 per sample
 * (ws->g valid) and gbar0 = dP/dg_0 ([n, in]): tangent pass with weight-gradient reuse and, when the
 * net has smooth activations, the curvature sweep (DESIGN.md §2 steps 4-5). grads += alpha * dP/dtheta. */
eb_status eb_net_penalty_backward(const eb_backend *be, eb_net *net, eb_net_ws *ws, const eb_real *gbar0,
                                  int n, eb_real alpha);

/* Tangent (JVP) of the whole net at the last forward: ty = J tx ([n, in] -> [n, out]). */
eb_status eb_net_tangent(const eb_backend *be, eb_net *net, eb_net_ws *ws, const eb_real *tx, int n,
                         eb_net_mode mode, eb_real *ty);

/* Per-layer primitives the passes above are made of (exposed for the op tests). x = layer input,
 * y = layer output; sizes per sample from net->layers[l]. */
eb_status eb_layer_forward(const eb_backend *be, eb_net *net, eb_net_ws *ws, int l, const eb_real *x, eb_real *y,
                           int n, eb_net_mode mode);
eb_status eb_layer_backward(const eb_backend *be, eb_net *net, eb_net_ws *ws, int l, const eb_real *x,
                            const eb_real *y, const eb_real *dy, eb_real *dx, eb_real dx_beta, int n,
                            eb_net_mode mode, eb_real param_alpha);
eb_status eb_layer_tangent(const eb_backend *be, eb_net *net, eb_net_ws *ws, int l, const eb_real *x,
                           const eb_real *y, const eb_real *tx, eb_real *ty, int n, eb_net_mode mode);

#endif
