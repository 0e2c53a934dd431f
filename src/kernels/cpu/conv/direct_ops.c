/* The direct convolutions of the CPU backend (NCHW, OIHW weights, square stride / pad) as implicit GEMMs on its
 * own register tile (tile.h): the column matrix of im2col is never stored, its panels are packed in cache. */
#include "direct.h"

#include "../cpu_ops.h"
#include "../cpu_parallel.h"

#include <stdint.h>
#include <string.h>

/* Why not im2col + one BLAS GEMM (the formulation before, bench/PROFILE.md): the column matrix [K, n * pixels] is
 * 4x (k4 s2) to 9x (k3 s1) the input; writing it, then packing it again inside the GEMM, then (backward data)
 * scattering a second one back with col2im took nearly as long as the GEMM itself. Here each op
 * is a GEMM on tile.c's 8 x 48 tile: A (the weights, or dy) is read in place through offsets, B panels are
 * copied (or gathered) straight from a zero-bordered copy of the input into a buffer that stays in cache, and C
 * tiles go straight to the NCHW output:
 *   forward          y[co, (s, oh, ow)]  = sum over taps (c, i, j)       w * x      (M = c_out, N = pixels)
 *   backward data    per input phase (ih + pad) % stride, (iw + pad) % stride: a stride-1 correlation of dy with
 *                    the phase's taps, dx[ci, pixels of the phase] = sum over (co, taps) w * dy  (M = c_in);
 *                    below 8 input channels dcol = w^T dy and col2im instead (conv_backward_data_cols)
 *   backward filter  dw[co, (c, i, j)]   = sum over pixels (s, oh, ow)   dy * x     (M = c_out, N = taps)
 * Every sum runs over its reduction index in one fixed order with one rounding per step, whatever the thread
 * count (threads split the columns of C, never a sum). */

/* ---- forward ---- */

/* y = alpha * conv(x, w) + beta * y. Output row oh reads padded input row oh * stride + i: with the border
 * bands (direct.h), each band of rows x band of columns is one GEMM over the taps that read inside the input
 * (the skipped ones would add products with the zero border); otherwise one GEMM over every tap. */
eb_status eb_cpu_direct_forward(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w,
                                eb_real *y, eb_real alpha, eb_real beta) {
    const conv_phases f = conv_phases_of(g);
    const int direct = g->pad == 0 && g->stride == 1; /* the input itself is the (only) phase plane */
    const int K = g->c_in * g->k_h * g->k_w, M = g->c_out;
    const size_t hwi = (size_t)g->h_in * g->w_in, hwo = (size_t)g->h_out * g->w_out;
    const int nb = direct ? g->n : conv_samples_per_copy((size_t)g->c_in * f.plane, g->n);
    const int threads = conv_threads((size_t)M * K * nb * hwo);
    const size_t src_e = direct ? 0 : region_elems((size_t)nb * g->c_in * f.plane, sizeof(eb_real));
    const size_t row_e = region_elems((size_t)M, sizeof(ptrdiff_t)), off_e = region_elems((size_t)K, sizeof(ptrdiff_t));
    const size_t band_e = region_elems((size_t)g->h_out + g->w_out, sizeof(conv_band));
    eb_real *s = eb_cpu_scratch(ctx, src_e + row_e + 2 * off_e + band_e + (size_t)threads * igemm_thread_elems(M));
    if (!s) return EB_ERR_OOM; /* eb_cpu_scratch recorded the message */
    eb_real *planes = s;
    ptrdiff_t *a_row = (ptrdiff_t *)(s + src_e), *a_k = (ptrdiff_t *)(s + src_e + row_e);
    ptrdiff_t *k_off = (ptrdiff_t *)(s + src_e + row_e + off_e);
    conv_band *rb = (conv_band *)(s + src_e + row_e + 2 * off_e), *cb = rb + g->h_out;
    eb_real *ws = s + src_e + row_e + 2 * off_e + band_e;

    for (int co = 0; co < M; co++) a_row[co] = (ptrdiff_t)co * K; /* A = w [c_out, (c, i, j)] as it is */
    int nr = conv_bands(0, g->h_out, g->k_h, g->stride, 1, g->pad, g->h_in, rb);
    int nc = conv_bands(0, g->w_out, g->k_w, g->stride, 1, g->pad, g->w_in, cb);
    if (direct || !conv_bands_pay(rb, nr, cb, nc, g->h_out, g->w_out, g->k_h, g->k_w)) { /* one band, every tap */
        rb[0] = (conv_band){0, g->h_out, 0, g->k_h}, cb[0] = (conv_band){0, g->w_out, 0, g->k_w};
        nr = nc = 1;
    }
    /* outputs narrower than CONV_GATHER_BELOW: the copy keeps the sample innermost and a GEMM's columns run over
     * the samples of each output pixel (contiguous B rows: copied, not gathered one column at a time) */
    const int inner = !direct && g->w_out < CONV_GATHER_BELOW;
    for (int s0 = 0; s0 < g->n; s0 += nb) { /* samples [s0, s0 + cnt): their bordered copy, a GEMM per band */
        const int cnt = g->n - s0 < nb ? g->n - s0 : nb;
        if (inner) conv_split_all_inner(g, &f, g->c_in, x, s0, cnt, planes);
        else if (!direct) conv_split_all(g, &f, g->c_in, x, s0, cnt, planes);
        const ptrdiff_t e = inner ? cnt : 1; /* elements per plane element: the samples, or one */
        for (int br = 0; br < nr; br++) {
            for (int bc = 0; bc < nc; bc++) {
                const conv_band r = rb[br], c = cb[bc];
                int kk = 0; /* the band's taps (ci, i, j), in the order of w's rows */
                for (int ci = 0; ci < g->c_in; ci++)
                    for (int i = r.t0; i < r.t1; i++)
                        for (int j = c.t0; j < c.t1; j++, kk++) {
                            a_k[kk] = ((ptrdiff_t)ci * g->k_h + i) * g->k_w + j;
                            k_off[kk] = direct ? (ptrdiff_t)ci * (ptrdiff_t)hwi + (ptrdiff_t)i * g->w_in + j
                                               : conv_tap_offset(&f, ci, i, j) * e;
                        }
                const ptrdiff_t src_u = direct ? g->w_in : f.wq;
                eb_real *dst = y + (size_t)s0 * M * hwo + (size_t)r.o0 * g->w_out + c.o0;
                const eb_real *src = (direct ? x + (size_t)s0 * g->c_in * hwi : planes) + ((ptrdiff_t)r.o0 * src_u + c.o0) * e;
                /* the grid (sample, row, column), or (row, column, sample) with the sample innermost */
                const conv_igemm q = inner ? (conv_igemm){
                    .m = M, .k = kk, .a = w, .a_row = a_row, .a_k = a_k, .src = src, .k_off = k_off,
                    .n = r.o1 - r.o0, .hc = c.o1 - c.o0, .wc = cnt, .src_n = f.wq * e, .src_u = e,
                    .dst = dst, .dst_n = g->w_out, .dst_m = (ptrdiff_t)hwo, .dst_u = 1,
                    .dst_v = (ptrdiff_t)M * (ptrdiff_t)hwo, .alpha = alpha, .beta = beta,
                } : (conv_igemm){
                    .m = M, .k = kk, .a = w, .a_row = a_row, .a_k = a_k, .src = src, .k_off = k_off,
                    .n = cnt, .hc = r.o1 - r.o0, .wc = c.o1 - c.o0,
                    .src_n = (ptrdiff_t)g->c_in * (ptrdiff_t)(direct ? hwi : f.plane), .src_u = src_u,
                    .dst = dst, .dst_n = (ptrdiff_t)M * (ptrdiff_t)hwo, .dst_m = (ptrdiff_t)hwo,
                    .dst_u = g->w_out, .dst_v = 1, .alpha = alpha, .beta = beta,
                };
                conv_igemm_run(&q, ws, threads);
            }
        }
    }
    return EB_OK;
}

/* ---- backward data ---- */

/* Backward data of a layer with fewer input channels than a tile has rows (an RGB image's gradient: the first
 * layer of U, the last of G): per input phase the GEMM would fill 3 of the tile's 8 rows, and pack c_out * taps
 * values per pixel for them. Here the GEMM is the other classic one, dcol [(c, i, j), pixels] = w^T dy
 * (M = c_in * taps, K = c_out, B = dy as it is), followed by col2im; in chunks of samples of <= 4M columns'
 * elements. */
static eb_status conv_backward_data_cols(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                         eb_real *dx, eb_real alpha, eb_real beta) {
    const conv_phases f = conv_phases_of(g);
    const int M = g->c_in * g->k_h * g->k_w, K = g->c_out;
    const size_t hwo = (size_t)g->h_out * g->w_out;
    size_t nb = CONV_COLS_ELEMS / ((size_t)M * hwo);
    if (nb < 1) nb = 1;
    if (nb > (size_t)g->n) nb = (size_t)g->n;
    const int threads = conv_threads((size_t)M * K * nb * hwo);
    const int max_threads = eb_cpu_threads(SIZE_MAX, 0);
    const size_t row_e = region_elems((size_t)M, sizeof(ptrdiff_t)), off_e = region_elems((size_t)K, sizeof(ptrdiff_t));
    const size_t col_e = region_elems((size_t)M * nb * hwo, sizeof(eb_real));
    const size_t plane_e = region_elems((size_t)max_threads * f.plane, sizeof(eb_real));
    eb_real *sc = eb_cpu_scratch(ctx, row_e + 2 * off_e + col_e + plane_e + (size_t)threads * igemm_thread_elems(M));
    if (!sc) return EB_ERR_OOM;
    ptrdiff_t *a_row = (ptrdiff_t *)sc, *a_k = (ptrdiff_t *)(sc + row_e), *k_off = (ptrdiff_t *)(sc + row_e + off_e);
    eb_real *col = sc + row_e + 2 * off_e, *planes = col + col_e, *ws = planes + plane_e;
    for (int t = 0; t < M; t++) a_row[t] = t; /* A [(c, i, j)][co] = w[co, (c, i, j)]: w^T in place */
    for (int co = 0; co < K; co++) a_k[co] = (ptrdiff_t)co * M, k_off[co] = (ptrdiff_t)co * (ptrdiff_t)hwo;
    for (int s0 = 0; s0 < g->n; s0 += (int)nb) {
        const int cnt = g->n - s0 < (int)nb ? g->n - s0 : (int)nb;
        const conv_igemm q = {
            .m = M, .k = K, .a = w, .a_row = a_row, .a_k = a_k, .src = dy + (size_t)s0 * K * hwo, .k_off = k_off,
            .n = cnt, .hc = g->h_out, .wc = g->w_out, .src_n = (ptrdiff_t)K * (ptrdiff_t)hwo, .src_u = g->w_out,
            .dst = col, .dst_n = (ptrdiff_t)hwo, .dst_m = (ptrdiff_t)cnt * (ptrdiff_t)hwo, .dst_u = g->w_out, .dst_v = 1,
            .alpha = alpha, .beta = 0,
        };
        conv_igemm_run(&q, ws, threads);
        conv_col2im(g, &f, col, s0, cnt, planes, dx, beta);
    }
    return EB_OK;
}

/* dx = alpha * conv^T(dy, w) + beta * dx. Input pixel (ih, iw) sits at padded (r, q) = (ih + pad, iw + pad); it
 * receives tap i from output row oh when r = oh * stride + i. In phase a = r % stride the taps are
 * i = a + stride * t (t < ceil((k_h - a) / stride)) and oh = r / stride - t: the phase's pixels are a stride-1
 * correlation of dy, zero-bordered by ceil(k / stride) - 1, with those taps flipped. Each phase is one GEMM
 * (M = c_in, K = c_out * taps) writing its pixels of dx; a phase without taps (stride > kernel) gets beta * dx. */
eb_status eb_cpu_direct_backward_data(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                      eb_real *dx, eb_real alpha, eb_real beta) {
    if (g->c_in < EB_TILE_MR) return conv_backward_data_cols(ctx, g, dy, w, dx, alpha, beta);
    const int s = g->stride, kh = g->k_h, kw = g->k_w, ci_n = g->c_in, co_n = g->c_out;
    const int pt = (kh + s - 1) / s - 1, pl = (kw + s - 1) / s - 1; /* top / left border of the dy copy */
    /* rows of the dy copy: its border, dy, and the rows the last phase's pixels read (r / s <= (h_in - 1 + pad) / s) */
    const int rows_hi = (g->h_in - 1 + g->pad) / s + 1, cols_hi = (g->w_in - 1 + g->pad) / s + 1;
    const int hd = pt + (rows_hi > g->h_out ? rows_hi : g->h_out), wd = pl + (cols_hi > g->w_out ? cols_hi : g->w_out);
    const size_t plane = (size_t)hd * wd, hwi = (size_t)g->h_in * g->w_in, hwo = (size_t)g->h_out * g->w_out;
    const int kmax = co_n * (pt + 1) * (pl + 1), M = ci_n;
    const int nb = conv_samples_per_copy((size_t)co_n * plane, g->n);
    const int threads = conv_threads((size_t)kmax * M * (size_t)nb * hwi / ((size_t)s * s));
    const size_t src_e = region_elems((size_t)nb * co_n * plane, sizeof(eb_real));
    const size_t row_e = region_elems((size_t)M, sizeof(ptrdiff_t)), off_e = region_elems((size_t)kmax, sizeof(ptrdiff_t));
    const size_t band_e = region_elems((size_t)g->h_in + g->w_in + 2, sizeof(conv_band));
    eb_real *sc = eb_cpu_scratch(ctx, src_e + row_e + 2 * off_e + band_e + (size_t)threads * igemm_thread_elems(M));
    if (!sc) return EB_ERR_OOM;
    eb_real *dyp = sc;
    ptrdiff_t *a_row = (ptrdiff_t *)(sc + src_e), *a_k = (ptrdiff_t *)(sc + src_e + row_e);
    ptrdiff_t *k_off = (ptrdiff_t *)(sc + src_e + row_e + off_e);
    conv_band *rb = (conv_band *)(sc + src_e + row_e + 2 * off_e), *cb = rb + g->h_in + 1;
    eb_real *ws = sc + src_e + row_e + 2 * off_e + band_e;
    for (int ci = 0; ci < M; ci++) a_row[ci] = (ptrdiff_t)ci * kh * kw; /* A[ci, (co, ti, tj)]: w in place */

    /* phases narrower than CONV_GATHER_BELOW columns: the dy copy keeps the sample innermost, [co, hd, wd, cnt],
     * and each GEMM's columns run over the samples of a pixel (as in the forward) */
    const int inner = (g->w_in + s - 1) / s < CONV_GATHER_BELOW;
    for (int s0 = 0; s0 < g->n; s0 += nb) { /* samples [s0, s0 + cnt): their bordered dy, one GEMM per phase */
        const int cnt = g->n - s0 < nb ? g->n - s0 : nb;
        const size_t planes = (size_t)cnt * co_n;
        const ptrdiff_t e = inner ? cnt : 1; /* elements per plane element */
#pragma omp parallel num_threads(eb_cpu_threads(planes * plane, EB_CPU_PAR_CHEAP))
        {
            size_t lo, hi;
            eb_cpu_split(inner ? (size_t)co_n : planes, &lo, &hi);
            for (size_t p = lo; p < hi; p++) {
                if (inner) { /* p: a channel, every sample */
                    eb_real *d = dyp + p * plane * (size_t)cnt;
                    memset(d, 0, plane * (size_t)cnt * sizeof *d);
                    for (int oh = 0; oh < g->h_out; oh++)
                        for (int ow = 0; ow < g->w_out; ow++) {
                            eb_real *out = d + ((size_t)(oh + pt) * wd + pl + ow) * (size_t)cnt;
                            const eb_real *in = dy + ((size_t)s0 * co_n + p) * hwo + (size_t)oh * g->w_out + ow;
                            for (int si = 0; si < cnt; si++) out[si] = in[(size_t)si * co_n * hwo];
                        }
                    continue;
                }
                eb_real *d = dyp + p * plane;
                memset(d, 0, plane * sizeof *d);
                for (int oh = 0; oh < g->h_out; oh++)
                    memcpy(d + (size_t)(oh + pt) * wd + pl, dy + ((size_t)s0 * co_n + p) * hwo + (size_t)oh * g->w_out,
                           (size_t)g->w_out * sizeof *d);
            }
        }
        for (int pa = 0; pa < s; pa++) {
            /* rows of phase pa: r = rq * s + pa, ih = r - pad in [0, h_in) */
            const int top = g->h_in - 1 + g->pad - pa; /* the largest r - pa; < 0: no row of dx is in this phase */
            if (top < 0) continue;
            const int rq_lo = g->pad > pa ? (g->pad - pa + s - 1) / s : 0, rq_hi = top / s + 1;
            const int ta = pa < kh ? (kh - pa + s - 1) / s : 0;
            if (rq_hi <= rq_lo) continue;
            for (int pb = 0; pb < s; pb++) {
                const int right = g->w_in - 1 + g->pad - pb;
                if (right < 0) continue;
                const int cq_lo = g->pad > pb ? (g->pad - pb + s - 1) / s : 0, cq_hi = right / s + 1;
                const int tb = pb < kw ? (kw - pb + s - 1) / s : 0;
                if (cq_hi <= cq_lo) continue;
                /* phase row rq reads dy row rq - ti for its tap ti: the bands of rows whose taps stay inside dy */
                int nr = conv_bands(rq_lo, rq_hi, ta, 1, -1, 0, g->h_out, rb);
                int nc = conv_bands(cq_lo, cq_hi, tb, 1, -1, 0, g->w_out, cb);
                if (!conv_bands_pay(rb, nr, cb, nc, rq_hi - rq_lo, cq_hi - cq_lo, ta, tb)) {
                    rb[0] = (conv_band){rq_lo, rq_hi, 0, ta}, cb[0] = (conv_band){cq_lo, cq_hi, 0, tb};
                    nr = nc = 1;
                }
                for (int br = 0; br < nr; br++) {
                    for (int bc = 0; bc < nc; bc++) {
                        const conv_band r = rb[br], c = cb[bc];
                        int kk = 0; /* the band's taps (co, ti, tj) */
                        for (int co = 0; co < co_n; co++)
                            for (int ti = r.t0; ti < r.t1; ti++)
                                for (int tj = c.t0; tj < c.t1; tj++, kk++) {
                                    a_k[kk] = ((ptrdiff_t)co * ci_n * kh + pa + s * ti) * kw + pb + s * tj;
                                    k_off[kk] = ((ptrdiff_t)co * (ptrdiff_t)plane + (ptrdiff_t)(pt - ti) * wd + (pl - tj)) * e;
                                }
                        const int ih0 = r.o0 * s + pa - g->pad, iw0 = c.o0 * s + pb - g->pad;
                        const eb_real *src = dyp + ((size_t)r.o0 * wd + c.o0) * (size_t)e;
                        eb_real *dst = dx + (size_t)s0 * ci_n * hwi + (size_t)ih0 * g->w_in + iw0;
                        /* the grid (sample, row, column), or (row, column, sample) with the sample innermost */
                        const conv_igemm q = inner ? (conv_igemm){
                            .m = M, .k = kk, .a = w, .a_row = a_row, .a_k = a_k, .src = src, .k_off = k_off,
                            .n = r.o1 - r.o0, .hc = c.o1 - c.o0, .wc = cnt, .src_n = wd * e, .src_u = e,
                            .dst = dst, .dst_n = (ptrdiff_t)s * g->w_in, .dst_m = (ptrdiff_t)hwi, .dst_u = s,
                            .dst_v = (ptrdiff_t)ci_n * (ptrdiff_t)hwi, .alpha = alpha, .beta = beta,
                        } : (conv_igemm){
                            .m = M, .k = kk, .a = w, .a_row = a_row, .a_k = a_k, .src = src, .k_off = k_off,
                            .n = cnt, .hc = r.o1 - r.o0, .wc = c.o1 - c.o0,
                            .src_n = (ptrdiff_t)co_n * (ptrdiff_t)plane, .src_u = wd,
                            .dst = dst, .dst_n = (ptrdiff_t)ci_n * (ptrdiff_t)hwi, .dst_m = (ptrdiff_t)hwi,
                            .dst_u = (ptrdiff_t)s * g->w_in, .dst_v = s, .alpha = alpha, .beta = beta,
                        };
                        conv_igemm_run(&q, ws, threads);
                    }
                }
            }
        }
    }
    return EB_OK;
}

/* ---- backward filter ---- */

/* dw = alpha * sum over pixels dy[co, pixel] * x(tap, pixel) + beta * dw: a GEMM whose reduction runs over the
 * n * h_out * w_out pixels and whose columns are the taps (c, i, j). A is dy in place (MR output channels,
 * the pixels through their offsets); B panels [KC][NR] hold the NR taps of each pixel, gathered from the same
 * phase-split input as the forward. The pixels are cut into chunks of a size fixed by the geometry (16K, fewer
 * when their samples' bordered copies would pass 8M elements): each chunk's sums are their own C [mp, kp], and
 * the total adds them in chunk order. Groups of chunks (as many as threads, memory permitting) share one copy of
 * their samples; their work items (chunk, strip of NR taps) are spread statically over the threads, so a layer
 * with few taps (27 for an RGB input) still uses them all. */
eb_status eb_cpu_direct_backward_filter(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy,
                                        eb_real *dw, eb_real alpha, eb_real beta) {
    if (conv_filter_inner_fits(g)) return conv_backward_filter_inner(ctx, g, x, dy, dw, alpha, beta);
    const conv_phases f = conv_phases_of(g);
    const int K = g->c_in * g->k_h * g->k_w, M = g->c_out, mp = (int)round_up((size_t)M, EB_TILE_MR);
    const int kp = (int)round_up((size_t)K, EB_TILE_NR), strips = kp / EB_TILE_NR;
    const size_t hwo = (size_t)g->h_out * g->w_out, pixels = (size_t)g->n * hwo;
    const size_t sample_elems = (size_t)g->c_in * f.plane, c_elems = (size_t)mp * kp;
    if (sample_elems > (size_t)INT32_MAX) /* the gathers index a sample's taps with 32-bit offsets */
        return EB_FAIL(EB_ERR_ARG, "conv2d_backward_filter: one sample's bordered input has %zu elements (> 2^31)",
                       sample_elems);
    /* a chunk of p pixels touches at most p / hwo + 2 samples */
    size_t chunk = CONV_FILTER_CHUNK;
    const size_t fit = CONV_COPY_ELEMS / sample_elems; /* samples whose copies fit the budget */
    if (fit < 3) chunk = CONV_KCF;
    else if ((chunk / hwo + 2) > fit) chunk = (fit - 2) * hwo;
    chunk = chunk < CONV_KCF ? CONV_KCF : chunk / CONV_KCF * CONV_KCF;
    const size_t chunks = (pixels + chunk - 1) / chunk, span = chunk / hwo + 2;
    int threads = conv_threads((size_t)M * K * pixels);
    size_t group = (size_t)threads; /* chunks per group: the scheduling only, not the sums */
    if (group * span > fit) group = fit >= span ? fit / span : 1;
    if (group > chunks) group = chunks;
    if (group < 1) group = 1;
    if ((size_t)threads > group * strips) threads = (int)(group * strips);
    size_t copy_samples = group * span;
    if (copy_samples > (size_t)g->n) copy_samples = (size_t)g->n;
    const size_t src_e = region_elems(sample_elems * copy_samples, sizeof(eb_real));
    const size_t part_e = region_elems(group * c_elems, sizeof(eb_real)), tot_e = region_elems(c_elems, sizeof(eb_real));
    const size_t off_e = region_elems((size_t)kp, sizeof(int32_t));
    const size_t per_thread = region_elems((size_t)CONV_KCF * CONV_NC, sizeof(eb_real)) +
                              2 * region_elems(CONV_KCF, sizeof(ptrdiff_t));
    eb_real *sc = eb_cpu_scratch(ctx, src_e + part_e + tot_e + off_e + (size_t)threads * per_thread);
    if (!sc) return EB_ERR_OOM;
    eb_real *planes = sc, *part = sc + src_e, *total = part + part_e;
    int32_t *tap = (int32_t *)(total + tot_e);
    eb_real *ws = total + tot_e + off_e;

    for (int c = 0; c < g->c_in; c++)
        for (int i = 0; i < g->k_h; i++)
            for (int j = 0; j < g->k_w; j++)
                tap[(c * g->k_h + i) * g->k_w + j] = (int32_t)conv_tap_offset(&f, c, i, j);
    /* taps past K read the sample's first element: their C columns are never stored */
    for (int t = K; t < kp; t++) tap[t] = 0;
    for (size_t c0 = 0; c0 < chunks; c0 += group) {
        const size_t gcnt = chunks - c0 < group ? chunks - c0 : group, items = gcnt * (size_t)strips;
        const size_t px_lo = c0 * chunk, px_hi = (c0 + gcnt) * chunk < pixels ? (c0 + gcnt) * chunk : pixels;
        const int s_lo = (int)(px_lo / hwo), s_hi = (int)((px_hi + hwo - 1) / hwo);
        conv_split_all(g, &f, g->c_in, x, s_lo, s_hi - s_lo, planes);
#pragma omp parallel num_threads(threads)
        {
            eb_real *bp = ws + (size_t)eb_cpu_thread() * per_thread;
            ptrdiff_t *x_off = (ptrdiff_t *)(bp + region_elems((size_t)CONV_KCF * CONV_NC, sizeof(eb_real)));
            ptrdiff_t *dy_off = (ptrdiff_t *)((eb_real *)x_off + region_elems(CONV_KCF, sizeof(ptrdiff_t)));
            size_t ilo, ihi;
            eb_cpu_split(items, &ilo, &ihi);
            for (size_t it = ilo; it < ihi;) { /* the items of one chunk at a time: strips [t_lo, t_hi) */
                const size_t gi = it / (size_t)strips, t_lo = it % (size_t)strips;
                const size_t t_hi = ihi - gi * (size_t)strips < (size_t)strips ? ihi - gi * (size_t)strips : (size_t)strips;
                it = gi * (size_t)strips + t_hi;
                eb_real *cacc = part + gi * c_elems;
                const size_t p_lo = (c0 + gi) * chunk, p_hi = p_lo + chunk < pixels ? p_lo + chunk : pixels;
                for (size_t r0 = p_lo; r0 < p_hi; r0 += CONV_KCF) {
                    const int rc = (int)(p_hi - r0 < CONV_KCF ? p_hi - r0 : CONV_KCF);
                    for (int rr = 0; rr < rc; rr++) {
                        const size_t p = r0 + (size_t)rr, sm = p / hwo, rest = p % hwo;
                        const int oh = (int)(rest / (size_t)g->w_out), ow = (int)(rest % (size_t)g->w_out);
                        x_off[rr] = (ptrdiff_t)((sm - (size_t)s_lo) * sample_elems) + (ptrdiff_t)oh * f.wq + ow;
                        dy_off[rr] = (ptrdiff_t)sm * M * (ptrdiff_t)hwo + (ptrdiff_t)rest;
                    }
                    for (size_t sb = t_lo; sb < t_hi; sb += CONV_NC / EB_TILE_NR) {
                        const size_t se = sb + CONV_NC / EB_TILE_NR < t_hi ? sb + CONV_NC / EB_TILE_NR : t_hi;
                        for (size_t t = sb; t < se; t++) /* B strip t: [rc][NR], taps t * NR .. of each pixel */
                            eb_cpu_tile_gather(rc, planes, x_off, tap + t * EB_TILE_NR,
                                               bp + (t - sb) * (size_t)rc * EB_TILE_NR);
                        for (int mb = 0; mb < mp; mb += EB_TILE_MR) {
                            ptrdiff_t rows[EB_TILE_MR]; /* A = dy in place; rows past M repeat the last (not stored) */
                            for (int i = 0; i < EB_TILE_MR; i++)
                                rows[i] = (ptrdiff_t)(mb + i < M ? mb + i : M - 1) * (ptrdiff_t)hwo;
                            for (size_t t = sb; t < se; t++)
                                eb_cpu_tile_gemm(rc, dy, rows, dy_off, bp + (t - sb) * (size_t)rc * EB_TILE_NR,
                                                 cacc + (size_t)mb * kp + t * EB_TILE_NR, kp, r0 > p_lo);
                        }
                    }
                }
            }
        }
        /* total = ((C_0 + C_1) + C_2) ...: the chunks in order */
#pragma omp parallel num_threads(eb_cpu_threads(c_elems * gcnt, EB_CPU_PAR_CHEAP))
        {
            size_t lo, hi;
            eb_cpu_split(c_elems, &lo, &hi);
            for (size_t gi = 0; gi < gcnt; gi++) {
                const eb_real *pc = part + gi * c_elems;
                if (c0 + gi == 0) memcpy(total + lo, pc + lo, (hi - lo) * sizeof *total);
                else for (size_t e = lo; e < hi; e++) total[e] += pc[e];
            }
        }
    }
#pragma omp parallel num_threads(eb_cpu_threads((size_t)M * K, EB_CPU_PAR_CHEAP))
    {
        size_t lo, hi;
        eb_cpu_split((size_t)M, &lo, &hi);
        for (size_t co = lo; co < hi; co++) {
            const eb_real *t_row = total + co * (size_t)kp;
            eb_real *d = dw + co * (size_t)K;
            if (beta == 0) {
                for (int t = 0; t < K; t++) d[t] = alpha * t_row[t];
            } else {
                for (int t = 0; t < K; t++) d[t] = alpha * t_row[t] + beta * d[t];
            }
        }
    }
    return EB_OK;
}
