/* Winograd F(2x2, r x r) convolutions (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016)
 * for the CPU backend: the three conv ops of layers with k = stride * r taps, r in {2, 3}, as GEMMs on cpu_tile.c. */
#include "wino.h"

#include "../cpu_ops.h"
#include "../cpu_parallel.h"
#include "tile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Why (bench/PROFILE.md, fourth pass): the direct implicit GEMMs of cpu_conv.c run at ~60% of the machine's FMA
 * peak on the cifar trunk; the arithmetic itself is the lever left. A stride-s layer with k = s r taps is, per
 * input phase (py, px) (the rows s R + py - pad and columns s Q + px - pad of x), a stride-1 correlation with the
 * r x r taps w[s i + py][s j + px]; phases and channels together are the reduction channels c' = c s^2 + phase.
 * Each 2x2 tile of outputs reads an alpha x alpha tile d (alpha = r + 1) of every phase plane, and
 *     y_tile = A^T [ sum over c' of (G g G^T) . (B^T d B) ] A            (. : elementwise, alpha^2 elements xi)
 * so a layer is alpha^2 GEMMs M_xi [c_out, tiles] = U_xi [c_out, c'] V_xi [c', tiles], with 4 r^2 / alpha^2
 * fewer multiply-adds than the direct sum (2.25x for k3 s1, 1.78x for k4 s2). The backward ops are its adjoints:
 *     backward data    dM = A dy_tile A^T,  dV_xi = U_xi^T dM_xi,  dx = sum over the overlapping tiles of B dV B^T
 *                      (computed so where few input channels would pad the tile's columns; else per input phase
 *                      as a forward of dy with the phase's taps flipped, wjob_data)
 *     backward filter  dU_xi = sum over tiles of dM_xi V_xi^T,  dw = G^T dU G
 * The interpolation points are 0, +-1 and infinity: every coefficient is 0, +-1 or 1/2, exact in binary, so the
 * rounding differs from the direct sum's only by the few additions of the transforms (test_cpu_winograd bounds
 * it in float32; grad_ops_conv checks every op against the direct loops in float64). Every sum runs in one order
 * fixed by the geometry: the threads split GEMM columns and planes, never a sum. */

#define NR EB_TILE_NR

/* The transforms (additions and copies around the GEMMs) are compiled for AVX-512 and AVX2 as well as the
 * baseline, picked at load time (as cpu_conv.c's copies); their values do not depend on the choice. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WINO_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WINO_CLONES
#endif

/* GEMM blocking: KC reduction steps per B panel of the forward / data GEMMs (24 KiB of floats, L1), KCF tiles per
 * panel of the filter gradient's, whose A rows stream through L1 as well (2 x 12 KiB). */
enum { WINO_KC = 128, WINO_KCF = 64 };

/* The filter gradient transforms x and dy for as many samples at a time as keep their V and dM within 4M
 * elements (16 MiB of floats, L3 while the GEMMs read them back), at least one. Each chunk is two fork / joins
 * of the threads, and a join where the waiting thread sleeps (OMP_WAIT_POLICY=passive, as the benchmarks and
 * tests run) costs 50-80 us on the machines we measure: 1M-element chunks made the 64->64 k4 s2 filter gradient
 * 16.6 ms, 4M 13.4 ms (2 threads, passive; 13.0 and 12.0 with spinning joins); 32M was slower again. */
static const size_t wino_chunk_elems = (size_t)1 << 22;

static size_t wino_round(size_t v, size_t m) { return (v + m - 1) / m * m; }

/* Elements of eb_real holding `count` objects of `bytes`, rounded to 64 elements (regions keep the base's
 * 256-byte alignment). */
static size_t wino_region(size_t count, size_t bytes) {
    return wino_round((count * bytes + sizeof(eb_real) - 1) / sizeof(eb_real), 64);
}

/* ---- the layer as tiles ---- */

typedef struct wino {
    int r, al, t2;     /* taps per phase and axis; alpha = r + 1 (an input tile's side); alpha^2 (the GEMMs) */
    int s, np;         /* stride; phases s * s */
    int cp;            /* reduction channels c_in * np: c' = (py * s + px) * c_in + c */
    int th, tw, tps;   /* 2x2 output tiles per sample: rows, columns, all (tile l = ty * tw + tx) */
} wino;

static wino wino_of(const eb_conv_geom *g) {
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

/* ---- the transforms of F(2, r) (1-D; the 2-D ones apply them along rows, then columns) ---- */

enum { W_IN, W_IN_T, W_OUT, W_OUT_T, W_FILT, W_FILT_T }; /* B^T, B, A^T, A, G, G^T */

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
static void wino_2d(int kind, int r, const eb_real *src, eb_real *tmp, eb_real *dst, size_t n) {
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

/* ---- layouts ----
 * The transforms run on vectors of channels: the rows of one sample's input (x, or dy) that a block of tiles
 * reads are first copied channel-last into a band [h][w][c] (cl_band), so that every tap of a tile is one
 * unit-stride vector of c_in (or c_out) values. The GEMM operands of a block of tiles are
 *   V [t2][tiles][cv]          rows = tiles (the tile's A, read in place), c' = ph c_in + c < C <= cv
 *   U [t2][kp / NR][C][NR]     the transformed weights packed as the tile's B panels (output channels in strips)
 *   M [t2][tiles][kp]          C of the tile, kp = the output channels rounded up to NR
 * and for the filter gradient dM [t2][kp / NR][tiles][NR] (dy's transform, B panels as they are). */

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
WINO_CLONES static void cl_band(const eb_real *src, int cs, int h, int w, int lo, int hi, eb_real *band) {
    const size_t hw = (size_t)h * w, q_lo = (size_t)lo * w, q_hi = (size_t)(hi + 1) * w;
    const size_t q8 = q_lo + (q_hi - q_lo) / 8 * 8;
    const int c8 = cs / 8 * 8;
    for (size_t q = q_lo; q < q8; q += 8)
        for (int c = 0; c < c8; c += 8) wino_transpose8(src + (size_t)c * hw + q, hw, band + q * cs + c, (size_t)cs);
    for (size_t q = q_lo; q < q_hi; q++) /* the edges */
        for (int c = q < q8 ? c8 : 0; c < cs; c++) band[q * cs + c] = src[(size_t)c * hw + q];
}

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

static void wjob_grid(wjob *j, int r, int ho, int wo) {
    j->r = r, j->al = r + 1, j->t2 = (r + 1) * (r + 1);
    j->ho = ho, j->wo = wo, j->th = (ho + 1) / 2, j->tw = (wo + 1) / 2, j->tps = j->th * j->tw;
    j->C = j->cs * j->np;
    j->cv = (int)wino_round((size_t)j->C, 16) + 16;
    j->kp = (int)wino_round((size_t)j->K, NR);
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

WINO_CLONES static void cl_input(const wjob *j, const eb_real *band, size_t tt0, int nt, eb_real *V, size_t ldv,
                                 eb_real *tmp) {
    if (j->r == 3) cl_input_r(j, band, tt0, nt, V, ldv, tmp, 3);
    else cl_input_r(j, band, tt0, nt, V, ldv, tmp, 2);
}

/* The rows of sample i that its tile rows [ty_a, ty_b] read, clipped to the map: [*lo, *hi] (empty: lo > hi). */
static void wjob_rows(const wjob *j, int ty_a, int ty_b, int *lo, int *hi) {
    *lo = j->s * (2 * ty_a + j->u0) - j->pad;
    *hi = j->s * (2 * ty_b + j->al - 1 + j->u0) + j->s - 1 - j->pad;
    if (*lo < 0) *lo = 0;
    if (*hi > j->h - 1) *hi = j->h - 1;
}

/* V rows [0, nt) = the input transform of tiles [tt0, tt0 + nt), sample by sample through the band. */
static void wjob_input(const wjob *j, size_t tt0, int nt, eb_real *V, size_t ldv, eb_real *band, eb_real *tmp) {
    for (size_t tt = tt0; tt < tt0 + (size_t)nt;) {
        const size_t i = tt / (size_t)j->tps, end = tt0 + nt < (i + 1) * j->tps ? tt0 + nt : (i + 1) * j->tps;
        int lo, hi;
        wjob_rows(j, (int)(tt - i * j->tps) / j->tw, (int)(end - 1 - i * j->tps) / j->tw, &lo, &hi);
        if (lo <= hi) cl_band(j->src + i * j->src_n, j->cs, j->h, j->w, lo, hi, band);
        cl_input(j, band, tt, (int)(end - tt), V + (tt - tt0) * j->cv, ldv, tmp);
        tt = end;
    }
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

WINO_CLONES static void cl_output(const wjob *j, size_t tt0, int nt, const eb_real *M, size_t ldv, eb_real *tmp) {
    if (j->r == 3) cl_output_r(j, tt0, nt, M, ldv, tmp, 3);
    else cl_output_r(j, tt0, nt, M, ldv, tmp, 2);
}

/* M_xi rows [0, m) (m a multiple of MR; rows past the tiles are zero in V) = V_xi U_xi. Rows in blocks of 32:
 * a block of V (<= 32 x C, L1 / L2) meets every strip of U_xi (a panel [KC][NR] at a time, L1) before the next
 * block is read, so V streams into cache once per xi and U_xi (L2) once per block. */
static void cl_gemm(const wjob *j, int xi, const eb_real *V, eb_real *M, size_t ldv, const ptrdiff_t *id, size_t m) {
    enum { MB = 32 };
    const int C = j->C, ks_n = j->kp / NR;
    const eb_real *Vx = V + (size_t)xi * ldv * j->cv;
    eb_real *Mx = M + (size_t)xi * ldv * j->kp;
    for (size_t m0 = 0; m0 < m; m0 += MB) {
        const size_t m1 = m0 + MB < m ? m0 + MB : m;
        for (int ks = 0; ks < ks_n; ks++) {
            for (int k0 = 0; k0 < C; k0 += WINO_KC) {
                const int kc = C - k0 < WINO_KC ? C - k0 : WINO_KC;
                const eb_real *b = j->U + (((size_t)xi * ks_n + ks) * C + k0) * NR;
                for (size_t mb = m0; mb < m1; mb += EB_TILE_MR) {
                    ptrdiff_t rw[EB_TILE_MR];
                    for (int i = 0; i < EB_TILE_MR; i++) rw[i] = (ptrdiff_t)(mb + i) * j->cv;
                    eb_cpu_tile_gemm(kc, Vx, rw, id + k0, b, Mx + mb * j->kp + (size_t)ks * NR, j->kp, k0 > 0);
                }
            }
        }
    }
}

/* Zeroes V rows [nt, round_up(nt, MR)) of every xi (finite A rows; their C rows are never read). */
static void cl_zero_rows(const wjob *j, eb_real *V, size_t ldv, int nt) {
    const size_t n8 = wino_round((size_t)nt, EB_TILE_MR);
    for (int xi = 0; xi < j->t2; xi++)
        memset(V + ((size_t)xi * ldv + (size_t)nt) * j->cv, 0, (n8 - (size_t)nt) * j->cv * sizeof *V);
}

/* Each thread takes blocks of whole tile rows through input transform, the t2 GEMMs and output transform on its
 * own. When U fits L2 (<= 1 MiB) a block is as many tiles as keep its V and M in ~768 KiB too; a larger U
 * streams from L3 once per block, whose size then pays for it (~192 tiles: 4 bytes of U per 192 multiply-adds).
 * At most an even share of the tile rows per thread. */
static int wjob_block(const wjob *j, int threads) {
    const size_t per_tile = (size_t)j->t2 * (j->cv + j->kp) * sizeof(eb_real);
    const size_t u_bytes = (size_t)j->t2 * j->C * j->kp * sizeof(eb_real);
    size_t bt = u_bytes <= ((size_t)1 << 20) ? ((size_t)768 << 10) / per_tile : 192;
    if (bt > 192) bt = 192;
    const size_t rows = (size_t)j->n * j->th, share = (rows + threads - 1) / threads;
    size_t br = bt / (size_t)j->tw;
    if (br < 1) br = 1;
    if (br > share) br = share;
    return (int)(br * (size_t)j->tw);
}

/* Per-thread scratch of a job (elements) for blocks of bt tiles: V, M, the band of one sample, the transforms'. */
static size_t wjob_tmp_elems(const wjob *j) {
    const size_t a = (size_t)j->t2 * j->cs, b = (size_t)(2 * j->al + 4 * j->tw) * j->K;
    return wino_region(a > b ? a : b, sizeof(eb_real));
}
static size_t wjob_thread_elems(const wjob *j, int bt) {
    const size_t rows = wino_round((size_t)bt, EB_TILE_MR);
    return wino_region((size_t)j->t2 * rows * j->cv, sizeof(eb_real)) + wino_region((size_t)j->t2 * rows * j->kp, sizeof(eb_real)) +
           wino_region((size_t)j->h * j->w * j->cs, sizeof(eb_real)) + wjob_tmp_elems(j);
}

static void wjob_run(const wjob *j, eb_real *ws, const ptrdiff_t *id, int threads) {
    const size_t tiles = (size_t)j->n * j->tps, bt = (size_t)wjob_block(j, threads), blocks = (tiles + bt - 1) / bt;
    const size_t ldv = wino_round(bt, EB_TILE_MR), per = wjob_thread_elems(j, (int)bt);
    const size_t v_e = wino_region((size_t)j->t2 * ldv * j->cv, sizeof(eb_real));
    const size_t m_e = wino_region((size_t)j->t2 * ldv * j->kp, sizeof(eb_real));
    const size_t b_e = wino_region((size_t)j->h * j->w * j->cs, sizeof(eb_real));
#pragma omp parallel num_threads((size_t)threads < blocks ? threads : (int)blocks)
    {
        eb_real *V = ws + (size_t)eb_cpu_thread() * per, *M = V + v_e, *band = M + m_e, *tmp = band + b_e;
        size_t lo, hi;
        eb_cpu_split(blocks, &lo, &hi);
        for (size_t b = lo; b < hi; b++) {
            const size_t tt0 = b * bt;
            const int nt = (int)(tiles - tt0 < bt ? tiles - tt0 : bt);
            wjob_input(j, tt0, nt, V, ldv, band, tmp);
            cl_zero_rows(j, V, ldv, nt);
            for (int xi = 0; xi < j->t2; xi++) cl_gemm(j, xi, V, M, ldv, id, wino_round((size_t)nt, EB_TILE_MR));
            cl_output(j, tt0, nt, M, ldv, tmp);
        }
    }
}

/* ---- weights ---- */

/* U [t2][kp / NR][C][NR] = G g G^T packed as B panels: the forward's taps g[k][c'] = w[k][c][s i + py][s j + px]
 * (c' = ph c_in + c, lanes k), or with flip (the data gradients of the input phases (py, px), whose reduction
 * runs over k): g[c][k] = w[k][c][s (r - 1 - i) + py][s (r - 1 - j) + px] (lanes c), phase ph's U at
 * U + ph * wino_phase_elems: all phases in one pass over w, which is transposed once, not once per phase (that
 * was a tenth of 256->256 k4 s2's data gradient). One task per strip of NR lanes:
 * the strip's part of w is first transposed lanes-last in 8 x 8 blocks (forward: [c][tap][NR] of the NR output
 * channels' rows of w; flip: [tap][NR] of one k's NR input channels), so that no gather runs along the lanes, whose
 * stride in w is a multiple of 4 KiB (one cache set). Lanes past the output channels are 0. buf: wino_weights_elems
 * per thread. */
static size_t wino_phase_elems(const wino *p, const eb_conv_geom *g) { /* one phase's U of the data gradient */
    return (size_t)p->t2 * wino_round((size_t)g->c_in, NR) * g->c_out;
}

static size_t wino_weights_elems(const eb_conv_geom *g, int flip) {
    const size_t kk = (size_t)g->k_h * g->k_w;
    return wino_region((size_t)3 * 16 * NR, sizeof(eb_real)) + wino_region((flip ? 1 : (size_t)g->c_in) * kk * NR, sizeof(eb_real));
}

/* dst[j * NR + l] = src[l * lds + j] for l < nl, j < cols (lanes past nl: 0); 8 x 8 blocks where whole. */
WINO_CLONES static void wino_lanes_last(const eb_real *src, size_t lds, int nl, size_t cols, eb_real *dst) {
    const size_t c8 = cols / 8 * 8;
    const int l8 = nl / 8 * 8;
    for (int l = 0; l < l8; l += 8)
        for (size_t j = 0; j < c8; j += 8) wino_transpose8(src + (size_t)l * lds + j, lds, dst + j * NR + l, NR);
    for (size_t j = 0; j < cols; j++) {
        for (int l = j < c8 ? l8 : 0; l < nl; l++) dst[j * NR + l] = src[(size_t)l * lds + j];
        for (int l = nl; l < NR; l++) dst[j * NR + l] = 0;
    }
}

static void wino_weights(const wino *p, const eb_conv_geom *g, const eb_real *w, eb_real *U, int flip, eb_real *buf,
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

/* ---- the jobs of the ops ---- */

/* The forward: one job over x (its phases the reduction channels). */
static wjob wjob_forward(const wino *p, const eb_conv_geom *g, const eb_real *x, eb_real *y, eb_real alpha,
                         eb_real beta, const eb_real *U, const eb_real *zero) {
    wjob j = {.n = g->n, .cs = g->c_in, .np = p->np, .K = g->c_out, .src = x,
              .src_n = (size_t)g->c_in * g->h_in * g->w_in, .h = g->h_in, .w = g->w_in, .s = p->s, .pad = g->pad,
              .dst = y, .dst_n = (ptrdiff_t)g->c_out * g->h_out * g->w_out, .dst_c = (ptrdiff_t)g->h_out * g->w_out,
              .dst_r = g->w_out, .dst_q = 1, .alpha = alpha, .beta = beta, .U = U, .zero = zero};
    wjob_grid(&j, p->r, g->h_out, g->w_out);
    return j;
}

/* The data gradient of input phase (py, px): the pixels ih = s R + py - pad, iw = s Q + px - pad of dx are a
 * stride-1 correlation of dy (bordered by r - 1) with the phase's taps flipped, over c_out channels. 0 when no
 * pixel of dx is in the phase. */
static int wjob_data(const wino *p, const eb_conv_geom *g, const eb_real *dy, eb_real *dx, eb_real alpha, eb_real beta,
                     const eb_real *zero, int py, int px, wjob *j) {
    const int s = p->s;
    const int r_lo = g->pad >= py ? (g->pad - py + s - 1) / s : 0, r_top = g->h_in - 1 + g->pad - py;
    const int q_lo = g->pad >= px ? (g->pad - px + s - 1) / s : 0, q_top = g->w_in - 1 + g->pad - px;
    if (r_top < 0 || q_top < 0 || r_top / s < r_lo || q_top / s < q_lo) return 0;
    const size_t hwi = (size_t)g->h_in * g->w_in;
    *j = (wjob){.n = g->n, .cs = g->c_out, .np = 1, .K = g->c_in, .src = dy,
                .src_n = (size_t)g->c_out * g->h_out * g->w_out, .h = g->h_out, .w = g->w_out, .s = 1,
                .u0 = r_lo - (p->r - 1), .v0 = q_lo - (p->r - 1), .pad = 0,
                .dst = dx ? dx + (size_t)(s * r_lo + py - g->pad) * g->w_in + (s * q_lo + px - g->pad) : NULL,
                .dst_n = (ptrdiff_t)g->c_in * (ptrdiff_t)hwi, .dst_c = (ptrdiff_t)hwi, .dst_r = (ptrdiff_t)s * g->w_in,
                .dst_q = s, .alpha = alpha, .beta = beta, .zero = zero};
    wjob_grid(j, p->r, r_top / s - r_lo + 1, q_top / s - q_lo + 1);
    return 1;
}

/* The scratch of a forward / data op: U (u_elems), the offsets 0 .. n_id - 1 (the GEMMs' identity steps),
 * n_zero zeros (the taps outside the map), then a region of `per` elements for each thread. NULL when it cannot
 * grow (eb_cpu_scratch recorded the message). */
typedef struct wino_scratch {
    eb_real *U, *zero, *ws;
    ptrdiff_t *id;
} wino_scratch;

static int wino_scratch_get(void *ctx, size_t u_elems, int n_id, int n_zero, size_t per, wino_scratch *sc) {
    const size_t u_e = wino_region(u_elems, sizeof(eb_real)), id_e = wino_region((size_t)n_id, sizeof(ptrdiff_t));
    const size_t z_e = wino_region((size_t)n_zero, sizeof(eb_real));
    eb_real *base = eb_cpu_scratch(ctx, u_e + id_e + z_e + (size_t)eb_cpu_threads((size_t)-1, 0) * per);
    if (!base) return 0;
    sc->U = base, sc->id = (ptrdiff_t *)(base + u_e), sc->zero = base + u_e + id_e, sc->ws = sc->zero + z_e;
    for (int i = 0; i < n_id; i++) sc->id[i] = i;
    memset(sc->zero, 0, (size_t)n_zero * sizeof *sc->zero);
    return 1;
}

/* ---- the ops ---- */

/* The forward with the transformed weights U (NULL: transformed from w here, per call). */
static eb_status wino_forward(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w, const eb_real *U,
                              eb_real *y, eb_real alpha, eb_real beta) {
    const wino p = wino_of(g);
    const wjob j0 = wjob_forward(&p, g, NULL, NULL, 0, 0, NULL, NULL);
    const int threads = eb_cpu_threads((size_t)g->c_out * p.cp * p.t2 * g->n * p.tps, (size_t)1 << 20);
    size_t per = wjob_thread_elems(&j0, wjob_block(&j0, threads));
    const size_t wbuf = wino_weights_elems(g, 0);
    if (!U && wbuf > per) per = wbuf;
    wino_scratch sc;
    if (!wino_scratch_get(ctx, U ? 0 : (size_t)p.t2 * j0.kp * p.cp, p.cp, g->c_in, per, &sc)) return EB_ERR_OOM;
    if (!U) {
        wino_weights(&p, g, w, sc.U, 0, sc.ws, per);
        U = sc.U;
    }
    const wjob j = wjob_forward(&p, g, x, y, alpha, beta, U, sc.zero);
    wjob_run(&j, sc.ws, sc.id, threads);
    return EB_OK;
}

eb_status eb_cpu_wino_forward(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w, eb_real *y,
                              eb_real alpha, eb_real beta) {
    return wino_forward(ctx, g, x, w, NULL, y, alpha, beta);
}

static eb_status wino_data_adjoint(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                   const eb_real *U, eb_real *dx, eb_real alpha, eb_real beta);
static int wino_data_by_adjoint(const eb_conv_geom *g);

/* The data gradient by phase jobs with every phase's transformed weights U (NULL: transformed from w here). */
static eb_status wino_data_phases(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                  const eb_real *U, eb_real *dx, eb_real alpha, eb_real beta) {
    const wino p = wino_of(g);
    const int K = g->c_out, s = p.s;
    const int threads = eb_cpu_threads((size_t)K * p.cp * p.t2 * g->n * p.tps, (size_t)1 << 20);
    size_t per = U ? 0 : wino_weights_elems(g, 1);
    wjob j;
    for (int ph = 0; ph < p.np; ph++) /* the largest phase job's per-thread scratch */
        if (wjob_data(&p, g, NULL, NULL, 0, 0, NULL, ph / s, ph % s, &j) && wjob_thread_elems(&j, wjob_block(&j, threads)) > per)
            per = wjob_thread_elems(&j, wjob_block(&j, threads));
    wino_scratch sc;
    if (!wino_scratch_get(ctx, U ? 0 : p.np * wino_phase_elems(&p, g), K, K, per, &sc)) return EB_ERR_OOM;
    if (!U) {
        wino_weights(&p, g, w, sc.U, 1, sc.ws, per);
        U = sc.U;
    }
    for (int ph = 0; ph < p.np; ph++) {
        if (!wjob_data(&p, g, dy, dx, alpha, beta, sc.zero, ph / s, ph % s, &j)) continue;
        j.U = U + (size_t)ph * wino_phase_elems(&p, g);
        wjob_run(&j, sc.ws, sc.id, threads);
    }
    return EB_OK;
}

eb_status eb_cpu_wino_backward_data(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                    eb_real *dx, eb_real alpha, eb_real beta) {
    if (wino_data_by_adjoint(g)) return wino_data_adjoint(ctx, g, dy, w, NULL, dx, alpha, beta);
    return wino_data_phases(ctx, g, dy, w, NULL, dx, alpha, beta);
}

/* Where cl_dy writes dM: the values of element xi, tile lane l, output channels [q cw, q cw + cw) start at
 * dM + xi xs + l ls + q qs, q < nq. The filter gradient's B strips: cw = NR, nq = kp / NR (xs = nq ldt NR, ls = NR,
 * qs = ldt NR); the adjoint data gradient's rows: cw = K, nq = 1 (xs = ldv kv, ls = kv). */
typedef struct dy_layout {
    int cw, nq;
    size_t xs, ls, qs;
} dy_layout;

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

WINO_CLONES static void cl_dy(const wjob *j, const eb_real *band, size_t tt0, int nt, eb_real *dM, const dy_layout *o,
                              eb_real *tmp) {
    if (j->r == 3) cl_dy_r(j, band, tt0, nt, dM, o, tmp, 3);
    else cl_dy_r(j, band, tt0, nt, dM, o, tmp, 2);
}

/* Samples per chunk of the filter gradient whose V and dM fit the budget. */
static int wino_samples(size_t per_sample, int n, size_t budget) {
    size_t nb = per_sample ? budget / per_sample : (size_t)n;
    if (nb < 1) nb = 1;
    return nb > (size_t)n ? n : (int)nb;
}

/* The filter gradient: dU_xi^T [K][C] = sum over the tiles of dM_xi [tiles][K]^T V_xi [tiles][C] for chunks of
 * samples (V and dM of a chunk shared): A = dM^T read in place (8 output channels of a tile per step: its
 * strip's rows are consecutive, so the reads stream), B = panels [KCF tiles][NR] of V copied row by row (NR
 * consecutive c' of a tile). The threads split the t2 GEMMs; each sums its tiles in order, chunk after chunk, so
 * the sums do not depend on the thread count. Then dw = alpha G^T dU G + beta dw. */
eb_status eb_cpu_wino_backward_filter(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy,
                                      eb_real *dw, eb_real alpha, eb_real beta) {
    const wino p = wino_of(g);
    const int K = g->c_out, C = p.cp, wt = eb_cpu_threads((size_t)-1, 0);
    const size_t hwo = (size_t)g->h_out * g->w_out;
    const wjob j0 = wjob_forward(&p, g, x, NULL, 1, 0, NULL, NULL); /* the tiles of x, as the forward reads them */
    const int kp = j0.kp, ks_n = kp / NR, kp8 = (int)wino_round((size_t)K, EB_TILE_MR);
    const int cs_n = (int)((C + NR - 1) / NR), cpad = cs_n * NR;
    const int nb = wino_samples((size_t)p.tps * p.t2 * (j0.cv + kp), g->n, wino_chunk_elems);
    const size_t tmax = (size_t)nb * p.tps, items = (size_t)p.t2;
    int threads = eb_cpu_threads((size_t)K * C * p.t2 * g->n * p.tps, (size_t)1 << 20);
    if ((size_t)threads > items) threads = (int)items;
    const size_t du_e = wino_region((size_t)p.t2 * kp8 * cpad, sizeof(eb_real));
    const size_t v_e = wino_region((size_t)p.t2 * tmax * j0.cv, sizeof(eb_real)), dm_e = wino_region((size_t)p.t2 * tmax * kp, sizeof(eb_real));
    const size_t z_e = wino_region((size_t)(K > g->c_in ? K : g->c_in), sizeof(eb_real)), off_e = wino_region(tmax, sizeof(ptrdiff_t));
    /* per thread: the bands of x and of dy, the transforms' buffers (input, dy's, the final one's), the B panel */
    const size_t bx_e = wino_region((size_t)g->h_in * g->w_in * g->c_in, sizeof(eb_real)), bd_e = wino_region((size_t)K * hwo, sizeof(eb_real));
    size_t t_e = wino_region((size_t)2 * p.al * kp, sizeof(eb_real));
    if (wjob_tmp_elems(&j0) > t_e) t_e = wjob_tmp_elems(&j0);
    if (wino_region((size_t)3 * p.t2 * cpad, sizeof(eb_real)) > t_e) t_e = wino_region((size_t)3 * p.t2 * cpad, sizeof(eb_real));
    if (wino_region((size_t)WINO_KCF * NR, sizeof(eb_real)) > t_e) t_e = wino_region((size_t)WINO_KCF * NR, sizeof(eb_real));
    const size_t per = bx_e + bd_e + t_e;
    eb_real *sc = eb_cpu_scratch(ctx, du_e + v_e + dm_e + z_e + off_e + (size_t)wt * per);
    if (!sc) return EB_ERR_OOM;
    eb_real *dUt = sc, *V = dUt + du_e, *dM = V + v_e, *zero = dM + dm_e;
    ptrdiff_t *a_k = (ptrdiff_t *)(zero + z_e);
    eb_real *ws = zero + z_e + off_e;
    memset(zero, 0, (size_t)(K > g->c_in ? K : g->c_in) * sizeof *zero);
    for (size_t t = 0; t < tmax; t++) a_k[t] = (ptrdiff_t)(t * NR); /* A = dM^T: step t is tile t of a strip */
    wjob j = j0;
    j.zero = zero;

    for (int s0 = 0; s0 < g->n; s0 += nb) {
        const int cnt = g->n - s0 < nb ? g->n - s0 : nb;
        const size_t tiles = (size_t)cnt * p.tps, trows = (size_t)cnt * p.th, base = (size_t)s0 * p.tps;
        const dy_layout strips = {.cw = NR, .nq = ks_n, .xs = (size_t)ks_n * tiles * NR, .ls = NR, .qs = tiles * NR};
#pragma omp parallel num_threads(eb_cpu_threads(tiles * (C + kp) * p.t2, EB_CPU_PAR_CHEAP))
        {
            eb_real *bx = ws + (size_t)eb_cpu_thread() * per, *bd = bx + bx_e, *tmp = bd + bd_e;
            size_t lo, hi;
            eb_cpu_split(trows, &lo, &hi); /* whole tile rows */
            const size_t tt0 = base + lo * p.tw, tt1 = base + hi * p.tw;
            if (tt1 > tt0) wjob_input(&j, tt0, (int)(tt1 - tt0), V + (tt0 - base) * j.cv, tiles, bx, tmp);
            for (size_t tt = tt0; tt < tt1;) { /* dM, sample by sample through the band of dy */
                const size_t i = tt / (size_t)p.tps, end = tt1 < (i + 1) * p.tps ? tt1 : (i + 1) * p.tps;
                const int ty_a = (int)(tt - i * p.tps) / p.tw, ty_b = (int)(end - 1 - i * p.tps) / p.tw;
                const int oh_hi = 2 * ty_b + 1 < g->h_out - 1 ? 2 * ty_b + 1 : g->h_out - 1;
                cl_band(dy + i * K * hwo, K, g->h_out, g->w_out, 2 * ty_a, oh_hi, bd);
                cl_dy(&j, bd, tt, (int)(end - tt), dM + (tt - base) * NR, &strips, tmp);
                tt = end;
            }
        }
#pragma omp parallel num_threads(threads)
        {
            eb_real *panel = ws + (size_t)eb_cpu_thread() * per + bx_e + bd_e;
            size_t lo, hi;
            eb_cpu_split((size_t)p.t2, &lo, &hi);
            for (size_t xi = lo; xi < hi; xi++) {
                const eb_real *a = dM + xi * ks_n * tiles * NR, *vx = V + xi * tiles * j.cv;
                /* a panel of tiles of dM_xi (KCF tiles x kp: L1 / L2) meets every strip of c' before the next */
                for (size_t t0 = 0; t0 < tiles; t0 += WINO_KCF) {
                    const int kc = (int)(tiles - t0 < WINO_KCF ? tiles - t0 : WINO_KCF);
                    for (int cb = 0; cb < cs_n; cb++) {
                        const int c0 = cb * NR, nc = C - c0 < NR ? C - c0 : NR;
                        for (int t = 0; t < kc; t++) { /* B panel: NR c' of each tile (past C: 0) */
                            const eb_real *vr = vx + (t0 + (size_t)t) * j.cv + c0;
                            eb_real *pr = panel + (size_t)t * NR;
                            if (nc == NR) for (int c = 0; c < NR; c++) pr[c] = vr[c];
                            else for (int c = 0; c < NR; c++) pr[c] = c < nc ? vr[c] : 0;
                        }
                        for (int mb = 0; mb < kp8; mb += EB_TILE_MR) {
                            ptrdiff_t rw[EB_TILE_MR]; /* rows past K repeat the last: their dU rows are padding */
                            for (int i = 0; i < EB_TILE_MR; i++) {
                                const int k = mb + i < K ? mb + i : K - 1;
                                rw[i] = (ptrdiff_t)((size_t)(k / NR) * tiles * NR + (size_t)(k % NR));
                            }
                            eb_cpu_tile_gemm(kc, a, rw, a_k + t0, panel, dUt + (xi * kp8 + mb) * cpad + (size_t)c0, cpad,
                                             s0 > 0 || t0 > 0);
                        }
                    }
                }
            }
        }
    }
    /* dw = alpha * G^T dU G + beta * dw; lanes: the c' of an output channel (one task each), read from its rows of
     * dU^T, written along c in steps of k_h k_w */
#pragma omp parallel num_threads(eb_cpu_threads((size_t)K * C * p.t2, EB_CPU_PAR_CHEAP))
    {
        eb_real *src = ws + (size_t)eb_cpu_thread() * per + bx_e + bd_e, *tmp = src + (size_t)p.t2 * cpad;
        eb_real *dst = tmp + (size_t)p.t2 * cpad;
        const size_t kk = (size_t)g->k_h * g->k_w;
        size_t lo, hi;
        eb_cpu_split((size_t)K, &lo, &hi);
        for (size_t k = lo; k < hi; k++) {
            for (int xi = 0; xi < p.t2; xi++)
                memcpy(src + (size_t)xi * cpad, dUt + ((size_t)xi * kp8 + k) * cpad, (size_t)cpad * sizeof *src);
            wino_2d(W_FILT_T, p.r, src, tmp, dst, (size_t)cpad);
            for (int i = 0; i < p.r; i++)
                for (int jj = 0; jj < p.r; jj++)
                    for (int ph = 0; ph < p.np; ph++) {
                        const eb_real *d = dst + (size_t)(i * p.r + jj) * cpad + (size_t)ph * g->c_in;
                        eb_real *o = dw + (k * g->c_in * g->k_h + p.s * i + ph / p.s) * g->k_w + p.s * jj + ph % p.s;
                        if (beta == 0) for (int c = 0; c < g->c_in; c++) o[c * kk] = alpha * d[c];
                        else for (int c = 0; c < g->c_in; c++) o[c * kk] = alpha * d[c] + beta * o[c * kk];
                    }
        }
    }
    return EB_OK;
}

/* ---- the data gradient as the forward's adjoint ----
 * For layers whose phase jobs would pad few input channels to the tile's 48 columns (64 -> 96): dM = A dy A^T on
 * the forward's tiles, dV_xi [tiles][c'] = dM_xi [tiles][c_out] U_xi [c_out][c'] (the forward's U, packed with
 * the 4 c_in reduction channels c' as the columns), then dx = the sum over the overlapping tiles of B dV B^T,
 * phase by phase, accumulated channel-last per sample and stored back through 8 x 8 transposes. A block is whole
 * samples, so no two threads add into one sample, and the tiles add in one order fixed by the shape. */

static double wino_adjoint_macs(const eb_conv_geom *g) {
    const wino p = wino_of(g);
    return (double)p.t2 * g->n * p.tps * g->c_out * (double)wino_round((size_t)p.cp, NR);
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

WINO_CLONES static void cl_dxacc(const wjob *j, const eb_real *dV, size_t ldv, int cpad, size_t tt0, int nt,
                                 eb_real *dxcl, eb_real *tmp) {
    if (j->r == 3) cl_dxacc_r(j, dV, ldv, cpad, tt0, nt, dxcl, tmp, 3);
    else cl_dxacc_r(j, dV, ldv, cpad, tt0, nt, dxcl, tmp, 2);
}

/* dst [cs][hw] = alpha * cl [hw][cs] + beta * dst (beta == 0: dst not read), through 8 x 8 transposes. */
WINO_CLONES static void cl_unband(const eb_real *cl, int cs, size_t hw, eb_real *dst, eb_real alpha, eb_real beta) {
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

/* Ud [t2][cpad / NR][c_out][NR] = the forward's G g G^T with the c' as the lanes (one task per strip of NR c', the
 * output channels inside: each k's taps of the strip lie in one row of w). buf: 3 t2 NR elements per thread. */
static void wino_weights_adjoint(const wino *p, const eb_conv_geom *g, const eb_real *w, eb_real *U, eb_real *buf,
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

/* The data gradient as the forward's adjoint, with the transformed weights U (Ud; NULL: transformed from w). */
static eb_status wino_data_adjoint(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                   const eb_real *U, eb_real *dx, eb_real alpha, eb_real beta) {
    const wino p = wino_of(g);
    const int K = g->c_out, C = p.cp, cs = g->c_in;
    const size_t hwi = (size_t)g->h_in * g->w_in, hwo = (size_t)g->h_out * g->w_out;
    wjob jf = wjob_forward(&p, g, NULL, NULL, 1, 0, NULL, NULL); /* the forward's grid and input mapping */
    /* the GEMM: rows the tiles, reduction c_out (A = dM's rows), columns c' (B = Ud's panels) */
    wjob jg = jf;
    jg.C = K, jg.cv = (int)wino_round((size_t)K, 16) + 16, jg.kp = (int)wino_round((size_t)C, NR), jg.K = C;
    const int kv = jg.cv, cpad = jg.kp;
    const int threads = eb_cpu_threads((size_t)K * C * p.t2 * g->n * p.tps, (size_t)1 << 20);
    /* blocks of whole samples: as many as keep dM and dV of a block in ~768 KiB, at least one, an even share */
    const size_t per_tile = (size_t)p.t2 * (kv + cpad) * sizeof(eb_real);
    size_t ns = ((size_t)768 << 10) / (per_tile * p.tps);
    const size_t share = ((size_t)g->n + threads - 1) / threads;
    if (ns < 1) ns = 1;
    if (ns > share) ns = share;
    const size_t bt = ns * p.tps, ldv = wino_round(bt, EB_TILE_MR), blocks = ((size_t)g->n + ns - 1) / ns;
    const dy_layout rows = {.cw = K, .nq = 1, .xs = ldv * (size_t)kv, .ls = (size_t)kv, .qs = 0};
    const size_t dm_e = wino_region((size_t)p.t2 * ldv * kv, sizeof(eb_real)), dv_e = wino_region((size_t)p.t2 * ldv * cpad, sizeof(eb_real));
    const size_t band_e = wino_region((size_t)K * hwo, sizeof(eb_real)), dxcl_e = wino_region((size_t)cs * hwi, sizeof(eb_real));
    size_t t_e = wino_region((size_t)2 * p.al * K, sizeof(eb_real));
    if (wino_region((size_t)2 * p.t2 * cs, sizeof(eb_real)) > t_e) t_e = wino_region((size_t)2 * p.t2 * cs, sizeof(eb_real));
    if (wino_region((size_t)3 * 16 * NR, sizeof(eb_real)) > t_e) t_e = wino_region((size_t)3 * 16 * NR, sizeof(eb_real));
    const size_t per = dm_e + dv_e + band_e + dxcl_e + t_e;
    wino_scratch sc;
    if (!wino_scratch_get(ctx, U ? 0 : (size_t)p.t2 * cpad * K, K, K, per, &sc)) return EB_ERR_OOM;
    eb_real *ws = sc.ws;
    const ptrdiff_t *id = sc.id;
    if (!U) {
        wino_weights_adjoint(&p, g, w, sc.U, ws + dm_e + dv_e + band_e + dxcl_e, per);
        U = sc.U;
    }
    jf.zero = sc.zero, jg.U = U;
#pragma omp parallel num_threads((size_t)threads < blocks ? threads : (int)blocks)
    {
        eb_real *dM = ws + (size_t)eb_cpu_thread() * per, *dV = dM + dm_e, *band = dV + dv_e, *dxcl = band + band_e;
        eb_real *tmp = dxcl + dxcl_e;
        size_t lo, hi;
        eb_cpu_split(blocks, &lo, &hi);
        for (size_t b = lo; b < hi; b++) {
            const size_t i0 = b * ns, ni = (size_t)g->n - i0 < ns ? (size_t)g->n - i0 : ns;
            const int nt = (int)(ni * p.tps);
            for (size_t i = i0; i < i0 + ni; i++) {
                cl_band(dy + i * K * hwo, K, g->h_out, g->w_out, 0, g->h_out - 1, band);
                cl_dy(&jf, band, i * p.tps, p.tps, dM + (i - i0) * p.tps * kv, &rows, tmp);
            }
            cl_zero_rows(&jg, dM, ldv, nt); /* (jg.cv == kv: dM's rows) */
            for (int xi = 0; xi < p.t2; xi++) cl_gemm(&jg, xi, dM, dV, ldv, id, wino_round((size_t)nt, EB_TILE_MR));
            for (size_t i = i0; i < i0 + ni; i++) {
                memset(dxcl, 0, (size_t)cs * hwi * sizeof *dxcl);
                cl_dxacc(&jf, dV + (i - i0) * p.tps * cpad, ldv, cpad, i * p.tps, p.tps, dxcl, tmp);
                cl_unband(dxcl, cs, hwi, dx + i * cs * hwi, alpha, beta);
            }
        }
    }
    return EB_OK;
}

/* The data gradient's cheaper formulation: phase jobs, or the adjoint when it saves 10%. */
static double wino_phase_macs(const eb_conv_geom *g);
static int wino_data_by_adjoint(const eb_conv_geom *g) { return wino_adjoint_macs(g) < 0.9 * wino_phase_macs(g); }

/* ---- which layers ---- */

/* Multiply-adds of the op as Winograd GEMMs (their padding included), against the direct sum's. */
/* The data gradient's phase jobs' multiply-adds (their padding included). */
static double wino_phase_macs(const eb_conv_geom *g) {
    const wino p = wino_of(g);
    double m = 0;
    wjob j;
    for (int ph = 0; ph < p.np; ph++)
        if (wjob_data(&p, g, NULL, NULL, 0, 0, NULL, ph / p.s, ph % p.s, &j))
            m += (double)j.t2 * g->n * j.tps * g->c_out * (double)j.kp;
    return m;
}

/* Multiply-adds of the op as Winograd GEMMs (their padding included), against the direct sum's. */
static double wino_macs(const eb_conv_geom *g, int op) {
    const wino p = wino_of(g);
    const double kp = (double)wino_round((size_t)g->c_out, NR), tiles = (double)g->n * p.tps;
    if (op == EB_WINO_FORWARD) return (double)p.t2 * tiles * p.cp * kp;
    if (op == EB_WINO_FILTER)
        return (double)p.t2 * tiles * (double)wino_round((size_t)g->c_out, EB_TILE_MR) * (double)wino_round((size_t)p.cp, NR);
    return wino_data_by_adjoint(g) ? wino_adjoint_macs(g) : wino_phase_macs(g);
}

int eb_cpu_wino_fits(const eb_conv_geom *g, int op) {
    static int mode = -1;
    if (!eb_cpu_env_switch("EBGAN_CPU_WINOGRAD", &mode) || !g || g->k_h != g->k_w || g->stride < 1 || g->stride > 2 || g->k_h % g->stride) return 0;
    const int r = g->k_h / g->stride;
    if (r != 2 && r != 3) return 0;
    if ((long long)g->c_in * g->stride * g->stride < 16 || g->c_out < 8 || g->h_out < 4 || g->w_out < 4) return 0;
    /* Thresholds measured per op on the cifar layers (bench_cpu_conv, one thread, bench/PROFILE.md): the
     * forward wins from 1.15x fewer multiply-adds (64 -> 64 k4 s2 on 32x32, 1.19x: 1.28x faster, the direct
     * path's phase split and packing being dear there); the data gradient, whose c_out reduction channels are
     * transformed per phase, from 1.4x (1.18x: 10% slower); the filter gradient from 1.15x when its B side has at
     * least 128 reduction channels (64 on 16x16 maps, 1.5x: 17% slower; its transforms weigh 1 / c' per tile). */
    const double direct = (double)g->n * g->h_out * g->w_out * g->c_out * g->c_in * g->k_h * g->k_w;
    if (op == EB_WINO_FILTER && (long long)g->c_in * g->stride * g->stride < 128) return 0;
    return direct >= (op == EB_WINO_DATA ? 1.4 : 1.15) * wino_macs(g, op);
}

/* ---- prepared weights ---- */

size_t eb_cpu_wino_prep_elems(const eb_conv_geom *g, int op) {
    if ((op != EB_WINO_FORWARD && op != EB_WINO_DATA) || !eb_cpu_wino_fits(g, op)) return 0;
    const wino p = wino_of(g);
    if (op == EB_WINO_FORWARD) return (size_t)p.t2 * wino_round((size_t)g->c_out, NR) * p.cp;
    if (wino_data_by_adjoint(g)) return (size_t)p.t2 * wino_round((size_t)p.cp, NR) * g->c_out;
    return p.np * wino_phase_elems(&p, g);
}

eb_status eb_cpu_wino_prepare(void *ctx, const eb_conv_geom *g, int op, const eb_real *w, eb_real *prep) {
    const wino p = wino_of(g);
    const int adjoint = op == EB_WINO_DATA && wino_data_by_adjoint(g);
    const size_t per = adjoint ? wino_region((size_t)3 * 16 * NR, sizeof(eb_real)) : wino_weights_elems(g, op == EB_WINO_DATA);
    wino_scratch sc;
    if (!wino_scratch_get(ctx, 0, 0, 0, per, &sc)) return EB_ERR_OOM;
    if (adjoint) wino_weights_adjoint(&p, g, w, prep, sc.ws, per);
    else wino_weights(&p, g, w, prep, op == EB_WINO_DATA, sc.ws, per);
    return EB_OK;
}

eb_status eb_cpu_wino_forward_prep(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *prep, eb_real *y,
                                   eb_real alpha, eb_real beta) {
    return wino_forward(ctx, g, x, NULL, prep, y, alpha, beta);
}

eb_status eb_cpu_wino_backward_data_prep(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *prep,
                                         eb_real *dx, eb_real alpha, eb_real beta) {
    if (wino_data_by_adjoint(g)) return wino_data_adjoint(ctx, g, dy, NULL, prep, dx, alpha, beta);
    return wino_data_phases(ctx, g, dy, NULL, prep, dx, alpha, beta);
}
