/* sample --png-dir (png_dir.h): each image of a batch as its own 8-bit PNG, HWC bytes from NCHW floats by the
 * grid's [-1, 1] -> 0..255 map, so a folder scores with the FID tools exactly as the grid shows it. */
#include "ebgan/png_dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ebgan/png_write.h"

eb_status eb_png_dir_write(const char *dir, const float *x, int64_t first, int n, int c, int h, int w) {
    if ((c != 1 && c != 3) || h < 1 || w < 1)
        return EB_FAIL(EB_ERR_ARG, "--png-dir: images must have 1 or 3 channels, got %d x %d x %d", c, h, w);
    if (mkdir(dir, 0777) && errno != EEXIST) return EB_FAIL(EB_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    const size_t plane = (size_t)h * (size_t)w;
    uint8_t *px = malloc(plane * (size_t)c);
    if (!px) return EB_FAIL(EB_ERR_OOM, "--png-dir: no memory for one %d x %d image", h, w);
    eb_status st = EB_OK;
    for (int i = 0; i < n && st == EB_OK; i++) {
        const float *img = x + (size_t)i * plane * (size_t)c;
        for (size_t p = 0; p < plane; p++) /* planes (CHW) to interleaved pixels (HWC) */
            for (int k = 0; k < c; k++) px[p * (size_t)c + (size_t)k] = eb_grid_pixel(img[(size_t)k * plane + p]);
        char path[4200];
        snprintf(path, sizeof path, "%s/%06lld.png", dir, (long long)(first + i));
        st = eb_png_write(path, px, w, h, c);
    }
    free(px);
    return st;
}
