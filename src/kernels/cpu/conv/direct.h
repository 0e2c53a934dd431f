/* The direct convolutions of the CPU backend (direct_planes.c, direct_gemm.c, direct_ops.c): their three ops, for
 * a geometry conv_ops.c checked, and the pieces the files share (phase-split planes, the implicit GEMM). */
#ifndef EBGAN_CPU_CONV_DIRECT_H
#define EBGAN_CPU_CONV_DIRECT_H

#include "ebgan/ops.h"
#include "../cpu_parallel.h"
#include "../cpu_tuning.h"
#include "conv_clones.h"
#include "tile.h"

#include <stddef.h>

/* The ops, with the contract of eb_cpu_conv2d_* (cpu_ops.h), on a checked geometry. */
eb_status eb_cpu_direct_forward(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w, eb_real *y,
                                eb_real alpha, eb_real beta);
eb_status eb_cpu_direct_backward_data(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                      eb_real *dx, eb_real alpha, eb_real beta);
eb_status eb_cpu_direct_backward_filter(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy,
                                        eb_real *dw, eb_real alpha, eb_real beta);

/* Samples at a time whose bordered copies fit CONV_COPY_ELEMS: at least one, at most n. */
static inline int conv_samples_per_copy(size_t sample_elems, int n) {
    size_t nb = sample_elems ? CONV_COPY_ELEMS / sample_elems : (size_t)n;
    if (nb < 1) nb = 1;
    return nb > (size_t)n ? n : (int)nb;
}

static inline size_t round_up(size_t v, size_t m) { return (v + m - 1) / m * m; }

/* Elements of eb_real that hold `count` objects of `bytes` each, rounded up to 64 elements (256 bytes of floats:
 * the regions of the scratch keep its base's alignment, and the int / pointer-size tables theirs). */
static inline size_t region_elems(size_t count, size_t bytes) {
    return round_up((count * bytes + sizeof(eb_real) - 1) / sizeof(eb_real), 64);
}

/* Threads for a GEMM of `work` multiply-adds (one below CONV_THREAD_WORK: a fork / join costs more). */
static inline int conv_threads(size_t work) { return eb_cpu_threads(work, CONV_THREAD_WORK); }

/* ---- the phase-split input planes (direct_planes.c) ---- */

/* The zero-bordered input plane [h_in + 2 pad, w_in + 2 pad] is kept split into its stride x stride phases:
 * element (r, q) of the padded plane lives in phase (r % stride, q % stride) at (r / stride, q / stride), each
 * phase [hq, wq]. A window tap (i, j) then reads, for output row oh, the contiguous run
 * phase(i % stride, j % stride)[oh + i / stride][j / stride ..][w_out]: every row of the implicit column
 * matrix is a unit-stride copy. Stride 1 is the plain bordered plane. */
typedef struct conv_phases {
    int s, hq, wq; /* stride; rows / columns of one phase: ceil((h_in + 2 pad) / s), ceil((w_in + 2 pad) / s) */
    size_t plane;  /* elements of one (sample, channel) plane: s * s * hq * wq */
} conv_phases;

static inline conv_phases conv_phases_of(const eb_conv_geom *g) {
    conv_phases f = {.s = g->stride};
    f.hq = (g->h_in + 2 * g->pad + f.s - 1) / f.s;
    f.wq = (g->w_in + 2 * g->pad + f.s - 1) / f.s;
    f.plane = (size_t)f.s * f.s * f.hq * f.wq;
    return f;
}

/* Offset of tap (i, j) of channel c in a sample's phase-split planes. */
static inline ptrdiff_t conv_tap_offset(const conv_phases *f, int c, int i, int j) {
    const int s = f->s;
    return (ptrdiff_t)c * (ptrdiff_t)f->plane + (ptrdiff_t)((i % s) * s + j % s) * f->hq * f->wq +
           (ptrdiff_t)(i / s) * f->wq + j / s;
}

void conv_split_all(const eb_conv_geom *g, const conv_phases *f, int c, const eb_real *x, int s0, int cnt,
                    eb_real *dst);
/* The same copies with the sample innermost: dst [c, plane, cnt] (direct_ops.c takes these for maps narrower than
 * CONV_GATHER_BELOW, whose GEMM columns then run over the batch). */
void conv_split_all_inner(const eb_conv_geom *g, const conv_phases *f, int c, const eb_real *x, int s0, int cnt,
                          eb_real *dst);
void conv_col2im(const eb_conv_geom *g, const conv_phases *f, const eb_real *col, int s0, int nb, eb_real *planes,
                 eb_real *dx, eb_real beta);

/* ---- the border bands (direct_bands.c) ----
 * A window tap that reads the zero border adds a product of zero: on the small maps of a deep trunk (a 4x4 input
 * under a k5 s2 p2 window) half of all taps do. Output rows that read the same range of taps inside the input form
 * a band (the top rows, the interior, the bottom rows); a band of rows times a band of columns is one GEMM over
 * its inside taps only. */
typedef struct conv_band {
    int o0, o1; /* outputs [o0, o1) */
    int t0, t1; /* read taps [t0, t1) inside the input (t0 == t1: none) */
} conv_band;

/* The bands of outputs [o_lo, o_hi) whose tap t reads input index o * step + t * tstep - off, inside when in
 * [0, n_in); taps < 2^31. Returns their count (at most o_hi - o_lo), written to bands. */
int conv_bands(int o_lo, int o_hi, int taps, int step, int tstep, int off, int n_in, conv_band *bands);
/* Sum over the bands of outputs x inside taps. */
size_t conv_band_taps(const conv_band *bands, int nb);
/* Whether splitting into bands saves enough multiply-adds to pay for its smaller GEMMs (CONV_BAND_SHARE): the
 * inside taps of rows x columns against o_rows * taps_h * o_cols * taps_w. */
int conv_bands_pay(const conv_band *rows, int nr, const conv_band *cols, int nc, int o_rows, int o_cols,
                   int taps_h, int taps_w);

/* ---- the filter gradient of narrow maps (direct_filter_inner.c) ---- */

/* Whether a layer takes conv_backward_filter_inner: outputs narrower than CONV_GATHER_BELOW, c_in a multiple of
 * the tile's rows. */
int conv_filter_inner_fits(const eb_conv_geom *g);
/* eb_cpu_direct_backward_filter's contract, as the transposed GEMM over sample-innermost copies with the bands. */
eb_status conv_backward_filter_inner(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy,
                                     eb_real *dw, eb_real alpha, eb_real beta);

/* ---- the implicit GEMM over pixel columns (direct_gemm.c) ---- */

/* A run: columns [j, j + len) of a block whose B entries are contiguous in the source (one sample, one grid
 * row) and whose C entries go to dst offsets + v * dst_v; a run never crosses a strip of NR columns. */
typedef struct conv_run {
    int j, len;
    ptrdiff_t src, dst;
} conv_run;

/* C[m, col] = alpha * sum_kk A[m, kk] * B[kk, col] + beta * C, with
 *   A[m, kk]         = a[a_row[m] + a_k[kk]]
 *   B[kk, (s, u, v)] = src[s * src_n + u * src_u + v + k_off[kk]]   over the grid s < n, u < hc, v < wc
 *   C[m,  (s, u, v)] lives at dst[s * dst_n + m * dst_m + u * dst_u + v * dst_v]. */
typedef struct conv_igemm {
    int m, k;
    const eb_real *a; /* A[i, kk] = a[a_row[i] + a_k[kk]] (the weights in place) */
    const ptrdiff_t *a_row, *a_k;
    const eb_real *src;
    const ptrdiff_t *k_off;
    int n, hc, wc;
    ptrdiff_t src_n, src_u;
    eb_real *dst;
    ptrdiff_t dst_n, dst_m, dst_u, dst_v;
    eb_real alpha, beta;
} conv_igemm;

size_t igemm_thread_elems(int m);
void conv_igemm_run(const conv_igemm *q, eb_real *ws, int threads);

#endif
