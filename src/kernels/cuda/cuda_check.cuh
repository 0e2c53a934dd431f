/* Error checks for CUDA runtime, cuBLAS and cuDNN calls: a failure records EB_ERR_DEVICE naming the call,
 * the library's error string, a hint, file and line, and returns from the enclosing function (never exits). */
#ifndef EBGAN_CUDA_CHECK_CUH
#define EBGAN_CUDA_CHECK_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

extern "C" {
#include "ebgan/status.h"
}

/* One-line hints for the errors a user can act on (the rest get a generic pointer at the driver). */
static inline const char *eb_cuda_hint(cudaError_t e) {
    switch (e) {
    case cudaErrorMemoryAllocation: return "out of device memory: try a smaller --batch";
    case cudaErrorNoDevice: return "no CUDA GPU visible: check CUDA_VISIBLE_DEVICES";
    case cudaErrorInsufficientDriver: return "the NVIDIA driver is older than this CUDA runtime";
    case cudaErrorNoKernelImageForDevice:
        return "no kernel for this GPU: rebuild with CMAKE_CUDA_ARCHITECTURES including its compute capability";
    case cudaErrorIllegalAddress: return "a kernel read or wrote out of bounds: a shape or pointer is wrong";
    case cudaErrorStreamCaptureUnsupported:
    case cudaErrorStreamCaptureInvalidated: return "an operation that cannot be captured ran inside a CUDA graph capture";
    default: return "see the CUDA error above";
    }
}

static inline const char *eb_cudnn_hint(cudnnStatus_t s) {
    switch (s) {
    case CUDNN_STATUS_NOT_SUPPORTED: return "cuDNN has no kernel for this convolution geometry or precision";
    case CUDNN_STATUS_BAD_PARAM: return "inconsistent convolution geometry";
    case CUDNN_STATUS_ALLOC_FAILED: return "out of device memory: try a smaller --batch";
    default: return "see the cuDNN error above";
    }
}

static inline const char *eb_cublas_hint(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_ALLOC_FAILED: return "out of device memory: try a smaller --batch";
    case CUBLAS_STATUS_INVALID_VALUE: return "bad GEMM shape (a dimension is negative or too large)";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "this precision mode is not supported on this GPU";
    default: return "see the cuBLAS error above";
    }
}

/* Each macro evaluates `call` once; on failure it clears a non-sticky CUDA error and returns EB_ERR_DEVICE. */
#define EB_CUDA_CHECK(call)                                                                               \
    do {                                                                                                  \
        cudaError_t eb_ce_ = (call);                                                                      \
        if (eb_ce_ != cudaSuccess) {                                                                      \
            (void)cudaGetLastError();                                                                     \
            return EB_FAIL(EB_ERR_DEVICE, "%s failed: %s (%s)", #call, cudaGetErrorString(eb_ce_),        \
                           eb_cuda_hint(eb_ce_));                                                         \
        }                                                                                                 \
    } while (0)

#define EB_CUBLAS_CHECK(call)                                                                             \
    do {                                                                                                  \
        cublasStatus_t eb_bs_ = (call);                                                                   \
        if (eb_bs_ != CUBLAS_STATUS_SUCCESS)                                                              \
            return EB_FAIL(EB_ERR_DEVICE, "%s failed: %s (%s)", #call, cublasGetStatusString(eb_bs_),     \
                           eb_cublas_hint(eb_bs_));                                                       \
    } while (0)

#define EB_CUDNN_CHECK(call)                                                                              \
    do {                                                                                                  \
        cudnnStatus_t eb_ds_ = (call);                                                                    \
        if (eb_ds_ != CUDNN_STATUS_SUCCESS)                                                               \
            return EB_FAIL(EB_ERR_DEVICE, "%s failed: %s (%s)", #call, cudnnGetErrorString(eb_ds_),       \
                           eb_cudnn_hint(eb_ds_));                                                        \
    } while (0)

/* After a kernel launch: catches bad launch configurations and earlier asynchronous faults
 * without synchronising (cudaGetLastError only reads the error state). */
#define EB_CUDA_LAUNCHED(kernel_name)                                                                     \
    do {                                                                                                  \
        cudaError_t eb_le_ = cudaGetLastError();                                                          \
        if (eb_le_ != cudaSuccess)                                                                        \
            return EB_FAIL(EB_ERR_DEVICE, "launch of %s failed: %s (%s)", kernel_name,                    \
                           cudaGetErrorString(eb_le_), eb_cuda_hint(eb_le_));                             \
    } while (0)

#endif
