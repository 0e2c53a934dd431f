/* The run directory as a contract (README "Output formats"): one writer at a time (a lock), a run id that
 * marks the checkpoints this run wrote, leftovers of a dead writer removed, metrics trimmed on resume. */
#ifndef EBGAN_RUN_DIR_H
#define EBGAN_RUN_DIR_H

#include <stddef.h>
#include <stdint.h>
#include "ebgan/status.h"

#define EB_RUN_LOCK_NAME "train.lock"
#define EB_RUN_ID_LEN 16 /* hex digits */

/* The lock a training process holds on its run directory: an fcntl write lock on <dir>/train.lock (the
 * kernel drops it when the process dies, so a lock file left by a dead process is simply taken over). */
typedef struct eb_run_lock {
    int fd;              /* -1 when not held */
    char path[4200];
} eb_run_lock;

/* Takes the lock or fails with EB_ERR_IO "run directory D is in use by process P ...". `stale_pid`
 * receives the pid written in a lock file that was taken over (0 when none). */
eb_status eb_run_lock_acquire(eb_run_lock *l, const char *dir, long *stale_pid);
/* Removes the lock file and releases the lock (safe on a lock not held). */
void eb_run_lock_release(eb_run_lock *l);

/* 1 when `name` is exactly "ckpt-<digits>.safetensors" with at least 8 digits (zero-padded step), *step set. */
int eb_run_ckpt_name_step(const char *name, int64_t *step);

/* Removes "<our file>.tmp.<pid>" leftovers of another (dead) process: temp files of checkpoints, config.txt,
 * samples.png and metrics.jsonl. Call with the lock held. Returns how many were removed. */
int eb_run_dir_remove_stale_tmp(const char *dir);

/* EB_ERR_ARG when `dir` already holds a run (a checkpoint name, or a non-empty metrics.jsonl): a fresh
 * `train --out` must not mix with it; the message says to use --resume or another --out. */
eb_status eb_run_dir_check_fresh(const char *dir);

/* A new run id: EB_RUN_ID_LEN hex digits from /dev/urandom (time and pid when it cannot be read). */
void eb_run_id_make(char *buf, size_t cap);

/* Drops every record of <path> (metrics.jsonl) whose "step" is above `max_step`, and a torn last line, by
 * an atomic rewrite; untouched when nothing is dropped, absent, or not a regular file. *dropped counts. */
eb_status eb_run_metrics_trim(const char *path, int64_t max_step, int *dropped);

#endif
