/* A minimal test harness: each EB_TEST(name) is one behaviour and one ctest entry (CMake reads the
 * names from the source). Exit codes: 0 pass, 1 fail, 77 skipped (e.g. no usable GPU). */
#ifndef EBGAN_TEST_HARNESS_H
#define EBGAN_TEST_HARNESS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "ebgan/ops.h"

#define EB_TEST_PASS 0
#define EB_TEST_FAIL 1
#define EB_TEST_SKIP 77

typedef int (*eb_test_fn)(void);
void eb_test_register(const char *name, eb_test_fn fn);

/* Write a case as: EB_TEST(name) { ...; return EB_TEST_PASS; }  (at the start of a line) */
#define EB_TEST(name)                                                                      \
    static int eb_test_##name(void);                                                       \
    __attribute__((constructor)) static void eb_test_reg_##name(void) {                    \
        eb_test_register(#name, eb_test_##name);                                           \
    }                                                                                      \
    static int eb_test_##name(void)

/* Fail the case with a message naming file and line. */
#define EB_CHECK(cond, ...)                                                                \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            return EB_TEST_FAIL;                                                           \
        }                                                                                  \
    } while (0)

/* A status-returning call that must succeed; prints eb_error_message() otherwise. */
#define EB_CHECK_OK(expr)                                                                  \
    do {                                                                                   \
        eb_status eb_chk_st_ = (expr);                                                     \
        if (eb_chk_st_ != EB_OK) {                                                         \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr,          \
                    eb_error_message());                                                   \
            return EB_TEST_FAIL;                                                           \
        }                                                                                  \
    } while (0)

/* max_i |a_i - b_i| / max(max_i |b_i|, floor): the relative error used throughout the tests. */
double eb_test_rel_err(const double *a, const double *b, size_t n, double floor);
/* The same for float arrays (GPU parity). */
double eb_test_rel_err_f(const float *a, const float *b, size_t n, double floor);
/* ---- the tests' one random stream for inputs: xorshift64 at *state (advanced by each draw; never 0) ----
 * Fixed starts give fixed inputs; eb_test_seed + eb_test_rand_init give a replayable draw per run. */
/* EBGAN_TEST_SEED when set (a failure's printed seed replays it), else dflt. */
uint64_t eb_test_seed(uint64_t dflt);
/* A state for seed: seed mixed (splitmix64) so that any seed, 0 included, starts a non-zero stream. */
uint64_t eb_test_rand_init(uint64_t seed);
/* The next 64 bits of the stream. */
uint64_t eb_test_rand_u64(uint64_t *state);
/* Uniform in [0, 1) (the top 53 bits). */
double eb_test_rand_unit(uint64_t *state);
/* Uniform in [lo, hi] (hi - lo < 2^31). */
int eb_test_rand_int(int lo, int hi, uint64_t *state);
/* Standard normal (Box-Muller over two draws). */
double eb_test_rand_normal(uint64_t *state);
/* p[i] uniform in [lo, hi), float64: fresh test inputs. */
void eb_test_fill_range(double *p, size_t n, double lo, double hi, uint64_t *state);
/* p[i] uniform in [-1, 1), float32: fresh test inputs, never zeros. */
void eb_test_fill_uniform_f(float *p, size_t n, uint64_t *state);
/* A malloc'ed array of n such floats (NULL when out of memory). */
float *eb_test_rand_f(size_t n, uint64_t *state);
/* A malloc'ed array of n doubles uniform in [-1, 1) (NULL when out of memory). */
double *eb_test_rand_d(size_t n, uint64_t *state);
/* The geometry of a square conv2d: n samples of c_in x h_in x h_in, c_out channels, k x k taps, stride s, pad p. */
static inline eb_conv_geom eb_test_square_conv(int n, int c_in, int c_out, int h_in, int k, int s, int p) {
    eb_conv_geom g = {.n = n, .c_in = c_in, .c_out = c_out, .h_in = h_in, .w_in = h_in, .k_h = k, .k_w = k,
                      .stride = s, .pad = p};
    g.h_out = g.w_out = (h_in + 2 * p - k) / s + 1;
    return g;
}
/* 1 if any element is NaN or Inf. */
int eb_test_has_nonfinite(const double *a, size_t n);

#endif
