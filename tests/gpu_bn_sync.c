/* GPU parity of synchronised batch norm's ops (bn_channel_sums, bn_forward_global, bn_backward_global)
 * against the CPU reference: exit 77 (skipped) without a usable GPU.
 * Bound TOL_ELEM 1e-5 as gpu_ops.c (per-channel sums in double on both sides, elementwise in float). */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "ebgan/backend.h"
#include "ebgan/rng.h"

#define TOL_ELEM 1e-5
enum { N = 6, C = 5, HW = 7, TOT = N * C * HW };

static int skip_without_gpu(void) {
    char why[512];
    if (eb_cuda_devices(why, sizeof why) > 0) return 0;
    printf("no usable CUDA GPU (%s): skipped\n", why);
    return 1;
}

/* A device copy of h (NULL when allocation or upload fails). */
static void *up(const eb_backend *g, const float *h, size_t n) {
    void *d = NULL;
    if (g->ops->mem_alloc(g->ctx, &d, n * sizeof(float) + 4) != EB_OK) return NULL;
    if (g->ops->mem_upload(g->ctx, d, h, n * sizeof(float)) != EB_OK) {
        g->ops->mem_free(g->ctx, d);
        return NULL;
    }
    return d;
}

static eb_status down(const eb_backend *g, float *h, const void *d, size_t n) {
    return g->ops->mem_download(g->ctx, h, d, n * sizeof(float));
}

EB_TEST(global_batch_norm_ops_match_the_cpu) {
    if (skip_without_gpu()) return EB_TEST_SKIP;
    eb_backend cpu, gpu;
    EB_CHECK_OK(eb_cpu_backend_init(&cpu));
    EB_CHECK_OK(eb_cuda_backend_init(&gpu, 0));
    float x[TOT], dy[TOT], gamma[C], beta[C], mean[C], sumsq[C], sums[2 * C], rm[C], rv[C];
    for (int i = 0; i < TOT; i++) x[i] = (float)eb_rng_normal_at(7, i) * 2 + 1, dy[i] = (float)eb_rng_normal_at(8, i);
    for (int c = 0; c < C; c++) gamma[c] = 1 + 0.1f * c, beta[c] = 0.2f * c, rm[c] = 0.1f, rv[c] = 1.5f;
    const double count = 3.0 * N * HW; /* as if two more ranks' values were in the sums */
    /* CPU reference */
    float m_c[C], ss_c[C], y_c[TOT], is_c[C], rm_c[C], rv_c[C], dx_c[TOT];
    EB_CHECK_OK(cpu.ops->bn_channel_sums(cpu.ctx, x, NULL, m_c, N, C, HW));
    for (int c = 0; c < C; c++) mean[c] = m_c[c] / (float)count;
    EB_CHECK_OK(cpu.ops->bn_channel_sums(cpu.ctx, x, mean, ss_c, N, C, HW));
    for (int c = 0; c < C; c++) sumsq[c] = 3 * ss_c[c], sums[c] = 0.3f * c, sums[C + c] = -0.2f * c;
    memcpy(rm_c, rm, sizeof rm), memcpy(rv_c, rv, sizeof rv);
    EB_CHECK_OK(cpu.ops->bn_forward_global(cpu.ctx, x, gamma, beta, y_c, mean, sumsq, count, is_c, rm_c, rv_c, 0.1f,
                                           1e-5f, N, C, HW));
    EB_CHECK_OK(cpu.ops->bn_backward_global(cpu.ctx, x, dy, gamma, mean, is_c, sums, count, dx_c, N, C, HW));
    /* GPU */
    float *dx_ = up(&gpu, x, TOT), *ddy = up(&gpu, dy, TOT), *dg = up(&gpu, gamma, C), *db = up(&gpu, beta, C),
          *dm = up(&gpu, mean, C), *dss = up(&gpu, sumsq, C), *dsums = up(&gpu, sums, 2 * C), *drm = up(&gpu, rm, C),
          *drv = up(&gpu, rv, C), *dout = up(&gpu, x, TOT), *dis = up(&gpu, rm, C), *dsum = up(&gpu, rm, C);
    float *bufs[] = {dx_, ddy, dg, db, dm, dss, dsums, drm, drv, dout, dis, dsum};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) EB_CHECK(bufs[i], "device buffer %zu", i);
    float m_g[C], ss_g[C], y_g[TOT], is_g[C], rm_g[C], rv_g[C], dx_g[TOT];
    EB_CHECK_OK(gpu.ops->bn_channel_sums(gpu.ctx, dx_, NULL, dsum, N, C, HW));
    EB_CHECK_OK(down(&gpu, m_g, dsum, C));
    EB_CHECK_OK(gpu.ops->bn_channel_sums(gpu.ctx, dx_, dm, dsum, N, C, HW));
    EB_CHECK_OK(down(&gpu, ss_g, dsum, C));
    EB_CHECK_OK(gpu.ops->bn_forward_global(gpu.ctx, dx_, dg, db, dout, dm, dss, count, dis, drm, drv, 0.1f, 1e-5f, N, C,
                                           HW));
    EB_CHECK_OK(down(&gpu, y_g, dout, TOT));
    EB_CHECK_OK(down(&gpu, is_g, dis, C));
    EB_CHECK_OK(down(&gpu, rm_g, drm, C));
    EB_CHECK_OK(down(&gpu, rv_g, drv, C));
    EB_CHECK_OK(gpu.ops->bn_backward_global(gpu.ctx, dx_, ddy, dg, dm, dis, dsums, count, dout, N, C, HW));
    EB_CHECK_OK(down(&gpu, dx_g, dout, TOT));
    EB_CHECK(eb_test_rel_err_f(m_g, m_c, C, 1e-6) < TOL_ELEM, "sums");
    EB_CHECK(eb_test_rel_err_f(ss_g, ss_c, C, 1e-6) < TOL_ELEM, "centred sums of squares");
    EB_CHECK(eb_test_rel_err_f(y_g, y_c, TOT, 1e-6) < TOL_ELEM, "forward: %g", eb_test_rel_err_f(y_g, y_c, TOT, 1e-6));
    EB_CHECK(eb_test_rel_err_f(is_g, is_c, C, 1e-6) < TOL_ELEM, "invstd");
    EB_CHECK(eb_test_rel_err_f(rm_g, rm_c, C, 1e-6) < TOL_ELEM && eb_test_rel_err_f(rv_g, rv_c, C, 1e-6) < TOL_ELEM,
             "running statistics");
    EB_CHECK(eb_test_rel_err_f(dx_g, dx_c, TOT, 1e-6) < TOL_ELEM, "backward: %g", eb_test_rel_err_f(dx_g, dx_c, TOT, 1e-6));
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) gpu.ops->mem_free(gpu.ctx, bufs[i]);
    eb_cuda_backend_free(&gpu);
    eb_cpu_backend_free(&cpu);
    return EB_TEST_PASS;
}
