/* The register tile of the CPU backend's GEMM (tile.h). Built with -ffp-contract=fast (CMakeLists.txt): the
 * product and sum of each step fuse into one rounding, as in OpenBLAS; no other file of the backend contracts. */
#include "tile.h"

#include <math.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

typedef eb_real eb_tile_vec __attribute__((vector_size(EB_TILE_VBYTES)));

/* The vector body over the first nv vectors of the tile (a constant where it is inlined): every lane runs
 * acc = fma(a, b, acc) in the order of k, whatever nv. */
static inline __attribute__((always_inline)) void tile_vec(int kc, const eb_real *restrict a,
                                                           const ptrdiff_t *restrict a_row,
                                                           const ptrdiff_t *restrict a_k, const eb_real *restrict b,
                                                           eb_real *restrict c, int ldc, int accumulate, const int nv) {
    const eb_real *ar[EB_TILE_MR];
    for (int i = 0; i < EB_TILE_MR; i++) ar[i] = a + a_row[i];
    eb_tile_vec acc[EB_TILE_MR][EB_TILE_NV];
    for (int i = 0; i < EB_TILE_MR; i++)
        for (int v = 0; v < nv; v++) acc[i][v] = (eb_tile_vec){0};
    for (int k = 0; k < kc; k++) {
        eb_tile_vec bv[EB_TILE_NV];
        const ptrdiff_t o = a_k[k];
        for (int v = 0; v < nv; v++) memcpy(&bv[v], b + (size_t)k * EB_TILE_NR + v * EB_TILE_VL, sizeof bv[v]);
        for (int i = 0; i < EB_TILE_MR; i++) {
            const eb_real s = ar[i][o];
            for (int v = 0; v < nv; v++) acc[i][v] += s * bv[v];
        }
    }
    for (int i = 0; i < EB_TILE_MR; i++) {
        for (int v = 0; v < nv; v++) {
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
 * fma), meant to give the vector body's bits on any CPU (not run on such a CPU yet); slow, and only taken on
 * x86 CPUs older than ~2013. */
static void tile_scalar(int kc, const eb_real *restrict a, const ptrdiff_t *restrict a_row,
                        const ptrdiff_t *restrict a_k, const eb_real *restrict b, eb_real *restrict c, int ldc,
                        int accumulate, int nv) {
    for (int i = 0; i < EB_TILE_MR; i++) {
        for (int j = 0; j < nv * EB_TILE_VL; j++) {
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

typedef void (*tile_fn)(int, const eb_real *, const ptrdiff_t *, const ptrdiff_t *, const eb_real *, eb_real *, int,
                        int, int);
/* One function per instruction set; the width nv (1 .. EB_TILE_NV vectors) picks a body compiled for it. */
#define TILE_WIDTHS(body, kc, a, a_row, a_k, b, c, ldc, accumulate, nv) \
    do { \
        if ((nv) >= EB_TILE_NV) body(kc, a, a_row, a_k, b, c, ldc, accumulate, EB_TILE_NV); \
        else if ((nv) == 2) body(kc, a, a_row, a_k, b, c, ldc, accumulate, 2); \
        else body(kc, a, a_row, a_k, b, c, ldc, accumulate, 1); \
    } while (0)
#if !(defined(__x86_64__) && defined(__GNUC__)) && (defined(__FMA__) || defined(__ARM_FEATURE_FMA))
static void tile_vector(int kc, const eb_real *a, const ptrdiff_t *a_row, const ptrdiff_t *a_k, const eb_real *b,
                        eb_real *c, int ldc, int accumulate, int nv) {
    TILE_WIDTHS(tile_vec, kc, a, a_row, a_k, b, c, ldc, accumulate, nv);
}
#endif
typedef void (*gather_fn)(int, const eb_real *, const ptrdiff_t *, const int32_t *, eb_real *);

#if defined(__x86_64__) && defined(__GNUC__)
/* One source, compiled for AVX-512 and for AVX2 + FMA; the vector width changes the speed, not the arithmetic
 * (test_cpu_tile runs all three bodies and compares their bits). */
__attribute__((target("avx512f,fma"))) static void tile_avx512(int kc, const eb_real *a, const ptrdiff_t *a_row,
                                                               const ptrdiff_t *a_k, const eb_real *b, eb_real *c,
                                                               int ldc, int accumulate, int nv) {
    TILE_WIDTHS(tile_vec, kc, a, a_row, a_k, b, c, ldc, accumulate, nv);
}
__attribute__((target("avx2,fma"))) static void tile_avx2(int kc, const eb_real *a, const ptrdiff_t *a_row,
                                                          const ptrdiff_t *a_k, const eb_real *b, eb_real *c,
                                                          int ldc, int accumulate, int nv) {
    TILE_WIDTHS(tile_vec, kc, a, a_row, a_k, b, c, ldc, accumulate, nv);
}
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
#endif

/* The implementation, picked on first use from what the CPU has (AVX-512, AVX2 + FMA, or the scalar fma chain).
 * EBGAN_CPU_ISA=avx2 | scalar asks for a narrower one (for the test that compares them; a wider one than the
 * CPU has is not taken). The choice is a pure function of the CPU and the environment, cached here once:
 * threads that race on the first call store the same pointers. */
typedef struct tile_impl {
    tile_fn tile;
    gather_fn gather;
    const char *name;
} tile_impl;

static tile_impl tile_pick(void) {
    tile_impl scalar = {tile_scalar, gather_plain, "scalar"};
#if defined(__x86_64__) && defined(__GNUC__)
    const char *want = getenv("EBGAN_CPU_ISA");
    __builtin_cpu_init();
    const int fma = __builtin_cpu_supports("fma"), avx2 = fma && __builtin_cpu_supports("avx2");
    const int avx512 = fma && __builtin_cpu_supports("avx512f");
    if (want && strcmp(want, "scalar") == 0) return scalar;
    if (avx512 && !(want && strcmp(want, "avx2") == 0)) return (tile_impl){tile_avx512, gather_avx512, "avx512"};
    if (avx2) return (tile_impl){tile_avx2, gather_avx2, "avx2"};
    return scalar;
#elif defined(__FMA__) || defined(__ARM_FEATURE_FMA)
    /* other targets built with FMA in the baseline (aarch64): the vector body contracts to fused steps */
    const char *want = getenv("EBGAN_CPU_ISA");
    if (want && strcmp(want, "scalar") == 0) return scalar;
    return (tile_impl){tile_vector, gather_plain, "vector"};
#else
    return scalar;
#endif
}

static const tile_impl *tile_get(void) {
    static tile_impl impl;
    static int ready;
    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        tile_impl t = tile_pick();
        __atomic_store_n(&impl.tile, t.tile, __ATOMIC_RELAXED);
        __atomic_store_n(&impl.gather, t.gather, __ATOMIC_RELAXED);
        __atomic_store_n(&impl.name, t.name, __ATOMIC_RELAXED);
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    return &impl;
}

void eb_cpu_tile_gemm(int kc, const eb_real *a, const ptrdiff_t *a_row, const ptrdiff_t *a_k, const eb_real *b,
                      eb_real *c, int ldc, int accumulate) {
    tile_get()->tile(kc, a, a_row, a_k, b, c, ldc, accumulate, EB_TILE_NV);
}

void eb_cpu_tile_gemm_cols(int cols, int kc, const eb_real *a, const ptrdiff_t *a_row, const ptrdiff_t *a_k,
                           const eb_real *b, eb_real *c, int ldc, int accumulate) {
    const int nv = cols <= 0 ? EB_TILE_NV : (cols + EB_TILE_VL - 1) / EB_TILE_VL;
    tile_get()->tile(kc, a, a_row, a_k, b, c, ldc, accumulate, nv < EB_TILE_NV ? nv : EB_TILE_NV);
}

void eb_cpu_tile_gather(int rows, const eb_real *src, const ptrdiff_t *row_off, const int32_t *col_off, eb_real *dst) {
    tile_get()->gather(rows, src, row_off, col_off, dst);
}

const char *eb_cpu_tile_isa(void) { return tile_get()->name; }
