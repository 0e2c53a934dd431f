/* The implicit GEMM of the direct convolutions (direct.h): B panels packed straight from the bordered input (or
 * dy) into a buffer that stays in cache, tile.c's 8 x 48 tile over them, C blocks stored to the NCHW output. */
#include "direct.h"

#include "../cpu_parallel.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

/* Per-thread workspace of conv_igemm_run for m rows: B panel, C block, runs, column offsets. */
size_t igemm_thread_elems(int m) {
    return region_elems((size_t)CONV_KC * CONV_NC, sizeof(eb_real)) +
           region_elems(round_up((size_t)m, EB_TILE_MR) * CONV_NC, sizeof(eb_real)) +
           region_elems(CONV_NC, sizeof(conv_run)) + region_elems(CONV_NC, sizeof(int32_t));
}

/* dst[kk * NR + v] = src[k_off[kk] + v], kk < kc, v < len: one run of every row of a B strip. The common run
 * lengths get loops of constant length (whole vector moves); the maps are 2x2 to 32x32. */
EB_CPU_CLONES static void igemm_pack_run(eb_real *restrict dst, const eb_real *restrict src, const ptrdiff_t *restrict k_off,
                           int kc, int len) {
#define PACK_LEN(L) \
    for (int kk = 0; kk < kc; kk++) { \
        const eb_real *s = src + k_off[kk]; \
        eb_real *d = dst + (size_t)kk * EB_TILE_NR; \
        for (int v = 0; v < (L); v++) d[v] = s[v]; \
    }
    switch (len) {
    case 2: PACK_LEN(2) break;
    case 4: PACK_LEN(4) break;
    case 7: PACK_LEN(7) break;
    case 8: PACK_LEN(8) break;
    case 14: PACK_LEN(14) break;
    case 16: PACK_LEN(16) break;
    case 32: PACK_LEN(32) break;
    case 48: PACK_LEN(48) break; /* a whole strip: the runs over the samples of a narrow map (direct_ops.c) */
    default: PACK_LEN(len) break;
    }
#undef PACK_LEN
}

/* The runs of columns [c0, c0 + ncb) of the grid; returns their count. */
static int igemm_runs(const conv_igemm *q, size_t c0, int ncb, conv_run *runs) {
    const size_t per_sample = (size_t)q->hc * q->wc;
    int nr = 0;
    for (int j = 0; j < ncb;) {
        const size_t c = c0 + (size_t)j;
        const size_t s = c / per_sample, rest = c % per_sample;
        const int u = (int)(rest / (size_t)q->wc), v = (int)(rest % (size_t)q->wc);
        int len = q->wc - v;
        if (len > ncb - j) len = ncb - j;
        if (len > EB_TILE_NR - j % EB_TILE_NR) len = EB_TILE_NR - j % EB_TILE_NR;
        runs[nr].j = j;
        runs[nr].len = len;
        runs[nr].src = (ptrdiff_t)s * q->src_n + (ptrdiff_t)u * q->src_u + v;
        runs[nr].dst = (ptrdiff_t)s * q->dst_n + (ptrdiff_t)u * q->dst_u + (ptrdiff_t)v * q->dst_v;
        nr++;
        j += len;
    }
    return nr;
}

/* Writes a C block [m, ldc] to its destination: dst = alpha * C + beta * dst (beta == 0: dst is not read). */
EB_CPU_CLONES static void igemm_store(const conv_igemm *q, const conv_run *runs, int nr, const eb_real *cb, int ldc) {
    if (q->dst_v != 1 && q->dst_m < q->dst_v) {
        /* columns far apart, rows close (a narrow map's samples, its channels' planes of a few pixels): the rows
         * of one column at a time, so that consecutive stores share cache lines */
        for (int r = 0; r < nr; r++) {
            for (int v = 0; v < runs[r].len; v++) {
                const eb_real *cs = cb + runs[r].j + v;
                eb_real *d = q->dst + runs[r].dst + (ptrdiff_t)v * q->dst_v;
                if (q->beta == 0) {
                    for (int i = 0; i < q->m; i++) d[(ptrdiff_t)i * q->dst_m] = q->alpha * cs[(size_t)i * ldc];
                } else {
                    for (int i = 0; i < q->m; i++)
                        d[(ptrdiff_t)i * q->dst_m] = q->alpha * cs[(size_t)i * ldc] + q->beta * d[(ptrdiff_t)i * q->dst_m];
                }
            }
        }
        return;
    }
    for (int i = 0; i < q->m; i++) {
        const eb_real *crow = cb + (size_t)i * ldc;
        eb_real *drow = q->dst + (ptrdiff_t)i * q->dst_m;
        for (int r = 0; r < nr; r++) {
            const eb_real *cs = crow + runs[r].j;
            eb_real *d = drow + runs[r].dst;
            const ptrdiff_t dv = q->dst_v;
            const int len = runs[r].len;
            if (dv == 1 && q->beta == 0) {
                for (int v = 0; v < len; v++) d[v] = q->alpha * cs[v];
            } else if (dv == 1) {
                for (int v = 0; v < len; v++) d[v] = q->alpha * cs[v] + q->beta * d[v];
            } else if (q->beta == 0) {
                for (int v = 0; v < len; v++) d[v * dv] = q->alpha * cs[v];
            } else {
                for (int v = 0; v < len; v++) d[v * dv] = q->alpha * cs[v] + q->beta * d[v * dv];
            }
        }
    }
}

/* Runs the GEMM with `threads` threads, each with igemm_thread_elems(q->m) elements of ws. The strips of NR
 * columns are spread statically over the threads (an even share each: the 1024 columns of a 4x4 layer are
 * 11 + 11 strips, not blocks of 6 + 6 + 6 + 4), and each thread takes its share in blocks of <= NC columns. */
void conv_igemm_run(const conv_igemm *q, eb_real *ws, int threads) {
    const size_t cols = (size_t)q->n * q->hc * q->wc;
    if (cols == 0) return;
    const size_t all_strips = (cols + EB_TILE_NR - 1) / EB_TILE_NR, block_strips = CONV_NC / EB_TILE_NR;
    if ((size_t)threads > all_strips) threads = (int)all_strips;
    const int mp = (int)round_up((size_t)q->m, EB_TILE_MR), ldc = CONV_NC;
    const size_t per_thread = igemm_thread_elems(q->m);
    /* Runs of fewer than 8 columns (maps of 2x2 to 7x7) cost more to copy one by one than the tiles that use
     * them: those panels are gathered a row of NR at a time instead (32-bit column offsets) */
    const long long span = (long long)(q->n - 1) * q->src_n + (long long)(q->hc - 1) * q->src_u + q->wc;
    const int gather = q->wc < CONV_GATHER_BELOW && span <= INT32_MAX;
#pragma omp parallel num_threads(threads)
    {
        eb_real *bp = ws + (size_t)eb_cpu_thread() * per_thread;
        eb_real *cb = bp + region_elems((size_t)CONV_KC * CONV_NC, sizeof(eb_real));
        conv_run *runs = (conv_run *)(cb + region_elems((size_t)mp * CONV_NC, sizeof(eb_real)));
        int32_t *col32 = (int32_t *)((eb_real *)runs + region_elems(CONV_NC, sizeof(conv_run)));
        size_t lo, hi;
        eb_cpu_split(all_strips, &lo, &hi);
        for (size_t sb = lo; sb < hi; sb += block_strips) {
            const size_t c0 = sb * EB_TILE_NR, c1 = (sb + block_strips < hi ? sb + block_strips : hi) * EB_TILE_NR;
            const int ncb = (int)((c1 < cols ? c1 : cols) - c0);
            const int strips = (ncb + EB_TILE_NR - 1) / EB_TILE_NR, tail = ncb % EB_TILE_NR;
            const int nr = igemm_runs(q, c0, ncb, runs);
            if (gather) { /* the tail columns read src[k_off]: finite, and never stored */
                for (int r = 0; r < nr; r++)
                    for (int v = 0; v < runs[r].len; v++) col32[runs[r].j + v] = (int32_t)(runs[r].src + v);
                for (int j = ncb; j < strips * EB_TILE_NR; j++) col32[j] = 0;
            }
            if (q->k == 0) memset(cb, 0, (size_t)mp * ldc * sizeof *cb);
            for (int k0 = 0; k0 < q->k; k0 += CONV_KC) {
                const int kc = q->k - k0 < CONV_KC ? q->k - k0 : CONV_KC;
                for (int t = 0; gather && t < strips; t++)
                    eb_cpu_tile_gather(kc, q->src, q->k_off + k0, col32 + t * EB_TILE_NR, bp + (size_t)t * kc * EB_TILE_NR);
                for (int r = 0; !gather && r < nr; r++) {
                    const int t = runs[r].j / EB_TILE_NR;
                    igemm_pack_run(bp + (size_t)t * kc * EB_TILE_NR + runs[r].j % EB_TILE_NR, q->src + runs[r].src,
                                   q->k_off + k0, kc, runs[r].len);
                }
                if (tail && !gather) { /* the columns past the block's end: zero (not left-over bits) */
                    eb_real *last = bp + (size_t)(strips - 1) * kc * EB_TILE_NR + tail;
                    for (int kk = 0; kk < kc; kk++)
                        memset(last + (size_t)kk * EB_TILE_NR, 0, (size_t)(EB_TILE_NR - tail) * sizeof *last);
                }
                /* strips outer: one B strip [KC][NR] (24 KiB) stays in L1 while the A rows of every group of MR
                 * channels stream past it from L2 (BLIS's loop order: each B strip is loaded into L1 once) */
                for (int t = 0; t < strips; t++) {
                    /* a part-filled last strip computes the vectors it fills (tile.h) */
                    const int cols = t == strips - 1 && tail ? tail : EB_TILE_NR;
                    for (int mb = 0; mb < mp; mb += EB_TILE_MR) {
                        ptrdiff_t rows[EB_TILE_MR]; /* rows past m repeat the last one: their C rows are not stored */
                        for (int i = 0; i < EB_TILE_MR; i++) rows[i] = q->a_row[mb + i < q->m ? mb + i : q->m - 1];
                        eb_cpu_tile_gemm_cols(cols, kc, q->a, rows, q->a_k + k0, bp + (size_t)t * kc * EB_TILE_NR,
                                              cb + (size_t)mb * ldc + t * EB_TILE_NR, ldc, k0 > 0);
                    }
                }
            }
            igemm_store(q, runs, nr, cb, ldc);
        }
    }
}
