/* The Winograd path of the CPU convolutions (src/kernels/cpu/cpu_winograd.c) in float32, against sums in double
 * of the same float inputs: which layers take it, and its rounding error on the presets' layer kinds. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebgan/backend.h"
#include "harness.h"
#include "kernels/cpu/cpu_winograd.h"

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
     * width), an odd map, and k6 s2 (r = 3 per phase), each op of cpu_winograd.c called directly (whether the
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
    /* conv2d_forward_prep / conv2d_backward_data_prep from conv2d_prepare's form against conv2d_forward /
     * conv2d_backward_data from w, through the op table, beta 0 and 0.5: the forward and the data gradient per
     * input phase (128 -> 128 k4 s2), as the forward's adjoint (64 -> 64 k4 s2), F(2x2, 3x3) (64 -> 128 k3) */
    const eb_conv_geom layers[3] = {geom(3, 128, 128, 16, 4, 2, 1), geom(2, 64, 64, 32, 4, 2, 1), geom(3, 64, 128, 16, 3, 1, 1)};
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const eb_ops *o = be.ops;
    for (int l = 0; l < 3; l++) {
        const eb_conv_geom *g = &layers[l];
        const size_t nx = (size_t)g->n * g->c_in * g->h_in * g->w_in, ny = (size_t)g->n * g->c_out * g->h_out * g->w_out;
        const size_t nw = (size_t)g->c_out * g->c_in * g->k_h * g->k_w;
        float *x = rnd_buf(nx), *w = rnd_buf(nw), *dy = rnd_buf(ny), *y0 = rnd_buf(ny), *dx0 = rnd_buf(nx);
        float *y1 = malloc(ny * sizeof *y1), *dx1 = malloc(nx * sizeof *dx1), *y2 = malloc(ny * sizeof *y2);
        float *dx2 = malloc(nx * sizeof *dx2);
        EB_CHECK(x && w && dy && y0 && dx0 && y1 && dx1 && y2 && dx2, "out of memory");
        for (int which = EB_CONV_PREP_FORWARD; which <= EB_CONV_PREP_DATA; which++) {
            const size_t elems = o->conv2d_prep_elems(g, (eb_conv_prep_kind)which);
            eb_conv_geom g64 = *g;
            g64.n = 64;
            EB_CHECK(elems > 0 && o->conv2d_prep_elems(&g64, (eb_conv_prep_kind)which) == elems,
                     "layer %d: %zu prepared elements for op %d, and as many at batch 64 expected", l, elems, which);
            float *prep = malloc(elems * sizeof *prep);
            EB_CHECK(prep, "out of memory");
            EB_CHECK_OK(o->conv2d_prepare(be.ctx, g, (eb_conv_prep_kind)which, w, prep));
            for (int b = 0; b < 2; b++) {
                const eb_real beta = b ? (eb_real)0.5 : 0;
                if (which == EB_CONV_PREP_FORWARD) {
                    memcpy(y1, y0, ny * sizeof *y1), memcpy(y2, y0, ny * sizeof *y2);
                    EB_CHECK_OK(o->conv2d_forward(be.ctx, g, x, w, y1, 1, beta));
                    EB_CHECK_OK(o->conv2d_forward_prep(be.ctx, g, x, prep, y2, 1, beta));
                    EB_CHECK(!memcmp(y1, y2, ny * sizeof *y1), "layer %d: prepared forward (beta %g) differs", l, beta);
                } else {
                    memcpy(dx1, dx0, nx * sizeof *dx1), memcpy(dx2, dx0, nx * sizeof *dx2);
                    EB_CHECK_OK(o->conv2d_backward_data(be.ctx, g, dy, w, dx1, 1, beta));
                    EB_CHECK_OK(o->conv2d_backward_data_prep(be.ctx, g, dy, prep, dx2, 1, beta));
                    EB_CHECK(!memcmp(dx1, dx2, nx * sizeof *dx1), "layer %d: prepared data gradient (beta %g) differs", l,
                             beta);
                }
            }
            free(prep);
        }
        free(x), free(w), free(dy), free(y0), free(dx0), free(y1), free(dx1), free(y2), free(dx2);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(layers_off_the_winograd_path_have_no_prepared_weights) {
    /* the RGB layer and k5 s2 run the direct implicit GEMMs: nothing to prepare, and a prepared call is refused
     * with a message, never answered from other weights */
    const eb_conv_geom direct[2] = {geom(2, 3, 64, 32, 3, 1, 1), geom(2, 64, 128, 14, 5, 2, 2)};
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    float buf[16] = {0};
    for (int l = 0; l < 2; l++) {
        EB_CHECK(be.ops->conv2d_prep_elems(&direct[l], EB_CONV_PREP_FORWARD) == 0 &&
                     be.ops->conv2d_prep_elems(&direct[l], EB_CONV_PREP_DATA) == 0, "layer %d: prepared elements", l);
        EB_CHECK(be.ops->conv2d_prepare(be.ctx, &direct[l], EB_CONV_PREP_FORWARD, buf, buf) == EB_ERR_ARG,
                 "layer %d: conv2d_prepare accepted a direct layer", l);
        EB_CHECK(be.ops->conv2d_forward_prep(be.ctx, &direct[l], buf, buf, buf, 1, 0) == EB_ERR_ARG,
                 "layer %d: conv2d_forward_prep accepted a direct layer", l);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}
