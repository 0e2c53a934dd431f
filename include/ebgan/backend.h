/* Backend selection: the CPU backend is always built; CUDA when the toolkit was found at build time
 * and a usable GPU is present at run time. No GPU means zero CUDA devices, never an abort. */
#ifndef EBGAN_BACKEND_H
#define EBGAN_BACKEND_H

#include <stddef.h>

#include "ebgan/ops.h"

typedef enum eb_backend_kind { EB_BACKEND_AUTO = 0, EB_BACKEND_CPU, EB_BACKEND_CUDA } eb_backend_kind;

/* The CPU reference (src/kernels/cpu/). ctx holds its scratch buffer and the frozen weights' forms. */
eb_status eb_cpu_backend_init(eb_backend *be);
void eb_cpu_backend_free(eb_backend *be);

/* Number of usable CUDA devices (0 in a CPU-only build, without a driver, or without a GPU). */
int eb_cuda_device_count(void);
/* The same, and when it is 0, why (NUL-terminated in why, at most why_bytes): the CUDA runtime's error name
 * and string with the driver's and the runtime's CUDA versions, the devices' compute capabilities below 7.5,
 * or that the build has no CUDA backend. A driver/runtime mismatch and a missing device read differently. */
int eb_cuda_devices(char *why, size_t why_bytes);
/* CUDA versions as 1000 * major + 10 * minor: what the driver supports and what the runtime linked is
 * (0 for no driver, or in a build without CUDA). */
void eb_cuda_versions(int *driver, int *runtime);
/* Device d's name (NUL-terminated, at most name_bytes), compute capability and memory (bytes); EB_ERR_DEVICE
 * naming the runtime's error when it cannot be read, EB_ERR_UNSUPPORTED in a build without CUDA. */
eb_status eb_cuda_device_info(int d, char *name, size_t name_bytes, int *cc_major, int *cc_minor, size_t *mem_bytes);
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
