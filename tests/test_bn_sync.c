/* Synchronised batch norm's ops (bn_channel_sums, bn_forward_global, bn_backward_global) on the CPU: a batch
 * split in R slices whose sums are added (what the all-reduce does) reproduces bn_forward_train /
 * bn_backward_train on the whole batch, and the running statistics agree. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "ebgan/backend.h"
#include "ebgan/rng.h"

enum { N = 12, C = 3, HW = 5 };
#define AT(i) ((size_t)(i) * C * HW) /* first element of sample i */

static void fill(float *x, size_t n, uint64_t seed, float shift) {
    for (size_t i = 0; i < n; i++) x[i] = (float)eb_rng_normal_at(seed, i) * 1.5f + shift;
}

static double max_rel(const float *a, const float *b, size_t n) {
    double m = 0, s = 1e-6;
    for (size_t i = 0; i < n; i++) s = fabs(b[i]) > s ? fabs(b[i]) : s;
    for (size_t i = 0; i < n; i++) m = fabs(a[i] - b[i]) > m ? fabs(a[i] - b[i]) : m;
    return m / s;
}

/* Forward and backward of R slices, sums added across slices between the ops, against the whole batch. */
static int split_matches_whole(int R) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const eb_ops *o = be.ops;
    void *ctx = be.ctx;
    const size_t tot = (size_t)N * C * HW;
    float x[N * C * HW], dy[N * C * HW], y_ref[N * C * HW], dx_ref[N * C * HW], y[N * C * HW], dx[N * C * HW];
    float gamma[C] = {1.2f, 0.7f, -0.4f}, beta[C] = {0.1f, -0.3f, 0.5f};
    float mean_ref[C], invstd_ref[C], rm_ref[C] = {0.5f, 0.5f, 0.5f}, rv_ref[C] = {2, 2, 2};
    float dg_ref[2 * C];
    fill(x, tot, 11, 3.0f); /* a large mean: the two-pass variance matters */
    fill(dy, tot, 12, 0.0f);
    EB_CHECK_OK(o->bn_forward_train(ctx, x, gamma, beta, y_ref, mean_ref, invstd_ref, rm_ref, rv_ref, 0.1f, 1e-5f, N,
                                    C, HW));
    EB_CHECK_OK(o->bn_backward_train(ctx, x, dy, gamma, mean_ref, invstd_ref, dx_ref, dg_ref, dg_ref + C, 0, N, C,
                                     HW));
    const int b = N / R;
    const double count = (double)N * HW;
    float part[8][2 * C], mean[C] = {0}, sumsq[C] = {0}, sums[2 * C] = {0}, dg[2 * C] = {0};
    float rm[8][C], rv[8][C], invstd[8][C];
    for (int r = 0; r < R; r++) { /* pass 1: sums -> the all-reduce -> mean */
        EB_CHECK_OK(o->bn_channel_sums(ctx, x + AT(r * b), NULL, part[r], b, C, HW));
        for (int c = 0; c < C; c++) mean[c] += part[r][c];
    }
    for (int c = 0; c < C; c++) mean[c] = (float)(mean[c] / count);
    for (int r = 0; r < R; r++) { /* pass 2: centred sums of squares */
        EB_CHECK_OK(o->bn_channel_sums(ctx, x + AT(r * b), mean, part[r], b, C, HW));
        for (int c = 0; c < C; c++) sumsq[c] += part[r][c];
    }
    for (int r = 0; r < R; r++) {
        for (int c = 0; c < C; c++) rm[r][c] = 0.5f, rv[r][c] = 2;
        EB_CHECK_OK(o->bn_forward_global(ctx, x + AT(r * b), gamma, beta, y + AT(r * b), mean, sumsq, count,
                                         invstd[r], rm[r], rv[r], 0.1f, 1e-5f, b, C, HW));
        EB_CHECK_OK(o->bn_backward_train(ctx, x + AT(r * b), dy + AT(r * b), gamma, mean, invstd[r], NULL, part[r],
                                         part[r] + C, 0, b, C, HW));
        for (int k = 0; k < 2 * C; k++) sums[k] += part[r][k], dg[k] += part[r][k];
    }
    for (int r = 0; r < R; r++)
        EB_CHECK_OK(o->bn_backward_global(ctx, x + AT(r * b), dy + AT(r * b), gamma, mean, invstd[r], sums, count,
                                          dx + AT(r * b), b, C, HW));
    /* float sums of double partials: a few float roundings apart */
    EB_CHECK(max_rel(y, y_ref, tot) < 1e-5, "y: rel err %g", max_rel(y, y_ref, tot));
    EB_CHECK(max_rel(dx, dx_ref, tot) < 1e-5, "dx: rel err %g", max_rel(dx, dx_ref, tot));
    EB_CHECK(max_rel(dg, dg_ref, 2 * C) < 1e-5, "dgamma/dbeta: rel err %g", max_rel(dg, dg_ref, 2 * C));
    EB_CHECK(max_rel(mean, mean_ref, C) < 1e-6, "mean: rel err %g", max_rel(mean, mean_ref, C));
    for (int r = 0; r < R; r++) {
        EB_CHECK(max_rel(invstd[r], invstd_ref, C) < 1e-5, "invstd rank %d", r);
        EB_CHECK(max_rel(rm[r], rm_ref, C) < 1e-6 && max_rel(rv[r], rv_ref, C) < 1e-5,
                 "running stats of slice %d differ from the whole batch's", r);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(one_slice_equals_bn_forward_and_backward_train) { return split_matches_whole(1); }

EB_TEST(four_slices_with_summed_statistics_equal_the_whole_batch) { return split_matches_whole(4); }

EB_TEST(global_forward_refuses_one_value_per_channel) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    float x[C] = {1, 2, 3}, y[C], m[C] = {0}, ss[C] = {1, 1, 1}, is[C];
    eb_status st = be.ops->bn_forward_global(be.ctx, x, NULL, NULL, y, m, ss, 1.0, is, NULL, NULL, 0.1f, 1e-5f, 1, C, 1);
    EB_CHECK(st == EB_ERR_ARG, "count 1 accepted");
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}
