/* CPU reference of the activations: forward, first derivative (backward and tangent, DESIGN.md §2
 * step 4) and second derivative (the curvature injection of §2 step 5). Evaluated in double from `a`. */
#include "cpu_ops.h"

#include <math.h>

/* Logistic function without overflow: exp of a non-positive argument only. */
static double act_sigmoid(double a) {
    if (a >= 0) return 1.0 / (1.0 + exp(-a));
    double e = exp(a);
    return e / (1.0 + e);
}

static double act_value(eb_act_kind k, double slope, double a) {
    switch (k) {
    case EB_ACT_IDENTITY: return a;
    case EB_ACT_RELU: return a > 0 ? a : 0.0;
    case EB_ACT_LEAKY_RELU: return a > 0 ? a : slope * a;
    case EB_ACT_TANH: return tanh(a);
    case EB_ACT_SOFTPLUS: return log1p(exp(-fabs(a))) + (a > 0 ? a : 0.0); /* log(1+e^a), no overflow */
    case EB_ACT_SIGMOID: return act_sigmoid(a);
    }
    return NAN;
}

/* sech^2(a) = 4 e / (1 + e)^2 with e = exp(-2|a|): keeps relative accuracy where 1 - tanh^2 cancels. */
static double act_sech2(double a) {
    double e = exp(-2.0 * fabs(a));
    return 4.0 * e / ((1.0 + e) * (1.0 + e));
}

/* sigma'(a). At the kinks of relu / leaky relu the right derivative at 0 is not used: a > 0 decides,
 * as in PyTorch (relu'(0) = 0). */
static double act_d1(eb_act_kind k, double slope, double a) {
    switch (k) {
    case EB_ACT_IDENTITY: return 1.0;
    case EB_ACT_RELU: return a > 0 ? 1.0 : 0.0;
    case EB_ACT_LEAKY_RELU: return a > 0 ? 1.0 : slope;
    case EB_ACT_TANH: return act_sech2(a);
    case EB_ACT_SOFTPLUS: return act_sigmoid(a);
    case EB_ACT_SIGMOID: return act_sigmoid(a) * act_sigmoid(-a); /* s (1 - s), 1 - s computed as s(-a) */
    }
    return NAN;
}

/* sigma''(a); zero for the piecewise-linear kinds (their curvature sweep is skipped, §2 step 5). */
static double act_d2(eb_act_kind k, double slope, double a) {
    (void)slope;
    switch (k) {
    case EB_ACT_IDENTITY:
    case EB_ACT_RELU:
    case EB_ACT_LEAKY_RELU: return 0.0;
    case EB_ACT_TANH: return -2.0 * tanh(a) * act_sech2(a);
    case EB_ACT_SOFTPLUS: return act_sigmoid(a) * act_sigmoid(-a);
    case EB_ACT_SIGMOID: {
        double s = act_sigmoid(a), sm = act_sigmoid(-a);
        return s * sm * (sm - s); /* s (1 - s) (1 - 2 s) */
    }
    }
    return NAN;
}

static eb_status act_check_kind(const char *op, eb_act_kind k) {
    if ((int)k < (int)EB_ACT_IDENTITY || (int)k > (int)EB_ACT_SIGMOID)
        return EB_FAIL(EB_ERR_ARG, "%s: unknown activation kind %d", op, (int)k);
    return EB_OK;
}

eb_status eb_cpu_act_forward(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, eb_real *y, size_t n) {
    (void)ctx;
    EB_TRY(act_check_kind("act_forward", k));
    for (size_t i = 0; i < n; i++) y[i] = (eb_real)act_value(k, (double)slope, (double)a[i]);
    return EB_OK;
}

eb_status eb_cpu_bias_act_forward(void *ctx, eb_real *a, const eb_real *b, eb_act_kind k, eb_real slope, eb_real *y,
                                  int n, int c, int hw) {
    (void)ctx;
    EB_TRY(act_check_kind("bias_act_forward", k));
    if (n < 0 || c < 1 || hw < 1)
        return EB_FAIL(EB_ERR_ARG, "bias_act_forward: bad shape n=%d c=%d hw=%d", n, c, hw);
    for (int s = 0; s < n; s++)
        for (int ch = 0; ch < c; ch++) {
            const size_t at = ((size_t)s * c + ch) * hw;
            const eb_real v = b ? b[ch] : (eb_real)0;
            for (int i = 0; i < hw; i++) {
                if (b) a[at + i] += v; /* the same float sum as bias_add */
                y[at + i] = (eb_real)act_value(k, (double)slope, (double)a[at + i]);
            }
        }
    return EB_OK;
}

/* y is not read: derivatives come from a (y may be NULL on the CPU backend). dx may alias dy. */
eb_status eb_cpu_act_backward(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, const eb_real *y,
                              const eb_real *dy, eb_real *dx, size_t n, eb_real beta) {
    (void)ctx;
    (void)y;
    EB_TRY(act_check_kind("act_backward", k));
    for (size_t i = 0; i < n; i++) {
        double r = act_d1(k, (double)slope, (double)a[i]) * (double)dy[i];
        if (beta != 0) r += (double)beta * (double)dx[i]; /* beta == 0 overwrites (dx may hold NaN) */
        dx[i] = (eb_real)r;
    }
    return EB_OK;
}

eb_status eb_cpu_act_curvature(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, const eb_real *y,
                               const eb_real *g, const eb_real *t, eb_real *c, size_t n, eb_real beta) {
    (void)ctx;
    (void)y;
    EB_TRY(act_check_kind("act_curvature", k));
    if (k == EB_ACT_IDENTITY || k == EB_ACT_RELU || k == EB_ACT_LEAKY_RELU) {
        /* sigma'' == 0: write beta * c without reading g or t (0 * Inf would be NaN) */
        for (size_t i = 0; i < n; i++) c[i] = beta != 0 ? beta * c[i] : (eb_real)0;
        return EB_OK;
    }
    for (size_t i = 0; i < n; i++) {
        double r = act_d2(k, (double)slope, (double)a[i]) * (double)g[i] * (double)t[i];
        if (beta != 0) r += (double)beta * (double)c[i];
        c[i] = (eb_real)r;
    }
    return EB_OK;
}
