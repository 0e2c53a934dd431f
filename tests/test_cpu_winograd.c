/* The Winograd path of the CPU convolutions (src/kernels/cpu/conv/wino_*.c) in float32, against sums in double
 * of the same float inputs: which layers take it, and its rounding error on the presets' layer kinds. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebgan/backend.h"
#include "harness.h"
#include "kernels/cpu/conv/frozen_weights.h"
#include "kernels/cpu/conv/wino.h"

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static float *rnd_buf(size_t n) { return eb_test_rand_f(n, &rng_state); } /* in [-1, 1), never zeros */

#define geom eb_test_square_conv

/* The three ops' exact values (double sums of the float inputs) and, per element, the sum of the absolute
 * values of its terms (the scale a float32 sum's rounding is measured against). */
static void exact(const eb_conv_geom *g, const float *x, const float *w, const float *dy, double *y, double *ya,
                  double *dx, double *dxa, double *dw, double *dwa) {
    const size_t nx = (size_t)g->n * g->c_in * g->h_in * g->w_in, nw = (size_t)g->c_out * g->c_in * g->k_h * g->k_w;
    memset(dx, 0, nx * sizeof *dx), memset(dxa, 0, nx * sizeof *dxa);
    memset(dw, 0, nw * sizeof *dw), memset(dwa, 0, nw * sizeof *dwa);
    for (int n = 0; n < g->n; n++)
        for (int o = 0; o < g->c_out; o++)
            for (int oh = 0; oh < g->h_out; oh++)
                for (int ow = 0; ow < g->w_out; ow++) {
                    const size_t yi = (((size_t)n * g->c_out + o) * g->h_out + oh) * g->w_out + ow;
                    double s = 0, sa = 0;
                    for (int c = 0; c < g->c_in; c++)
                        for (int i = 0; i < g->k_h; i++)
                            for (int j = 0; j < g->k_w; j++) {
                                const int ih = oh * g->stride + i - g->pad, iw = ow * g->stride + j - g->pad;
                                if (ih < 0 || iw < 0 || ih >= g->h_in || iw >= g->w_in) continue;
                                const size_t xi = (((size_t)n * g->c_in + c) * g->h_in + ih) * g->w_in + iw;
                                const size_t wi = (((size_t)o * g->c_in + c) * g->k_h + i) * g->k_w + j;
                                s += (double)w[wi] * x[xi], sa += fabs((double)w[wi] * x[xi]);
                                dx[xi] += (double)w[wi] * dy[yi], dxa[xi] += fabs((double)w[wi] * dy[yi]);
                                dw[wi] += (double)x[xi] * dy[yi], dwa[wi] += fabs((double)x[xi] * dy[yi]);
                            }
                    y[yi] = s, ya[yi] = sa;
                }
}

/* max_i |got_i - ref_i| / scale_i: the error in units of each element's own sum of |terms| (0 where it is 0) */
static double scaled_err(const float *got, const double *ref, const double *scale, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) return INFINITY;
        if (scale[i] > 0 && fabs(got[i] - ref[i]) / scale[i] > e) e = fabs(got[i] - ref[i]) / scale[i];
    }
    return e;
}

EB_TEST(winograd_takes_the_k3_s1_and_k4_s2_layers_that_save_multiplies) {
    /* cifar's 128->128 k4 s2 on 16x16 and 256->512 k3 on 4x4: all three ops */
    const eb_conv_geom yes[2] = {geom(64, 128, 128, 16, 4, 2, 1), geom(64, 256, 512, 4, 3, 1, 1)};
    for (int i = 0; i < 2; i++)
        for (int op = EB_WINO_FORWARD; op <= EB_WINO_FILTER; op++)
            EB_CHECK(eb_cpu_wino_fits(&yes[i], op), "layer %d op %d should take Winograd", i, op);
    /* 64->128 k3 on 16x16: its filter gradient has 64 reduction channels (< 128) and stays direct */
    const eb_conv_geom k3 = geom(64, 64, 128, 16, 3, 1, 1);
    EB_CHECK(eb_cpu_wino_fits(&k3, EB_WINO_FORWARD) && eb_cpu_wino_fits(&k3, EB_WINO_DATA) &&
             !eb_cpu_wino_fits(&k3, EB_WINO_FILTER), "64 -> 128 k3: Winograd for forward and data only");
    /* 64->64 k4 s2 on 32x32: 1.19x fewer multiply-adds for the forward and the filter gradient (64 output
     * channels fill two strips of 48: 96), enough (>= 1.15x); its data gradient as the forward's adjoint, whose
     * columns are the 4 x 64 reduction channels (288 for 256): 1.58x (>= 1.4x; per phase, 64 -> 96 of 48-wide
     * strips again, it would be 1.18x) */
    const eb_conv_geom narrow = geom(64, 64, 64, 32, 4, 2, 1);
    for (int op = EB_WINO_FORWARD; op <= EB_WINO_FILTER; op++)
        EB_CHECK(eb_cpu_wino_fits(&narrow, op), "64 -> 64 k4 s2: op %d should take Winograd", op);
    /* an RGB input (3 reduction channels), k5 s2 (mnist), 3x3 outputs, a non-square kernel: never */
    eb_conv_geom no[4] = {geom(64, 3, 64, 32, 3, 1, 1), geom(64, 64, 128, 14, 5, 2, 2), geom(2, 64, 64, 3, 3, 1, 1),
                          geom(2, 64, 64, 8, 3, 1, 1)};
    no[3].k_w = 5, no[3].w_out = 6;
    for (int i = 0; i < 4; i++)
        for (int op = EB_WINO_FORWARD; op <= EB_WINO_FILTER; op++)
            EB_CHECK(!eb_cpu_wino_fits(&no[i], op), "layer %d op %d should stay direct", i, op);
    return EB_TEST_PASS;
}

EB_TEST(winograd_can_be_switched_off) {
    /* EBGAN_CPU_WINOGRAD=0 (read once per process): this program again, which then finds no layer fitting */
    if (getenv("EBGAN_WINO_CHILD")) {
        const eb_conv_geom g = geom(64, 64, 128, 16, 3, 1, 1);
        return eb_cpu_wino_fits(&g, EB_WINO_FORWARD) ? EB_TEST_FAIL : EB_TEST_PASS;
    }
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return EB_TEST_SKIP; /* no /proc: cannot run itself */
    self[len] = '\0';
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "EBGAN_WINO_CHILD=1 EBGAN_CPU_WINOGRAD=0 '%s' winograd_can_be_switched_off", self);
    EB_CHECK(system(cmd) == 0, "with EBGAN_CPU_WINOGRAD=0 a k3 s1 layer still took Winograd");
    return EB_TEST_PASS;
}

EB_TEST(winograd_float32_error_stays_within_its_bound) {
    /* Bound 2^-20 (~1e-6) of each element's sum of |terms|: a float32 sum of n terms in any order is within
     * ~n eps of it in the worst case but ~sqrt(n) eps typically (eps = 2^-24, 6e-8); the transforms add a few
     * roundings on values up to alpha^2 times larger (B^T d B sums 4 to 16 inputs, A^T M A 9 to 16 products).
     * Measured here: 7e-8 to 4e-7; the direct path on the same layers (EBGAN_CPU_WINOGRAD=0 through the op
     * table): 2e-8 to 2e-7. A wrong transform coefficient or tile offset is an O(1) error (checked: one sign
     * of B^T flipped fails every op). The layers: the cifar trunk's kinds (k3 s1 and k4 s2, reduced batch and
     * width), an odd map, and k6 s2 (r = 3 per phase), each op of conv/wino_ops.c called directly (whether the
     * op table would pick it is the test above). */
    const eb_conv_geom layers[5] = {geom(4, 64, 32, 16, 3, 1, 1), geom(4, 32, 64, 32, 4, 2, 1), geom(3, 16, 24, 13, 3, 1, 1),
                                    geom(2, 128, 64, 8, 4, 2, 1), geom(2, 16, 16, 12, 6, 2, 2)};
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (int l = 0; l < 5; l++) {
        const eb_conv_geom *g = &layers[l];
        const size_t nx = (size_t)g->n * g->c_in * g->h_in * g->w_in, ny = (size_t)g->n * g->c_out * g->h_out * g->w_out;
        const size_t nw = (size_t)g->c_out * g->c_in * g->k_h * g->k_w;
        float *x = rnd_buf(nx), *w = rnd_buf(nw), *dy = rnd_buf(ny), *y = rnd_buf(ny), *dx = rnd_buf(nx), *dw = rnd_buf(nw);
        double *ey = malloc(ny * sizeof(double)), *eya = malloc(ny * sizeof(double));
        double *edx = malloc(nx * sizeof(double)), *edxa = malloc(nx * sizeof(double));
        double *edw = malloc(nw * sizeof(double)), *edwa = malloc(nw * sizeof(double));
        EB_CHECK(x && w && dy && y && dx && dw && ey && eya && edx && edxa && edw && edwa, "out of memory");
        EB_CHECK_OK(eb_cpu_wino_forward(be.ctx, g, x, w, y, 1, 0));
        EB_CHECK_OK(eb_cpu_wino_backward_data(be.ctx, g, dy, w, dx, 1, 0));
        EB_CHECK_OK(eb_cpu_wino_backward_filter(be.ctx, g, x, dy, dw, 1, 0));
        exact(g, x, w, dy, ey, eya, edx, edxa, edw, edwa);
        const double e0 = scaled_err(y, ey, eya, ny), e1 = scaled_err(dx, edx, edxa, nx), e2 = scaled_err(dw, edw, edwa, nw);
        printf("  layer %d (%d->%d %dx%d k%d s%d p%d): forward %.2g, backward data %.2g, backward filter %.2g\n", l,
               g->c_in, g->c_out, g->h_in, g->w_in, g->k_h, g->stride, g->pad, e0, e1, e2);
        const double bound = 1.0 / (1 << 20);
        EB_CHECK(e0 < bound && e1 < bound && e2 < bound, "layer %d: error over 2^-20 of the sum of |terms|", l);
        free(x), free(w), free(dy), free(y), free(dx), free(dw);
        free(ey), free(eya), free(edx), free(edxa), free(edw), free(edwa);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(prepared_weights_give_the_plain_ops_bits) {
    /* conv2d_forward / conv2d_backward_data through the op table with w frozen (weights_freeze: the transformed
     * weights made once, frozen_weights.h) against the same ops on w not frozen, beta 0 and 0.5: the forward and
     * the data gradient per input phase (128 -> 128 k4 s2), as the forward's adjoint (64 -> 64 k4 s2), F(2x2, 3x3)
     * (64 -> 128 k3); then a batch of one sample reads the same forms (they do not depend on the batch) */
    const eb_conv_geom layers[3] = {geom(3, 128, 128, 16, 4, 2, 1), geom(2, 64, 64, 32, 4, 2, 1), geom(3, 64, 128, 16, 3, 1, 1)};
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const eb_ops *o = be.ops;
    for (int l = 0; l < 3; l++) {
        const eb_conv_geom *g = &layers[l];
        eb_conv_geom g1 = *g;
        g1.n = 1;
        const size_t nx = (size_t)g->n * g->c_in * g->h_in * g->w_in, ny = (size_t)g->n * g->c_out * g->h_out * g->w_out;
        const size_t nw = (size_t)g->c_out * g->c_in * g->k_h * g->k_w;
        float *x = rnd_buf(nx), *w = rnd_buf(nw), *dy = rnd_buf(ny), *y0 = rnd_buf(ny), *dx0 = rnd_buf(nx);
        float *y1 = malloc(3 * ny * sizeof *y1), *dx1 = malloc(3 * nx * sizeof *dx1), *y2 = malloc(ny * sizeof *y2);
        float *dx2 = malloc(nx * sizeof *dx2);
        EB_CHECK(x && w && dy && y0 && dx0 && y1 && dx1 && y2 && dx2, "out of memory");
        /* the per-call results: beta 0, beta 0.5, and beta 0 on the first sample alone */
        for (int c = 0; c < 3; c++) {
            const eb_real beta = c == 1 ? (eb_real)0.5 : 0;
            memcpy(y1 + c * ny, y0, ny * sizeof *y1), memcpy(dx1 + c * nx, dx0, nx * sizeof *dx1);
            EB_CHECK_OK(o->conv2d_forward(be.ctx, c == 2 ? &g1 : g, x, w, y1 + c * ny, 1, beta));
            EB_CHECK_OK(o->conv2d_backward_data(be.ctx, c == 2 ? &g1 : g, dy, w, dx1 + c * nx, 1, beta));
        }
        const uint64_t made = eb_cpu_frozen_forms_made(be.ctx);
        o->weights_freeze(be.ctx, w, nw);
        for (int c = 0; c < 3; c++) {
            const eb_real beta = c == 1 ? (eb_real)0.5 : 0;
            const size_t cy = c == 2 ? ny / g->n : ny, cx = c == 2 ? nx / g->n : nx;
            memcpy(y2, y0, ny * sizeof *y2), memcpy(dx2, dx0, nx * sizeof *dx2);
            EB_CHECK_OK(o->conv2d_forward(be.ctx, c == 2 ? &g1 : g, x, w, y2, 1, beta));
            EB_CHECK(!memcmp(y1 + c * ny, y2, cy * sizeof *y2), "layer %d: frozen forward (case %d) differs", l, c);
            EB_CHECK_OK(o->conv2d_backward_data(be.ctx, c == 2 ? &g1 : g, dy, w, dx2, 1, beta));
            EB_CHECK(!memcmp(dx1 + c * nx, dx2, cx * sizeof *dx2), "layer %d: frozen data gradient (case %d) differs", l, c);
        }
        o->weights_thaw(be.ctx, w);
        EB_CHECK(made == 0 && eb_cpu_frozen_forms_made(be.ctx) == 2,
                 "layer %d: %llu forms made, expected none before the freeze and 2 in it (forward, data gradient)", l,
                 (unsigned long long)(eb_cpu_frozen_forms_made(be.ctx) - made));
        free(x), free(w), free(dy), free(y0), free(dx0), free(y1), free(dx1), free(y2), free(dx2);
        eb_cpu_backend_free(&be);
        EB_CHECK_OK(eb_cpu_backend_init(&be));
        o = be.ops;
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(frozen_forms_follow_the_weights_and_the_layer) {
    /* one weight buffer of 128 -> 128 k4 s2 read by the layer on 16x16 and on 8x8 maps: a form for each, kept by
     * a nested freeze; weights changed between two freezes are transformed again; always the per-call bits */
    const eb_conv_geom maps[2] = {geom(2, 128, 128, 16, 4, 2, 1), geom(2, 128, 128, 8, 4, 2, 1)};
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const eb_ops *o = be.ops;
    const size_t nw = (size_t)128 * 128 * 16, nx = (size_t)2 * 128 * 16 * 16, ny = (size_t)2 * 128 * 8 * 8;
    float *w = rnd_buf(nw), *x = rnd_buf(nx), *ref = malloc(2 * ny * sizeof *ref), *got = malloc(ny * sizeof *got);
    EB_CHECK(w && x && ref && got, "out of memory");
    for (int round = 0; round < 2; round++) {
        for (int m = 0; m < 2; m++) EB_CHECK_OK(o->conv2d_forward(be.ctx, &maps[m], x, w, ref + m * ny, 1, 0));
        o->weights_freeze(be.ctx, w, nw);
        for (int m = 0; m < 2; m++) {
            const size_t cy = (size_t)2 * 128 * maps[m].h_out * maps[m].w_out;
            for (int nested = 0; nested < 2; nested++) {
                if (nested) o->weights_freeze(be.ctx, w, nw);
                EB_CHECK_OK(o->conv2d_forward(be.ctx, &maps[m], x, w, got, 1, 0));
                if (nested) o->weights_thaw(be.ctx, w);
                EB_CHECK(!memcmp(ref + m * ny, got, cy * sizeof *got), "round %d, map %d%s: the frozen forward differs",
                         round, m, nested ? " (nested)" : "");
            }
        }
        o->weights_thaw(be.ctx, w);
        EB_CHECK(eb_cpu_frozen_forms_made(be.ctx) == (uint64_t)(2 * round + 2),
                 "round %d: %llu forms made in all, expected 2 per round (one per map)", round,
                 (unsigned long long)eb_cpu_frozen_forms_made(be.ctx));
        for (size_t i = 0; i < nw; i += 7) w[i] = -w[i]; /* new weights, as an optimizer step would write them */
    }
    EB_CHECK(eb_cpu_frozen_regions(be.ctx) == 0, "weights still frozen");
    free(w), free(x), free(ref), free(got);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(layers_off_the_winograd_path_have_no_prepared_weights) {
    /* the RGB layer and k5 s2 run the direct implicit GEMMs: frozen or not, nothing is transformed for them */
    const eb_conv_geom direct[2] = {geom(2, 3, 64, 32, 3, 1, 1), geom(2, 64, 128, 14, 5, 2, 2)};
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    for (int l = 0; l < 2; l++) {
        const eb_conv_geom *g = &direct[l];
        const size_t nx = (size_t)g->n * g->c_in * g->h_in * g->w_in, ny = (size_t)g->n * g->c_out * g->h_out * g->w_out;
        const size_t nw = (size_t)g->c_out * g->c_in * g->k_h * g->k_w;
        float *x = rnd_buf(nx), *w = rnd_buf(nw), *y = rnd_buf(ny);
        EB_CHECK(x && w && y, "out of memory");
        be.ops->weights_freeze(be.ctx, w, nw);
        EB_CHECK_OK(be.ops->conv2d_forward(be.ctx, g, x, w, y, 1, 0));
        EB_CHECK_OK(be.ops->conv2d_backward_data(be.ctx, g, y, w, x, 1, 0));
        be.ops->weights_thaw(be.ctx, w);
        EB_CHECK(eb_cpu_frozen_forms_made(be.ctx) == 0, "layer %d: %llu forms made", l,
                 (unsigned long long)eb_cpu_frozen_forms_made(be.ctx));
        free(x), free(w), free(y);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}
