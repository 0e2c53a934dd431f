/* How the CPU kernels split work over OpenMP threads (the pool OpenBLAS's GEMMs run on too): a static split
 * of independent elements or samples, so every value is computed the same way on any thread count. */
#ifndef EBGAN_CPU_PARALLEL_H
#define EBGAN_CPU_PARALLEL_H

#include <stddef.h>

#include "cpu_tuning.h" /* EB_CPU_PAR_CHEAP, EB_CPU_PAR_COSTLY: when a loop takes the threads */
#ifdef _OPENMP
#include <omp.h>
#endif


/* The current thread's share [*lo, *hi) of [0, n) inside a parallel region (all of it outside one). */
static inline void eb_cpu_split(size_t n, size_t *lo, size_t *hi) {
#ifdef _OPENMP
    const size_t t = (size_t)omp_get_thread_num(), nt = (size_t)omp_get_num_threads();
#else
    const size_t t = 0, nt = 1;
#endif
    *lo = n * t / nt;
    *hi = n * (t + 1) / nt;
}

/* Threads a parallel region over n independent items may use (1 when n < min_items). */
static inline int eb_cpu_threads(size_t n, size_t min_items) {
#ifdef _OPENMP
    return n >= min_items ? omp_get_max_threads() : 1;
#else
    (void)n;
    (void)min_items;
    return 1;
#endif
}

/* The calling thread's index in the enclosing region (0 outside one). */
static inline int eb_cpu_thread(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

#endif
