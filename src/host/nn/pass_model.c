/* The pass model of one iteration (pass_model.h): which passes of which net the G and U steps run, each
 * costing the net's forward multiply-adds once (a backward-data or backward-weight pass as much as a forward). */
#include "ebgan/pass_model.h"

double eb_pass_model_flops(const eb_gan *m, int batch, int n_critic) {
    const double fg = eb_net_macs_per_sample(&m->G), fu = eb_net_macs_per_sample(&m->U);
    /* G step: G forward and backward (data + weight: 3), U forward and input-only backward (2), and the
     * entropy surrogate: dim's T trunk forward, data and weight (3) on the B fakes and its head the same on the
     * 2B rows of the real and shuffled pairs (6); infogan's E forward, data and weight on the fakes (3) */
    double g_step = 3 * fg + 2 * fu;
    if (m->entropy == EB_ENTROPY_DIM)
        g_step += 3 * (m->has_trunk ? eb_net_macs_per_sample(&m->T_trunk) : 0) + 6 * eb_net_macs_per_sample(&m->T_head);
    if (m->entropy == EB_ENTROPY_INFOGAN) g_step += 3 * eb_net_macs_per_sample(&m->E);
    /* each U step: G forward for the fakes (1), U on the fakes forward and weight gradient (2), on the reals
     * forward, data and weight (3), the penalty's tangent pass and its weight-gradient reuse (2), and the
     * curvature sweep (2) when U has activations with a second derivative (DESIGN.md §2 step 5) */
    const double u_step = fg + 7 * fu + (eb_net_has_curvature(&m->U) ? 2 * fu : 0);
    return 2.0 * batch * (g_step + n_critic * u_step);
}
