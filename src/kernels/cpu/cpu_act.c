/* CPU reference of the activations: forward, first derivative (backward and tangent, DESIGN.md §2
 * step 4) and second derivative (the curvature injection of §2 step 5). Evaluated in double from `a`. */
#include "cpu_ops.h"

#include "cpu_parallel.h"
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

/* The piecewise-linear kinds, whose value and derivative times dy are one float operation: a float product
 * of two floats is the double product rounded once, so these equal act_value / act_d1 in double exactly.
 * They are written as a product by a selected factor (1 * v == v exactly, NaN and -0 included): a product
 * in one branch only would not be if-converted (it could raise an FP exception the other branch does not),
 * and the loop would not vectorise. */
static int act_is_linear(eb_act_kind k) {
    return k == EB_ACT_IDENTITY || k == EB_ACT_RELU || k == EB_ACT_LEAKY_RELU;
}

/* Each *_range function switches on the kind once and runs a loop with the kind a constant, so the switch
 * of act_value / act_d1 / act_d2 folds away; the callers split [0, n) over the threads. */
#define ACT_EACH_KIND(K, LOOP)                                                                                \
    switch (K) {                                                                                              \
    case EB_ACT_IDENTITY: { const eb_act_kind kc = EB_ACT_IDENTITY; LOOP; } break;                          \
    case EB_ACT_RELU: { const eb_act_kind kc = EB_ACT_RELU; LOOP; } break;                                  \
    case EB_ACT_LEAKY_RELU: { const eb_act_kind kc = EB_ACT_LEAKY_RELU; LOOP; } break;                      \
    case EB_ACT_TANH: { const eb_act_kind kc = EB_ACT_TANH; LOOP; } break;                                  \
    case EB_ACT_SOFTPLUS: { const eb_act_kind kc = EB_ACT_SOFTPLUS; LOOP; } break;                          \
    case EB_ACT_SIGMOID: { const eb_act_kind kc = EB_ACT_SIGMOID; LOOP; } break;                            \
    }

/* y = sigma(a), elementwise over n. */
static void act_forward_range(eb_act_kind k, eb_real slope, const eb_real *a, eb_real *y, size_t n) {
    if (k == EB_ACT_IDENTITY) {
        for (size_t i = 0; i < n; i++) y[i] = a[i];
    } else if (k == EB_ACT_RELU) {
        for (size_t i = 0; i < n; i++) y[i] = a[i] > 0 ? a[i] : (eb_real)0;
    } else if (k == EB_ACT_LEAKY_RELU) {
        for (size_t i = 0; i < n; i++) y[i] = (a[i] > 0 ? (eb_real)1 : slope) * a[i];
    } else {
        ACT_EACH_KIND(k, for (size_t i = 0; i < n; i++) y[i] = (eb_real)act_value(kc, (double)slope, (double)a[i]))
    }
}

/* Threads for n elements of kind k: the transcendental kinds are worth splitting much sooner. */
static int act_threads(eb_act_kind k, size_t n) {
    return eb_cpu_threads(n, act_is_linear(k) ? EB_CPU_PAR_CHEAP : EB_CPU_PAR_COSTLY);
}

eb_status eb_cpu_act_forward(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, eb_real *y, size_t n) {
    (void)ctx;
    EB_TRY(act_check_kind("act_forward", k));
#pragma omp parallel num_threads(act_threads(k, n))
    {
        size_t lo, hi;
        eb_cpu_split(n, &lo, &hi);
        act_forward_range(k, slope, a + lo, y + lo, hi - lo);
    }
    return EB_OK;
}

eb_status eb_cpu_bias_act_forward(void *ctx, eb_real *a, const eb_real *b, eb_act_kind k, eb_real slope, eb_real *y,
                                  int n, int c, int hw) {
    (void)ctx;
    EB_TRY(act_check_kind("bias_act_forward", k));
    if (n < 0 || c < 1 || hw < 1)
        return EB_FAIL(EB_ERR_ARG, "bias_act_forward: bad shape n=%d c=%d hw=%d", n, c, hw);
    const size_t rows = (size_t)n * (size_t)c, total = rows * (size_t)hw;
    if (hw == 1 && b) { /* dense [n, c]: split the rows, each row a vector of c biases */
#pragma omp parallel num_threads(act_threads(k, total))
        {
            size_t lo, hi;
            eb_cpu_split((size_t)n, &lo, &hi);
            for (size_t s = lo; s < hi; s++) {
                eb_real *ar = a + s * (size_t)c;
                for (int ch = 0; ch < c; ch++) ar[ch] += b[ch]; /* the same float sum as bias_add */
                act_forward_range(k, slope, ar, y + s * (size_t)c, (size_t)c);
            }
        }
        return EB_OK;
    }
#pragma omp parallel num_threads(act_threads(k, total))
    {
        size_t lo, hi;
        eb_cpu_split(rows, &lo, &hi); /* rows (sample, channel) of hw values, one bias each */
        for (size_t r = lo; r < hi; r++) {
            eb_real *ar = a + r * (size_t)hw;
            if (b) {
                const eb_real v = b[r % (size_t)c];
                for (int i = 0; i < hw; i++) ar[i] += v;
            }
            act_forward_range(k, slope, ar, y + r * (size_t)hw, (size_t)hw);
        }
    }
    return EB_OK;
}

/* dx = sigma'(a) dy + beta dx (beta == 0 overwrites: dx may hold NaN). */
static void act_backward_range(eb_act_kind k, eb_real slope, const eb_real *a, const eb_real *dy, eb_real *dx,
                               size_t n, eb_real beta) {
    if (beta == 0 && k == EB_ACT_IDENTITY) {
        for (size_t i = 0; i < n; i++) dx[i] = dy[i];
    } else if (beta == 0 && k == EB_ACT_RELU) {
        for (size_t i = 0; i < n; i++) dx[i] = (a[i] > 0 ? (eb_real)1 : (eb_real)0) * dy[i];
    } else if (beta == 0 && k == EB_ACT_LEAKY_RELU) {
        for (size_t i = 0; i < n; i++) dx[i] = (a[i] > 0 ? (eb_real)1 : slope) * dy[i];
    } else if (beta == 0) {
        ACT_EACH_KIND(k, for (size_t i = 0; i < n; i++) dx[i] =
                             (eb_real)(act_d1(kc, (double)slope, (double)a[i]) * (double)dy[i]))
    } else {
        ACT_EACH_KIND(k, for (size_t i = 0; i < n; i++) dx[i] =
                             (eb_real)(act_d1(kc, (double)slope, (double)a[i]) * (double)dy[i] +
                                       (double)beta * (double)dx[i]))
    }
}

/* y is not read: derivatives come from a (y may be NULL on the CPU backend). dx may alias dy. */
eb_status eb_cpu_act_backward(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, const eb_real *y,
                              const eb_real *dy, eb_real *dx, size_t n, eb_real beta) {
    (void)ctx;
    (void)y;
    EB_TRY(act_check_kind("act_backward", k));
#pragma omp parallel num_threads(act_threads(k, n))
    {
        size_t lo, hi;
        eb_cpu_split(n, &lo, &hi);
        act_backward_range(k, slope, a + lo, dy + lo, dx + lo, hi - lo, beta);
    }
    return EB_OK;
}

eb_status eb_cpu_act_curvature(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, const eb_real *y,
                               const eb_real *g, const eb_real *t, eb_real *c, size_t n, eb_real beta) {
    (void)ctx;
    (void)y;
    EB_TRY(act_check_kind("act_curvature", k));
    if (act_is_linear(k)) {
        /* sigma'' == 0: write beta * c without reading g or t (0 * Inf would be NaN) */
        for (size_t i = 0; i < n; i++) c[i] = beta != 0 ? beta * c[i] : (eb_real)0;
        return EB_OK;
    }
#pragma omp parallel num_threads(act_threads(k, n))
    {
        size_t lo, hi;
        eb_cpu_split(n, &lo, &hi);
        ACT_EACH_KIND(k, for (size_t i = lo; i < hi; i++) {
            double r = act_d2(kc, (double)slope, (double)a[i]) * (double)g[i] * (double)t[i];
            if (beta != 0) r += (double)beta * (double)c[i];
            c[i] = (eb_real)r;
        })
    }
    return EB_OK;
}
