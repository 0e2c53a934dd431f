/* Model presets: the paper's networks (toy, MNIST / StackedMNIST, CIFAR-10) as spec strings for U, G, T and E,
 * with the paper code's training defaults (DESIGN.md §1; the architectures of networks/{toy,mnist,cifar}.py). */
#ifndef EBGAN_PRESETS_H
#define EBGAN_PRESETS_H

#include "ebgan/net.h"

#define EB_PRESET_SPEC_MAX 2048 /* bytes of one spec string, terminator included */

typedef struct eb_preset {
    char family[8];        /* "toy", "mnist" or "cifar": where G, T and E (and the defaults) come from */
    int custom_u;          /* 1 when U is the caller's spec string (model name containing ':') */
    eb_shape data;         /* per-sample data shape: U's, T trunk's and E's input, G's output */
    int z_dim, dim;        /* latent size, hidden width */
    /* Spec strings (grammar of net.h). Input shapes: U, E and T trunk take `data`; G takes [z_dim, 1, 1];
     * T head takes [t_head_in, 1, 1] = the concatenation [T_trunk(x), z] per sample. */
    char u_spec[EB_PRESET_SPEC_MAX];       /* -> [1,1,1] energy */
    char g_spec[EB_PRESET_SPEC_MAX];       /* -> data */
    char t_trunk_spec[EB_PRESET_SPEC_MAX]; /* -> [z_dim,1,1] for images; "" (identity) for toy: T sees [x, z] */
    char t_head_spec[EB_PRESET_SPEC_MAX];  /* -> [1,1,1] logit */
    int t_head_in;                         /* numel(T_trunk(x)) + z_dim */
    char e_spec[EB_PRESET_SPEC_MAX];       /* -> [z_dim,1,1] encoder of the infogan surrogate */
    /* The paper code's defaults (scripts/train/ebm_{toy,mnist,cifar}.py). */
    int batch;             /* 256 toy, 64 images */
    double lambda;         /* score-penalty weight under our full-norm definition (see presets.c) */
    double lr, beta1, beta2; /* Adam 1e-4, (0.5, 0.9) for every net */
    int n_critic;          /* U steps per G step: 5 */
    int iters;             /* G iterations: 100000 */
} eb_preset;

/* Fills `p` for `model` on per-sample data shape `data` (toy: [d,1,1], d = 2 for the 2-D toys;
 * mnist: [n_stack,28,28]; cifar: [3,32,32]). z_dim / dim <= 0 pick the paper's defaults (toy 2 / 512,
 * images 128 / 512). A model name containing ':' is a U spec string: U is that, G / T / E and the defaults
 * come from the family of the data shape (h = w = 1: toy; 28x28: mnist; 32x32: cifar; any other: the toy
 * MLPs on the flattened data, G ending in a reshape), and E is U without its final linear layer followed
 * by linear:z_dim (the family's E when U does not end in a linear layer). Every spec is shape-checked;
 * errors (EB_ERR_ARG) name the net, the layer and the shapes. */
eb_status eb_preset_make(eb_preset *p, const char *model, eb_shape data, int z_dim, int dim);

#endif
