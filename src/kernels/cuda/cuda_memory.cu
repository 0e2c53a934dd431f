/* Device memory of the CUDA backend: allocation (at init only, never in the step), transfers and
 * copies on the backend's stream. Downloads and sync are the only calls that wait for the device. */
#include "cuda_ops.cuh"

eb_status eb_cuda_mem_alloc(void *ctx, void **ptr, size_t bytes) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    *ptr = NULL;
    /* A zero-byte request still gets a distinct valid pointer, as on the CPU backend. */
    cudaError_t e = cudaMalloc(ptr, bytes ? bytes : 256);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        size_t free_b = 0, total_b = 0;
        if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) (void)cudaGetLastError();
        *ptr = NULL;
        return EB_FAIL(EB_ERR_OOM,
                       "cudaMalloc of %zu bytes (%.1f MiB) failed on GPU %d: %s; %zu bytes (%.1f MiB) free of "
                       "%.1f MiB: try a smaller --batch",
                       bytes, bytes / 1048576.0, c->device, cudaGetErrorString(e), free_b, free_b / 1048576.0,
                       total_b / 1048576.0);
    }
    return EB_OK;
}

void eb_cuda_mem_free(void *ctx, void *ptr) {
    (void)ctx;
    /* cudaFree synchronises the device; it runs only at teardown. Its error is dropped (nothing to do). */
    if (ptr && cudaFree(ptr) != cudaSuccess) (void)cudaGetLastError();
}

/* Asynchronous on the stream. From pageable host memory the runtime stages the data before returning,
 * so the caller may reuse src_host at once; from pinned memory src_host must stay unchanged until the
 * next sync (the caller owns that: pinned buffers are used only by the double-buffered data loader). */
eb_status eb_cuda_mem_upload(void *ctx, void *dst, const void *src_host, size_t bytes) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (bytes == 0) return EB_OK;
    EB_CUDA_CHECK(cudaMemcpyAsync(dst, src_host, bytes, cudaMemcpyHostToDevice, c->stream));
    return EB_OK;
}

/* Waits for the stream: the host reads dst_host right after (logging, checkpoints). */
eb_status eb_cuda_mem_download(void *ctx, void *dst_host, const void *src, size_t bytes) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (bytes == 0) return EB_OK;
    EB_CUDA_CHECK(cudaMemcpyAsync(dst_host, src, bytes, cudaMemcpyDeviceToHost, c->stream));
    EB_CUDA_CHECK(cudaStreamSynchronize(c->stream));
    return EB_OK;
}

eb_status eb_cuda_mem_copy(void *ctx, void *dst, const void *src, size_t bytes) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    if (bytes == 0 || dst == src) return EB_OK;
    EB_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream));
    return EB_OK;
}

eb_status eb_cuda_sync(void *ctx) {
    eb_cuda_ctx *c = (eb_cuda_ctx *)ctx;
    EB_CUDA_CHECK(cudaStreamSynchronize(c->stream));
    EB_CUDA_LAUNCHED("(an earlier kernel on the stream)");
    return EB_OK;
}
