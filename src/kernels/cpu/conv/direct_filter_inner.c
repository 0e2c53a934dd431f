/* The filter gradient of the direct convolutions on maps narrower than a vector (direct.h): the GEMM transposed,
 * dw^T [(c, i, j), co] = sum over (pixel, sample) x * dy, with the samples innermost and the border bands. */
#include "direct.h"

#include "../cpu_ops.h"
#include "../cpu_parallel.h"

#include <string.h>

/* Why a second formulation: on 7x7 to 2x2 outputs the columns of the general one (the taps of a pixel, tile.h's
 * NR of them) come from NR places of the phase-split planes, one vector gather per NR / VL values, and a third
 * to a half of the taps read the zero border. Here:
 *   A [(i, j, c), (pixel, s)] = x, read in place from the sample-innermost copy: each row a contiguous run;
 *   B [(pixel, s), co]        = dy, packed once per call as [strip][pixel][s][NR]: each panel a contiguous block;
 *   C = dw^T, one tile at a time: 8 channels of one tap (c_in % 8 == 0) by a strip of c_out, so a band's taps
 *   (direct.h) are whole tiles, summed over the band's pixels only, then written to dw transposed.
 * Each C tile is summed by one thread over the bands and pixels in that order, one pixel's samples per tile call,
 * and chunks of samples are added to dw in their order: the same bits on any thread count. */
int conv_filter_inner_fits(const eb_conv_geom *g) {
    return g->w_out < CONV_GATHER_BELOW && g->c_in % EB_TILE_MR == 0 && g->c_in > 0;
}

eb_status conv_backward_filter_inner(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy,
                                     eb_real *dw, eb_real alpha, eb_real beta) {
    const conv_phases f = conv_phases_of(g);
    const int kh = g->k_h, kw = g->k_w, ci_n = g->c_in, co_n = g->c_out, K = ci_n * kh * kw, taps = kh * kw;
    const int strips = (co_n + EB_TILE_NR - 1) / EB_TILE_NR;
    const size_t hwo = (size_t)g->h_out * g->w_out;
    const int nb = conv_samples_per_copy((size_t)ci_n * f.plane, g->n);
    const int threads = conv_threads((size_t)K * co_n * hwo * (size_t)g->n);
    const size_t x_e = region_elems((size_t)nb * ci_n * f.plane, sizeof(eb_real));
    const size_t dy_e = region_elems((size_t)strips * hwo * nb * EB_TILE_NR, sizeof(eb_real));
    const size_t c_e = region_elems((size_t)EB_TILE_MR * EB_TILE_NR, sizeof(eb_real)); /* a C tile per thread */
    const size_t lin_e = region_elems((size_t)nb, sizeof(ptrdiff_t));
    const size_t band_e = region_elems((size_t)g->h_out + g->w_out, sizeof(conv_band));
    eb_real *sc = eb_cpu_scratch(ctx, x_e + dy_e + (size_t)threads * c_e + lin_e + band_e);
    if (!sc) return EB_ERR_OOM;
    eb_real *xi = sc, *dyp = sc + x_e, *ctile = dyp + dy_e;
    ptrdiff_t *lin = (ptrdiff_t *)(ctile + (size_t)threads * c_e);
    conv_band *rb = (conv_band *)((eb_real *)lin + lin_e), *cb = rb + g->h_out;
    for (int k = 0; k < nb; k++) lin[k] = k;
    int nr = conv_bands(0, g->h_out, kh, g->stride, 1, g->pad, g->h_in, rb);
    int nc = conv_bands(0, g->w_out, kw, g->stride, 1, g->pad, g->w_in, cb);
    if (!conv_bands_pay(rb, nr, cb, nc, g->h_out, g->w_out, kh, kw)) {
        rb[0] = (conv_band){0, g->h_out, 0, kh}, cb[0] = (conv_band){0, g->w_out, 0, kw};
        nr = nc = 1;
    }

    for (int s0 = 0; s0 < g->n; s0 += nb) {
        const int cnt = g->n - s0 < nb ? g->n - s0 : nb;
        conv_split_all_inner(g, &f, ci_n, x, s0, cnt, xi);
        /* dy of these samples as B panels [strip][pixel][s][NR], channels past c_out zero */
#pragma omp parallel num_threads(eb_cpu_threads((size_t)strips * hwo * cnt * EB_TILE_NR, EB_CPU_PAR_CHEAP))
        {
            size_t lo, hi;
            eb_cpu_split((size_t)strips * hwo, &lo, &hi);
            for (size_t tp = lo; tp < hi; tp++) {
                const int t = (int)(tp / hwo);
                const size_t px = tp % hwo;
                eb_real *d = dyp + tp * (size_t)cnt * EB_TILE_NR;
                const int c0 = t * EB_TILE_NR, cols = co_n - c0 < EB_TILE_NR ? co_n - c0 : EB_TILE_NR;
                for (int si = 0; si < cnt; si++) {
                    const eb_real *src = dy + ((size_t)(s0 + si) * co_n + c0) * hwo + px;
                    eb_real *row = d + (size_t)si * EB_TILE_NR;
                    for (int v = 0; v < cols; v++) row[v] = src[(size_t)v * hwo];
                    for (int v = cols; v < EB_TILE_NR; v++) row[v] = 0;
                }
            }
        }
        /* One C tile (8 channels of tap (ti, tj), a strip of c_out) per item, summed in a thread's own buffer
         * over the bands that hold the tap and their pixels, in that order, then written to dw: alpha * C + beta
         * * dw for the first chunk of samples, + alpha * C for the next ones. The taps run innermost, so the 25
         * items of a group of channels fill the same lines of dw one after another. */
        const int cgroups = ci_n / EB_TILE_MR, groups = cgroups * taps;
        const size_t items = (size_t)groups * strips;
#pragma omp parallel num_threads(threads)
        {
            eb_real *cc = ctile + (size_t)eb_cpu_thread() * c_e;
            size_t lo, hi;
            eb_cpu_split(items, &lo, &hi);
            for (size_t it = lo; it < hi; it++) { /* strip-major: one thread's items share B panels */
                const int t = (int)(it / (size_t)groups), gi = (int)(it % (size_t)groups);
                const int tap = gi % taps, ch0 = gi / taps * EB_TILE_MR, ti = tap / kw, tj = tap % kw;
                ptrdiff_t rows[EB_TILE_MR];
                for (int i = 0; i < EB_TILE_MR; i++) rows[i] = conv_tap_offset(&f, ch0 + i, ti, tj) * cnt;
                const int cols = co_n - t * EB_TILE_NR < EB_TILE_NR ? co_n - t * EB_TILE_NR : EB_TILE_NR;
                int acc = 0;
                for (int br = 0; br < nr; br++) {
                    if (ti < rb[br].t0 || ti >= rb[br].t1) continue;
                    for (int bc = 0; bc < nc; bc++) {
                        if (tj < cb[bc].t0 || tj >= cb[bc].t1) continue;
                        for (int oh = rb[br].o0; oh < rb[br].o1; oh++)
                            for (int ow = cb[bc].o0; ow < cb[bc].o1; ow++, acc = 1) {
                                const size_t px = (size_t)oh * g->w_out + ow;
                                eb_cpu_tile_gemm_cols(cols, cnt, xi + ((ptrdiff_t)oh * f.wq + ow) * cnt, rows, lin,
                                                      dyp + ((size_t)t * hwo + px) * (size_t)cnt * EB_TILE_NR, cc,
                                                      EB_TILE_NR, acc);
                            }
                    }
                }
                if (!acc) memset(cc, 0, (size_t)EB_TILE_MR * EB_TILE_NR * sizeof *cc); /* a tap on the border only */
                for (int v = 0; v < cols; v++) {
                    eb_real *d = dw + (size_t)(t * EB_TILE_NR + v) * K + (size_t)ch0 * taps + tap;
                    for (int i = 0; i < EB_TILE_MR; i++) {
                        const eb_real c = alpha * cc[(size_t)i * EB_TILE_NR + v];
                        eb_real *o = d + (size_t)i * taps;
                        *o = s0 > 0 ? *o + c : beta == 0 ? c : c + beta * *o;
                    }
                }
            }
        }
    }
    return EB_OK;
}
