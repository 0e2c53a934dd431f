/* The table of entropy surrogates (DESIGN.md §1): a new surrogate is one entry here plus its loss; eb_gan_init,
 * the G step and the trainer loop over the nets an entry lists. */
#include "surrogate.h"

#include <string.h>

#define SPEC(f) offsetof(eb_gan_specs, f)
#define NET(f) offsetof(eb_gan, f)
#define WS(f) offsetof(eb_gstep, f)

/* DeepInfoMax's JSD estimator: T(x, z) = head([trunk(x), z]), one logit; the trunk runs once per fake and the
 * head on the real and the shuffled pairs. */
static const eb_surrogate_net dim_nets[] = {
    {"T.trunk", SPEC(t_trunk), NET(T_trunk), NET(opt_T_trunk), WS(ws_T_trunk), EB_SURROGATE_IN_X, 1, 0, NULL, 1, 0, 0},
    {"T.head", SPEC(t_head), NET(T_head), NET(opt_T_head), WS(ws_T_head), EB_SURROGATE_IN_FEATURE_Z, 0, 1,
     "the statistics network's logit", 2, 0, 0},
};

/* InfoGAN's lower bound: the encoder E(x) estimates z. */
static const eb_surrogate_net infogan_nets[] = {
    {"E", SPEC(e), NET(E), NET(opt_E), WS(ws_E), EB_SURROGATE_IN_X, 0, -1, "the encoder's z estimate", 1, 0, 0},
};

/* VERA: the generator's output noise log sigma and the posterior's log eta (its own learning rate). */
static const eb_surrogate_net vera_nets[] = {
    {"G.sigma", 0, NET(vera_sigma), NET(opt_vera_sigma), WS(ws_vera_sigma), EB_SURROGATE_IN_X, 0, 1, NULL, 1, 1, 0},
    {"xi.eta", 0, NET(vera_eta), NET(opt_vera_eta), WS(ws_vera_eta), EB_SURROGATE_IN_X, 0, -1, NULL, 1, 1,
     NET(vera.post_lr)},
};

static const eb_surrogate table[] = {
    {EB_ENTROPY_NONE, "none", 0, NULL, NULL, 0, 0, NULL},
    {EB_ENTROPY_DIM, "dim", 2, dim_nets, eb_surrogate_dim_loss, 1, 2, NULL},
    {EB_ENTROPY_INFOGAN, "infogan", 1, infogan_nets, eb_surrogate_infogan_loss, 0, 0, NULL},
    {EB_ENTROPY_VERA, "vera", 2, vera_nets, eb_surrogate_vera_loss, 0, 0, &eb_surrogate_vera_hooks},
};

const eb_surrogate *eb_surrogate_of(eb_entropy_kind kind) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].kind == kind) return &table[i];
    return NULL;
}

const eb_surrogate *eb_surrogate_named(const char *name) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].name, name)) return &table[i];
    return NULL;
}
