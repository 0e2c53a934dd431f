/* Declarations of the CPU reference ops (the plain-C oracle): one function per entry of eb_ops,
 * named eb_cpu_<entry>. Shared by the files of src/kernels/cpu/ and the table in cpu_backend.c. */
#ifndef EBGAN_CPU_OPS_H
#define EBGAN_CPU_OPS_H

#include "ebgan/ops.h"
#include "conv/frozen_weights.h"

/* The CPU context: a scratch buffer (the convolutions' bordered copies and panels) that grows on the first use
 * of a shape, and the cache of frozen weights' transformed forms (conv/frozen_weights.h, its tables made with
 * the context). */
typedef struct eb_cpu_ctx {
    eb_real *scratch;
    size_t scratch_elems;
    eb_cpu_frozen *frozen;
} eb_cpu_ctx;

/* Scratch of at least `elems` elements, or NULL (with the error recorded) if it cannot grow. */
eb_real *eb_cpu_scratch(void *ctx, size_t elems);

eb_status eb_cpu_mem_alloc(void *ctx, void **ptr, size_t bytes);
void eb_cpu_mem_free(void *ctx, void *ptr);
eb_status eb_cpu_mem_upload(void *ctx, void *dst, const void *src_host, size_t bytes);
eb_status eb_cpu_mem_download(void *ctx, void *dst_host, const void *src, size_t bytes);
eb_status eb_cpu_mem_copy(void *ctx, void *dst, const void *src, size_t bytes);
eb_status eb_cpu_sync(void *ctx);
eb_status eb_cpu_fill(void *ctx, eb_real *x, eb_real v, size_t n);
eb_status eb_cpu_axpby(void *ctx, eb_real *y, eb_real a, const eb_real *x, eb_real b, size_t n);
eb_status eb_cpu_mul(void *ctx, eb_real *y, const eb_real *a, const eb_real *b, size_t n);
eb_status eb_cpu_copy_2d(void *ctx, eb_real *dst, size_t dst_ld, const eb_real *src, size_t src_ld, size_t rows, size_t cols);
eb_status eb_cpu_gather_rows(void *ctx, eb_real *dst, const eb_real *src, const int32_t *idx, size_t rows, size_t cols);
eb_status eb_cpu_gather_rows_u8(void *ctx, eb_real *dst, const uint8_t *src, const int32_t *idx, size_t rows, size_t cols, eb_real scale, eb_real shift);
eb_status eb_cpu_lerp_rows(void *ctx, eb_real *out, const eb_real *t, const eb_real *x, const eb_real *y, size_t rows, size_t cols);
eb_status eb_cpu_reduce_sum(void *ctx, const eb_real *x, size_t n, eb_real *out_dev, eb_real alpha, eb_real beta);
eb_status eb_cpu_row_sqnorm(void *ctx, const eb_real *x, size_t rows, size_t cols, eb_real *out);
eb_status eb_cpu_nonfinite_mark(void *ctx, const eb_real *x, size_t n, const int64_t *clock, int64_t *first);
/* The first counter of a draw: p.offset + p.stride * (*p.clock) (ops.h) */
uint64_t eb_cpu_rng_base(eb_rng_pos p);
eb_status eb_cpu_rng_normal(void *ctx, eb_real *x, size_t n, eb_rng_pos p);
eb_status eb_cpu_rng_uniform(void *ctx, eb_real *x, size_t n, eb_rng_pos p);
eb_status eb_cpu_rng_index(void *ctx, int32_t *idx, size_t n, uint32_t range, eb_rng_pos p);
eb_status eb_cpu_rng_perm(void *ctx, int32_t *perm, size_t n, eb_rng_pos p);
eb_status eb_cpu_toy_sample(void *ctx, eb_toy_kind kind, eb_real *x, size_t n, eb_rng_pos p);
eb_status eb_cpu_clock_add(void *ctx, int64_t *clock, int64_t v);
eb_status eb_cpu_linear_forward(void *ctx, const eb_real *x, const eb_real *w, const eb_real *b, eb_real *y, int n, int in, int out);
eb_status eb_cpu_linear_backward_data(void *ctx, const eb_real *dy, const eb_real *w, eb_real *dx, int n, int in, int out, eb_real alpha, eb_real beta);
eb_status eb_cpu_linear_backward_weight(void *ctx, const eb_real *x, const eb_real *dy, eb_real *dw, int n, int in, int out, eb_real alpha, eb_real beta);
eb_status eb_cpu_bias_add(void *ctx, eb_real *y, const eb_real *b, int n, int c, int hw);
eb_status eb_cpu_bias_backward(void *ctx, const eb_real *dy, eb_real *db, int n, int c, int hw, eb_real alpha, eb_real beta);
eb_status eb_cpu_conv2d_forward(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w, eb_real *y, eb_real alpha, eb_real beta);
eb_status eb_cpu_conv2d_backward_data(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w, eb_real *dx, eb_real alpha, eb_real beta);
eb_status eb_cpu_conv2d_backward_filter(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy, eb_real *dw, eb_real alpha, eb_real beta);
eb_status eb_cpu_act_forward(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, eb_real *y, size_t n);
eb_status eb_cpu_bias_act_forward(void *ctx, eb_real *a, const eb_real *b, eb_act_kind k, eb_real slope, eb_real *y, int n, int c, int hw);
eb_status eb_cpu_act_backward(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, const eb_real *y, const eb_real *dy, eb_real *dx, size_t n, eb_real beta);
eb_status eb_cpu_act_curvature(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, const eb_real *y, const eb_real *g, const eb_real *t, eb_real *c, size_t n, eb_real beta);
eb_status eb_cpu_bn_forward_train(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta, eb_real *y, eb_real *save_mean, eb_real *save_invstd, eb_real *run_mean, eb_real *run_var, eb_real momentum, eb_real eps, int n, int c, int hw);
eb_status eb_cpu_bn_forward_infer(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta, const eb_real *run_mean, const eb_real *run_var, eb_real eps, eb_real *y, int n, int c, int hw);
eb_status eb_cpu_bn_backward_train(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma, const eb_real *save_mean, const eb_real *save_invstd, eb_real *dx, eb_real *dgamma, eb_real *dbeta, eb_real beta_acc, int n, int c, int hw);
eb_status eb_cpu_bn_tangent_train(void *ctx, const eb_real *x, const eb_real *tx, const eb_real *gamma, const eb_real *save_mean, const eb_real *save_invstd, eb_real *ty, int n, int c, int hw);
eb_status eb_cpu_bn_backward_infer(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma, const eb_real *run_mean, const eb_real *run_var, eb_real eps, eb_real *dx, eb_real *dgamma, eb_real *dbeta, eb_real beta_acc, int n, int c, int hw);
eb_status eb_cpu_bn_channel_sums(void *ctx, const eb_real *x, const eb_real *center, eb_real *out, int n, int c, int hw);
eb_status eb_cpu_bn_forward_global(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta, eb_real *y, const eb_real *mean, const eb_real *sumsq, double count, eb_real *save_invstd, eb_real *run_mean, eb_real *run_var, eb_real momentum, eb_real eps, int n, int c, int hw);
eb_status eb_cpu_bn_backward_global(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma, const eb_real *save_mean, const eb_real *save_invstd, const eb_real *sums, double count, eb_real *dx, int n, int c, int hw);
eb_status eb_cpu_bce_logits(void *ctx, const eb_real *logit, eb_real target, size_t n, eb_real scale, eb_real *loss_dev, eb_real *dlogit);
eb_status eb_cpu_sqdiff(void *ctx, const eb_real *a, const eb_real *b, size_t n, eb_real scale, eb_real *loss_dev, eb_real *da);
eb_status eb_cpu_penalty_seed(void *ctx, eb_penalty_kind k, const eb_real *g, size_t rows, size_t cols, eb_real lambda, eb_real *gbar, eb_real *loss_dev);
eb_status eb_cpu_softmax_xent(void *ctx, const eb_real *logits, const int32_t *labels, size_t rows, size_t k, eb_real scale, eb_real *loss_dev, eb_real *dlogit);
eb_status eb_cpu_mala_propose(void *ctx, const eb_real *z, const eb_real *grad, eb_real *z_prop, size_t n, size_t dim, eb_real alpha, eb_rng_pos base);
eb_status eb_cpu_mala_accept(void *ctx, eb_real *z, eb_real *e, eb_real *g, const eb_real *z_prop, const eb_real *e_prop, const eb_real *g_prop, size_t n, size_t dim, eb_real alpha, int ula, eb_rng_pos base, eb_real *accepted);
eb_status eb_cpu_vera_noise(void *ctx, eb_real *x, const eb_real *eps, const eb_real *log_sigma, eb_real lo, eb_real hi, size_t n);
eb_status eb_cpu_vera_post_sample(void *ctx, const eb_real *z0, const eb_real *eps, const eb_real *log_eta, size_t n, size_t k, size_t zd, eb_real *zk);
eb_status eb_cpu_vera_score(void *ctx, const eb_real *x, const eb_real *g, const eb_real *zk, const eb_real *z0, const eb_real *log_eta, const eb_real *log_sigma, eb_real lo, eb_real hi, size_t n, size_t k, size_t xd, size_t zd, eb_real *c);
eb_status eb_cpu_vera_sigma_grad(void *ctx, const eb_real *dx, const eb_real *eps, const eb_real *log_sigma, eb_real lo, eb_real hi, size_t n, eb_real *grad);
eb_status eb_cpu_vera_post_seed(void *ctx, const eb_real *x, const eb_real *g, const eb_real *log_sigma, eb_real lo, eb_real hi, size_t n, eb_real scale, eb_real *dy);
eb_status eb_cpu_vera_post_grad(void *ctx, const eb_real *dz, const eb_real *z, const eb_real *eps, const eb_real *log_eta, size_t n, size_t zd, eb_real scale, eb_real *grad);
eb_status eb_cpu_optim_hyper(void *ctx, eb_real *hyper, const eb_optim_sched *s);
eb_status eb_cpu_adam_update(void *ctx, eb_real *p, const eb_real *g, eb_real *m, eb_real *v, size_t n, const eb_real *hyper, eb_real b1, eb_real b2, eb_real eps);
eb_status eb_cpu_sgd_update(void *ctx, eb_real *p, const eb_real *g, size_t n, const eb_real *hyper);

/* A switch of the CPU kernels from the environment: 0 when variable `name` is "0", else 1; read on the first
 * call for that `cache` (a static int initialised to -1), so a process never changes paths midway. */
int eb_cpu_env_switch(const char *name, int *cache);

#endif
