/* Picks the backend at run time: CUDA when built and a usable GPU exists, else the CPU reference.
 * In a build without CUDA the CUDA entry points report zero devices instead of failing to link. */
#include "ebgan/backend.h"

#include <stdio.h>
#include <string.h>

#ifndef EB_HAVE_CUDA
int eb_cuda_device_count(void) { return 0; }
int eb_cuda_devices(char *why, size_t why_bytes) {
    if (why && why_bytes) snprintf(why, why_bytes, "this build has no CUDA backend");
    return 0;
}
void eb_cuda_versions(int *driver, int *runtime) { *driver = *runtime = 0; }
eb_status eb_cuda_device_info(int d, char *name, size_t name_bytes, int *cc_major, int *cc_minor, size_t *mem_bytes) {
    (void)d;
    if (name && name_bytes) name[0] = '\0';
    *cc_major = *cc_minor = 0;
    *mem_bytes = 0;
    return EB_FAIL(EB_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
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
    /* the reason stays readable after the call: the auto notice points at it */
    static _Thread_local char why[512];
    const int n_dev = eb_cuda_devices(why, sizeof why);
    if (device < 0) device = 0;
    if (n_dev > 0) device %= n_dev;
    if (kind == EB_BACKEND_CUDA) {
        if (n_dev <= 0)
#ifdef EB_HAVE_CUDA
            return EB_FAIL(EB_ERR_DEVICE, "--device cuda: no usable CUDA GPU: %s", why);
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
    {
        static _Thread_local char msg[600];
        snprintf(msg, sizeof msg, "no usable CUDA GPU (%s); running on the CPU", why);
        *notice = msg;
    }
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
