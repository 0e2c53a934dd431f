/* Winograd F(2x2, r x r) convolutions (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016)
 * for the CPU backend: the three conv ops of layers with k = stride * r taps, r in {2, 3}, as GEMMs on tile.c. */
#include "wino.h"

#include "wino_internal.h"
#include "../cpu_ops.h"
#include "../cpu_parallel.h"

#include <stdint.h>
#include <string.h>

/* Why: the direct implicit GEMMs (direct_ops.c) keep the FMA units busy already, so fewer multiply-adds is the
 * lever left (bench/PROFILE.md). A stride-s layer with k = s r taps is, per
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

/* The forward with the transformed weights U (NULL: transformed from w here, per call). */
static eb_status wino_forward(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w, const eb_real *U,
                              eb_real *y, eb_real alpha, eb_real beta) {
    const wino p = wino_of(g);
    const wjob j0 = wjob_forward(&p, g, NULL, NULL, 0, 0, NULL, NULL);
    const int threads = eb_cpu_threads((size_t)g->c_out * p.cp * p.t2 * g->n * p.tps, CONV_THREAD_WORK);
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

/* The data gradient by phase jobs with every phase's transformed weights U (NULL: transformed from w here). */
static eb_status wino_data_phases(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                  const eb_real *U, eb_real *dx, eb_real alpha, eb_real beta) {
    const wino p = wino_of(g);
    const int K = g->c_out, s = p.s;
    const int threads = eb_cpu_threads((size_t)K * p.cp * p.t2 * g->n * p.tps, CONV_THREAD_WORK);
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

/* ---- the data gradient as the forward's adjoint ----
 * For layers whose phase jobs would pad few input channels to the tile's 48 columns (64 -> 96): dM = A dy A^T on
 * the forward's tiles, dV_xi [tiles][c'] = dM_xi [tiles][c_out] U_xi [c_out][c'] (the forward's U, packed with
 * the 4 c_in reduction channels c' as the columns), then dx = the sum over the overlapping tiles of B dV B^T,
 * phase by phase, accumulated channel-last per sample and stored back through 8 x 8 transposes. A block is whole
 * samples, so no two threads add into one sample, and the tiles add in one order fixed by the shape. */

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
    const int threads = eb_cpu_threads((size_t)K * C * p.t2 * g->n * p.tps, CONV_THREAD_WORK);
    /* blocks of whole samples: as many as keep dM and dV of a block in ~768 KiB, at least one, an even share */
    const size_t per_tile = (size_t)p.t2 * (kv + cpad) * sizeof(eb_real);
    size_t ns = WINO_BLOCK_BYTES / (per_tile * p.tps);
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

eb_status eb_cpu_wino_backward_data(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                    eb_real *dx, eb_real alpha, eb_real beta) {
    if (wino_data_by_adjoint(g)) return wino_data_adjoint(ctx, g, dy, w, NULL, dx, alpha, beta);
    return wino_data_phases(ctx, g, dy, w, NULL, dx, alpha, beta);
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
    const int nb = wino_samples((size_t)p.tps * p.t2 * (j0.cv + kp), g->n, WINO_CHUNK_ELEMS);
    const size_t tmax = (size_t)nb * p.tps, items = (size_t)p.t2;
    int threads = eb_cpu_threads((size_t)K * C * p.t2 * g->n * p.tps, CONV_THREAD_WORK);
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
