/* Loops of data movement compiled for AVX-512 and AVX2 as well as the baseline, picked at load time (GCC's
 * target_clones): the copies and transforms around the convolutions' GEMMs; their values do not change. */
#ifndef EBGAN_CPU_CONV_CLONES_H
#define EBGAN_CPU_CONV_CLONES_H

/* The rule every clone keeps: GCC 12 can leave the upper vector state dirty (no vzeroupper) on leaving the OpenMP
 * child of a target_clones function and on a clone's tail call into a baseline function; every legacy-SSE
 * instruction after that runs many times slower (AVX/SSE transitions, docs/CPU_KERNELS.md). So no clone holds
 * a parallel region and no clone ends in a call (a helper it ends with is always_inline);
 * tests/py/test_vector_state.py reads every exit of the built code. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define EB_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EB_CPU_CLONES
#endif

#endif
