/* Collectives of a data-parallel job behind one interface with three implementations: a single process
 * (no-op), MPI (host buffers: the CPU backend) and NCCL (device buffers: the CUDA backend, capturable in a
 * CUDA graph). Library code calls them through the table, so the float64 oracle links without them. */
#ifndef EBGAN_COMM_H
#define EBGAN_COMM_H

#include <stddef.h>
#include "ebgan/backend.h"
#include "ebgan/ranks.h"
#include "ebgan/real.h"
#include "ebgan/status.h"

typedef enum eb_comm_kind { EB_COMM_SINGLE = 0, EB_COMM_MPI, EB_COMM_NCCL } eb_comm_kind;
typedef enum eb_comm_op { EB_COMM_SUM = 0, EB_COMM_MIN, EB_COMM_MAX } eb_comm_op;

typedef struct eb_comm eb_comm;

typedef struct eb_comm_ops {
    /* buf[n] (backend memory) = its sum over ranks, in place; every rank gets the same bits */
    eb_status (*allreduce_sum)(eb_comm *c, eb_real *buf, size_t n);
    /* recv[world * n] (backend memory) = every rank's send[n], rank order */
    eb_status (*allgather)(eb_comm *c, const eb_real *send, eb_real *recv, size_t n);
    /* host buffers, synchronous: buf[n] = op over ranks; bcast: rank root's bytes to every rank */
    eb_status (*host_allreduce)(eb_comm *c, double *buf, size_t n, eb_comm_op op);
    eb_status (*host_bcast)(eb_comm *c, void *buf, size_t bytes, int root);
    /* ends every rank of the job now (a rank that failed must not leave the others waiting) */
    void (*abort)(eb_comm *c, int code);
    void (*close)(eb_comm *c);
} eb_comm_ops;

struct eb_comm {
    eb_comm_kind kind;
    int rank, world, local_rank;
    const eb_comm_ops *ops;
    void *impl;
};

/* kind: "auto" (one rank: single; CUDA backend: NCCL; else MPI), "none" (must be one rank), "mpi", "nccl".
 * MPI is initialised here (once per process) and its rank and size must agree with `r`. NCCL bootstraps
 * by MPI_Bcast of the unique id when launched by an MPI launcher, else from NCCL_COMM_ID or
 * MASTER_ADDR:MASTER_PORT (one rank needs neither). EB_ERR_UNSUPPORTED names what this build lacks. */
eb_status eb_comm_open(eb_comm *c, const eb_ranks *r, const char *kind, const eb_backend *be);
/* The single-process communicator (never fails). */
void eb_comm_single(eb_comm *c);
void eb_comm_close(eb_comm *c);
const char *eb_comm_kind_name(eb_comm_kind k);
/* 1 when this build has the implementation */
int eb_comm_have_mpi(void);
int eb_comm_have_nccl(void);

/* 1 when collectives go through a transport: MPI or NCCL, also for one rank (`--comm mpi|nccl` with a world of
 * 1 runs every collective for real, which is how one GPU tests the NCCL path) */
static inline int eb_comm_active(const eb_comm *c) { return c && c->kind != EB_COMM_SINGLE; }
static inline eb_status eb_comm_allreduce_sum(eb_comm *c, eb_real *buf, size_t n) {
    return eb_comm_active(c) ? c->ops->allreduce_sum(c, buf, n) : EB_OK;
}
static inline eb_status eb_comm_host_allreduce(eb_comm *c, double *buf, size_t n, eb_comm_op op) {
    return eb_comm_active(c) ? c->ops->host_allreduce(c, buf, n, op) : EB_OK;
}
static inline eb_status eb_comm_host_bcast(eb_comm *c, void *buf, size_t bytes, int root) {
    return eb_comm_active(c) ? c->ops->host_bcast(c, buf, bytes, root) : EB_OK;
}
/* every rank waits here for the others (a host all-reduce of one value) */
static inline eb_status eb_comm_barrier(eb_comm *c) {
    double v = 0;
    return eb_comm_host_allreduce(c, &v, 1, EB_COMM_SUM);
}
static inline void eb_comm_abort(eb_comm *c, int code) {
    if (c && c->world > 1 && c->ops->abort) c->ops->abort(c, code);
}

/* Implementations (src/host/dist/comm_*.c); EB_ERR_UNSUPPORTED when not built. */
eb_status eb_comm_mpi_open(eb_comm *c, const eb_ranks *r);
eb_status eb_comm_nccl_open(eb_comm *c, const eb_ranks *r, const eb_backend *be);

#endif
