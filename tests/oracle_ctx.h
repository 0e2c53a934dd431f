/* Shared inputs of the float64 op tests (grad_ops_*): a CPU backend with its buffers and a reproducible
 * Philox stream (t_*), and a small xorshift generator over malloc'd buffers (xs_*). Header-only, static
 * inline, so a test uses what it needs. */
#ifndef EBGAN_TESTS_ORACLE_CTX_H
#define EBGAN_TESTS_ORACLE_CTX_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebgan/backend.h"
#include "ebgan/rng.h"
#include "harness.h"

#define T_MAX_BUFS 32

/* Each case: a CPU backend, a host Philox stream for its inputs, and the buffers it allocated. */
typedef struct tctx {
    eb_backend be;
    eb_rng rng;
    void *bufs[T_MAX_BUFS];
    int nbufs;
} tctx;

/* Inputs are random but reproducible; EBGAN_TEST_SEED picks another draw (every case must pass for any). */
static inline int t_open(tctx *t, uint64_t salt) {
    memset(t, 0, sizeof *t);
    const char *s = getenv("EBGAN_TEST_SEED");
    uint64_t base = s ? strtoull(s, NULL, 10) : 20240611u;
    eb_rng_init(&t->rng, base * 0x9E3779B97F4A7C15ull ^ salt);
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

static inline double t_unif(tctx *t, double lo, double hi) { return lo + (hi - lo) * eb_rng_uniform(&t->rng); }
static inline double t_normal(tctx *t) { return eb_rng_normal_at(t->rng.seed, eb_rng_reserve(&t->rng, 1)); }
static inline int t_int(tctx *t, int lo, int hi) { return lo + (int)eb_rng_below(&t->rng, (uint32_t)(hi - lo + 1)); }

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

/* ---- xorshift64* over malloc'd buffers (the CPU backend's memory is host memory); each file picks its
 * start by defining XS_SEED before including this header ---- */
#ifndef XS_SEED
#define XS_SEED 0x9E3779B97F4A7C15ull
#endif
static inline uint64_t *xs_state(void) {
    static uint64_t s = XS_SEED;
    return &s;
}
static inline uint64_t rng_next(void) {
    uint64_t *g = xs_state();
    *g ^= *g >> 12;
    *g ^= *g << 25;
    *g ^= *g >> 27;
    return *g * 0x2545F4914F6CDD1Dull;
}
static inline double rng_unit(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }
static inline int rng_int(int lo, int hi) { return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1)); } /* [lo, hi] */
static inline double *rand_buf(size_t n) {
    double *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = 2.0 * rng_unit() - 1.0; /* U[-1, 1): never all zeros */
    return p;
}
static inline double *nan_buf(size_t n) {
    double *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

#endif
