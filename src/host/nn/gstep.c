/* The G step of DESIGN.md §1: loss E_z U(G(z)) + surrogate, gradients for G and the surrogate's nets.
 * U runs forward and an input-only backward (no weight gradients); T's trunk runs once on the B fakes. */
#include "ebgan/gstep.h"

#include <string.h>

#include "surrogate.h"

static int64_t trunk_width(const eb_gan *m) {
    return m->has_trunk ? eb_shape_numel(m->T_trunk.out_shape) : eb_shape_numel(m->x_shape);
}

eb_status eb_gstep_init(eb_gstep *gs, const eb_backend *be, const eb_gan *m, int max_batch) {
    memset(gs, 0, sizeof *gs);
    if (max_batch <= 0) return EB_FAIL(EB_ERR_ARG, "G step: batch must be positive, got %d", max_batch);
    gs->max_batch = max_batch;
    size_t B = (size_t)max_batch, zd = (size_t)m->z_dim, xd = (size_t)eb_shape_numel(m->x_shape);
    size_t f = (size_t)trunk_width(m);
    size_t head = (size_t)m->surrogate->pair_rows * B * (f + zd);
    size_t dhead = head > B * zd ? head : B * zd; /* infogan: d z_hat lives here */
    /* one allocation: the sizes of every buffer, in elements */
    size_t sizes[] = {B * zd, B * zd, B * xd, head, dhead, 2 * B, 2 * B * f, B, EB_GTERM_COUNT};
    eb_real **slots[] = {&gs->z, &gs->z_perm, &gs->dx, &gs->head_in, &gs->d_head_in, &gs->dlogit, &gs->df,
                         &gs->seed, &gs->terms};
    size_t n_slots = sizeof sizes / sizeof sizes[0];
    size_t total = 0;
    for (size_t i = 0; i < n_slots; i++) total += eb_align_elems(sizes[i]); /* aligned slots (align.h) */
    size_t bytes = total * sizeof(eb_real) + B * sizeof(int32_t);
    EB_TRY(be->ops->mem_alloc(be->ctx, &gs->arena, bytes));
    eb_real *p = gs->arena;
    for (size_t i = 0; i < n_slots; i++) {
        *slots[i] = sizes[i] ? p : NULL;
        p += eb_align_elems(sizes[i]);
    }
    gs->perm = (int32_t *)p;

    eb_status st;
    if ((st = eb_net_ws_init(&gs->ws_G, be, &m->G, max_batch, 0)) != EB_OK) goto fail;
    if ((st = eb_net_ws_init(&gs->ws_U, be, &m->U, max_batch, 0)) != EB_OK) goto fail;
    for (int i = 0; i < m->surrogate->n_nets; i++) {
        const eb_surrogate_net *d = &m->surrogate->nets[i];
        const eb_net *net = (const eb_net *)((const char *)m + d->net_at);
        if (gs->n_ws_aux == m->n_aux || m->aux[gs->n_ws_aux] != net) continue; /* left out: an optional net */
        eb_net_ws *ws = (eb_net_ws *)((char *)gs + d->ws_at);
        gs->ws_aux[gs->n_ws_aux++] = ws;
        if ((st = eb_net_ws_init(ws, be, net, d->rows * max_batch, 0)) != EB_OK) goto fail;
    }
    const eb_surrogate_hooks *hk = m->surrogate->hooks;
    if (hk && hk->ws_init && (st = hk->ws_init(gs, be, m, max_batch)) != EB_OK) goto fail;
    return EB_OK;
fail:
    eb_gstep_free(gs, be);
    return st;
}

eb_status eb_gstep_set_comm(eb_gstep *gs, const eb_backend *be, eb_gan *m, eb_comm *comm) {
    if (!eb_comm_active(comm)) return EB_OK;
    if (gs->comm) return EB_FAIL(EB_ERR_ARG, "G step: communicator already set");
    if (m->surrogate->hooks && comm->world > 1)
        return EB_FAIL(EB_ERR_ARG, "G step: the %s surrogate runs in one process (its noise is drawn per batch, "
                       "not per rank)", m->surrogate->name);
    const size_t zn = (size_t)comm->world * (size_t)gs->max_batch * (size_t)m->z_dim;
    if (m->surrogate->shuffles_z) EB_TRY(be->ops->mem_alloc(be->ctx, (void **)&gs->z_all, zn * sizeof(eb_real)));
    const eb_net *nets[1 + EB_GAN_AUX_MAX] = {&m->G};
    for (int i = 0; i < m->n_aux; i++) nets[1 + i] = m->aux[i];
    EB_TRY(eb_bn_sync_init(&gs->bn_sync, be, comm, nets, 1 + m->n_aux));
    gs->ws_G.sync = &gs->bn_sync;
    for (int i = 0; i < gs->n_ws_aux; i++) gs->ws_aux[i]->sync = &gs->bn_sync;
    gs->comm = comm;
    return EB_OK;
}

void eb_gstep_free(eb_gstep *gs, const eb_backend *be) {
    eb_net_ws *ws[2 + EB_GAN_AUX_MAX] = {&gs->ws_G, &gs->ws_U};
    for (int i = 0; i < gs->n_ws_aux; i++) ws[2 + i] = gs->ws_aux[i];
    for (int i = 0; i < 2 + gs->n_ws_aux; i++)
        if (ws[i]->arena) eb_net_ws_free(ws[i], be);
    if (gs->arena) be->ops->mem_free(be->ctx, gs->arena);
    if (gs->z_all) be->ops->mem_free(be->ctx, gs->z_all);
    if (gs->bn_sync.scratch) eb_bn_sync_free(&gs->bn_sync, be);
    if (gs->vera_arena) be->ops->mem_free(be->ctx, gs->vera_arena);
    if (gs->ws_Gk.arena) eb_net_ws_free(&gs->ws_Gk, be);
    memset(gs, 0, sizeof *gs);
}

/* The surrogate of DESIGN.md §1, dim: BCE(T(G(z), z), 1) + BCE(T(G(z), z bar), 0), the mean of 2B terms.
 * The trunk runs once on the B fakes; the head runs on the 2B rows [f, z] and [f, z bar]. */
eb_status eb_surrogate_dim_loss(const eb_backend *be, eb_gan *m, eb_gstep *gs, const eb_real *xf, int n,
                                const int32_t *perm_dev, eb_real w, int want_grad) {
    const eb_ops *o = be->ops;
    size_t zd = (size_t)m->z_dim, f = (size_t)trunk_width(m), ld = f + zd, N = (size_t)n;
    const eb_real *feat = xf;
    if (m->has_trunk) {
        EB_TRY(eb_net_forward(be, &m->T_trunk, &gs->ws_T_trunk, xf, n, EB_MODE_TRAIN));
        feat = gs->ws_T_trunk.h[m->T_trunk.n_layers];
    }
    if (gs->comm) { /* z bar from the global batch: this rank's rows of the global permutation */
        EB_TRY(gs->comm->ops->allgather(gs->comm, gs->z, gs->z_all, N * zd));
        EB_TRY(o->gather_rows(be->ctx, gs->z_perm, gs->z_all, perm_dev + (size_t)gs->comm->rank * N, N, zd));
    } else {
        EB_TRY(o->gather_rows(be->ctx, gs->z_perm, gs->z, perm_dev, N, zd));
    }
    eb_real *pos = gs->head_in, *neg = gs->head_in + N * ld;
    EB_TRY(o->copy_2d(be->ctx, pos, ld, feat, f, N, f));
    EB_TRY(o->copy_2d(be->ctx, pos + f, ld, gs->z, zd, N, zd));
    EB_TRY(o->copy_2d(be->ctx, neg, ld, feat, f, N, f));
    EB_TRY(o->copy_2d(be->ctx, neg + f, ld, gs->z_perm, zd, N, zd));
    EB_TRY(eb_net_forward(be, &m->T_head, &gs->ws_T_head, gs->head_in, 2 * n, EB_MODE_TRAIN));
    const eb_real *logit = gs->ws_T_head.h[m->T_head.n_layers];
    eb_real scale = w / (eb_real)(2 * n);
    EB_TRY(o->fill(be->ctx, gs->terms + EB_GTERM_MI, 0, 1));
    EB_TRY(o->bce_logits(be->ctx, logit, 1, N, scale, gs->terms + EB_GTERM_MI, gs->dlogit));
    EB_TRY(o->bce_logits(be->ctx, logit + N, 0, N, scale, gs->terms + EB_GTERM_MI, gs->dlogit + N));
    if (!want_grad) return EB_OK;
    EB_TRY(eb_net_backward(be, &m->T_head, &gs->ws_T_head, gs->dlogit, 2 * n, EB_MODE_TRAIN, 1, gs->d_head_in, 0));
    /* d feat = the feature columns of both halves, summed */
    EB_TRY(o->copy_2d(be->ctx, gs->df, f, gs->d_head_in, ld, 2 * N, f));
    EB_TRY(o->axpby(be->ctx, gs->df, 1, gs->df + N * f, 1, N * f));
    if (m->has_trunk)
        return eb_net_backward(be, &m->T_trunk, &gs->ws_T_trunk, gs->df, n, EB_MODE_TRAIN, 1, gs->dx, 1);
    return o->axpby(be->ctx, gs->dx, 1, gs->df, 1, N * f);
}

/* The surrogate of DESIGN.md §1, infogan: lambda2 * mean_i ||z_i - E(G(z_i))||^2. */
eb_status eb_surrogate_infogan_loss(const eb_backend *be, eb_gan *m, eb_gstep *gs, const eb_real *xf, int n,
                                    const int32_t *perm_dev, eb_real w, int want_grad) {
    (void)perm_dev;
    const eb_ops *o = be->ops;
    size_t zd = (size_t)m->z_dim, N = (size_t)n;
    EB_TRY(eb_net_forward(be, &m->E, &gs->ws_E, xf, n, EB_MODE_TRAIN));
    const eb_real *zh = gs->ws_E.h[m->E.n_layers];
    eb_real *dzh = gs->d_head_in;
    EB_TRY(o->fill(be->ctx, gs->terms + EB_GTERM_MI, 0, 1));
    EB_TRY(o->sqdiff(be->ctx, zh, gs->z, N * zd, w / (eb_real)n, gs->terms + EB_GTERM_MI, want_grad ? dzh : NULL));
    if (!want_grad) return EB_OK;
    return eb_net_backward(be, &m->E, &gs->ws_E, dzh, n, EB_MODE_TRAIN, 1, gs->dx, 1);
}

static eb_status gstep_run(const eb_backend *be, eb_gan *m, eb_gstep *gs, int n, eb_rng_pos z_pos,
                           const int32_t *perm_dev, eb_real mi_weight, int want_grad) {
    const eb_ops *o = be->ops;
    if (n <= 0 || n > gs->max_batch)
        return EB_FAIL(EB_ERR_ARG, "G step: batch %d outside 1..%d", n, gs->max_batch);
    size_t N = (size_t)n, zd = (size_t)m->z_dim, xd = (size_t)eb_shape_numel(m->x_shape);
    if (want_grad) {
        EB_TRY(o->fill(be->ctx, m->G.grads, 0, m->G.n_params));
        for (int i = 0; i < m->n_aux; i++) EB_TRY(o->fill(be->ctx, m->aux[i]->grads, 0, m->aux[i]->n_params));
    }
    const eb_surrogate *sur = m->surrogate;
    if (sur->shuffles_z && !perm_dev)
        return EB_FAIL(EB_ERR_ARG, "G step: the %s surrogate needs a permutation", sur->name);
    EB_TRY(o->rng_normal(be->ctx, gs->z, N * zd, z_pos));
    EB_TRY(eb_net_forward(be, &m->G, &gs->ws_G, gs->z, n, EB_MODE_TRAIN));
    const eb_real *xf = gs->ws_G.h[m->G.n_layers];
    if (sur->hooks) { /* the generator's output noise, drawn after z; U and the loss see the noisy fakes */
        eb_rng_pos np = z_pos;
        np.offset += N * zd;
        EB_TRY(sur->hooks->perturb(be, m, gs, xf, gs->x_noisy, n, np));
        xf = gs->x_noisy;
    }
    EB_TRY(eb_net_forward(be, &m->U, &gs->ws_U, xf, n, EB_MODE_TRAIN));
    const eb_real *u = gs->ws_U.h[m->U.n_layers];
    EB_TRY(o->reduce_sum(be->ctx, u, N, gs->terms + EB_GTERM_U_FAKE, (eb_real)1 / (eb_real)n, 0));
    if (want_grad) {
        /* d mean U / d x: an input-only backward, no weight-gradient kernels for U (DESIGN.md §2) */
        EB_TRY(o->fill(be->ctx, gs->seed, (eb_real)1 / (eb_real)n, N));
        EB_TRY(eb_net_backward(be, &m->U, &gs->ws_U, gs->seed, n, EB_MODE_TRAIN, 0, gs->dx, 0));
    }
    if (sur->loss) EB_TRY(sur->loss(be, m, gs, xf, n, perm_dev, mi_weight, want_grad));
    else EB_TRY(o->fill(be->ctx, gs->terms + EB_GTERM_MI, 0, 1));
    EB_TRY(o->mem_copy(be->ctx, gs->terms + EB_GTERM_LOSS, gs->terms + EB_GTERM_U_FAKE, sizeof(eb_real)));
    EB_TRY(o->axpby(be->ctx, gs->terms + EB_GTERM_LOSS, 1, gs->terms + EB_GTERM_MI, 1, 1));
    (void)xd;
    if (!want_grad) return EB_OK;
    return eb_net_backward(be, &m->G, &gs->ws_G, gs->dx, n, EB_MODE_TRAIN, 1, NULL, 0);
}

eb_status eb_gstep_grad(const eb_backend *be, eb_gan *m, eb_gstep *gs, int n, eb_rng_pos z_pos,
                        const int32_t *perm_dev, eb_real mi_weight) {
    return gstep_run(be, m, gs, n, z_pos, perm_dev, mi_weight, 1);
}

eb_status eb_gstep_loss(const eb_backend *be, eb_gan *m, eb_gstep *gs, int n, eb_rng_pos z_pos,
                        const int32_t *perm_dev, eb_real mi_weight) {
    return gstep_run(be, m, gs, n, z_pos, perm_dev, mi_weight, 0);
}

eb_status eb_gstep_perturb_fakes(const eb_backend *be, eb_gan *m, eb_gstep *gs, eb_real *x, int n, eb_rng_pos pos) {
    const eb_surrogate_hooks *hk = m->surrogate->hooks;
    if (!hk) return EB_OK;
    if (n <= 0 || n > gs->max_batch)
        return EB_FAIL(EB_ERR_ARG, "G step: batch %d outside 1..%d", n, gs->max_batch);
    return hk->perturb(be, m, gs, x, x, n, pos);
}

uint64_t eb_gstep_noise_draws(const eb_gan *m, int u_step) {
    const eb_surrogate_hooks *hk = m->surrogate ? m->surrogate->hooks : NULL;
    return hk && hk->draws ? hk->draws(m, u_step) : 0;
}

eb_status eb_gstep_read_terms(const eb_backend *be, const eb_gstep *gs, double out[EB_GTERM_COUNT]) {
    eb_real t[EB_GTERM_COUNT];
    EB_TRY(be->ops->mem_download(be->ctx, t, gs->terms, sizeof t));
    for (int i = 0; i < EB_GTERM_COUNT; i++) out[i] = (double)t[i];
    return EB_OK;
}
