/* Sample shards of a job split by global chain index (`sample --shards R`): shard k of R holds chains
 * [k*n/R, (k+1)*n/R) in NAME-0000k-of-0000R.npy, and a merge that refuses an incomplete or inconsistent set. */
#ifndef EBGAN_SHARDS_H
#define EBGAN_SHARDS_H

#include <stddef.h>
#include <stdint.h>
#include "ebgan/status.h"

/* The rows [*lo, *hi) of shard k of R over n rows (floor split: sizes differ by at most one). */
void eb_shard_range(int64_t n, int k, int R, int64_t *lo, int64_t *hi);
/* "DIR/NAME-0000k-of-0000R.npy" for out = "DIR/NAME.npy" (suffix, e.g. "_z", goes before the shard tag). */
void eb_shard_path(const char *out, const char *suffix, int k, int R, char *buf, size_t cap);
/* This process's shard from the environment when no option gives it: a SLURM job array
 * (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT), else the job's ranks (ranks.h).
 * *R = 0 when nothing names one (unsharded). */
eb_status eb_shard_from_env(int *k, int *R);
/* Concatenates the R shards of `out` (+ `suffix`) into out + suffix: every shard must exist, agree on dtype
 * and trailing shape, and hold exactly its floor-split share of the total (so a missing, duplicated or
 * foreign shard is named, never silently merged). *rows = total rows. */
eb_status eb_shards_merge(const char *out, const char *suffix, int R, int64_t *rows);

#endif
