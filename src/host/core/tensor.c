/* Tensor views: sizes and names of dtypes, element counts.
 * Memory is owned by arenas; a tensor only describes it. */
#include "ebgan/tensor.h"

size_t eb_dtype_size(eb_dtype t) {
    switch (t) {
    case EB_F32: return 4;
    case EB_F64: return 8;
    case EB_BF16: return 2;
    case EB_U8: return 1;
    case EB_I32: return 4;
    }
    return 0;
}

const char *eb_dtype_name(eb_dtype t) {
    switch (t) {
    case EB_F32: return "F32";
    case EB_F64: return "F64";
    case EB_BF16: return "BF16";
    case EB_U8: return "U8";
    case EB_I32: return "I32";
    }
    return "?";
}

int64_t eb_tensor_numel(const eb_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t eb_tensor_bytes(const eb_tensor *t) { return (size_t)eb_tensor_numel(t) * eb_dtype_size(t->dtype); }

eb_tensor eb_tensor_view(void *data, eb_dtype dtype, eb_device device, int ndim, const int64_t *shape) {
    eb_tensor t = {0};
    t.data = data;
    t.dtype = dtype;
    t.device = device;
    t.ndim = ndim < 0 ? 0 : ndim > EB_MAX_DIMS ? EB_MAX_DIMS : ndim;
    for (int i = 0; i < t.ndim; i++) t.shape[i] = shape[i];
    return t;
}
