/* CPU reference of batch norm over the channels of x[n, c, hw] (hw = 1 for dense layers), with PyTorch
 * semantics: biased batch variance normalises, the unbiased one enters running_var; sums in double. */
#include "cpu_ops.h"

#include "cpu_parallel.h"
#include <math.h>

/* The channels are independent: each is one task of a static split over the threads, its sums in one order
 * fixed by the shape. A channel's sums run in 8 partial sums by pixel index mod 8, added pairwise at the end: 8
 * independent chains of double additions (vectorised) instead of one that waits 4 cycles per element. */
#define BN_THREADS(n, c, hw) eb_cpu_threads((size_t)(n) * (size_t)(c) * (size_t)(hw), EB_CPU_PAR_CHEAP)

static double bn_pairwise8(const double *part) {
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

/* Element (i, ch, p) of an [n, c, hw] tensor. */
#define BN_AT(ptr, i, ch, p) ((ptr)[((size_t)(i) * (size_t)c + (size_t)(ch)) * (size_t)hw + (size_t)(p)])

static eb_status bn_check(const char *op, int n, int c, int hw) {
    if (n <= 0 || c <= 0 || hw <= 0)
        return EB_FAIL(EB_ERR_ARG, "%s: bad shape n=%d c=%d hw=%d", op, n, c, hw);
    return EB_OK;
}

/* acc = v + beta_acc * acc, overwriting when beta_acc == 0 (acc may hold garbage). */
static eb_real bn_accumulate(double v, eb_real beta_acc, eb_real acc) {
    return (eb_real)(beta_acc != 0 ? v + (double)beta_acc * (double)acc : v);
}

eb_status eb_cpu_bn_forward_train(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta,
                                  eb_real *y, eb_real *save_mean, eb_real *save_invstd,
                                  eb_real *run_mean, eb_real *run_var, eb_real momentum, eb_real eps,
                                  int n, int c, int hw) {
    (void)ctx;
    EB_TRY(bn_check("bn_forward_train", n, c, hw));
    const double m = (double)n * (double)hw;
    if (m < 2) /* the unbiased variance of one value is undefined (PyTorch refuses too) */
        return EB_FAIL(EB_ERR_ARG, "bn_forward_train: need more than 1 value per channel (n=%d, hw=%d)", n, hw);
#pragma omp parallel for schedule(static) num_threads(BN_THREADS(n, c, hw))
    for (int ch = 0; ch < c; ch++) {
        const int hw8 = hw / 8 * 8;
        double part[8] = {0};
        for (int i = 0; i < n; i++) {
            const eb_real *r = &BN_AT(x, i, ch, 0);
            for (int p = 0; p < hw8; p += 8)
                for (int j = 0; j < 8; j++) part[j] += (double)r[p + j];
            for (int p = hw8; p < hw; p++) part[p - hw8] += (double)r[p];
        }
        const double mean = bn_pairwise8(part) / m;
        double sq[8] = {0}; /* two-pass variance: no cancellation for large means */
        for (int i = 0; i < n; i++) {
            const eb_real *r = &BN_AT(x, i, ch, 0);
            for (int p = 0; p < hw8; p += 8)
                for (int j = 0; j < 8; j++) {
                    const double d = (double)r[p + j] - mean;
                    sq[j] += d * d;
                }
            for (int p = hw8; p < hw; p++) {
                const double d = (double)r[p] - mean;
                sq[p - hw8] += d * d;
            }
        }
        const double ss = bn_pairwise8(sq);
        const double var = ss / m;
        const double invstd = 1.0 / sqrt(var + (double)eps);
        const double g = gamma ? (double)gamma[ch] : 1.0, b = beta ? (double)beta[ch] : 0.0;
        for (int i = 0; i < n; i++)
            for (int p = 0; p < hw; p++)
                BN_AT(y, i, ch, p) = (eb_real)(g * ((double)BN_AT(x, i, ch, p) - mean) * invstd + b);
        if (save_mean) save_mean[ch] = (eb_real)mean;
        if (save_invstd) save_invstd[ch] = (eb_real)invstd;
        const double mom = (double)momentum;
        if (run_mean) run_mean[ch] = (eb_real)((1.0 - mom) * (double)run_mean[ch] + mom * mean);
        if (run_var) run_var[ch] = (eb_real)((1.0 - mom) * (double)run_var[ch] + mom * ss / (m - 1.0));
    }
    return EB_OK;
}

eb_status eb_cpu_bn_forward_infer(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta,
                                  const eb_real *run_mean, const eb_real *run_var, eb_real eps, eb_real *y,
                                  int n, int c, int hw) {
    (void)ctx;
    EB_TRY(bn_check("bn_forward_infer", n, c, hw));
#pragma omp parallel for schedule(static) num_threads(BN_THREADS(n, c, hw))
    for (int ch = 0; ch < c; ch++) {
        const double invstd = 1.0 / sqrt((double)run_var[ch] + (double)eps);
        const double g = gamma ? (double)gamma[ch] : 1.0, b = beta ? (double)beta[ch] : 0.0;
        const double mean = (double)run_mean[ch];
        for (int i = 0; i < n; i++)
            for (int p = 0; p < hw; p++)
                BN_AT(y, i, ch, p) = (eb_real)(g * ((double)BN_AT(x, i, ch, p) - mean) * invstd + b);
    }
    return EB_OK;
}

/* Per channel: sum dy and sum dy * xhat, xhat = (x - mean) * invstd. */
static void bn_channel_sums(const eb_real *x, const eb_real *v, double mean, double invstd, int ch,
                            int n, int c, int hw, double *sum_v, double *sum_v_xhat) {
    double s[8] = {0}, sx[8] = {0};
    const int hw8 = hw / 8 * 8;
    for (int i = 0; i < n; i++) {
        const eb_real *vr = &BN_AT(v, i, ch, 0), *xr = &BN_AT(x, i, ch, 0);
        for (int p = 0; p < hw8; p += 8)
            for (int j = 0; j < 8; j++) {
                const double vv = (double)vr[p + j];
                s[j] += vv;
                sx[j] += vv * ((double)xr[p + j] - mean) * invstd;
            }
        for (int p = hw8; p < hw; p++) {
            const double vv = (double)vr[p];
            s[p - hw8] += vv;
            sx[p - hw8] += vv * ((double)xr[p] - mean) * invstd;
        }
    }
    *sum_v = bn_pairwise8(s);
    *sum_v_xhat = bn_pairwise8(sx);
}

/* The Jacobian of y = gamma * xhat(x) + beta through the batch statistics is symmetric up to gamma:
 *   J v = gamma * invstd * (v - mean(v) - xhat * mean(v * xhat)),
 * so the backward (J^T dy) and the tangent (J tx) share this kernel. */
static void bn_apply_jacobian(const eb_real *x, const eb_real *v, const eb_real *gamma, double mean,
                              double invstd, int ch, double sum_v, double sum_v_xhat, eb_real *out,
                              int n, int c, int hw) {
    const double m = (double)n * (double)hw;
    const double g = gamma ? (double)gamma[ch] : 1.0;
    const double mv = sum_v / m, mvx = sum_v_xhat / m, k = g * invstd;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < hw; p++) {
            double xhat = ((double)BN_AT(x, i, ch, p) - mean) * invstd;
            BN_AT(out, i, ch, p) = (eb_real)(k * ((double)BN_AT(v, i, ch, p) - mv - xhat * mvx));
        }
}

eb_status eb_cpu_bn_backward_train(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma,
                                   const eb_real *save_mean, const eb_real *save_invstd,
                                   eb_real *dx, eb_real *dgamma, eb_real *dbeta, eb_real beta_acc,
                                   int n, int c, int hw) {
    (void)ctx;
    EB_TRY(bn_check("bn_backward_train", n, c, hw));
#pragma omp parallel for schedule(static) num_threads(BN_THREADS(n, c, hw))
    for (int ch = 0; ch < c; ch++) {
        const double mean = (double)save_mean[ch], invstd = (double)save_invstd[ch];
        double sdy, sdyx;
        bn_channel_sums(x, dy, mean, invstd, ch, n, c, hw, &sdy, &sdyx);
        if (dgamma) dgamma[ch] = bn_accumulate(sdyx, beta_acc, dgamma[ch]);
        if (dbeta) dbeta[ch] = bn_accumulate(sdy, beta_acc, dbeta[ch]);
        if (dx) bn_apply_jacobian(x, dy, gamma, mean, invstd, ch, sdy, sdyx, dx, n, c, hw);
    }
    return EB_OK;
}

eb_status eb_cpu_bn_tangent_train(void *ctx, const eb_real *x, const eb_real *tx, const eb_real *gamma,
                                  const eb_real *save_mean, const eb_real *save_invstd, eb_real *ty,
                                  int n, int c, int hw) {
    (void)ctx;
    EB_TRY(bn_check("bn_tangent_train", n, c, hw));
#pragma omp parallel for schedule(static) num_threads(BN_THREADS(n, c, hw))
    for (int ch = 0; ch < c; ch++) {
        const double mean = (double)save_mean[ch], invstd = (double)save_invstd[ch];
        double st, stx;
        bn_channel_sums(x, tx, mean, invstd, ch, n, c, hw, &st, &stx);
        bn_apply_jacobian(x, tx, gamma, mean, invstd, ch, st, stx, ty, n, c, hw);
    }
    return EB_OK;
}

eb_status eb_cpu_bn_backward_infer(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma,
                                   const eb_real *run_mean, const eb_real *run_var, eb_real eps,
                                   eb_real *dx, eb_real *dgamma, eb_real *dbeta, eb_real beta_acc,
                                   int n, int c, int hw) {
    (void)ctx;
    EB_TRY(bn_check("bn_backward_infer", n, c, hw));
#pragma omp parallel for schedule(static) num_threads(BN_THREADS(n, c, hw))
    for (int ch = 0; ch < c; ch++) {
        const double mean = (double)run_mean[ch];
        const double invstd = 1.0 / sqrt((double)run_var[ch] + (double)eps);
        if (dgamma || dbeta) {
            double sdy, sdyx;
            bn_channel_sums(x, dy, mean, invstd, ch, n, c, hw, &sdy, &sdyx);
            if (dgamma) dgamma[ch] = bn_accumulate(sdyx, beta_acc, dgamma[ch]);
            if (dbeta) dbeta[ch] = bn_accumulate(sdy, beta_acc, dbeta[ch]);
        }
        if (dx) {
            const double k = (gamma ? (double)gamma[ch] : 1.0) * invstd;
            for (int i = 0; i < n; i++)
                for (int p = 0; p < hw; p++) BN_AT(dx, i, ch, p) = (eb_real)(k * (double)BN_AT(dy, i, ch, p));
        }
    }
    return EB_OK;
}
