/* A tensor is a view: a pointer into memory owned elsewhere (an arena), its shape, dtype and device.
 * Tensors never own memory; arenas do (DESIGN.md §4.3). Layout is row-major, images NCHW. */
#ifndef EBGAN_TENSOR_H
#define EBGAN_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include "ebgan/real.h"

#define EB_MAX_DIMS 4

typedef enum eb_dtype { EB_F32 = 0, EB_F64, EB_BF16, EB_U8, EB_I32 } eb_dtype;
typedef enum eb_device { EB_DEVICE_CPU = 0, EB_DEVICE_CUDA = 1 } eb_device;

typedef struct eb_tensor {
    void *data;                 /* on `device`; not owned */
    int ndim;
    int64_t shape[EB_MAX_DIMS]; /* shape[0] is the batch dimension where there is one */
    eb_dtype dtype;
    eb_device device;
} eb_tensor;

/* dtype of eb_real in this build (EB_F32, or EB_F64 in the oracle build) */
#define EB_REAL_DTYPE (sizeof(eb_real) == 8 ? EB_F64 : EB_F32)

size_t eb_dtype_size(eb_dtype t);       /* bytes per element */
const char *eb_dtype_name(eb_dtype t);  /* "F32", "F64", "BF16", "U8", "I32" (safetensors names) */
int64_t eb_tensor_numel(const eb_tensor *t);
size_t eb_tensor_bytes(const eb_tensor *t);
/* A view of `data` with the given shape (ndim <= 4). */
eb_tensor eb_tensor_view(void *data, eb_dtype dtype, eb_device device, int ndim, const int64_t *shape);

#endif
