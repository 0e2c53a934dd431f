/* Activations on the CUDA backend: forward, the derivative times an adjoint or tangent (act_backward,
 * one fused pass) and the curvature injection g * sigma''(a) * t (DESIGN.md §2 steps 4-5). Derivatives
 * are computed from the pre-activation a (y is not read, may be NULL), in float with precise libm functions;
 * the forms follow the CPU reference (cpu_act.c). dx may alias dy. */
#include "cuda_ops.cuh"

/* log(1 + e^a) without overflow: max(a, 0) + log1p(e^-|a|). */
__device__ __forceinline__ float eb_softplus(float a) { return fmaxf(a, 0.0f) + log1pf(expf(-fabsf(a))); }

/* 1 / (1 + e^-a) without overflow for either sign. */
__device__ __forceinline__ float eb_sigmoid(float a) {
    if (a >= 0.0f) return 1.0f / (1.0f + expf(-a));
    const float e = expf(a);
    return e / (1.0f + e);
}

__device__ __forceinline__ float eb_act(eb_act_kind k, float slope, float a) {
    switch (k) {
    case EB_ACT_RELU: return a > 0.0f ? a : 0.0f;
    case EB_ACT_LEAKY_RELU: return a > 0.0f ? a : slope * a;
    case EB_ACT_TANH: return tanhf(a);
    case EB_ACT_SOFTPLUS: return eb_softplus(a);
    case EB_ACT_SIGMOID: return eb_sigmoid(a);
    case EB_ACT_IDENTITY:
    default: return a;
    }
}

/* sech^2(a) = 4 e / (1 + e)^2, e = exp(-2|a|): keeps relative accuracy where 1 - tanh^2 would cancel
 * (the CPU reference uses the same forms, in double). */
__device__ __forceinline__ float eb_sech2(float a) {
    const float e = expf(-2.0f * fabsf(a));
    return 4.0f * e / ((1.0f + e) * (1.0f + e));
}

/* sigma'(a); at the kink of relu / leaky relu a > 0 decides (relu'(0) = 0, as PyTorch). */
__device__ __forceinline__ float eb_act_d1(eb_act_kind k, float slope, float a) {
    switch (k) {
    case EB_ACT_RELU: return a > 0.0f ? 1.0f : 0.0f;
    case EB_ACT_LEAKY_RELU: return a > 0.0f ? 1.0f : slope;
    case EB_ACT_TANH: return eb_sech2(a);
    case EB_ACT_SOFTPLUS: return eb_sigmoid(a);
    case EB_ACT_SIGMOID: return eb_sigmoid(a) * eb_sigmoid(-a); /* s (1 - s), 1 - s as s(-a) */
    case EB_ACT_IDENTITY:
    default: return 1.0f;
    }
}

/* sigma''(a) of the smooth kinds (the piecewise-linear ones never reach it). */
__device__ __forceinline__ float eb_act_d2(eb_act_kind k, float a) {
    switch (k) {
    case EB_ACT_TANH: return -2.0f * tanhf(a) * eb_sech2(a);
    case EB_ACT_SOFTPLUS: return eb_sigmoid(a) * eb_sigmoid(-a);
    case EB_ACT_SIGMOID: {
        const float s = eb_sigmoid(a), sm = eb_sigmoid(-a);
        return s * sm * (sm - s); /* s (1 - s) (1 - 2 s) */
    }
    default: return 0.0f;
    }
}

#define EB_GRID_STRIDE(i, n)                                                                              \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

static __global__ void eb_k_act_forward(eb_act_kind k, float slope, const float *a, float *y, size_t n) {
    EB_GRID_STRIDE(i, n) y[i] = eb_act(k, slope, a[i]);
}

/* a += b[channel] (b may be NULL), y = act(a): one pass instead of bias_add + act_forward */
static __global__ void eb_k_bias_act_forward(float *a, const float *b, eb_act_kind k, float slope, float *y, size_t n,
                                             int c, int hw) {
    EB_GRID_STRIDE(i, n) {
        float v = a[i];
        if (b) {
            v += b[(i / (size_t)hw) % (size_t)c];
            a[i] = v;
        }
        y[i] = eb_act(k, slope, v);
    }
}

/* dx = sigma'(a) dy + beta dx; beta == 0 does not read dx. */
static __global__ void eb_k_act_backward(eb_act_kind k, float slope, const float *a, const float *dy, float *dx,
                                         size_t n, float beta) {
    if (beta == 0.0f) {
        EB_GRID_STRIDE(i, n) dx[i] = eb_act_d1(k, slope, a[i]) * dy[i];
    } else {
        EB_GRID_STRIDE(i, n) dx[i] = eb_act_d1(k, slope, a[i]) * dy[i] + beta * dx[i];
    }
}

/* c = g sigma''(a) t + beta c. */
static __global__ void eb_k_act_curvature(eb_act_kind k, const float *a, const float *g, const float *t, float *c,
                                          size_t n, float beta) {
    if (beta == 0.0f) {
        EB_GRID_STRIDE(i, n) c[i] = eb_act_d2(k, a[i]) * g[i] * t[i];
    } else {
        EB_GRID_STRIDE(i, n) c[i] = eb_act_d2(k, a[i]) * g[i] * t[i] + beta * c[i];
    }
}

/* sigma'' == 0 (identity, relu, leaky relu): c = beta c without reading g or t (0 * Inf would be NaN). */
static __global__ void eb_k_scale_or_zero(float *c, size_t n, float beta) {
    EB_GRID_STRIDE(i, n) c[i] = beta != 0.0f ? beta * c[i] : 0.0f;
}

static eb_status eb_act_kind_check(const char *op, eb_act_kind k) {
    if ((int)k < (int)EB_ACT_IDENTITY || (int)k > (int)EB_ACT_SIGMOID)
        return EB_FAIL(EB_ERR_ARG, "%s: unknown activation kind %d", op, (int)k);
    return EB_OK;
}

eb_status eb_cuda_act_forward(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, eb_real *y, size_t n) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    EB_TRY(eb_act_kind_check("act_forward", k));
    if (n == 0) return EB_OK;
    eb_k_act_forward<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(k, slope, a, y, n);
    EB_CUDA_LAUNCHED("eb_k_act_forward");
    return EB_OK;
}

eb_status eb_cuda_bias_act_forward(void *ctx, eb_real *a, const eb_real *b, eb_act_kind k, eb_real slope, eb_real *y,
                                   int n, int c, int hw) {
    eb_cuda_ctx *cx = (eb_cuda_ctx *)ctx;
    EB_TRY(eb_act_kind_check("bias_act_forward", k));
    if (n < 0 || c < 1 || hw < 1)
        return EB_FAIL(EB_ERR_ARG, "bias_act_forward: bad shape n=%d c=%d hw=%d", n, c, hw);
    const size_t total = (size_t)n * (size_t)c * (size_t)hw;
    if (total == 0) return EB_OK;
    eb_k_bias_act_forward<<<eb_cuda_grid(cx, total), EB_CUDA_THREADS, 0, cx->stream>>>(a, b, k, slope, y, total, c, hw);
    EB_CUDA_LAUNCHED("eb_k_bias_act_forward");
    return EB_OK;
}

eb_status eb_cuda_act_backward(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, const eb_real *y,
                               const eb_real *dy, eb_real *dx, size_t n, eb_real beta) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    (void)y;
    EB_TRY(eb_act_kind_check("act_backward", k));
    if (n == 0) return EB_OK;
    eb_k_act_backward<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(k, slope, a, dy, dx, n, beta);
    EB_CUDA_LAUNCHED("eb_k_act_backward");
    return EB_OK;
}

eb_status eb_cuda_act_curvature(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, const eb_real *y,
                                const eb_real *g, const eb_real *t, eb_real *cv, size_t n, eb_real beta) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    (void)y;
    (void)slope;
    EB_TRY(eb_act_kind_check("act_curvature", k));
    if (n == 0) return EB_OK;
    if (k == EB_ACT_IDENTITY || k == EB_ACT_RELU || k == EB_ACT_LEAKY_RELU) {
        eb_k_scale_or_zero<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(cv, n, beta);
        EB_CUDA_LAUNCHED("eb_k_scale_or_zero");
        return EB_OK;
    }
    eb_k_act_curvature<<<eb_cuda_grid(c, n), EB_CUDA_THREADS, 0, c->stream>>>(k, a, g, t, cv, n, beta);
    EB_CUDA_LAUNCHED("eb_k_act_curvature");
    return EB_OK;
}
