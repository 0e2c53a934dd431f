/* Where this process sits in a data-parallel job: its rank, the world size and its rank on the node (which
 * picks its GPU), resolved from options first, then the variables a launcher exports (DESIGN.md §4.7). */
#ifndef EBGAN_RANKS_H
#define EBGAN_RANKS_H

#include <stddef.h>
#include "ebgan/status.h"

typedef struct eb_ranks {
    int rank;        /* global rank, 0 .. world - 1 */
    int world;       /* number of processes */
    int local_rank;  /* rank on this node: the GPU index */
    char source[48]; /* where they came from: "options", "RANK/WORLD_SIZE", "SLURM", "OMPI", "single process" */
} eb_ranks;

/* Each of rank, world, local_rank < 0 means "not given". Order (the first source that names a world size
 * wins): the options; RANK / WORLD_SIZE / LOCAL_RANK (torchrun); SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID
 * (srun; skipped under mpirun, whose processes inherit a SLURM allocation's stale values); OMPI_COMM_WORLD_RANK /
 * _SIZE / _LOCAL_RANK (mpirun); else one process. A local rank that no
 * source gives is the global rank (one node). EB_ERR_ARG names the variable for a value that is not a
 * number, a rank outside [0, world) or a world size below 1. */
eb_status eb_ranks_resolve(int opt_rank, int opt_world, int opt_local_rank, eb_ranks *out);

/* "rank 1 of 4 (local rank 1, from OMPI)" */
void eb_ranks_describe(const eb_ranks *r, char *buf, size_t cap);

#endif
