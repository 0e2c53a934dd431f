/* Names of the CUDA precision modes (any build) and, in a build without CUDA, the ebgan/cuda.h controls
 * as inert fallbacks: the CLI may call them unconditionally. The CUDA versions are in cuda_backend.cu. */
#include "ebgan/cuda.h"

#include <string.h>

const char *eb_cuda_precision_name(eb_cuda_precision p) {
    switch (p) {
    case EB_PRECISION_FP32: return "fp32";
    case EB_PRECISION_TF32: return "tf32";
    case EB_PRECISION_BF16: return "bf16";
    }
    return "unknown";
}

eb_status eb_cuda_precision_parse(const char *s, eb_cuda_precision *p) {
    static const eb_cuda_precision all[] = {EB_PRECISION_FP32, EB_PRECISION_TF32, EB_PRECISION_BF16};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(s, eb_cuda_precision_name(all[i])) == 0) {
            *p = all[i];
            return EB_OK;
        }
    return EB_FAIL(EB_ERR_ARG, "unknown precision '%s' (expected fp32, tf32 or bf16)", s ? s : "");
}

#ifndef EB_HAVE_CUDA
eb_status eb_cuda_set_precision(eb_backend *be, eb_cuda_precision p) {
    (void)be;
    (void)p;
    return EB_FAIL(EB_ERR_UNSUPPORTED, "--precision applies to the CUDA backend, which this build does not have");
}
eb_cuda_precision eb_cuda_get_precision(const eb_backend *be) {
    (void)be;
    return EB_PRECISION_FP32;
}
void *eb_cuda_stream(const eb_backend *be) {
    (void)be;
    return NULL;
}
eb_status eb_cuda_set_conv_workspace(eb_backend *be, size_t bytes) {
    (void)be;
    (void)bytes;
    return EB_FAIL(EB_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
eb_status eb_cuda_set_conv_algo_mode(eb_backend *be, eb_conv_algo_mode m) {
    (void)be;
    (void)m;
    return EB_FAIL(EB_ERR_UNSUPPORTED, "--conv-algo applies to the CUDA backend, which this build does not have");
}
char *eb_cuda_conv_algos_export(const eb_backend *be) {
    (void)be;
    return NULL;
}
eb_status eb_cuda_conv_algos_import(eb_backend *be, const char *record) {
    (void)be;
    (void)record;
    return EB_FAIL(EB_ERR_UNSUPPORTED, "cuDNN algorithm records need the CUDA backend, which this build does not have");
}
eb_status eb_cuda_mem_info(const eb_backend *be, size_t *free_bytes, size_t *total_bytes) {
    (void)be;
    *free_bytes = *total_bytes = 0;
    return EB_FAIL(EB_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
eb_status eb_cuda_graph_begin(eb_backend *be) {
    (void)be;
    return EB_FAIL(EB_ERR_UNSUPPORTED, "CUDA graphs need the CUDA backend, which this build does not have");
}
eb_status eb_cuda_graph_end(eb_backend *be, int ok, eb_cuda_graph **g) {
    (void)be;
    (void)ok;
    *g = NULL;
    return EB_FAIL(EB_ERR_UNSUPPORTED, "CUDA graphs need the CUDA backend, which this build does not have");
}
eb_status eb_cuda_graph_launch(eb_backend *be, eb_cuda_graph *g) {
    (void)be;
    (void)g;
    return EB_FAIL(EB_ERR_UNSUPPORTED, "CUDA graphs need the CUDA backend, which this build does not have");
}
void eb_cuda_graph_free(eb_cuda_graph *g) { (void)g; }
void eb_nvtx_push(const char *name) { (void)name; }
void eb_nvtx_pop(void) {}
#endif
