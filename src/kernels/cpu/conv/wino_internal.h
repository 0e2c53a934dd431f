/* The pieces the Winograd convolutions' files share (wino_transforms.c, wino_jobs.c, wino_choice.c, wino_ops.c):
 * the layer as 2x2 output tiles, the layouts of the GEMM operands, the job over a grid of tiles, the scratch. */
#ifndef EBGAN_CPU_WINO_INTERNAL_H
#define EBGAN_CPU_WINO_INTERNAL_H

#include "ebgan/ops.h"
#include "../cpu_tuning.h"
#include "conv_clones.h"
#include "tile.h"
#include "wino.h"

#include <stddef.h>

#define NR EB_TILE_NR

static inline size_t wino_round(size_t v, size_t m) { return (v + m - 1) / m * m; }

/* Elements of eb_real holding `count` objects of `bytes`, rounded to 64 elements (regions keep the base's
 * 256-byte alignment). */
static inline size_t wino_region(size_t count, size_t bytes) {
    return wino_round((count * bytes + sizeof(eb_real) - 1) / sizeof(eb_real), 64);
}

/* ---- the layer as tiles ---- */

typedef struct wino {
    int r, al, t2;     /* taps per phase and axis; alpha = r + 1 (an input tile's side); alpha^2 (the GEMMs) */
    int s, np;         /* stride; phases s * s */
    int cp;            /* reduction channels c_in * np: c' = (py * s + px) * c_in + c */
    int th, tw, tps;   /* 2x2 output tiles per sample: rows, columns, all (tile l = ty * tw + tx) */
} wino;

static inline wino wino_of(const eb_conv_geom *g) {
    wino p = {.s = g->stride};
    p.r = g->k_h / p.s;
    p.al = p.r + 1;
    p.t2 = p.al * p.al;
    p.np = p.s * p.s;
    p.cp = g->c_in * p.np;
    p.th = (g->h_out + 1) / 2;
    p.tw = (g->w_out + 1) / 2;
    p.tps = p.th * p.tw;
    return p;
}

/* The kinds of wino_2d: the transforms of F(2, r). */
enum { W_IN, W_IN_T, W_OUT, W_OUT_T, W_FILT, W_FILT_T }; /* B^T, B, A^T, A, G, G^T */

/* ---- layouts ----
 * The transforms run on vectors of channels: the rows of one sample's input (x, or dy) that a block of tiles
 * reads are first copied channel-last into a band [h][w][c] (cl_band), so that every tap of a tile is one
 * unit-stride vector of c_in (or c_out) values. The GEMM operands of a block of tiles are
 *   V [t2][tiles][cv]          rows = tiles (the tile's A, read in place), c' = ph c_in + c < C <= cv
 *   U [t2][kp / NR][C][NR]     the transformed weights packed as the tile's B panels (output channels in strips)
 *   M [t2][tiles][kp]          C of the tile, kp = the output channels rounded up to NR
 * and for the filter gradient dM [t2][kp / NR][tiles][NR] (dy's transform, B panels as they are). */

/* ---- a stride-1 correlation over a grid of output planes: the forward conv, or one input phase of the data
 * gradient ----
 *   out[n][o][R][Q] = alpha * sum over (c', i, j < r) of in_c'(R + i, Q + j) g[o][c'][i][j] + beta * out
 * for R < ho, Q < wo, where in_c'(u, v) = src[n src_n + c (h w) + row w + col] (NCHW, cs channels), c' = ph cs +
 * c, row = s (u + u0) + py - pad, col = s (v + v0) + px - pad, (py, px) = (ph / s, ph % s), 0 outside
 * [0, h) x [0, w); out lives at dst[n dst_n + o dst_c + R dst_r + Q dst_q]. Tiles tt = (n tth + ty) tw + tx. */
typedef struct wjob {
    int r, al, t2;
    int n, cs, np, C, cv, K, kp, ho, wo, th, tw, tps; /* cv: the row stride of V (C + 16: no 4 KiB multiple) */
    const eb_real *src;
    size_t src_n;
    int h, w, s, u0, v0, pad;
    eb_real *dst;
    ptrdiff_t dst_n, dst_c, dst_r, dst_q;
    eb_real alpha, beta;
    const eb_real *U;    /* packed [t2][kp / NR][C][NR] */
    const eb_real *zero; /* max(cs, K) zeros: the taps outside the map */
} wjob;

/* The scratch of a forward / data op: U (u_elems), the offsets 0 .. n_id - 1 (the GEMMs' identity steps),
 * n_zero zeros (the taps outside the map), then a region of `per` elements for each thread. NULL when it cannot
 * grow (eb_cpu_scratch recorded the message). */
typedef struct wino_scratch {
    eb_real *U, *zero, *ws;
    ptrdiff_t *id;
} wino_scratch;

/* Where cl_dy writes dM: the values of element xi, tile lane l, output channels [q cw, q cw + cw) start at
 * dM + xi xs + l ls + q qs, q < nq. The filter gradient's B strips: cw = NR, nq = kp / NR (xs = nq ldt NR, ls = NR,
 * qs = ldt NR); the adjoint data gradient's rows: cw = K, nq = 1 (xs = ldv kv, ls = kv). */
typedef struct dy_layout {
    int cw, nq;
    size_t xs, ls, qs;
} dy_layout;

/* ---- the transforms (wino_transforms.c) ---- */
void wino_2d(int kind, int r, const eb_real *src, eb_real *tmp, eb_real *dst, size_t n);
void cl_band(const eb_real *src, int cs, int h, int w, int lo, int hi, eb_real *band);
void cl_input(const wjob *j, const eb_real *band, size_t tt0, int nt, eb_real *V, size_t ldv, eb_real *tmp);
void cl_output(const wjob *j, size_t tt0, int nt, const eb_real *M, size_t ldv, eb_real *tmp);
void cl_dy(const wjob *j, const eb_real *band, size_t tt0, int nt, eb_real *dM, const dy_layout *o, eb_real *tmp);
void cl_dxacc(const wjob *j, const eb_real *dV, size_t ldv, int cpad, size_t tt0, int nt, eb_real *dxcl, eb_real *tmp);
void cl_unband(const eb_real *cl, int cs, size_t hw, eb_real *dst, eb_real alpha, eb_real beta);
size_t wino_phase_elems(const wino *p, const eb_conv_geom *g);
size_t wino_weights_elems(const eb_conv_geom *g, int flip);
void wino_weights(const wino *p, const eb_conv_geom *g, const eb_real *w, eb_real *U, int flip, eb_real *buf,
                  size_t buf_per_thread);
void wino_weights_adjoint(const wino *p, const eb_conv_geom *g, const eb_real *w, eb_real *U, eb_real *buf,
                          size_t buf_per_thread);

/* ---- the jobs (wino_jobs.c) ---- */
void wjob_input(const wjob *j, size_t tt0, int nt, eb_real *V, size_t ldv, eb_real *band, eb_real *tmp);
void cl_gemm(const wjob *j, int xi, const eb_real *V, eb_real *M, size_t ldv, const ptrdiff_t *id, size_t m);
void cl_zero_rows(const wjob *j, eb_real *V, size_t ldv, int nt);
int wjob_block(const wjob *j, int threads);
size_t wjob_tmp_elems(const wjob *j);
size_t wjob_thread_elems(const wjob *j, int bt);
void wjob_run(const wjob *j, eb_real *ws, const ptrdiff_t *id, int threads);
wjob wjob_forward(const wino *p, const eb_conv_geom *g, const eb_real *x, eb_real *y, eb_real alpha, eb_real beta,
                  const eb_real *U, const eb_real *zero);
int wjob_data(const wino *p, const eb_conv_geom *g, const eb_real *dy, eb_real *dx, eb_real alpha, eb_real beta,
              const eb_real *zero, int py, int px, wjob *j);
int wino_scratch_get(void *ctx, size_t u_elems, int n_id, int n_zero, size_t per, wino_scratch *sc);

/* ---- the layer's formulation (wino_choice.c) ---- */
int wino_data_by_adjoint(const eb_conv_geom *g);

#endif
