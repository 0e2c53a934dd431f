/* One row-major GEMM in the precision of eb_real (sgemm in the product, dgemm in the f64 oracle), shared
 * by the dense and convolution ops. BLAS semantics: beta == 0 overwrites C without reading it. */
#ifndef EBGAN_CPU_GEMM_H
#define EBGAN_CPU_GEMM_H

#include <cblas.h>

#include "ebgan/real.h"

static inline void eb_cpu_gemm(enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m, int n, int k,
                               eb_real alpha, const eb_real *a, int lda, const eb_real *b, int ldb, eb_real beta,
                               eb_real *c, int ldc) {
#ifdef EB_REAL_F64
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

#endif
