/* Crash-safe file replacement for everything the run directory holds (checkpoints, PNGs, summaries).
 * A file is written to "<path>.tmp.<pid>" beside the target, fsynced, renamed over it, dir fsynced. */
#ifndef EBGAN_ATOMIC_FILE_H
#define EBGAN_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>
#include "ebgan/status.h"

#define EB_PATH_MAX 4096

/* An open replacement in progress. Readers of `path` see the old file (or none) until commit
 * returns EB_OK, and the new file afterwards; a crash in between leaves at most a stray temp file. */
typedef struct eb_atomic_file {
    FILE *fp;                    /* the temp file, open for binary writing; NULL when idle */
    char path[EB_PATH_MAX];      /* target */
    char tmp[EB_PATH_MAX + 32];  /* "<path>.tmp.<pid>" */
} eb_atomic_file;

/* Creates the temp file (mode 0666 & ~umask). EB_ERR_IO naming the path if it cannot. */
eb_status eb_atomic_open(eb_atomic_file *af, const char *path);
/* Appends `bytes` bytes. On failure the replacement is aborted (temp removed) and EB_ERR_IO returned. */
eb_status eb_atomic_write(eb_atomic_file *af, const void *data, size_t bytes);
/* fflush + fsync + close the temp file, rename it over the target, fsync the directory.
 * On any failure: temp removed, target untouched, EB_ERR_IO naming the path and strerror. */
eb_status eb_atomic_commit(eb_atomic_file *af);
/* Drops the replacement: closes and removes the temp file. Safe to call on an idle struct. */
void eb_atomic_abort(eb_atomic_file *af);

/* Whole-buffer convenience: open + write + commit. */
eb_status eb_atomic_write_file(const char *path, const void *data, size_t bytes);

/* The building blocks, exposed so tests can drive them on a stream that fails on demand (/dev/full):
 * write all bytes / flush and fsync an open stream; EB_ERR_IO "<what_path>: <strerror>" on failure. */
eb_status eb_io_write_all(FILE *fp, const void *data, size_t bytes, const char *what_path);
eb_status eb_io_flush_sync(FILE *fp, const char *what_path);

#endif
