/* safetensors files (checkpoints): write named host tensors + string metadata atomically; read them back
 * with full validation. Layout: u64 LE header length N, N bytes of JSON header, then the data buffer. */
#ifndef EBGAN_SAFETENSORS_H
#define EBGAN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "ebgan/status.h"
#include "ebgan/tensor.h"

/* safetensors dtypes. The writer accepts F32, F64, I32, U8, I64 (what checkpoints need); the reader
 * knows every dtype name the format defines so that files from PyTorch list and validate too. */
typedef enum eb_st_dtype {
    EB_ST_F32 = 0, EB_ST_F64, EB_ST_I32, EB_ST_U8, EB_ST_I64,
    EB_ST_BOOL, EB_ST_I8, EB_ST_I16, EB_ST_U16, EB_ST_F16, EB_ST_BF16, EB_ST_U32, EB_ST_U64,
    EB_ST_F8_E4M3, EB_ST_F8_E5M2,
    EB_ST_DTYPE_COUNT
} eb_st_dtype;

const char *eb_st_dtype_name(eb_st_dtype t);  /* "F32", ... */
size_t eb_st_dtype_size(eb_st_dtype t);       /* bytes per element */
/* The safetensors dtype of a tensor.h dtype (EB_F32 -> EB_ST_F32, ...). */
eb_st_dtype eb_st_dtype_from_tensor(eb_dtype t);

#define EB_ST_MAX_DIMS 8
#define EB_ST_MAX_HEADER (100u * 1000u * 1000u) /* bytes; the reference implementation's limit */

/* One tensor to write: host memory, row-major, numel * dtype-size bytes. */
typedef struct eb_st_entry {
    const char *name;
    eb_st_dtype dtype;
    int ndim;                         /* 0 .. EB_ST_MAX_DIMS (0: a scalar) */
    int64_t shape[EB_ST_MAX_DIMS];
    const void *data;                 /* may be NULL only when numel == 0 */
} eb_st_entry;

typedef struct eb_st_meta {
    const char *key;
    const char *value;
} eb_st_meta;

/* Writes tensors[0..n) in the given order (offsets relative to the data buffer, contiguous) and the
 * metadata as "__metadata__", atomically (atomic_file.h). Put 8-byte dtypes first if consumers map the
 * file: the format has no padding between tensors, so alignment follows from the order.
 * EB_ERR_ARG: bad name (empty, "__metadata__", duplicate, invalid UTF-8), dtype or shape; EB_ERR_IO. */
eb_status eb_safetensors_write(const char *path, const eb_st_entry *tensors, int n_tensors,
                               const eb_st_meta *meta, int n_meta);

/* One tensor as listed in a file's header. */
typedef struct eb_st_info {
    const char *name;                 /* points into the reader's storage */
    eb_st_dtype dtype;
    int ndim;
    int64_t shape[EB_ST_MAX_DIMS];
    uint64_t begin, end;              /* bytes, relative to the start of the data buffer */
} eb_st_info;

/* An open, validated file. Tensor data is read on demand with pread (checkpoints can be large). */
typedef struct eb_safetensors {
    int fd;
    char path[4096];
    char *strings;                    /* decoded names/keys/values (one allocation) */
    eb_st_info *tensors;              /* in header order */
    int n_tensors;
    const char **meta_keys, **meta_values;
    int n_meta;
    uint64_t data_start;              /* file offset of the data buffer: 8 + N */
    uint64_t data_bytes;
} eb_safetensors;

/* Opens and validates: header length sane and within the file, JSON of exactly the safetensors shape,
 * known dtypes, offsets in bounds, contiguous, non-overlapping and equal to numel * dtype size, data
 * buffer fully covered, unique names. EB_ERR_IO if unreadable; EB_ERR_FORMAT naming file and problem. */
eb_status eb_safetensors_open(eb_safetensors *st, const char *path);
void eb_safetensors_close(eb_safetensors *st);

int eb_safetensors_count(const eb_safetensors *st);
const eb_st_info *eb_safetensors_at(const eb_safetensors *st, int i);           /* header order */
const eb_st_info *eb_safetensors_find(const eb_safetensors *st, const char *name); /* NULL if absent */

/* Copies tensor `name` into dst after checking it exists and has exactly this dtype and shape:
 * EB_ERR_FORMAT "checkpoint X: tensor U.0.weight has shape [512, 2], model expects [512, 3]" etc.
 * EB_ERR_ARG if dst_bytes is too small. */
eb_status eb_safetensors_get(const eb_safetensors *st, const char *name, eb_st_dtype dtype, int ndim,
                             const int64_t *shape, void *dst, size_t dst_bytes);
/* Copies the raw bytes of a listed tensor (any dtype/shape); dst_bytes >= info->end - info->begin. */
eb_status eb_safetensors_read(const eb_safetensors *st, const eb_st_info *info, void *dst, size_t dst_bytes);

/* Metadata: the value for key, or NULL when absent. */
const char *eb_safetensors_meta(const eb_safetensors *st, const char *key);
int eb_safetensors_meta_count(const eb_safetensors *st);
void eb_safetensors_meta_at(const eb_safetensors *st, int i, const char **key, const char **value);

#endif
