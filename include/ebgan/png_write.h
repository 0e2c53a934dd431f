/* PNG output for the run directory: 8-bit images written atomically, the sample grid of a batch of
 * images, and the energy heat map with samples on top for 2-D toys (the picture looked at first). */
#ifndef EBGAN_PNG_WRITE_H
#define EBGAN_PNG_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include "ebgan/status.h"

/* pixels: height rows of width * channels bytes, row-major HWC; channels 1 (gray) or 3 (RGB). */
eb_status eb_png_write(const char *path, const uint8_t *pixels, int width, int height, int channels);

/* The same PNG in memory (malloc'd into *out, free() it): the bytes TensorBoard's Summary.Image carries. */
eb_status eb_png_encode(const uint8_t *pixels, int width, int height, int channels, void **out, size_t *bytes);

/* ---- sample grid (torchvision make_grid layout: `nrow` tiles per row, `pad` px of black around and
 * between tiles; tile values in [-1, 1] map to 0..255 by round((x + 1) / 2 * 255), clamped, NaN -> 0) ---- */
#define EB_GRID_PAD 2
/* Size of the grid image for n tiles of h x w. */
void eb_grid_size(int n, int h, int w, int nrow, int *grid_w, int *grid_h);
/* Renders x (float NCHW, C = 1 or 3) into dst (grid_h x grid_w x C bytes). */
eb_status eb_grid_render(uint8_t *dst, const float *x_nchw, int n, int c, int h, int w, int nrow);
/* Renders and writes (C = 1: grayscale PNG, C = 3: RGB). */
eb_status eb_png_write_grid(const char *path, const float *x_nchw, int n, int c, int h, int w, int nrow);
/* The [-1, 1] -> 0..255 map used by the grid. */
uint8_t eb_grid_pixel(float v);

/* ---- energy heat map with points ---- */
typedef struct eb_heatmap_spec {
    const float *energy;   /* G x G, energy[iy * G + ix] = U(x_ix, y_iy), x_ix = xmin + ix (xmax - xmin) / (G - 1),
                              likewise y (np.linspace grid, iy = 0 at ymin); G >= 2 */
    int grid;              /* G */
    float xmin, xmax, ymin, ymax;
    const float *points;   /* n x 2 (x, y) samples drawn as dots; may be NULL when n_points == 0 */
    int n_points;
    int size_px;           /* output is size_px x size_px RGB, y pointing up */
    int show_density;      /* 1: colour exp(-U) / max exp(-U) in [0, 1]; 0: colour (U - Umin) / (Umax - Umin) */
} eb_heatmap_spec;

#define EB_HEATMAP_DOT_RADIUS 2          /* px; dots are filled discs: dx^2 + dy^2 <= r^2 */
#define EB_HEATMAP_DOT_RGB 230, 25, 25     /* the dots' colour (red: visible on all of viridis) */
#define EB_HEATMAP_NAN_RGB 128, 128, 128   /* pixels whose interpolated energy is NaN (grey) */

/* Viridis colour of t in [0, 1] (clamped; a 10-stop table, linearly interpolated). */
void eb_colormap_viridis(double t, uint8_t rgb[3]);
/* Renders into dst (size_px * size_px * 3 bytes). Bilinear interpolation of U between grid points. */
eb_status eb_heatmap_render(uint8_t *dst, const eb_heatmap_spec *spec);
eb_status eb_png_write_heatmap(const char *path, const eb_heatmap_spec *spec);

/* ---- line chart on the unit square (png_chart.c): x right, y up, a grid every 0.1; curves drawn in
 * order as 3 px lines through their points, dashed (dash_px on, dash_px off) when dash_px > 0 ---- */
typedef struct eb_chart_curve {
    const double *x, *y;   /* n points in [0, 1] */
    size_t n;
    uint8_t rgb[3];
    int dash_px;
} eb_chart_curve;
eb_status eb_png_write_chart(const char *path, const eb_chart_curve *curves, int n_curves, int size_px);

#endif
