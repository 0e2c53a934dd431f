/* Rank discovery (ranks.h): options before torchrun's variables before srun's before mpirun's, a missing
 * local rank taken as the global one, and a clear error for values that cannot be a layout. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "ebgan/ranks.h"

static void clear_env(void) {
    const char *v[] = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID",
                       "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) unsetenv(v[i]);
}

EB_TEST(no_launcher_is_one_process) {
    clear_env();
    eb_ranks r;
    EB_CHECK_OK(eb_ranks_resolve(-1, -1, -1, &r));
    EB_CHECK(r.rank == 0 && r.world == 1 && r.local_rank == 0, "got %d/%d/%d", r.rank, r.world, r.local_rank);
    return EB_TEST_PASS;
}

EB_TEST(order_is_options_torchrun_slurm_ompi_but_mpirun_over_an_allocation) {
    clear_env();
    setenv("OMPI_COMM_WORLD_RANK", "3", 1), setenv("OMPI_COMM_WORLD_SIZE", "4", 1);
    setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1", 1);
    eb_ranks r;
    EB_CHECK_OK(eb_ranks_resolve(-1, -1, -1, &r));
    EB_CHECK(r.rank == 3 && r.world == 4 && r.local_rank == 1 && !strcmp(r.source, "OMPI"), "ompi: %d/%d/%d %s",
             r.rank, r.world, r.local_rank, r.source);
    setenv("SLURM_PROCID", "0", 1), setenv("SLURM_NTASKS", "2", 1), setenv("SLURM_LOCALID", "0", 1);
    EB_CHECK_OK(eb_ranks_resolve(-1, -1, -1, &r)); /* mpirun inside an allocation: the batch step's values */
    EB_CHECK(r.rank == 3 && r.world == 4 && !strcmp(r.source, "OMPI"), "mpirun in an allocation: %d/%d %s", r.rank,
             r.world, r.source);
    unsetenv("OMPI_COMM_WORLD_RANK"), unsetenv("OMPI_COMM_WORLD_SIZE"), unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
    setenv("SLURM_PROCID", "5", 1), setenv("SLURM_NTASKS", "8", 1), setenv("SLURM_LOCALID", "1", 1);
    EB_CHECK_OK(eb_ranks_resolve(-1, -1, -1, &r));
    EB_CHECK(r.rank == 5 && r.world == 8 && r.local_rank == 1 && !strcmp(r.source, "SLURM"), "slurm: %d/%d %s",
             r.rank, r.world, r.source);
    setenv("RANK", "2", 1), setenv("WORLD_SIZE", "3", 1);
    EB_CHECK_OK(eb_ranks_resolve(-1, -1, -1, &r));
    EB_CHECK(r.rank == 2 && r.world == 3 && r.local_rank == 2, "torchrun without LOCAL_RANK: %d/%d/%d", r.rank,
             r.world, r.local_rank);
    EB_CHECK_OK(eb_ranks_resolve(1, 2, 0, &r));
    EB_CHECK(r.rank == 1 && r.world == 2 && r.local_rank == 0 && !strcmp(r.source, "options"), "options: %d/%d/%d",
             r.rank, r.world, r.local_rank);
    clear_env();
    return EB_TEST_PASS;
}

EB_TEST(bad_layouts_are_refused_with_the_source) {
    clear_env();
    eb_ranks r;
    EB_CHECK(eb_ranks_resolve(2, 2, -1, &r) == EB_ERR_ARG, "rank 2 of 2 accepted");
    EB_CHECK(strstr(eb_error_message(), "outside [0, 2)"), "message: %s", eb_error_message());
    EB_CHECK(eb_ranks_resolve(1, -1, -1, &r) == EB_ERR_ARG, "--rank without --world-size accepted");
    setenv("SLURM_NTASKS", "two", 1), setenv("SLURM_PROCID", "0", 1);
    EB_CHECK(eb_ranks_resolve(-1, -1, -1, &r) == EB_ERR_ARG, "non-numeric SLURM_NTASKS accepted");
    EB_CHECK(strstr(eb_error_message(), "SLURM_NTASKS='two'"), "message: %s", eb_error_message());
    setenv("SLURM_NTASKS", "0", 1);
    EB_CHECK(eb_ranks_resolve(-1, -1, -1, &r) == EB_ERR_ARG, "world size 0 accepted");
    clear_env();
    return EB_TEST_PASS;
}
