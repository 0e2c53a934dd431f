/* Spec parsing: shapes, parameter layout and PyTorch names; bad specs fail with EB_ERR_ARG and a message
 * naming the layer; a U with batch norm is refused by the U step. */
#include "harness.h"

#include "ebgan/backend.h"
#include "ebgan/net.h"
#include "ebgan/ustep.h"

#include <string.h>

#define SHAPE(c, h, w) ((eb_shape){(c), (h), (w)})

/* eb_net_init(spec) must fail with EB_ERR_ARG and a message containing every string of `needles`. */
static int expect_bad(const char *spec, eb_shape in, const char *needle1, const char *needle2) {
    eb_backend be;
    eb_net net;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_error_clear();
    eb_status st = eb_net_init(&net, &be, "U", in, spec);
    const char *msg = eb_error_message();
    printf("%-40s -> %s: %s\n", spec, eb_status_name(st), msg);
    EB_CHECK(st == EB_ERR_ARG, "spec '%s' gave status %s, expected bad argument", spec, eb_status_name(st));
    EB_CHECK(strstr(msg, needle1) != NULL, "message '%s' lacks '%s'", msg, needle1);
    EB_CHECK(!needle2 || strstr(msg, needle2) != NULL, "message '%s' lacks '%s'", msg, needle2);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(unknown_layer) { return expect_bad("linear:8,relu,dense:4", SHAPE(2, 1, 1), "layer 2", "dense"); }
EB_TEST(missing_number) { return expect_bad("conv:8:3:2:1,lrelu:0.2,conv:8:3:2", SHAPE(1, 8, 8), "layer 2", "missing number P"); }
EB_TEST(missing_slope) { return expect_bad("linear:8,lrelu", SHAPE(2, 1, 1), "layer 1", "SLOPE"); }
EB_TEST(not_a_number) { return expect_bad("linear:x8", SHAPE(2, 1, 1), "layer 0", "not an integer"); }
EB_TEST(kernel_too_large) {
    /* 8x8 -> 4x4 -> 2x2, then a 5x5 kernel without padding: names the input shape and the kernel */
    return expect_bad("conv:4:3:2:1,relu,conv:4:3:2:1,relu,conv:4:5:1:0", SHAPE(1, 8, 8), "layer 4", "[4,2,2]");
}
EB_TEST(negative_size) { return expect_bad("linear:8,relu,linear:-3", SHAPE(2, 1, 1), "layer 2", "negative"); }
EB_TEST(negative_padding) { return expect_bad("conv:4:3:1:-1", SHAPE(1, 8, 8), "layer 0", "negative"); }
EB_TEST(reshape_mismatch) { return expect_bad("linear:512,reshape:16:4:4", SHAPE(2, 1, 1), "layer 1", "[16,4,4]"); }
EB_TEST(convt_output_padding_too_large) { return expect_bad("convt:4:3:2:1:2", SHAPE(2, 3, 3), "layer 0", "output padding"); }
EB_TEST(empty_layer) { return expect_bad("linear:8,,linear:1", SHAPE(2, 1, 1), "layer 1", "empty"); }
EB_TEST(extra_field) { return expect_bad("linear:8:bias", SHAPE(2, 1, 1), "layer 0", "bias"); }

/* Shapes follow PyTorch's formulas; names are "<net>.<i>.<what>" with i the index in the spec (as
 * nn.Sequential numbers its children) and shapes are PyTorch's. */
EB_TEST(names_and_shapes) {
    eb_backend be;
    eb_net net;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    EB_CHECK_OK(eb_net_init(&net, &be, "G", SHAPE(3, 1, 1),
                            "linear:32,reshape:8:2:2,bn,relu,convt:4:5:2:2:1,bn,relu,conv:2:3:1:1:nobias,tanh"));
    EB_CHECK(net.out_shape.c == 2 && net.out_shape.h == 4 && net.out_shape.w == 4, "out [%d,%d,%d]",
             net.out_shape.c, net.out_shape.h, net.out_shape.w);
    EB_CHECK(net.layers[4].out.h == 4, "convt 2 -> 4 with k5 s2 p2 op1");
    eb_param_info info[16];
    int count = eb_net_param_list(&net, info, 16);
    EB_CHECK(count == eb_net_param_list(&net, NULL, 0), "count without output differs");
    static const struct { const char *name; int ndim; int64_t shape[4]; int is_buffer; } want[] = {
        {"G.0.weight", 2, {32, 3}, 0},        {"G.0.bias", 1, {32}, 0},
        {"G.2.weight", 1, {8}, 0},            {"G.2.bias", 1, {8}, 0},
        {"G.2.running_mean", 1, {8}, 1},      {"G.2.running_var", 1, {8}, 1},
        {"G.4.weight", 4, {8, 4, 5, 5}, 0},   {"G.4.bias", 1, {4}, 0},
        {"G.5.weight", 1, {4}, 0},            {"G.5.bias", 1, {4}, 0},
        {"G.5.running_mean", 1, {4}, 1},      {"G.5.running_var", 1, {4}, 1},
        {"G.7.weight", 4, {2, 4, 3, 3}, 0},
    };
    const int nwant = (int)(sizeof want / sizeof want[0]);
    EB_CHECK(count == nwant, "%d named tensors, expected %d", count, nwant);
    size_t params = 0, buffers = 0, trainable = 0;
    for (int i = 0; i < nwant; i++) {
        EB_CHECK(strcmp(info[i].name, want[i].name) == 0, "entry %d is '%s', expected '%s'", i, info[i].name, want[i].name);
        EB_CHECK(info[i].ndim == want[i].ndim && info[i].is_buffer == want[i].is_buffer, "%s: ndim/buffer", info[i].name);
        size_t len = 1;
        for (int k = 0; k < info[i].ndim; k++) {
            EB_CHECK(info[i].shape[k] == want[i].shape[k], "%s: dim %d is %lld, expected %lld", info[i].name, k,
                     (long long)info[i].shape[k], (long long)want[i].shape[k]);
            len *= (size_t)want[i].shape[k];
        }
        EB_CHECK(info[i].len == len, "%s: len %zu, expected %zu", info[i].name, info[i].len, len);
        /* the flat layout follows list order, each tensor on the next aligned element (align.h) */
        EB_CHECK(info[i].offset == (info[i].is_buffer ? buffers : params), "%s: offset %zu", info[i].name, info[i].offset);
        if (info[i].is_buffer) buffers += eb_align_elems(len); else params += eb_align_elems(len), trainable += len;
    }
    EB_CHECK(params == net.n_params && buffers == net.n_buffers && trainable == net.n_trainable,
             "totals %zu/%zu/%zu vs %zu/%zu/%zu", params, buffers, trainable, net.n_params, net.n_buffers,
             net.n_trainable);
    EB_CHECK(eb_net_has_batchnorm(&net) && eb_net_has_curvature(&net), "bn / tanh not detected");
    EB_CHECK(eb_net_max_width(&net) == 64, "max width %lld, expected 64 (4x4x4)", (long long)eb_net_max_width(&net));
    /* fresh nets: zeros, running_var 1 */
    for (size_t i = 0; i < net.n_params; i++) EB_CHECK(net.params[i] == 0, "param %zu not zeroed", i);
    EB_CHECK(net.buffers[info[5].offset] == 1 && net.buffers[info[4].offset] == 0, "running stats not (0, 1)");
    eb_net_free(&net, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* The paper's initialisation: linear U(-1/sqrt(fan_in), ..), conv N(0, 0.02), bn gamma N(1, 0.02), beta 0. */
EB_TEST(init_weights_ranges) {
    eb_backend be;
    eb_net net;
    eb_rng rng;
    eb_rng_init(&rng, 7);
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    EB_CHECK_OK(eb_net_init(&net, &be, "U", SHAPE(3, 8, 8), "conv:16:3:1:1,bn,lrelu:0.2,reshape:1024:1:1,linear:64"));
    EB_CHECK_OK(eb_net_init_weights(&net, &be, &rng));
    const eb_layer *c = &net.layers[0], *b = &net.layers[1], *l = &net.layers[4];
    double s = 0, ss = 0;
    for (size_t i = 0; i < c->w_len; i++) { s += net.params[c->w_off + i]; ss += net.params[c->w_off + i] * net.params[c->w_off + i]; }
    double sd = sqrt(ss / c->w_len - (s / c->w_len) * (s / c->w_len));
    EB_CHECK(fabs(sd - 0.02) < 0.003, "conv weight sd %g, expected 0.02", sd); /* 432 draws: sd error ~0.0007 */
    for (size_t i = 0; i < b->w_len; i++) EB_CHECK(fabs(net.params[b->w_off + i] - 1) < 0.1, "bn gamma %g", net.params[b->w_off + i]);
    for (size_t i = 0; i < b->b_len; i++) EB_CHECK(net.params[b->b_off + i] == 0, "bn beta not 0");
    double bound = 1 / sqrt(1024.0), mx = 0;
    for (size_t i = 0; i < l->w_len; i++) mx = fmax(mx, fabs(net.params[l->w_off + i]));
    EB_CHECK(mx <= bound && mx > 0.95 * bound, "linear weight max %g vs bound %g", mx, bound);
    eb_net_free(&net, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* DESIGN.md §2: batch norm couples samples, so the U step refuses it (init and grad). */
EB_TEST(ustep_rejects_batchnorm) {
    eb_backend be;
    eb_net U_bn, U_ok;
    eb_ustep us;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    EB_CHECK_OK(eb_net_init(&U_bn, &be, "U", SHAPE(2, 1, 1), "linear:8,bn,lrelu:0.2,linear:1"));
    EB_CHECK_OK(eb_net_init(&U_ok, &be, "U", SHAPE(2, 1, 1), "linear:8,lrelu:0.2,linear:1"));
    eb_status st = eb_ustep_init(&us, &be, &U_bn, 4);
    EB_CHECK(st == EB_ERR_ARG && strstr(eb_error_message(), "batch norm"), "init: %s", eb_error_message());
    EB_CHECK_OK(eb_ustep_init(&us, &be, &U_ok, 4));
    float x[8] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 0.7f, -0.8f};
    eb_ustep_cfg cfg = {EB_PENALTY_SCORE, 0.1f};
    st = eb_ustep_grad(&be, &U_bn, &us, x, x, NULL, 4, &cfg);
    EB_CHECK(st == EB_ERR_ARG && strstr(eb_error_message(), "batch norm"), "grad: %s", eb_error_message());
    st = eb_ustep_loss(&be, &U_bn, &us, x, x, NULL, 4, &cfg);
    EB_CHECK(st == EB_ERR_ARG, "loss accepted a U with batch norm");
    /* and a U that is not scalar */
    eb_net U2;
    EB_CHECK_OK(eb_net_init(&U2, &be, "U", SHAPE(2, 1, 1), "linear:2"));
    eb_ustep us2;
    EB_CHECK(eb_ustep_init(&us2, &be, &U2, 4) == EB_ERR_ARG, "non-scalar U accepted");
    /* wgan-gp without interpolation weights */
    cfg.penalty = EB_PENALTY_WGAN_GP;
    EB_CHECK(eb_ustep_grad(&be, &U_ok, &us, x, x, NULL, 4, &cfg) == EB_ERR_ARG, "wgan-gp without t accepted");
    EB_CHECK(eb_ustep_grad(&be, &U_ok, &us, x, x, x, 5, &cfg) == EB_ERR_ARG, "batch above max_batch accepted");
    eb_ustep_free(&us, &be);
    eb_net_free(&U2, &be);
    eb_net_free(&U_bn, &be);
    eb_net_free(&U_ok, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* The empty spec is the identity (a toy statistics network's trunk). */
EB_TEST(empty_spec_identity) {
    eb_backend be;
    eb_net net;
    eb_net_ws ws;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    EB_CHECK_OK(eb_net_init(&net, &be, "T", SHAPE(4, 1, 1), ""));
    EB_CHECK(net.n_layers == 0 && net.n_params == 0 && net.out_shape.c == 4, "empty net");
    EB_CHECK_OK(eb_net_ws_init(&ws, &be, &net, 3, 1));
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i - 5.5f;
    EB_CHECK_OK(eb_net_forward(&be, &net, &ws, x, 3, EB_MODE_TRAIN));
    EB_CHECK(ws.h[0] == x, "output of the empty net is its input");
    eb_net_ws_free(&ws, &be);
    eb_net_free(&net, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}
