/* Picks the backend at run time: CUDA when built and a usable GPU exists, else the CPU reference.
 * In a build without CUDA the CUDA entry points report zero devices instead of failing to link. */
#include "ebgan/backend.h"

#include <string.h>

#ifndef EB_HAVE_CUDA
int eb_cuda_device_count(void) { return 0; }
eb_status eb_cuda_backend_init(eb_backend *be, int device) {
    (void)device;
    memset(be, 0, sizeof *be);
    return EB_FAIL(EB_ERR_UNSUPPORTED, "this build has no CUDA backend (configure with the CUDA toolkit present)");
}
void eb_cuda_backend_free(eb_backend *be) { (void)be; }
#endif

eb_status eb_backend_open(eb_backend *be, eb_backend_kind kind, const char **notice) {
    return eb_backend_open_device(be, kind, 0, notice);
}

eb_status eb_backend_open_device(eb_backend *be, eb_backend_kind kind, int device, const char **notice) {
    if (notice) *notice = NULL;
    if (kind == EB_BACKEND_CPU) return eb_cpu_backend_init(be);
    const int n_dev = eb_cuda_device_count();
    if (device < 0) device = 0;
    if (n_dev > 0) device %= n_dev;
    if (kind == EB_BACKEND_CUDA) {
        if (n_dev <= 0)
#ifdef EB_HAVE_CUDA
            return EB_FAIL(EB_ERR_DEVICE, "--device cuda: no usable CUDA GPU found (driver missing or no device)");
#else
            return EB_FAIL(EB_ERR_UNSUPPORTED, "--device cuda: this build has no CUDA backend");
#endif
        return eb_cuda_backend_init(be, device);
    }
    if (n_dev > 0) {
        eb_status st = eb_cuda_backend_init(be, device);
        if (st == EB_OK) return EB_OK;
        if (notice) *notice = "CUDA backend failed to start; using the CPU";
        return eb_cpu_backend_init(be);
    }
    if (notice)
#ifdef EB_HAVE_CUDA
        *notice = "no usable CUDA GPU found; running on the CPU";
#else
        *notice = "built without CUDA; running on the CPU";
#endif
    return eb_cpu_backend_init(be);
}

void eb_backend_close(eb_backend *be) {
    if (!be || !be->ops) return;
    if (eb_backend_is_cuda(be)) eb_cuda_backend_free(be);
    else eb_cpu_backend_free(be);
    memset(be, 0, sizeof *be);
}

int eb_backend_is_cuda(const eb_backend *be) {
    return be && be->ops && be->ops->name && strcmp(be->ops->name, "cuda") == 0;
}
