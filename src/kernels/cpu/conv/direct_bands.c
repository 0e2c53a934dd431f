/* The border bands of the direct convolutions (direct.h): runs of output rows (or columns) that read the same
 * range of window taps inside the input, so the GEMMs skip the taps that would read the zero border. */
#include "direct.h"

/* Taps [lo, hi) of output o that read inside the input: index o * step + t * tstep - off in [0, n_in). */
static void band_taps(int o, int taps, int step, int tstep, int off, int n_in, int *lo, int *hi) {
    int a = taps, b = 0;
    for (int t = 0; t < taps; t++) {
        const long idx = (long)o * step + (long)t * tstep - off;
        if (idx >= 0 && idx < n_in) {
            if (t < a) a = t;
            b = t + 1;
        }
    }
    *lo = a < b ? a : 0;
    *hi = a < b ? b : 0;
}

int conv_bands(int o_lo, int o_hi, int taps, int step, int tstep, int off, int n_in, conv_band *bands) {
    int nb = 0;
    for (int o = o_lo; o < o_hi; o++) {
        int lo, hi;
        band_taps(o, taps, step, tstep, off, n_in, &lo, &hi);
        if (nb > 0 && bands[nb - 1].t0 == lo && bands[nb - 1].t1 == hi) {
            bands[nb - 1].o1 = o + 1;
        } else {
            bands[nb] = (conv_band){.o0 = o, .o1 = o + 1, .t0 = lo, .t1 = hi};
            nb++;
        }
    }
    return nb;
}

size_t conv_band_taps(const conv_band *bands, int nb) {
    size_t sum = 0;
    for (int b = 0; b < nb; b++) sum += (size_t)(bands[b].o1 - bands[b].o0) * (size_t)(bands[b].t1 - bands[b].t0);
    return sum;
}

int conv_bands_pay(const conv_band *rows, int nr, const conv_band *cols, int nc, int o_rows, int o_cols,
                   int taps_h, int taps_w) {
    const double all = (double)o_rows * taps_h * (double)o_cols * taps_w;
    const double inside = (double)conv_band_taps(rows, nr) * (double)conv_band_taps(cols, nc);
    return all > 0 && inside <= CONV_BAND_SHARE * all;
}
