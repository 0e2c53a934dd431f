/* The 2-D toy distributions of the paper's code (data/toy.py, = WGAN-GP's toys): per-batch sampling, the
 * materialised sets, and the exact mode centres for evaluation. Constants are documented in data.h. */
#include "ebgan/data.h"

#include <math.h>
#include <string.h>

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

int eb_toy_modes(eb_toy_kind kind, double *centres, double *mode_std) {
    int m;
    double div, noise;
    if (kind == EB_TOY_8GAUSSIANS) { m = 8; div = EB_TOY8_DIV; noise = EB_TOY8_NOISE; }
    else if (kind == EB_TOY_25GAUSSIANS) { m = 25; div = EB_TOY25_DIV; noise = EB_TOY25_NOISE; }
    else { if (mode_std) *mode_std = 0.0; return 0; }
    for (int k = 0; k < m && centres; k++) {
        double cx, cy;
        eb_toy_raw_centre(kind, k, &cx, &cy);
        centres[2 * k] = cx / div;
        centres[2 * k + 1] = cy / div;
    }
    if (mode_std) *mode_std = noise / div;
    return m;
}

/* One point around centre k from the counters off, off + 1. */
static void gauss_point(eb_toy_kind kind, int k, uint64_t seed, uint64_t off, float *out) {
    double p[2];
    eb_toy_gauss_point(kind, k, eb_rng_normal_at(seed, off), eb_rng_normal_at(seed, off + 1), p);
    out[0] = (float)p[0];
    out[1] = (float)p[1];
}

void eb_toy_fill(eb_toy_kind kind, eb_rng *rng, float *x, size_t n) {
    if (n == 0) return;
    /* three counters per point, exactly as the op toy_sample (toy_formula.h) */
    const uint64_t off = eb_rng_reserve(rng, 3 * (uint64_t)n);
    for (size_t i = 0; i < n; i++) {
        const uint64_t c = off + 3 * (uint64_t)i;
        double p[2];
        eb_toy_point(kind, eb_rng_uniform_at(rng->seed, c), eb_rng_normal_at(rng->seed, c + 1),
                     eb_rng_normal_at(rng->seed, c + 2), p);
        x[2 * i] = (float)p[0];
        x[2 * i + 1] = (float)p[1];
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
