/* The 2-D toy distributions of the paper's code (data/toy.py, = WGAN-GP's toys): per-batch sampling, the
 * materialised sets, and the exact mode centres for evaluation. Constants are documented in data.h. */
#include "ebgan/data.h"

#include <math.h>
#include <string.h>

/* data/toy.py constants */
#define TOY8_SCALE 2.0
#define TOY8_NOISE 0.02
#define TOY8_DIV 1.414          /* "stdev" in the paper's code: not sqrt(2) exactly */
#define TOY25_SPACING 2.0
#define TOY25_NOISE 0.05
#define TOY25_DIV 2.828
#define SWISS_NOISE 0.25        /* make_swiss_roll(noise=0.25) */
#define SWISS_DIV 7.5
#define EB_PI 3.14159265358979323846

/* Unit centres of 8gaussians in the paper's list order. */
static const double k_centres8[8][2] = {
    {1.0, 0.0}, {-1.0, 0.0}, {0.0, 1.0}, {0.0, -1.0},
    {0.70710678118654752440, 0.70710678118654752440}, {0.70710678118654752440, -0.70710678118654752440},
    {-0.70710678118654752440, 0.70710678118654752440}, {-0.70710678118654752440, -0.70710678118654752440}};

int eb_toy_from_name(const char *name, eb_toy_kind *kind) {
    if (!name) return 0;
    if (strcmp(name, "8gaussians") == 0) *kind = EB_TOY_8GAUSSIANS;
    else if (strcmp(name, "25gaussians") == 0) *kind = EB_TOY_25GAUSSIANS;
    else if (strcmp(name, "swissroll") == 0) *kind = EB_TOY_SWISSROLL;
    else return 0;
    return 1;
}

const char *eb_toy_name(eb_toy_kind kind) {
    switch (kind) {
    case EB_TOY_8GAUSSIANS: return "8gaussians";
    case EB_TOY_25GAUSSIANS: return "25gaussians";
    case EB_TOY_SWISSROLL: return "swissroll";
    }
    return "?";
}

/* Centre k before normalisation: 8gaussians in list order; 25gaussians in the paper's loop order
 * (x outer, y inner, both -2..2). */
static void raw_centre(eb_toy_kind kind, int k, double *cx, double *cy) {
    if (kind == EB_TOY_8GAUSSIANS) {
        *cx = TOY8_SCALE * k_centres8[k][0];
        *cy = TOY8_SCALE * k_centres8[k][1];
    } else {
        *cx = TOY25_SPACING * (double)(k / 5 - 2);
        *cy = TOY25_SPACING * (double)(k % 5 - 2);
    }
}

int eb_toy_modes(eb_toy_kind kind, double *centres, double *mode_std) {
    int m;
    double div, noise;
    if (kind == EB_TOY_8GAUSSIANS) { m = 8; div = TOY8_DIV; noise = TOY8_NOISE; }
    else if (kind == EB_TOY_25GAUSSIANS) { m = 25; div = TOY25_DIV; noise = TOY25_NOISE; }
    else { if (mode_std) *mode_std = 0.0; return 0; }
    for (int k = 0; k < m && centres; k++) {
        double cx, cy;
        raw_centre(kind, k, &cx, &cy);
        centres[2 * k] = cx / div;
        centres[2 * k + 1] = cy / div;
    }
    if (mode_std) *mode_std = noise / div;
    return m;
}

/* One point around centre k: the paper adds N(0, noise^2) to the centre in float64, then the float32 array
 * is divided by the constant; here both in double, rounded to float once. */
static void gauss_point(eb_toy_kind kind, int k, uint64_t seed, uint64_t off, float *out) {
    double cx, cy;
    raw_centre(kind, k, &cx, &cy);
    double noise = kind == EB_TOY_8GAUSSIANS ? TOY8_NOISE : TOY25_NOISE;
    double div = kind == EB_TOY_8GAUSSIANS ? TOY8_DIV : TOY25_DIV;
    out[0] = (float)((cx + noise * eb_rng_normal_at(seed, off)) / div);
    out[1] = (float)((cy + noise * eb_rng_normal_at(seed, off + 1)) / div);
}

void eb_toy_fill(eb_toy_kind kind, eb_rng *rng, float *x, size_t n) {
    if (n == 0) return;
    if (kind == EB_TOY_SWISSROLL) {
        /* sklearn make_swiss_roll: t = 1.5π(1 + 2u); x = t cos t, y = 21 u', z = t sin t; + noise N(0, 0.25²)
         * on each coordinate; the paper keeps columns [x, z] and divides by 7.5. y is unused: not drawn. */
        uint64_t off = eb_rng_reserve(rng, 3 * (uint64_t)n);
        for (size_t i = 0; i < n; i++) {
            double u = eb_rng_uniform_at(rng->seed, off + 3 * i);
            double t = 1.5 * EB_PI * (1.0 + 2.0 * u);
            double px = t * cos(t) + SWISS_NOISE * eb_rng_normal_at(rng->seed, off + 3 * i + 1);
            double pz = t * sin(t) + SWISS_NOISE * eb_rng_normal_at(rng->seed, off + 3 * i + 2);
            x[2 * i] = (float)(px / SWISS_DIV);
            x[2 * i + 1] = (float)(pz / SWISS_DIV);
        }
        return;
    }
    /* a centre chosen uniformly per point (random.choice), then 2 normals */
    uint32_t m = kind == EB_TOY_8GAUSSIANS ? 8u : 25u;
    for (size_t i = 0; i < n; i++) {
        int k = (int)eb_rng_below(rng, m);
        uint64_t off = eb_rng_reserve(rng, 2);
        gauss_point(kind, k, rng->seed, off, x + 2 * i);
    }
}

eb_status eb_toy_dataset_init(eb_dataset *ds, eb_toy_kind kind, int64_t n, eb_rng *rng) {
    EB_TRY(eb_dataset_init(ds, eb_toy_name(kind), n, EB_TOY_DIM, 1, 1, EB_DATA_F32, 0));
    if (kind != EB_TOY_25GAUSSIANS) {
        eb_toy_fill(kind, rng, ds->f32, (size_t)n);
        return EB_OK;
    }
    /* The paper's fixed set: point i sits on centre i mod 25 (its loop order), then one shuffle
     * (Fisher-Yates, as np.random.shuffle). When n is not a multiple of 25 the first n mod 25 centres get one
     * extra point. */
    uint64_t off = eb_rng_reserve(rng, 2 * (uint64_t)n);
    for (int64_t i = 0; i < n; i++) gauss_point(kind, (int)(i % 25), rng->seed, off + 2 * (uint64_t)i, ds->f32 + 2 * i);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)eb_rng_below(rng, (uint32_t)(i + 1));
        float a0 = ds->f32[2 * i], a1 = ds->f32[2 * i + 1];
        ds->f32[2 * i] = ds->f32[2 * j];
        ds->f32[2 * i + 1] = ds->f32[2 * j + 1];
        ds->f32[2 * j] = a0;
        ds->f32[2 * j + 1] = a1;
    }
    return EB_OK;
}
