/* Which conv layers take the Winograd path of the CPU backend, per op: where it saves enough multiply-adds over
 * the direct implicit GEMMs, the padding of both counted (the thresholds: cpu_tuning.h). */
#include "wino_internal.h"

#include "../cpu_ops.h"

/* The adjoint data gradient's multiply-adds (its padding included). */
static double wino_adjoint_macs(const eb_conv_geom *g) {
    const wino p = wino_of(g);
    return (double)p.t2 * g->n * p.tps * g->c_out * (double)wino_round((size_t)p.cp, NR);
}

/* The data gradient's phase jobs' multiply-adds (their padding included). */
static double wino_phase_macs(const eb_conv_geom *g) {
    const wino p = wino_of(g);
    double m = 0;
    wjob j;
    for (int ph = 0; ph < p.np; ph++)
        if (wjob_data(&p, g, NULL, NULL, 0, 0, NULL, ph / p.s, ph % p.s, &j))
            m += (double)j.t2 * g->n * j.tps * g->c_out * (double)j.kp;
    return m;
}

/* The data gradient's cheaper formulation: phase jobs, or the adjoint when it saves enough (cpu_tuning.h). */
int wino_data_by_adjoint(const eb_conv_geom *g) {
    return wino_adjoint_macs(g) < WINO_ADJOINT_SHARE * wino_phase_macs(g);
}

/* Multiply-adds of the op as Winograd GEMMs (their padding included), against the direct sum's. */
static double wino_macs(const eb_conv_geom *g, int op) {
    const wino p = wino_of(g);
    const double kp = (double)wino_round((size_t)g->c_out, NR), tiles = (double)g->n * p.tps;
    if (op == EB_WINO_FORWARD) return (double)p.t2 * tiles * p.cp * kp;
    if (op == EB_WINO_FILTER)
        return (double)p.t2 * tiles * (double)wino_round((size_t)g->c_out, EB_TILE_MR) * (double)wino_round((size_t)p.cp, NR);
    return wino_data_by_adjoint(g) ? wino_adjoint_macs(g) : wino_phase_macs(g);
}

/* wino.h; the thresholds and their reasons: cpu_tuning.h. */
int eb_cpu_wino_fits(const eb_conv_geom *g, int op) {
    static int mode = -1;
    if (!eb_cpu_env_switch("EBGAN_CPU_WINOGRAD", &mode) || !g || g->k_h != g->k_w || g->stride < 1 || g->stride > 2 || g->k_h % g->stride) return 0;
    const int r = g->k_h / g->stride;
    if (r != 2 && r != 3) return 0;
    if ((long long)g->c_in * g->stride * g->stride < WINO_MIN_REDUCTION || g->c_out < WINO_MIN_C_OUT ||
        g->h_out < WINO_MIN_MAP || g->w_out < WINO_MIN_MAP)
        return 0;
    const double direct = (double)g->n * g->h_out * g->w_out * g->c_out * g->c_in * g->k_h * g->k_w;
    if (op == EB_WINO_FILTER && (long long)g->c_in * g->stride * g->stride < WINO_FILTER_MIN_REDUCTION) return 0;
    return direct >= (op == EB_WINO_DATA ? WINO_GAIN_DATA : WINO_GAIN) * wino_macs(g, op);
}
