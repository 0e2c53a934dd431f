/* CUDA-only controls of the CUDA backend: arithmetic precision of GEMMs and convolutions, its stream (for
 * CUDA-graph capture), its cuDNN workspace, and NVTX ranges (DESIGN.md §4). Safe to call in any build:
 * without CUDA the controls report EB_ERR_UNSUPPORTED and the NVTX helpers do nothing. */
#ifndef EBGAN_CUDA_H
#define EBGAN_CUDA_H

#include <stddef.h>
#include "ebgan/backend.h"
#include "ebgan/conv_algo.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Precision of matrix products (linear layers, cuBLAS) and convolutions (cuDNN). Storage and every
 * other op stay float32 in all modes.
 *   fp32: strict float32 (cuBLAS CUBLAS_COMPUTE_32F; cuDNN CUDNN_FMA_MATH, i.e. no tensor cores;
 *         note cuDNN's DEFAULT_MATH would allow TF32 on Ampere and later, so it is not used here).
 *   tf32: the default. Inputs rounded to TF32 (10-bit mantissa) inside the tensor cores, float32
 *         accumulation (cuBLAS CUBLAS_COMPUTE_32F_FAST_TF32; cuDNN CUDNN_DEFAULT_MATH, which permits
 *         TF32 for float tensors on Ampere and later, as PyTorch's allow_tf32).
 *   bf16: GEMMs with inputs rounded to bfloat16 on the fly and float32 accumulation
 *         (CUBLAS_COMPUTE_32F_FAST_16BF); convolutions run as in tf32 (cuDNN's legacy API has no
 *         bf16 down-conversion for float tensors; ALLOW_CONVERSION would go to fp16, whose range is
 *         too small for gradients). */
typedef enum eb_cuda_precision {
    EB_PRECISION_FP32 = 0,
    EB_PRECISION_TF32,
    EB_PRECISION_BF16
} eb_cuda_precision;

/* "fp32", "tf32", "bf16" */
const char *eb_cuda_precision_name(eb_cuda_precision p);
/* Parses a name above; EB_ERR_ARG (naming the accepted values) otherwise. */
eb_status eb_cuda_precision_parse(const char *s, eb_cuda_precision *p);

/* Set / read the precision of a CUDA backend (default tf32). Setting it is cheap (host-only); the
 * convolution algorithm cache is keyed by precision, so the first call per geometry after a change picks
 * again. Set: EB_ERR_UNSUPPORTED if `be` is not a CUDA backend. Get: fp32 for any other backend. */
eb_status eb_cuda_set_precision(eb_backend *be, eb_cuda_precision p);
eb_cuda_precision eb_cuda_get_precision(const eb_backend *be);

/* The backend's stream (a cudaStream_t) for graph capture (cudaStreamBeginCapture on it, then run the
 * ops); NULL if `be` is not a CUDA backend. Capture only after a warm-up iteration: the first use of each
 * convolution geometry chooses its algorithm with cudnnFind* (which synchronises and allocates); inside a
 * capture the heuristic cudnnGet*_v7 is used instead. */
void *eb_cuda_stream(const eb_backend *be);

/* A captured and instantiated CUDA graph (cudaGraphExec_t) of work issued on the backend's stream.
 * begin: start capturing the stream (cudaStreamCaptureModeGlobal, so an allocation or a synchronising call
 * anywhere fails the capture instead of slipping into it); nothing runs until a launch.
 * end: stop capturing and instantiate; `ok` == 0 (e.g. an op failed while capturing) discards the capture
 * and returns EB_OK with *g = NULL, so the caller can report its own error.
 * launch: enqueue one replay on the stream (asynchronous). All: EB_ERR_UNSUPPORTED on a non-CUDA backend. */
typedef struct eb_cuda_graph eb_cuda_graph;
eb_status eb_cuda_graph_begin(eb_backend *be);
eb_status eb_cuda_graph_end(eb_backend *be, int ok, eb_cuda_graph **g);
eb_status eb_cuda_graph_launch(eb_backend *be, eb_cuda_graph *g);
void eb_cuda_graph_free(eb_cuda_graph *g);

/* Replace the cuDNN workspace with one of `bytes` (default 256 MiB, allocated at init) and forget the
 * chosen convolution algorithms. Not during a capture. */
eb_status eb_cuda_set_conv_workspace(eb_backend *be, size_t bytes);

/* How convolution algorithms are chosen on a geometry's first use (conv_algo.h): heuristic (default,
 * reproducible across processes) or search (cudnnFind*Ex timings inside the project's workspace). Takes
 * effect for geometries not chosen yet. EB_ERR_UNSUPPORTED if `be` is not a CUDA backend. */
eb_status eb_cuda_set_conv_algo_mode(eb_backend *be, eb_conv_algo_mode m);

/* The algorithms chosen so far, as conv_algo.h's text record whose first line names the device and the
 * cuDNN version; malloc'd (caller frees). NULL on a non-CUDA backend or when memory runs out. */
char *eb_cuda_conv_algos_export(const eb_backend *be);

/* Pin recorded choices (a resume): a geometry found in the record uses its algorithm instead of choosing,
 * as long as cuDNN accepts it within the workspace (otherwise it is chosen anew, with a warning on stderr;
 * also a warning when the record comes from another device or cuDNN version). EB_ERR_FORMAT on a malformed
 * record; EB_ERR_UNSUPPORTED on a non-CUDA backend. */
eb_status eb_cuda_conv_algos_import(eb_backend *be, const char *record);

/* Free and total memory (bytes) of the backend's GPU (cudaMemGetInfo), for sizing work such as MALA chunks
 * from what is free. EB_ERR_UNSUPPORTED if `be` is not a CUDA backend. */
eb_status eb_cuda_mem_info(const eb_backend *be, size_t *free_bytes, size_t *total_bytes);

/* NVTX ranges around phases (U step, G step, penalty, MALA, data): visible in Nsight Systems.
 * Must nest (push/pop on the same thread). No-ops in a CPU-only build. */
void eb_nvtx_push(const char *name);
void eb_nvtx_pop(void);

#ifdef __cplusplus
}
#endif

#endif
