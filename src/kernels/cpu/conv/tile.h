/* The register tile of the CPU backend's own GEMM, the engine of the convolutions (direct_*.c, wino_*.c):
 * C[MR][NR] (+)= A[kc][MR] * B[kc][NR] over packed panels, vectorised along NR, in the precision of eb_real. */
#ifndef EBGAN_CPU_TILE_H
#define EBGAN_CPU_TILE_H

#include "ebgan/real.h"

#include <stddef.h>
#include <stdint.h>

/* One vector is 64 bytes (an AVX-512 register; two or four narrower ones elsewhere): 16 floats or 8 doubles.
 * The tile is 8 rows (channel counts are multiples of 8) by 3 vectors: 24 accumulators, 3 loads of B, 8
 * broadcasts of A and one offset per 24 fused multiply-adds, which keeps both FMA ports busy from L1 / L2. */
#define EB_TILE_VBYTES 64
#define EB_TILE_VL ((int)(EB_TILE_VBYTES / sizeof(eb_real)))
#define EB_TILE_MR 8
#define EB_TILE_NV 3
#define EB_TILE_NR (EB_TILE_NV * EB_TILE_VL)

/* c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + sum_k a[a_row[i] + a_k[k]] * b[k * NR + j], i < MR,
 * j < NR: each sum in the order of k, one rounding per step (a fused multiply-add, as in any BLAS). A is read in
 * place through its offsets (weights in OIHW, dy in NCHW: no packed copy per call); B is a packed panel
 * [kc][NR]. kc may be 0. */
void eb_cpu_tile_gemm(int kc, const eb_real *a, const ptrdiff_t *a_row, const ptrdiff_t *a_k, const eb_real *b,
                      eb_real *c, int ldc, int accumulate);

/* The same for the first `cols` columns of the tile only (1 .. NR, rounded up to whole vectors; the columns past
 * them are neither read nor written): the last, partly filled strip of a GEMM (64 columns are a strip and a
 * third) costs the vectors it fills, not a whole strip. Each column's bits are those of eb_cpu_tile_gemm. */
void eb_cpu_tile_gemm_cols(int cols, int kc, const eb_real *a, const ptrdiff_t *a_row, const ptrdiff_t *a_k,
                           const eb_real *b, eb_real *c, int ldc, int accumulate);

/* dst[r * NR + j] = src[row_off[r] + col_off[j]], r < rows, j < NR: a B panel gathered row by row (the filter
 * gradient's: the NR taps of each pixel), with the vector gathers of the CPU where it has them. */
void eb_cpu_tile_gather(int rows, const eb_real *src, const ptrdiff_t *row_off, const int32_t *col_off, eb_real *dst);

/* The instruction set the tile and the gathers run on: "avx512", "avx2", "vector" (a non-x86 FMA target) or
 * "scalar" (chosen on first use; EBGAN_CPU_ISA=avx2 | scalar asks for a narrower one). */
const char *eb_cpu_tile_isa(void);

#endif
