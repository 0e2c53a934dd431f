/* The Winograd path of the CPU convolutions (wino_*.c): which layers take it, and its three ops, with the
 * contract of eb_cpu_conv2d_* in cpu_ops.h (conv_ops.c checks the geometry, then hands fitting layers here). */
#ifndef EBGAN_CPU_WINO_H
#define EBGAN_CPU_WINO_H

#include "ebgan/ops.h"

enum { EB_WINO_FORWARD, EB_WINO_DATA, EB_WINO_FILTER };

/* 1 if op (EB_WINO_*) of the layer is computed as F(2x2, r x r): a square kernel of stride * r taps, stride 1 or
 * 2, r = 2 or 3 (k3 s1, k4 s2, k2 s1, k6 s2), at least 16 reduction channels (c_in * stride^2) and 8 output
 * channels, maps of at least 4x4 outputs, and enough fewer multiply-adds than the direct sum, the GEMMs' padding
 * counted (the 48-wide tile pads 64 output channels to 96): 1.15x for the forward and the filter gradient (which
 * also needs 128 reduction channels), 1.4x for the data gradient (per input phase, or as the forward's adjoint
 * when that pads 10% less; cpu_tuning.h); and EBGAN_CPU_WINOGRAD is not 0 (read once; 0 keeps every layer on the
 * direct implicit GEMMs of direct_ops.c). */
int eb_cpu_wino_fits(const eb_conv_geom *g, int op);

eb_status eb_cpu_wino_forward(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w, eb_real *y,
                              eb_real alpha, eb_real beta);
eb_status eb_cpu_wino_backward_data(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                    eb_real *dx, eb_real alpha, eb_real beta);
eb_status eb_cpu_wino_backward_filter(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy,
                                      eb_real *dw, eb_real alpha, eb_real beta);

/* The transformed weights of the forward (EB_WINO_FORWARD) or of the data gradient (EB_WINO_DATA), made once while
 * the weights are frozen (frozen_weights.h): their eb_reals (0 where the layer does not take Winograd for
 * that op; the same for every batch size), their transform from w, and the two ops reading them in place of w (the
 * same bits: each op transforms w with the same function before it reads it). */
size_t eb_cpu_wino_prep_elems(const eb_conv_geom *g, int op);
eb_status eb_cpu_wino_prepare(void *ctx, const eb_conv_geom *g, int op, const eb_real *w, eb_real *prep);
eb_status eb_cpu_wino_forward_prep(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *prep, eb_real *y,
                                   eb_real alpha, eb_real beta);
eb_status eb_cpu_wino_backward_data_prep(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *prep,
                                         eb_real *dx, eb_real alpha, eb_real beta);

#endif
