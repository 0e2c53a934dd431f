/* Atomic file replacement: temp file in the target's directory, fsync, rename, fsync the directory.
 * A half-written checkpoint must never replace a good one (DESIGN.md §4, "written atomically"). */
#define _XOPEN_SOURCE 700
#include "ebgan/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

eb_status eb_io_write_all(FILE *fp, const void *data, size_t bytes, const char *what_path) {
    const unsigned char *p = data;
    while (bytes > 0) {
        errno = 0;
        size_t n = fwrite(p, 1, bytes, fp);
        if (n == 0) {
            int e = errno;
            return EB_FAIL(EB_ERR_IO, "cannot write %s: %s", what_path, e ? strerror(e) : "short write");
        }
        p += n;
        bytes -= n;
    }
    return EB_OK;
}

eb_status eb_io_flush_sync(FILE *fp, const char *what_path) {
    errno = 0;
    if (fflush(fp) != 0 || ferror(fp)) {
        int e = errno;
        return EB_FAIL(EB_ERR_IO, "cannot write %s: %s", what_path, e ? strerror(e) : "stream error");
    }
    if (fsync(fileno(fp)) != 0 && errno != EINVAL) /* EINVAL: a special file (pipe, /dev/...) */
        return EB_FAIL(EB_ERR_IO, "cannot fsync %s: %s", what_path, strerror(errno));
    return EB_OK;
}

eb_status eb_atomic_open(eb_atomic_file *af, const char *path) {
    af->fp = NULL;
    af->path[0] = af->tmp[0] = '\0';
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof af->path)
        return EB_FAIL(EB_ERR_ARG, "cannot write '%.200s': path empty or longer than %d bytes", path,
                       EB_PATH_MAX - 1);
    memcpy(af->path, path, len + 1);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid());
    /* O_TRUNC: a stale temp left by a crashed process with the same pid is simply reused. */
    int fd = open(af->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        int e = errno;
        af->tmp[0] = '\0';
        return EB_FAIL(EB_ERR_IO, "cannot write %s: cannot create its temp file: %s", path, strerror(e));
    }
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        int e = errno;
        close(fd);
        unlink(af->tmp);
        af->tmp[0] = '\0';
        return EB_FAIL(EB_ERR_IO, "cannot open stream for %s: %s", path, strerror(e));
    }
    return EB_OK;
}

void eb_atomic_abort(eb_atomic_file *af) {
    if (af->fp) fclose(af->fp);
    af->fp = NULL;
    if (af->tmp[0]) unlink(af->tmp);
    af->tmp[0] = '\0';
}

eb_status eb_atomic_write(eb_atomic_file *af, const void *data, size_t bytes) {
    if (!af->fp) return EB_FAIL(EB_ERR_ARG, "write to %s: replacement not open", af->path);
    eb_status st = eb_io_write_all(af->fp, data, bytes, af->path);
    if (st != EB_OK) eb_atomic_abort(af);
    return st;
}

/* fsync the directory holding `path` so the rename itself survives a crash. */
static eb_status atomic_sync_dir(const char *path) {
    char dir[EB_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return EB_FAIL(EB_ERR_IO, "wrote %s but cannot open its directory %s: %s", path, dir,
                               strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    /* Some file systems do not support fsync on directories (EINVAL); nothing more can be done there. */
    if (rc != 0 && e != EINVAL && e != EROFS)
        return EB_FAIL(EB_ERR_IO, "wrote %s but cannot fsync directory %s: %s", path, dir, strerror(e));
    return EB_OK;
}

eb_status eb_atomic_commit(eb_atomic_file *af) {
    if (!af->fp) return EB_FAIL(EB_ERR_ARG, "commit of %s: replacement not open", af->path);
    eb_status st = eb_io_flush_sync(af->fp, af->path);
    if (st != EB_OK) {
        eb_atomic_abort(af);
        return st;
    }
    FILE *fp = af->fp;
    af->fp = NULL;
    if (fclose(fp) != 0) {
        int e = errno;
        eb_atomic_abort(af);
        return EB_FAIL(EB_ERR_IO, "cannot close %s: %s", af->path, strerror(e));
    }
    if (rename(af->tmp, af->path) != 0) {
        int e = errno;
        eb_atomic_abort(af);
        return EB_FAIL(EB_ERR_IO, "cannot rename temp file over %s: %s", af->path, strerror(e));
    }
    af->tmp[0] = '\0';
    return atomic_sync_dir(af->path);
}

eb_status eb_atomic_write_file(const char *path, const void *data, size_t bytes) {
    eb_atomic_file af;
    EB_TRY(eb_atomic_open(&af, path));
    EB_TRY(eb_atomic_write(&af, data, bytes));
    return eb_atomic_commit(&af);
}
