/* The transforms of the Winograd convolutions (wino_internal.h): F(2, r)'s 1-D and 2-D ones, the channel-last
 * bands they read, the input, output, dy and dx transforms of a block of tiles, and the weights' transforms. */
#include "wino_internal.h"

#include "../cpu_parallel.h"

#include <string.h>

/* ---- the transforms of F(2, r) (1-D; the 2-D ones apply them along rows, then columns) ---- */

/* Inputs / outputs of a 1-D transform. */
static void wino_dims(int kind, int r, int *ni, int *no) {
    const int al = r + 1;
    *ni = kind == W_OUT_T ? 2 : kind == W_FILT ? r : al;
    *no = kind == W_OUT ? 2 : kind == W_FILT_T ? r : al;
}

/* o[q][l] = transform of (i[0][l], i[1][l], ...), l < n: vectors along lanes (tiles or channels). */
static inline __attribute__((always_inline)) void wino_1d(int kind, int r, const eb_real *const *iv, eb_real *const *ov,
                                                          size_t n) {
    const eb_real h = (eb_real)0.5;
    const eb_real *restrict i0 = iv[0], *restrict i1 = iv[1];
    const eb_real *restrict i2 = kind == W_OUT_T ? NULL : iv[2];
    const eb_real *restrict i3 = r == 3 && kind != W_OUT_T && kind != W_FILT ? iv[3] : NULL;
    eb_real *restrict o0 = ov[0], *restrict o1 = ov[1];
    eb_real *restrict o2 = kind == W_OUT ? NULL : ov[2];
    eb_real *restrict o3 = r == 3 && kind != W_OUT && kind != W_FILT_T ? ov[3] : NULL;
    size_t l;
    if (r == 3) {
        switch (kind) {
        case W_IN: _Pragma("GCC ivdep") for (l = 0; l < n; l++) o0[l] = i0[l] - i2[l], o1[l] = i1[l] + i2[l], o2[l] = i2[l] - i1[l], o3[l] = i1[l] - i3[l]; break;
        case W_IN_T: _Pragma("GCC ivdep") for (l = 0; l < n; l++) o0[l] = i0[l], o1[l] = i1[l] - i2[l] + i3[l], o2[l] = i1[l] + i2[l] - i0[l], o3[l] = -i3[l]; break;
        case W_OUT: _Pragma("GCC ivdep") for (l = 0; l < n; l++) o0[l] = i0[l] + i1[l] + i2[l], o1[l] = i1[l] - i2[l] - i3[l]; break;
        case W_OUT_T: _Pragma("GCC ivdep") for (l = 0; l < n; l++) o0[l] = i0[l], o1[l] = i0[l] + i1[l], o2[l] = i0[l] - i1[l], o3[l] = -i1[l]; break;
        case W_FILT:
            _Pragma("GCC ivdep") for (l = 0; l < n; l++) {
                const eb_real t = i0[l] + i2[l];
                o0[l] = i0[l], o1[l] = (t + i1[l]) * h, o2[l] = (t - i1[l]) * h, o3[l] = i2[l];
            }
            break;
        default: /* W_FILT_T */
            _Pragma("GCC ivdep") for (l = 0; l < n; l++) {
                const eb_real p = (i1[l] + i2[l]) * h;
                o0[l] = i0[l] + p, o1[l] = (i1[l] - i2[l]) * h, o2[l] = p + i3[l];
            }
            break;
        }
    } else {
        switch (kind) {
        case W_IN: _Pragma("GCC ivdep") for (l = 0; l < n; l++) o0[l] = i0[l] - i1[l], o1[l] = i1[l], o2[l] = i2[l] - i1[l]; break;
        case W_IN_T: _Pragma("GCC ivdep") for (l = 0; l < n; l++) o0[l] = i0[l], o1[l] = i1[l] - i0[l] - i2[l], o2[l] = i2[l]; break;
        case W_OUT: _Pragma("GCC ivdep") for (l = 0; l < n; l++) o0[l] = i0[l] + i1[l], o1[l] = i1[l] + i2[l]; break;
        case W_OUT_T: _Pragma("GCC ivdep") for (l = 0; l < n; l++) o0[l] = i0[l], o1[l] = i0[l] + i1[l], o2[l] = i1[l]; break;
        case W_FILT: _Pragma("GCC ivdep") for (l = 0; l < n; l++) o0[l] = i0[l], o1[l] = i0[l] + i1[l], o2[l] = i1[l]; break;
        default: _Pragma("GCC ivdep") for (l = 0; l < n; l++) o0[l] = i0[l] + i1[l], o1[l] = i1[l] + i2[l]; break; /* W_FILT_T */
        }
    }
}

/* dst[p][q][l] = the 2-D transform of src[a][b][l] (along a, then along b), l < n; tmp: no * ni vectors. */
void wino_2d(int kind, int r, const eb_real *src, eb_real *tmp, eb_real *dst, size_t n) {
    int ni, no;
    wino_dims(kind, r, &ni, &no);
    const eb_real *in[4] = {NULL};
    eb_real *out[4] = {NULL};
    for (int b = 0; b < ni; b++) {
        for (int a = 0; a < ni; a++) in[a] = src + (size_t)(a * ni + b) * n;
        for (int p = 0; p < no; p++) out[p] = tmp + (size_t)(p * ni + b) * n;
        wino_1d(kind, r, in, out, n);
    }
    for (int p = 0; p < no; p++) {
        for (int b = 0; b < ni; b++) in[b] = tmp + (size_t)(p * ni + b) * n;
        for (int q = 0; q < no; q++) out[q] = dst + (size_t)(p * no + q) * n;
        wino_1d(kind, r, in, out, n);
    }
}

/* A vector of 8 eb_real (32 or 64 bytes): the unit of cl_band's transposes. */
typedef eb_real wino_v8 __attribute__((vector_size(8 * sizeof(eb_real))));

/* dst[q * ldd + c] = src[c * lds + q], q, c < 8: an 8 x 8 transpose in registers (three rounds of shuffles). */
static inline __attribute__((always_inline)) void wino_transpose8(const eb_real *src, size_t lds, eb_real *dst, size_t ldd) {
    wino_v8 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) memcpy(&r[i], src + (size_t)i * lds, sizeof r[i]);
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
        u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
    }
    for (int i = 0; i < 4; i++) {
        const wino_v8 lo = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        const wino_v8 hi = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
        memcpy(dst + (size_t)i * ldd, &lo, sizeof lo);
        memcpy(dst + (size_t)(i + 4) * ldd, &hi, sizeof hi);
    }
}

/* band[(ih w + iw) cs + c] = src[c h w + ih w + iw] for rows [lo, hi] of one NCHW sample (at their own row
 * index): the pixels [lo w, (hi + 1) w) of every channel plane, in 8 x 8 blocks. */
EB_CPU_CLONES void cl_band(const eb_real *src, int cs, int h, int w, int lo, int hi, eb_real *band) {
    const size_t hw = (size_t)h * w, q_lo = (size_t)lo * w, q_hi = (size_t)(hi + 1) * w;
    const size_t q8 = q_lo + (q_hi - q_lo) / 8 * 8;
    const int c8 = cs / 8 * 8;
    for (size_t q = q_lo; q < q8; q += 8)
        for (int c = 0; c < c8; c += 8) wino_transpose8(src + (size_t)c * hw + q, hw, band + q * cs + c, (size_t)cs);
    for (size_t q = q_lo; q < q_hi; q++) /* the edges */
        for (int c = q < q8 ? c8 : 0; c < cs; c++) band[q * cs + c] = src[(size_t)c * hw + q];
}

/* V rows [0, nt) (leading dimension ldv tiles) = B^T d B of tiles [tt0, tt0 + nt) of one sample, every c', the
 * taps read from the sample's band; tmp: t2 cs. */
static inline __attribute__((always_inline)) void cl_input_r(const wjob *j, const eb_real *band, size_t tt0, int nt,
                                                            eb_real *V, size_t ldv, eb_real *tmp, const int r) {
    const int al = r + 1, cs = j->cs, s = j->s;
    const eb_real *d[16], *in[4] = {NULL};
    eb_real *out[4] = {NULL};
    for (int l = 0; l < nt; l++) {
        const size_t tt = tt0 + (size_t)l, i = tt / (size_t)j->tps;
        const int rest = (int)(tt - i * j->tps), ty = rest / j->tw, tx = rest % j->tw;
        for (int ph = 0; ph < j->np; ph++) {
            const int py = ph / s, px = ph % s;
            for (int a = 0; a < al; a++) {
                const int ih = s * (2 * ty + a + j->u0) + py - j->pad;
                for (int b = 0; b < al; b++) {
                    const int iw = s * (2 * tx + b + j->v0) + px - j->pad;
                    d[a * al + b] = ih >= 0 && ih < j->h && iw >= 0 && iw < j->w
                                        ? band + ((size_t)ih * j->w + (size_t)iw) * cs
                                        : j->zero;
                }
            }
            for (int b = 0; b < al; b++) { /* along a */
                for (int a = 0; a < al; a++) in[a] = d[a * al + b], out[a] = tmp + (size_t)(a * al + b) * cs;
                wino_1d(W_IN, r, in, out, (size_t)cs);
            }
            for (int a = 0; a < al; a++) { /* along b, into V */
                for (int b = 0; b < al; b++)
                    in[b] = tmp + (size_t)(a * al + b) * cs,
                    out[b] = V + ((size_t)(a * al + b) * ldv + (size_t)l) * j->cv + (size_t)ph * cs;
                wino_1d(W_IN, r, in, out, (size_t)cs);
            }
        }
    }
}

EB_CPU_CLONES void cl_input(const wjob *j, const eb_real *band, size_t tt0, int nt, eb_real *V, size_t ldv,
                                 eb_real *tmp) {
    if (j->r == 3) cl_input_r(j, band, tt0, nt, V, ldv, tmp, 3);
    else cl_input_r(j, band, tt0, nt, V, ldv, tmp, 2);
}

/* out = alpha * A^T M A + beta * out for tiles [tt0, tt0 + nt) (whole tile rows; M rows [0, nt), leading
 * dimension ldv). A tile row's 2 x 2 results go to rows [4][tw][K] of tmp (after 2 al K of the first pass), then
 * out row by row and channel by channel (its pixels are contiguous along a channel, the channels 4 KiB-multiples
 * apart: a scatter per tile would meet one cache set again and again). */
static inline __attribute__((always_inline)) void cl_output_r(const wjob *j, size_t tt0, int nt, const eb_real *M,
                                                             size_t ldv, eb_real *tmp, const int r) {
    const int al = r + 1, K = j->K, tw = j->tw;
    const eb_real *in[4] = {NULL};
    eb_real *out[4] = {NULL};
    eb_real *rb = tmp + (size_t)2 * al * K;
    const eb_real alpha = j->alpha, beta = j->beta;
    for (int l0 = 0; l0 < nt; l0 += tw) {
        const size_t tt = tt0 + (size_t)l0, i = tt / (size_t)j->tps;
        const int ty = (int)(tt - i * j->tps) / tw;
        for (int tx = 0; tx < tw; tx++) {
            const size_t l = (size_t)(l0 + tx);
            for (int b = 0; b < al; b++) { /* along a: tmp[u][b] */
                for (int a = 0; a < al; a++) in[a] = M + ((size_t)(a * al + b) * ldv + l) * j->kp;
                out[0] = tmp + (size_t)b * K, out[1] = tmp + (size_t)(al + b) * K;
                wino_1d(W_OUT, r, in, out, (size_t)K);
            }
            for (int u = 0; u < 2; u++) { /* along b: rb[u][v][tx] */
                for (int b = 0; b < al; b++) in[b] = tmp + (size_t)(u * al + b) * K;
                out[0] = rb + ((size_t)(2 * u) * tw + tx) * K, out[1] = rb + ((size_t)(2 * u + 1) * tw + tx) * K;
                wino_1d(W_OUT, r, in, out, (size_t)K);
            }
        }
        eb_real *base = j->dst + (ptrdiff_t)i * j->dst_n;
        const ptrdiff_t dq = j->dst_q;
        for (int u = 0; u < 2; u++) {
            const int R = 2 * ty + u;
            if (R >= j->ho) continue;
            const eb_real *e0 = rb + (size_t)(2 * u) * tw * K, *e1 = rb + (size_t)(2 * u + 1) * tw * K;
            const int pairs = j->wo / 2, odd = j->wo % 2;
            for (int k = 0; k < K; k++) {
                eb_real *o = base + (ptrdiff_t)k * j->dst_c + (ptrdiff_t)R * j->dst_r;
                if (beta == 0) {
                    for (int t = 0; t < pairs; t++)
                        o[2 * t * dq] = alpha * e0[(size_t)t * K + k], o[(2 * t + 1) * dq] = alpha * e1[(size_t)t * K + k];
                    if (odd) o[2 * pairs * dq] = alpha * e0[(size_t)pairs * K + k];
                } else {
                    for (int t = 0; t < pairs; t++)
                        o[2 * t * dq] = alpha * e0[(size_t)t * K + k] + beta * o[2 * t * dq],
                        o[(2 * t + 1) * dq] = alpha * e1[(size_t)t * K + k] + beta * o[(2 * t + 1) * dq];
                    if (odd) o[2 * pairs * dq] = alpha * e0[(size_t)pairs * K + k] + beta * o[2 * pairs * dq];
                }
            }
        }
    }
}

EB_CPU_CLONES void cl_output(const wjob *j, size_t tt0, int nt, const eb_real *M, size_t ldv, eb_real *tmp) {
    if (j->r == 3) cl_output_r(j, tt0, nt, M, ldv, tmp, 3);
    else cl_output_r(j, tt0, nt, M, ldv, tmp, 2);
}

/* dM = A dy_tile A^T of tiles [tt0, tt0 + nt) of one sample of the forward's grid j (lane tt - tt0), from the
 * sample's band of dy; tmp: 2 al cw nq (the lanes past K stay 0 there and in the last chunk's tail). */
static inline __attribute__((always_inline)) void cl_dy_r(const wjob *j, const eb_real *band, size_t tt0, int nt,
                                                         eb_real *dM, const dy_layout *o, eb_real *tmp, const int r) {
    const int al = r + 1, K = j->K;
    const size_t kw = (size_t)o->cw * o->nq; /* tmp's row: K lanes rounded up to whole chunks */
    const eb_real *d[4], *in[4] = {NULL};
    eb_real *out[4] = {NULL};
    for (int a = 0; a < 2 * al; a++)
        for (size_t k = (size_t)K; k < kw; k++) tmp[(size_t)a * kw + k] = 0;
    for (int l = 0; l < nt; l++) {
        const size_t tt = tt0 + (size_t)l, i = tt / (size_t)j->tps;
        const int rest = (int)(tt - i * j->tps), ty = rest / j->tw, tx = rest % j->tw;
        for (int u = 0; u < 2; u++)
            for (int v = 0; v < 2; v++) {
                const int oh = 2 * ty + u, ow = 2 * tx + v;
                d[u * 2 + v] = oh < j->ho && ow < j->wo ? band + ((size_t)oh * j->wo + (size_t)ow) * K : j->zero;
            }
        for (int v = 0; v < 2; v++) { /* along u */
            in[0] = d[v], in[1] = d[2 + v];
            for (int a = 0; a < al; a++) out[a] = tmp + (size_t)(a * 2 + v) * kw;
            wino_1d(W_OUT_T, r, in, out, (size_t)K);
        }
        for (int a = 0; a < al; a++) /* along v, straight into dM chunk by chunk */
            for (int q = 0; q < o->nq; q++) {
                in[0] = tmp + (size_t)(a * 2) * kw + (size_t)q * o->cw, in[1] = tmp + (size_t)(a * 2 + 1) * kw + (size_t)q * o->cw;
                for (int b = 0; b < al; b++) out[b] = dM + (size_t)(a * al + b) * o->xs + (size_t)l * o->ls + (size_t)q * o->qs;
                wino_1d(W_OUT_T, r, in, out, (size_t)o->cw);
            }
    }
}

EB_CPU_CLONES void cl_dy(const wjob *j, const eb_real *band, size_t tt0, int nt, eb_real *dM, const dy_layout *o,
                              eb_real *tmp) {
    if (j->r == 3) cl_dy_r(j, band, tt0, nt, dM, o, tmp, 3);
    else cl_dy_r(j, band, tt0, nt, dM, o, tmp, 2);
}

/* dxcl [h][w][cs] += B dV B^T of tiles [tt0, tt0 + nt) of one sample (dV rows [0, nt), row stride cpad, leading
 * dimension ldv, c' = ph cs + c); tmp: 2 t2 cs. */
static inline __attribute__((always_inline)) void cl_dxacc_r(const wjob *j, const eb_real *dV, size_t ldv, int cpad,
                                                            size_t tt0, int nt, eb_real *dxcl, eb_real *tmp, const int r) {
    const int al = r + 1, cs = j->cs, s = j->s, t2 = al * al;
    const eb_real *in[4] = {NULL};
    eb_real *out[4] = {NULL};
    eb_real *t1 = tmp, *t3 = tmp + (size_t)t2 * cs;
    for (int l = 0; l < nt; l++) {
        const size_t tt = tt0 + (size_t)l, i = tt / (size_t)j->tps;
        const int rest = (int)(tt - i * j->tps), ty = rest / j->tw, tx = rest % j->tw;
        for (int ph = 0; ph < j->np; ph++) {
            const int py = ph / s, px = ph % s;
            for (int b = 0; b < al; b++) { /* along the first index */
                for (int a = 0; a < al; a++) {
                    in[a] = dV + ((size_t)(a * al + b) * ldv + (size_t)l) * cpad + (size_t)ph * cs;
                    out[a] = t1 + (size_t)(a * al + b) * cs;
                }
                wino_1d(W_IN_T, r, in, out, (size_t)cs);
            }
            for (int a = 0; a < al; a++) { /* along the second */
                for (int b = 0; b < al; b++) in[b] = t1 + (size_t)(a * al + b) * cs, out[b] = t3 + (size_t)(a * al + b) * cs;
                wino_1d(W_IN_T, r, in, out, (size_t)cs);
            }
            for (int a = 0; a < al; a++) {
                const int ih = s * (2 * ty + a) + py - j->pad;
                if (ih < 0 || ih >= j->h) continue;
                for (int b = 0; b < al; b++) {
                    const int iw = s * (2 * tx + b) + px - j->pad;
                    if (iw < 0 || iw >= j->w) continue;
                    eb_real *o = dxcl + ((size_t)ih * j->w + (size_t)iw) * cs;
                    const eb_real *v = t3 + (size_t)(a * al + b) * cs;
                    for (int c = 0; c < cs; c++) o[c] += v[c];
                }
            }
        }
    }
}

EB_CPU_CLONES void cl_dxacc(const wjob *j, const eb_real *dV, size_t ldv, int cpad, size_t tt0, int nt,
                                 eb_real *dxcl, eb_real *tmp) {
    if (j->r == 3) cl_dxacc_r(j, dV, ldv, cpad, tt0, nt, dxcl, tmp, 3);
    else cl_dxacc_r(j, dV, ldv, cpad, tt0, nt, dxcl, tmp, 2);
}

/* dst [cs][hw] = alpha * cl [hw][cs] + beta * dst (beta == 0: dst not read), through 8 x 8 transposes. */
EB_CPU_CLONES void cl_unband(const eb_real *cl, int cs, size_t hw, eb_real *dst, eb_real alpha, eb_real beta) {
    eb_real t8[64];
    const size_t q8 = hw / 8 * 8;
    const int c8 = cs / 8 * 8;
    /* channels outer: the 8 rows of dst being written (hw apart, often 4 KiB: one cache set) are filled along
     * the pixels line by line, where pixels outer would reach 64 such rows before completing any line */
    for (int c = 0; c < c8; c += 8)
        for (size_t q = 0; q < q8; q += 8) {
            wino_transpose8(cl + q * cs + c, (size_t)cs, t8, 8);
            for (int cc = 0; cc < 8; cc++) {
                eb_real *d = dst + (size_t)(c + cc) * hw + q;
                if (beta == 0) for (int qq = 0; qq < 8; qq++) d[qq] = alpha * t8[cc * 8 + qq];
                else for (int qq = 0; qq < 8; qq++) d[qq] = alpha * t8[cc * 8 + qq] + beta * d[qq];
            }
        }
    for (size_t q = 0; q < hw; q++) /* the edges */
        for (int c = q < q8 ? c8 : 0; c < cs; c++) {
            eb_real *d = dst + (size_t)c * hw + q;
            *d = beta == 0 ? alpha * cl[q * cs + c] : alpha * cl[q * cs + c] + beta * *d;
        }
}

/* ---- the weights ---- */

/* U [t2][kp / NR][C][NR] = G g G^T packed as B panels: the forward's taps g[k][c'] = w[k][c][s i + py][s j + px]
 * (c' = ph c_in + c, lanes k), or with flip (the data gradients of the input phases (py, px), whose reduction
 * runs over k): g[c][k] = w[k][c][s (r - 1 - i) + py][s (r - 1 - j) + px] (lanes c), phase ph's U at
 * U + ph * wino_phase_elems: all phases in one pass over w, which is transposed once, not once per phase (that
 * was a tenth of 256->256 k4 s2's data gradient). One task per strip of NR lanes:
 * the strip's part of w is first transposed lanes-last in 8 x 8 blocks (forward: [c][tap][NR] of the NR output
 * channels' rows of w; flip: [tap][NR] of one k's NR input channels), so that no gather runs along the lanes, whose
 * stride in w is a multiple of 4 KiB (one cache set). Lanes past the output channels are 0. buf: wino_weights_elems
 * per thread. */
size_t wino_phase_elems(const wino *p, const eb_conv_geom *g) { /* one phase's U of the data gradient */
    return (size_t)p->t2 * wino_round((size_t)g->c_in, NR) * g->c_out;
}

size_t wino_weights_elems(const eb_conv_geom *g, int flip) {
    const size_t kk = (size_t)g->k_h * g->k_w;
    return wino_region((size_t)3 * 16 * NR, sizeof(eb_real)) + wino_region((flip ? 1 : (size_t)g->c_in) * kk * NR, sizeof(eb_real));
}

/* dst[j * NR + l] = src[l * lds + j] for l < nl, j < cols (lanes past nl: 0); 8 x 8 blocks where whole. */
EB_CPU_CLONES static void wino_lanes_last(const eb_real *src, size_t lds, int nl, size_t cols, eb_real *dst) {
    const size_t c8 = cols / 8 * 8;
    const int l8 = nl / 8 * 8;
    for (int l = 0; l < l8; l += 8)
        for (size_t j = 0; j < c8; j += 8) wino_transpose8(src + (size_t)l * lds + j, lds, dst + j * NR + l, NR);
    for (size_t j = 0; j < cols; j++) {
        for (int l = j < c8 ? l8 : 0; l < nl; l++) dst[j * NR + l] = src[(size_t)l * lds + j];
        for (int l = nl; l < NR; l++) dst[j * NR + l] = 0;
    }
}

void wino_weights(const wino *p, const eb_conv_geom *g, const eb_real *w, eb_real *U, int flip, eb_real *buf,
                         size_t buf_per_thread) {
    const int r = p->r, s = p->s, kk = g->k_h * g->k_w, np = p->np;
    const int red = flip ? g->c_out : g->c_in, n = flip ? g->c_in : g->c_out;
    const int C = flip ? red : red * np, ks_n = (int)wino_round((size_t)n, NR) / NR;
#pragma omp parallel num_threads(eb_cpu_threads((size_t)g->c_out * p->cp * p->t2, EB_CPU_PAR_CHEAP))
    {
        eb_real *src = buf + (size_t)eb_cpu_thread() * buf_per_thread, *tmp = src + (size_t)p->t2 * NR;
        eb_real *dst = tmp + (size_t)p->t2 * NR, *tb = src + wino_region((size_t)3 * 16 * NR, sizeof(eb_real));
        size_t lo, hi;
        eb_cpu_split((size_t)ks_n, &lo, &hi);
        for (size_t ks = lo; ks < hi; ks++) {
            const int l0 = (int)ks * NR, nl = n - l0 < NR ? n - l0 : NR;
            if (!flip) /* the NR output channels' rows of w, lanes last: tb[(c kk + tap) NR + l] */
                wino_lanes_last(w + (size_t)l0 * g->c_in * kk, (size_t)g->c_in * kk, nl, (size_t)g->c_in * kk, tb);
            for (int q = 0; q < red; q++) {
                if (flip) /* k = q: its NR input channels' taps, lanes last: tb[tap NR + l] */
                    wino_lanes_last(w + ((size_t)q * g->c_in + l0) * kk, (size_t)kk, nl, (size_t)kk, tb);
                const eb_real *tq = flip ? tb : tb + (size_t)q * kk * NR;
                for (int ph = 0; ph < np; ph++) {
                    const int py = ph / s, px = ph % s;
                    for (int i = 0; i < r; i++)
                        for (int jj = 0; jj < r; jj++) {
                            const int ti = flip ? s * (r - 1 - i) + py : s * i + py, tj = flip ? s * (r - 1 - jj) + px : s * jj + px;
                            memcpy(src + (size_t)(i * r + jj) * NR, tq + (size_t)(ti * g->k_w + tj) * NR, NR * sizeof *src);
                        }
                    wino_2d(W_FILT, r, src, tmp, dst, NR);
                    const size_t cq = flip ? (size_t)q : (size_t)ph * red + q;
                    eb_real *Uph = flip ? U + (size_t)ph * wino_phase_elems(p, g) : U;
                    for (int xi = 0; xi < p->t2; xi++)
                        memcpy(Uph + (((size_t)xi * ks_n + ks) * C + cq) * NR, dst + (size_t)xi * NR, NR * sizeof *dst);
                }
            }
        }
    }
}

/* Ud [t2][cpad / NR][c_out][NR] = the forward's G g G^T with the c' as the lanes (one task per strip of NR c', the
 * output channels inside: each k's taps of the strip lie in one row of w). buf: 3 t2 NR elements per thread. */
void wino_weights_adjoint(const wino *p, const eb_conv_geom *g, const eb_real *w, eb_real *U, eb_real *buf,
                                 size_t buf_per_thread) {
    const int r = p->r, s = p->s, K = g->c_out, C = p->cp, ks_n = (int)(wino_round((size_t)C, NR) / NR);
    const size_t kk = (size_t)g->k_h * g->k_w;
#pragma omp parallel num_threads(eb_cpu_threads((size_t)K * C * p->t2, EB_CPU_PAR_CHEAP))
    {
        eb_real *src = buf + (size_t)eb_cpu_thread() * buf_per_thread, *tmp = src + (size_t)p->t2 * NR;
        eb_real *dst = tmp + (size_t)p->t2 * NR;
        size_t lo, hi;
        eb_cpu_split((size_t)ks_n, &lo, &hi);
        for (size_t ks = lo; ks < hi; ks++)
            for (int k = 0; k < K; k++) {
                const eb_real *wk = w + (size_t)k * g->c_in * kk;
                for (int i = 0; i < r; i++)
                    for (int jj = 0; jj < r; jj++) {
                        eb_real *o = src + (size_t)(i * r + jj) * NR;
                        for (int l = 0; l < NR; l++) {
                            const int cq = (int)ks * NR + l, ph = cq / g->c_in, c = cq % g->c_in;
                            o[l] = cq < C ? wk[((size_t)c * g->k_h + s * i + ph / s) * g->k_w + s * jj + ph % s] : 0;
                        }
                    }
                wino_2d(W_FILT, r, src, tmp, dst, NR);
                for (int xi = 0; xi < p->t2; xi++)
                    memcpy(U + (((size_t)xi * ks_n + ks) * K + k) * NR, dst + (size_t)xi * NR, NR * sizeof *dst);
            }
    }
}
