/* The CUDA backend's context and the declarations of its ops (eb_cuda_<entry>, one per entry of eb_ops),
 * shared by the .cu files of src/kernels/cuda/ and the table in cuda_backend.cu. */
#ifndef EBGAN_CUDA_OPS_CUH
#define EBGAN_CUDA_OPS_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "ebgan/backend.h"
#include "ebgan/conv_algo.h"
#include "ebgan/cuda.h"
#include "ebgan/ops.h"
}
#include "cuda_check.cuh"

#ifdef EB_REAL_F64
#error "the CUDA backend is built only into the float library (eb_real = float)"
#endif
static_assert(sizeof(eb_real) == sizeof(float), "the CUDA backend computes in float: eb_real must be float");

/* Threads per block of every hand-written kernel. */
#define EB_CUDA_THREADS 256
/* Most blocks a deterministic reduction uses: its partial sums live in ctx->partials (doubles). */
#define EB_CUDA_MAX_RED_BLOCKS 1024
/* Default cuDNN workspace, allocated once at init (bytes): algorithms needing more are not chosen. */
#define EB_CUDA_CONV_WS_DEFAULT ((size_t)256 << 20)
/* cuBLAS workspace (bytes; 32 MiB is what cuBLAS recommends on Hopper), set so cuBLAS never allocates
 * inside a graph capture. */
#define EB_CUDA_CUBLAS_WS_BYTES ((size_t)32 << 20)

/* One convolution geometry: its cuDNN descriptors (x = conv input, y = conv output, NCHW float) and the
 * algorithm chosen for each direction on first use, for one precision (the key is geometry + precision). */
/* One direction's algorithm for one geometry: chosen on first use, re-chosen when cuDNN refuses it at its
 * first execution (NOT_SUPPORTED), the refused ones remembered so the walk never returns to them. */
typedef struct eb_cuda_conv_choice {
    int have;          /* chosen (algo, math, ws valid) */
    int ran;           /* executed successfully once: from then on an error is an error, not a re-choice */
    int algo;          /* the cudnnConvolution*Algo_t value */
    cudnnMathType_t math;
    size_t ws;         /* workspace bytes it needs */
    unsigned rejected; /* bit a set: algorithm a returned NOT_SUPPORTED at execution */
} eb_cuda_conv_choice;

typedef struct eb_cuda_conv_entry {
    eb_conv_geom g;
    eb_cuda_precision precision;
    cudnnTensorDescriptor_t x_desc, y_desc;
    cudnnFilterDescriptor_t w_desc;
    cudnnConvolutionDescriptor_t conv_desc;
    eb_cuda_conv_choice dir[3]; /* indexed by eb_conv_dir */
} eb_cuda_conv_entry;

typedef struct eb_cuda_ctx {
    int device;
    int sm_count;
    cudaStream_t stream;            /* every op runs on it, asynchronously */
    cublasHandle_t cublas;
    void *cublas_ws;
    cudnnHandle_t cudnn;
    void *conv_ws;                  /* cuDNN workspace, conv_ws_bytes, allocated outside the step */
    size_t conv_ws_bytes;
    eb_cuda_conv_entry *conv_cache; /* host array, grows on the first use of a geometry */
    int conv_count, conv_cap;
    eb_cuda_precision precision;
    eb_conv_algo_mode algo_mode;    /* how a new geometry's algorithms are chosen (conv_algo.h) */
    eb_conv_algo_choice *pinned;    /* recorded choices to reuse (a resume), host array */
    int pinned_count;
    double *partials;               /* EB_CUDA_MAX_RED_BLOCKS block partial sums */
    unsigned int *done_counter;     /* last-block-done ticket of the reductions; 0 between launches */
} eb_cuda_ctx;

/* Blocks for a grid-stride elementwise kernel over n items (at least 1 so n = 0 launches are valid). */
static inline unsigned eb_cuda_grid(const eb_cuda_ctx *c, size_t n) {
    size_t b = (n + EB_CUDA_THREADS - 1) / EB_CUDA_THREADS;
    size_t cap = (size_t)(c->sm_count > 0 ? c->sm_count : 80) * 16;
    if (b > cap) b = cap;
    return b ? (unsigned)b : 1u;
}

/* Blocks for a deterministic reduction over n items: depends on n only (not on the GPU), so the
 * summation tree and therefore the rounding are the same on every device and every run. */
static inline unsigned eb_cuda_red_grid(size_t n) {
    size_t b = (n + 4 * EB_CUDA_THREADS - 1) / (4 * EB_CUDA_THREADS);
    if (b > EB_CUDA_MAX_RED_BLOCKS) b = EB_CUDA_MAX_RED_BLOCKS;
    return b ? (unsigned)b : 1u;
}

/* The conv cache entry for (g, ctx->precision), created with its descriptors on first use. */
eb_status eb_cuda_conv_entry_get(eb_cuda_ctx *c, const eb_conv_geom *g, eb_cuda_conv_entry **out);
void eb_cuda_conv_cache_free(eb_cuda_ctx *c);

extern "C" {
eb_status eb_cuda_mem_alloc(void *ctx, void **ptr, size_t bytes);
void eb_cuda_mem_free(void *ctx, void *ptr);
eb_status eb_cuda_mem_upload(void *ctx, void *dst, const void *src_host, size_t bytes);
eb_status eb_cuda_mem_download(void *ctx, void *dst_host, const void *src, size_t bytes);
eb_status eb_cuda_mem_copy(void *ctx, void *dst, const void *src, size_t bytes);
eb_status eb_cuda_sync(void *ctx);
eb_status eb_cuda_fill(void *ctx, eb_real *x, eb_real v, size_t n);
eb_status eb_cuda_axpby(void *ctx, eb_real *y, eb_real a, const eb_real *x, eb_real b, size_t n);
eb_status eb_cuda_mul(void *ctx, eb_real *y, const eb_real *a, const eb_real *b, size_t n);
eb_status eb_cuda_copy_2d(void *ctx, eb_real *dst, size_t dst_ld, const eb_real *src, size_t src_ld, size_t rows, size_t cols);
eb_status eb_cuda_gather_rows(void *ctx, eb_real *dst, const eb_real *src, const int32_t *idx, size_t rows, size_t cols);
eb_status eb_cuda_gather_rows_u8(void *ctx, eb_real *dst, const uint8_t *src, const int32_t *idx, size_t rows, size_t cols, eb_real scale, eb_real shift);
eb_status eb_cuda_lerp_rows(void *ctx, eb_real *out, const eb_real *t, const eb_real *x, const eb_real *y, size_t rows, size_t cols);
eb_status eb_cuda_reduce_sum(void *ctx, const eb_real *x, size_t n, eb_real *out_dev, eb_real alpha, eb_real beta);
eb_status eb_cuda_row_sqnorm(void *ctx, const eb_real *x, size_t rows, size_t cols, eb_real *out);
eb_status eb_cuda_nonfinite_mark(void *ctx, const eb_real *x, size_t n, const int64_t *clock, int64_t *first);
/* The first counter of a draw on the device: offset + stride * (*clock) (ops.h). */
static __device__ __forceinline__ uint64_t eb_cuda_rng_base(const eb_rng_pos &p) {
    return p.offset + (p.clock ? p.stride * (uint64_t)*p.clock : 0);
}
eb_status eb_cuda_rng_normal(void *ctx, eb_real *x, size_t n, eb_rng_pos p);
eb_status eb_cuda_rng_uniform(void *ctx, eb_real *x, size_t n, eb_rng_pos p);
eb_status eb_cuda_rng_index(void *ctx, int32_t *idx, size_t n, uint32_t range, eb_rng_pos p);
eb_status eb_cuda_rng_perm(void *ctx, int32_t *perm, size_t n, eb_rng_pos p);
eb_status eb_cuda_toy_sample(void *ctx, eb_toy_kind kind, eb_real *x, size_t n, eb_rng_pos p);
eb_status eb_cuda_clock_add(void *ctx, int64_t *clock, int64_t v);
eb_status eb_cuda_linear_forward(void *ctx, const eb_real *x, const eb_real *w, const eb_real *b, eb_real *y, int n, int in, int out);
eb_status eb_cuda_linear_backward_data(void *ctx, const eb_real *dy, const eb_real *w, eb_real *dx, int n, int in, int out, eb_real alpha, eb_real beta);
eb_status eb_cuda_linear_backward_weight(void *ctx, const eb_real *x, const eb_real *dy, eb_real *dw, int n, int in, int out, eb_real alpha, eb_real beta);
eb_status eb_cuda_bias_add(void *ctx, eb_real *y, const eb_real *b, int n, int c, int hw);
eb_status eb_cuda_bias_backward(void *ctx, const eb_real *dy, eb_real *db, int n, int c, int hw, eb_real alpha, eb_real beta);
eb_status eb_cuda_conv2d_forward(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w, eb_real *y, eb_real alpha, eb_real beta);
eb_status eb_cuda_conv2d_backward_data(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w, eb_real *dx, eb_real alpha, eb_real beta);
eb_status eb_cuda_conv2d_backward_filter(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy, eb_real *dw, eb_real alpha, eb_real beta);
eb_status eb_cuda_act_forward(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, eb_real *y, size_t n);
eb_status eb_cuda_bias_act_forward(void *ctx, eb_real *a, const eb_real *b, eb_act_kind k, eb_real slope, eb_real *y, int n, int c, int hw);
eb_status eb_cuda_act_backward(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, const eb_real *y, const eb_real *dy, eb_real *dx, size_t n, eb_real beta);
eb_status eb_cuda_act_curvature(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, const eb_real *y, const eb_real *g, const eb_real *t, eb_real *c, size_t n, eb_real beta);
eb_status eb_cuda_bn_forward_train(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta, eb_real *y, eb_real *save_mean, eb_real *save_invstd, eb_real *run_mean, eb_real *run_var, eb_real momentum, eb_real eps, int n, int c, int hw);
eb_status eb_cuda_bn_forward_infer(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta, const eb_real *run_mean, const eb_real *run_var, eb_real eps, eb_real *y, int n, int c, int hw);
eb_status eb_cuda_bn_backward_train(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma, const eb_real *save_mean, const eb_real *save_invstd, eb_real *dx, eb_real *dgamma, eb_real *dbeta, eb_real beta_acc, int n, int c, int hw);
eb_status eb_cuda_bn_tangent_train(void *ctx, const eb_real *x, const eb_real *tx, const eb_real *gamma, const eb_real *save_mean, const eb_real *save_invstd, eb_real *ty, int n, int c, int hw);
eb_status eb_cuda_bn_backward_infer(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma, const eb_real *run_mean, const eb_real *run_var, eb_real eps, eb_real *dx, eb_real *dgamma, eb_real *dbeta, eb_real beta_acc, int n, int c, int hw);
eb_status eb_cuda_bn_channel_sums(void *ctx, const eb_real *x, const eb_real *center, eb_real *out, int n, int c, int hw);
eb_status eb_cuda_bn_forward_global(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta, eb_real *y, const eb_real *mean, const eb_real *sumsq, double count, eb_real *save_invstd, eb_real *run_mean, eb_real *run_var, eb_real momentum, eb_real eps, int n, int c, int hw);
eb_status eb_cuda_bn_backward_global(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma, const eb_real *save_mean, const eb_real *save_invstd, const eb_real *sums, double count, eb_real *dx, int n, int c, int hw);
eb_status eb_cuda_bce_logits(void *ctx, const eb_real *logit, eb_real target, size_t n, eb_real scale, eb_real *loss_dev, eb_real *dlogit);
eb_status eb_cuda_sqdiff(void *ctx, const eb_real *a, const eb_real *b, size_t n, eb_real scale, eb_real *loss_dev, eb_real *da);
eb_status eb_cuda_penalty_seed(void *ctx, eb_penalty_kind k, const eb_real *g, size_t rows, size_t cols, eb_real lambda, eb_real *gbar, eb_real *loss_dev);
eb_status eb_cuda_softmax_xent(void *ctx, const eb_real *logits, const int32_t *labels, size_t rows, size_t k, eb_real scale, eb_real *loss_dev, eb_real *dlogit);
eb_status eb_cuda_mala_propose(void *ctx, const eb_real *z, const eb_real *grad, eb_real *z_prop, size_t n, size_t dim, eb_real alpha, eb_rng_pos base);
eb_status eb_cuda_mala_accept(void *ctx, eb_real *z, eb_real *e, eb_real *g, const eb_real *z_prop, const eb_real *e_prop, const eb_real *g_prop, size_t n, size_t dim, eb_real alpha, int ula, eb_rng_pos base, eb_real *accepted);
eb_status eb_cuda_vera_noise(void *ctx, eb_real *x, const eb_real *eps, const eb_real *log_sigma, eb_real lo, eb_real hi, size_t n);
eb_status eb_cuda_vera_post_sample(void *ctx, const eb_real *z0, const eb_real *eps, const eb_real *log_eta, size_t n, size_t k, size_t zd, eb_real *zk);
eb_status eb_cuda_vera_score(void *ctx, const eb_real *x, const eb_real *g, const eb_real *zk, const eb_real *z0, const eb_real *log_eta, const eb_real *log_sigma, eb_real lo, eb_real hi, size_t n, size_t k, size_t xd, size_t zd, eb_real *c);
eb_status eb_cuda_vera_sigma_grad(void *ctx, const eb_real *dx, const eb_real *eps, const eb_real *log_sigma, eb_real lo, eb_real hi, size_t n, eb_real *grad);
eb_status eb_cuda_vera_post_seed(void *ctx, const eb_real *x, const eb_real *g, const eb_real *log_sigma, eb_real lo, eb_real hi, size_t n, eb_real scale, eb_real *dy);
eb_status eb_cuda_vera_post_grad(void *ctx, const eb_real *dz, const eb_real *z, const eb_real *eps, const eb_real *log_eta, size_t n, size_t zd, eb_real scale, eb_real *grad);
eb_status eb_cuda_optim_hyper(void *ctx, eb_real *hyper, const eb_optim_sched *s);
eb_status eb_cuda_adam_update(void *ctx, eb_real *p, const eb_real *g, eb_real *m, eb_real *v, size_t n, const eb_real *hyper, eb_real b1, eb_real b2, eb_real eps);
eb_status eb_cuda_sgd_update(void *ctx, eb_real *p, const eb_real *g, size_t n, const eb_real *hyper);
}

#endif
