/* Backend selection: the CPU backend is always built; CUDA when the toolkit was found at build time
 * and a usable GPU is present at run time. No GPU means zero CUDA devices, never an abort. */
#ifndef EBGAN_BACKEND_H
#define EBGAN_BACKEND_H

#include "ebgan/ops.h"

typedef enum eb_backend_kind { EB_BACKEND_AUTO = 0, EB_BACKEND_CPU, EB_BACKEND_CUDA } eb_backend_kind;

/* The CPU reference (src/kernels/cpu/). ctx holds its scratch buffer and the frozen weights' forms. */
eb_status eb_cpu_backend_init(eb_backend *be);
void eb_cpu_backend_free(eb_backend *be);

/* Number of usable CUDA devices (0 in a CPU-only build, without a driver, or without a GPU). */
int eb_cuda_device_count(void);
/* The CUDA backend on `device` (src/kernels/cuda/); EB_ERR_UNSUPPORTED in a CPU-only build. */
eb_status eb_cuda_backend_init(eb_backend *be, int device);
void eb_cuda_backend_free(eb_backend *be);

/* auto: CUDA when a usable GPU exists, else the CPU (and *notice is set to a one-line reason). */
eb_status eb_backend_open(eb_backend *be, eb_backend_kind kind, const char **notice);
/* The same on GPU `device` modulo the usable devices (a rank passes its local rank: one GPU per process). */
eb_status eb_backend_open_device(eb_backend *be, eb_backend_kind kind, int device, const char **notice);
void eb_backend_close(eb_backend *be);
int eb_backend_is_cuda(const eb_backend *be);

#endif
