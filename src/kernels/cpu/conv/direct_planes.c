/* The direct convolutions' input planes (direct.h): zero-bordered copies split into their stride x stride
 * phases, so that every row of the implicit column matrix is a unit-stride run, and col2im back into them. */
#include "direct.h"

#include "../cpu_parallel.h"

#include <string.h>

/* Input plane src [h_in, w_in] -> the interior of the phase-split bordered plane (its border must be zero). */
EB_CPU_CLONES static void conv_plane_split(const eb_conv_geom *g, const conv_phases *f, const eb_real *src, eb_real *plane) {
    const int s = f->s;
    for (int ih = 0; ih < g->h_in; ih++) {
        const int r = ih + g->pad;
        const eb_real *row = src + (size_t)ih * g->w_in;
        if (s == 1) {
            memcpy(plane + (size_t)r * f->wq + g->pad, row, (size_t)g->w_in * sizeof *row);
            continue;
        }
        for (int b = 0; b < s; b++) { /* the columns q = iw + pad with q % s == b */
            eb_real *dst = plane + (size_t)((r % s) * s + b) * f->hq * f->wq + (size_t)(r / s) * f->wq;
            const int iw0 = ((b - g->pad) % s + s) % s; /* (iw + pad) / s rises by one per step: no division */
            const int n = iw0 < g->w_in ? (g->w_in - iw0 + s - 1) / s : 0;
            eb_real *d = dst + (iw0 + g->pad) / s;
            const eb_real *r0 = row + iw0;
            if (s == 2) { /* a constant stride: the even / odd deinterleave vectorises */
                for (int k = 0; k < n; k++) d[k] = r0[(size_t)k * 2];
            } else {
                for (int k = 0; k < n; k++) d[k] = r0[(size_t)k * s];
            }
        }
    }
}

/* Zeroes the border of a phase-split plane (the padded rows / columns every tap may read); the interior is
 * left to conv_plane_split, and the phase elements past the padded extent, which no tap reads, are left alone.
 * (A memset of the whole plane cost as much again as the copy: the planes of the first layers are MBs.) */
EB_CPU_CLONES static void conv_plane_border(const eb_conv_geom *g, const conv_phases *f, eb_real *plane) {
    const int s = f->s, p = g->pad, hp = g->h_in + 2 * p;
    for (int a = 0; a < s; a++) {
        for (int b = 0; b < s; b++) {
            eb_real *ph = plane + (size_t)(a * s + b) * f->hq * f->wq;
            /* interior columns of phase b: q = cq * s + b in [p, p + w_in) */
            const int c_lo = p > b ? (p - b + s - 1) / s : 0;
            const int c_hi = p + g->w_in - 1 - b >= 0 ? (p + g->w_in - 1 - b) / s + 1 : 0; /* exclusive */
            for (int rq = 0; rq < f->hq; rq++) {
                const int r = rq * s + a;
                if (r >= hp) break;
                eb_real *row = ph + (size_t)rq * f->wq;
                if (r < p || r >= p + g->h_in || c_hi <= c_lo) {
                    memset(row, 0, (size_t)f->wq * sizeof *row);
                } else {
                    for (int cq = 0; cq < c_lo; cq++) row[cq] = 0;
                    for (int cq = c_hi; cq < f->wq; cq++) row[cq] = 0;
                }
            }
        }
    }
}

/* The [c] planes of samples [s0, s0 + cnt) of x into their phase-split bordered copies dst [cnt, c, plane] (one
 * plane per task). */
void conv_split_all(const eb_conv_geom *g, const conv_phases *f, int c, const eb_real *x, int s0, int cnt,
                           eb_real *dst) {
    const size_t planes = (size_t)cnt * (size_t)c, hwi = (size_t)g->h_in * g->w_in;
    x += (size_t)s0 * c * hwi;
#pragma omp parallel num_threads(eb_cpu_threads(planes * f->plane, EB_CPU_PAR_CHEAP))
    {
        size_t lo, hi;
        eb_cpu_split(planes, &lo, &hi);
        for (size_t p = lo; p < hi; p++) {
            eb_real *plane = dst + p * f->plane;
            conv_plane_border(g, f, plane);
            conv_plane_split(g, f, x + p * hwi, plane);
        }
    }
}

/* The adjoint of conv_plane_split with the beta of the output: dst = interior + beta * dst (beta == 0
 * overwrites without reading). Inlined into its clone caller, whose tail call it was (below). */
__attribute__((always_inline)) static inline void conv_plane_merge(const eb_conv_geom *g, const conv_phases *f, const eb_real *plane, eb_real *dst,
                             eb_real beta) {
    const int s = f->s;
    for (int ih = 0; ih < g->h_in; ih++) {
        const int r = ih + g->pad;
        eb_real *row = dst + (size_t)ih * g->w_in;
        for (int b = 0; b < s; b++) {
            const eb_real *v = plane + (size_t)((r % s) * s + b) * f->hq * f->wq + (size_t)(r / s) * f->wq;
            const int iw0 = ((b - g->pad) % s + s) % s;
            const int n = iw0 < g->w_in ? (g->w_in - iw0 + s - 1) / s : 0;
            const eb_real *v0 = v + (iw0 + g->pad) / s;
            eb_real *r0 = row + iw0;
            if (beta == 0) {
                for (int k = 0; k < n; k++) r0[(size_t)k * s] = v0[k];
            } else {
                for (int k = 0; k < n; k++) r0[(size_t)k * s] = v0[k] + beta * r0[(size_t)k * s];
            }
        }
    }
}

/* One (sample sm, channel c) of conv_col2im: its taps summed into `plane` (zeroed first), merged into dx. The
 * merge is inlined: a clone never ends in a call (conv_clones.h). */
EB_CPU_CLONES static void conv_col2im_plane(const eb_conv_geom *g, const conv_phases *f, const eb_real *col, size_t ld,
                                          int sm, int c, eb_real *plane, eb_real *dxp, eb_real beta) {
    const size_t hwo = (size_t)g->h_out * g->w_out;
    memset(plane, 0, f->plane * sizeof *plane);
    for (int i = 0; i < g->k_h; i++) {
        for (int j = 0; j < g->k_w; j++) {
            const eb_real *d = col + ((size_t)(c * g->k_h + i) * g->k_w + j) * ld + (size_t)sm * hwo;
            eb_real *ph = plane + conv_tap_offset(f, 0, i, j);
            for (int oh = 0; oh < g->h_out; oh++) {
                eb_real *v = ph + (size_t)oh * f->wq;
                const eb_real *src = d + (size_t)oh * g->w_out;
                for (int ow = 0; ow < g->w_out; ow++) v[ow] += src[ow];
            }
        }
    }
    conv_plane_merge(g, f, plane, dxp, beta);
}

/* col2im of samples [s0, s0 + nb): col [(c, i, j)][(s, oh, ow)] (row length nb * hwo) summed into each input
 * plane's phase-split copy (taps in the order (i, j, oh, ow)), then dx = that + beta * dx. One plane of
 * f->plane elements per thread in `planes`. */
void conv_col2im(const eb_conv_geom *g, const conv_phases *f, const eb_real *col, int s0, int nb,
                        eb_real *planes, eb_real *dx, eb_real beta) {
    const size_t hwo = (size_t)g->h_out * g->w_out, ld = (size_t)nb * hwo, hwi = (size_t)g->h_in * g->w_in;
    const size_t tasks = (size_t)nb * (size_t)g->c_in;
#pragma omp parallel num_threads(eb_cpu_threads(tasks * hwi * g->k_h * g->k_w, EB_CPU_PAR_CHEAP))
    {
        eb_real *plane = planes + (size_t)eb_cpu_thread() * f->plane;
        size_t lo, hi;
        eb_cpu_split(tasks, &lo, &hi);
        for (size_t sc = lo; sc < hi; sc++) {
            const int sm = (int)(sc / (size_t)g->c_in), c = (int)(sc % (size_t)g->c_in);
            conv_col2im_plane(g, f, col, ld, sm, c, plane, dx + ((size_t)(s0 + sm) * g->c_in + c) * hwi, beta);
        }
    }
}

/* The same copies with the sample innermost, dst [c, plane, cnt]: element e of sample si's plane of channel ch at
 * (ch * plane + e) * cnt + si. Where the maps are narrower than a vector, the columns of a GEMM are best taken
 * across the samples: one B row is then a contiguous run of the batch, copied, not gathered from cnt planes. */
void conv_split_all_inner(const eb_conv_geom *g, const conv_phases *f, int c, const eb_real *x, int s0, int cnt,
                          eb_real *dst) {
    const size_t hwi = (size_t)g->h_in * g->w_in, block = f->plane * (size_t)cnt;
    const int s = f->s, p = g->pad;
    x += (size_t)s0 * c * hwi;
#pragma omp parallel num_threads(eb_cpu_threads((size_t)c * block, EB_CPU_PAR_CHEAP))
    {
        size_t lo, hi;
        eb_cpu_split((size_t)c, &lo, &hi);
        for (size_t ch = lo; ch < hi; ch++) {
            eb_real *d = dst + ch * block;
            memset(d, 0, block * sizeof *d); /* small maps: the border is most of the plane */
            for (int ih = 0; ih < g->h_in; ih++) {
                const int r = ih + p;
                for (int iw = 0; iw < g->w_in; iw++) {
                    const int q = iw + p;
                    const size_t e = (size_t)((r % s) * s + q % s) * f->hq * f->wq + (size_t)(r / s) * f->wq + q / s;
                    const eb_real *src = x + ch * hwi + (size_t)ih * g->w_in + iw;
                    eb_real *out = d + e * (size_t)cnt;
                    for (int si = 0; si < cnt; si++) out[si] = src[(size_t)si * c * hwi];
                }
            }
        }
    }
}
