/* CPU reference of conv2d (NCHW, OIHW weights, square stride / pad) as implicit GEMMs on the backend's own
 * register tile (cpu_tile.h): the column matrix of im2col is never stored, its panels are packed in cache. */
#include "../cpu_ops.h"

#include "../cpu_parallel.h"
#include "tile.h"
#include "wino.h"
#include <limits.h>
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Why not im2col + one BLAS GEMM (the formulation before, bench/PROFILE.md): the column matrix [K, n * pixels] is
 * 4x (k4 s2) to 9x (k3 s1) the input; writing it, then packing it again inside the GEMM, then (backward data)
 * scattering a second one back with col2im took ~40% of a CIFAR iteration, the GEMM kernels ~50%. Here each op
 * is a GEMM on cpu_tile.c's 8 x 48 tile: A (the weights, or dy) is read in place through offsets, B panels are
 * copied (or gathered) straight from a zero-bordered copy of the input into a buffer that stays in cache, and C
 * tiles go straight to the NCHW output:
 *   forward          y[co, (s, oh, ow)]  = sum over taps (c, i, j)       w * x      (M = c_out, N = pixels)
 *   backward data    per input phase (ih + pad) % stride, (iw + pad) % stride: a stride-1 correlation of dy with
 *                    the phase's taps, dx[ci, pixels of the phase] = sum over (co, taps) w * dy  (M = c_in);
 *                    below 8 input channels dcol = w^T dy and col2im instead (conv_backward_data_cols)
 *   backward filter  dw[co, (c, i, j)]   = sum over pixels (s, oh, ow)   dy * x     (M = c_out, N = taps)
 * Every sum runs over its reduction index in one fixed order with one rounding per step, whatever the thread
 * count (threads split the columns of C, never a sum). */

/* The data movement around the GEMM (phase split, panel packing, stores: copies, no arithmetic but alpha / beta)
 * is compiled for AVX-512 and AVX2 as well as the baseline, picked at load time; the values do not change. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CONV_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CONV_CLONES
#endif

/* Blocking (bench_cpu_conv on the presets' layers chose them): KC steps of the reduction per packed panel of the
 * forward / data-gradient GEMMs, KCF pixels per panel of the filter gradient's, NC columns of C per block (a
 * multiple of NR; 288 = 6 x 48 floats = 12 x 24 doubles). A B strip [KC, NR] is 24 KiB of floats (L1), the B
 * panel [KC, NC] 144 KiB and a C block of 512 rows 576 KiB (L2: 2 MiB per core on the machines we measure). */
enum { CONV_KC = 128, CONV_KCF = 256, CONV_NC = 288 };

/* The zero-bordered copies of an op's input (or dy) are made for as many samples at a time as fit 8M elements
 * (32 MiB of floats), at least one: a MALA batch of 4096 chains does not need GiBs of scratch. */
static const size_t conv_copy_elems = (size_t)8 << 20;

static int conv_samples_per_copy(size_t sample_elems, int n) {
    size_t nb = sample_elems ? conv_copy_elems / sample_elems : (size_t)n;
    if (nb < 1) nb = 1;
    return nb > (size_t)n ? n : (int)nb;
}

static size_t round_up(size_t v, size_t m) { return (v + m - 1) / m * m; }

/* Elements of eb_real that hold `count` objects of `bytes` each, rounded up to 64 elements (256 bytes of floats:
 * the regions of the scratch keep its base's alignment, and the int / pointer-size tables theirs). */
static size_t region_elems(size_t count, size_t bytes) {
    return round_up((count * bytes + sizeof(eb_real) - 1) / sizeof(eb_real), 64);
}

/* ---- geometry ---- */

/* Checks the geometry (positive sizes, h_out / w_out consistent with the floor formula of ops.h, sizes within
 * int range) and the buffers. */
static eb_status conv_check(const char *op, const eb_conv_geom *g, const void *a, const void *b, const void *c) {
    if (!g) return EB_FAIL(EB_ERR_ARG, "%s: NULL geometry", op);
    if (g->n < 1 || g->c_in < 1 || g->h_in < 1 || g->w_in < 1 || g->c_out < 1 || g->h_out < 1 ||
        g->w_out < 1 || g->k_h < 1 || g->k_w < 1)
        return EB_FAIL(EB_ERR_ARG,
                       "%s: sizes must be positive (n=%d c_in=%d h_in=%d w_in=%d c_out=%d h_out=%d w_out=%d "
                       "k=%dx%d)", op, g->n, g->c_in, g->h_in, g->w_in, g->c_out, g->h_out, g->w_out,
                       g->k_h, g->k_w);
    if (g->stride < 1) return EB_FAIL(EB_ERR_ARG, "%s: stride %d must be >= 1", op, g->stride);
    if (g->pad < 0) return EB_FAIL(EB_ERR_ARG, "%s: pad %d must be >= 0", op, g->pad);
    if ((long long)g->h_in + 2LL * g->pad < g->k_h || (long long)g->w_in + 2LL * g->pad < g->k_w)
        return EB_FAIL(EB_ERR_ARG, "%s: input %dx%d with pad %d too small for kernel %dx%d", op, g->h_in,
                       g->w_in, g->pad, g->k_h, g->k_w);
    const long long ho = ((long long)g->h_in + 2LL * g->pad - g->k_h) / g->stride + 1;
    const long long wo = ((long long)g->w_in + 2LL * g->pad - g->k_w) / g->stride + 1;
    if (ho != g->h_out || wo != g->w_out)
        return EB_FAIL(EB_ERR_ARG,
                       "%s: output %dx%d inconsistent with input %dx%d, kernel %dx%d, stride %d, pad %d "
                       "(expected %lldx%lld)", op, g->h_out, g->w_out, g->h_in, g->w_in, g->k_h, g->k_w,
                       g->stride, g->pad, ho, wo);
    const long long kk = (long long)g->c_in * g->k_h * g->k_w, ko = (long long)g->c_out * g->k_h * g->k_w;
    const long long pix_in = (long long)g->n * g->h_in * g->w_in, pix_out = (long long)g->n * ho * wo;
    if (kk > INT_MAX || ko > INT_MAX || pix_in > INT_MAX || pix_out > INT_MAX)
        return EB_FAIL(EB_ERR_ARG, "%s: layer too large (taps %lld / %lld, pixels %lld / %lld over INT_MAX)", op,
                       kk, ko, pix_in, pix_out);
    if (!a || !b || !c) return EB_FAIL(EB_ERR_ARG, "%s: NULL buffer", op);
    return EB_OK;
}

/* The zero-bordered input plane [h_in + 2 pad, w_in + 2 pad] is kept split into its stride x stride phases:
 * element (r, q) of the padded plane lives in phase (r % stride, q % stride) at (r / stride, q / stride), each
 * phase [hq, wq]. A window tap (i, j) then reads, for output row oh, the contiguous run
 * phase(i % stride, j % stride)[oh + i / stride][j / stride ..][w_out]: every row of the implicit column
 * matrix is a unit-stride copy. Stride 1 is the plain bordered plane. */
typedef struct conv_phases {
    int s, hq, wq; /* stride; rows / columns of one phase: ceil((h_in + 2 pad) / s), ceil((w_in + 2 pad) / s) */
    size_t plane;  /* elements of one (sample, channel) plane: s * s * hq * wq */
} conv_phases;

static conv_phases conv_phases_of(const eb_conv_geom *g) {
    conv_phases f = {.s = g->stride};
    f.hq = (g->h_in + 2 * g->pad + f.s - 1) / f.s;
    f.wq = (g->w_in + 2 * g->pad + f.s - 1) / f.s;
    f.plane = (size_t)f.s * f.s * f.hq * f.wq;
    return f;
}

/* Offset of tap (i, j) of channel c in a sample's phase-split planes. */
static ptrdiff_t conv_tap_offset(const conv_phases *f, int c, int i, int j) {
    const int s = f->s;
    return (ptrdiff_t)c * (ptrdiff_t)f->plane + (ptrdiff_t)((i % s) * s + j % s) * f->hq * f->wq +
           (ptrdiff_t)(i / s) * f->wq + j / s;
}

/* Input plane src [h_in, w_in] -> the interior of the phase-split bordered plane (its border must be zero). */
CONV_CLONES static void conv_plane_split(const eb_conv_geom *g, const conv_phases *f, const eb_real *src, eb_real *plane) {
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
CONV_CLONES static void conv_plane_border(const eb_conv_geom *g, const conv_phases *f, eb_real *plane) {
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
static void conv_split_all(const eb_conv_geom *g, const conv_phases *f, int c, const eb_real *x, int s0, int cnt,
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

/* One (sample sm, channel c) of conv_col2im: its taps summed into `plane` (zeroed first), merged into dx.
 * GCC 12 can leave the upper vector state dirty (no vzeroupper) on leaving the OpenMP child of a target_clones
 * function and on a clone's tail call into a baseline function; every legacy-SSE instruction after that runs
 * up to ~20x slower (libm's tanh: 8 -> 160 ns; bench/PROFILE.md). So no clone holds a parallel region, no clone
 * ends in a call; tests/py/test_vector_state.py reads every exit of the built code. */
CONV_CLONES static void conv_col2im_plane(const eb_conv_geom *g, const conv_phases *f, const eb_real *col, size_t ld,
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
static void conv_col2im(const eb_conv_geom *g, const conv_phases *f, const eb_real *col, int s0, int nb,
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

/* ---- the implicit GEMM over pixel columns (forward, backward data) ---- */

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

/* Per-thread workspace of conv_igemm_run for m rows: B panel, C block, runs, column offsets. */
static size_t igemm_thread_elems(int m) {
    return region_elems((size_t)CONV_KC * CONV_NC, sizeof(eb_real)) +
           region_elems(round_up((size_t)m, EB_TILE_MR) * CONV_NC, sizeof(eb_real)) +
           region_elems(CONV_NC, sizeof(conv_run)) + region_elems(CONV_NC, sizeof(int32_t));
}

/* dst[kk * NR + v] = src[k_off[kk] + v], kk < kc, v < len: one run of every row of a B strip. The common run
 * lengths get loops of constant length (whole vector moves); the maps are 2x2 to 32x32. */
CONV_CLONES static void igemm_pack_run(eb_real *restrict dst, const eb_real *restrict src, const ptrdiff_t *restrict k_off,
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
CONV_CLONES static void igemm_store(const conv_igemm *q, const conv_run *runs, int nr, const eb_real *cb, int ldc) {
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
static void conv_igemm_run(const conv_igemm *q, eb_real *ws, int threads) {
    const size_t cols = (size_t)q->n * q->hc * q->wc;
    if (cols == 0) return;
    const size_t all_strips = (cols + EB_TILE_NR - 1) / EB_TILE_NR, block_strips = CONV_NC / EB_TILE_NR;
    if ((size_t)threads > all_strips) threads = (int)all_strips;
    const int mp = (int)round_up((size_t)q->m, EB_TILE_MR), ldc = CONV_NC;
    const size_t per_thread = igemm_thread_elems(q->m);
    /* Runs of fewer than 8 columns (maps of 2x2 to 7x7) cost more to copy one by one than the tiles that use
     * them: those panels are gathered a row of NR at a time instead (32-bit column offsets) */
    const long long span = (long long)(q->n - 1) * q->src_n + (long long)(q->hc - 1) * q->src_u + q->wc;
    const int gather = q->wc < 8 && span <= INT32_MAX;
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
                 * channels stream past it from L2 (BLIS's loop order; ~8% over the other way round, with KC 128) */
                for (int t = 0; t < strips; t++) {
                    for (int mb = 0; mb < mp; mb += EB_TILE_MR) {
                        ptrdiff_t rows[EB_TILE_MR]; /* rows past m repeat the last one: their C rows are not stored */
                        for (int i = 0; i < EB_TILE_MR; i++) rows[i] = q->a_row[mb + i < q->m ? mb + i : q->m - 1];
                        eb_cpu_tile_gemm(kc, q->a, rows, q->a_k + k0, bp + (size_t)t * kc * EB_TILE_NR,
                                         cb + (size_t)mb * ldc + t * EB_TILE_NR, ldc, k0 > 0);
                    }
                }
            }
            igemm_store(q, runs, nr, cb, ldc);
        }
    }
}

/* Threads for a GEMM of m * k * cols multiply-adds (one below ~1M: a fork / join costs more). */
static int conv_threads(size_t work) { return eb_cpu_threads(work, (size_t)1 << 20); }

/* ---- forward ---- */

/* y = alpha * conv(x, w) + beta * y. */
eb_status eb_cpu_conv2d_forward(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w,
                                eb_real *y, eb_real alpha, eb_real beta) {
    EB_TRY(conv_check("conv2d_forward", g, x, w, y));
    if (eb_cpu_wino_fits(g, EB_WINO_FORWARD)) { /* frozen weights: their transform made once (frozen_weights.h) */
        const eb_real *U;
        EB_TRY(eb_cpu_frozen_form_get(ctx, g, EB_WINO_FORWARD, w, &U));
        return U ? eb_cpu_wino_forward_prep(ctx, g, x, U, y, alpha, beta) : eb_cpu_wino_forward(ctx, g, x, w, y, alpha, beta);
    }
    const conv_phases f = conv_phases_of(g);
    const int direct = g->pad == 0 && g->stride == 1; /* the input itself is the (only) phase plane */
    const int K = g->c_in * g->k_h * g->k_w, M = g->c_out;
    const size_t hwi = (size_t)g->h_in * g->w_in, hwo = (size_t)g->h_out * g->w_out;
    const int nb = direct ? g->n : conv_samples_per_copy((size_t)g->c_in * f.plane, g->n);
    const int threads = conv_threads((size_t)M * K * nb * hwo);
    const size_t src_e = direct ? 0 : region_elems((size_t)nb * g->c_in * f.plane, sizeof(eb_real));
    const size_t row_e = region_elems((size_t)M, sizeof(ptrdiff_t)), off_e = region_elems((size_t)K, sizeof(ptrdiff_t));
    eb_real *s = eb_cpu_scratch(ctx, src_e + row_e + 2 * off_e + (size_t)threads * igemm_thread_elems(M));
    if (!s) return EB_ERR_OOM; /* eb_cpu_scratch recorded the message */
    eb_real *planes = s;
    ptrdiff_t *a_row = (ptrdiff_t *)(s + src_e), *a_k = (ptrdiff_t *)(s + src_e + row_e);
    ptrdiff_t *k_off = (ptrdiff_t *)(s + src_e + row_e + off_e);
    eb_real *ws = s + src_e + row_e + 2 * off_e;

    for (int co = 0; co < M; co++) a_row[co] = (ptrdiff_t)co * K; /* A = w [c_out, (c, i, j)] as it is */
    for (int kk = 0; kk < K; kk++) a_k[kk] = kk;
    for (int c = 0; c < g->c_in; c++)
        for (int i = 0; i < g->k_h; i++)
            for (int j = 0; j < g->k_w; j++)
                k_off[(c * g->k_h + i) * g->k_w + j] =
                    direct ? (ptrdiff_t)c * (ptrdiff_t)hwi + (ptrdiff_t)i * g->w_in + j : conv_tap_offset(&f, c, i, j);
    for (int s0 = 0; s0 < g->n; s0 += nb) { /* samples [s0, s0 + cnt): their bordered copy, one GEMM */
        const int cnt = g->n - s0 < nb ? g->n - s0 : nb;
        if (!direct) conv_split_all(g, &f, g->c_in, x, s0, cnt, planes);
        const conv_igemm q = {
            .m = M, .k = K, .a = w, .a_row = a_row, .a_k = a_k,
            .src = direct ? x + (size_t)s0 * g->c_in * hwi : planes, .k_off = k_off,
            .n = cnt, .hc = g->h_out, .wc = g->w_out,
            .src_n = (ptrdiff_t)g->c_in * (ptrdiff_t)(direct ? hwi : f.plane), .src_u = direct ? g->w_in : f.wq,
            .dst = y + (size_t)s0 * M * hwo, .dst_n = (ptrdiff_t)M * (ptrdiff_t)hwo, .dst_m = (ptrdiff_t)hwo,
            .dst_u = g->w_out, .dst_v = 1, .alpha = alpha, .beta = beta,
        };
        conv_igemm_run(&q, ws, threads);
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
    size_t nb = ((size_t)4 << 20) / ((size_t)M * hwo);
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
eb_status eb_cpu_conv2d_backward_data(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                      eb_real *dx, eb_real alpha, eb_real beta) {
    EB_TRY(conv_check("conv2d_backward_data", g, dy, w, dx));
    if (eb_cpu_wino_fits(g, EB_WINO_DATA)) {
        const eb_real *U;
        EB_TRY(eb_cpu_frozen_form_get(ctx, g, EB_WINO_DATA, w, &U));
        return U ? eb_cpu_wino_backward_data_prep(ctx, g, dy, U, dx, alpha, beta)
                 : eb_cpu_wino_backward_data(ctx, g, dy, w, dx, alpha, beta);
    }
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
    eb_real *sc = eb_cpu_scratch(ctx, src_e + row_e + 2 * off_e + (size_t)threads * igemm_thread_elems(M));
    if (!sc) return EB_ERR_OOM;
    eb_real *dyp = sc;
    ptrdiff_t *a_row = (ptrdiff_t *)(sc + src_e), *a_k = (ptrdiff_t *)(sc + src_e + row_e);
    ptrdiff_t *k_off = (ptrdiff_t *)(sc + src_e + row_e + off_e);
    eb_real *ws = sc + src_e + row_e + 2 * off_e;
    for (int ci = 0; ci < M; ci++) a_row[ci] = (ptrdiff_t)ci * kh * kw; /* A[ci, (co, ti, tj)]: w in place */

    for (int s0 = 0; s0 < g->n; s0 += nb) { /* samples [s0, s0 + cnt): their bordered dy, one GEMM per phase */
        const int cnt = g->n - s0 < nb ? g->n - s0 : nb;
        const size_t planes = (size_t)cnt * co_n;
#pragma omp parallel num_threads(eb_cpu_threads(planes * plane, EB_CPU_PAR_CHEAP))
        {
            size_t lo, hi;
            eb_cpu_split(planes, &lo, &hi);
            for (size_t p = lo; p < hi; p++) {
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
                const int K = co_n * ta * tb;
                for (int co = 0; co < co_n; co++)
                    for (int ti = 0; ti < ta; ti++)
                        for (int tj = 0; tj < tb; tj++) {
                            const int kk = (co * ta + ti) * tb + tj;
                            a_k[kk] = ((ptrdiff_t)co * ci_n * kh + pa + s * ti) * kw + pb + s * tj;
                            k_off[kk] = (ptrdiff_t)co * (ptrdiff_t)plane + (ptrdiff_t)(pt - ti) * wd + (pl - tj);
                        }
                const int ih0 = rq_lo * s + pa - g->pad, iw0 = cq_lo * s + pb - g->pad;
                const conv_igemm q = {
                    .m = M, .k = K, .a = w, .a_row = a_row, .a_k = a_k,
                    .src = dyp + (size_t)rq_lo * wd + cq_lo, .k_off = k_off,
                    .n = cnt, .hc = rq_hi - rq_lo, .wc = cq_hi - cq_lo,
                    .src_n = (ptrdiff_t)co_n * (ptrdiff_t)plane, .src_u = wd,
                    .dst = dx + (size_t)s0 * ci_n * hwi + (size_t)ih0 * g->w_in + iw0,
                    .dst_n = (ptrdiff_t)ci_n * (ptrdiff_t)hwi, .dst_m = (ptrdiff_t)hwi,
                    .dst_u = (ptrdiff_t)s * g->w_in, .dst_v = s, .alpha = alpha, .beta = beta,
                };
                conv_igemm_run(&q, ws, threads);
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
eb_status eb_cpu_conv2d_backward_filter(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy,
                                        eb_real *dw, eb_real alpha, eb_real beta) {
    EB_TRY(conv_check("conv2d_backward_filter", g, x, dy, dw));
    if (eb_cpu_wino_fits(g, EB_WINO_FILTER)) return eb_cpu_wino_backward_filter(ctx, g, x, dy, dw, alpha, beta);
    const conv_phases f = conv_phases_of(g);
    const int K = g->c_in * g->k_h * g->k_w, M = g->c_out, mp = (int)round_up((size_t)M, EB_TILE_MR);
    const int kp = (int)round_up((size_t)K, EB_TILE_NR), strips = kp / EB_TILE_NR;
    const size_t hwo = (size_t)g->h_out * g->w_out, pixels = (size_t)g->n * hwo;
    const size_t sample_elems = (size_t)g->c_in * f.plane, c_elems = (size_t)mp * kp;
    if (sample_elems > (size_t)INT32_MAX) /* the gathers index a sample's taps with 32-bit offsets */
        return EB_FAIL(EB_ERR_ARG, "conv2d_backward_filter: one sample's bordered input has %zu elements (> 2^31)",
                       sample_elems);
    /* a chunk of p pixels touches at most p / hwo + 2 samples */
    size_t chunk = (size_t)16 << 10;
    const size_t fit = conv_copy_elems / sample_elems; /* samples whose copies fit the budget */
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
