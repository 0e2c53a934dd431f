/* What the engine asks of SLURM itself: requeueing the job (or the array task) it runs in, the way
 * Lightning and submitit do on the requeue signal (DESIGN.md §4.7). */
#ifndef EBGAN_SLURM_H
#define EBGAN_SLURM_H

#include <stddef.h>
#include "ebgan/status.h"

/* The id `scontrol requeue` takes for this process's job: "<array job>_<task>" in a job array, else the job
 * id; 0 when not under SLURM (no SLURM_JOB_ID). */
int eb_slurm_job_id(char *buf, size_t cap);
/* Runs `scontrol requeue <id>` and waits for it (the job restarts once this job's batch step exits).
 * EB_ERR_IO naming the command and its exit status when it fails or scontrol is missing. */
eb_status eb_slurm_requeue(const char *job_id);

#endif
