/* The op table: every numerical primitive the engine uses, as plain functions over explicit
 * buffers and shapes. One table per backend (CPU reference, CUDA); host code never branches on the device.
 *
 * Conventions (all backends):
 *  - Every pointer argument named x, y, w, dy, ... points into the backend's memory (`mem_alloc`).
 *  - Layouts: dense activations [n, features] row-major; images NCHW; linear weight [out, in];
 *    conv2d weight [c_out, c_in, k_h, k_w] (OIHW, as PyTorch); conv_transpose weight [c_in, c_out, k_h, k_w].
 *  - Accumulating outputs take (alpha, beta): out = alpha * result + beta * out. beta == 0 means
 *    `out` is overwritten and may hold garbage (even NaN) beforehand.
 *  - Ops never allocate in the step except a backend scratch (and the CPU's forms of frozen weights) that grows on
 *    first use of a shape.
 *  - `ctx` is the backend's context (handles, stream, scratch, what it keeps of frozen weights: weights_freeze);
 *    ops keep no other state.
 *  - Scalars that a reduction produces stay on the device (`*_dev` outputs, one eb_real each);
 *    host code reads them with mem_download only when it logs (no sync inside an iteration). */
#ifndef EBGAN_OPS_H
#define EBGAN_OPS_H

#include <stddef.h>
#include <stdint.h>
#include "ebgan/real.h"
#include "ebgan/status.h"
#include "ebgan/toy_formula.h"

typedef enum eb_act_kind {
    EB_ACT_IDENTITY = 0,
    EB_ACT_RELU,        /* max(0, a) */
    EB_ACT_LEAKY_RELU,  /* a > 0 ? a : slope * a */
    EB_ACT_TANH,
    EB_ACT_SOFTPLUS,    /* log(1 + e^a), computed stably; smooth: sigma'' != 0 (DESIGN.md §2 step 5) */
    EB_ACT_SIGMOID
} eb_act_kind;

/* Geometry of one conv2d: input [n, c_in, h_in, w_in] -> output [n, c_out, h_out, w_out].
 * h_out = (h_in + 2*pad - k_h) / stride + 1 (and likewise w). A conv_transpose2d is the adjoint of a
 * conv2d; the host layer expresses it with the geometry of that conv2d (see net.c). */
typedef struct eb_conv_geom {
    int n;
    int c_in, h_in, w_in;
    int c_out, h_out, w_out;
    int k_h, k_w;
    int stride, pad;
} eb_conv_geom;

/* Where a random draw reads the Philox stream `seed`: element i of the draw uses counter
 *     offset + stride * (*clock) + i          (clock == NULL: offset + i)
 * `clock` is an int64 in backend memory (the training iteration, advanced by clock_add). Captured into a CUDA
 * graph, the same launch then reads fresh counters on every replay without any host involvement
 * (DESIGN.md §4); outside training clock is NULL and offset alone positions the draw. */
typedef struct eb_rng_pos {
    uint64_t seed;
    uint64_t offset;
    const int64_t *clock; /* backend memory; may be NULL */
    uint64_t stride;      /* counters per clock tick */
} eb_rng_pos;

static inline eb_rng_pos eb_rng_at(uint64_t seed, uint64_t offset) {
    eb_rng_pos p = {seed, offset, 0, 0};
    return p;
}

/* Learning rate and Adam bias corrections for one update, computed on the backend from the clock so a
 * replayed graph follows the schedule (optim_hyper below):
 *     s = clock ? *clock : 0;  t = s * t_mul + t_add  (1-based update number)
 *     lr_s = decay_iters > 0 ? lr * (1 - s / decay_iters) : lr     (linear decay to 0, per iteration)
 *     hyper = {lr_s, 1 - beta1^t, 1 - beta2^t}, each computed in double and rounded once. */
typedef struct eb_optim_sched {
    double lr, beta1, beta2;
    const int64_t *clock; /* backend memory; may be NULL */
    int64_t t_mul, t_add;
    int64_t decay_iters;
} eb_optim_sched;

/* Gradient-penalty kinds (DESIGN.md §1): score = lambda * ||g||^2, wgan-gp = lambda * (||g|| - 1)^2. */
typedef enum eb_penalty_kind { EB_PENALTY_NONE = 0, EB_PENALTY_SCORE, EB_PENALTY_WGAN_GP } eb_penalty_kind;

typedef struct eb_ops {
    const char *name; /* "cpu", "cuda" */

    /* ---- memory (sizes in bytes) ---- */
    eb_status (*mem_alloc)(void *ctx, void **ptr, size_t bytes);   /* EB_ERR_OOM names asked/free bytes */
    void      (*mem_free)(void *ctx, void *ptr);
    eb_status (*mem_upload)(void *ctx, void *dst, const void *src_host, size_t bytes);
    eb_status (*mem_download)(void *ctx, void *dst_host, const void *src, size_t bytes);
    /* device to device; the two ranges must not overlap (CUDA's cudaMemcpyAsync does not define overlapping
     * copies, so the CPU refuses them with EB_ERR_ARG instead of hiding the bug behind memmove) */
    eb_status (*mem_copy)(void *ctx, void *dst, const void *src, size_t bytes);
    eb_status (*sync)(void *ctx);

    /* ---- elementwise and data movement (n elements) ---- */
    eb_status (*fill)(void *ctx, eb_real *x, eb_real v, size_t n);
    /* y = a * x + b * y */
    eb_status (*axpby)(void *ctx, eb_real *y, eb_real a, const eb_real *x, eb_real b, size_t n);
    /* y = a ⊙ b (elementwise product) */
    eb_status (*mul)(void *ctx, eb_real *y, const eb_real *a, const eb_real *b, size_t n);
    /* dst[r * dst_ld + c] = src[r * src_ld + c] for r < rows, c < cols (concat / split along features) */
    eb_status (*copy_2d)(void *ctx, eb_real *dst, size_t dst_ld, const eb_real *src, size_t src_ld,
                         size_t rows, size_t cols);
    /* dst[r, :] = src[idx[r], :]; idx (int32) lives on the device */
    eb_status (*gather_rows)(void *ctx, eb_real *dst, const eb_real *src, const int32_t *idx,
                             size_t rows, size_t cols);
    /* dst[r, c] = scale * src_u8[idx[r], c] + shift (uint8 images to [-1, 1] with scale 2/255, shift -1) */
    eb_status (*gather_rows_u8)(void *ctx, eb_real *dst, const uint8_t *src, const int32_t *idx,
                                size_t rows, size_t cols, eb_real scale, eb_real shift);
    /* out[r, :] = t[r] * x[r, :] + (1 - t[r]) * y[r, :] (wgan-gp interpolates) */
    eb_status (*lerp_rows)(void *ctx, eb_real *out, const eb_real *t, const eb_real *x, const eb_real *y,
                           size_t rows, size_t cols);
    /* out_dev = alpha * sum(x) + beta * out_dev; summed in double on both backends (CUDA: per-thread double
     * partial sums, then per-block and across blocks in double; the order differs from the CPU's) */
    eb_status (*reduce_sum)(void *ctx, const eb_real *x, size_t n, eb_real *out_dev, eb_real alpha, eb_real beta);
    /* out[r] = sum_c x[r, c]^2 */
    eb_status (*row_sqnorm)(void *ctx, const eb_real *x, size_t rows, size_t cols, eb_real *out);
    /* The divergence watch (docs/DESIGN.md §4.8): where some x[i] (i < n) is NaN or infinite and *first < 0,
     * *first = *clock (the iteration being run; 0 when clock is NULL); otherwise *first is left as it is. It stays
     * on the device, so a training iteration never waits for it; the host reads `first` only when it logs or saves. */
    eb_status (*nonfinite_mark)(void *ctx, const eb_real *x, size_t n, const int64_t *clock, int64_t *first);

    /* ---- random numbers: Philox4x32-10 keyed by (seed, offset), element i uses counter offset + i,
     * so every backend produces the same stream (up to float rounding of the transform). ---- */
    eb_status (*rng_normal)(void *ctx, eb_real *x, size_t n, eb_rng_pos p);  /* N(0, 1) */
    eb_status (*rng_uniform)(void *ctx, eb_real *x, size_t n, eb_rng_pos p); /* U[0, 1) */
    /* idx[i] = floor(u64_i * range / 2^64) in [0, range), u64_i = (w0 << 32) | w1 of counter i: minibatch
     * indices with replacement (bias below range / 2^64). range >= 1. */
    eb_status (*rng_index)(void *ctx, int32_t *idx, size_t n, uint32_t range, eb_rng_pos p);
    /* A uniform random permutation of 0..n-1 (the paper's randperm): perm lists the indices in ascending
     * order of the keys u64_i (counters i < n), ties by index. n <= 2^31 - 1. */
    eb_status (*rng_perm)(void *ctx, int32_t *perm, size_t n, eb_rng_pos p);
    /* n points x[n, 2] of a 2-D toy (toy_formula.h), point i from counters 3i, 3i + 1, 3i + 2. */
    eb_status (*toy_sample)(void *ctx, eb_toy_kind kind, eb_real *x, size_t n, eb_rng_pos p);
    /* *clock += v (one int64 in backend memory; the iteration counter of a captured graph) */
    eb_status (*clock_add)(void *ctx, int64_t *clock, int64_t v);

    /* ---- linear: y[n, out] = x[n, in] * w[out, in]^T (+ b[out]) ---- */
    /* b may be NULL (the tangent of a linear layer is its forward without bias, DESIGN.md §2 step 4) */
    eb_status (*linear_forward)(void *ctx, const eb_real *x, const eb_real *w, const eb_real *b, eb_real *y,
                                int n, int in, int out);
    /* dx = alpha * dy * w + beta * dx */
    eb_status (*linear_backward_data)(void *ctx, const eb_real *dy, const eb_real *w, eb_real *dx,
                                      int n, int in, int out, eb_real alpha, eb_real beta);
    /* dw = alpha * dy^T * x + beta * dw */
    eb_status (*linear_backward_weight)(void *ctx, const eb_real *x, const eb_real *dy, eb_real *dw,
                                        int n, int in, int out, eb_real alpha, eb_real beta);

    /* ---- per-channel bias: y[n, c, hw] += b[c]; db = alpha * sum_{n, hw} dy + beta * db (hw = 1 for dense) ---- */
    eb_status (*bias_add)(void *ctx, eb_real *y, const eb_real *b, int n, int c, int hw);
    eb_status (*bias_backward)(void *ctx, const eb_real *dy, eb_real *db, int n, int c, int hw,
                               eb_real alpha, eb_real beta);

    /* ---- conv2d (no bias; see bias_add) ---- */
    eb_status (*conv2d_forward)(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w,
                                eb_real *y, eb_real alpha, eb_real beta);
    eb_status (*conv2d_backward_data)(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                      eb_real *dx, eb_real alpha, eb_real beta);
    eb_status (*conv2d_backward_filter)(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy,
                                        eb_real *dw, eb_real alpha, eb_real beta);

    /* ---- frozen weights: optional, NULL where a backend keeps nothing derived from weights (CUDA) ----
     * weights_freeze: the caller keeps the n eb_reals at w (a net's parameters) unchanged until the matching
     * weights_thaw(ctx, w), so the backend may keep what it derives from them across calls: the CPU keeps the
     * Winograd transforms of conv2d_forward's and conv2d_backward_data's weights (bench/PROFILE.md), made on a
     * layer's first call and read by the later ones, with the same bits as a transform per call. Freezes of the
     * same w nest (a U step's inside the MALA chains' keeps the outer's forms); the next outermost freeze treats
     * the weights as new. */
    void (*weights_freeze)(void *ctx, const eb_real *w, size_t n);
    void (*weights_thaw)(void *ctx, const eb_real *w);

    /* ---- activations: a = pre-activation (the layer input), y = act(a) ---- */
    eb_status (*act_forward)(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, eb_real *y, size_t n);
    /* Bias and activation in one pass (the layer's bias add and the following activation, which a
     * framework launches separately): a[n, c, hw] += b[c] in place (b may be NULL), then y = act(a).
     * a keeps the pre-activation, as the backward and tangent passes need it. */
    eb_status (*bias_act_forward)(void *ctx, eb_real *a, const eb_real *b, eb_act_kind k, eb_real slope,
                                  eb_real *y, int n, int c, int hw);
    /* dx = sigma'(a) ⊙ dy + beta * dx. Also the tangent: sigma' is diagonal (DESIGN.md §2 step 4). */
    eb_status (*act_backward)(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, const eb_real *y,
                              const eb_real *dy, eb_real *dx, size_t n, eb_real beta);
    /* c = g ⊙ sigma''(a) ⊙ t + beta * c (the curvature injection of DESIGN.md §2 step 5) */
    eb_status (*act_curvature)(void *ctx, eb_act_kind k, eb_real slope, const eb_real *a, const eb_real *y,
                               const eb_real *g, const eb_real *t, eb_real *c, size_t n, eb_real beta);

    /* ---- batch norm over channels of x[n, c, hw] (hw = 1 for dense); eps inside the sqrt ---- */
    /* training: batch statistics (biased variance for the normalisation), saves mean and 1/std for the
     * backward, updates running stats: run = (1 - momentum) * run + momentum * batch (running_var unbiased) */
    eb_status (*bn_forward_train)(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta,
                                  eb_real *y, eb_real *save_mean, eb_real *save_invstd,
                                  eb_real *run_mean, eb_real *run_var, eb_real momentum, eb_real eps,
                                  int n, int c, int hw);
    eb_status (*bn_forward_infer)(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta,
                                  const eb_real *run_mean, const eb_real *run_var, eb_real eps, eb_real *y,
                                  int n, int c, int hw);
    /* training-mode backward: dx (overwritten; may be NULL), dgamma/dbeta accumulate with beta_acc (may be NULL) */
    eb_status (*bn_backward_train)(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma,
                                   const eb_real *save_mean, const eb_real *save_invstd,
                                   eb_real *dx, eb_real *dgamma, eb_real *dbeta, eb_real beta_acc,
                                   int n, int c, int hw);
    /* training-mode tangent (JVP wrt x): ty = J tx, J the Jacobian of y wrt x through the batch statistics */
    eb_status (*bn_tangent_train)(void *ctx, const eb_real *x, const eb_real *tx, const eb_real *gamma,
                                  const eb_real *save_mean, const eb_real *save_invstd, eb_real *ty,
                                  int n, int c, int hw);
    /* inference mode is affine: backward-data and tangent are both dx = gamma / sqrt(run_var + eps) ⊙ dy;
     * dgamma/dbeta (may be NULL) accumulate with beta_acc */
    eb_status (*bn_backward_infer)(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma,
                                   const eb_real *run_mean, const eb_real *run_var, eb_real eps,
                                   eb_real *dx, eb_real *dgamma, eb_real *dbeta, eb_real beta_acc,
                                   int n, int c, int hw);

    /* ---- batch norm over a batch split across ranks (synchronised batch norm, src/host/nn/bn_sync.c): the
     * per-channel sums each rank computes are all-reduced between these ops, so every rank normalises with
     * the statistics of the whole batch (count = values per channel over all ranks) ---- */
    /* out[ch] = sum_{i,p} x (center == NULL) or sum_{i,p} (x - center[ch])^2; summed in double on the CPU */
    eb_status (*bn_channel_sums)(void *ctx, const eb_real *x, const eb_real *center, eb_real *out, int n, int c,
                                 int hw);
    /* training forward from global statistics mean[c] and sumsq[c] = sum (x - mean)^2 over count values:
     * save_invstd = 1 / sqrt(sumsq / count + eps), y = gamma (x - mean) invstd + beta, running stats as
     * bn_forward_train (running_var takes sumsq / (count - 1)); run_mean / run_var may be NULL */
    eb_status (*bn_forward_global)(void *ctx, const eb_real *x, const eb_real *gamma, const eb_real *beta,
                                   eb_real *y, const eb_real *mean, const eb_real *sumsq, double count,
                                   eb_real *save_invstd, eb_real *run_mean, eb_real *run_var, eb_real momentum,
                                   eb_real eps, int n, int c, int hw);
    /* training backward-data from global sums = [sum dy xhat (c) | sum dy (c)] (bn_backward_train's dgamma,
     * dbeta, all-reduced): dx = gamma invstd (dy - sum_dy / count - xhat sum_dy_xhat / count) */
    eb_status (*bn_backward_global)(void *ctx, const eb_real *x, const eb_real *dy, const eb_real *gamma,
                                    const eb_real *save_mean, const eb_real *save_invstd, const eb_real *sums,
                                    double count, eb_real *dx, int n, int c, int hw);

    /* ---- losses (scalars accumulate on the device: loss_dev += ...) ---- */
    /* BCE with logits against a constant target: loss_dev += scale * sum_i bce(l_i, target);
     * dlogit = scale * (sigmoid(l_i) - target) (overwritten). Stable for large |l|. */
    eb_status (*bce_logits)(void *ctx, const eb_real *logit, eb_real target, size_t n, eb_real scale,
                            eb_real *loss_dev, eb_real *dlogit);
    /* loss_dev += scale * sum (a - b)^2; da = 2 * scale * (a - b) (overwritten; may be NULL) */
    eb_status (*sqdiff)(void *ctx, const eb_real *a, const eb_real *b, size_t n, eb_real scale,
                        eb_real *loss_dev, eb_real *da);
    /* The gradient penalty of DESIGN.md §2 step 3 for g = grad_x U, rows = batch, cols = features:
     *   score:   P = (lambda / rows) * sum_r ||g_r||^2,          gbar_r = (2 lambda / rows) g_r
     *   wgan-gp: P = (lambda / rows) * sum_r (||g_r|| - 1)^2,    gbar_r = (2 lambda / rows)(||g_r|| - 1) g_r / ||g_r||
     * loss_dev += P; gbar overwritten. (wgan-gp with ||g_r|| == 0 uses gbar_r = 0.) */
    eb_status (*penalty_seed)(void *ctx, eb_penalty_kind k, const eb_real *g, size_t rows, size_t cols,
                              eb_real lambda, eb_real *gbar, eb_real *loss_dev);
    /* Softmax cross-entropy of logits [rows, k] (row-major) against int32 labels [rows] in [0, k), both on the
     * device (the project's own classifier for the stacked-image evaluation):
     *   loss_dev += scale * sum_r (logsumexp(l_r) - l_r[label_r]);  dlogit_r = scale * (softmax(l_r) - onehot(label_r))
     * dlogit overwritten (may be NULL); loss_dev may be NULL. Max-subtracted, so finite for any finite logits.
     * A label outside [0, k): EB_ERR_ARG on the CPU; the CUDA kernel cannot report it and makes the loss NaN. */
    eb_status (*softmax_xent)(void *ctx, const eb_real *logits, const int32_t *labels, size_t rows, size_t k,
                              eb_real scale, eb_real *loss_dev, eb_real *dlogit);

    /* ---- MALA in latent space (DESIGN.md §3), every chain at once; n chains of dim coordinates ----
     * Random numbers come from the Philox stream `seed` at counters base + c * (dim + 1) + j: j < dim the
     * proposal noise xi of chain c, j = dim its acceptance uniform. Callers give each (step, chain) its own
     * counters (base = offset + (step * total_chains + first_chain) * (dim + 1)), so results do not
     * depend on chunking. */
    /* z_prop = z - alpha * grad + sqrt(2 alpha) xi */
    eb_status (*mala_propose)(void *ctx, const eb_real *z, const eb_real *grad, eb_real *z_prop, size_t n,
                              size_t dim, eb_real alpha, eb_rng_pos base);
    /* Per chain: log q(a | b) = -||a - b + alpha grad(b)||^2 / (4 alpha) (squared norm),
     * log gamma = -e_prop + e + log q(z | z_prop) - log q(z_prop | z); accept where log u < min(0, log gamma)
     * (a NaN log gamma rejects; always accept when ula != 0), u ~ U[0,1) from the stream; an accepted chain copies z_prop, e_prop, g_prop
     * over z, e, g in place; accepted[c] += 1 for it (accepted may be NULL). Energies e include beta and
     * the prior; g = grad_z e. */
    eb_status (*mala_accept)(void *ctx, eb_real *z, eb_real *e, eb_real *g, const eb_real *z_prop,
                             const eb_real *e_prop, const eb_real *g_prop, size_t n, size_t dim, eb_real alpha,
                             int ula, eb_rng_pos base, eb_real *accepted);

    /* ---- VERA's entropy gradient (DESIGN.md §6; src/host/nn/gstep_vera.c) ----
     * The generator's output noise sigma = exp(clamp(*log_sigma, lo, hi)) (log_sigma one value in backend
     * memory, lo and hi its bounds in log units) and the posterior xi(z | x) = N(z0, diag eta^2) with
     * eta = exp(log_eta) ([zd] in backend memory). Rows k * n + i of g and zk belong to sample i. */
    /* x += sigma * eps ([n] each) */
    eb_status (*vera_noise)(void *ctx, eb_real *x, const eb_real *eps, const eb_real *log_sigma, eb_real lo,
                            eb_real hi, size_t n);
    /* zk_(s n + i) = z0_i + eta * eps_(s n + i) for s < k: the k samples of xi(z | x_i) (z0 [n, zd]; zk, eps
     * [k n, zd]) */
    eb_status (*vera_post_sample)(void *ctx, const eb_real *z0, const eb_real *eps, const eb_real *log_eta, size_t n,
                                  size_t k, size_t zd, eb_real *zk);
    /* c_i = sum_k w_ki (x_i - g_ki) / sigma^2 with w_.i = softmax over the k samples of
     * -||x_i - g_ki||^2 / (2 sigma^2) - ||zk_ki||^2 / 2 + ||(zk_ki - z0_i) / eta||^2 / 2
     * (log q(x, z) - log xi(z | x) less what does not depend on k); x, c [n, xd], g [k n, xd], zk [k n, zd],
     * z0 [n, zd]; sums and the softmax in double */
    eb_status (*vera_score)(void *ctx, const eb_real *x, const eb_real *g, const eb_real *zk, const eb_real *z0,
                            const eb_real *log_eta, const eb_real *log_sigma, eb_real lo, eb_real hi, size_t n,
                            size_t k, size_t xd, size_t zd, eb_real *c);
    /* *grad += sigma * sum_i dx_i eps_i ([n] each): d loss / d log_sigma through x = G(z) + sigma eps; 0 where
     * the clamp holds log_sigma at a bound and the step would push it further out */
    eb_status (*vera_sigma_grad)(void *ctx, const eb_real *dx, const eb_real *eps, const eb_real *log_sigma,
                                 eb_real lo, eb_real hi, size_t n, eb_real *grad);
    /* dy = scale * (g - x) / sigma^2 ([n] each): the seed of -scale * log N(x; g, sigma^2 I) */
    eb_status (*vera_post_seed)(void *ctx, const eb_real *x, const eb_real *g, const eb_real *log_sigma, eb_real lo,
                                eb_real hi, size_t n, eb_real scale, eb_real *dy);
    /* grad_j = eta_j * sum_i (dz_ij + scale * z_ij) eps_ij - 1 (z, dz, eps [n, zd]; grad, log_eta [zd]): the
     * gradient in log eta of -scale * sum_i (log q(x_i, z_i) + log xi's entropy) at z = z0 + eta * eps, given
     * dz = d(-scale * sum_i log N(x_i; G(z_i), sigma^2 I)) / dz */
    eb_status (*vera_post_grad)(void *ctx, const eb_real *dz, const eb_real *z, const eb_real *eps,
                                const eb_real *log_eta, size_t n, size_t zd, eb_real scale, eb_real *grad);

    /* ---- optimisers over one flat parameter buffer (all of a net's parameters, one launch) ---- */
    /* hyper[0..2] = {lr, bc1, bc2} of one update (eb_optim_sched above); hyper in backend memory */
    eb_status (*optim_hyper)(void *ctx, eb_real *hyper, const eb_optim_sched *s);
    /* Adam (PyTorch semantics): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
     * p -= lr * (m / bc1) / (sqrt(v / bc2) + eps), with {lr, bc1, bc2} = hyper[0..2] read on the backend. */
    eb_status (*adam_update)(void *ctx, eb_real *p, const eb_real *g, eb_real *m, eb_real *v, size_t n,
                             const eb_real *hyper, eb_real b1, eb_real b2, eb_real eps);
    /* p -= hyper[0] * g */
    eb_status (*sgd_update)(void *ctx, eb_real *p, const eb_real *g, size_t n, const eb_real *hyper);
} eb_ops;

/* A backend: its op table and its context. */
typedef struct eb_backend {
    const eb_ops *ops;
    void *ctx;
} eb_backend;

#endif
