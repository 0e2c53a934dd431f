/* The jobs of the Winograd convolutions (wino_internal.h): a stride-1 correlation over a grid of 2x2 output
 * tiles, run block by block through the input transform, the GEMMs on the tile and the output transform. */
#include "wino_internal.h"

#include "../cpu_ops.h"
#include "../cpu_parallel.h"

#include <string.h>

static void wjob_grid(wjob *j, int r, int ho, int wo) {
    j->r = r, j->al = r + 1, j->t2 = (r + 1) * (r + 1);
    j->ho = ho, j->wo = wo, j->th = (ho + 1) / 2, j->tw = (wo + 1) / 2, j->tps = j->th * j->tw;
    j->C = j->cs * j->np;
    j->cv = (int)wino_round((size_t)j->C, 16) + 16;
    j->kp = (int)wino_round((size_t)j->K, NR);
}

/* The rows of sample i that its tile rows [ty_a, ty_b] read, clipped to the map: [*lo, *hi] (empty: lo > hi). */
static void wjob_rows(const wjob *j, int ty_a, int ty_b, int *lo, int *hi) {
    *lo = j->s * (2 * ty_a + j->u0) - j->pad;
    *hi = j->s * (2 * ty_b + j->al - 1 + j->u0) + j->s - 1 - j->pad;
    if (*lo < 0) *lo = 0;
    if (*hi > j->h - 1) *hi = j->h - 1;
}

/* V rows [0, nt) = the input transform of tiles [tt0, tt0 + nt), sample by sample through the band. */
void wjob_input(const wjob *j, size_t tt0, int nt, eb_real *V, size_t ldv, eb_real *band, eb_real *tmp) {
    for (size_t tt = tt0; tt < tt0 + (size_t)nt;) {
        const size_t i = tt / (size_t)j->tps, end = tt0 + nt < (i + 1) * j->tps ? tt0 + nt : (i + 1) * j->tps;
        int lo, hi;
        wjob_rows(j, (int)(tt - i * j->tps) / j->tw, (int)(end - 1 - i * j->tps) / j->tw, &lo, &hi);
        if (lo <= hi) cl_band(j->src + i * j->src_n, j->cs, j->h, j->w, lo, hi, band);
        cl_input(j, band, tt, (int)(end - tt), V + (tt - tt0) * j->cv, ldv, tmp);
        tt = end;
    }
}

/* M_xi rows [0, m) (m a multiple of MR; rows past the tiles are zero in V) = V_xi U_xi. Rows in blocks of 32:
 * a block of V (<= 32 x C, L1 / L2) meets every strip of U_xi (a panel [KC][NR] at a time, L1) before the next
 * block is read, so V streams into cache once per xi and U_xi (L2) once per block. */
void cl_gemm(const wjob *j, int xi, const eb_real *V, eb_real *M, size_t ldv, const ptrdiff_t *id, size_t m) {
    const int C = j->C, ks_n = j->kp / NR;
    const eb_real *Vx = V + (size_t)xi * ldv * j->cv;
    eb_real *Mx = M + (size_t)xi * ldv * j->kp;
    for (size_t m0 = 0; m0 < m; m0 += WINO_MB) {
        const size_t m1 = m0 + WINO_MB < m ? m0 + WINO_MB : m;
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
void cl_zero_rows(const wjob *j, eb_real *V, size_t ldv, int nt) {
    const size_t n8 = wino_round((size_t)nt, EB_TILE_MR);
    for (int xi = 0; xi < j->t2; xi++)
        memset(V + ((size_t)xi * ldv + (size_t)nt) * j->cv, 0, (n8 - (size_t)nt) * j->cv * sizeof *V);
}

/* Each thread takes blocks of whole tile rows through input transform, the t2 GEMMs and output transform on its
 * own. When U fits L2 (<= 1 MiB) a block is as many tiles as keep its V and M in ~768 KiB too; a larger U
 * streams from L3 once per block, whose size then pays for it (~192 tiles: 4 bytes of U per 192 multiply-adds).
 * At most an even share of the tile rows per thread. */
int wjob_block(const wjob *j, int threads) {
    const size_t per_tile = (size_t)j->t2 * (j->cv + j->kp) * sizeof(eb_real);
    const size_t u_bytes = (size_t)j->t2 * j->C * j->kp * sizeof(eb_real);
    size_t bt = u_bytes <= WINO_U_L2_BYTES ? WINO_BLOCK_BYTES / per_tile : WINO_BLOCK_TILES;
    if (bt > WINO_BLOCK_TILES) bt = WINO_BLOCK_TILES;
    const size_t rows = (size_t)j->n * j->th, share = (rows + threads - 1) / threads;
    size_t br = bt / (size_t)j->tw;
    if (br < 1) br = 1;
    if (br > share) br = share;
    return (int)(br * (size_t)j->tw);
}

/* Per-thread scratch of a job (elements) for blocks of bt tiles: V, M, the band of one sample, the transforms'. */
size_t wjob_tmp_elems(const wjob *j) {
    const size_t a = (size_t)j->t2 * j->cs, b = (size_t)(2 * j->al + 4 * j->tw) * j->K;
    return wino_region(a > b ? a : b, sizeof(eb_real));
}
size_t wjob_thread_elems(const wjob *j, int bt) {
    const size_t rows = wino_round((size_t)bt, EB_TILE_MR);
    return wino_region((size_t)j->t2 * rows * j->cv, sizeof(eb_real)) + wino_region((size_t)j->t2 * rows * j->kp, sizeof(eb_real)) +
           wino_region((size_t)j->h * j->w * j->cs, sizeof(eb_real)) + wjob_tmp_elems(j);
}

void wjob_run(const wjob *j, eb_real *ws, const ptrdiff_t *id, int threads) {
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

/* ---- the jobs of the ops ---- */

/* The forward: one job over x (its phases the reduction channels). */
wjob wjob_forward(const wino *p, const eb_conv_geom *g, const eb_real *x, eb_real *y, eb_real alpha,
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
int wjob_data(const wino *p, const eb_conv_geom *g, const eb_real *dy, eb_real *dx, eb_real alpha, eb_real beta,
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

int wino_scratch_get(void *ctx, size_t u_elems, int n_id, int n_zero, size_t per, wino_scratch *sc) {
    const size_t u_e = wino_region(u_elems, sizeof(eb_real)), id_e = wino_region((size_t)n_id, sizeof(ptrdiff_t));
    const size_t z_e = wino_region((size_t)n_zero, sizeof(eb_real));
    eb_real *base = eb_cpu_scratch(ctx, u_e + id_e + z_e + (size_t)eb_cpu_threads((size_t)-1, 0) * per);
    if (!base) return 0;
    sc->U = base, sc->id = (ptrdiff_t *)(base + u_e), sc->zero = base + u_e + id_e, sc->ws = sc->zero + z_e;
    for (int i = 0; i < n_id; i++) sc->id[i] = i;
    memset(sc->zero, 0, (size_t)n_zero * sizeof *sc->zero);
    return 1;
}
