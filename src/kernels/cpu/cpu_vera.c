/* CPU reference of VERA's entropy-gradient ops (ops.h, DESIGN.md §6): the generator's output noise, the
 * importance-weighted score c ~ -grad_x log q(x), and the gradients of sigma and of the posterior's eta. */
#include "cpu_ops.h"

#include <math.h>

/* sigma = exp(clamp(log_sigma, lo, hi)) */
static double sigma_of(const eb_real *log_sigma, eb_real lo, eb_real hi) {
    double s = (double)*log_sigma;
    return exp(s < lo ? (double)lo : s > hi ? (double)hi : s);
}

eb_status eb_cpu_vera_noise(void *ctx, eb_real *x, const eb_real *eps, const eb_real *log_sigma, eb_real lo,
                            eb_real hi, size_t n) {
    (void)ctx;
    const double sg = sigma_of(log_sigma, lo, hi);
    for (size_t i = 0; i < n; i++) x[i] = (eb_real)((double)x[i] + sg * (double)eps[i]);
    return EB_OK;
}

eb_status eb_cpu_vera_post_sample(void *ctx, const eb_real *z0, const eb_real *eps, const eb_real *log_eta, size_t n,
                                  size_t k, size_t zd, eb_real *zk) {
    (void)ctx;
    for (size_t r = 0; r < k * n; r++)
        for (size_t j = 0; j < zd; j++)
            zk[r * zd + j] = (eb_real)((double)z0[(r % n) * zd + j] + exp((double)log_eta[j]) * (double)eps[r * zd + j]);
    return EB_OK;
}

eb_status eb_cpu_vera_score(void *ctx, const eb_real *x, const eb_real *g, const eb_real *zk, const eb_real *z0,
                            const eb_real *log_eta, const eb_real *log_sigma, eb_real lo, eb_real hi, size_t n,
                            size_t k, size_t xd, size_t zd, eb_real *c) {
    if (k == 0) return EB_FAIL(EB_ERR_ARG, "vera_score: needs at least one importance sample");
    const double sg = sigma_of(log_sigma, lo, hi), inv_s2 = 1.0 / (sg * sg);
    /* the k log-weights of one sample live in scratch */
    double *lw = (double *)eb_cpu_scratch(ctx, (k * sizeof(double) + sizeof(eb_real) - 1) / sizeof(eb_real));
    if (!lw) return EB_ERR_OOM;
    for (size_t i = 0; i < n; i++) {
        double top = -INFINITY;
        for (size_t s = 0; s < k; s++) {
            const eb_real *gr = g + (s * n + i) * xd, *zr = zk + (s * n + i) * zd, *zc = z0 + i * zd;
            double rx = 0, rz = 0, rp = 0;
            for (size_t j = 0; j < xd; j++) {
                double d = (double)x[i * xd + j] - (double)gr[j];
                rx += d * d;
            }
            for (size_t j = 0; j < zd; j++) {
                double e = ((double)zr[j] - (double)zc[j]) / exp((double)log_eta[j]);
                rz += (double)zr[j] * (double)zr[j];
                rp += e * e;
            }
            lw[s] = -0.5 * rx * inv_s2 - 0.5 * rz + 0.5 * rp;
            if (lw[s] > top) top = lw[s];
        }
        double tot = 0;
        for (size_t s = 0; s < k; s++) tot += (lw[s] = exp(lw[s] - top));
        for (size_t j = 0; j < xd; j++) {
            double acc = 0;
            for (size_t s = 0; s < k; s++) acc += lw[s] * ((double)x[i * xd + j] - (double)g[(s * n + i) * xd + j]);
            c[i * xd + j] = (eb_real)(acc / tot * inv_s2);
        }
    }
    return EB_OK;
}

eb_status eb_cpu_vera_sigma_grad(void *ctx, const eb_real *dx, const eb_real *eps, const eb_real *log_sigma,
                                 eb_real lo, eb_real hi, size_t n, eb_real *grad) {
    (void)ctx;
    double acc = 0;
    for (size_t i = 0; i < n; i++) acc += (double)dx[i] * (double)eps[i];
    const double s = (double)*log_sigma, d = sigma_of(log_sigma, lo, hi) * acc;
    /* a descent step moves log_sigma by -d: kept unless it leaves [lo, hi] from a bound */
    if ((s <= lo && d > 0) || (s >= hi && d < 0)) return EB_OK;
    *grad = (eb_real)((double)*grad + d);
    return EB_OK;
}

eb_status eb_cpu_vera_post_seed(void *ctx, const eb_real *x, const eb_real *g, const eb_real *log_sigma, eb_real lo,
                                eb_real hi, size_t n, eb_real scale, eb_real *dy) {
    (void)ctx;
    const double sg = sigma_of(log_sigma, lo, hi), f = (double)scale / (sg * sg);
    for (size_t i = 0; i < n; i++) dy[i] = (eb_real)(f * ((double)g[i] - (double)x[i]));
    return EB_OK;
}

eb_status eb_cpu_vera_post_grad(void *ctx, const eb_real *dz, const eb_real *z, const eb_real *eps,
                                const eb_real *log_eta, size_t n, size_t zd, eb_real scale, eb_real *grad) {
    (void)ctx;
    for (size_t j = 0; j < zd; j++) {
        double acc = 0;
        for (size_t i = 0; i < n; i++)
            acc += ((double)dz[i * zd + j] + (double)scale * (double)z[i * zd + j]) * (double)eps[i * zd + j];
        grad[j] = (eb_real)(exp((double)log_eta[j]) * acc - 1.0);
    }
    return EB_OK;
}
