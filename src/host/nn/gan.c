/* Builds the networks of the MEG method from spec strings and checks that their shapes fit together:
 * U: x -> 1, G: z -> x, then the entropy surrogate's nets as its table entry lists them (surrogate.c). */
#include "ebgan/gan.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "surrogate.h"

const char *eb_entropy_name(eb_entropy_kind k) {
    const eb_surrogate *sur = eb_surrogate_of(k);
    return sur ? sur->name : "?";
}

int eb_entropy_parse(const char *s) {
    const eb_surrogate *sur = eb_surrogate_named(s);
    return sur ? (int)sur->kind : -1;
}

static eb_status check_out(const eb_net *net, int64_t want, const char *what) {
    int64_t got = eb_shape_numel(net->out_shape);
    if (got != want)
        return EB_FAIL(EB_ERR_ARG, "network %s: output has %lld values per sample, %s needs %lld", net->name,
                       (long long)got, what, (long long)want);
    return EB_OK;
}

/* The surrogate's nets in its table's order, each listed in m->aux before it is built (so that a failure
 * frees what was made): a net reading [feature, z] takes the previous one's output, or x when that one is
 * left out. */
static eb_status build_surrogate(eb_gan *m, const eb_backend *be, const eb_gan_specs *specs, const eb_optim_cfg *opt) {
    const eb_surrogate *sur = m->surrogate;
    int64_t feature = eb_shape_numel(m->x_shape);
    for (int i = 0; i < sur->n_nets; i++) {
        const eb_surrogate_net *d = &sur->nets[i];
        const char *spec = *(const char *const *)((const char *)specs + d->spec_at);
        if (d->optional && (!spec || !spec[0])) continue;
        if (m->n_aux == EB_GAN_AUX_MAX)
            return EB_FAIL(EB_ERR_ARG, "surrogate %s: more than %d nets", sur->name, EB_GAN_AUX_MAX);
        eb_net *net = (eb_net *)((char *)m + d->net_at);
        eb_optim *o = (eb_optim *)((char *)m + d->opt_at);
        m->aux[m->n_aux] = net;
        m->aux_opt[m->n_aux++] = o;
        eb_optim_cfg oc = *opt;
        if (d->lr_at) oc.lr = *(const double *)((const char *)m + d->lr_at);
        if (d->param_vec) { /* a learned vector: the weights of a linear layer that never runs */
            char vec[32];
            snprintf(vec, sizeof vec, "linear:%d:nobias", d->out > 0 ? d->out : m->z_dim);
            EB_TRY(eb_net_init(net, be, d->name, (eb_shape){1, 1, 1}, vec));
            EB_TRY(eb_optim_init(o, be, net->n_params, &oc));
            continue;
        }
        const eb_shape in = d->in == EB_SURROGATE_IN_X ? m->x_shape : (eb_shape){(int)(feature + m->z_dim), 1, 1};
        EB_TRY(eb_net_init(net, be, d->name, in, spec));
        if (d->out) EB_TRY(check_out(net, d->out > 0 ? d->out : m->z_dim, d->out_what));
        EB_TRY(eb_optim_init(o, be, net->n_params, &oc));
        feature = eb_shape_numel(net->out_shape);
    }
    m->has_trunk = m->T_trunk.layers != NULL; /* what dim's loss branches on */
    return EB_OK;
}

eb_status eb_gan_init(eb_gan *m, const eb_backend *be, const eb_gan_specs *specs, eb_shape x_shape, int z_dim,
                      eb_entropy_kind entropy, const eb_optim_cfg *opt) {
    memset(m, 0, sizeof *m);
    m->x_shape = x_shape;
    m->z_dim = z_dim;
    m->entropy = entropy;
    m->surrogate = eb_surrogate_of(entropy);
    if (!m->surrogate) return EB_FAIL(EB_ERR_ARG, "unknown entropy surrogate %d", (int)entropy);
    const eb_vera_cfg vera_defaults = EB_VERA_DEFAULTS;
    m->vera = vera_defaults;
    if (z_dim <= 0) return EB_FAIL(EB_ERR_ARG, "z_dim must be positive, got %d", z_dim);
    eb_shape zs = {z_dim, 1, 1};
    int64_t xn = eb_shape_numel(x_shape);
    eb_status st;
    if ((st = eb_net_init(&m->U, be, "U", x_shape, specs->u)) != EB_OK) goto fail;
    if ((st = check_out(&m->U, 1, "the energy U(x)")) != EB_OK) goto fail;
    if (eb_net_has_batchnorm(&m->U)) {
        st = EB_FAIL(EB_ERR_ARG, "U must not contain batch norm: it couples samples and breaks the penalty (DESIGN.md §2)");
        goto fail;
    }
    if ((st = eb_net_init(&m->G, be, "G", zs, specs->g)) != EB_OK) goto fail;
    if ((st = check_out(&m->G, xn, "a data sample")) != EB_OK) goto fail;
    if ((st = eb_optim_init(&m->opt_U, be, m->U.n_params, opt)) != EB_OK) goto fail;
    if ((st = eb_optim_init(&m->opt_G, be, m->G.n_params, opt)) != EB_OK) goto fail;
    if ((st = build_surrogate(m, be, specs, opt)) != EB_OK) goto fail;
    return EB_OK;
fail:
    eb_gan_free(m, be);
    return st;
}

eb_status eb_gan_set_vera(eb_gan *m, const eb_vera_cfg *cfg) {
    if (m->entropy != EB_ENTROPY_VERA) return EB_OK;
    if (cfg->k < 1 || !(cfg->sigma_min > 0) || !(cfg->sigma_max >= cfg->sigma_min) || !isfinite(cfg->sigma_max) ||
        !(cfg->eta_init > 0) || !isfinite(cfg->eta_init) || !(cfg->post_lr > 0) || !isfinite(cfg->post_lr))
        return EB_FAIL(EB_ERR_ARG, "vera: needs k >= 1, 0 < sigma_min <= sigma_max, eta_init > 0 and post_lr > 0 "
                       "(got k %d, sigma %g..%g, eta %g, lr %g)", cfg->k, cfg->sigma_min, cfg->sigma_max,
                       cfg->eta_init, cfg->post_lr);
    m->vera = *cfg;
    m->opt_vera_eta.cfg.lr = cfg->post_lr;
    return EB_OK;
}

void eb_gan_free(eb_gan *m, const eb_backend *be) {
    /* whatever was made: a half-built model (init failed) frees what it has */
    eb_net *nets[EB_GAN_NETS_MAX];
    eb_optim *opts[EB_GAN_NETS_MAX];
    const int k = eb_gan_nets(m, nets, opts);
    for (int i = 0; i < k; i++) {
        if (nets[i]->layers) eb_net_free(nets[i], be);
        if (opts[i]->arena) eb_optim_free(opts[i], be);
    }
    memset(m, 0, sizeof *m);
}

eb_status eb_gan_init_weights(eb_gan *m, const eb_backend *be, eb_rng *rng) {
    eb_net *nets[EB_GAN_NETS_MAX];
    eb_optim *opts[EB_GAN_NETS_MAX];
    int k = eb_gan_nets(m, nets, opts);
    for (int i = 0; i < k; i++) EB_TRY(eb_net_init_weights(nets[i], be, rng));
    const eb_surrogate_hooks *h = m->surrogate ? m->surrogate->hooks : NULL;
    return h && h->init_params ? h->init_params(m, be) : EB_OK;
}

int eb_gan_nets(eb_gan *m, eb_net **nets, eb_optim **opts) {
    int k = 0;
    nets[k] = &m->U; opts[k++] = &m->opt_U;
    nets[k] = &m->G; opts[k++] = &m->opt_G;
    for (int i = 0; i < m->n_aux; i++, k++) {
        nets[k] = m->aux[i];
        opts[k] = m->aux_opt[i];
    }
    return k;
}
