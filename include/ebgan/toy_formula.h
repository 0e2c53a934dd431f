/* The 2-D toy distributions as pure math on three random numbers, shared by the host (data_toy.c), the CPU
 * op toy_sample and its CUDA kernel, so every backend draws the same points (DESIGN.md §4, data on device). */
#ifndef EBGAN_TOY_FORMULA_H
#define EBGAN_TOY_FORMULA_H

#ifdef __CUDACC__
#define EB_TOY_HD __host__ __device__
#else
#define EB_TOY_HD
#endif

#include <math.h>

typedef enum eb_toy_kind { EB_TOY_8GAUSSIANS = 0, EB_TOY_25GAUSSIANS, EB_TOY_SWISSROLL } eb_toy_kind;

/* The paper's data/toy.py constants (documented in data.h). */
#define EB_TOY8_SCALE 2.0
#define EB_TOY8_NOISE 0.02
#define EB_TOY8_DIV 1.414   /* "stdev" in the paper's code: not sqrt(2) exactly */
#define EB_TOY25_SPACING 2.0
#define EB_TOY25_NOISE 0.05
#define EB_TOY25_DIV 2.828
#define EB_TOY_SWISS_NOISE 0.25 /* make_swiss_roll(noise=0.25) */
#define EB_TOY_SWISS_DIV 7.5
#define EB_TOY_PI 3.14159265358979323846

/* Centre k before normalisation: 8gaussians in the paper's list order; 25gaussians in its loop order
 * (x outer, y inner, both -2..2). */
static EB_TOY_HD inline void eb_toy_raw_centre(eb_toy_kind kind, int k, double *cx, double *cy) {
    if (kind == EB_TOY_8GAUSSIANS) {
        const double h = 0.70710678118654752440;
        const double ux[8] = {1.0, -1.0, 0.0, 0.0, h, h, -h, -h};
        const double uy[8] = {0.0, 0.0, 1.0, -1.0, h, -h, h, -h};
        *cx = EB_TOY8_SCALE * ux[k];
        *cy = EB_TOY8_SCALE * uy[k];
    } else {
        *cx = EB_TOY25_SPACING * (double)(k / 5 - 2);
        *cy = EB_TOY25_SPACING * (double)(k % 5 - 2);
    }
}

/* A point around centre k from two standard normals: the paper adds N(0, noise^2) in float64 and divides
 * the float32 array by its constant; here both in double, rounded to float by the caller once. */
static EB_TOY_HD inline void eb_toy_gauss_point(eb_toy_kind kind, int k, double n1, double n2, double out[2]) {
    double cx, cy;
    eb_toy_raw_centre(kind, k, &cx, &cy);
    const double noise = kind == EB_TOY_8GAUSSIANS ? EB_TOY8_NOISE : EB_TOY25_NOISE;
    const double div = kind == EB_TOY_8GAUSSIANS ? EB_TOY8_DIV : EB_TOY25_DIV;
    out[0] = (cx + noise * n1) / div;
    out[1] = (cy + noise * n2) / div;
}

/* One fresh point from u ~ U[0, 1) and two standard normals n1, n2 (the three counters of the point):
 *   mixtures: centre floor(u * modes) (random.choice), then the noise;
 *   swissroll: t = 1.5 pi (1 + 2u); (t cos t + 0.25 n1, t sin t + 0.25 n2) / 7.5. */
static EB_TOY_HD inline void eb_toy_point(eb_toy_kind kind, double u, double n1, double n2, double out[2]) {
    if (kind == EB_TOY_SWISSROLL) {
        const double t = 1.5 * EB_TOY_PI * (1.0 + 2.0 * u);
        out[0] = (t * cos(t) + EB_TOY_SWISS_NOISE * n1) / EB_TOY_SWISS_DIV;
        out[1] = (t * sin(t) + EB_TOY_SWISS_NOISE * n2) / EB_TOY_SWISS_DIV;
        return;
    }
    const int m = kind == EB_TOY_8GAUSSIANS ? 8 : 25;
    int k = (int)(u * (double)m);
    if (k >= m) k = m - 1; /* u < 1, so never; kept against rounding */
    eb_toy_gauss_point(kind, k, n1, n2, out);
}

#endif
