/* Builds the networks of the MEG method from spec strings and checks that their shapes fit together:
 * U: x -> 1, G: z -> x, T: head([trunk(x), z]) -> 1 (dim) or E: x -> z (infogan). */
#include "ebgan/gan.h"

#include <string.h>

const char *eb_entropy_name(eb_entropy_kind k) {
    switch (k) {
    case EB_ENTROPY_NONE: return "none";
    case EB_ENTROPY_DIM: return "dim";
    case EB_ENTROPY_INFOGAN: return "infogan";
    }
    return "?";
}

int eb_entropy_parse(const char *s) {
    if (!strcmp(s, "none")) return EB_ENTROPY_NONE;
    if (!strcmp(s, "dim")) return EB_ENTROPY_DIM;
    if (!strcmp(s, "infogan")) return EB_ENTROPY_INFOGAN;
    return -1;
}

static eb_status check_out(const eb_net *net, int64_t want, const char *what) {
    int64_t got = eb_shape_numel(net->out_shape);
    if (got != want)
        return EB_FAIL(EB_ERR_ARG, "network %s: output has %lld values per sample, %s needs %lld", net->name,
                       (long long)got, what, (long long)want);
    return EB_OK;
}

eb_status eb_gan_init(eb_gan *m, const eb_backend *be, const eb_gan_specs *specs, eb_shape x_shape, int z_dim,
                      eb_entropy_kind entropy, const eb_optim_cfg *opt) {
    memset(m, 0, sizeof *m);
    m->x_shape = x_shape;
    m->z_dim = z_dim;
    m->entropy = entropy;
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
    if (entropy == EB_ENTROPY_DIM) {
        int64_t f = xn;
        m->has_trunk = specs->t_trunk && specs->t_trunk[0];
        if (m->has_trunk) {
            if ((st = eb_net_init(&m->T_trunk, be, "T.trunk", x_shape, specs->t_trunk)) != EB_OK) goto fail;
            if ((st = eb_optim_init(&m->opt_T_trunk, be, m->T_trunk.n_params, opt)) != EB_OK) goto fail;
            f = eb_shape_numel(m->T_trunk.out_shape);
        }
        eb_shape hs = {(int)(f + z_dim), 1, 1};
        if ((st = eb_net_init(&m->T_head, be, "T.head", hs, specs->t_head)) != EB_OK) goto fail;
        if ((st = check_out(&m->T_head, 1, "the statistics network's logit")) != EB_OK) goto fail;
        if ((st = eb_optim_init(&m->opt_T_head, be, m->T_head.n_params, opt)) != EB_OK) goto fail;
    } else if (entropy == EB_ENTROPY_INFOGAN) {
        if ((st = eb_net_init(&m->E, be, "E", x_shape, specs->e)) != EB_OK) goto fail;
        if ((st = check_out(&m->E, z_dim, "the encoder's z estimate")) != EB_OK) goto fail;
        if ((st = eb_optim_init(&m->opt_E, be, m->E.n_params, opt)) != EB_OK) goto fail;
    }
    return EB_OK;
fail:
    eb_gan_free(m, be);
    return st;
}

void eb_gan_free(eb_gan *m, const eb_backend *be) {
    /* every slot, whatever the entropy kind: a half-built model (init failed) frees what it has */
    eb_net *nets[5] = {&m->U, &m->G, &m->T_trunk, &m->T_head, &m->E};
    eb_optim *opts[5] = {&m->opt_U, &m->opt_G, &m->opt_T_trunk, &m->opt_T_head, &m->opt_E};
    for (int i = 0; i < 5; i++) {
        if (nets[i]->layers) eb_net_free(nets[i], be);
        if (opts[i]->arena) eb_optim_free(opts[i], be);
    }
    memset(m, 0, sizeof *m);
}

eb_status eb_gan_init_weights(eb_gan *m, const eb_backend *be, eb_rng *rng) {
    eb_net *nets[5];
    eb_optim *opts[5];
    int k = eb_gan_nets(m, nets, opts);
    for (int i = 0; i < k; i++) EB_TRY(eb_net_init_weights(nets[i], be, rng));
    return EB_OK;
}

int eb_gan_nets(eb_gan *m, eb_net **nets, eb_optim **opts) {
    int k = 0;
    nets[k] = &m->U; opts[k++] = &m->opt_U;
    nets[k] = &m->G; opts[k++] = &m->opt_G;
    if (m->entropy == EB_ENTROPY_DIM) {
        if (m->has_trunk) { nets[k] = &m->T_trunk; opts[k++] = &m->opt_T_trunk; }
        nets[k] = &m->T_head; opts[k++] = &m->opt_T_head;
    } else if (m->entropy == EB_ENTROPY_INFOGAN) {
        nets[k] = &m->E; opts[k++] = &m->opt_E;
    }
    return k;
}
