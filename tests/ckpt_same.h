/* Test helpers shared by the end-to-end tests: whether two checkpoints hold bit-identical tensors (and, on
 * request, the same RNG position), and how far apart they are. Header-only: the float library only. */
#ifndef EBGAN_TEST_CKPT_SAME_H
#define EBGAN_TEST_CKPT_SAME_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebgan/safetensors.h"

/* 1 when every tensor of pa equals pb's bit for bit (same names, sizes, count) and, when check_rng, their
 * rng_counter metadata agree; else 0 with the reason in why. */
static inline int eb_test_ckpt_same(const char *pa, const char *pb, int check_rng, char *why, size_t cap) {
    eb_safetensors a, b;
    if (eb_safetensors_open(&a, pa) != EB_OK) {
        snprintf(why, cap, "open: %s", eb_error_message()); /* the message names the file */
        return 0;
    }
    if (eb_safetensors_open(&b, pb) != EB_OK) {
        snprintf(why, cap, "open: %s", eb_error_message());
        eb_safetensors_close(&a);
        return 0;
    }
    int ok = eb_safetensors_count(&a) == eb_safetensors_count(&b);
    if (!ok) snprintf(why, cap, "different tensor lists");
    for (int i = 0; ok && i < eb_safetensors_count(&a); i++) {
        const eb_st_info *ia = eb_safetensors_at(&a, i), *ib = eb_safetensors_find(&b, ia->name);
        size_t n = ia->end - ia->begin;
        if (!ib || ib->end - ib->begin != n) {
            snprintf(why, cap, "tensor %s missing or resized", ia->name);
            ok = 0;
            break;
        }
        char *da = malloc(n + 1), *db = malloc(n + 1);
        ok = da && db && eb_safetensors_read(&a, ia, da, n) == EB_OK && eb_safetensors_read(&b, ib, db, n) == EB_OK &&
             !memcmp(da, db, n);
        if (!ok) snprintf(why, cap, "tensor %s differs", ia->name);
        free(da);
        free(db);
    }
    const char *ra = eb_safetensors_meta(&a, "rng_counter"), *rb = eb_safetensors_meta(&b, "rng_counter");
    if (ok && check_rng && (!ra || !rb || strcmp(ra, rb))) {
        snprintf(why, cap, "rng state differs");
        ok = 0;
    }
    eb_safetensors_close(&a);
    eb_safetensors_close(&b);
    return ok;
}

/* The largest over tensors of max|a - b| / max(max|a|, 1e-3) (every tensor F32), with the tensor it is in named in
 * worst, and in *identical (when not NULL) whether every tensor matched bit for bit. -1 when a file or tensor
 * cannot be read, the tensors do not pair up, or (check_meta) the step / RNG metadata differ. */
static inline double eb_test_ckpt_rel_diff(const char *pa, const char *pb, int check_meta, int *identical, char *worst,
                                           size_t cap) {
    eb_safetensors a, b;
    if (eb_safetensors_open(&a, pa) != EB_OK) return -1;
    if (eb_safetensors_open(&b, pb) != EB_OK) {
        eb_safetensors_close(&a);
        return -1;
    }
    double m = eb_safetensors_count(&a) == eb_safetensors_count(&b) ? 0 : -1;
    int same = m == 0;
    for (int i = 0; m >= 0 && i < eb_safetensors_count(&a); i++) {
        const eb_st_info *ia = eb_safetensors_at(&a, i), *ib = eb_safetensors_find(&b, ia->name);
        const size_t n = ia->end - ia->begin;
        float *x = NULL, *y = NULL;
        if (!ib || ib->end - ib->begin != n || ia->dtype != EB_ST_F32 || !(x = malloc(n + 4)) || !(y = malloc(n + 4)) ||
            eb_safetensors_read(&a, ia, x, n) != EB_OK || eb_safetensors_read(&b, ib, y, n) != EB_OK) {
            free(x);
            free(y);
            m = -1;
            break;
        }
        if (memcmp(x, y, n)) same = 0;
        double d = 0, s = 1e-3;
        for (size_t k = 0; k < n / 4; k++) {
            d = fmax(d, fabs((double)x[k] - y[k]));
            s = fmax(s, fabs(x[k]));
        }
        if (d / s > m) {
            m = d / s;
            snprintf(worst, cap, "%s", ia->name);
        }
        free(x);
        free(y);
    }
    const char *keys[] = {"step", "rng_counter", "rng_seed"};
    for (int k = 0; check_meta && m >= 0 && k < 3; k++) {
        const char *va = eb_safetensors_meta(&a, keys[k]), *vb = eb_safetensors_meta(&b, keys[k]);
        if (!va || !vb || strcmp(va, vb)) m = -1;
    }
    eb_safetensors_close(&a);
    eb_safetensors_close(&b);
    if (identical) *identical = same && m >= 0;
    return m;
}

#endif
