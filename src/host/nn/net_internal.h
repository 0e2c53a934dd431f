/* Private helpers shared by the files of src/host/nn/: spec parsing, conv geometry of a layer and the
 * op-call shorthand. Not part of the public API (include/ebgan/net.h is). */
#ifndef EBGAN_NET_INTERNAL_H
#define EBGAN_NET_INTERNAL_H

#include "ebgan/net.h"

/* Call one entry of the backend's op table: be->ops->fn(be->ctx, ...). */
#define EB_OP(be, fn, ...) ((be)->ops->fn((be)->ctx, __VA_ARGS__))

/* Parses `spec` for per-sample input `in`: fills kind, shapes and hyper-parameters of every layer
 * (offsets are left 0 for net.c to assign). *layers is malloc'ed (NULL when the spec has no layer).
 * Errors (EB_ERR_ARG) name the layer index, its token and the problem. */
eb_status eb_net_spec_parse(const char *net_name, eb_shape in, const char *spec, eb_layer **layers,
                            int *n_layers, eb_shape *out);

/* "linear", "conv", "convt", "lrelu", ...: the layer's spec keyword (for messages). */
const char *eb_layer_kind_name(const eb_layer *L);

/* The conv2d geometry a conv or convt layer runs on for n samples. A convt layer is the adjoint of a
 * conv2d whose input is the convt's output and whose output is the convt's input (c_in / c_out swapped),
 * so its forward is that conv's backward-data (net_pass.c). */
void eb_layer_conv_geom(const eb_layer *L, int n, eb_conv_geom *g);

/* 1 for activations with sigma'' != 0 (tanh, softplus, sigmoid): they need the curvature sweep. */
int eb_layer_is_smooth_act(const eb_layer *L);

/* Per-sample element counts of a layer's input and output. */
static inline size_t eb_layer_in_numel(const eb_layer *L) { return (size_t)eb_shape_numel(L->in); }
static inline size_t eb_layer_out_numel(const eb_layer *L) { return (size_t)eb_shape_numel(L->out); }

/* A workspace inside memory the caller owns (the U step carves its whole state from one allocation):
 * eb_net_ws_elems gives the elements it needs, eb_net_ws_init_at lays it out from `base` (ws->arena stays
 * NULL, so eb_net_ws_free releases only the host pointer arrays). */
size_t eb_net_ws_elems(const eb_net *net, int max_batch, int need_second_order);
eb_status eb_net_ws_init_at(eb_net_ws *ws, const eb_net *net, int max_batch, int need_second_order, eb_real *base);

/* Workspace sub-buffers start on EB_TENSOR_ALIGN_BYTES boundaries (align.h). The penalty pass walks the
 * curvature area with the same rounding as eb_net_ws_init carved it. */
static inline size_t eb_ws_round(size_t elems) { return eb_align_elems(elems); }

#endif
