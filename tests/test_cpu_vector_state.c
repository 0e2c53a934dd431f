/* The CPU ops leave the upper halves of the vector registers clean (vzeroupper) on every thread: the baseline
 * code after them (libm, the activations, OpenMP's runtime) is legacy SSE, which runs up to ~20x slower while
 * they are dirty (bench/PROFILE.md: "Dirty upper vector state"). Read with XGETBV(1), the state in use. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <omp.h>

#include "ebgan/backend.h"
#include "harness.h"
#include "kernels/cpu/conv/wino.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

/* XINUSE bits 2 (the upper 128 bits of ymm0-15) and 6 (the upper 256 of zmm0-15); bit 7, zmm16-31, costs
 * legacy SSE nothing and is left out. */
enum { UPPER_DIRTY = (1u << 2) | (1u << 6) };

static int xinuse_readable(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX)) return 0;
    if (!__get_cpuid_count(0xd, 1, &a, &b, &c, &d)) return 0;
    return (a >> 2) & 1; /* XGETBV with ECX = 1 */
}

static unsigned xinuse(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
    return lo;
}

__attribute__((target("avx"))) static void upper_clear(void) { __builtin_ia32_vzeroupper(); }

/* Bit t set: thread t of the pool found its upper state dirty; every thread then clears it, so that one op's
 * fault is not charged to the next. The pool's threads are reused in order, so thread t here is thread t
 * of the op's last parallel region. */
static unsigned dirty_threads(void) {
    unsigned mask = 0;
#pragma omp parallel reduction(| : mask)
    {
        if (xinuse() & UPPER_DIRTY) mask |= 1u << (omp_get_thread_num() & 31);
        upper_clear();
    }
    if (xinuse() & UPPER_DIRTY) mask |= 1u;
    upper_clear();
    return mask;
}
#define HAVE_XINUSE 1
#else
#define HAVE_XINUSE 0
#endif

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float *rnd_buf(size_t n) { return eb_test_rand_f(n, &rng_state); } /* in [-1, 1), never zeros */

#define geom eb_test_square_conv

EB_TEST(conv_ops_leave_the_upper_vector_state_clean_on_every_thread) {
#if !HAVE_XINUSE
    return EB_TEST_SKIP; /* not x86-64 */
#else
    if (!xinuse_readable()) return EB_TEST_SKIP; /* no AVX, or XGETBV(1) not supported: nothing to dirty */
    if (omp_get_max_threads() < 2) omp_set_num_threads(2); /* the workers too, not only the calling thread */
    /* One layer per path of conv/direct_ops.c / conv/wino_ops.c: the RGB layer (direct forward and filter gradient,
     * data gradient by columns and col2im: fewer than 8 input channels), k5 s2 (direct, >= 8 channels), k3 s1
     * and k4 s2 with many channels (Winograd, data gradient per phase), 64 -> 64 k4 s2 (data gradient as the
     * forward's adjoint), each with beta 0 and 1. */
    const eb_conv_geom layers[] = {geom(8, 3, 64, 32, 3, 1, 1), geom(4, 16, 24, 14, 5, 2, 2), geom(4, 128, 128, 16, 3, 1, 1),
                                   geom(4, 128, 128, 16, 4, 2, 1), geom(4, 64, 64, 32, 4, 2, 1)};
    const int wino[] = {0, 0, 1, 1, 1};
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    dirty_threads();
    for (int l = 0; l < (int)(sizeof layers / sizeof layers[0]); l++) {
        const eb_conv_geom *g = &layers[l];
        EB_CHECK(eb_cpu_wino_fits(g, EB_WINO_FORWARD) == wino[l] && eb_cpu_wino_fits(g, EB_WINO_DATA) == wino[l],
                 "layer %d no longer takes the path it stands for", l);
        const size_t nx = (size_t)g->n * g->c_in * g->h_in * g->w_in, ny = (size_t)g->n * g->c_out * g->h_out * g->w_out;
        const size_t nw = (size_t)g->c_out * g->c_in * g->k_h * g->k_w;
        float *x = rnd_buf(nx), *w = rnd_buf(nw), *y = rnd_buf(ny), *dx = rnd_buf(nx), *dw = rnd_buf(nw);
        EB_CHECK(x && w && y && dx && dw, "out of memory");
        for (int beta = 0; beta <= 1; beta++) {
            static const char *op_name[3] = {"forward", "backward data", "backward filter"};
            for (int op = 0; op < 3; op++) {
                if (op == 0) EB_CHECK_OK(be.ops->conv2d_forward(be.ctx, g, x, w, y, 1, (eb_real)beta));
                if (op == 1) EB_CHECK_OK(be.ops->conv2d_backward_data(be.ctx, g, y, w, dx, 1, (eb_real)beta));
                if (op == 2) EB_CHECK_OK(be.ops->conv2d_backward_filter(be.ctx, g, x, y, dw, 1, (eb_real)beta));
                const unsigned d = dirty_threads();
                EB_CHECK(d == 0, "%d->%d %dx%d k%d s%d %s (beta %d) left the upper state dirty on threads 0x%x",
                         g->c_in, g->c_out, g->h_in, g->w_in, g->k_h, g->stride, op_name[op], beta, d);
            }
        }
        free(x), free(w), free(y), free(dx), free(dw);
    }
    /* the dense layers (OpenBLAS) and the pointwise ops that follow a convolution */
    const int n = 64, in = 96, out = 80;
    float *a = rnd_buf((size_t)n * in), *wl = rnd_buf((size_t)out * in), *b = rnd_buf(out), *o = rnd_buf((size_t)n * out);
    float *t = rnd_buf((size_t)n * out);
    EB_CHECK(a && wl && b && o && t, "out of memory");
    EB_CHECK_OK(be.ops->linear_forward(be.ctx, a, wl, b, o, n, in, out));
    EB_CHECK(dirty_threads() == 0, "linear_forward left the upper state dirty");
    EB_CHECK_OK(be.ops->linear_backward_data(be.ctx, o, wl, a, n, in, out, 1, 0));
    EB_CHECK(dirty_threads() == 0, "linear_backward_data left the upper state dirty");
    EB_CHECK_OK(be.ops->linear_backward_weight(be.ctx, a, o, wl, n, in, out, 1, 0));
    EB_CHECK(dirty_threads() == 0, "linear_backward_weight left the upper state dirty");
    EB_CHECK_OK(be.ops->bias_backward(be.ctx, o, b, n, out, 1, 1, 0));
    EB_CHECK(dirty_threads() == 0, "bias_backward left the upper state dirty");
    EB_CHECK_OK(be.ops->act_forward(be.ctx, EB_ACT_TANH, 0, o, t, (size_t)n * out));
    EB_CHECK(dirty_threads() == 0, "act_forward left the upper state dirty");
    free(a), free(wl), free(b), free(o), free(t);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
#endif
}

EB_TEST(the_check_sees_a_dirty_upper_state) {
#if !HAVE_XINUSE
    return EB_TEST_SKIP;
#else
    if (!xinuse_readable()) return EB_TEST_SKIP;
    dirty_threads();
    __asm__ volatile("vpcmpeqd %%ymm1, %%ymm1, %%ymm1" ::: "xmm1"); /* upper half of ymm1 set, no vzeroupper */
    EB_CHECK(dirty_threads() & 1u, "an AVX instruction without vzeroupper went unseen");
    EB_CHECK(dirty_threads() == 0, "the state stayed dirty after vzeroupper");
    return EB_TEST_PASS;
#endif
}
