/* conv2d through cuDNN's v9 legacy API (NCHW float tensors, cross-correlation as PyTorch): forward,
 * backward-data (also the conv_transpose forward) and backward-filter, with one algorithm per direction
 * chosen on the first use of a geometry (conv_algo.h: heuristics by default, a bounded search on request,
 * or a pinned record) and cached with its descriptors (key: geometry + precision). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_ops.cuh"

/* Math type asked of cuDNN for a precision (as PyTorch's allow_tf32 switch): strict fp32 must use
 * FMA_MATH, because DEFAULT_MATH lets cuDNN run float tensors as TF32 on Ampere and later, which is what
 * tf32 wants. bf16 convolutions run as tf32 (see ebgan/cuda.h); ALLOW_CONVERSION is never used (it may
 * convert float tensors to fp16). */
static cudnnMathType_t eb_conv_math(eb_cuda_precision p) {
    return p == EB_PRECISION_FP32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
}

static int eb_geom_equal(const eb_conv_geom *a, const eb_conv_geom *b) {
    return a->n == b->n && a->c_in == b->c_in && a->h_in == b->h_in && a->w_in == b->w_in && a->c_out == b->c_out &&
           a->h_out == b->h_out && a->w_out == b->w_out && a->k_h == b->k_h && a->k_w == b->k_w &&
           a->stride == b->stride && a->pad == b->pad;
}

/* The geometry must be a valid conv2d: positive sizes and h_out, w_out as the formula of ops.h gives
 * (so a conv-transpose's larger input, from output_padding < stride, is accepted). */
static eb_status eb_geom_check(const eb_conv_geom *g) {
    if (g->n <= 0 || g->c_in <= 0 || g->h_in <= 0 || g->w_in <= 0 || g->c_out <= 0 || g->k_h <= 0 || g->k_w <= 0 ||
        g->stride <= 0 || g->pad < 0)
        return EB_FAIL(EB_ERR_ARG, "conv2d: bad geometry n=%d c_in=%d %dx%d c_out=%d k=%dx%d stride=%d pad=%d", g->n,
                       g->c_in, g->h_in, g->w_in, g->c_out, g->k_h, g->k_w, g->stride, g->pad);
    const int ho = (g->h_in + 2 * g->pad - g->k_h) / g->stride + 1;
    const int wo = (g->w_in + 2 * g->pad - g->k_w) / g->stride + 1;
    if (g->h_in + 2 * g->pad < g->k_h || g->w_in + 2 * g->pad < g->k_w || ho != g->h_out || wo != g->w_out)
        return EB_FAIL(EB_ERR_ARG,
                       "conv2d: input %dx%d, kernel %dx%d, stride %d, pad %d give output %dx%d, but the geometry says "
                       "%dx%d",
                       g->h_in, g->w_in, g->k_h, g->k_w, g->stride, g->pad, ho, wo, g->h_out, g->w_out);
    return EB_OK;
}

static void eb_conv_entry_destroy(eb_cuda_conv_entry *e) {
    if (e->x_desc) cudnnDestroyTensorDescriptor(e->x_desc);
    if (e->y_desc) cudnnDestroyTensorDescriptor(e->y_desc);
    if (e->w_desc) cudnnDestroyFilterDescriptor(e->w_desc);
    if (e->conv_desc) cudnnDestroyConvolutionDescriptor(e->conv_desc);
    memset(e, 0, sizeof *e);
}

static eb_status eb_conv_entry_create(eb_cuda_conv_entry *e, const eb_conv_geom *g, eb_cuda_precision p) {
    memset(e, 0, sizeof *e);
    e->g = *g;
    e->precision = p;
    EB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&e->x_desc));
    EB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&e->y_desc));
    EB_CUDNN_CHECK(cudnnCreateFilterDescriptor(&e->w_desc));
    EB_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&e->conv_desc));
    EB_CUDNN_CHECK(cudnnSetTensor4dDescriptor(e->x_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g->n, g->c_in, g->h_in,
                                              g->w_in));
    EB_CUDNN_CHECK(cudnnSetTensor4dDescriptor(e->y_desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g->n, g->c_out,
                                              g->h_out, g->w_out));
    EB_CUDNN_CHECK(cudnnSetFilter4dDescriptor(e->w_desc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, g->c_out, g->c_in,
                                              g->k_h, g->k_w));
    EB_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(e->conv_desc, g->pad, g->pad, g->stride, g->stride, 1, 1,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    EB_CUDNN_CHECK(cudnnSetConvolutionMathType(e->conv_desc, eb_conv_math(p)));
    /* cuDNN's own view of the output must agree with ours (it rejects the call otherwise). */
    int on, oc, oh, ow;
    EB_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(e->conv_desc, e->x_desc, e->w_desc, &on, &oc, &oh, &ow));
    if (on != g->n || oc != g->c_out || oh != g->h_out || ow != g->w_out)
        return EB_FAIL(EB_ERR_ARG, "conv2d: cuDNN computes output [%d,%d,%d,%d] for geometry output [%d,%d,%d,%d]", on,
                       oc, oh, ow, g->n, g->c_out, g->h_out, g->w_out);
    return EB_OK;
}

eb_status eb_cuda_conv_entry_get(eb_cuda_ctx *c, const eb_conv_geom *g, eb_cuda_conv_entry **out) {
    for (int i = 0; i < c->conv_count; i++) {
        if (c->conv_cache[i].precision == c->precision && eb_geom_equal(&c->conv_cache[i].g, g)) {
            *out = &c->conv_cache[i];
            return EB_OK;
        }
    }
    EB_TRY(eb_geom_check(g));
    if (c->conv_count == c->conv_cap) {
        const int cap = c->conv_cap ? 2 * c->conv_cap : 16;
        eb_cuda_conv_entry *p = (eb_cuda_conv_entry *)realloc(c->conv_cache, (size_t)cap * sizeof *p);
        if (!p) return EB_FAIL(EB_ERR_OOM, "conv2d: cannot grow the algorithm cache to %d entries", cap);
        c->conv_cache = p;
        c->conv_cap = cap;
    }
    eb_cuda_conv_entry *e = &c->conv_cache[c->conv_count];
    eb_status st = eb_conv_entry_create(e, g, c->precision);
    if (st != EB_OK) {
        eb_conv_entry_destroy(e);
        return st;
    }
    c->conv_count++;
    *out = e;
    return EB_OK;
}

void eb_cuda_conv_cache_free(eb_cuda_ctx *c) {
    for (int i = 0; i < c->conv_count; i++) eb_conv_entry_destroy(&c->conv_cache[i]);
    free(c->conv_cache);
    c->conv_cache = NULL;
    c->conv_count = c->conv_cap = 0;
}

/* cuDNN's result list as conv_algo.h candidates (the choosing rules live there, tested on the CPU). */
template <typename Perf>
static void eb_to_cands(const Perf *perf, int count, eb_conv_algo_cand *cand) {
    for (int i = 0; i < count; i++) {
        cand[i].algo = (int)perf[i].algo;
        cand[i].ok = perf[i].status == CUDNN_STATUS_SUCCESS;
        cand[i].deterministic = perf[i].determinism == CUDNN_DETERMINISTIC;
        cand[i].tensor_op =
            perf[i].mathType == CUDNN_TENSOR_OP_MATH || perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
        cand[i].ws_bytes = perf[i].memory;
        cand[i].time_ms = perf[i].time;
    }
}

/* Whether the stream is being captured into a graph: algorithm search synchronises, so inside a capture only
 * the heuristics (cudnnGet*_v7) may run. */
static eb_status eb_capturing(eb_cuda_ctx *c, int *yes) {
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    EB_CUDA_CHECK(cudaStreamIsCapturing(c->stream, &cs));
    *yes = cs != cudaStreamCaptureStatusNone;
    return EB_OK;
}

#define EB_ALGO_MAX 16

/* Bytes of the conv workspace that a search leaves aside for its scratch output (the op's real output may
 * hold values to accumulate into, beta != 0, so the search never writes it), rounded to 256 bytes; 0 when
 * the output is larger than half the workspace: such geometries (MALA chunks of thousands of chains) take
 * the heuristics, so a search never allocates or holds more than the project's own workspace. */
static size_t eb_search_scratch(const eb_cuda_ctx *c, size_t out_bytes) {
    const size_t r = (out_bytes + 255) / 256 * 256;
    return r <= c->conv_ws_bytes / 2 ? r : 0;
}

/* The workspace query of conv_algo.h's walk: sets the math type the candidate would run with (FMA_MATH under
 * strict fp32, else the one cuDNN listed) and asks cuDNN for its workspace. */
template <typename Perf, typename Algo, typename WsSize>
struct eb_ws_probe {
    eb_cuda_conv_entry *e;
    const Perf *perf;
    int count, strict;
    WsSize *ws_size;
    cudnnStatus_t last; /* the last failing status, for the error when every candidate fails */
};

template <typename Perf, typename Algo, typename WsSize>
static int eb_ws_probe_query(void *arg, int algo, size_t *ws) {
    auto *p = (eb_ws_probe<Perf, Algo, WsSize> *)arg;
    cudnnMathType_t m = CUDNN_FMA_MATH;
    for (int i = 0; i < p->count && !p->strict; i++)
        if ((int)p->perf[i].algo == algo) m = p->perf[i].mathType;
    cudnnStatus_t s = cudnnSetConvolutionMathType(p->e->conv_desc, m);
    if (s == CUDNN_STATUS_SUCCESS) s = (*p->ws_size)((Algo)algo, ws);
    if (s != CUDNN_STATUS_SUCCESS) p->last = s;
    return s != CUDNN_STATUS_SUCCESS;
}

/* One direction's algorithm choice, shared by forward, backward-data and backward-filter (they differ only in
 * which cuDNN calls search, suggest and size). In order: a pinned choice from a record (a resume) when cuDNN
 * still accepts it and it was not refused at execution; a timed search (cudnnFind*Ex in the project's
 * workspace) when the mode asks for it and the stream is not capturing; else the heuristics' ranking. Each
 * list is walked in conv_algo.h's order of preference until a candidate's workspace query succeeds and fits,
 * so one failing candidate never makes the convolution fail while another one works. */
template <typename Perf, typename Algo, typename FindEx, typename Heur, typename WsSize>
static eb_status eb_choose_algo(eb_cuda_ctx *c, eb_cuda_conv_entry *e, eb_conv_dir dir, const char *what,
                                size_t out_bytes, FindEx find_ex, Heur heur, WsSize ws_size) {
    eb_cuda_conv_choice *ch = &e->dir[dir];
    const int strict = e->precision == EB_PRECISION_FP32;
    const int pin = eb_conv_algo_find(c->pinned, c->pinned_count, &e->g, (int)e->precision, dir);
    if (pin >= 0 && !(c->pinned[pin].algo < 32 && (ch->rejected >> c->pinned[pin].algo & 1u))) {
        ch->algo = c->pinned[pin].algo;
        ch->math = (cudnnMathType_t)c->pinned[pin].math;
        cudnnStatus_t ss = cudnnSetConvolutionMathType(e->conv_desc, ch->math);
        if (ss == CUDNN_STATUS_SUCCESS) ss = ws_size((Algo)ch->algo, &ch->ws);
        if (ss == CUDNN_STATUS_SUCCESS && ch->ws <= c->conv_ws_bytes) {
            ch->have = 1;
            return EB_OK;
        }
        fprintf(stderr, "warning: conv2d %s: the recorded cuDNN algorithm %d does not apply here (%s); choosing "
                "anew, so rounding may differ from the recorded run\n", what, c->pinned[pin].algo,
                ss != CUDNN_STATUS_SUCCESS ? cudnnGetErrorString(ss) : "workspace too small");
    }
    Perf perf[EB_ALGO_MAX];
    eb_conv_algo_cand cand[EB_ALGO_MAX];
    int count = 0, pick = -1, capturing = 0, tried = 0, tried_all = 0;
    eb_ws_probe<Perf, Algo, WsSize> probe = {e, perf, 0, strict, &ws_size, CUDNN_STATUS_SUCCESS};
    EB_TRY(eb_capturing(c, &capturing));
    EB_CUDNN_CHECK(cudnnSetConvolutionMathType(e->conv_desc, eb_conv_math(e->precision)));
    const size_t scratch = eb_search_scratch(c, out_bytes);
    if (c->algo_mode == EB_CONV_ALGO_SEARCH && !capturing && scratch > 0) {
        void *out = c->conv_ws, *ws_ptr = (char *)c->conv_ws + scratch;
        const size_t search_cap = c->conv_ws_bytes - scratch;
        if (find_ex(perf, &count, out, ws_ptr, search_cap) == CUDNN_STATUS_SUCCESS) {
            eb_to_cands(perf, count, cand);
            probe.count = count;
            pick = eb_conv_algo_walk(cand, count, c->conv_ws_bytes, strict, EB_CONV_ALGO_SEARCH, ch->rejected,
                                     eb_ws_probe_query<Perf, Algo, WsSize>, &probe, &ch->ws, &tried);
            tried_all += tried;
        }
        (void)cudaGetLastError(); /* a failed search falls back to the heuristics */
    }
    if (pick < 0) {
        EB_CUDNN_CHECK(cudnnSetConvolutionMathType(e->conv_desc, eb_conv_math(e->precision)));
        const cudnnStatus_t hs = heur(perf, &count);
        if (hs != CUDNN_STATUS_SUCCESS)
            return EB_FAIL(EB_ERR_DEVICE, "cudnnGetConvolution*Algorithm_v7 (conv2d %s) failed: %s (%s)", what,
                           cudnnGetErrorString(hs), eb_cudnn_hint(hs));
        eb_to_cands(perf, count, cand);
        probe.count = count;
        pick = eb_conv_algo_walk(cand, count, c->conv_ws_bytes, strict, EB_CONV_ALGO_HEURISTIC, ch->rejected,
                                 eb_ws_probe_query<Perf, Algo, WsSize>, &probe, &ch->ws, &tried);
        tried_all += tried;
    }
    if (pick < 0)
        return EB_FAIL(EB_ERR_UNSUPPORTED,
                       "conv2d %s: no cuDNN algorithm usable for this geometry within the %zu-byte workspace (%d "
                       "asked, last refusal: %s; raise the workspace with eb_cuda_set_conv_workspace)",
                       what, c->conv_ws_bytes, tried_all,
                       probe.last != CUDNN_STATUS_SUCCESS ? cudnnGetErrorString(probe.last) : "none fitted");
    ch->algo = (int)perf[pick].algo;
    ch->math = strict ? CUDNN_FMA_MATH : perf[pick].mathType;
    ch->have = 1;
    return EB_OK;
}

/* Runs one direction: chooses on first use; when cuDNN answers NOT_SUPPORTED at the algorithm's first
 * execution (nothing was written then, so running again is safe even with beta != 0), that algorithm is
 * refused for this geometry, the next one is chosen, and the choice the record exports is the one that ran. */
template <typename Choose, typename Exec>
static eb_status eb_conv_run(eb_cuda_conv_entry *e, eb_conv_dir dir, const char *what, Choose choose, Exec exec) {
    eb_cuda_conv_choice *ch = &e->dir[dir];
    for (;;) {
        if (!ch->have) EB_TRY(choose());
        EB_CUDNN_CHECK(cudnnSetConvolutionMathType(e->conv_desc, ch->math));
        const cudnnStatus_t s = exec(ch);
        if (s == CUDNN_STATUS_NOT_SUPPORTED && !ch->ran && ch->algo >= 0 && ch->algo < 32) {
            fprintf(stderr, "warning: conv2d %s: cuDNN refused algorithm %d at execution (%s); choosing the next\n",
                    what, ch->algo, cudnnGetErrorString(s));
            ch->rejected |= 1u << ch->algo;
            ch->have = 0;
            continue;
        }
        if (s != CUDNN_STATUS_SUCCESS)
            return EB_FAIL(EB_ERR_DEVICE, "cuDNN conv2d %s with algorithm %d failed: %s (%s)", what, ch->algo,
                           cudnnGetErrorString(s), eb_cudnn_hint(s));
        ch->ran = 1;
        return EB_OK;
    }
}

static size_t eb_bytes4(size_t a, size_t b, size_t c, size_t d) { return a * b * c * d * sizeof(float); }

static eb_status eb_choose_fwd(eb_cuda_ctx *c, eb_cuda_conv_entry *e, const eb_real *x, const eb_real *w) {
    const eb_conv_geom *g = &e->g;
    return eb_choose_algo<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(
        c, e, EB_CONV_DIR_FWD, "forward", eb_bytes4(g->n, g->c_out, g->h_out, g->w_out),
        [&](cudnnConvolutionFwdAlgoPerf_t *p, int *n, void *y, void *ws, size_t ws_bytes) {
            return cudnnFindConvolutionForwardAlgorithmEx(c->cudnn, e->x_desc, x, e->w_desc, w, e->conv_desc,
                                                          e->y_desc, y, EB_ALGO_MAX, n, p, ws, ws_bytes);
        },
        [&](cudnnConvolutionFwdAlgoPerf_t *p, int *n) {
            return cudnnGetConvolutionForwardAlgorithm_v7(c->cudnn, e->x_desc, e->w_desc, e->conv_desc, e->y_desc,
                                                          EB_ALGO_MAX, n, p);
        },
        [&](cudnnConvolutionFwdAlgo_t a, size_t *b) {
            return cudnnGetConvolutionForwardWorkspaceSize(c->cudnn, e->x_desc, e->w_desc, e->conv_desc, e->y_desc,
                                                           a, b);
        });
}

static eb_status eb_choose_bwd_data(eb_cuda_ctx *c, eb_cuda_conv_entry *e, const eb_real *dy, const eb_real *w) {
    const eb_conv_geom *g = &e->g;
    return eb_choose_algo<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(
        c, e, EB_CONV_DIR_BWD_DATA, "backward-data", eb_bytes4(g->n, g->c_in, g->h_in, g->w_in),
        [&](cudnnConvolutionBwdDataAlgoPerf_t *p, int *n, void *dx, void *ws, size_t ws_bytes) {
            return cudnnFindConvolutionBackwardDataAlgorithmEx(c->cudnn, e->w_desc, w, e->y_desc, dy, e->conv_desc,
                                                               e->x_desc, dx, EB_ALGO_MAX, n, p, ws, ws_bytes);
        },
        [&](cudnnConvolutionBwdDataAlgoPerf_t *p, int *n) {
            return cudnnGetConvolutionBackwardDataAlgorithm_v7(c->cudnn, e->w_desc, e->y_desc, e->conv_desc,
                                                               e->x_desc, EB_ALGO_MAX, n, p);
        },
        [&](cudnnConvolutionBwdDataAlgo_t a, size_t *b) {
            return cudnnGetConvolutionBackwardDataWorkspaceSize(c->cudnn, e->w_desc, e->y_desc, e->conv_desc,
                                                                e->x_desc, a, b);
        });
}

static eb_status eb_choose_bwd_filter(eb_cuda_ctx *c, eb_cuda_conv_entry *e, const eb_real *x, const eb_real *dy) {
    const eb_conv_geom *g = &e->g;
    return eb_choose_algo<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(
        c, e, EB_CONV_DIR_BWD_FILTER, "backward-filter", eb_bytes4(g->c_out, g->c_in, g->k_h, g->k_w),
        [&](cudnnConvolutionBwdFilterAlgoPerf_t *p, int *n, void *dw, void *ws, size_t ws_bytes) {
            return cudnnFindConvolutionBackwardFilterAlgorithmEx(c->cudnn, e->x_desc, x, e->y_desc, dy,
                                                                 e->conv_desc, e->w_desc, dw, EB_ALGO_MAX, n, p, ws,
                                                                 ws_bytes);
        },
        [&](cudnnConvolutionBwdFilterAlgoPerf_t *p, int *n) {
            return cudnnGetConvolutionBackwardFilterAlgorithm_v7(c->cudnn, e->x_desc, e->y_desc, e->conv_desc,
                                                                 e->w_desc, EB_ALGO_MAX, n, p);
        },
        [&](cudnnConvolutionBwdFilterAlgo_t a, size_t *b) {
            return cudnnGetConvolutionBackwardFilterWorkspaceSize(c->cudnn, e->x_desc, e->y_desc, e->conv_desc,
                                                                  e->w_desc, a, b);
        });
}

/* alpha and beta are host floats (float tensors); beta == 0 makes cuDNN overwrite without reading. */
eb_status eb_cuda_conv2d_forward(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *w, eb_real *y,
                                 eb_real alpha, eb_real beta) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    eb_cuda_conv_entry *e;
    EB_TRY(eb_cuda_conv_entry_get(c, g, &e));
    const float a = alpha, b = beta;
    return eb_conv_run(
        e, EB_CONV_DIR_FWD, "forward", [&] { return eb_choose_fwd(c, e, x, w); },
        [&](const eb_cuda_conv_choice *ch) {
            return cudnnConvolutionForward(c->cudnn, &a, e->x_desc, x, e->w_desc, w, e->conv_desc,
                                           (cudnnConvolutionFwdAlgo_t)ch->algo, c->conv_ws, ch->ws, &b, e->y_desc, y);
        });
}

/* dx [n, c_in, h_in, w_in] from dy [n, c_out, h_out, w_out]; a larger h_in than the minimum (conv-transpose
 * output_padding) only adds rows that no output touches: cuDNN takes the shapes from the descriptors. */
eb_status eb_cuda_conv2d_backward_data(void *ctx, const eb_conv_geom *g, const eb_real *dy, const eb_real *w,
                                       eb_real *dx, eb_real alpha, eb_real beta) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    eb_cuda_conv_entry *e;
    EB_TRY(eb_cuda_conv_entry_get(c, g, &e));
    const float a = alpha, b = beta;
    return eb_conv_run(
        e, EB_CONV_DIR_BWD_DATA, "backward-data", [&] { return eb_choose_bwd_data(c, e, dy, w); },
        [&](const eb_cuda_conv_choice *ch) {
            return cudnnConvolutionBackwardData(c->cudnn, &a, e->w_desc, w, e->y_desc, dy, e->conv_desc,
                                                (cudnnConvolutionBwdDataAlgo_t)ch->algo, c->conv_ws, ch->ws, &b,
                                                e->x_desc, dx);
        });
}

eb_status eb_cuda_conv2d_backward_filter(void *ctx, const eb_conv_geom *g, const eb_real *x, const eb_real *dy,
                                         eb_real *dw, eb_real alpha, eb_real beta) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    eb_cuda_conv_entry *e;
    EB_TRY(eb_cuda_conv_entry_get(c, g, &e));
    const float a = alpha, b = beta;
    return eb_conv_run(
        e, EB_CONV_DIR_BWD_FILTER, "backward-filter", [&] { return eb_choose_bwd_filter(c, e, x, dy); },
        [&](const eb_cuda_conv_choice *ch) {
            return cudnnConvolutionBackwardFilter(c->cudnn, &a, e->x_desc, x, e->y_desc, dy, e->conv_desc,
                                                  (cudnnConvolutionBwdFilterAlgo_t)ch->algo, c->conv_ws, ch->ws, &b,
                                                  e->w_desc, dw);
        });
}
