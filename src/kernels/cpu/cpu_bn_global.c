/* CPU reference of synchronised batch norm's pieces: per-channel sums, and the training forward and backward
 * from statistics of the whole (multi-rank) batch. With one rank they equal cpu_batchnorm.c's ops. */
#include "cpu_ops.h"

#include <math.h>

#define BN_AT(ptr, i, ch, p) ((ptr)[((size_t)(i) * (size_t)c + (size_t)(ch)) * (size_t)hw + (size_t)(p)])

static eb_status check(const char *op, int n, int c, int hw) {
    if (n <= 0 || c <= 0 || hw <= 0) return EB_FAIL(EB_ERR_ARG, "%s: bad shape n=%d c=%d hw=%d", op, n, c, hw);
    return EB_OK;
}

eb_status eb_cpu_bn_channel_sums(void *ctx, const eb_real *x, const eb_real *center, eb_real *out, int n, int c,
                                 int hw) {
    (void)ctx;
    EB_TRY(check("bn_channel_sums", n, c, hw));
    for (int ch = 0; ch < c; ch++) {
        double s = 0.0;
        const double m = center ? (double)center[ch] : 0.0;
        for (int i = 0; i < n; i++)
            for (int p = 0; p < hw; p++) {
                const double v = (double)BN_AT(x, i, ch, p);
                s += center ? (v - m) * (v - m) : v;
            }
        out[ch] = (eb_real)s;
    }
    return EB_OK;
}

eb_status eb_cpu_bn_forward_global(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta,
                                   eb_real *y, const eb_real *mean, const eb_real *sumsq, double count,
                                   eb_real *save_invstd, eb_real *run_mean, eb_real *run_var, eb_real momentum,
                                   eb_real eps, int n, int c, int hw) {
    (void)ctx;
    EB_TRY(check("bn_forward_global", n, c, hw));
    if (count < 2) return EB_FAIL(EB_ERR_ARG, "bn_forward_global: need more than 1 value per channel (count %g)", count);
    for (int ch = 0; ch < c; ch++) {
        const double mu = (double)mean[ch], ss = (double)sumsq[ch];
        const double invstd = 1.0 / sqrt(ss / count + (double)eps);
        const double g = gamma ? (double)gamma[ch] : 1.0, b = beta ? (double)beta[ch] : 0.0;
        for (int i = 0; i < n; i++)
            for (int p = 0; p < hw; p++)
                BN_AT(y, i, ch, p) = (eb_real)(g * ((double)BN_AT(x, i, ch, p) - mu) * invstd + b);
        save_invstd[ch] = (eb_real)invstd;
        const double mom = (double)momentum;
        if (run_mean) run_mean[ch] = (eb_real)((1.0 - mom) * (double)run_mean[ch] + mom * mu);
        if (run_var) run_var[ch] = (eb_real)((1.0 - mom) * (double)run_var[ch] + mom * ss / (count - 1.0));
    }
    return EB_OK;
}

eb_status eb_cpu_bn_backward_global(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma,
                                    const eb_real *save_mean, const eb_real *save_invstd, const eb_real *sums,
                                    double count, eb_real *dx, int n, int c, int hw) {
    (void)ctx;
    EB_TRY(check("bn_backward_global", n, c, hw));
    for (int ch = 0; ch < c; ch++) {
        const double mean = (double)save_mean[ch], invstd = (double)save_invstd[ch];
        const double k = (gamma ? (double)gamma[ch] : 1.0) * invstd;
        const double mvx = (double)sums[ch] / count, mv = (double)sums[c + ch] / count;
        for (int i = 0; i < n; i++)
            for (int p = 0; p < hw; p++) {
                const double xhat = ((double)BN_AT(x, i, ch, p) - mean) * invstd;
                BN_AT(dx, i, ch, p) = (eb_real)(k * ((double)BN_AT(dy, i, ch, p) - mv - xhat * mvx));
            }
    }
    return EB_OK;
}
