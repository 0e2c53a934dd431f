/* Stand-in image sets for benchmarks (data.h eb_npy_write_random_images): uint8 pixels from a linear
 * congruential stream, written as a .npy that the ordinary loader reads. */
#include "ebgan/data.h"

#include <stdlib.h>

eb_status eb_npy_write_random_images(const char *path, int n, int c, int h, int w, uint32_t seed) {
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return EB_FAIL(EB_ERR_ARG, "random images: shape [%d, %d, %d, %d] has an empty dimension", n, c, h, w);
    const size_t k = (size_t)n * c * h * w;
    uint8_t *px = malloc(k);
    if (!px) return EB_FAIL(EB_ERR_OOM, "random images: %zu bytes", k);
    uint32_t s = seed;
    for (size_t i = 0; i < k; i++) {
        s = s * 1664525u + 1013904223u;
        px[i] = (uint8_t)(s >> 24); /* the stream's high bits: its low ones have short periods */
    }
    const int64_t shape[4] = {n, c, h, w};
    const eb_status st = eb_npy_write(path, EB_U8, 4, shape, px);
    free(px);
    return st;
}
