/* What the communicator implementations share inside src/host/dist: MPI's start-up and a broadcast that
 * NCCL's bootstrap uses (only in builds with MPI). */
#ifndef EBGAN_DIST_COMM_INTERNAL_H
#define EBGAN_DIST_COMM_INTERNAL_H

#include "ebgan/comm.h"

#ifdef EB_HAVE_MPI
/* MPI_Init unless already done (errors returned, MPI_ERRORS_RETURN); the job's rank and size */
eb_status eb_comm_mpi_init(int *rank, int *size);
/* MPI_Bcast of bytes from root; 0 on success */
int eb_comm_mpi_bcast_bytes(void *buf, int bytes, int root);
/* MPI_Finalize unless already done */
void eb_comm_mpi_finalize(void);
#endif

/* 1 when an MPI launcher started this process (mpirun, or srun --mpi=pmix) */
int eb_comm_launched_by_mpi(void);

#endif
