/* Winograd F(2x2, r x r) convolutions (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016)
 * for the CPU backend: the three conv ops of layers with k = stride * r taps, r in {2, 3}, as GEMMs on cpu_tile.c. */
#include "cpu_winograd.h"

#include "cpu_ops.h"
#include "cpu_parallel.h"
#include "cpu_tile.h"

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

/* GEMM blocking (as cpu_conv.c): KC reduction steps per B panel of the forward / data GEMMs, KCF tiles per
 * gathered panel of the filter gradient's. */
enum { WINO_KC = 128, WINO_KCF = 256 };

/* The transformed tiles of a chunk of samples (V and M, or dM and dV) are made for as many samples at a time as
 * fit 8M elements (32 MiB of floats), at least one. */
static const size_t wino_chunk_elems = (size_t)8 << 20;

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
    int cp, k;         /* reduction channels c_in * np (c' = (py * s + px) * c_in + c); output channels */
    int th, tw, tps;   /* 2x2 output tiles per sample: rows, columns, all (tile l = ty * tw + tx) */
    int hq, wq;        /* rows / columns of a phase plane the tiles read: 2 th + r - 1, 2 tw + r - 1 */
} wino;

static wino wino_of(const eb_conv_geom *g) {
    wino p = {.s = g->stride};
    p.r = g->k_h / p.s;
    p.al = p.r + 1;
    p.t2 = p.al * p.al;
    p.np = p.s * p.s;
    p.cp = g->c_in * p.np;
    p.k = g->c_out;
    p.th = (g->h_out + 1) / 2;
    p.tw = (g->w_out + 1) / 2;
    p.tps = p.th * p.tw;
    p.hq = 2 * p.th + p.r - 1;
    p.wq = 2 * p.tw + p.r - 1;
    return p;
}

int eb_cpu_wino_fits(const eb_conv_geom *g) {
    static int mode = -1; /* EBGAN_CPU_WINOGRAD, read on the first call: 0 off, 1 on */
    int m = __atomic_load_n(&mode, __ATOMIC_RELAXED);
    if (m < 0) {
        const char *e = getenv("EBGAN_CPU_WINOGRAD");
        m = !(e && strcmp(e, "0") == 0);
        __atomic_store_n(&mode, m, __ATOMIC_RELAXED);
    }
    if (!m || !g || g->k_h != g->k_w || g->stride < 1 || g->stride > 2 || g->k_h % g->stride) return 0;
    const int r = g->k_h / g->stride;
    if (r != 2 && r != 3) return 0;
    /* fewer reduction channels (an RGB input) or output rows leave the GEMMs' tile mostly empty; maps below
     * 4x4 outputs waste a third of a 2x2 tile grid on odd sizes */
    return (long long)g->c_in * g->stride * g->stride >= 16 && g->c_out >= 8 && g->h_out >= 4 && g->w_out >= 4;
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
 * The transforms run on vectors of channels: the op's input (x, or dy) is first copied channel-last, [n][h][w][c]
 * (cl_transpose), so that every tap of a tile is one unit-stride vector of c_in (or c_out) values. The GEMM
 * operands of a block of tiles are then
 *   V [t2][tiles][C]           rows = tiles (the tile's A, read in place), C = reduction channels c' = ph c_in + c
 *   U [t2][K / NR][C][NR]      the transformed weights packed as the tile's B panels (output channels in strips)
 *   M [t2][tiles][Kp]          C of the tile, Kp = K rounded up to NR
 * and for the filter gradient dM [t2][Kp / NR][tiles][NR] (dy's transform, B panels as they are). */

/* dst [n][hw][c] = src [n][c][hw] for samples [0, n); blocks of 16 x 16 (one task per sample and channel block). */
WINO_CLONES static void cl_transpose_sample(const eb_real *src, int c, size_t hw, eb_real *dst) {
    for (size_t q0 = 0; q0 < hw; q0 += 16)
        for (int c0 = 0; c0 < c; c0 += 16) {
            const size_t q1 = q0 + 16 < hw ? q0 + 16 : hw;
            const int c1 = c0 + 16 < c ? c0 + 16 : c;
            for (size_t q = q0; q < q1; q++)
                for (int cc = c0; cc < c1; cc++) dst[q * c + cc] = src[(size_t)cc * hw + q];
        }
}

static void cl_transpose(const eb_real *src, int n, int c, size_t hw, eb_real *dst) {
#pragma omp parallel num_threads(eb_cpu_threads((size_t)n * c * hw, EB_CPU_PAR_CHEAP))
    {
        size_t lo, hi;
        eb_cpu_split((size_t)n, &lo, &hi);
        for (size_t i = lo; i < hi; i++) cl_transpose_sample(src + i * c * hw, c, hw, dst + i * c * hw);
    }
}

/* ---- a stride-1 correlation over a grid of output planes: the forward conv, or one input phase of the data
 * gradient ----
 *   out[n][o][R][Q] = alpha * sum over (c', i, j < r) of in_c'(R + i, Q + j) g[o][c'][i][j] + beta * out
 * for R < ho, Q < wo, where in_c'(u, v) = src[n][row][col][c] (channel-last, cs channels), c' = ph cs + c, row =
 * s (u + u0) + py - pad, col = s (v + v0) + px - pad, (py, px) = (ph / s, ph % s), 0 outside [0, h) x [0, w);
 * out lives at dst[n dst_n + o dst_c + R dst_r + Q dst_q]. */
typedef struct wjob {
    int r, al, t2;
    int n, cs, np, C, K, kp, ho, wo, th, tw, tps;
    const eb_real *src; /* channel-last [n][h][w][cs] */
    int h, w, s, u0, v0, pad;
    eb_real *dst;
    ptrdiff_t dst_n, dst_c, dst_r, dst_q;
    eb_real alpha, beta;
    const eb_real *U;    /* packed [t2][kp / NR][C][NR] */
    eb_real *out_t;      /* channel-last result [n][ho][wo][K], then stored through the mapping (cl_store) */
    const eb_real *zero; /* cs zeros: the taps outside the map */
} wjob;

static void wjob_grid(wjob *j, int r, int ho, int wo) {
    j->r = r, j->al = r + 1, j->t2 = (r + 1) * (r + 1);
    j->ho = ho, j->wo = wo, j->th = (ho + 1) / 2, j->tw = (wo + 1) / 2, j->tps = j->th * j->tw;
    j->C = j->cs * j->np;
    j->kp = (int)wino_round((size_t)j->K, NR);
}

/* V rows [0, nt) (leading dimension ldv tiles) = B^T d B of tiles [tt0, tt0 + nt), every c'; tmp: t2 cs. */
static inline __attribute__((always_inline)) void cl_input_r(const wjob *j, size_t tt0, int nt, eb_real *V, size_t ldv,
                                                            eb_real *tmp, const int r) {
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
                                        ? j->src + ((i * j->h + (size_t)ih) * j->w + (size_t)iw) * cs
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
                    out[b] = V + ((size_t)(a * al + b) * ldv + (size_t)l) * j->C + (size_t)ph * cs;
                wino_1d(W_IN, r, in, out, (size_t)cs);
            }
        }
    }
}

WINO_CLONES static void cl_input(const wjob *j, size_t tt0, int nt, eb_real *V, size_t ldv, eb_real *tmp) {
    if (j->r == 3) cl_input_r(j, tt0, nt, V, ldv, tmp, 3);
    else cl_input_r(j, tt0, nt, V, ldv, tmp, 2);
}

/* out_t [n][ho][wo][K] = A^T M A for tiles [tt0, tt0 + nt) (M rows [0, nt), leading dimension ldv tiles); tmp:
 * (2 al + 4) K. */
static inline __attribute__((always_inline)) void cl_output_r(const wjob *j, size_t tt0, int nt, const eb_real *M,
                                                             size_t ldv, eb_real *tmp, const int r) {
    const int al = r + 1, K = j->K;
    const eb_real *in[4] = {NULL};
    eb_real *out[4] = {NULL};
    eb_real *res = tmp + (size_t)2 * al * K;
    for (int l = 0; l < nt; l++) {
        const size_t tt = tt0 + (size_t)l, i = tt / (size_t)j->tps;
        const int rest = (int)(tt - i * j->tps), ty = rest / j->tw, tx = rest % j->tw;
        for (int b = 0; b < al; b++) { /* along a: tmp[u][b] */
            for (int a = 0; a < al; a++) in[a] = M + ((size_t)(a * al + b) * ldv + (size_t)l) * j->kp;
            out[0] = tmp + (size_t)b * K, out[1] = tmp + (size_t)(al + b) * K;
            wino_1d(W_OUT, r, in, out, (size_t)K);
        }
        for (int u = 0; u < 2; u++) { /* along b: res[u][v] */
            for (int b = 0; b < al; b++) in[b] = tmp + (size_t)(u * al + b) * K;
            out[0] = res + (size_t)(2 * u) * K, out[1] = res + (size_t)(2 * u + 1) * K;
            wino_1d(W_OUT, r, in, out, (size_t)K);
        }
        for (int u = 0; u < 2; u++)
            for (int v = 0; v < 2; v++) {
                const int R = 2 * ty + u, Q = 2 * tx + v;
                if (R < j->ho && Q < j->wo)
                    memcpy(j->out_t + ((i * j->ho + (size_t)R) * j->wo + (size_t)Q) * K, res + (size_t)(2 * u + v) * K,
                           (size_t)K * sizeof *res);
            }
    }
}

/* dst (its mapping) = alpha * out_t + beta * dst for samples [0, n): the channel-last result written back in
 * blocks of 16 pixels x 16 channels (a scatter along the channels straight from the tiles would hit one cache set
 * per 4 KiB of plane stride). One task per (sample, row). */
WINO_CLONES static void cl_store_row(const wjob *j, size_t i, int R) {
    const int K = j->K;
    const eb_real *src = j->out_t + (i * j->ho + (size_t)R) * j->wo * K;
    eb_real *row = j->dst + (ptrdiff_t)i * j->dst_n + (ptrdiff_t)R * j->dst_r;
    const eb_real alpha = j->alpha, beta = j->beta;
    const ptrdiff_t dq = j->dst_q, dc = j->dst_c;
    for (int k0 = 0; k0 < K; k0 += 16)
        for (int q0 = 0; q0 < j->wo; q0 += 16) {
            const int k1 = k0 + 16 < K ? k0 + 16 : K, q1 = q0 + 16 < j->wo ? q0 + 16 : j->wo;
            for (int k = k0; k < k1; k++) {
                eb_real *o = row + (ptrdiff_t)k * dc;
                if (beta == 0) for (int q = q0; q < q1; q++) o[q * dq] = alpha * src[(size_t)q * K + k];
                else for (int q = q0; q < q1; q++) o[q * dq] = alpha * src[(size_t)q * K + k] + beta * o[q * dq];
            }
        }
}

static void cl_store(const wjob *j, int threads) {
    const size_t tasks = (size_t)j->n * j->ho;
#pragma omp parallel num_threads(threads)
    {
        size_t lo, hi;
        eb_cpu_split(tasks, &lo, &hi);
        for (size_t t = lo; t < hi; t++) cl_store_row(j, t / (size_t)j->ho, (int)(t % (size_t)j->ho));
    }
}

WINO_CLONES static void cl_output(const wjob *j, size_t tt0, int nt, const eb_real *M, size_t ldv, eb_real *tmp) {
    if (j->r == 3) cl_output_r(j, tt0, nt, M, ldv, tmp, 3);
    else cl_output_r(j, tt0, nt, M, ldv, tmp, 2);
}

/* M_xi rows [m0, m1) (multiples of MR but m1 may pass the tiles: those rows are zero in V) = V_xi U_xi: per B
 * panel [KC][NR] of U (L1) every group of MR rows of V streams past it (L2). */
static void cl_gemm(const wjob *j, int xi, const eb_real *V, eb_real *M, size_t ldv, const ptrdiff_t *id, size_t m0,
                    size_t m1) {
    const int C = j->C, ks_n = j->kp / NR;
    const eb_real *Vx = V + (size_t)xi * ldv * C;
    eb_real *Mx = M + (size_t)xi * ldv * j->kp;
    for (int ks = 0; ks < ks_n; ks++) {
        for (int k0 = 0; k0 < C; k0 += WINO_KC) {
            const int kc = C - k0 < WINO_KC ? C - k0 : WINO_KC;
            const eb_real *b = j->U + (((size_t)xi * ks_n + ks) * C + k0) * NR;
            for (size_t mb = m0; mb < m1; mb += EB_TILE_MR) {
                ptrdiff_t rw[EB_TILE_MR];
                for (int i = 0; i < EB_TILE_MR; i++) rw[i] = (ptrdiff_t)(mb + i) * C;
                eb_cpu_tile_gemm(kc, Vx, rw, id + k0, b, Mx + mb * j->kp + (size_t)ks * NR, j->kp, k0 > 0);
            }
        }
    }
}

/* Zeroes V rows [nt, round_up(nt, MR)) of every xi (finite A rows; their C rows are never read). */
static void cl_zero_rows(const wjob *j, eb_real *V, size_t ldv, int nt) {
    const size_t n8 = wino_round((size_t)nt, EB_TILE_MR);
    for (int xi = 0; xi < j->t2; xi++)
        memset(V + ((size_t)xi * ldv + (size_t)nt) * j->C, 0, (n8 - (size_t)nt) * j->C * sizeof *V);
}

/* Two schedules (bench/PROFILE.md). When U fits L2 (<= 1 MiB), each thread takes blocks of bt tiles through
 * input transform, the t2 GEMMs and output transform on its own, V and M of a block in L2. Otherwise U_xi is
 * what must stay in cache: the tiles of all samples are transformed first, then for each xi the threads split
 * the rows of one GEMM (U_xi in L2, V and M streaming), then the output transform. */
static int wjob_private(const wjob *j) { return (size_t)j->t2 * j->C * j->kp * sizeof(eb_real) <= ((size_t)1 << 20); }

static int wjob_block(const wjob *j) {
    const size_t per_tile = (size_t)j->t2 * (j->C + j->kp) * sizeof(eb_real);
    size_t bt = (((size_t)768 << 10) / per_tile) / EB_TILE_MR * EB_TILE_MR;
    if (bt < EB_TILE_MR) bt = EB_TILE_MR;
    if (bt > 192) bt = 192;
    return (int)bt;
}

/* Scratch of a job (elements): shared (the V and M of all tiles when not private) and per thread (V and M of a
 * block, the transforms' buffers). */
static size_t wjob_tmp_elems(const wjob *j) {
    const size_t a = (size_t)j->t2 * j->cs, b = (size_t)(2 * j->al + 4) * j->K;
    return wino_region(a > b ? a : b, sizeof(eb_real));
}
static size_t wjob_shared_elems(const wjob *j) {
    if (wjob_private(j)) return 0;
    const size_t rows = wino_round((size_t)j->n * j->tps, EB_TILE_MR);
    return wino_region((size_t)j->t2 * rows * j->C, sizeof(eb_real)) + wino_region((size_t)j->t2 * rows * j->kp, sizeof(eb_real));
}
static size_t wjob_thread_elems(const wjob *j) {
    if (!wjob_private(j)) return wjob_tmp_elems(j);
    const size_t bt = (size_t)wjob_block(j);
    return wino_region((size_t)j->t2 * bt * j->C, sizeof(eb_real)) + wino_region((size_t)j->t2 * bt * j->kp, sizeof(eb_real)) +
           wjob_tmp_elems(j);
}

static void wjob_run(const wjob *j, eb_real *shared, eb_real *ws, const ptrdiff_t *id, int threads) {
    const size_t tiles = (size_t)j->n * j->tps, per = wjob_thread_elems(j);
    if (wjob_private(j)) {
        const size_t bt = (size_t)wjob_block(j), blocks = (tiles + bt - 1) / bt;
        const size_t v_e = wino_region((size_t)j->t2 * bt * j->C, sizeof(eb_real));
        const size_t m_e = wino_region((size_t)j->t2 * bt * j->kp, sizeof(eb_real));
#pragma omp parallel num_threads((size_t)threads < blocks ? threads : (int)blocks)
        {
            eb_real *V = ws + (size_t)eb_cpu_thread() * per, *M = V + v_e, *tmp = M + m_e;
            size_t lo, hi;
            eb_cpu_split(blocks, &lo, &hi);
            for (size_t b = lo; b < hi; b++) {
                const size_t tt0 = b * bt;
                const int nt = (int)(tiles - tt0 < bt ? tiles - tt0 : bt);
                cl_input(j, tt0, nt, V, bt, tmp);
                cl_zero_rows(j, V, bt, nt);
                for (int xi = 0; xi < j->t2; xi++) cl_gemm(j, xi, V, M, bt, id, 0, wino_round((size_t)nt, EB_TILE_MR));
                cl_output(j, tt0, nt, M, bt, tmp);
            }
        }
        cl_store(j, threads);
        return;
    }
    const size_t rows = wino_round(tiles, EB_TILE_MR), groups = rows / EB_TILE_MR;
    eb_real *V = shared, *M = shared + wino_region((size_t)j->t2 * rows * j->C, sizeof(eb_real));
#pragma omp parallel num_threads(threads)
    {
        eb_real *tmp = ws + (size_t)eb_cpu_thread() * per;
        size_t lo, hi;
        eb_cpu_split(tiles, &lo, &hi);
        cl_input(j, lo, (int)(hi - lo), V + lo * j->C, rows, tmp);
#pragma omp single
        cl_zero_rows(j, V, rows, (int)tiles);
        /* (the implicit barrier of single: V complete) */
        eb_cpu_split(groups, &lo, &hi);
        for (int xi = 0; xi < j->t2; xi++) cl_gemm(j, xi, V, M, rows, id, lo * EB_TILE_MR, hi * EB_TILE_MR);
#pragma omp barrier
        eb_cpu_split(tiles, &lo, &hi);
        cl_output(j, lo, (int)(hi - lo), M + lo * j->kp, rows, tmp);
    }
    cl_store(j, threads);
}

/* ---- weights ---- */

/* U [t2][kp / NR][C][NR] = G g G^T packed as B panels: the forward's taps g[k][c'] = w[k][c][s i + py][s j + px]
 * (c' = ph c_in + c; one task per c', lanes k), or with flip (the data gradient of input phase (py, px), whose
 * reduction runs over k): g[c][k] = w[k][c][s (r - 1 - i) + py][s (r - 1 - j) + px] (one task per k, lanes c).
 * Lanes past the output channels are 0. buf: 3 t2 kp elements per thread. */
static void wino_weights(const wino *p, const eb_conv_geom *g, const eb_real *w, eb_real *U, int flip, int fpy,
                         int fpx, eb_real *buf, size_t buf_per_thread) {
    const int r = p->r, s = p->s, kk = g->k_h * g->k_w;
    const int tasks = flip ? g->c_out : p->cp, n = flip ? g->c_in : g->c_out;
    const int kp = (int)wino_round((size_t)n, NR), ks_n = kp / NR;
#pragma omp parallel num_threads(eb_cpu_threads((size_t)g->c_out * p->cp * p->t2, EB_CPU_PAR_CHEAP))
    {
        eb_real *src = buf + (size_t)eb_cpu_thread() * buf_per_thread, *tmp = src + (size_t)p->t2 * kp;
        eb_real *dst = tmp + (size_t)p->t2 * kp;
        size_t lo, hi;
        eb_cpu_split((size_t)tasks, &lo, &hi);
        for (size_t t = lo; t < hi; t++) {
            for (int i = 0; i < r; i++)
                for (int jj = 0; jj < r; jj++) {
                    eb_real *o = src + (size_t)(i * r + jj) * kp;
                    if (flip) { /* k = t: lanes c */
                        const eb_real *wk = w + ((size_t)t * g->c_in * g->k_h + s * (r - 1 - i) + fpy) * g->k_w + s * (r - 1 - jj) + fpx;
                        for (int c = 0; c < n; c++) o[c] = wk[(size_t)c * kk];
                    } else { /* c' = t = ph c_in + c: lanes k */
                        const int ph = (int)t / g->c_in, c = (int)t % g->c_in;
                        const eb_real *wc = w + ((size_t)c * g->k_h + s * i + ph / s) * g->k_w + s * jj + ph % s;
                        for (int k = 0; k < n; k++) o[k] = wc[(size_t)k * g->c_in * kk];
                    }
                    for (int k = n; k < kp; k++) o[k] = 0;
                }
            wino_2d(W_FILT, r, src, tmp, dst, (size_t)kp);
            for (int xi = 0; xi < p->t2; xi++)
                for (int ks = 0; ks < ks_n; ks++)
                    memcpy(U + (((size_t)xi * ks_n + ks) * tasks + t) * NR, dst + (size_t)xi * kp + (size_t)ks * NR,
                           NR * sizeof *dst);
        }
    }
}

/* ---- the ops ---- */

/* Samples per chunk: the channel-last copy and the shared V / M (or the filter's V / dM) within the budget. */
static int wino_samples(size_t per_sample, int n) {
    size_t nb = per_sample ? wino_chunk_elems / per_sample : (size_t)n;
    if (nb < 1) nb = 1;
    return nb > (size_t)n ? n : (int)nb;
}

/* The forward over samples [s0, s0 + cnt) as one job over the channel-last copy of x (its phases the reduction
 * channels). */
static wjob wjob_forward(const wino *p, const eb_conv_geom *g, int cnt, const eb_real *xt, eb_real *y, eb_real alpha,
                         eb_real beta, const eb_real *U, const eb_real *zero) {
    wjob j = {.n = cnt, .cs = g->c_in, .np = p->np, .K = g->c_out, .src = xt, .h = g->h_in, .w = g->w_in, .s = p->s,
              .pad = g->pad, .dst = y, .dst_n = (ptrdiff_t)g->c_out * g->h_out * g->w_out,
              .dst_c = (ptrdiff_t)g->h_out * g->w_out, .dst_r = g->w_out, .dst_q = 1, .alpha = alpha, .beta = beta,
              .U = U, .zero = zero};
    wjob_grid(&j, p->r, g->h_out, g->w_out);
    return j;
}

eb_status eb_cpu_wino_forward(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w, eb_real *y,
                              eb_real alpha, eb_real beta) {
    const wino p = wino_of(g);
    const int wt = eb_cpu_threads((size_t)-1, 0);
    const size_t hwi = (size_t)g->h_in * g->w_in;
    const wjob j1 = wjob_forward(&p, g, 1, NULL, NULL, 0, 0, NULL, NULL);
    const size_t hwo = (size_t)g->h_out * g->w_out;
    const int nb = wino_samples((size_t)g->c_in * hwi + (size_t)g->c_out * hwo + wjob_shared_elems(&j1), g->n);
    const wjob jn = wjob_forward(&p, g, nb, NULL, NULL, 0, 0, NULL, NULL);
    const int threads = eb_cpu_threads((size_t)g->c_out * p.cp * p.t2 * nb * p.tps, (size_t)1 << 20);
    const size_t u_e = wino_region((size_t)p.t2 * jn.kp * p.cp, sizeof(eb_real));
    const size_t id_e = wino_region((size_t)p.cp, sizeof(ptrdiff_t)), z_e = wino_region((size_t)g->c_in, sizeof(eb_real));
    const size_t xt_e = wino_region((size_t)nb * g->c_in * hwi, sizeof(eb_real)), sh_e = wjob_shared_elems(&jn);
    const size_t yt_e = wino_region((size_t)nb * g->c_out * hwo, sizeof(eb_real));
    size_t per = wjob_thread_elems(&jn);
    const size_t wbuf = wino_region((size_t)3 * p.t2 * jn.kp, sizeof(eb_real));
    if (wbuf > per) per = wbuf;
    eb_real *sc = eb_cpu_scratch(ctx, u_e + id_e + z_e + xt_e + yt_e + sh_e + (size_t)wt * per);
    if (!sc) return EB_ERR_OOM; /* eb_cpu_scratch recorded the message */
    eb_real *U = sc, *zero = sc + u_e + id_e, *xt = zero + z_e, *yt = xt + xt_e, *shared = yt + yt_e, *ws = shared + sh_e;
    ptrdiff_t *id = (ptrdiff_t *)(sc + u_e);
    for (int i = 0; i < p.cp; i++) id[i] = i;
    memset(zero, 0, (size_t)g->c_in * sizeof *zero);
    wino_weights(&p, g, w, U, 0, 0, 0, ws, per);
    for (int s0 = 0; s0 < g->n; s0 += nb) {
        const int cnt = g->n - s0 < nb ? g->n - s0 : nb;
        cl_transpose(x + (size_t)s0 * g->c_in * hwi, cnt, g->c_in, hwi, xt);
        wjob j = wjob_forward(&p, g, cnt, xt, y + (size_t)s0 * g->c_out * hwo, alpha, beta, U, zero);
        j.out_t = yt;
        wjob_run(&j, shared, ws, id, threads);
    }
    return EB_OK;
}

/* The data gradient, one job per input phase (py, px): the pixels ih = s R + py - pad, iw = s Q + px - pad of dx
 * are a stride-1 correlation of dy (bordered by r - 1) with the phase's taps flipped, over c_out channels. */
static int wjob_data(const wino *p, const eb_conv_geom *g, int cnt, const eb_real *dyt, eb_real *dx, eb_real alpha,
                     eb_real beta, const eb_real *zero, int py, int px, wjob *j) {
    const int s = p->s;
    const int r_lo = g->pad >= py ? (g->pad - py + s - 1) / s : 0, r_top = g->h_in - 1 + g->pad - py;
    const int q_lo = g->pad >= px ? (g->pad - px + s - 1) / s : 0, q_top = g->w_in - 1 + g->pad - px;
    if (r_top < 0 || q_top < 0 || r_top / s < r_lo || q_top / s < q_lo) return 0; /* no pixel of dx in the phase */
    const size_t hwi = (size_t)g->h_in * g->w_in;
    *j = (wjob){.n = cnt, .cs = g->c_out, .np = 1, .K = g->c_in, .src = dyt, .h = g->h_out, .w = g->w_out, .s = 1,
                .u0 = r_lo - (p->r - 1), .v0 = q_lo - (p->r - 1), .pad = 0,
                .dst = dx ? dx + (size_t)(s * r_lo + py - g->pad) * g->w_in + (s * q_lo + px - g->pad) : NULL,
                .dst_n = (ptrdiff_t)g->c_in * (ptrdiff_t)hwi, .dst_c = (ptrdiff_t)hwi, .dst_r = (ptrdiff_t)s * g->w_in,
                .dst_q = s, .alpha = alpha, .beta = beta, .zero = zero};
    wjob_grid(j, p->r, r_top / s - r_lo + 1, q_top / s - q_lo + 1);
    return 1;
}

eb_status eb_cpu_wino_backward_data(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                    eb_real *dx, eb_real alpha, eb_real beta) {
    const wino p = wino_of(g);
    const int K = g->c_out, s = p.s, wt = eb_cpu_threads((size_t)-1, 0);
    const size_t hwi = (size_t)g->h_in * g->w_in, hwo = (size_t)g->h_out * g->w_out;
    /* scratch for the largest phase job, for one sample and for a chunk */
    size_t sh1 = 0;
    wjob j;
    for (int ph = 0; ph < p.np; ph++)
        if (wjob_data(&p, g, 1, NULL, NULL, 0, 0, NULL, ph / s, ph % s, &j) && wjob_shared_elems(&j) > sh1)
            sh1 = wjob_shared_elems(&j);
    const int nb = wino_samples((size_t)K * hwo + (size_t)g->c_in * hwi + sh1, g->n);
    size_t sh_e = 0, per = 0;
    for (int ph = 0; ph < p.np; ph++)
        if (wjob_data(&p, g, nb, NULL, NULL, 0, 0, NULL, ph / s, ph % s, &j)) {
            if (wjob_shared_elems(&j) > sh_e) sh_e = wjob_shared_elems(&j);
            if (wjob_thread_elems(&j) > per) per = wjob_thread_elems(&j);
        }
    const int kpi = (int)wino_round((size_t)g->c_in, NR);
    const size_t wbuf = wino_region((size_t)3 * p.t2 * kpi, sizeof(eb_real));
    if (wbuf > per) per = wbuf;
    const int threads = eb_cpu_threads((size_t)K * p.cp * p.t2 * nb * p.tps, (size_t)1 << 20);
    const size_t u_e = wino_region((size_t)p.t2 * kpi * K, sizeof(eb_real)), id_e = wino_region((size_t)K, sizeof(ptrdiff_t));
    const size_t z_e = wino_region((size_t)K, sizeof(eb_real)), dyt_e = wino_region((size_t)nb * K * hwo, sizeof(eb_real));
    const size_t xt_e = wino_region((size_t)nb * g->c_in * hwi, sizeof(eb_real)); /* a phase's result, channel-last */
    eb_real *sc = eb_cpu_scratch(ctx, u_e + id_e + z_e + dyt_e + xt_e + sh_e + (size_t)wt * per);
    if (!sc) return EB_ERR_OOM;
    eb_real *U = sc, *zero = sc + u_e + id_e, *dyt = zero + z_e, *xt = dyt + dyt_e, *shared = xt + xt_e, *ws = shared + sh_e;
    ptrdiff_t *id = (ptrdiff_t *)(sc + u_e);
    for (int i = 0; i < K; i++) id[i] = i;
    memset(zero, 0, (size_t)K * sizeof *zero);
    int copied = 0; /* the channel-last dy of a single chunk serves every phase */
    for (int ph = 0; ph < p.np; ph++) {
        if (!wjob_data(&p, g, 1, NULL, NULL, 0, 0, NULL, ph / s, ph % s, &j)) continue;
        wino_weights(&p, g, w, U, 1, ph / s, ph % s, ws, per);
        for (int s0 = 0; s0 < g->n; s0 += nb) {
            const int cnt = g->n - s0 < nb ? g->n - s0 : nb;
            if (!copied || nb < g->n) cl_transpose(dy + (size_t)s0 * K * hwo, cnt, K, hwo, dyt);
            copied = 1;
            wjob_data(&p, g, cnt, dyt, dx + (size_t)s0 * g->c_in * hwi, alpha, beta, zero, ph / s, ph % s, &j);
            j.U = U, j.out_t = xt;
            wjob_run(&j, shared, ws, id, threads);
        }
    }
    return EB_OK;
}

/* dM [t2][kp / NR][tiles][NR] = A dy_tile A^T of tiles [tt0, tt0 + nt) of the forward's grid (lane tt - tt0,
 * leading dimension ldt tiles), from the channel-last dy; tmp: (2 al + t2) kp. */
static inline __attribute__((always_inline)) void cl_dy_r(const wjob *j, const eb_real *dyt, size_t tt0, int nt,
                                                         eb_real *dM, size_t ldt, eb_real *tmp, const int r) {
    const int al = r + 1, K = j->K, kp = j->kp, ks_n = kp / NR;
    const eb_real *d[4], *in[4] = {NULL};
    eb_real *out[4] = {NULL};
    eb_real *e = tmp + (size_t)2 * al * kp;
    for (int l = 0; l < nt; l++) {
        const size_t tt = tt0 + (size_t)l, i = tt / (size_t)j->tps;
        const int rest = (int)(tt - i * j->tps), ty = rest / j->tw, tx = rest % j->tw;
        for (int u = 0; u < 2; u++)
            for (int v = 0; v < 2; v++) {
                const int oh = 2 * ty + u, ow = 2 * tx + v;
                d[u * 2 + v] = oh < j->ho && ow < j->wo ? dyt + ((i * j->ho + (size_t)oh) * j->wo + (size_t)ow) * K : j->zero;
            }
        for (int v = 0; v < 2; v++) { /* along u */
            in[0] = d[v], in[1] = d[2 + v];
            for (int a = 0; a < al; a++) out[a] = tmp + (size_t)(a * 2 + v) * kp;
            wino_1d(W_OUT_T, r, in, out, (size_t)K);
        }
        for (int a = 0; a < al; a++) { /* along v */
            in[0] = tmp + (size_t)(a * 2) * kp, in[1] = tmp + (size_t)(a * 2 + 1) * kp;
            for (int b = 0; b < al; b++) out[b] = e + (size_t)(a * al + b) * kp;
            wino_1d(W_OUT_T, r, in, out, (size_t)K);
        }
        for (int xi = 0; xi < j->t2; xi++) {
            eb_real *ex = e + (size_t)xi * kp;
            for (int k = K; k < kp; k++) ex[k] = 0;
            for (int ks = 0; ks < ks_n; ks++)
                memcpy(dM + (((size_t)xi * ks_n + ks) * ldt + (size_t)l) * NR, ex + (size_t)ks * NR, NR * sizeof *ex);
        }
    }
}

WINO_CLONES static void cl_dy(const wjob *j, const eb_real *dyt, size_t tt0, int nt, eb_real *dM, size_t ldt, eb_real *tmp) {
    if (j->r == 3) cl_dy_r(j, dyt, tt0, nt, dM, ldt, tmp, 3);
    else cl_dy_r(j, dyt, tt0, nt, dM, ldt, tmp, 2);
}

/* The filter gradient: dU_xi [C][kp] = sum over the tiles of V_xi [tiles][C]^T dM_xi [tiles][kp] for chunks of
 * samples (V and dM of a chunk shared): A = V^T read in place (8 c' per tile and step: one cache line), B = the
 * dM strips as they are. The threads split the items (xi, strip of output channels); each item sums its tiles in
 * order, chunk after chunk, so the sums do not depend on the thread count. Then dw = alpha G^T dU G + beta dw. */
eb_status eb_cpu_wino_backward_filter(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy,
                                      eb_real *dw, eb_real alpha, eb_real beta) {
    const wino p = wino_of(g);
    const int K = g->c_out, C = p.cp, wt = eb_cpu_threads((size_t)-1, 0);
    const size_t hwi = (size_t)g->h_in * g->w_in, hwo = (size_t)g->h_out * g->w_out;
    const wjob j0 = wjob_forward(&p, g, 1, NULL, NULL, 1, 0, NULL, NULL);
    const int kp = j0.kp, ks_n = kp / NR, cpp = (int)wino_round((size_t)C, EB_TILE_MR);
    const size_t per_sample = (size_t)g->c_in * hwi + (size_t)K * hwo + (size_t)p.tps * p.t2 * (C + kp);
    const int nb = wino_samples(per_sample, g->n);
    const size_t tmax = (size_t)nb * p.tps, items = (size_t)p.t2 * ks_n;
    int threads = eb_cpu_threads((size_t)K * C * p.t2 * g->n * p.tps, (size_t)1 << 20);
    if ((size_t)threads > items) threads = (int)items;
    const size_t du_e = wino_region((size_t)p.t2 * cpp * kp, sizeof(eb_real));
    const size_t v_e = wino_region((size_t)p.t2 * tmax * C, sizeof(eb_real)), dm_e = wino_region((size_t)p.t2 * tmax * kp, sizeof(eb_real));
    const size_t xt_e = wino_region((size_t)nb * g->c_in * hwi, sizeof(eb_real)), dyt_e = wino_region((size_t)nb * K * hwo, sizeof(eb_real));
    const size_t z_e = wino_region((size_t)(K > g->c_in ? K : g->c_in), sizeof(eb_real)), off_e = wino_region(tmax, sizeof(ptrdiff_t));
    size_t per = wino_region((size_t)(2 * p.al + p.t2) * kp, sizeof(eb_real));
    const size_t tin = wjob_tmp_elems(&j0), tfin = wino_region((size_t)3 * p.t2 * kp, sizeof(eb_real));
    if (tin > per) per = tin;
    if (tfin > per) per = tfin;
    eb_real *sc = eb_cpu_scratch(ctx, du_e + v_e + dm_e + xt_e + dyt_e + z_e + off_e + (size_t)wt * per);
    if (!sc) return EB_ERR_OOM;
    eb_real *dU = sc, *V = dU + du_e, *dM = V + v_e, *xt = dM + dm_e, *dyt = xt + xt_e, *zero = dyt + dyt_e;
    ptrdiff_t *a_k = (ptrdiff_t *)(zero + z_e);
    eb_real *ws = zero + z_e + off_e;
    memset(zero, 0, (size_t)(K > g->c_in ? K : g->c_in) * sizeof *zero);
    for (size_t t = 0; t < tmax; t++) a_k[t] = (ptrdiff_t)(t * (size_t)C); /* A = V^T: step t is tile t */

    for (int s0 = 0; s0 < g->n; s0 += nb) {
        const int cnt = g->n - s0 < nb ? g->n - s0 : nb;
        const size_t tiles = (size_t)cnt * p.tps;
        cl_transpose(x + (size_t)s0 * g->c_in * hwi, cnt, g->c_in, hwi, xt);
        cl_transpose(dy + (size_t)s0 * K * hwo, cnt, K, hwo, dyt);
        const wjob j = wjob_forward(&p, g, cnt, xt, NULL, 1, 0, NULL, zero);
#pragma omp parallel num_threads(eb_cpu_threads(tiles * (C + kp) * p.t2, EB_CPU_PAR_CHEAP))
        {
            eb_real *tmp = ws + (size_t)eb_cpu_thread() * per;
            size_t lo, hi;
            eb_cpu_split(tiles, &lo, &hi);
            cl_input(&j, lo, (int)(hi - lo), V + lo * C, tiles, tmp);
            cl_dy(&j, dyt, lo, (int)(hi - lo), dM + lo * NR, tiles, tmp);
        }
#pragma omp parallel num_threads(threads)
        {
            size_t lo, hi;
            eb_cpu_split(items, &lo, &hi);
            for (size_t it = lo; it < hi; it++) {
                const int xi = (int)(it / (size_t)ks_n), ks = (int)(it % (size_t)ks_n);
                const eb_real *a = V + (size_t)xi * tiles * C;
                const eb_real *bs = dM + ((size_t)xi * ks_n + ks) * tiles * NR;
                for (size_t t0 = 0; t0 < tiles; t0 += WINO_KCF) {
                    const int kc = (int)(tiles - t0 < WINO_KCF ? tiles - t0 : WINO_KCF);
                    for (int mb = 0; mb < cpp; mb += EB_TILE_MR) {
                        ptrdiff_t rw[EB_TILE_MR]; /* rows past C repeat the last: their dU rows are padding */
                        for (int i = 0; i < EB_TILE_MR; i++) rw[i] = mb + i < C ? mb + i : C - 1;
                        eb_cpu_tile_gemm(kc, a, rw, a_k + t0, bs + t0 * NR, dU + ((size_t)xi * cpp + mb) * kp + (size_t)ks * NR,
                                         kp, s0 > 0 || t0 > 0);
                    }
                }
            }
        }
    }
    /* dw = alpha * G^T dU G + beta * dw; lanes: the output channels, one task per c' */
#pragma omp parallel num_threads(eb_cpu_threads((size_t)K * C * p.t2, EB_CPU_PAR_CHEAP))
    {
        eb_real *src = ws + (size_t)eb_cpu_thread() * per, *tmp = src + (size_t)p.t2 * kp, *dst = tmp + (size_t)p.t2 * kp;
        size_t lo, hi;
        eb_cpu_split((size_t)C, &lo, &hi);
        for (size_t cq = lo; cq < hi; cq++) {
            const int ph = (int)cq / g->c_in, c = (int)cq % g->c_in, py = ph / p.s, px = ph % p.s;
            for (int xi = 0; xi < p.t2; xi++) memcpy(src + (size_t)xi * kp, dU + ((size_t)xi * cpp + cq) * kp, (size_t)kp * sizeof *src);
            wino_2d(W_FILT_T, p.r, src, tmp, dst, (size_t)kp); /* lanes kp: the padding is 0 */
            for (int i = 0; i < p.r; i++)
                for (int jj = 0; jj < p.r; jj++) {
                    const eb_real *d = dst + (size_t)(i * p.r + jj) * kp;
                    for (int k = 0; k < K; k++) {
                        eb_real *o = dw + (((size_t)k * g->c_in + c) * g->k_h + p.s * i + py) * g->k_w + p.s * jj + px;
                        *o = beta == 0 ? alpha * d[k] : alpha * d[k] + beta * *o;
                    }
                }
        }
    }
    return EB_OK;
}
