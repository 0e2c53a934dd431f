/* Mode coverage of the 2-D Gaussian mixtures: each sample is assigned to its nearest centre; it is of high
 * quality when within 3 standard deviations of it (VEEGAN, Srivastava et al. 2017, the usual protocol). */
#include "ebgan/eval.h"

#include <math.h>
#include <string.h>

eb_status eb_eval_toy(eb_toy_kind kind, const float *x, size_t n, eb_toy_eval *out) {
    double c[2 * EB_TOY_MAX_MODES], sd = 0;
    int K = eb_toy_modes(kind, c, &sd);
    memset(out, 0, sizeof *out);
    if (K <= 0) return EB_FAIL(EB_ERR_ARG, "eval: the toy '%s' has no modes to count", eb_toy_name(kind));
    if (n == 0) return EB_FAIL(EB_ERR_ARG, "eval: no samples");
    out->n_modes = K;
    size_t hq = 0;
    for (size_t i = 0; i < n; i++) {
        double best = INFINITY;
        int arg = 0;
        for (int k = 0; k < K; k++) {
            double dx = x[2 * i] - c[2 * k], dy = x[2 * i + 1] - c[2 * k + 1], d = dx * dx + dy * dy;
            if (d < best) best = d, arg = k;
        }
        if (isfinite(best) && sqrt(best) <= 3 * sd) {
            out->counts[arg]++;
            hq++;
        }
    }
    out->hq_fraction = (double)hq / (double)n;
    double kl = 0;
    for (int k = 0; k < K; k++) {
        if (out->counts[k] > 0) out->modes_covered++;
        if (hq && out->counts[k] > 0) {
            double p = (double)out->counts[k] / (double)hq;
            kl += p * log(p * K);
        }
    }
    out->kl_uniform = hq ? kl : INFINITY;
    return EB_OK;
}
