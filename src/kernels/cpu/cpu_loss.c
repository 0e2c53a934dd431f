/* CPU reference of the loss seeds: BCE with logits, squared difference, the gradient penalty of
 * DESIGN.md §1 / §2 step 3 and softmax cross-entropy (the classifier of the stacked-image evaluation).
 * Each adds its scalar to a device-resident accumulator (sum in double). */
#include "cpu_ops.h"
#include "kernels/penalty_row.h"

#include <math.h>

static double loss_sigmoid(double a) {
    if (a >= 0) return 1.0 / (1.0 + exp(-a));
    double e = exp(a);
    return e / (1.0 + e);
}

eb_status eb_cpu_bce_logits(void *ctx, const eb_real *logit, eb_real target, size_t n, eb_real scale,
                            eb_real *loss_dev, eb_real *dlogit) {
    (void)ctx;
    const double t = (double)target, sc = (double)scale;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double l = (double)logit[i];
        /* -t log s(l) - (1-t) log(1 - s(l)) = max(l, 0) - l t + log(1 + e^{-|l|}): finite for any l */
        s += (l > 0 ? l : 0.0) - l * t + log1p(exp(-fabs(l)));
        if (dlogit) dlogit[i] = (eb_real)(sc * (loss_sigmoid(l) - t));
    }
    if (loss_dev) *loss_dev = (eb_real)((double)*loss_dev + sc * s);
    return EB_OK;
}

eb_status eb_cpu_sqdiff(void *ctx, const eb_real *a, const eb_real *b, size_t n, eb_real scale,
                        eb_real *loss_dev, eb_real *da) {
    (void)ctx;
    const double sc = (double)scale;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)b[i];
        s += d * d;
        if (da) da[i] = (eb_real)(2.0 * sc * d);
    }
    if (loss_dev) *loss_dev = (eb_real)((double)*loss_dev + sc * s);
    return EB_OK;
}

eb_status eb_cpu_penalty_seed(void *ctx, eb_penalty_kind k, const eb_real *g, size_t rows, size_t cols,
                              eb_real lambda, eb_real *gbar, eb_real *loss_dev) {
    (void)ctx;
    if (k != EB_PENALTY_SCORE && k != EB_PENALTY_WGAN_GP)
        return EB_FAIL(EB_ERR_ARG, "penalty_seed: kind %d is not a penalty (score or wgan-gp)", (int)k);
    if (rows == 0) return EB_OK;
    const double lam_b = (double)lambda / (double)rows;
    double p = 0.0;
    for (size_t r = 0; r < rows; r++) {
        const eb_real *gr = g + r * cols;
        eb_real *br = gbar + r * cols;
        double sq = 0.0;
        for (size_t c = 0; c < cols; c++) sq += (double)gr[c] * (double)gr[c];
        const double coef = eb_penalty_row(k == EB_PENALTY_SCORE, sq, lam_b, &p); /* gbar_r = coef * g_r */
        for (size_t c = 0; c < cols; c++) br[c] = (eb_real)(coef * (double)gr[c]);
    }
    if (loss_dev) *loss_dev = (eb_real)((double)*loss_dev + lam_b * p);
    return EB_OK;
}

eb_status eb_cpu_softmax_xent(void *ctx, const eb_real *logits, const int32_t *labels, size_t rows, size_t k,
                              eb_real scale, eb_real *loss_dev, eb_real *dlogit) {
    (void)ctx;
    if (rows == 0) return EB_OK;
    if (k == 0) return EB_FAIL(EB_ERR_ARG, "softmax_xent: %zu rows of 0 classes", rows);
    for (size_t r = 0; r < rows; r++)
        if (labels[r] < 0 || (size_t)labels[r] >= k)
            return EB_FAIL(EB_ERR_ARG, "softmax_xent: label %d of row %zu is outside [0, %zu)", (int)labels[r], r, k);
    const double sc = (double)scale;
    double s = 0.0;
    for (size_t r = 0; r < rows; r++) {
        const eb_real *l = logits + r * k;
        /* logsumexp = m + log sum e^{l - m} with m the row max: every exponent <= 0, so no overflow, and the
         * largest term is 1, so the sum never underflows to 0 */
        double m = (double)l[0];
        for (size_t j = 1; j < k; j++) m = (double)l[j] > m ? (double)l[j] : m;
        double se = 0.0;
        for (size_t j = 0; j < k; j++) se += exp((double)l[j] - m);
        const double lse = m + log(se);
        s += lse - (double)l[labels[r]];
        if (dlogit) {
            eb_real *d = dlogit + r * k;
            for (size_t j = 0; j < k; j++)
                d[j] = (eb_real)(sc * (exp((double)l[j] - lse) - ((size_t)labels[r] == j ? 1.0 : 0.0)));
        }
    }
    if (loss_dev) *loss_dev = (eb_real)((double)*loss_dev + sc * s);
    return EB_OK;
}
