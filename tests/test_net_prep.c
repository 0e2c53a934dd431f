/* Frozen weights of a net (net.h, ops.h: weights_freeze): a U step whose conv layers' Winograd weights the CPU
 * backend transforms once equals, bit for bit, the same step with the weights transformed per call, and a step
 * after the weights changed transforms them again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ebgan/backend.h"
#include "ebgan/net.h"
#include "ebgan/rng.h"
#include "ebgan/ustep.h"
#include "harness.h"
#include "kernels/cpu/conv/frozen_weights.h"

#define SHAPE(c, h, w) ((eb_shape){(c), (h), (w)})

/* cifar's trunk at 3/4 of its width on 16x16: the RGB layer (direct), then k4 s2 and k3 s1 layers that take
 * Winograd for their forward and data gradient (conv/wino_ops.c), a linear head */
static const char u_spec[] = "conv:48:3:1:1,lrelu:0.1,conv:48:4:2:1,lrelu:0.1,conv:96:3:1:1,lrelu:0.1,"
                             "conv:96:4:2:1,lrelu:0.1,linear:1";
enum { N = 6, D = 3 * 16 * 16 };

static uint64_t rng_state = 0xD1B54A32D192ED03ull;
static void rnd_fill(float *p, size_t n) { eb_test_fill_uniform_f(p, n, &rng_state); } /* in [-1, 1) */

/* One U step (score penalty) of `net` on be, its gradients and terms copied out. */
static int ustep_once(const eb_backend *be, eb_net *net, const float *x_real, const float *x_fake, float *grads,
                      float terms[EB_UTERM_COUNT]) {
    eb_ustep us;
    const eb_ustep_cfg cfg = {EB_PENALTY_SCORE, 0.5f};
    if (eb_ustep_init(&us, be, net, N) != EB_OK) return 0;
    int ok = eb_ustep_grad(be, net, &us, x_real, x_fake, NULL, N, &cfg) == EB_OK;
    if (ok) memcpy(grads, net->grads, net->n_params * sizeof *grads);
    if (ok) memcpy(terms, us.terms, EB_UTERM_COUNT * sizeof *terms);
    eb_ustep_free(&us, be);
    return ok;
}

EB_TEST(a_prepared_u_step_equals_the_plain_one_bit_for_bit) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    /* the same backend without frozen weights: its nets never freeze, its ops transform w per call */
    eb_ops plain_ops = *be.ops;
    plain_ops.weights_freeze = NULL, plain_ops.weights_thaw = NULL;
    const eb_backend plain = {&plain_ops, be.ctx};
    eb_net U, P;
    EB_CHECK_OK(eb_net_init(&U, &be, "U", SHAPE(3, 16, 16), u_spec));
    EB_CHECK_OK(eb_net_init(&P, &plain, "U", SHAPE(3, 16, 16), u_spec));
    eb_rng r1, r2;
    eb_rng_init(&r1, 7), eb_rng_init(&r2, 7);
    EB_CHECK_OK(eb_net_init_weights(&U, &be, &r1));
    EB_CHECK_OK(eb_net_init_weights(&P, &plain, &r2));
    float *xr = malloc(N * D * sizeof *xr), *xf = malloc(N * D * sizeof *xf), *step = malloc(U.n_params * sizeof *step);
    float *gu = malloc(U.n_params * sizeof *gu), *gp = malloc(U.n_params * sizeof *gp), tu[EB_UTERM_COUNT], tp[EB_UTERM_COUNT];
    EB_CHECK(xr && xf && step && gu && gp, "out of memory");
    rnd_fill(xr, N * D), rnd_fill(xf, N * D);
    uint64_t first_made = 0;
    for (int round = 0; round < 2; round++) {
        const uint64_t made = eb_cpu_frozen_forms_made(be.ctx);
        EB_CHECK(ustep_once(&be, &U, xr, xf, gu, tu), "U step: %s", eb_error_message());
        /* the k4 s2 and k3 s1 layers' forward and data-gradient forms, made in the step; after the weights
         * changed, all of them again */
        const uint64_t made_u = eb_cpu_frozen_forms_made(be.ctx);
        if (round == 0) first_made = made_u - made;
        EB_CHECK(made_u - made >= 4 && made_u - made == first_made,
                 "round %d: %llu transformed forms made, expected >= 4 and as many as in the first step", round,
                 (unsigned long long)(made_u - made));
        EB_CHECK(ustep_once(&plain, &P, xr, xf, gp, tp), "U step (plain): %s", eb_error_message());
        EB_CHECK(eb_cpu_frozen_forms_made(be.ctx) == made_u, "round %d: the plain step made transformed forms", round);
        EB_CHECK(!memcmp(tu, tp, sizeof tu), "round %d: the loss terms differ (%g against %g)", round,
                 (double)tu[EB_UTERM_LOSS], (double)tp[EB_UTERM_LOSS]);
        EB_CHECK(!memcmp(gu, gp, U.n_params * sizeof *gu), "round %d: the parameter gradients differ", round);
        /* new weights (as an optimizer step would write them): the next step must transform them again */
        rnd_fill(step, U.n_params);
        for (int l = 0; l < U.n_layers; l++) { /* the tensors only: the padding between them stays 0 */
            const eb_layer *L = &U.layers[l];
            for (size_t i = L->w_off; i < L->w_off + L->w_len; i++) U.params[i] += 0.01f * step[i], P.params[i] += 0.01f * step[i];
            for (size_t i = L->b_off; i < L->b_off + L->b_len; i++) U.params[i] += 0.01f * step[i], P.params[i] += 0.01f * step[i];
        }
    }
    EB_CHECK(eb_cpu_frozen_regions(be.ctx) == 0, "the U step left its weights frozen");
    free(xr), free(xf), free(step), free(gu), free(gp);
    eb_net_free(&U, &be), eb_net_free(&P, &plain);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}
