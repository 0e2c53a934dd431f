/* CPU backend memory: device memory is host memory, so upload/download/copy are memcpy and sync is a
 * no-op. Buffers are EB_TENSOR_ALIGN_BYTES (256) aligned, as cudaMalloc's, so both backends see one layout. */
#include "cpu_ops.h"
#include "ebgan/align.h"

#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#define EB_CPU_ALIGN_BYTES EB_TENSOR_ALIGN_BYTES

eb_status eb_cpu_mem_alloc(void *ctx, void **ptr, size_t bytes) {
    (void)ctx;
    *ptr = NULL;
    /* aligned_alloc needs a size that is a multiple of the alignment (and > 0 to return a pointer). */
    size_t rounded = bytes == 0 ? EB_CPU_ALIGN_BYTES
                                : (bytes + EB_CPU_ALIGN_BYTES - 1) / EB_CPU_ALIGN_BYTES * EB_CPU_ALIGN_BYTES;
    if (rounded < bytes) return EB_FAIL(EB_ERR_OOM, "CPU mem_alloc: %zu bytes asked overflows size_t", bytes);
    void *p = aligned_alloc(EB_CPU_ALIGN_BYTES, rounded);
    if (!p) return EB_FAIL(EB_ERR_OOM, "CPU mem_alloc: cannot allocate %zu bytes of host memory", bytes);
    *ptr = p;
    return EB_OK;
}

void eb_cpu_mem_free(void *ctx, void *ptr) {
    if (ctx && ptr) eb_cpu_frozen_release(ctx, ptr);
    free(ptr);
}

eb_status eb_cpu_mem_upload(void *ctx, void *dst, const void *src_host, size_t bytes) {
    (void)ctx;
    if (bytes) memcpy(dst, src_host, bytes);
    return EB_OK;
}

eb_status eb_cpu_mem_download(void *ctx, void *dst_host, const void *src, size_t bytes) {
    (void)ctx;
    if (bytes) memcpy(dst_host, src, bytes);
    return EB_OK;
}

eb_status eb_cpu_mem_copy(void *ctx, void *dst, const void *src, size_t bytes) {
    (void)ctx;
    /* The op's contract (ops.h): no overlap, as cudaMemcpyAsync requires; a caller that overlaps would work
     * here and corrupt data on the GPU, so the CPU reference refuses it. */
    const uintptr_t d = (uintptr_t)dst, s = (uintptr_t)src;
    if (bytes && d < s + bytes && s < d + bytes)
        return EB_FAIL(EB_ERR_ARG, "mem_copy: the %zu-byte ranges at %p and %p overlap (the op's ranges must not)",
                       bytes, dst, src);
    if (bytes) memcpy(dst, src, bytes);
    return EB_OK;
}

eb_status eb_cpu_sync(void *ctx) {
    (void)ctx; /* every CPU op has completed when it returns */
    return EB_OK;
}
