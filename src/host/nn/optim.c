/* Adam and SGD over one flat parameter buffer: moments in one allocation, the step counter and bias
 * corrections on the host, one update launch per net. */
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
    if (cfg->kind == EB_OPTIM_ADAM && n > 0) {
        EB_TRY(EB_OP(be, mem_alloc, &o->arena, 2 * n * sizeof(eb_real)));
        o->m = o->arena;
        o->v = o->m + n;
        eb_status st = EB_OP(be, fill, o->m, (eb_real)0, 2 * n);
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

eb_status eb_optim_step(eb_optim *o, const eb_backend *be, eb_real *params, const eb_real *grads) {
    if (o->n == 0) {
        o->step++;
        return EB_OK;
    }
    if (o->cfg.kind == EB_OPTIM_SGD) {
        EB_TRY(EB_OP(be, sgd_update, params, grads, o->n, (eb_real)o->cfg.lr));
        o->step++;
        return EB_OK;
    }
    if (!o->m) return EB_FAIL(EB_ERR_ARG, "optimiser: not initialised (eb_optim_init)");
    /* PyTorch's bias corrections for step t (1-based), computed in double on the host. */
    const double t = (double)(o->step + 1);
    const double bc1 = 1.0 - pow(o->cfg.beta1, t), bc2 = 1.0 - pow(o->cfg.beta2, t);
    EB_TRY(EB_OP(be, adam_update, params, grads, o->m, o->v, o->n, (eb_real)o->cfg.lr, (eb_real)o->cfg.beta1,
                 (eb_real)o->cfg.beta2, (eb_real)o->cfg.eps, (eb_real)bc1, (eb_real)bc2));
    o->step++;
    return EB_OK;
}
