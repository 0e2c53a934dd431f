/* A plain line chart on the unit square as PNG (no text: the caller's README or JSON says what the colours
 * are), for curves such as precision-recall: white ground, a grid every 0.1, a black frame. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ebgan/png_write.h"

#define CHART_MARGIN 16 /* px between the image border and the frame */

static void dot(uint8_t *px, int S, int x, int y, int r, const uint8_t rgb[3]) {
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++) {
            int X = x + dx, Y = y + dy;
            if (X < 0 || Y < 0 || X >= S || Y >= S || dx * dx + dy * dy > r * r) continue;
            memcpy(px + ((size_t)Y * (size_t)S + (size_t)X) * 3, rgb, 3);
        }
}

/* Unit-square coordinates to pixel centres (y up). */
static double to_px(double v, int S) { return CHART_MARGIN + v * (S - 1 - 2 * CHART_MARGIN); }

static void segment(uint8_t *px, int S, double x0, double y0, double x1, double y1, int r, int dash,
                    double *travelled, const uint8_t rgb[3]) {
    double ax = to_px(x0, S), ay = S - 1 - to_px(y0, S), bx = to_px(x1, S), by = S - 1 - to_px(y1, S);
    double len = hypot(bx - ax, by - ay);
    int steps = (int)ceil(len * 2) + 1;
    for (int i = 0; i <= steps; i++) {
        double f = (double)i / steps, d = *travelled + f * len;
        if (dash && fmod(d, 2.0 * dash) >= dash) continue;
        dot(px, S, (int)lround(ax + f * (bx - ax)), (int)lround(ay + f * (by - ay)), r, rgb);
    }
    *travelled += len;
}

eb_status eb_png_write_chart(const char *path, const eb_chart_curve *curves, int n_curves, int size_px) {
    int S = size_px;
    if (S < 4 * CHART_MARGIN || S > 4096 || n_curves < 0)
        return EB_FAIL(EB_ERR_ARG, "chart %s: size %d px out of [%d, 4096]", path, S, 4 * CHART_MARGIN);
    uint8_t *px = malloc((size_t)S * (size_t)S * 3);
    if (!px) return EB_FAIL(EB_ERR_OOM, "chart %s: no memory", path);
    memset(px, 255, (size_t)S * (size_t)S * 3);
    static const uint8_t grid_rgb[3] = {225, 225, 225}, frame_rgb[3] = {0, 0, 0};
    for (int g = 0; g <= 10; g++) {
        double t = g / 10.0, trav = 0;
        const uint8_t *c = (g == 0 || g == 10) ? frame_rgb : grid_rgb;
        segment(px, S, t, 0, t, 1, 0, 0, &trav, c);
        trav = 0;
        segment(px, S, 0, t, 1, t, 0, 0, &trav, c);
    }
    for (int k = 0; k < n_curves; k++) {
        const eb_chart_curve *cv = &curves[k];
        double trav = 0;
        for (size_t i = 1; i < cv->n; i++) {
            if (!isfinite(cv->x[i - 1] + cv->y[i - 1] + cv->x[i] + cv->y[i])) continue;
            segment(px, S, cv->x[i - 1], cv->y[i - 1], cv->x[i], cv->y[i], 1, cv->dash_px, &trav, cv->rgb);
        }
    }
    eb_status st = eb_png_write(path, px, S, S, 3);
    free(px);
    return st;
}
