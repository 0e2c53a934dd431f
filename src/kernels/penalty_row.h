/* The gradient penalty's per-sample formula, shared by the CPU reference and the CUDA kernel so that the two
 * backends cannot drift apart: one row's squared input-gradient norm in, its penalty term and seed scale out. */
#ifndef EBGAN_KERNELS_PENALTY_ROW_H
#define EBGAN_KERNELS_PENALTY_ROW_H

#include <math.h>

#ifdef __CUDACC__
#define EB_HOST_DEVICE __host__ __device__
#else
#define EB_HOST_DEVICE
#endif

/* Row r with sq = ||g_r||²: adds the row's penalty to *p and returns coef with gbar_r = coef * g_r (the seed of
 * the double backprop, DESIGN.md §2). score: ||g||², coef 2 lam_b; wgan-gp: (||g|| - 1)², and at g_r = 0, where
 * the norm is not differentiable, the documented choice gbar_r = 0 (ops.h). */
EB_HOST_DEVICE static inline double eb_penalty_row(int score, double sq, double lam_b, double *p) {
    if (score) {
        *p += sq;
        return 2.0 * lam_b;
    }
    const double norm = sqrt(sq);
    *p += (norm - 1.0) * (norm - 1.0);
    return norm > 0.0 ? 2.0 * lam_b * (norm - 1.0) / norm : 0.0;
}

#endif
