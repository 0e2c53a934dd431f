/* The NCCL communicator: collectives on device buffers on the backend's stream, so they are captured into
 * the training iteration's CUDA graph. Bootstrap (DESIGN.md §4.7, as llm.c): rank 0's unique id by MPI_Bcast
 * under an MPI launcher, else NCCL_COMM_ID (or MASTER_ADDR:MASTER_PORT) makes every rank derive the same id. */
#include "comm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef EB_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include "ebgan/cuda.h"

typedef struct nccl_impl {
    ncclComm_t comm;
    cudaStream_t stream;
    double *host_dev;  /* [64] device staging of host collectives */
    size_t host_cap;
    int used_mpi;
} nccl_impl;

#define NCCL_TRY(call)                                                                                       \
    do {                                                                                                     \
        ncclResult_t r_ = (call);                                                                            \
        if (r_ != ncclSuccess)                                                                               \
            return EB_FAIL(EB_ERR_DEVICE, "%s failed: %s (%s)", #call, ncclGetErrorString(r_),              \
                           ncclGetLastError(NULL));                                                          \
    } while (0)
#define CUDA_TRY(call)                                                                                       \
    do {                                                                                                     \
        cudaError_t e_ = (call);                                                                             \
        if (e_ != cudaSuccess) return EB_FAIL(EB_ERR_DEVICE, "%s failed: %s", #call, cudaGetErrorString(e_)); \
    } while (0)

static ncclDataType_t real_type(void) { return sizeof(eb_real) == sizeof(float) ? ncclFloat32 : ncclFloat64; }

static eb_status nccl_allreduce(eb_comm *c, eb_real *buf, size_t n) {
    nccl_impl *m = c->impl;
    NCCL_TRY(ncclAllReduce(buf, buf, n, real_type(), ncclSum, m->comm, m->stream));
    return EB_OK;
}

static eb_status nccl_allgather(eb_comm *c, const eb_real *send, eb_real *recv, size_t n) {
    nccl_impl *m = c->impl;
    NCCL_TRY(ncclAllGather(send, recv, n, real_type(), m->comm, m->stream));
    return EB_OK;
}

/* Host values through a small device buffer, synchronously (logging and checks only, never in a capture). */
static eb_status nccl_host_allreduce(eb_comm *c, double *buf, size_t n, eb_comm_op op) {
    nccl_impl *m = c->impl;
    ncclRedOp_t o = op == EB_COMM_MIN ? ncclMin : op == EB_COMM_MAX ? ncclMax : ncclSum;
    for (size_t i = 0; i < n; i += m->host_cap) {
        size_t k = n - i < m->host_cap ? n - i : m->host_cap;
        CUDA_TRY(cudaMemcpyAsync(m->host_dev, buf + i, k * sizeof(double), cudaMemcpyHostToDevice, m->stream));
        NCCL_TRY(ncclAllReduce(m->host_dev, m->host_dev, k, ncclFloat64, o, m->comm, m->stream));
        CUDA_TRY(cudaMemcpyAsync(buf + i, m->host_dev, k * sizeof(double), cudaMemcpyDeviceToHost, m->stream));
        CUDA_TRY(cudaStreamSynchronize(m->stream));
    }
    return EB_OK;
}

static eb_status nccl_host_bcast(eb_comm *c, void *buf, size_t bytes, int root) {
    nccl_impl *m = c->impl;
    const size_t cap = m->host_cap * sizeof(double);
    for (size_t i = 0; i < bytes; i += cap) {
        size_t k = bytes - i < cap ? bytes - i : cap;
        CUDA_TRY(cudaMemcpyAsync(m->host_dev, (char *)buf + i, k, cudaMemcpyHostToDevice, m->stream));
        NCCL_TRY(ncclBroadcast(m->host_dev, m->host_dev, k, ncclChar, root, m->comm, m->stream));
        CUDA_TRY(cudaMemcpyAsync((char *)buf + i, m->host_dev, k, cudaMemcpyDeviceToHost, m->stream));
        CUDA_TRY(cudaStreamSynchronize(m->stream));
    }
    return EB_OK;
}

static void nccl_abort(eb_comm *c, int code) {
    nccl_impl *m = c->impl;
    fflush(stdout);
    fflush(stderr);
    if (m && m->comm) ncclCommAbort(m->comm);
    _Exit(code); /* the launcher (srun -K, mpirun) ends the other ranks */
}

static void nccl_close(eb_comm *c) {
    nccl_impl *m = c->impl;
    if (!m) return;
    if (m->comm) ncclCommDestroy(m->comm);
    if (m->host_dev) cudaFree(m->host_dev);
#ifdef EB_HAVE_MPI
    if (m->used_mpi) eb_comm_mpi_finalize();
#endif
    free(m);
    c->impl = NULL;
}

static const eb_comm_ops g_nccl_ops = {nccl_allreduce, nccl_allgather, nccl_host_allreduce, nccl_host_bcast,
                                       nccl_abort, nccl_close};

static eb_status bootstrap_id(const eb_ranks *r, ncclUniqueId *id, int *used_mpi) {
    *used_mpi = 0;
    if (eb_comm_launched_by_mpi()) {
#ifdef EB_HAVE_MPI
        int rank = 0, size = 1;
        EB_TRY(eb_comm_mpi_init(&rank, &size));
        if (rank != r->rank || size != r->world)
            return EB_FAIL(EB_ERR_ARG, "MPI says rank %d of %d but the layout (from %s) is rank %d of %d", rank,
                           size, r->source, r->rank, r->world);
        *used_mpi = 1;
        if (rank == 0) NCCL_TRY(ncclGetUniqueId(id));
        if (eb_comm_mpi_bcast_bytes(id, (int)sizeof *id, 0))
            return EB_FAIL(EB_ERR_DEVICE, "MPI_Bcast of the NCCL unique id failed");
        return EB_OK;
#endif
    }
    if (r->world == 1) { /* nothing to exchange */
        NCCL_TRY(ncclGetUniqueId(id));
        return EB_OK;
    }
    /* NCCL_COMM_ID=host:port makes ncclGetUniqueId return the same id on every rank (DESIGN.md §4.7) */
    if (!getenv("NCCL_COMM_ID")) {
        const char *addr = getenv("MASTER_ADDR"), *port = getenv("MASTER_PORT");
        if (!addr || !port)
            return EB_FAIL(EB_ERR_ARG, "NCCL bootstrap: launch under mpirun / srun --mpi=pmix, or set NCCL_COMM_ID "
                                       "or MASTER_ADDR and MASTER_PORT (scripts/slurm/train.sbatch does)");
        char v[300];
        snprintf(v, sizeof v, "%s:%s", addr, port);
        setenv("NCCL_COMM_ID", v, 1);
    }
    NCCL_TRY(ncclGetUniqueId(id));
    return EB_OK;
}

eb_status eb_comm_nccl_open(eb_comm *c, const eb_ranks *r, const eb_backend *be) {
    nccl_impl *m = calloc(1, sizeof *m);
    if (!m) return EB_FAIL(EB_ERR_OOM, "NCCL communicator");
    m->stream = (cudaStream_t)eb_cuda_stream(be);
    m->host_cap = 64;
    ncclUniqueId id;
    eb_status st = bootstrap_id(r, &id, &m->used_mpi);
    if (st == EB_OK && cudaMalloc((void **)&m->host_dev, m->host_cap * sizeof(double)) != cudaSuccess)
        st = EB_FAIL(EB_ERR_OOM, "NCCL communicator: %zu bytes of device staging", m->host_cap * sizeof(double));
    if (st == EB_OK) {
        ncclResult_t rc = ncclCommInitRank(&m->comm, r->world, id, r->rank);
        if (rc != ncclSuccess)
            st = EB_FAIL(EB_ERR_DEVICE, "ncclCommInitRank(rank %d of %d) failed: %s", r->rank, r->world,
                         ncclGetErrorString(rc));
    }
    c->kind = EB_COMM_NCCL;
    c->rank = r->rank;
    c->world = r->world;
    c->local_rank = r->local_rank;
    c->ops = &g_nccl_ops;
    c->impl = m;
    if (st != EB_OK) eb_comm_close(c);
    return st;
}

#else

eb_status eb_comm_nccl_open(eb_comm *c, const eb_ranks *r, const eb_backend *be) {
    return EB_FAIL(EB_ERR_UNSUPPORTED, "%d ranks on the CUDA backend need NCCL, and this build has none "
                                       "(it comes with the CUDA toolkit: libnccl)", r->world);
}

#endif
