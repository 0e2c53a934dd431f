/* One PNG file per sample in a directory: the layout the standard FID tools read (pytorch-fid, torch-fidelity,
 * clean-fid score a folder of images), pixels as in the sample grid. */
#ifndef EBGAN_PNG_DIR_H
#define EBGAN_PNG_DIR_H

#include <stdint.h>

#include "ebgan/status.h"

/* Writes images x (float NCHW, C = 1 gray or 3 RGB, values in [-1, 1] mapped to 0..255 as eb_grid_pixel) to
 * dir/<index>.png with index = first + i zero-padded to 6 digits; creates dir (one level) when missing. */
eb_status eb_png_dir_write(const char *dir, const float *x_nchw, int64_t first, int n, int c, int h, int w);

#endif
