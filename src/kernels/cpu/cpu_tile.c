/* The register tile of the CPU backend's GEMM (cpu_tile.h). Built with -ffp-contract=fast (CMakeLists.txt): the
 * product and sum of each step fuse into one rounding, as in OpenBLAS; no other file of the backend contracts. */
#include "cpu_tile.h"

#include <math.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <string.h>

typedef eb_real eb_tile_vec __attribute__((vector_size(EB_TILE_VBYTES)));

/* The vector body: every lane runs acc = fma(a, b, acc) in the order of k. */
static inline __attribute__((always_inline)) void tile_vec(int kc, const eb_real *restrict a,
                                                           const ptrdiff_t *restrict a_row,
                                                           const ptrdiff_t *restrict a_k, const eb_real *restrict b,
                                                           eb_real *restrict c, int ldc, int accumulate) {
    const eb_real *ar[EB_TILE_MR];
    for (int i = 0; i < EB_TILE_MR; i++) ar[i] = a + a_row[i];
    eb_tile_vec acc[EB_TILE_MR][EB_TILE_NV];
    for (int i = 0; i < EB_TILE_MR; i++)
        for (int v = 0; v < EB_TILE_NV; v++) acc[i][v] = (eb_tile_vec){0};
    for (int k = 0; k < kc; k++) {
        eb_tile_vec bv[EB_TILE_NV];
        const ptrdiff_t o = a_k[k];
        for (int v = 0; v < EB_TILE_NV; v++) memcpy(&bv[v], b + (size_t)k * EB_TILE_NR + v * EB_TILE_VL, sizeof bv[v]);
        for (int i = 0; i < EB_TILE_MR; i++) {
            const eb_real s = ar[i][o];
            for (int v = 0; v < EB_TILE_NV; v++) acc[i][v] += s * bv[v];
        }
    }
    for (int i = 0; i < EB_TILE_MR; i++) {
        for (int v = 0; v < EB_TILE_NV; v++) {
            eb_real *dst = c + (size_t)i * ldc + v * EB_TILE_VL;
            eb_tile_vec t = acc[i][v];
            if (accumulate) {
                eb_tile_vec old;
                memcpy(&old, dst, sizeof old);
                t = old + t;
            }
            memcpy(dst, &t, sizeof t);
        }
    }
}

#ifdef EB_REAL_F64
#define TILE_FMA fma
#else
#define TILE_FMA fmaf
#endif

/* Without FMA hardware: the same chain of correctly rounded fused multiply-adds, one element at a time (libm's
 * fma), so the results are the same bits on every CPU; slow, and only taken on CPUs older than ~2013. */
static void tile_scalar(int kc, const eb_real *restrict a, const ptrdiff_t *restrict a_row,
                        const ptrdiff_t *restrict a_k, const eb_real *restrict b, eb_real *restrict c, int ldc,
                        int accumulate) {
    for (int i = 0; i < EB_TILE_MR; i++) {
        for (int j = 0; j < EB_TILE_NR; j++) {
            eb_real acc = 0;
            for (int k = 0; k < kc; k++) acc = TILE_FMA(a[a_row[i] + a_k[k]], b[(size_t)k * EB_TILE_NR + j], acc);
            c[(size_t)i * ldc + j] = accumulate ? c[(size_t)i * ldc + j] + acc : acc;
        }
    }
}

static inline __attribute__((always_inline)) void gather_body(int rows, const eb_real *restrict src,
                                                               const ptrdiff_t *restrict row_off,
                                                               const int32_t *restrict col_off,
                                                               eb_real *restrict dst) {
    for (int r = 0; r < rows; r++) {
        const eb_real *s = src + row_off[r];
        eb_real *d = dst + (size_t)r * EB_TILE_NR;
        for (int j = 0; j < EB_TILE_NR; j++) d[j] = s[col_off[j]];
    }
}
static void gather_plain(int rows, const eb_real *src, const ptrdiff_t *row_off, const int32_t *col_off, eb_real *dst) {
    gather_body(rows, src, row_off, col_off, dst);
}

typedef void (*tile_fn)(int, const eb_real *, const ptrdiff_t *, const ptrdiff_t *, const eb_real *, eb_real *, int, int);
typedef void (*gather_fn)(int, const eb_real *, const ptrdiff_t *, const int32_t *, eb_real *);

#if defined(__x86_64__) && defined(__GNUC__)
/* One source, compiled for AVX-512 and for AVX2 + FMA, chosen once when the library loads (an ifunc, as GCC's
 * target_clones does): the vector width changes the speed, not the arithmetic. */
__attribute__((target("avx512f,fma"))) static void tile_avx512(int kc, const eb_real *a, const ptrdiff_t *a_row,
                                                               const ptrdiff_t *a_k, const eb_real *b, eb_real *c,
                                                               int ldc, int accumulate) {
    tile_vec(kc, a, a_row, a_k, b, c, ldc, accumulate);
}
__attribute__((target("avx2,fma"))) static void tile_avx2(int kc, const eb_real *a, const ptrdiff_t *a_row,
                                                               const ptrdiff_t *a_k, const eb_real *b, eb_real *c,
                                                               int ldc, int accumulate) {
    tile_vec(kc, a, a_row, a_k, b, c, ldc, accumulate);
}
/* The resolvers run while the dynamic loader relocates, before any sanitizer runtime is up: not instrumented. */
#define TILE_RESOLVER __attribute__((no_sanitize("address", "undefined", "thread")))
TILE_RESOLVER static tile_fn tile_resolve(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) return tile_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return tile_avx2;
    return tile_scalar;
}
void eb_cpu_tile_gemm(int kc, const eb_real *a, const ptrdiff_t *a_row, const ptrdiff_t *a_k, const eb_real *b,
                      eb_real *c, int ldc, int accumulate) __attribute__((ifunc("tile_resolve")));
/* GCC's generic tuning does not emit gathers for the loop; the AVX-512 gather instructions, 16 floats / 8
 * doubles each, written out. */
__attribute__((target("avx512f"))) static void gather_avx512(int rows, const eb_real *src, const ptrdiff_t *row_off,
                                                             const int32_t *col_off, eb_real *dst) {
#ifdef EB_REAL_F64
    __m256i idx[EB_TILE_NR / 8];
    for (int v = 0; v < EB_TILE_NR / 8; v++) idx[v] = _mm256_loadu_si256((const __m256i *)(col_off + 8 * v));
    for (int r = 0; r < rows; r++) {
        const double *s = src + row_off[r];
        for (int v = 0; v < EB_TILE_NR / 8; v++)
            _mm512_storeu_pd(dst + (size_t)r * EB_TILE_NR + 8 * v, _mm512_i32gather_pd(idx[v], s, 8));
    }
#else
    __m512i idx[EB_TILE_NR / 16];
    for (int v = 0; v < EB_TILE_NR / 16; v++) idx[v] = _mm512_loadu_si512((const void *)(col_off + 16 * v));
    for (int r = 0; r < rows; r++) {
        const float *s = src + row_off[r];
        for (int v = 0; v < EB_TILE_NR / 16; v++)
            _mm512_storeu_ps(dst + (size_t)r * EB_TILE_NR + 16 * v, _mm512_i32gather_ps(idx[v], s, 4));
    }
#endif
}
__attribute__((target("avx2"))) static void gather_avx2(int rows, const eb_real *src, const ptrdiff_t *row_off,
                                                        const int32_t *col_off, eb_real *dst) {
    gather_body(rows, src, row_off, col_off, dst);
}
TILE_RESOLVER static gather_fn gather_resolve(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return gather_avx512;
    if (__builtin_cpu_supports("avx2")) return gather_avx2;
    return gather_plain;
}
void eb_cpu_tile_gather(int rows, const eb_real *src, const ptrdiff_t *row_off, const int32_t *col_off, eb_real *dst)
    __attribute__((ifunc("gather_resolve")));
#elif defined(__FMA__) || defined(__ARM_FEATURE_FMA)
/* Other targets built with FMA in the baseline (aarch64): the vector body contracts to fused steps. */
void eb_cpu_tile_gemm(int kc, const eb_real *a, const ptrdiff_t *a_row, const ptrdiff_t *a_k, const eb_real *b,
                      eb_real *c, int ldc, int accumulate) {
    tile_vec(kc, a, a_row, a_k, b, c, ldc, accumulate);
}
void eb_cpu_tile_gather(int rows, const eb_real *src, const ptrdiff_t *row_off, const int32_t *col_off, eb_real *dst) {
    gather_plain(rows, src, row_off, col_off, dst);
}
#else
void eb_cpu_tile_gemm(int kc, const eb_real *a, const ptrdiff_t *a_row, const ptrdiff_t *a_k, const eb_real *b,
                      eb_real *c, int ldc, int accumulate) {
    tile_scalar(kc, a, a_row, a_k, b, c, ldc, accumulate);
}
void eb_cpu_tile_gather(int rows, const eb_real *src, const ptrdiff_t *row_off, const int32_t *col_off, eb_real *dst) {
    gather_plain(rows, src, row_off, col_off, dst);
}
#endif
