/* Every tuning threshold and blocking constant of the CPU kernels, each with the reason for its value (the
 * measurements behind them: bench/PROFILE.md). Fixed numbers: results never depend on the machine or threads. */
#ifndef EBGAN_CPU_TUNING_H
#define EBGAN_CPU_TUNING_H

#include <stddef.h>

/* Some pick a path (Winograd or direct) or cut a sum into chunks (the filter gradients): a new value there gives
 * other bits, which the tests then see; the others pick threads and blocks only. */

/* ---- threads (cpu_parallel.h) ----
 * Below these many elements a loop stays on one thread: a fork / join of the pool costs a few microseconds,
 * about what 64K additions or 4K transcendental functions take on one core. */
enum { EB_CPU_PAR_CHEAP = 1 << 16, EB_CPU_PAR_COSTLY = 1 << 12 };
/* A convolution GEMM (direct or Winograd) below ~1M multiply-adds runs on one thread: a fork / join costs more. */
#define CONV_THREAD_WORK ((size_t)1 << 20)

/* ---- the direct implicit GEMMs (conv/direct_*.c) ----
 * Blocking (bench_cpu_conv on the presets' layers chose them): KC steps of the reduction per packed panel of the
 * forward / data-gradient GEMMs, KCF pixels per panel of the filter gradient's, NC columns of C per block (a
 * multiple of the tile's NR; 288 = 6 x 48 floats = 12 x 24 doubles). A B strip [KC, NR] is 24 KiB of floats (L1),
 * the B panel [KC, NC] 144 KiB and a C block of 512 rows 576 KiB (L2: 2 MiB per core on the machines measured). */
enum { CONV_KC = 128, CONV_KCF = 256, CONV_NC = 288 };
/* The zero-bordered copies of an op's input (or dy) are made for as many samples at a time as fit 8M elements
 * (32 MiB of floats), at least one: a MALA batch of 4096 chains does not need GiBs of scratch. */
#define CONV_COPY_ELEMS ((size_t)8 << 20)
/* The data gradient of a layer with few input channels (w^T dy, then col2im) runs on chunks of samples whose
 * column matrix holds at most 4M elements: the scratch stays bounded, as with CONV_COPY_ELEMS. */
#define CONV_COLS_ELEMS ((size_t)4 << 20)
/* The filter gradient cuts the pixels into chunks of 16K (fewer when their samples' bordered copies would pass
 * CONV_COPY_ELEMS), each chunk's sums its own C, added in chunk order: a size fixed by the geometry, never by the
 * thread count, so the order of the sums is too; and work enough per chunk for the threads to share its strips. */
#define CONV_FILTER_CHUNK ((size_t)16 << 10)
/* Runs of fewer than 8 columns (maps of 2x2 to 7x7) cost more to copy one by one than the tiles that use them.
 * The forward and data gradient of such maps (and the filter gradient, with c_in % 8 == 0) keep the sample
 * innermost instead, so that a GEMM's columns run over the batch (direct_ops.c; with the border bands the mnist
 * trunk's 7x7 and 4x4 ops ran 1.3-2.2x faster than through the gathers, bench/PROFILE.md); the gathers, a row of
 * NR at a time, remain for the layers that take neither
 * (a stride-1 unpadded layer, a data gradient with wide phases but a narrow output). */
enum { CONV_GATHER_BELOW = 8 };

/* A direct convolution splits its outputs into border bands (direct.h) when that leaves at most this share of
 * the window's multiply-adds: each band is a GEMM of its own, with fewer columns and one more fork / join. On the
 * mnist trunk (bench_cpu_conv, one thread) the 14x14, 7x7 and 4x4 inputs (84%, 64% and 49% of the taps inside)
 * gain 10-15%, 15-30% and 25-50% per op; the 28x28 input (92%) is left whole. */
#define CONV_BAND_SHARE 0.9

/* ---- the Winograd convolutions (conv/wino_*.c) ----
 * GEMM blocking: KC reduction steps per B panel of the forward / data GEMMs (24 KiB of floats, L1), KCF tiles per
 * panel of the filter gradient's, whose A rows stream through L1 as well (2 x 12 KiB); the forward's rows of V in
 * blocks of MB, so a block of V (<= 32 x C, L1 / L2) meets every strip of U before the next is read. */
enum { WINO_KC = 128, WINO_KCF = 64, WINO_MB = 32 };
/* The filter gradient transforms x and dy for as many samples at a time as keep their V and dM within 4M
 * elements (16 MiB of floats, L3 while the GEMMs read them back), at least one. Each chunk is two fork / joins of
 * the threads, and a join where the waiting thread sleeps (OMP_WAIT_POLICY=passive) costs tens of microseconds:
 * smaller chunks pay that too often, much larger ones fall out of L3. */
#define WINO_CHUNK_ELEMS ((size_t)1 << 22)
/* A job's block of tiles: when U fits L2 (<= 1 MiB), as many tiles as keep the block's V and M in ~768 KiB too;
 * a larger U streams from L3 once per block, whose size then pays for it (192 tiles: 4 bytes of U per 192
 * multiply-adds). The adjoint data gradient's blocks of whole samples keep dM and dV in the same 768 KiB. */
#define WINO_U_L2_BYTES ((size_t)1 << 20)
#define WINO_BLOCK_BYTES ((size_t)768 << 10)
enum { WINO_BLOCK_TILES = 192 };
/* Which layers take Winograd (eb_cpu_wino_fits), from its gain in multiply-adds over the direct sum, the GEMMs'
 * padding counted; set per op on the cifar layers (bench_cpu_conv, one thread; bench/PROFILE.md). The forward
 * wins from 1.15x fewer multiply-adds (the direct path's phase split and packing are dear); the data gradient,
 * whose c_out reduction channels are transformed per phase, only from 1.4x; the filter gradient from 1.15x when
 * its B side has at least 128 reduction channels (its transforms weigh 1 / c' per tile: with fewer they cost more
 * than the multiply-adds saved). Below 16 reduction channels, 8 output channels or 4x4 outputs the transforms
 * cannot pay. */
#define WINO_GAIN 1.15
#define WINO_GAIN_DATA 1.4
enum { WINO_FILTER_MIN_REDUCTION = 128, WINO_MIN_REDUCTION = 16, WINO_MIN_C_OUT = 8, WINO_MIN_MAP = 4 };
/* The data gradient runs as the forward's adjoint rather than per input phase only when that saves 10% of the
 * multiply-adds or more: a margin, so layers near the break-even keep the per-phase jobs. */
#define WINO_ADJOINT_SHARE 0.9

#endif
