/* PNG files via libpng's simplified API, written through atomic_file so a viewer never sees half a
 * picture; plus the two pictures a run produces: the sample grid and the 2-D energy heat map. */
#define _XOPEN_SOURCE 700
#include "ebgan/png_write.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "ebgan/atomic_file.h"

#define PNG_MAX_SIDE 1000000 /* libpng's default user limit on width and height */

/* Checks the image's shape (what = the file, for the message) and describes it to libpng's simplified API. */
static eb_status png_image_of(const char *what, const uint8_t *pixels, int width, int height, int channels,
                              png_image *img) {
    if (width <= 0 || height <= 0 || width > PNG_MAX_SIDE || height > PNG_MAX_SIDE ||
        (channels != 1 && channels != 3) || !pixels)
        return EB_FAIL(EB_ERR_ARG, "png%s%s: bad image %dx%d with %d channels", what[0] ? " " : "", what, width,
                       height, channels);
    memset(img, 0, sizeof *img);
    img->version = PNG_IMAGE_VERSION;
    img->width = (png_uint_32)width;
    img->height = (png_uint_32)height;
    img->format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    return EB_OK;
}

eb_status eb_png_write(const char *path, const uint8_t *pixels, int width, int height, int channels) {
    png_image img;
    EB_TRY(png_image_of(path, pixels, width, height, channels, &img));
    eb_atomic_file af;
    EB_TRY(eb_atomic_open(&af, path));
    int ok = png_image_write_to_stdio(&img, af.fp, 0, pixels, (png_int_32)width * channels, NULL);
    if (!ok) {
        eb_atomic_abort(&af);
        eb_status st = EB_FAIL(EB_ERR_IO, "png %s: libpng: %s", path, img.message);
        png_image_free(&img);
        return st;
    }
    png_image_free(&img);
    return eb_atomic_commit(&af);
}

eb_status eb_png_encode(const uint8_t *pixels, int width, int height, int channels, void **out, size_t *bytes) {
    *out = NULL;
    *bytes = 0;
    png_image img;
    EB_TRY(png_image_of("", pixels, width, height, channels, &img));
    png_alloc_size_t size = 0; /* first call: the size; second: the bytes */
    if (!png_image_write_to_memory(&img, NULL, &size, 0, pixels, (png_int_32)width * channels, NULL)) {
        eb_status st = EB_FAIL(EB_ERR_FORMAT, "png: libpng: %s", img.message);
        png_image_free(&img);
        return st;
    }
    void *mem = malloc(size ? size : 1);
    if (!mem) return EB_FAIL(EB_ERR_OOM, "png: no memory for %zu bytes", (size_t)size);
    if (!png_image_write_to_memory(&img, mem, &size, 0, pixels, (png_int_32)width * channels, NULL)) {
        eb_status st = EB_FAIL(EB_ERR_FORMAT, "png: libpng: %s", img.message);
        png_image_free(&img);
        free(mem);
        return st;
    }
    png_image_free(&img);
    *out = mem;
    *bytes = (size_t)size;
    return EB_OK;
}

/* ---- sample grid ---- */

uint8_t eb_grid_pixel(float v) {
    if (!(v == v)) return 0; /* NaN */
    double t = ((double)v + 1.0) * 0.5;
    t = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
    return (uint8_t)floor(t * 255.0 + 0.5);
}

void eb_grid_size(int n, int h, int w, int nrow, int *grid_w, int *grid_h) {
    int ncol = nrow < 1 ? 1 : nrow < n ? nrow : n;
    if (ncol < 1) ncol = 1;
    int rows = (n + ncol - 1) / ncol;
    *grid_w = ncol * (w + EB_GRID_PAD) + EB_GRID_PAD;
    *grid_h = rows * (h + EB_GRID_PAD) + EB_GRID_PAD;
}

eb_status eb_grid_render(uint8_t *dst, const float *x, int n, int c, int h, int w, int nrow) {
    if (n < 1 || (c != 1 && c != 3) || h < 1 || w < 1 || nrow < 1 || !x || !dst)
        return EB_FAIL(EB_ERR_ARG, "image grid: bad batch n=%d c=%d h=%d w=%d nrow=%d", n, c, h, w, nrow);
    int gw, gh;
    eb_grid_size(n, h, w, nrow, &gw, &gh);
    int ncol = nrow < n ? nrow : n;
    memset(dst, 0, (size_t)gw * (size_t)gh * (size_t)c);
    for (int i = 0; i < n; i++) {
        int x0 = EB_GRID_PAD + (i % ncol) * (w + EB_GRID_PAD);
        int y0 = EB_GRID_PAD + (i / ncol) * (h + EB_GRID_PAD);
        const float *img = x + (size_t)i * (size_t)c * (size_t)h * (size_t)w;
        for (int ch = 0; ch < c; ch++)
            for (int yy = 0; yy < h; yy++)
                for (int xx = 0; xx < w; xx++) {
                    size_t o = ((size_t)(y0 + yy) * (size_t)gw + (size_t)(x0 + xx)) * (size_t)c + (size_t)ch;
                    dst[o] = eb_grid_pixel(img[((size_t)ch * (size_t)h + (size_t)yy) * (size_t)w + (size_t)xx]);
                }
    }
    return EB_OK;
}

eb_status eb_png_write_grid(const char *path, const float *x, int n, int c, int h, int w, int nrow) {
    if (n < 1 || h < 1 || w < 1 || nrow < 1 || h > 65536 || w > 65536)
        return EB_FAIL(EB_ERR_ARG, "png %s: bad grid n=%d h=%d w=%d nrow=%d", path, n, h, w, nrow);
    int gw, gh;
    eb_grid_size(n, h, w, nrow, &gw, &gh);
    uint8_t *buf = malloc((size_t)gw * (size_t)gh * (size_t)(c == 3 ? 3 : 1));
    if (!buf) return EB_FAIL(EB_ERR_OOM, "png %s: no memory for a %dx%d grid", path, gw, gh);
    eb_status st = eb_grid_render(buf, x, n, c, h, w, nrow);
    if (st == EB_OK) st = eb_png_write(path, buf, gw, gh, c);
    free(buf);
    return st;
}

/* ---- heat map ---- */

/* viridis at t = 0, 1/9, ..., 1 (matplotlib's colour map sampled at 10 points) */
static const uint8_t viridis_stops[10][3] = {
    {0x44, 0x01, 0x54}, {0x48, 0x28, 0x78}, {0x3e, 0x4a, 0x89}, {0x31, 0x68, 0x8e}, {0x26, 0x82, 0x8e},
    {0x1f, 0x9e, 0x89}, {0x35, 0xb7, 0x79}, {0x6d, 0xcd, 0x59}, {0xb4, 0xde, 0x2c}, {0xfd, 0xe7, 0x25},
};

void eb_colormap_viridis(double t, uint8_t rgb[3]) {
    if (!(t == t)) t = 0.0;
    t = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
    double s = t * 9.0;
    int i = (int)s;
    if (i > 8) i = 8;
    double f = s - i;
    for (int k = 0; k < 3; k++)
        rgb[k] = (uint8_t)floor(viridis_stops[i][k] + f * (viridis_stops[i + 1][k] - viridis_stops[i][k]) + 0.5);
}

eb_status eb_heatmap_render(uint8_t *dst, const eb_heatmap_spec *sp) {
    int G = sp->grid, S = sp->size_px;
    if (!dst || !sp->energy || G < 2 || S < 1 || S > 16384 || !(sp->xmax > sp->xmin) ||
        !(sp->ymax > sp->ymin) || !isfinite(sp->xmax - sp->xmin) || !isfinite(sp->ymax - sp->ymin) ||
        sp->n_points < 0 || (sp->n_points > 0 && !sp->points))
        return EB_FAIL(EB_ERR_ARG, "heat map: bad spec (grid %d, %d px, x [%g, %g], y [%g, %g], %d points)", G, S,
                       (double)sp->xmin, (double)sp->xmax, (double)sp->ymin, (double)sp->ymax, sp->n_points);
    /* Range over finite energies; exp(-(U - Umin)) has maximum 1, so density needs no second pass. */
    double umin = INFINITY, umax = -INFINITY;
    for (size_t i = 0; i < (size_t)G * (size_t)G; i++) {
        double u = sp->energy[i];
        if (!isfinite(u)) continue;
        if (u < umin) umin = u;
        if (u > umax) umax = u;
    }
    if (!(umin <= umax)) umin = umax = 0.0; /* no finite value at all */
    double urange = umax > umin ? umax - umin : 1.0;
    static const uint8_t nan_rgb[3] = {EB_HEATMAP_NAN_RGB}, dot_rgb[3] = {EB_HEATMAP_DOT_RGB};

    for (int py = 0; py < S; py++) {
        double gy = (1.0 - (py + 0.5) / S) * (G - 1); /* row 0 is the top: y = ymax */
        int iy = (int)gy;
        if (iy > G - 2) iy = G - 2;
        double fy = gy - iy;
        for (int px = 0; px < S; px++) {
            double gx = (px + 0.5) / S * (G - 1);
            int ix = (int)gx;
            if (ix > G - 2) ix = G - 2;
            double fx = gx - ix;
            const float *r0 = sp->energy + (size_t)iy * (size_t)G + (size_t)ix, *r1 = r0 + G;
            double u = (1 - fy) * ((1 - fx) * r0[0] + fx * r0[1]) + fy * ((1 - fx) * r1[0] + fx * r1[1]);
            uint8_t *o = dst + ((size_t)py * (size_t)S + (size_t)px) * 3;
            if (u != u) {
                memcpy(o, nan_rgb, 3);
                continue;
            }
            double t = sp->show_density ? exp(-(u - umin)) : (u - umin) / urange;
            eb_colormap_viridis(t, o);
        }
    }
    const int r = EB_HEATMAP_DOT_RADIUS;
    for (int i = 0; i < sp->n_points; i++) {
        double x = sp->points[2 * i], y = sp->points[2 * i + 1];
        double fx = (x - sp->xmin) / (sp->xmax - sp->xmin) * S, fy = (sp->ymax - y) / (sp->ymax - sp->ymin) * S;
        if (!(fx >= 0.0 && fx < S && fy >= 0.0 && fy < S)) continue; /* outside the window or NaN */
        int cx = (int)fx, cy = (int)fy;
        for (int dy = -r; dy <= r; dy++)
            for (int dx = -r; dx <= r; dx++) {
                int X = cx + dx, Y = cy + dy;
                if (dx * dx + dy * dy > r * r || X < 0 || X >= S || Y < 0 || Y >= S) continue;
                memcpy(dst + ((size_t)Y * (size_t)S + (size_t)X) * 3, dot_rgb, 3);
            }
    }
    return EB_OK;
}

eb_status eb_png_write_heatmap(const char *path, const eb_heatmap_spec *spec) {
    if (spec->size_px < 1 || spec->size_px > 16384)
        return EB_FAIL(EB_ERR_ARG, "png %s: heat map size %d px out of [1, 16384]", path, spec->size_px);
    size_t S = (size_t)spec->size_px;
    uint8_t *buf = malloc(S * S * 3);
    if (!buf) return EB_FAIL(EB_ERR_OOM, "png %s: no memory for a %zux%zu heat map", path, S, S);
    eb_status st = eb_heatmap_render(buf, spec);
    if (st == EB_OK) st = eb_png_write(path, buf, spec->size_px, spec->size_px, 3);
    free(buf);
    return st;
}
