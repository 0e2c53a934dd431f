/* The MPI communicator (Debian's Open MPI): collectives on host buffers, which is the CPU backend's memory.
 * Used for CPU data parallelism and to bootstrap NCCL; built when CMake finds MPI. */
#include "comm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eb_comm_launched_by_mpi(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

#ifdef EB_HAVE_MPI
#include <limits.h>
#include <mpi.h>

static MPI_Datatype real_type(void) { return sizeof(eb_real) == sizeof(float) ? MPI_FLOAT : MPI_DOUBLE; }

static eb_status mpi_fail(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return EB_FAIL(EB_ERR_DEVICE, "%s failed: %s", what, msg);
}

/* MPI counts are ints: large buffers go in chunks */
#define CHUNK ((size_t)1 << 30)

static eb_status mpi_allreduce(eb_comm *c, eb_real *buf, size_t n) {
    for (size_t i = 0; i < n; i += CHUNK) {
        int k = (int)(n - i < CHUNK ? n - i : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + i, k, real_type(), MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Allreduce");
    }
    return EB_OK;
}

static eb_status mpi_allgather(eb_comm *c, const eb_real *send, eb_real *recv, size_t n) {
    if (n > INT_MAX) return EB_FAIL(EB_ERR_ARG, "allgather of %zu values per rank: at most 2^31 - 1", n);
    int rc = MPI_Allgather(send, (int)n, real_type(), recv, (int)n, real_type(), MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? EB_OK : mpi_fail(rc, "MPI_Allgather");
}

static eb_status mpi_host_allreduce(eb_comm *c, double *buf, size_t n, eb_comm_op op) {
    MPI_Op o = op == EB_COMM_MIN ? MPI_MIN : op == EB_COMM_MAX ? MPI_MAX : MPI_SUM;
    if (n > INT_MAX) return EB_FAIL(EB_ERR_ARG, "host allreduce of %zu values: at most 2^31 - 1", n);
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, o, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? EB_OK : mpi_fail(rc, "MPI_Allreduce");
}

static eb_status mpi_bcast(eb_comm *c, void *buf, size_t bytes, int root) {
    if (bytes > INT_MAX) return EB_FAIL(EB_ERR_ARG, "broadcast of %zu bytes: at most 2^31 - 1", bytes);
    int rc = MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? EB_OK : mpi_fail(rc, "MPI_Bcast");
}

static void mpi_abort(eb_comm *c, int code) {
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
}

void eb_comm_mpi_finalize(void) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

static void mpi_close(eb_comm *c) { eb_comm_mpi_finalize(); }

static const eb_comm_ops g_mpi_ops = {mpi_allreduce, mpi_allgather, mpi_host_allreduce, mpi_bcast, mpi_abort,
                                      mpi_close};

/* MPI_Init once per process; errors are returned, not fatal (MPI_ERRORS_RETURN). */
eb_status eb_comm_mpi_init(int *rank, int *size) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int rc = MPI_Init(NULL, NULL);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "MPI_Init");
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return EB_OK;
}

eb_status eb_comm_mpi_open(eb_comm *c, const eb_ranks *r) {
    int rank = 0, size = 1;
    EB_TRY(eb_comm_mpi_init(&rank, &size));
    if (rank != r->rank || size != r->world) {
        eb_status st = EB_FAIL(EB_ERR_ARG,
                               "MPI says rank %d of %d but the layout (from %s) is rank %d of %d: launch with "
                               "mpirun -np %d or srun --mpi=pmix, or drop the rank options",
                               rank, size, r->source, r->rank, r->world, r->world);
        eb_comm_mpi_finalize();
        return st;
    }
    c->kind = EB_COMM_MPI;
    c->rank = rank;
    c->world = size;
    c->local_rank = r->local_rank;
    c->ops = &g_mpi_ops;
    return EB_OK;
}

int eb_comm_mpi_bcast_bytes(void *buf, int bytes, int root) {
    return MPI_Bcast(buf, bytes, MPI_BYTE, root, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

#else

eb_status eb_comm_mpi_open(eb_comm *c, const eb_ranks *r) {
    return EB_FAIL(EB_ERR_UNSUPPORTED,
                   "%d ranks need MPI on the CPU backend, and this build has none (install libopenmpi-dev "
                   "openmpi-bin and reconfigure)", r->world);
}

#endif
