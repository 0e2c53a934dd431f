/* The paper's networks as spec strings and the paper code's defaults (notes: networks/{toy,mnist,cifar}.py,
 * scripts/train/ebm_*.py of the MEG code); every preset is shape-checked before it is returned. */
#include "ebgan/presets.h"
#include "net_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends printf output to a spec buffer; fails when it would not fit. */
static eb_status spec_cat(char *dst, const char *what, const char *fmt, ...) {
    size_t used = strlen(dst);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(dst + used, EB_PRESET_SPEC_MAX - used, fmt, ap);
    va_end(ap);
    if (k < 0 || used + (size_t)k >= EB_PRESET_SPEC_MAX)
        return EB_FAIL(EB_ERR_ARG, "preset: the %s spec is longer than %d bytes", what, EB_PRESET_SPEC_MAX - 1);
    return EB_OK;
}

/* Toy (networks/toy.py): MLPs of width dim, LeakyReLU 0.2 in U and T, ReLU in G; T sees cat([x, z]) at
 * its input, so its trunk is empty. On non-flat data (custom U only) G ends in a reshape to the data. */
static eb_status family_toy(eb_preset *p) {
    const int dim = p->dim, d = (int)eb_shape_numel(p->data);
    static const char mlp[] = "linear:%d,lrelu:0.2,linear:%d,lrelu:0.2,linear:%d,lrelu:0.2,linear:%d";
    EB_TRY(spec_cat(p->u_spec, "U", mlp, dim, dim, dim, 1));
    EB_TRY(spec_cat(p->g_spec, "G", "linear:%d,relu,linear:%d,relu,linear:%d,relu,linear:%d", dim, dim, dim, d));
    if (p->data.h * p->data.w != 1)
        EB_TRY(spec_cat(p->g_spec, "G", ",reshape:%d:%d:%d", p->data.c, p->data.h, p->data.w));
    p->t_trunk_spec[0] = '\0';
    p->t_head_in = d + p->z_dim;
    EB_TRY(spec_cat(p->t_head_spec, "T head", mlp, dim, dim, dim, 1));
    EB_TRY(spec_cat(p->e_spec, "E", mlp, dim, dim, dim, p->z_dim));
    return EB_OK;
}

/* MNIST / StackedMNIST (networks/mnist.py), 28x28 with n_stack channels: four k5 s2 p2 convs
 * 28 -> 14 -> 7 -> 4 -> 2 with LeakyReLU 0.2 (no bn in U); G = linear to 2x2xdim, bn, relu, and four
 * convts 2 -> 4 (op 1) -> 7 (op 0) -> 14 (op 1) -> 28 (op 1), bn + relu between, tanh at the end. */
static eb_status family_mnist(eb_preset *p) {
    const int dim = p->dim, c = p->data.c, z = p->z_dim;
    char trunk[EB_PRESET_SPEC_MAX] = "";
    EB_TRY(spec_cat(trunk, "U trunk", "conv:%d:5:2:2,lrelu:0.2,conv:%d:5:2:2,lrelu:0.2,conv:%d:5:2:2,lrelu:0.2,"
                    "conv:%d:5:2:2,lrelu:0.2", dim / 8, dim / 4, dim / 2, dim));
    EB_TRY(spec_cat(p->u_spec, "U", "%s,linear:1", trunk));
    EB_TRY(spec_cat(p->g_spec, "G", "linear:%d,reshape:%d:2:2,bn,relu,convt:%d:5:2:2:1,bn,relu,convt:%d:5:2:2:0,"
                    "bn,relu,convt:%d:5:2:2:1,bn,relu,convt:%d:5:2:2:1,tanh", 4 * dim, dim, dim / 2, dim / 4,
                    dim / 8, c));
    /* T: the same conv trunk (own weights), expand = linear to z_dim, then cat with z: head on 2 z_dim. */
    EB_TRY(spec_cat(p->t_trunk_spec, "T trunk", "%s,linear:%d", trunk, z));
    p->t_head_in = 2 * z;
    EB_TRY(spec_cat(p->t_head_spec, "T head", "linear:%d,lrelu:0.2,linear:1", dim));
    EB_TRY(spec_cat(p->e_spec, "E", "%s,linear:%d", trunk, z));
    return EB_OK;
}

/* CIFAR-10 (networks/cifar.py), 32x32: seven convs with LeakyReLU 0.1, k3 s1 p1 / k4 s2 p1 alternating,
 * channels dim/8 (64) .. dim (512), 32 -> 16 -> 8 -> 4; G = linear to 4x4xdim (no bn / activation after it),
 * three k4 s2 p1 convts with bn + relu, a k3 s1 p1 convt to the data channels, tanh. The paper's code
 * writes the channel counts 64..512 for dim = 512; other widths scale them as dim/8..dim. */
static eb_status family_cifar(eb_preset *p) {
    const int dim = p->dim, c = p->data.c, z = p->z_dim;
    char trunk[EB_PRESET_SPEC_MAX] = "";
    EB_TRY(spec_cat(trunk, "U trunk", "conv:%d:3:1:1,lrelu:0.1,conv:%d:4:2:1,lrelu:0.1,conv:%d:3:1:1,lrelu:0.1,"
                    "conv:%d:4:2:1,lrelu:0.1,conv:%d:3:1:1,lrelu:0.1,conv:%d:4:2:1,lrelu:0.1,conv:%d:3:1:1,lrelu:0.1",
                    dim / 8, dim / 8, dim / 4, dim / 4, dim / 2, dim / 2, dim));
    EB_TRY(spec_cat(p->u_spec, "U", "%s,linear:1", trunk));
    EB_TRY(spec_cat(p->g_spec, "G", "linear:%d,reshape:%d:4:4,convt:%d:4:2:1:0,bn,relu,convt:%d:4:2:1:0,bn,relu,"
                    "convt:%d:4:2:1:0,bn,relu,convt:%d:3:1:1:0,tanh", 16 * dim, dim, dim / 2, dim / 4, dim / 8, c));
    EB_TRY(spec_cat(p->t_trunk_spec, "T trunk", "%s,linear:%d", trunk, z));
    p->t_head_in = 2 * z;
    EB_TRY(spec_cat(p->t_head_spec, "T head", "linear:%d,lrelu:0.1,linear:1", dim));
    EB_TRY(spec_cat(p->e_spec, "E", "%s,linear:%d", trunk, z));
    return EB_OK;
}

/* Parses `spec` on `in` and checks its output shape against `want` (numel only when want.h == 0). */
static eb_status check_spec(const char *net, const char *spec, eb_shape in, eb_shape want) {
    eb_layer *layers = NULL;
    int n = 0;
    eb_shape out;
    EB_TRY(eb_net_spec_parse(net, in, spec, &layers, &n, &out));
    free(layers);
    int ok = want.h == 0 ? eb_shape_numel(out) == want.c
                         : out.c == want.c && out.h == want.h && out.w == want.w;
    if (!ok)
        return EB_FAIL(EB_ERR_ARG, "preset: %s maps [%d,%d,%d] to [%d,%d,%d], expected [%d,%d,%d]", net, in.c, in.h,
                       in.w, out.c, out.h, out.w, want.c, want.h ? want.h : 1, want.h ? want.w : 1);
    return EB_OK;
}

/* E for a custom U: U's layers up to (without) its final linear layer, then linear:z_dim. */
static int custom_encoder(eb_preset *p) {
    const char *last = strrchr(p->u_spec, ',');
    const char *tok = last ? last + 1 : p->u_spec;
    while (*tok == ' ') tok++;
    if (strncmp(tok, "linear", 6) != 0 || !last) return 0;
    size_t keep = (size_t)(last - p->u_spec);
    if (keep + 32 >= EB_PRESET_SPEC_MAX) return 0;
    memcpy(p->e_spec, p->u_spec, keep);
    snprintf(p->e_spec + keep, EB_PRESET_SPEC_MAX - keep, ",linear:%d", p->z_dim);
    return 1;
}

eb_status eb_preset_make(eb_preset *p, const char *model, eb_shape data, int z_dim, int dim) {
    memset(p, 0, sizeof *p);
    if (!model) return EB_FAIL(EB_ERR_ARG, "preset: no model name");
    if (data.c < 1 || data.h < 1 || data.w < 1)
        return EB_FAIL(EB_ERR_ARG, "preset '%s': data shape [%d,%d,%d] must be positive", model, data.c, data.h, data.w);
    p->custom_u = strchr(model, ':') != NULL;
    const char *family;
    if (p->custom_u) {
        family = data.h == 28 && data.w == 28 ? "mnist" : data.h == 32 && data.w == 32 ? "cifar" : "toy";
    } else if (strcmp(model, "toy") == 0 || strcmp(model, "mnist") == 0 || strcmp(model, "cifar") == 0) {
        family = model;
        if (strcmp(model, "toy") == 0 && data.h * data.w != 1)
            return EB_FAIL(EB_ERR_ARG, "preset 'toy': data must be flat [d,1,1], got [%d,%d,%d]", data.c, data.h, data.w);
        if (strcmp(model, "mnist") == 0 && (data.h != 28 || data.w != 28))
            return EB_FAIL(EB_ERR_ARG, "preset 'mnist': data must be [n_stack,28,28], got [%d,%d,%d]", data.c, data.h,
                           data.w);
        if (strcmp(model, "cifar") == 0 && (data.h != 32 || data.w != 32))
            return EB_FAIL(EB_ERR_ARG, "preset 'cifar': data must be [c,32,32], got [%d,%d,%d]", data.c, data.h, data.w);
    } else {
        return EB_FAIL(EB_ERR_ARG, "unknown model '%s' (expected toy, mnist, cifar or a U spec string with ':')", model);
    }
    const int is_toy = strcmp(family, "toy") == 0;
    snprintf(p->family, sizeof p->family, "%s", family);
    p->data = data;
    p->z_dim = z_dim > 0 ? z_dim : is_toy ? 2 : 128;
    p->dim = dim > 0 ? dim : 512;
    if (!is_toy && p->dim % 8 != 0)
        return EB_FAIL(EB_ERR_ARG, "preset '%s': dim %d must be a multiple of 8 (the conv widths are dim/8..dim)",
                       family, p->dim);

    /* Defaults of scripts/train/ebm_{toy,mnist,cifar}.py: Adam(1e-4, (0.5, 0.9)), 5 U steps per G step. */
    p->batch = is_toy ? 256 : 64;
    p->lr = 1e-4;
    p->beta1 = 0.5;
    p->beta2 = 0.9;
    p->n_critic = 5;
    p->iters = 100000;
    /* lambda: the paper's code uses 0.1 on toys and 10 on images, but on images its penalty is
     * (grad.norm(2, dim=1)**2).mean() over NCHW: the norm over channels only, then the mean over batch
     * AND pixels, i.e. (1/(H*W)) E ||grad||^2 with the full per-sample norm. Our penalty uses the full
     * norm (DESIGN.md §1 pitfall), so reproducing the paper needs lambda = 10 / (H*W) (10/784 on MNIST,
     * 10/1024 on CIFAR). On flat data the two definitions agree: 0.1. */
    p->lambda = data.h * data.w == 1 ? 0.1 : 10.0 / ((double)data.h * data.w);

    if (strcmp(family, "mnist") == 0) EB_TRY(family_mnist(p));
    else if (strcmp(family, "cifar") == 0) EB_TRY(family_cifar(p));
    else EB_TRY(family_toy(p));

    if (p->custom_u) {
        if (strlen(model) >= EB_PRESET_SPEC_MAX)
            return EB_FAIL(EB_ERR_ARG, "preset: the U spec is longer than %d bytes", EB_PRESET_SPEC_MAX - 1);
        char family_e[EB_PRESET_SPEC_MAX];
        memcpy(family_e, p->e_spec, sizeof family_e);
        snprintf(p->u_spec, sizeof p->u_spec, "%s", model);
        if (!custom_encoder(p)) memcpy(p->e_spec, family_e, sizeof family_e);
    }

    const eb_shape zs = {p->z_dim, 1, 1}, one = {1, 1, 1};
    EB_TRY(check_spec("U", p->u_spec, data, one));
    EB_TRY(check_spec("G", p->g_spec, zs, data));
    if (p->t_trunk_spec[0]) EB_TRY(check_spec("T trunk", p->t_trunk_spec, data, (eb_shape){p->t_head_in - p->z_dim, 0, 0}));
    EB_TRY(check_spec("T head", p->t_head_spec, (eb_shape){p->t_head_in, 1, 1}, one));
    EB_TRY(check_spec("E", p->e_spec, data, (eb_shape){p->z_dim, 0, 0}));
    return EB_OK;
}
