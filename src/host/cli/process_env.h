/* The environment a program of this project settles before its work: the OpenBLAS core type chosen from the
 * CPU's features (blas_core.h), set by running the program again, since OpenBLAS reads it only as it loads.
 * Header-only: ebgan-gpu's main and the benchmarks in bench/ include it. */
#ifndef EBGAN_CLI_PROCESS_ENV_H
#define EBGAN_CLI_PROCESS_ENV_H

#include <stdlib.h>
#include <unistd.h>

#include "ebgan/blas_core.h"

/* Sets OPENBLAS_CORETYPE when eb_blas_core_wanted() names a core; 1 when it did, and the caller must then
 * re-execute itself (eb_process_env_reexec) for the loaded OpenBLAS to take it. */
static inline int eb_process_env_blas_core(void) {
    const char *core = eb_blas_core_wanted();
    return core && setenv("OPENBLAS_CORETYPE", core, 1) == 0;
}

/* Runs this program again with the same pid and arguments under the environment set so far; returns only
 * when that fails (the process then carries on as it is: slower, not wrong). */
static inline void eb_process_env_reexec(char **argv) { execv("/proc/self/exe", argv); }

#endif
