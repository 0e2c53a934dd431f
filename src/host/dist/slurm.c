/* `scontrol requeue` of the running job, run by rank 0 after the stop on the requeue signal wrote its
 * checkpoint (README "SLURM"); the requeued job resumes by itself with `--resume auto`. */
#include "ebgan/slurm.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

int eb_slurm_job_id(char *buf, size_t cap) {
    const char *job = getenv("SLURM_JOB_ID"), *arr = getenv("SLURM_ARRAY_JOB_ID"), *task = getenv("SLURM_ARRAY_TASK_ID");
    if (!job || !*job) return 0;
    if (arr && *arr && task && *task) snprintf(buf, cap, "%s_%s", arr, task);
    else snprintf(buf, cap, "%s", job);
    return 1;
}

eb_status eb_slurm_requeue(const char *job_id) {
    char id[64];
    snprintf(id, sizeof id, "%s", job_id);
    char *argv[] = {"scontrol", "requeue", id, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "scontrol", NULL, NULL, argv, environ);
    if (rc) return EB_FAIL(EB_ERR_IO, "cannot run 'scontrol requeue %s': %s", id, strerror(rc));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return EB_FAIL(EB_ERR_IO, "waiting for 'scontrol requeue %s': %s", id, strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        return EB_FAIL(EB_ERR_IO, "'scontrol requeue %s' failed (exit status %d): the job is not requeued; resume it "
                       "by hand with --resume", id, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return EB_OK;
}
