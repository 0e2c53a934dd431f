/* The learned energy as a density on the 2-D mixtures (eval.h): exp(-U) normalised on a grid, scored by the
 * held-out data's likelihood and by where its mass sits relative to the modes (VEEGAN's 3-std discs). */
#include "ebgan/eval.h"

#include <math.h>
#include <string.h>

eb_status eb_eval_toy_density(eb_toy_kind kind, const float *u_grid, int g, double lo, double hi,
                              const float *u_held, size_t n, eb_toy_density *out) {
    double c[2 * EB_TOY_MAX_MODES], sd = 0;
    const int K = eb_toy_modes(kind, c, &sd);
    memset(out, 0, sizeof *out);
    if (K <= 0) return EB_FAIL(EB_ERR_ARG, "eval: the toy '%s' has no modes", eb_toy_name(kind));
    if (g < 2 || !(hi > lo) || n == 0) return EB_FAIL(EB_ERR_ARG, "eval: density needs a grid and held-out points");
    const double h = (hi - lo) / g, r2 = 9 * sd * sd;
    /* the largest -U first: exp(-U + top) cannot overflow */
    double top = -INFINITY;
    for (size_t i = 0; i < (size_t)g * g; i++)
        if (isfinite(u_grid[i]) && -(double)u_grid[i] > top) top = -(double)u_grid[i];
    if (!isfinite(top)) return EB_FAIL(EB_ERR_ARG, "eval: the energy is not finite on the grid");
    double total = 0, near = 0, mode[EB_TOY_MAX_MODES] = {0};
    for (int iy = 0; iy < g; iy++)
        for (int ix = 0; ix < g; ix++) {
            const double x = lo + (ix + 0.5) * h, y = lo + (iy + 0.5) * h;
            const double p = exp(-(double)u_grid[(size_t)iy * g + ix] - top);
            if (!isfinite(p)) continue;
            total += p;
            for (int k = 0; k < K; k++) {
                const double dx = x - c[2 * k], dy = y - c[2 * k + 1];
                if (dx * dx + dy * dy <= r2) {
                    near += p;
                    mode[k] += p;
                    break;
                }
            }
        }
    out->log_z = top + log(total * h * h);
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)u_held[i];
    out->nll = s / (double)n + out->log_z;
    out->mass_near = near / total;
    out->mass_uniform = K * acos(-1.0) * r2 / ((hi - lo) * (hi - lo));
    double kl = 0, sorted[EB_TOY_MAX_MODES];
    for (int k = 0; k < K; k++) {
        const double m = near > 0 ? mode[k] / near : 0;
        if (m > 0) kl += m * log(m * K);
        sorted[k] = m;
    }
    for (int a = 0; a < 3 && a < K; a++) /* a partial selection sort: the three largest first */
        for (int b = a + 1; b < K; b++)
            if (sorted[b] > sorted[a]) {
                const double t = sorted[a];
                sorted[a] = sorted[b];
                sorted[b] = t;
            }
    out->mode_mass_kl = near > 0 ? kl : INFINITY;
    out->top3_share = K >= 3 ? sorted[0] + sorted[1] + sorted[2] : 1;
    return EB_OK;
}
