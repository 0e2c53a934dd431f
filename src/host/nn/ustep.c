/* The U step: loss E U(real) - E U(fake) + lambda-penalty and its exact parameter gradient (DESIGN.md §1-2).
 * The real batch's forward and seed-1 backward serve both E U(real) and the score penalty. */
#include "ebgan/ustep.h"
#include "net_internal.h"

#include <string.h>

static eb_status check_u(const eb_net *U) {
    if (eb_net_has_batchnorm(U))
        return EB_FAIL(EB_ERR_ARG, "U must not contain batch norm: it couples samples (DESIGN.md §2)");
    if (eb_shape_numel(U->out_shape) != 1)
        return EB_FAIL(EB_ERR_ARG, "U output [%d,%d,%d] must be one scalar per sample [1,1,1]", U->out_shape.c,
                       U->out_shape.h, U->out_shape.w);
    return EB_OK;
}

eb_status eb_ustep_init(eb_ustep *us, const eb_backend *be, const eb_net *U, int max_batch) {
    memset(us, 0, sizeof *us);
    EB_TRY(check_u(U));
    if (max_batch < 1) return EB_FAIL(EB_ERR_ARG, "U step: max_batch %d must be >= 1", max_batch);
    us->max_batch = max_batch;
    /* One allocation: [U's workspace with second-order buffers | ones | gbar | g0 | x_hat | terms], each
     * on a 64-element boundary. */
    const size_t B = (size_t)max_batch, d = (size_t)eb_shape_numel(U->in_shape);
    const size_t ws_elems = eb_net_ws_elems(U, max_batch, 1);
    const size_t sizes[5] = {B, B * d, B * d, B * d, EB_UTERM_COUNT};
    eb_real **dst[5] = {&us->ones, &us->gbar, &us->g0, &us->x_hat, &us->terms};
    size_t total = eb_ws_round(ws_elems);
    for (int i = 0; i < 5; i++) total += eb_ws_round(sizes[i]);
    EB_TRY(EB_OP(be, mem_alloc, &us->arena, total * sizeof(eb_real)));
    eb_status st = eb_net_ws_init_at(&us->ws, U, max_batch, 1, us->arena);
    if (st == EB_OK) {
        eb_real *p = (eb_real *)us->arena + eb_ws_round(ws_elems);
        for (int i = 0; i < 5; i++) {
            *dst[i] = p;
            p += eb_ws_round(sizes[i]);
        }
        st = EB_OP(be, fill, us->ones, (eb_real)1, B);
        if (st == EB_OK) st = EB_OP(be, fill, us->terms, (eb_real)0, EB_UTERM_COUNT);
    }
    if (st != EB_OK) eb_ustep_free(us, be);
    return st;
}

eb_status eb_ustep_fakes_init(eb_ustep *us, const eb_backend *be, const eb_net *G) {
    if (!us->arena) return EB_FAIL(EB_ERR_ARG, "U step: not initialised (eb_ustep_init)");
    if (us->z) return EB_FAIL(EB_ERR_ARG, "U step: fakes already initialised");
    const size_t zn = (size_t)us->max_batch * (size_t)eb_shape_numel(G->in_shape);
    EB_TRY(EB_OP(be, mem_alloc, (void **)&us->z, zn * sizeof(eb_real)));
    return eb_net_ws_init(&us->ws_G, be, G, us->max_batch, 0);
}

void eb_ustep_free(eb_ustep *us, const eb_backend *be) {
    if (!us) return;
    eb_net_ws_free(&us->ws, be);
    if (us->arena && be) EB_OP(be, mem_free, us->arena);
    eb_net_ws_free(&us->ws_G, be);
    if (us->z && be) EB_OP(be, mem_free, us->z);
    memset(us, 0, sizeof *us);
}

eb_status eb_ustep_fakes(const eb_backend *be, eb_net *G, eb_ustep *us, int n, const eb_real **x_fake) {
    if (!us->z) return EB_FAIL(EB_ERR_ARG, "U step: no fakes' buffers (eb_ustep_fakes_init)");
    if (n < 1 || n > us->max_batch)
        return EB_FAIL(EB_ERR_ARG, "U step: batch %d outside [1, %d] (max_batch)", n, us->max_batch);
    EB_TRY(eb_net_forward(be, G, &us->ws_G, us->z, n, EB_MODE_TRAIN));
    *x_fake = us->ws_G.h[G->n_layers];
    return EB_OK;
}

static eb_status check_call(const eb_net *U, const eb_ustep *us, const eb_real *interp_t, int n,
                            const eb_ustep_cfg *cfg) {
    EB_TRY(check_u(U));
    if (!us->arena) return EB_FAIL(EB_ERR_ARG, "U step: not initialised (eb_ustep_init)");
    if (us->ws.n_layers != U->n_layers) return EB_FAIL(EB_ERR_ARG, "U step: made for another net");
    if (n < 1 || n > us->max_batch)
        return EB_FAIL(EB_ERR_ARG, "U step: batch %d outside [1, %d] (max_batch)", n, us->max_batch);
    if (cfg->penalty != EB_PENALTY_NONE && cfg->penalty != EB_PENALTY_SCORE && cfg->penalty != EB_PENALTY_WGAN_GP)
        return EB_FAIL(EB_ERR_ARG, "U step: unknown penalty kind %d", (int)cfg->penalty);
    if (cfg->penalty == EB_PENALTY_WGAN_GP && !interp_t)
        return EB_FAIL(EB_ERR_ARG, "U step: wgan-gp needs the interpolation weights interp_t");
    return EB_OK;
}

/* Forward of x; terms[slot] = (1/n) sum U; terms[LOSS] += sign/n sum U. Then, if `backward`, the
 * seed-1 backward with param_alpha and dx. */
static eb_status u_term(const eb_backend *be, eb_net *U, eb_ustep *us, const eb_real *x, int n, int slot,
                        eb_real sign, int backward, eb_real param_alpha, eb_real *dx) {
    const eb_real inv_n = (eb_real)1 / (eb_real)n;
    EB_TRY(eb_net_forward(be, U, &us->ws, x, n, EB_MODE_TRAIN));
    const eb_real *u = us->ws.h[U->n_layers];
    EB_TRY(EB_OP(be, reduce_sum, u, (size_t)n, us->terms + slot, inv_n, (eb_real)0));
    EB_TRY(EB_OP(be, reduce_sum, u, (size_t)n, us->terms + EB_UTERM_LOSS, sign * inv_n, (eb_real)1));
    if (backward) EB_TRY(eb_net_backward(be, U, &us->ws, us->ones, n, EB_MODE_TRAIN, param_alpha, dx, (eb_real)0));
    return EB_OK;
}

/* The shared body of eb_ustep_grad (with_grads = 1) and eb_ustep_loss (0). */
static eb_status ustep_run(const eb_backend *be, eb_net *U, eb_ustep *us, const eb_real *x_real,
                           const eb_real *x_fake, const eb_real *interp_t, int n, const eb_ustep_cfg *cfg,
                           int with_grads) {
    EB_TRY(check_call(U, us, interp_t, n, cfg));
    const eb_real inv_n = (eb_real)1 / (eb_real)n;
    const size_t d = (size_t)eb_shape_numel(U->in_shape);
    const eb_real a_real = with_grads ? inv_n : 0, a_fake = with_grads ? -inv_n : 0;
    EB_TRY(EB_OP(be, fill, us->terms, (eb_real)0, EB_UTERM_COUNT));
    if (with_grads && U->n_params) EB_TRY(EB_OP(be, fill, U->grads, (eb_real)0, U->n_params));

    const eb_real *x_pen = NULL; /* where the penalty's g_0 = grad_x U is taken */
    if (cfg->penalty == EB_PENALTY_SCORE) {
        /* Fakes first, so the workspace ends holding the real batch's forward and seed-1 backward, which
         * E U(real) and the penalty share (DESIGN.md §2). */
        EB_TRY(u_term(be, U, us, x_fake, n, EB_UTERM_U_FAKE, -1, with_grads, a_fake, NULL));
        EB_TRY(u_term(be, U, us, x_real, n, EB_UTERM_U_REAL, 1, 1, a_real, us->g0));
        x_pen = x_real;
    } else {
        EB_TRY(u_term(be, U, us, x_real, n, EB_UTERM_U_REAL, 1, with_grads, a_real, NULL));
        EB_TRY(u_term(be, U, us, x_fake, n, EB_UTERM_U_FAKE, -1, with_grads, a_fake, NULL));
        if (cfg->penalty == EB_PENALTY_WGAN_GP) {
            /* x_hat = t x_real + (1 - t) x_fake per sample; U needs only its input gradient there. */
            EB_TRY(EB_OP(be, lerp_rows, us->x_hat, interp_t, x_real, x_fake, (size_t)n, d));
            EB_TRY(eb_net_forward(be, U, &us->ws, us->x_hat, n, EB_MODE_TRAIN));
            EB_TRY(eb_net_backward(be, U, &us->ws, us->ones, n, EB_MODE_TRAIN, (eb_real)0, us->g0, (eb_real)0));
            x_pen = us->x_hat;
        }
    }
    if (x_pen) {
        EB_TRY(EB_OP(be, penalty_seed, cfg->penalty, us->g0, (size_t)n, d, cfg->lambda, us->gbar,
                     us->terms + EB_UTERM_PENALTY));
        EB_TRY(EB_OP(be, axpby, us->terms + EB_UTERM_LOSS, (eb_real)1, us->terms + EB_UTERM_PENALTY, (eb_real)1, 1));
        if (with_grads) EB_TRY(eb_net_penalty_backward(be, U, &us->ws, us->gbar, n, (eb_real)1));
    }
    return EB_OK;
}

/* ustep_run with U's weights frozen: they stay fixed for the step, and each conv layer's forward and data
 * gradient run up to three times on them (net.h). */
static eb_status ustep_prepared(const eb_backend *be, eb_net *U, eb_ustep *us, const eb_real *x_real,
                                const eb_real *x_fake, const eb_real *interp_t, int n, const eb_ustep_cfg *cfg,
                                int with_grads) {
    eb_net_freeze(U, be);
    const eb_status st = ustep_run(be, U, us, x_real, x_fake, interp_t, n, cfg, with_grads);
    eb_net_thaw(U, be);
    return st;
}

eb_status eb_ustep_grad(const eb_backend *be, eb_net *U, eb_ustep *us, const eb_real *x_real,
                        const eb_real *x_fake, const eb_real *interp_t, int n, const eb_ustep_cfg *cfg) {
    return ustep_prepared(be, U, us, x_real, x_fake, interp_t, n, cfg, 1);
}

eb_status eb_ustep_loss(const eb_backend *be, eb_net *U, eb_ustep *us, const eb_real *x_real,
                        const eb_real *x_fake, const eb_real *interp_t, int n, const eb_ustep_cfg *cfg) {
    return ustep_prepared(be, U, us, x_real, x_fake, interp_t, n, cfg, 0);
}

eb_status eb_ustep_read_terms(const eb_backend *be, const eb_ustep *us, double out[EB_UTERM_COUNT]) {
    if (!us->terms) return EB_FAIL(EB_ERR_ARG, "U step: not initialised (eb_ustep_init)");
    eb_real host[EB_UTERM_COUNT];
    EB_TRY(EB_OP(be, mem_download, host, us->terms, sizeof host));
    for (int i = 0; i < EB_UTERM_COUNT; i++) out[i] = (double)host[i];
    return EB_OK;
}
