/* Shared inputs of the float64 op tests (grad_ops_*): a CPU backend with its buffers and a reproducible
 * stream per case (t_*), and a file-wide stream over malloc'd buffers (rng_int, rand_buf); both draw from the
 * harness's generator. Header-only, static inline, so a test uses what it needs. */
#ifndef EBGAN_TESTS_ORACLE_CTX_H
#define EBGAN_TESTS_ORACLE_CTX_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebgan/backend.h"
#include "harness.h"

#define T_MAX_BUFS 32

/* Each case: a CPU backend, a random stream for its inputs (harness state), and the buffers it allocated. */
typedef struct tctx {
    eb_backend be;
    uint64_t rng;
    void *bufs[T_MAX_BUFS];
    int nbufs;
} tctx;

/* Inputs are random but reproducible; EBGAN_TEST_SEED picks another draw (every case must pass for any). */
static inline int t_open(tctx *t, uint64_t salt) {
    memset(t, 0, sizeof *t);
    t->rng = eb_test_rand_init(eb_test_seed(20240611u) * 0x9E3779B97F4A7C15ull ^ salt);
    if (eb_cpu_backend_init(&t->be) != EB_OK) {
        fprintf(stderr, "cpu backend: %s\n", eb_error_message());
        return 0;
    }
    return 1;
}

static inline void t_close(tctx *t) {
    for (int i = 0; i < t->nbufs; i++) t->be.ops->mem_free(t->be.ctx, t->bufs[i]);
    eb_cpu_backend_free(&t->be);
}

/* Backend memory (host memory on the CPU backend, so the test reads it directly). */
static inline void *t_alloc(tctx *t, size_t bytes) {
    void *p = NULL;
    if (t->nbufs == T_MAX_BUFS || t->be.ops->mem_alloc(t->be.ctx, &p, bytes ? bytes : 1) != EB_OK) {
        fprintf(stderr, "test buffer of %zu bytes: %s\n", bytes, eb_error_message());
        exit(EB_TEST_FAIL);
    }
    t->bufs[t->nbufs++] = p;
    return p;
}

/* n doubles filled with NaN, so that a read of an unwritten element shows. */
static inline double *t_buf(tctx *t, size_t n) {
    double *d = t_alloc(t, n * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = NAN;
    return d;
}

static inline double t_unif(tctx *t, double lo, double hi) { return lo + (hi - lo) * eb_test_rand_unit(&t->rng); }
static inline double t_normal(tctx *t) { return eb_test_rand_normal(&t->rng); }
static inline int t_int(tctx *t, int lo, int hi) { return eb_test_rand_int(lo, hi, &t->rng); } /* [lo, hi] */

static inline double *t_randn(tctx *t, size_t n, double scale, double shift) {
    double *d = t_buf(t, n);
    for (size_t i = 0; i < n; i++) d[i] = shift + scale * t_normal(t);
    return d;
}

static inline double *t_copy(tctx *t, const double *src, size_t n) {
    double *d = t_buf(t, n);
    memcpy(d, src, n * sizeof *d);
    return d;
}

/* ---- one stream per file over malloc'd buffers (the CPU backend's memory is host memory); each file picks
 * its start by defining XS_SEED before including this header ---- */
#ifndef XS_SEED
#define XS_SEED 0x9E3779B97F4A7C15ull
#endif
static inline uint64_t *xs_state(void) {
    static uint64_t s = XS_SEED;
    return &s;
}
static inline int rng_int(int lo, int hi) { return eb_test_rand_int(lo, hi, xs_state()); } /* [lo, hi] */
static inline double *rand_buf(size_t n) { return eb_test_rand_d(n, xs_state()); }      /* U[-1, 1): never all zeros */
static inline double *nan_buf(size_t n) {
    double *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

#endif
