/* Alignment of every tensor an op receives: parameters, gradients, buffers, optimiser moments and
 * workspace slots all start on 256-byte boundaries, on every backend (DESIGN.md §4: one layout). */
#ifndef EBGAN_ALIGN_H
#define EBGAN_ALIGN_H

#include <stddef.h>
#include "ebgan/real.h"

/* 256 bytes: what cudaMalloc returns, and what cuBLAS / cuDNN vectorised and tensor-core kernels want of
 * every operand (a 4-byte-aligned weight gradient can make them fall back or refuse). */
#define EB_TENSOR_ALIGN_BYTES 256
#define EB_TENSOR_ALIGN_ELEMS (EB_TENSOR_ALIGN_BYTES / sizeof(eb_real))

/* `elems` rounded up to a whole number of alignment units (0 stays 0). */
static inline size_t eb_align_elems(size_t elems) {
    return (elems + EB_TENSOR_ALIGN_ELEMS - 1) / EB_TENSOR_ALIGN_ELEMS * EB_TENSOR_ALIGN_ELEMS;
}

#endif
