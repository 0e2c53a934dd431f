/* Float64 oracle checks of the softmax cross-entropy op (ops.h softmax_xent) on the CPU backend: the loss
 * against the direct formula, dlogit against central differences, stability at |logit| = 1000, NULL outputs. */
#include "oracle_ctx.h"

#include "ebgan/backend.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Central-difference step: rounding error ~ 2.2e-16 |L| / h, truncation ~ h^2 |L'''| / 6 (both << 1e-9 here). */
#define FD_H 1e-6


static int32_t *x_labels(tctx *t, size_t rows, size_t k) {
    int32_t *y = t_alloc(t, rows * sizeof(int32_t));
    for (size_t r = 0; r < rows; r++) y[r] = (int32_t)t_int(t, 0, (int)k - 1);
    return y;
}

/* The loss the op adds, from a zero accumulator. */
static double xent_loss(const eb_ops *o, void *ctx, const double *l, const int32_t *y, size_t rows, size_t k,
                        double scale, double *acc, double *scratch) {
    acc[0] = 0;
    if (o->softmax_xent(ctx, l, y, rows, k, scale, acc, scratch) != EB_OK) return NAN;
    return acc[0];
}

/* Loss against scale * sum_r (log sum_j e^{l_rj} - l_r[y_r]) evaluated directly in double (|l| ~ 3, where the
 * unshifted form is accurate to a few ulp: bound 1e-12); dlogit against central differences of the whole
 * loss (|L| <= ~10 gives an FD rounding error ~ 2e-10 * 10 = 2e-9 against gradients of size ~ scale >= 0.03:
 * bound 1e-7 relative to max(|grad|, scale)). Each row of dlogit sums to 0 up to the rounding of k <= 15 terms
 * of size <= scale <= 1.5: bound 1e-14. */
EB_TEST(softmax_xent_fd_and_formula) {
    tctx t;
    if (!t_open(&t, 401)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    for (int rep = 0; rep < 3; rep++) {
        size_t rows = (size_t)t_int(&t, 1, 12), k = (size_t)t_int(&t, 2, 15), n = rows * k;
        double *l = t_buf(&t, n), *dl = t_buf(&t, n), *ref = t_buf(&t, n), *scratch = t_buf(&t, n), *acc = t_buf(&t, 1);
        for (size_t i = 0; i < n; i++) l[i] = 3.0 * t_normal(&t);
        int32_t *y = x_labels(&t, rows, k);
        const double scale = t_unif(&t, 0.5, 1.5) / (double)rows, acc0 = t_normal(&t);
        acc[0] = acc0;
        EB_CHECK_OK(o->softmax_xent(t.be.ctx, l, y, rows, k, scale, acc, dl));
        double direct = 0;
        for (size_t r = 0; r < rows; r++) {
            double se = 0;
            for (size_t j = 0; j < k; j++) se += exp(l[r * k + j]);
            direct += log(se) - l[r * k + (size_t)y[r]];
        }
        direct *= scale;
        double lerr = fabs((acc[0] - acc0) - direct) / fmax(fabs(direct), 1e-3);
        for (size_t i = 0; i < n; i++) {
            double v0 = l[i];
            l[i] = v0 + FD_H;
            double fp = xent_loss(o, t.be.ctx, l, y, rows, k, scale, acc, scratch);
            l[i] = v0 - FD_H;
            double fm = xent_loss(o, t.be.ctx, l, y, rows, k, scale, acc, scratch);
            l[i] = v0;
            ref[i] = (fp - fm) / (2 * FD_H);
        }
        double gerr = eb_test_rel_err(dl, ref, n, scale);
        /* each row of dlogit sums to 0 (softmax sums to 1, minus the one-hot) */
        double rowsum = 0;
        for (size_t r = 0; r < rows; r++) {
            double sr = 0;
            for (size_t j = 0; j < k; j++) sr += dl[r * k + j];
            rowsum = fmax(rowsum, fabs(sr));
        }
        printf("softmax_xent rows=%zu k=%zu: loss rel err %.3e (bound 1e-12), dlogit rel err vs FD %.3e (bound 1e-7), "
               "max |row sum of dlogit| %.2e (bound 1e-14)\n", rows, k, lerr, gerr, rowsum);
        EB_CHECK(lerr < 1e-12 && gerr < 1e-7 && rowsum < 1e-14, "loss %.3e dlogit %.3e rowsum %.3e", lerr, gerr,
                 rowsum);
    }
    t_close(&t);
    return EB_TEST_PASS;
}

/* |logit| = 1000: e^1000 overflows a double, so an unshifted logsumexp gives inf / NaN. With the max subtracted
 * the results are exact up to rounding: e^-2000 underflows to 0, which is its correctly rounded value
 * relative to the terms it is added to; lse = 1000 + log 2 carries the rounding of a number of size 1000
 * (ulp 1.1e-13), which passes into the loss and into softmax = e^{l - lse}. Bound 1e-12 * max(|ref|, 1). */
EB_TEST(softmax_xent_stable_large_logits) {
    tctx t;
    if (!t_open(&t, 402)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    const size_t rows = 3, k = 4;
    double *l = t_buf(&t, rows * k), *dl = t_buf(&t, rows * k), *acc = t_buf(&t, 1);
    int32_t *y = t_alloc(&t, rows * sizeof(int32_t));
    const double in[3][4] = {{1000, -1000, 1000, -1000}, {-1000, -1000, -1000, -1000}, {1000, 0, -1000, 0}};
    const int32_t lab[3] = {1, 0, 0};
    /* row 0: lse = 1000 + log 2, label -1000 -> 2000 + log 2; softmax (1/2, 0, 1/2, 0)
     * row 1: lse = -1000 + log 4 -> log 4; softmax 1/4 each
     * row 2: lse = 1000 + log(1 + 2 e^-1000) = 1000 (to double precision) -> 0; softmax (1, 0, 0, 0) */
    const double loss_ref[3] = {2000 + log(2.0), log(4.0), 0.0};
    const double d_ref[3][4] = {{0.5, -1, 0.5, 0}, {-0.75, 0.25, 0.25, 0.25}, {0, 0, 0, 0}};
    for (size_t r = 0; r < rows; r++) {
        for (size_t j = 0; j < k; j++) l[r * k + j] = in[r][j];
        y[r] = lab[r];
    }
    for (size_t r = 0; r < rows; r++) {
        acc[0] = 0;
        EB_CHECK_OK(o->softmax_xent(t.be.ctx, l + r * k, y + r, 1, k, 1.0, acc, dl + r * k));
        EB_CHECK(isfinite(acc[0]), "row %zu: loss %g", r, acc[0]);
        EB_CHECK(fabs(acc[0] - loss_ref[r]) <= 1e-12 * fmax(loss_ref[r], 1.0), "row %zu: loss %.17g vs %.17g", r,
                 acc[0], loss_ref[r]);
        for (size_t j = 0; j < k; j++)
            EB_CHECK(isfinite(dl[r * k + j]) && fabs(dl[r * k + j] - d_ref[r][j]) <= 1e-12,
                     "row %zu col %zu: %.17g vs %g", r, j, dl[r * k + j], d_ref[r][j]);
    }
    /* all rows at once with scale 0.5: the sum of the rows' terms */
    acc[0] = 1.0;
    EB_CHECK_OK(o->softmax_xent(t.be.ctx, l, y, rows, k, 0.5, acc, dl));
    double tot = 1.0 + 0.5 * (loss_ref[0] + loss_ref[1] + loss_ref[2]);
    printf("softmax_xent |logit| = 1000: loss %.17g, expected %.17g\n", acc[0], tot);
    EB_CHECK(fabs(acc[0] - tot) <= 1e-12 * tot, "batched loss %.17g vs %.17g", acc[0], tot);
    t_close(&t);
    return EB_TEST_PASS;
}

/* dlogit == NULL adds the same loss (bit for bit) and writes nothing; loss_dev == NULL still gives dlogit;
 * a label outside [0, k) is EB_ERR_ARG naming it. */
EB_TEST(softmax_xent_null_outputs_and_bad_label) {
    tctx t;
    if (!t_open(&t, 403)) return EB_TEST_FAIL;
    const eb_ops *o = t.be.ops;
    size_t rows = (size_t)t_int(&t, 2, 20), k = (size_t)t_int(&t, 2, 12), n = rows * k;
    double *l = t_buf(&t, n), *dl = t_buf(&t, n), *dl2 = t_buf(&t, n), *acc = t_buf(&t, 2);
    for (size_t i = 0; i < n; i++) l[i] = 2.0 * t_normal(&t);
    int32_t *y = x_labels(&t, rows, k);
    acc[0] = acc[1] = 0.5;
    EB_CHECK_OK(o->softmax_xent(t.be.ctx, l, y, rows, k, 0.25, acc, dl));
    EB_CHECK_OK(o->softmax_xent(t.be.ctx, l, y, rows, k, 0.25, acc + 1, NULL));
    EB_CHECK(memcmp(&acc[0], &acc[1], sizeof(double)) == 0, "loss with / without dlogit: %.17g vs %.17g", acc[0],
             acc[1]);
    EB_CHECK(acc[0] > 0.5, "the loss must grow the accumulator (cross-entropy > 0): %g", acc[0]);
    EB_CHECK_OK(o->softmax_xent(t.be.ctx, l, y, rows, k, 0.25, NULL, dl2));
    EB_CHECK(memcmp(dl, dl2, n * sizeof(double)) == 0, "dlogit without loss_dev differs");
    y[rows - 1] = (int32_t)k;
    eb_status st = o->softmax_xent(t.be.ctx, l, y, rows, k, 0.25, acc, dl);
    printf("label %zu of %zu classes: %s\n", k, k, eb_error_message());
    EB_CHECK(st == EB_ERR_ARG && strstr(eb_error_message(), "outside"), "status %d: %s", (int)st, eb_error_message());
    t_close(&t);
    return EB_TEST_PASS;
}
