/* Alignment: every tensor an op receives (each layer's weight and bias, their gradients, bn buffers, Adam
 * moments, every workspace slot) starts on an EB_TENSOR_ALIGN_BYTES boundary, for every preset and a spec. */
#include "harness.h"

#include "ebgan/align.h"
#include "ebgan/backend.h"
#include "ebgan/gan.h"
#include "ebgan/gstep.h"
#include "ebgan/mala.h"
#include "ebgan/presets.h"
#include "ebgan/ustep.h"

#include <stdint.h>
#include <stdlib.h>

#define ALIGNED(p) (((uintptr_t)(p)) % EB_TENSOR_ALIGN_BYTES == 0)
#define CHECK_ALIGNED(p, ...)                                                                                  \
    EB_CHECK((p) == NULL || ALIGNED(p), __VA_ARGS__)

/* Every named tensor of the net, in params, grads and buffers, plus the area bases. */
static int check_net(const eb_net *net, const char *what) {
    int n = eb_net_param_list(net, NULL, 0);
    eb_param_info *info = calloc((size_t)n + 1, sizeof *info);
    EB_CHECK(info, "out of memory");
    eb_net_param_list(net, info, n);
    size_t trainable = 0;
    for (int i = 0; i < n; i++) {
        const eb_param_info *pi = &info[i];
        if (pi->is_buffer) {
            CHECK_ALIGNED(net->buffers + pi->offset, "%s %s: buffer at element %zu is not aligned", what, pi->name,
                          pi->offset);
        } else {
            CHECK_ALIGNED(net->params + pi->offset, "%s %s: parameter at element %zu is not aligned", what, pi->name,
                          pi->offset);
            CHECK_ALIGNED(net->grads + pi->offset, "%s %s: gradient at element %zu is not aligned", what, pi->name,
                          pi->offset);
            trainable += pi->len;
        }
    }
    free(info);
    EB_CHECK(trainable == net->n_trainable, "%s: n_trainable %zu, the tensors hold %zu", what, net->n_trainable,
             trainable);
    EB_CHECK(net->n_params >= net->n_trainable && net->n_params % EB_TENSOR_ALIGN_ELEMS == 0,
             "%s: params area of %zu elements for %zu parameters", what, net->n_params, net->n_trainable);
    return EB_TEST_PASS;
}

static int check_ws(const eb_net_ws *ws, const char *what) {
    for (int l = 1; l <= ws->n_layers; l++) {
        CHECK_ALIGNED(ws->h[l], "%s workspace: h[%d] not aligned", what, l);
        if (l < ws->n_layers) CHECK_ALIGNED(ws->g[l], "%s workspace: g[%d] not aligned", what, l);
    }
    for (int i = 0; i < 2; i++) {
        CHECK_ALIGNED(ws->t[i], "%s workspace: t[%d] not aligned", what, i);
        CHECK_ALIGNED(ws->r[i], "%s workspace: r[%d] not aligned", what, i);
    }
    CHECK_ALIGNED(ws->c, "%s workspace: curvature area not aligned", what);
    CHECK_ALIGNED(ws->bn_stats, "%s workspace: bn statistics not aligned", what);
    return EB_TEST_PASS;
}

static int check_optim(const eb_optim *o, const char *what) {
    CHECK_ALIGNED(o->hyper, "%s optimiser: schedule slot not aligned", what);
    CHECK_ALIGNED(o->m, "%s optimiser: exp_avg not aligned", what);
    CHECK_ALIGNED(o->v, "%s optimiser: exp_avg_sq not aligned", what);
    return EB_TEST_PASS;
}

/* Builds the whole model of `model` for `data` with `entropy`, at an odd batch (so no size is a multiple
 * of the alignment by luck), and checks every tensor of every net, optimiser, step and MALA state. */
static int check_model(const char *model, eb_shape data, eb_entropy_kind entropy) {
    eb_backend be;
    eb_preset p;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    EB_CHECK_OK(eb_preset_make(&p, model, data, 0, 0));
    const eb_gan_specs specs = {p.u_spec, p.g_spec, p.t_trunk_spec, p.t_head_spec, p.e_spec};
    const eb_optim_cfg oc = {EB_OPTIM_ADAM, 1e-4, 0.5, 0.9, 1e-8};
    eb_gan gan;
    EB_CHECK_OK(eb_gan_init(&gan, &be, &specs, data, p.z_dim, entropy, &oc));
    eb_net *nets[5];
    eb_optim *opts[5];
    const int k = eb_gan_nets(&gan, nets, opts);
    for (int i = 0; i < k; i++) {
        if (check_net(nets[i], nets[i]->name) != EB_TEST_PASS) return EB_TEST_FAIL;
        if (check_optim(opts[i], nets[i]->name) != EB_TEST_PASS) return EB_TEST_FAIL;
    }
    const int B = 7;
    eb_ustep us;
    EB_CHECK_OK(eb_ustep_init(&us, &be, &gan.U, B));
    if (check_ws(&us.ws, "U step") != EB_TEST_PASS) return EB_TEST_FAIL;
    const eb_real *uslots[] = {us.ones, us.gbar, us.g0, us.x_hat, us.terms};
    for (int i = 0; i < 5; i++) CHECK_ALIGNED(uslots[i], "U step slot %d not aligned", i);
    eb_gstep gs;
    EB_CHECK_OK(eb_gstep_init(&gs, &be, &gan, B));
    const eb_net_ws *gws[] = {&gs.ws_G, &gs.ws_U, &gs.ws_T_trunk, &gs.ws_T_head, &gs.ws_E};
    for (int i = 0; i < 5; i++)
        if (gws[i]->h && check_ws(gws[i], "G step") != EB_TEST_PASS) return EB_TEST_FAIL;
    const void *gslots[] = {gs.z, gs.z_perm, gs.dx, gs.head_in, gs.d_head_in, gs.dlogit, gs.df, gs.seed, gs.terms,
                            gs.perm};
    for (int i = 0; i < 10; i++) CHECK_ALIGNED(gslots[i], "G step slot %d not aligned", i);
    eb_mala mala;
    EB_CHECK_OK(eb_mala_init(&mala, &be, &gan.G, &gan.U, B));
    if (check_ws(&mala.ws_G, "MALA G") != EB_TEST_PASS || check_ws(&mala.ws_U, "MALA U") != EB_TEST_PASS)
        return EB_TEST_FAIL;
    const eb_real *mslots[] = {mala.e, mala.g, mala.zp, mala.ep, mala.gp, mala.accepted, mala.seed, mala.dx,
                               mala.sq};
    for (int i = 0; i < 9; i++) CHECK_ALIGNED(mslots[i], "MALA slot %d not aligned", i);
    eb_mala_free(&mala, &be);
    eb_gstep_free(&gs, &be);
    eb_ustep_free(&us, &be);
    eb_gan_free(&gan, &be);
    eb_cpu_backend_free(&be);
    printf("%s (%s): every tensor %d-byte aligned\n", model, eb_entropy_name(entropy), EB_TENSOR_ALIGN_BYTES);
    return EB_TEST_PASS;
}

EB_TEST(toy_preset_tensors_are_aligned) {
    if (check_model("toy", (eb_shape){2, 1, 1}, EB_ENTROPY_DIM)) return EB_TEST_FAIL;
    return check_model("toy", (eb_shape){2, 1, 1}, EB_ENTROPY_INFOGAN);
}

EB_TEST(mnist_preset_tensors_are_aligned) {
    if (check_model("mnist", (eb_shape){1, 28, 28}, EB_ENTROPY_DIM)) return EB_TEST_FAIL;
    return check_model("mnist", (eb_shape){1, 28, 28}, EB_ENTROPY_INFOGAN);
}

EB_TEST(stacked_mnist_preset_tensors_are_aligned) {
    return check_model("mnist", (eb_shape){3, 28, 28}, EB_ENTROPY_DIM);
}

EB_TEST(cifar_preset_tensors_are_aligned) {
    if (check_model("cifar", (eb_shape){3, 32, 32}, EB_ENTROPY_DIM)) return EB_TEST_FAIL;
    return check_model("cifar", (eb_shape){3, 32, 32}, EB_ENTROPY_INFOGAN);
}

/* Odd widths everywhere: 3, 5 and 7 channels, 1-channel conv, a bias-free layer. */
EB_TEST(custom_spec_tensors_are_aligned) {
    return check_model("conv:3:3:1:1,softplus,conv:5:4:2:1:nobias,lrelu:0.2,conv:7:3:2:1,tanh,linear:1",
                       (eb_shape){1, 28, 28}, EB_ENTROPY_DIM);
}

/* The packed checkpoint order (PyTorch's flat parameter order) round-trips through the aligned layout, and
 * unpacking zeroes the padding. */
EB_TEST(packed_parameter_order_round_trips) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_net net;
    EB_CHECK_OK(eb_net_init(&net, &be, "U", (eb_shape){3, 8, 8}, "conv:5:3:1:1,softplus,bn,linear:3,relu,linear:1"));
    EB_CHECK(net.n_params > net.n_trainable, "expected padding (%zu / %zu)", net.n_params, net.n_trainable);
    eb_real *span = malloc(net.n_params * sizeof *span);
    EB_CHECK(span, "out of memory");
    for (size_t i = 0; i < net.n_trainable; i++) span[i] = (eb_real)(i + 1);
    for (size_t i = net.n_trainable; i < net.n_params; i++) span[i] = (eb_real)-7; /* junk to be zeroed */
    eb_net_params_unpack(&net, span);
    eb_param_info info[16];
    int n = eb_net_param_list(&net, info, 16);
    size_t at = 0, inside = 0;
    for (int i = 0; i < n; i++) {
        if (info[i].is_buffer) continue;
        for (size_t j = 0; j < info[i].len; j++)
            EB_CHECK(span[info[i].offset + j] == (eb_real)(at + j + 1), "%s[%zu] = %g after unpack, expected %zu",
                     info[i].name, j, (double)span[info[i].offset + j], at + j + 1);
        at += info[i].len;
        inside += info[i].len;
    }
    size_t zeros = 0;
    for (size_t i = 0; i < net.n_params; i++) zeros += span[i] == 0;
    EB_CHECK(zeros == net.n_params - inside, "padding: %zu zeros, expected %zu", zeros, net.n_params - inside);
    eb_net_params_pack(&net, span);
    for (size_t i = 0; i < net.n_trainable; i++)
        EB_CHECK(span[i] == (eb_real)(i + 1), "packed[%zu] = %g, expected %zu", i, (double)span[i], i + 1);
    free(span);
    eb_net_free(&net, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}
