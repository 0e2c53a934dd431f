/* The pictures of a run, the first thing a person looks at: a grid of generator samples for images,
 * and for 2-D data the generator's samples drawn over a heat map of the density exp(-U); with TensorBoard on
 * the same PNGs (and the density alone) go into the event file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebgan/atomic_file.h"
#include "ebgan/png_write.h"
#include "ebgan/tfevents.h"
#include "ebgan/train.h"

#define PLOT_GRID 160        /* energy grid points per axis */
#define PLOT_RANGE 2.0f      /* [-2, 2]^2: the paper's plotting window; the toys live inside it */
#define PLOT_TOY_POINTS 2048 /* generator samples drawn on the heat map */
#define PLOT_TOY_PX 640      /* heat map side in pixels */
#define PLOT_IMAGES 64       /* samples in the image grid */
#define PLOT_SEED_SALT 0x504c4f54ULL /* a fixed z stream, so successive pictures show the same z */

/* U on n host points (rows of x_dim floats), chunked through the G step's U workspace. */
static eb_status energy_on(eb_trainer *t, const float *pts, int n, float *out) {
    const eb_backend *be = &t->be;
    int B = t->b_local; /* the buffers hold this rank's slice */
    int64_t xd = eb_shape_numel(t->gan.x_shape);
    for (int i = 0; i < n; i += B) {
        int m = n - i < B ? n - i : B;
        EB_TRY(be->ops->mem_upload(be->ctx, t->x_real, pts + (size_t)i * xd, (size_t)m * xd * sizeof(float)));
        EB_TRY(eb_net_forward(be, &t->gan.U, &t->gs.ws_U, t->x_real, m, EB_MODE_INFER));
        EB_TRY(be->ops->mem_download(be->ctx, out + i, t->gs.ws_U.h[t->gan.U.n_layers], (size_t)m * sizeof(float)));
    }
    return EB_OK;
}

eb_status eb_trainer_energy(eb_trainer *t, const float *pts, int n, float *out) { return energy_on(t, pts, n, out); }

/* n generator samples (inference mode: batch-norm running statistics) from a fixed z stream. */
eb_status eb_trainer_samples(eb_trainer *t, int n, uint64_t seed, float *out) {
    const eb_backend *be = &t->be;
    int B = t->b_local; /* the buffers hold this rank's slice */
    int64_t xd = eb_shape_numel(t->gan.x_shape);
    size_t zd = (size_t)t->gan.z_dim;
    for (int i = 0; i < n; i += B) {
        int m = n - i < B ? n - i : B;
        EB_TRY(be->ops->rng_normal(be->ctx, t->gs.z, (size_t)m * zd, eb_rng_at(seed, (uint64_t)i * zd)));
        EB_TRY(eb_net_forward(be, &t->gan.G, &t->gs.ws_G, t->gs.z, m, EB_MODE_INFER));
        EB_TRY(be->ops->mem_download(be->ctx, out + (size_t)i * xd, t->gs.ws_G.h[t->gan.G.n_layers],
                                     (size_t)m * xd * sizeof(float)));
    }
    return EB_OK;
}

/* Encodes pixels once: the bytes go to <run>/<file> (atomically) and, with TensorBoard on, into an image
 * event at the current step (so the event's PNG is byte for byte the file's). */
static eb_status publish(eb_trainer *t, const char *file, const char *tag, const uint8_t *px, int w, int h, int c) {
    void *png = NULL;
    size_t bytes = 0;
    EB_TRY(eb_png_encode(px, w, h, c, &png, &bytes));
    eb_status st = EB_OK;
    if (file) {
        char path[EB_CFG_PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s", t->run_dir, file);
        st = eb_atomic_write_file(path, png, bytes);
    }
    if (st == EB_OK && t->tb) st = eb_tfevents_image(t->tb, t->step, eb_tfevents_now(), tag, png, bytes, w, h, c);
    free(png);
    return st;
}

eb_status eb_trainer_plot(eb_trainer *t) {
    eb_shape xs = t->gan.x_shape;
    eb_status st = EB_OK;
    if (eb_shape_numel(xs) == 2) {
        int G = PLOT_GRID, n = PLOT_TOY_POINTS, S = PLOT_TOY_PX;
        float *grid = malloc((size_t)G * G * 2 * sizeof(float));
        float *energy = malloc((size_t)G * G * sizeof(float));
        float *pts = malloc((size_t)n * 2 * sizeof(float));
        uint8_t *px = malloc((size_t)S * S * 3);
        if (!grid || !energy || !pts || !px) st = EB_FAIL(EB_ERR_OOM, "plot: host buffers");
        for (int iy = 0; st == EB_OK && iy < G; iy++)
            for (int ix = 0; ix < G; ix++) {
                grid[2 * (iy * G + ix)] = -PLOT_RANGE + 2 * PLOT_RANGE * (float)ix / (float)(G - 1);
                grid[2 * (iy * G + ix) + 1] = -PLOT_RANGE + 2 * PLOT_RANGE * (float)iy / (float)(G - 1);
            }
        if (st == EB_OK) st = energy_on(t, grid, G * G, energy);
        if (st == EB_OK) st = eb_trainer_samples(t, n, t->cfg.seed ^ PLOT_SEED_SALT, pts);
        eb_heatmap_spec hs = {energy, G, -PLOT_RANGE, PLOT_RANGE, -PLOT_RANGE, PLOT_RANGE, pts, n, S, 1};
        if (st == EB_OK) st = eb_heatmap_render(px, &hs);
        if (st == EB_OK) st = publish(t, "samples.png", "images/samples", px, S, S, 3);
        if (st == EB_OK && t->tb) { /* the density alone, without the samples on top */
            hs.n_points = 0;
            st = eb_heatmap_render(px, &hs);
            if (st == EB_OK) st = publish(t, NULL, "images/energy", px, S, S, 3);
        }
        free(grid);
        free(energy);
        free(pts);
        free(px);
        return st;
    }
    if (xs.c != 1 && xs.c != 3) return EB_OK; /* no picture for other channel counts */
    int n = PLOT_IMAGES, gw, gh;
    eb_grid_size(n, xs.h, xs.w, 8, &gw, &gh);
    float *x = malloc((size_t)n * (size_t)eb_shape_numel(xs) * sizeof(float));
    uint8_t *px = malloc((size_t)gw * (size_t)gh * (size_t)xs.c);
    if (!x || !px) st = EB_FAIL(EB_ERR_OOM, "plot: host buffers");
    if (st == EB_OK) st = eb_trainer_samples(t, n, t->cfg.seed ^ PLOT_SEED_SALT, x);
    if (st == EB_OK) st = eb_grid_render(px, x, n, xs.c, xs.h, xs.w, 8);
    if (st == EB_OK) st = publish(t, "samples.png", "images/samples", px, gw, gh, xs.c);
    free(x);
    free(px);
    return st;
}
