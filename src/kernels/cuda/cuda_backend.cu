/* The CUDA backend: its context (device, stream, cuBLAS and cuDNN handles, workspaces, the convolution
 * algorithm cache, precision), the op table, device discovery, and the controls of ebgan/cuda.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nvtx3/nvToolsExt.h>

#include "cuda_ops.cuh"

static const eb_ops g_cuda_ops = {
    .name = "cuda",
    .mem_alloc = eb_cuda_mem_alloc,
    .mem_free = eb_cuda_mem_free,
    .mem_upload = eb_cuda_mem_upload,
    .mem_download = eb_cuda_mem_download,
    .mem_copy = eb_cuda_mem_copy,
    .sync = eb_cuda_sync,
    .fill = eb_cuda_fill,
    .axpby = eb_cuda_axpby,
    .mul = eb_cuda_mul,
    .copy_2d = eb_cuda_copy_2d,
    .gather_rows = eb_cuda_gather_rows,
    .gather_rows_u8 = eb_cuda_gather_rows_u8,
    .lerp_rows = eb_cuda_lerp_rows,
    .reduce_sum = eb_cuda_reduce_sum,
    .row_sqnorm = eb_cuda_row_sqnorm,
    .nonfinite_mark = eb_cuda_nonfinite_mark,
    .rng_normal = eb_cuda_rng_normal,
    .rng_uniform = eb_cuda_rng_uniform,
    .rng_index = eb_cuda_rng_index,
    .rng_perm = eb_cuda_rng_perm,
    .toy_sample = eb_cuda_toy_sample,
    .clock_add = eb_cuda_clock_add,
    .linear_forward = eb_cuda_linear_forward,
    .linear_backward_data = eb_cuda_linear_backward_data,
    .linear_backward_weight = eb_cuda_linear_backward_weight,
    .bias_add = eb_cuda_bias_add,
    .bias_backward = eb_cuda_bias_backward,
    .conv2d_forward = eb_cuda_conv2d_forward,
    .conv2d_backward_data = eb_cuda_conv2d_backward_data,
    .conv2d_backward_filter = eb_cuda_conv2d_backward_filter,
    .act_forward = eb_cuda_act_forward,
    .bias_act_forward = eb_cuda_bias_act_forward,
    .act_backward = eb_cuda_act_backward,
    .act_curvature = eb_cuda_act_curvature,
    .bn_forward_train = eb_cuda_bn_forward_train,
    .bn_forward_infer = eb_cuda_bn_forward_infer,
    .bn_backward_train = eb_cuda_bn_backward_train,
    .bn_tangent_train = eb_cuda_bn_tangent_train,
    .bn_backward_infer = eb_cuda_bn_backward_infer,
    .bn_channel_sums = eb_cuda_bn_channel_sums,
    .bn_forward_global = eb_cuda_bn_forward_global,
    .bn_backward_global = eb_cuda_bn_backward_global,
    .bce_logits = eb_cuda_bce_logits,
    .sqdiff = eb_cuda_sqdiff,
    .penalty_seed = eb_cuda_penalty_seed,
    .softmax_xent = eb_cuda_softmax_xent,
    .mala_propose = eb_cuda_mala_propose,
    .mala_accept = eb_cuda_mala_accept,
    .vera_noise = eb_cuda_vera_noise,
    .vera_post_sample = eb_cuda_vera_post_sample,
    .vera_score = eb_cuda_vera_score,
    .vera_sigma_grad = eb_cuda_vera_sigma_grad,
    .vera_post_seed = eb_cuda_vera_post_seed,
    .vera_post_grad = eb_cuda_vera_post_grad,
    .optim_hyper = eb_cuda_optim_hyper,
    .adam_update = eb_cuda_adam_update,
    .sgd_update = eb_cuda_sgd_update,
};

/* Oldest GPU this build targets (CUDA 13 supports compute capability >= 7.5, DESIGN.md §4). */
#define EB_CUDA_MIN_CC 75

/* "13.0" from a CUDA version number (1000 * major + 10 * minor); "none" for 0 (no driver). */
static void eb_cuda_version_str(int v, char *buf, size_t cap) {
    if (v <= 0) snprintf(buf, cap, "none");
    else snprintf(buf, cap, "%d.%d", v / 1000, v % 1000 / 10);
}

/* Counts the devices of compute capability >= 7.5 and, when there are none, says why in `why` (the runtime's
 * own error name and string, with the driver's and the runtime's CUDA versions, or the devices found and
 * their compute capabilities). A failure is never an error here: zero devices, and the caller says why. */
static int eb_cuda_probe(char *why, size_t cap) {
    int n = 0, drv = 0, rt = 0;
    (void)cudaDriverGetVersion(&drv);
    (void)cudaRuntimeGetVersion(&rt);
    char dv[16], rv[16];
    eb_cuda_version_str(drv, dv, sizeof dv);
    eb_cuda_version_str(rt, rv, sizeof rv);
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(why, cap, "cudaGetDeviceCount: %s (%s); driver supports CUDA %s, runtime is CUDA %s: %s",
                 cudaGetErrorString(e), cudaGetErrorName(e), dv, rv, eb_cuda_hint(e));
        return 0;
    }
    int usable = 0;
    size_t len = (size_t)snprintf(why, cap, "%d CUDA device%s, none of compute capability 7.5 or above:", n,
                                  n == 1 ? "" : "s");
    for (int d = 0; d < n; d++) {
        int major = 0, minor = 0;
        if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, d) != cudaSuccess ||
            cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, d) != cudaSuccess) {
            const cudaError_t ae = cudaGetLastError();
            if (len < cap) len += (size_t)snprintf(why + len, cap - len, " device %d unreadable (%s)", d, cudaGetErrorString(ae));
            continue;
        }
        if (major * 10 + minor >= EB_CUDA_MIN_CC) usable++;
        else if (len < cap) len += (size_t)snprintf(why + len, cap - len, " device %d is %d.%d", d, major, minor);
    }
    if (n == 0) snprintf(why, cap, "the CUDA runtime sees no device (driver supports CUDA %s, runtime is CUDA %s; "
                         "check CUDA_VISIBLE_DEVICES)", dv, rv);
    if (usable) why[0] = '\0';
    return usable;
}

extern "C" int eb_cuda_device_count(void) {
    char why[512];
    return eb_cuda_probe(why, sizeof why);
}

extern "C" int eb_cuda_devices(char *why, size_t why_bytes) {
    char local[8];
    return why && why_bytes ? eb_cuda_probe(why, why_bytes) : eb_cuda_probe(local, sizeof local);
}

extern "C" void eb_cuda_versions(int *driver, int *runtime) {
    *driver = *runtime = 0;
    (void)cudaDriverGetVersion(driver);
    (void)cudaRuntimeGetVersion(runtime);
}

extern "C" eb_status eb_cuda_device_info(int d, char *name, size_t name_bytes, int *cc_major, int *cc_minor,
                                        size_t *mem_bytes) {
    cudaDeviceProp p;
    *cc_major = *cc_minor = 0;
    *mem_bytes = 0;
    EB_CUDA_CHECK(cudaGetDeviceProperties(&p, d));
    if (name && name_bytes) snprintf(name, name_bytes, "%s", p.name);
    *cc_major = p.major;
    *cc_minor = p.minor;
    *mem_bytes = p.totalGlobalMem;
    return EB_OK;
}

/* Frees whatever eb_cuda_ctx_setup managed to create (every field NULL-checked). */
static void eb_cuda_ctx_teardown(eb_cuda_ctx *c) {
    if (c->stream) (void)cudaStreamSynchronize(c->stream);
    eb_cuda_conv_cache_free(c);
    free(c->pinned);
    if (c->cudnn) cudnnDestroy(c->cudnn);
    if (c->cublas) cublasDestroy(c->cublas);
    if (c->conv_ws) cudaFree(c->conv_ws);
    if (c->cublas_ws) cudaFree(c->cublas_ws);
    if (c->partials) cudaFree(c->partials);
    if (c->done_counter) cudaFree(c->done_counter);
    if (c->stream) cudaStreamDestroy(c->stream);
    (void)cudaGetLastError();
    memset(c, 0, sizeof *c);
}

static eb_status eb_cuda_ctx_setup(eb_cuda_ctx *c, int device) {
    c->device = device;
    c->precision = EB_PRECISION_TF32;
    EB_CUDA_CHECK(cudaSetDevice(device));
    EB_CUDA_CHECK(cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, device));
    /* Non-blocking: the legacy default stream never serialises against ours. */
    EB_CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));

    EB_CUBLAS_CHECK(cublasCreate(&c->cublas));
    EB_CUBLAS_CHECK(cublasSetStream(c->cublas, c->stream));
    /* A user workspace: cuBLAS then never allocates on its own, which graph capture requires. */
    EB_TRY(eb_cuda_mem_alloc(c, &c->cublas_ws, EB_CUDA_CUBLAS_WS_BYTES));
    EB_CUBLAS_CHECK(cublasSetWorkspace(c->cublas, c->cublas_ws, EB_CUDA_CUBLAS_WS_BYTES));

    EB_CUDNN_CHECK(cudnnCreate(&c->cudnn));
    EB_CUDNN_CHECK(cudnnSetStream(c->cudnn, c->stream));
    /* The convolution workspace is allocated here, once, with a fixed budget (never inside a step or a
     * capture); algorithms that need more are not chosen. */
    c->conv_ws_bytes = EB_CUDA_CONV_WS_DEFAULT;
    EB_TRY(eb_cuda_mem_alloc(c, &c->conv_ws, c->conv_ws_bytes));

    EB_TRY(eb_cuda_mem_alloc(c, (void **)&c->partials, EB_CUDA_MAX_RED_BLOCKS * sizeof(double)));
    EB_TRY(eb_cuda_mem_alloc(c, (void **)&c->done_counter, sizeof(unsigned int)));
    EB_CUDA_CHECK(cudaMemsetAsync(c->done_counter, 0, sizeof(unsigned int), c->stream));
    EB_CUDA_CHECK(cudaStreamSynchronize(c->stream));
    return EB_OK;
}

extern "C" eb_status eb_cuda_backend_init(eb_backend *be, int device) {
    memset(be, 0, sizeof *be);
    char why[512];
    const int n = eb_cuda_devices(why, sizeof why);
    if (n <= 0) return EB_FAIL(EB_ERR_DEVICE, "CUDA backend: no usable CUDA GPU: %s", why);
    if (device < 0 || device >= n)
        return EB_FAIL(EB_ERR_ARG, "CUDA backend: no device %d (%d usable device%s)", device, n, n == 1 ? "" : "s");
    eb_cuda_ctx *c = (eb_cuda_ctx *)calloc(1, sizeof *c);
    if (!c) return EB_FAIL(EB_ERR_OOM, "CUDA backend: cannot allocate its context");
    eb_status st = eb_cuda_ctx_setup(c, device);
    if (st != EB_OK) {
        eb_cuda_ctx_teardown(c);
        free(c);
        return st;
    }
    be->ops = &g_cuda_ops;
    be->ctx = c;
    return EB_OK;
}

extern "C" void eb_cuda_backend_free(eb_backend *be) {
    if (!be || !be->ctx) return;
    eb_cuda_ctx *c = (eb_cuda_ctx *)be->ctx;
    eb_cuda_ctx_teardown(c);
    free(c);
    be->ctx = NULL;
}

/* ---- ebgan/cuda.h controls ---- */

static eb_cuda_ctx *eb_cuda_ctx_of(const eb_backend *be) {
    return eb_backend_is_cuda(be) && be->ctx ? (eb_cuda_ctx *)be->ctx : NULL;
}

extern "C" eb_status eb_cuda_set_precision(eb_backend *be, eb_cuda_precision p) {
    eb_cuda_ctx *c = eb_cuda_ctx_of(be);
    if (!c) return EB_FAIL(EB_ERR_UNSUPPORTED, "--precision applies to the CUDA backend only (this one is %s)",
                           be && be->ops && be->ops->name ? be->ops->name : "not open");
    if ((int)p < (int)EB_PRECISION_FP32 || (int)p > (int)EB_PRECISION_BF16)
        return EB_FAIL(EB_ERR_ARG, "unknown precision %d (fp32, tf32 or bf16)", (int)p);
    c->precision = p;
    return EB_OK;
}

extern "C" eb_cuda_precision eb_cuda_get_precision(const eb_backend *be) {
    const eb_cuda_ctx *c = eb_cuda_ctx_of(be);
    return c ? c->precision : EB_PRECISION_FP32;
}

extern "C" void *eb_cuda_stream(const eb_backend *be) {
    const eb_cuda_ctx *c = eb_cuda_ctx_of(be);
    return c ? (void *)c->stream : NULL;
}

extern "C" eb_status eb_cuda_mem_info(const eb_backend *be, size_t *free_bytes, size_t *total_bytes) {
    const eb_cuda_ctx *c = eb_cuda_ctx_of(be);
    *free_bytes = *total_bytes = 0;
    if (!c) return EB_FAIL(EB_ERR_UNSUPPORTED, "eb_cuda_mem_info: not a CUDA backend");
    EB_CUDA_CHECK(cudaSetDevice(c->device)); /* cudaMemGetInfo reports the current device */
    EB_CUDA_CHECK(cudaMemGetInfo(free_bytes, total_bytes));
    return EB_OK;
}

extern "C" eb_status eb_cuda_set_conv_algo_mode(eb_backend *be, eb_conv_algo_mode m) {
    eb_cuda_ctx *c = eb_cuda_ctx_of(be);
    if (!c) return EB_FAIL(EB_ERR_UNSUPPORTED, "--conv-algo applies to the CUDA backend only");
    if (m != EB_CONV_ALGO_HEURISTIC && m != EB_CONV_ALGO_SEARCH)
        return EB_FAIL(EB_ERR_ARG, "unknown convolution algorithm mode %d", (int)m);
    c->algo_mode = m;
    return EB_OK;
}

/* "<device name> cudnn <version>": where a record's choices were made. */
static void eb_cuda_algo_env(const eb_cuda_ctx *c, char *buf, size_t cap) {
    cudaDeviceProp prop;
    const char *name = cudaGetDeviceProperties(&prop, c->device) == cudaSuccess ? prop.name : "unknown GPU";
    (void)cudaGetLastError();
    snprintf(buf, cap, "%s cudnn %zu", name, (size_t)cudnnGetVersion());
}

extern "C" char *eb_cuda_conv_algos_export(const eb_backend *be) {
    eb_cuda_ctx *c = eb_cuda_ctx_of(be);
    if (!c) return NULL;
    const int cap = 3 * c->conv_count;
    eb_conv_algo_choice *list = (eb_conv_algo_choice *)calloc((size_t)cap + 1, sizeof *list);
    if (!list) return NULL;
    int n = 0;
    for (int i = 0; i < c->conv_count; i++) {
        const eb_cuda_conv_entry *e = &c->conv_cache[i];
        for (int d = EB_CONV_DIR_FWD; d <= EB_CONV_DIR_BWD_FILTER; d++)
            if (e->dir[d].have) list[n++] = {e->g, (int)e->precision, (eb_conv_dir)d, e->dir[d].algo, (int)e->dir[d].math};
    }
    char env[320];
    eb_cuda_algo_env(c, env, sizeof env);
    const size_t need = eb_conv_algo_format(env, list, n, NULL, 0);
    char *text = (char *)malloc(need + 1);
    if (text) eb_conv_algo_format(env, list, n, text, need + 1);
    free(list);
    return text;
}

extern "C" eb_status eb_cuda_conv_algos_import(eb_backend *be, const char *record) {
    eb_cuda_ctx *c = eb_cuda_ctx_of(be);
    if (!c) return EB_FAIL(EB_ERR_UNSUPPORTED, "cuDNN algorithm records apply to the CUDA backend only");
    int lines = 1;
    for (const char *p = record ? record : ""; *p; p++) lines += *p == '\n';
    eb_conv_algo_choice *list = (eb_conv_algo_choice *)calloc((size_t)lines, sizeof *list);
    if (!list) return EB_FAIL(EB_ERR_OOM, "cuDNN algorithm record: %d lines", lines);
    int n = 0;
    char where[320], here[320];
    eb_status st = eb_conv_algo_parse(record, list, lines, &n, where, sizeof where);
    if (st != EB_OK) {
        free(list);
        return st;
    }
    eb_cuda_algo_env(c, here, sizeof here);
    if (n > 0 && where[0] && strcmp(where, here))
        fprintf(stderr, "warning: the recorded cuDNN algorithms were chosen on '%s', this is '%s': where they do not "
                "apply they are chosen anew, and rounding may differ from the recorded run\n", where, here);
    free(c->pinned);
    c->pinned = list;
    c->pinned_count = n;
    return EB_OK;
}

extern "C" eb_status eb_cuda_set_conv_workspace(eb_backend *be, size_t bytes) {
    eb_cuda_ctx *c = eb_cuda_ctx_of(be);
    if (!c) return EB_FAIL(EB_ERR_UNSUPPORTED, "eb_cuda_set_conv_workspace: not a CUDA backend");
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    EB_CUDA_CHECK(cudaStreamIsCapturing(c->stream, &cs));
    if (cs != cudaStreamCaptureStatusNone)
        return EB_FAIL(EB_ERR_ARG, "eb_cuda_set_conv_workspace: called during a graph capture");
    EB_CUDA_CHECK(cudaStreamSynchronize(c->stream));
    eb_cuda_mem_free(c, c->conv_ws);
    c->conv_ws = NULL;
    c->conv_ws_bytes = 0;
    EB_TRY(eb_cuda_mem_alloc(c, &c->conv_ws, bytes));
    c->conv_ws_bytes = bytes;
    /* The chosen algorithms depended on the old budget: choose again on next use. */
    for (int i = 0; i < c->conv_count; i++)
        for (int d = EB_CONV_DIR_FWD; d <= EB_CONV_DIR_BWD_FILTER; d++) c->conv_cache[i].dir[d].have = 0;
    return EB_OK;
}

/* ---- CUDA graphs of the backend's stream (DESIGN.md §4: one graph per training iteration) ---- */
struct eb_cuda_graph {
    cudaGraphExec_t exec;
};

extern "C" eb_status eb_cuda_graph_begin(eb_backend *be) {
    eb_cuda_ctx *c = eb_cuda_ctx_of(be);
    if (!c) return EB_FAIL(EB_ERR_UNSUPPORTED, "CUDA graphs need the CUDA backend");
    EB_CUDA_CHECK(cudaSetDevice(c->device));
    /* Global mode: a cudaMalloc or a synchronising call anywhere in the process fails the capture, so
     * nothing that cannot be replayed slips into the graph unnoticed. */
    EB_CUDA_CHECK(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeGlobal));
    return EB_OK;
}

extern "C" eb_status eb_cuda_graph_end(eb_backend *be, int ok, eb_cuda_graph **g) {
    eb_cuda_ctx *c = eb_cuda_ctx_of(be);
    *g = NULL;
    if (!c) return EB_FAIL(EB_ERR_UNSUPPORTED, "CUDA graphs need the CUDA backend");
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &graph);
    if (!ok) { /* the caller's op failed while capturing: drop the capture, keep its error */
        if (graph) cudaGraphDestroy(graph);
        (void)cudaGetLastError();
        return EB_OK;
    }
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return EB_FAIL(EB_ERR_DEVICE, "cudaStreamEndCapture: %s (something in the iteration cannot be captured; "
                       "run with --cuda-graph off and report it)", cudaGetErrorString(e));
    }
    cudaGraphExec_t exec = NULL;
    e = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return EB_FAIL(EB_ERR_DEVICE, "cudaGraphInstantiate: %s (try --cuda-graph off)", cudaGetErrorString(e));
    }
    eb_cuda_graph *r = (eb_cuda_graph *)calloc(1, sizeof *r);
    if (!r) {
        cudaGraphExecDestroy(exec);
        return EB_FAIL(EB_ERR_OOM, "CUDA graph: host handle");
    }
    r->exec = exec;
    *g = r;
    return EB_OK;
}

extern "C" eb_status eb_cuda_graph_launch(eb_backend *be, eb_cuda_graph *g) {
    eb_cuda_ctx *c = eb_cuda_ctx_of(be);
    if (!c || !g) return EB_FAIL(EB_ERR_ARG, "eb_cuda_graph_launch: no CUDA backend or no graph");
    EB_CUDA_CHECK(cudaGraphLaunch(g->exec, c->stream));
    return EB_OK;
}

extern "C" void eb_cuda_graph_free(eb_cuda_graph *g) {
    if (!g) return;
    cudaGraphExecDestroy(g->exec);
    free(g);
}

extern "C" void eb_nvtx_push(const char *name) { nvtxRangePushA(name); }
extern "C" void eb_nvtx_pop(void) { nvtxRangePop(); }
