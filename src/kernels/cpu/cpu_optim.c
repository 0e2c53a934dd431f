/* CPU reference of the optimiser updates over one flat parameter buffer (all of a net's parameters).
 * Adam follows torch.optim.Adam (no weight decay, no amsgrad); bias corrections come from the caller. */
#include "cpu_ops.h"

#include <math.h>

eb_status eb_cpu_adam_update(void *ctx, eb_real *p, const eb_real *g, eb_real *m, eb_real *v, size_t n,
                             eb_real lr, eb_real b1, eb_real b2, eb_real eps, eb_real bc1, eb_real bc2) {
    (void)ctx;
    if (!(bc1 > 0) || !(bc2 > 0))
        return EB_FAIL(EB_ERR_ARG, "adam_update: bias corrections must be > 0 (bc1=%g, bc2=%g)", (double)bc1,
                       (double)bc2);
    /* PyTorch: denom = sqrt(v) / sqrt(bc2) + eps; p -= (lr / bc1) * m / denom */
    const double step = (double)lr / (double)bc1, sqrt_bc2 = sqrt((double)bc2);
    const double db1 = (double)b1, db2 = (double)b2;
    for (size_t i = 0; i < n; i++) {
        const double gi = (double)g[i];
        const eb_real mi = (eb_real)(db1 * (double)m[i] + (1.0 - db1) * gi);
        const eb_real vi = (eb_real)(db2 * (double)v[i] + (1.0 - db2) * gi * gi);
        m[i] = mi;
        v[i] = vi;
        const double denom = sqrt((double)vi) / sqrt_bc2 + (double)eps;
        p[i] = (eb_real)((double)p[i] - step * (double)mi / denom);
    }
    return EB_OK;
}

eb_status eb_cpu_sgd_update(void *ctx, eb_real *p, const eb_real *g, size_t n, eb_real lr) {
    (void)ctx;
    for (size_t i = 0; i < n; i++) p[i] -= lr * g[i];
    return EB_OK;
}
