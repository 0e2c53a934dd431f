/* Presets: every preset's nets build, map to the right shapes, and have exactly the parameter counts of
 * the paper's PyTorch models (counted here by hand from their layer lists). */
#include "harness.h"

#include "ebgan/backend.h"
#include "ebgan/presets.h"

#include <string.h>

#define SHAPE(c, h, w) ((eb_shape){(c), (h), (w)})

/* PyTorch parameter counts of single layers. */
static long lin(long i, long o) { return i * o + o; }                /* nn.Linear(i, o) */
static long conv(long i, long o, long k) { return i * o * k * k + o; } /* Conv2d / ConvTranspose2d with bias */
static long bn(long c) { return 2 * c; }                              /* BatchNorm: weight, bias */

typedef struct counts { long u, g, t_trunk, t_head, e; } counts;

/* Builds every net of the preset on the CPU and checks its output shape and parameter count. */
static int check_preset(const char *model, eb_shape data, int z_dim, int dim, counts want) {
    eb_backend be;
    eb_preset p;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    EB_CHECK_OK(eb_preset_make(&p, model, data, z_dim, dim));
    const struct { const char *name; const char *spec; eb_shape in; eb_shape out; long params; } nets[] = {
        {"U", p.u_spec, data, SHAPE(1, 1, 1), want.u},
        {"G", p.g_spec, SHAPE(p.z_dim, 1, 1), data, want.g},
        {"T", p.t_trunk_spec, data, SHAPE(p.t_head_in - p.z_dim, 1, 1), want.t_trunk},
        {"T", p.t_head_spec, SHAPE(p.t_head_in, 1, 1), SHAPE(1, 1, 1), want.t_head},
        {"E", p.e_spec, data, SHAPE(p.z_dim, 1, 1), want.e},
    };
    for (int i = 0; i < 5; i++) {
        eb_net net;
        EB_CHECK_OK(eb_net_init(&net, &be, nets[i].name, nets[i].in, nets[i].spec));
        printf("%-6s %s: %-9ld params, [%d,%d,%d] -> [%d,%d,%d]  %s\n", model, nets[i].name, (long)net.n_trainable,
               nets[i].in.c, nets[i].in.h, nets[i].in.w, net.out_shape.c, net.out_shape.h, net.out_shape.w,
               nets[i].spec);
        /* flat outputs compare by numel (an empty toy trunk keeps the [d,1,1] data shape) */
        EB_CHECK(eb_shape_numel(net.out_shape) == eb_shape_numel(nets[i].out) &&
                     (nets[i].out.h == 1 || (net.out_shape.c == nets[i].out.c && net.out_shape.h == nets[i].out.h &&
                                             net.out_shape.w == nets[i].out.w)),
                 "%s %s: output [%d,%d,%d], expected [%d,%d,%d]", model, nets[i].name, net.out_shape.c,
                 net.out_shape.h, net.out_shape.w, nets[i].out.c, nets[i].out.h, nets[i].out.w);
        EB_CHECK((long)net.n_trainable == nets[i].params, "%s %s: %zu parameters, PyTorch has %ld", model, nets[i].name,
                 net.n_trainable, nets[i].params);
        EB_CHECK(strcmp(nets[i].name, "U") != 0 || !eb_net_has_batchnorm(&net), "U has batch norm");
        eb_net_free(&net, &be);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* networks/toy.py with z_dim 2, dim 512, 2-D data; T = StatisticsNetwork on cat([x, z]). */
EB_TEST(toy) {
    counts w = {
        .u = lin(2, 512) + 2 * lin(512, 512) + lin(512, 1),
        .g = lin(2, 512) + 2 * lin(512, 512) + lin(512, 2),
        .t_trunk = 0,
        .t_head = lin(2 + 2, 512) + 2 * lin(512, 512) + lin(512, 1),
        .e = lin(2, 512) + 2 * lin(512, 512) + lin(512, 2),
    };
    EB_CHECK(check_preset("toy", SHAPE(2, 1, 1), 0, 0, w) == EB_TEST_PASS, "toy preset");
    eb_preset p;
    EB_CHECK_OK(eb_preset_make(&p, "toy", SHAPE(2, 1, 1), 0, 0));
    EB_CHECK(p.batch == 256 && p.z_dim == 2 && p.dim == 512 && p.n_critic == 5, "toy defaults");
    EB_CHECK(fabs(p.lambda - 0.1) < 1e-12 && p.lr == 1e-4 && p.beta1 == 0.5 && p.beta2 == 0.9, "toy lambda/adam");
    EB_CHECK(p.t_trunk_spec[0] == '\0' && p.t_head_in == 4, "toy T: empty trunk, head on [x, z]");
    return EB_TEST_PASS;
}

/* networks/mnist.py, StackedMNIST with 3 channels, z 128, dim 512. */
EB_TEST(mnist_stacked) {
    const long C = 3, trunk = conv(C, 64, 5) + conv(64, 128, 5) + conv(128, 256, 5) + conv(256, 512, 5);
    counts w = {
        .u = trunk + lin(2 * 2 * 512, 1),
        .g = lin(128, 2 * 2 * 512) + bn(512) + conv(512, 256, 5) + bn(256) + conv(256, 128, 5) + bn(128) +
             conv(128, 64, 5) + bn(64) + conv(64, C, 5),
        .t_trunk = trunk + lin(2 * 2 * 512, 128),
        .t_head = lin(2 * 128, 512) + lin(512, 1),
        .e = trunk + lin(2 * 2 * 512, 128),
    };
    EB_CHECK(check_preset("mnist", SHAPE(3, 28, 28), 0, 0, w) == EB_TEST_PASS, "mnist preset");
    eb_preset p;
    EB_CHECK_OK(eb_preset_make(&p, "mnist", SHAPE(3, 28, 28), 0, 0));
    /* the paper's lambda 10 on its channel-norm-then-pixel-mean penalty = 10 / (28*28) under ours */
    EB_CHECK(fabs(p.lambda - 10.0 / 784.0) < 1e-12 && p.batch == 64 && p.z_dim == 128, "mnist defaults");
    return EB_TEST_PASS;
}

EB_TEST(mnist_single_channel_small_dim) {
    const long C = 1, d = 64, trunk = conv(C, d / 8, 5) + conv(d / 8, d / 4, 5) + conv(d / 4, d / 2, 5) + conv(d / 2, d, 5);
    counts w = {
        .u = trunk + lin(4 * d, 1),
        .g = lin(16, 4 * d) + bn(d) + conv(d, d / 2, 5) + bn(d / 2) + conv(d / 2, d / 4, 5) + bn(d / 4) +
             conv(d / 4, d / 8, 5) + bn(d / 8) + conv(d / 8, C, 5),
        .t_trunk = trunk + lin(4 * d, 16),
        .t_head = lin(2 * 16, d) + lin(d, 1),
        .e = trunk + lin(4 * d, 16),
    };
    return check_preset("mnist", SHAPE(1, 28, 28), 16, 64, w);
}

/* networks/cifar.py: 7-conv energy (LReLU 0.1), 4x4x512 generator. */
EB_TEST(cifar) {
    const long trunk = conv(3, 64, 3) + conv(64, 64, 4) + conv(64, 128, 3) + conv(128, 128, 4) + conv(128, 256, 3) +
                       conv(256, 256, 4) + conv(256, 512, 3);
    counts w = {
        .u = trunk + lin(4 * 4 * 512, 1),
        .g = lin(128, 4 * 4 * 512) + conv(512, 256, 4) + bn(256) + conv(256, 128, 4) + bn(128) + conv(128, 64, 4) +
             bn(64) + conv(64, 3, 3),
        .t_trunk = trunk + lin(4 * 4 * 512, 128),
        .t_head = lin(2 * 128, 512) + lin(512, 1),
        .e = trunk + lin(4 * 4 * 512, 128),
    };
    EB_CHECK(check_preset("cifar", SHAPE(3, 32, 32), 0, 0, w) == EB_TEST_PASS, "cifar preset");
    eb_preset p;
    EB_CHECK_OK(eb_preset_make(&p, "cifar", SHAPE(3, 32, 32), 0, 0));
    EB_CHECK(fabs(p.lambda - 10.0 / 1024.0) < 1e-12 && p.batch == 64, "cifar defaults");
    EB_CHECK(strstr(p.u_spec, "lrelu:0.1") && !strstr(p.u_spec, "lrelu:0.2"), "cifar uses LeakyReLU 0.1");
    return EB_TEST_PASS;
}

/* A custom U spec takes G / T / the defaults from the data shape's family and derives E from U. */
EB_TEST(custom_u_spec) {
    const char *u = "linear:64,softplus,linear:64,softplus,linear:1";
    counts w = {
        .u = lin(2, 64) + lin(64, 64) + lin(64, 1),
        .g = lin(2, 512) + 2 * lin(512, 512) + lin(512, 2),
        .t_trunk = 0,
        .t_head = lin(4, 512) + 2 * lin(512, 512) + lin(512, 1),
        .e = lin(2, 64) + lin(64, 64) + lin(64, 2),
    };
    EB_CHECK(check_preset(u, SHAPE(2, 1, 1), 0, 0, w) == EB_TEST_PASS, "custom toy U");
    eb_preset p;
    EB_CHECK_OK(eb_preset_make(&p, u, SHAPE(2, 1, 1), 0, 0));
    EB_CHECK(p.custom_u && strcmp(p.family, "toy") == 0 && strcmp(p.u_spec, u) == 0, "custom U kept");
    /* image data: the cifar family's G and T */
    EB_CHECK_OK(eb_preset_make(&p, "conv:16:4:2:1,softplus,conv:32:4:2:1,softplus,linear:1", SHAPE(3, 32, 32), 0, 64));
    EB_CHECK(strcmp(p.family, "cifar") == 0 && strstr(p.e_spec, "softplus,linear:128"), "custom cifar: %s", p.e_spec);
    /* bad custom U: the message names the layer */
    EB_CHECK(eb_preset_make(&p, "conv:16:40:2:1,linear:1", SHAPE(3, 32, 32), 0, 0) == EB_ERR_ARG &&
                 strstr(eb_error_message(), "layer 0"), "bad custom U: %s", eb_error_message());
    return EB_TEST_PASS;
}

EB_TEST(bad_presets) {
    eb_preset p;
    EB_CHECK(eb_preset_make(&p, "celeba", SHAPE(3, 64, 64), 0, 0) == EB_ERR_ARG, "unknown model accepted");
    EB_CHECK(eb_preset_make(&p, "mnist", SHAPE(3, 32, 32), 0, 0) == EB_ERR_ARG, "mnist on 32x32 accepted");
    EB_CHECK(eb_preset_make(&p, "cifar", SHAPE(3, 32, 32), 0, 100) == EB_ERR_ARG, "dim 100 accepted");
    EB_CHECK(eb_preset_make(&p, "toy", SHAPE(3, 28, 28), 0, 0) == EB_ERR_ARG, "toy on images accepted");
    return EB_TEST_PASS;
}
