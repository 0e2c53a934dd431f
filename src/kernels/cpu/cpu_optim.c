/* CPU reference of the optimiser updates over one flat parameter buffer (all of a net's parameters).
 * Adam follows torch.optim.Adam (no weight decay, no amsgrad); lr and bias corrections come from
 * optim_hyper (the schedule evaluated on the backend, so a replayed CUDA graph follows it). */
#include "cpu_ops.h"

#include "cpu_parallel.h"
#include <math.h>

eb_status eb_cpu_optim_hyper(void *ctx, eb_real *hyper, const eb_optim_sched *s) {
    (void)ctx;
    const int64_t step = s->clock ? *s->clock : 0;
    const double t = (double)(step * s->t_mul + s->t_add);
    if (!(t >= 1)) return EB_FAIL(EB_ERR_ARG, "optim_hyper: update number %g must be >= 1", t);
    const double lr = s->decay_iters > 0 ? s->lr * (1.0 - (double)step / (double)s->decay_iters) : s->lr;
    hyper[0] = (eb_real)lr;
    hyper[1] = (eb_real)(1.0 - pow(s->beta1, t));
    hyper[2] = (eb_real)(1.0 - pow(s->beta2, t));
    return EB_OK;
}

eb_status eb_cpu_adam_update(void *ctx, eb_real *p, const eb_real *g, eb_real *m, eb_real *v, size_t n,
                             const eb_real *hyper, eb_real b1, eb_real b2, eb_real eps) {
    (void)ctx;
    const eb_real lr = hyper[0], bc1 = hyper[1], bc2 = hyper[2];
    if (!(bc1 > 0) || !(bc2 > 0))
        return EB_FAIL(EB_ERR_ARG, "adam_update: bias corrections must be > 0 (bc1=%g, bc2=%g)", (double)bc1,
                       (double)bc2);
    /* PyTorch: denom = sqrt(v) / sqrt(bc2) + eps; p -= (lr / bc1) * m / denom */
    const double step = (double)lr / (double)bc1, sqrt_bc2 = sqrt((double)bc2);
    const double db1 = (double)b1, db2 = (double)b2;
    /* elements are independent: split over the threads (a few ns each: sqrt and a division in double) */
#pragma omp parallel num_threads(eb_cpu_threads(n, EB_CPU_PAR_COSTLY))
    {
        size_t lo, hi;
        eb_cpu_split(n, &lo, &hi);
        for (size_t i = lo; i < hi; i++) {
            const double gi = (double)g[i];
            const eb_real mi = (eb_real)(db1 * (double)m[i] + (1.0 - db1) * gi);
            const eb_real vi = (eb_real)(db2 * (double)v[i] + (1.0 - db2) * gi * gi);
            m[i] = mi;
            v[i] = vi;
            const double denom = sqrt((double)vi) / sqrt_bc2 + (double)eps;
            p[i] = (eb_real)((double)p[i] - step * (double)mi / denom);
        }
    }
    return EB_OK;
}

eb_status eb_cpu_sgd_update(void *ctx, eb_real *p, const eb_real *g, size_t n, const eb_real *hyper) {
    (void)ctx;
    const eb_real lr = hyper[0];
    for (size_t i = 0; i < n; i++) p[i] -= lr * g[i];
    return EB_OK;
}
