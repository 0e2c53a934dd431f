/* The communicator's dispatch and its single-process implementation (every collective is the identity).
 * Which transport a job uses follows the backend: NCCL for device buffers, MPI for host ones (DESIGN.md §4). */
#include "ebgan/comm.h"

#include <stdio.h>
#include <string.h>

static eb_status single_allreduce(eb_comm *c, eb_real *buf, size_t n) { return EB_OK; }
static eb_status single_allgather(eb_comm *c, const eb_real *send, eb_real *recv, size_t n) {
    if (send != recv) memmove(recv, send, n * sizeof *recv); /* host memory only: callers skip it for world 1 */
    return EB_OK;
}
static eb_status single_host_allreduce(eb_comm *c, double *buf, size_t n, eb_comm_op op) { return EB_OK; }
static eb_status single_bcast(eb_comm *c, void *buf, size_t bytes, int root) { return EB_OK; }
static void single_close(eb_comm *c) {}

static const eb_comm_ops g_single_ops = {single_allreduce, single_allgather, single_host_allreduce, single_bcast,
                                         NULL, single_close};

void eb_comm_single(eb_comm *c) {
    memset(c, 0, sizeof *c);
    c->kind = EB_COMM_SINGLE;
    c->world = 1;
    c->ops = &g_single_ops;
}

const char *eb_comm_kind_name(eb_comm_kind k) {
    switch (k) {
    case EB_COMM_SINGLE: return "single";
    case EB_COMM_MPI: return "mpi";
    case EB_COMM_NCCL: return "nccl";
    }
    return "?";
}

int eb_comm_have_mpi(void) {
#ifdef EB_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int eb_comm_have_nccl(void) {
#ifdef EB_HAVE_NCCL
    return 1;
#else
    return 0;
#endif
}

eb_status eb_comm_open(eb_comm *c, const eb_ranks *r, const char *kind, const eb_backend *be) {
    eb_comm_single(c);
    const int cuda = eb_backend_is_cuda(be);
    if (!strcmp(kind, "none")) {
        if (r->world > 1)
            return EB_FAIL(EB_ERR_ARG, "--comm none with a world size of %d (from %s): one rank only", r->world,
                           r->source);
        return EB_OK;
    }
    if (!strcmp(kind, "auto")) {
        if (r->world == 1) return EB_OK;
        kind = cuda ? "nccl" : "mpi";
    }
    if (!strcmp(kind, "mpi")) {
        if (cuda)
            return EB_FAIL(EB_ERR_UNSUPPORTED, "--comm mpi reduces host buffers: use it with --device cpu "
                                               "(the CUDA backend uses NCCL)");
        return eb_comm_mpi_open(c, r);
    }
    if (!strcmp(kind, "nccl")) {
        if (!cuda) return EB_FAIL(EB_ERR_UNSUPPORTED, "--comm nccl needs the CUDA backend (--device cuda)");
        return eb_comm_nccl_open(c, r, be);
    }
    return EB_FAIL(EB_ERR_ARG, "--comm '%s': expected auto, none, mpi or nccl", kind);
}

void eb_comm_close(eb_comm *c) {
    if (c->ops && c->ops->close) c->ops->close(c);
    eb_comm_single(c);
}
