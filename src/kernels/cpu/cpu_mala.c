/* CPU reference of the fused MALA step (DESIGN.md §3): the Langevin proposal and the Metropolis-Hastings
 * accept/reject with the exact proposal density (squared norm / 4 alpha), sums in double. */
#include "cpu_ops.h"

#include <math.h>
#include <string.h>

#include "ebgan/rng.h"

eb_status eb_cpu_mala_propose(void *ctx, const eb_real *z, const eb_real *grad, eb_real *z_prop, size_t n,
                              size_t dim, eb_real alpha, eb_rng_pos pos) {
    (void)ctx;
    const uint64_t seed = pos.seed, base = eb_cpu_rng_base(pos);
    if (!(alpha > 0)) return EB_FAIL(EB_ERR_ARG, "mala_propose: step size alpha must be > 0, got %g", (double)alpha);
    const double s = sqrt(2.0 * (double)alpha);
    for (size_t c = 0; c < n; c++)
        for (size_t j = 0; j < dim; j++) {
            size_t i = c * dim + j;
            double xi = eb_rng_normal_at(seed, base + c * (dim + 1) + j);
            z_prop[i] = (eb_real)((double)z[i] - (double)alpha * (double)grad[i] + s * xi);
        }
    return EB_OK;
}

eb_status eb_cpu_mala_accept(void *ctx, eb_real *z, eb_real *e, eb_real *g, const eb_real *z_prop,
                             const eb_real *e_prop, const eb_real *g_prop, size_t n, size_t dim, eb_real alpha,
                             int ula, eb_rng_pos pos, eb_real *accepted) {
    (void)ctx;
    const uint64_t seed = pos.seed, base = eb_cpu_rng_base(pos);
    if (!(alpha > 0)) return EB_FAIL(EB_ERR_ARG, "mala_accept: step size alpha must be > 0, got %g", (double)alpha);
    const double a = (double)alpha;
    for (size_t c = 0; c < n; c++) {
        const eb_real *zc = z + c * dim, *pc = z_prop + c * dim, *gc = g + c * dim, *gp = g_prop + c * dim;
        int take = 1;
        if (!ula) {
            double fwd = 0, bwd = 0; /* ||z' - z + a g(z)||^2 and ||z - z' + a g(z')||^2 */
            for (size_t j = 0; j < dim; j++) {
                double f = (double)pc[j] - (double)zc[j] + a * (double)gc[j];
                double b = (double)zc[j] - (double)pc[j] + a * (double)gp[j];
                fwd += f * f;
                bwd += b * b;
            }
            double log_gamma = -(double)e_prop[c] + (double)e[c] + (fwd - bwd) / (4 * a);
            double u = eb_rng_uniform_at(seed, base + c * (dim + 1) + dim);
            /* log u < min(0, log gamma), written so that a NaN log gamma (a NaN or inf - inf energy)
             * rejects: fmin(0, NaN) would be 0 and accept it */
            take = log_gamma >= 0 ? log(u) < 0 : log(u) < log_gamma;
        }
        if (!take) continue;
        memcpy(z + c * dim, pc, dim * sizeof(eb_real));
        memcpy(g + c * dim, gp, dim * sizeof(eb_real));
        e[c] = e_prop[c];
        if (accepted) accepted[c] += 1;
    }
    return EB_OK;
}
