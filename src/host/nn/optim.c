/* Adam and SGD over one flat parameter buffer: moments and the {lr, bc1, bc2} slot in one allocation, two
 * launches per net (schedule, update); the schedule reads the host's step or the backend clock. */
#include "ebgan/optim.h"
#include "net_internal.h"

#include <math.h>
#include <string.h>

eb_status eb_optim_init(eb_optim *o, const eb_backend *be, size_t n, const eb_optim_cfg *cfg) {
    memset(o, 0, sizeof *o);
    if (cfg->kind != EB_OPTIM_ADAM && cfg->kind != EB_OPTIM_SGD)
        return EB_FAIL(EB_ERR_ARG, "optimiser: unknown kind %d", (int)cfg->kind);
    if (!(cfg->lr >= 0) || !isfinite(cfg->lr)) return EB_FAIL(EB_ERR_ARG, "optimiser: lr %g must be >= 0", cfg->lr);
    if (cfg->kind == EB_OPTIM_ADAM &&
        (!(cfg->beta1 >= 0 && cfg->beta1 < 1) || !(cfg->beta2 >= 0 && cfg->beta2 < 1) || !(cfg->eps > 0)))
        return EB_FAIL(EB_ERR_ARG, "optimiser: Adam needs 0 <= beta1, beta2 < 1 and eps > 0 (got %g, %g, %g)",
                       cfg->beta1, cfg->beta2, cfg->eps);
    o->cfg = *cfg;
    o->n = n;
    if (n > 0) {
        /* [hyper | m | v], each slot aligned (align.h) */
        const size_t hyper = eb_align_elems(4), slot = eb_align_elems(n);
        const size_t total = hyper + (cfg->kind == EB_OPTIM_ADAM ? 2 * slot : 0);
        EB_TRY(EB_OP(be, mem_alloc, &o->arena, total * sizeof(eb_real)));
        o->hyper = o->arena;
        o->m = cfg->kind == EB_OPTIM_ADAM ? o->hyper + hyper : NULL;
        o->v = o->m ? o->m + slot : NULL;
        eb_status st = EB_OP(be, fill, o->hyper, (eb_real)0, total);
        if (st != EB_OK) {
            eb_optim_free(o, be);
            return st;
        }
    }
    return EB_OK;
}

void eb_optim_free(eb_optim *o, const eb_backend *be) {
    if (!o) return;
    if (o->arena && be) EB_OP(be, mem_free, o->arena);
    memset(o, 0, sizeof *o);
}

eb_status eb_optim_update(eb_optim *o, const eb_backend *be, eb_real *params, const eb_real *grads,
                          const eb_optim_clock *clk) {
    if (o->n == 0) return EB_OK;
    if (!o->hyper) return EB_FAIL(EB_ERR_ARG, "optimiser: not initialised (eb_optim_init)");
    /* PyTorch's bias corrections for update t (1-based); with a clock, t and the decayed lr are computed
     * on the backend from the iteration it holds */
    eb_optim_sched sc = {o->cfg.lr, o->cfg.beta1, o->cfg.beta2, NULL, 0, o->step + 1, 0};
    if (clk) {
        sc.clock = clk->clock;
        sc.t_mul = clk->t_mul;
        sc.t_add = clk->t_add;
        sc.decay_iters = clk->decay_iters;
    }
    EB_TRY(EB_OP(be, optim_hyper, o->hyper, &sc));
    if (o->cfg.kind == EB_OPTIM_SGD) return EB_OP(be, sgd_update, params, grads, o->n, o->hyper);
    return EB_OP(be, adam_update, params, grads, o->m, o->v, o->n, o->hyper, (eb_real)o->cfg.beta1,
                 (eb_real)o->cfg.beta2, (eb_real)o->cfg.eps);
}

eb_status eb_optim_step(eb_optim *o, const eb_backend *be, eb_real *params, const eb_real *grads) {
    EB_TRY(eb_optim_update(o, be, params, grads, NULL));
    o->step++;
    return EB_OK;
}
