/* Rank discovery: options, then torchrun's, srun's and mpirun's environment variables, in that order
 * (DESIGN.md §4.7). Nothing here talks to another process. */
#include "ebgan/ranks.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* *v = the integer value of variable `name`; 0 when unset, 1 when set, -1 (error recorded) when not a number. */
static int env_int(const char *name, int *v) {
    const char *s = getenv(name);
    if (!s || !s[0]) return 0;
    char *end = NULL;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || *end || x < INT_MIN || x > INT_MAX) {
        EB_FAIL(EB_ERR_ARG, "environment variable %s='%s' is not an integer", name, s);
        return -1;
    }
    *v = (int)x;
    return 1;
}

/* One launcher's triple of variables: 0 when its world-size variable is unset, 1 when read, -1 on a bad value
 * (error recorded). */
static int from_env(const char *rank_var, const char *world_var, const char *local_var, const char *source,
                    eb_ranks *r) {
    int world = -1, rank = -1, local = -1;
    int has = env_int(world_var, &world);
    if (has <= 0) return has;
    if (env_int(rank_var, &rank) < 0 || env_int(local_var, &local) < 0) return -1;
    if (rank < 0) {
        EB_FAIL(EB_ERR_ARG, "%s=%d is set but %s is not", world_var, world, rank_var);
        return -1;
    }
    r->world = world;
    r->rank = rank;
    r->local_rank = local;
    snprintf(r->source, sizeof r->source, "%s", source);
    return 1;
}

eb_status eb_ranks_resolve(int opt_rank, int opt_world, int opt_local_rank, eb_ranks *out) {
    memset(out, 0, sizeof *out);
    out->rank = out->world = out->local_rank = -1;
    if (opt_world >= 0 || opt_rank >= 0) {
        if (opt_world < 0 || opt_rank < 0)
            return EB_FAIL(EB_ERR_ARG, "--rank and --world-size go together (got rank %d, world size %d)", opt_rank,
                           opt_world);
        out->rank = opt_rank;
        out->world = opt_world;
        snprintf(out->source, sizeof out->source, "options");
    } else {
        static const char *vars[3][4] = {
            {"RANK", "WORLD_SIZE", "LOCAL_RANK", "RANK/WORLD_SIZE"},
            {"SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM"},
            {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI"}};
        int found = 0;
        /* mpirun inside a SLURM allocation: its processes inherit the batch step's SLURM_PROCID / SLURM_NTASKS
         * (or the orted step's), which do not describe them; mpirun's own variables do */
        const int under_mpirun = getenv("OMPI_COMM_WORLD_SIZE") != NULL;
        for (int i = 0; i < 3 && !found; i++) {
            if (i == 1 && under_mpirun) continue;
            found = from_env(vars[i][0], vars[i][1], vars[i][2], vars[i][3], out);
            if (found < 0) return EB_ERR_ARG;
        }
        if (!found) {
            out->rank = 0;
            out->world = 1;
            snprintf(out->source, sizeof out->source, "single process");
        }
    }
    if (opt_local_rank >= 0) out->local_rank = opt_local_rank; /* --local-rank overrides the launcher's */
    if (out->world < 1) return EB_FAIL(EB_ERR_ARG, "world size %d (from %s) must be >= 1", out->world, out->source);
    if (out->rank < 0 || out->rank >= out->world)
        return EB_FAIL(EB_ERR_ARG, "rank %d (from %s) outside [0, %d)", out->rank, out->source, out->world);
    if (out->local_rank < 0) out->local_rank = out->rank;
    return EB_OK;
}

void eb_ranks_describe(const eb_ranks *r, char *buf, size_t cap) {
    snprintf(buf, cap, "rank %d of %d (local rank %d, from %s)", r->rank, r->world, r->local_rank, r->source);
}
