/* Ownership of a run directory: the writer's lock, the checkpoint names that are ours, removal of a dead
 * writer's temp files, the run id, and the metrics trim of a resume (README "Output formats"). */
#define _GNU_SOURCE
#include "ebgan/run_dir.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ebgan/atomic_file.h"

static long read_pid(int fd) {
    char buf[64] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    return n > 0 ? strtol(buf, NULL, 10) : 0;
}

eb_status eb_run_lock_acquire(eb_run_lock *l, const char *dir, long *stale_pid) {
    l->fd = -1;
    *stale_pid = 0;
    snprintf(l->path, sizeof l->path, "%s/%s", dir, EB_RUN_LOCK_NAME);
    int fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return EB_FAIL(EB_ERR_IO, "cannot create the lock %s: %s", l->path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int e = errno;
        struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        long holder = fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK ? (long)q.l_pid : read_pid(fd);
        close(fd);
        if (e == EACCES || e == EAGAIN)
            return EB_FAIL(EB_ERR_IO, "run directory %s is in use by process %ld (lock %s): one run writes a "
                           "directory at a time; wait for it or stop it first", dir, holder, l->path);
        return EB_FAIL(EB_ERR_IO, "cannot lock %s: %s", l->path, strerror(e));
    }
    /* the lock is ours: a pid still written in the file belonged to a process that died holding it */
    *stale_pid = read_pid(fd);
    char text[64];
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n) {
        int e = errno;
        close(fd);
        return EB_FAIL(EB_ERR_IO, "cannot write the lock %s: %s", l->path, strerror(e));
    }
    l->fd = fd;
    return EB_OK;
}

void eb_run_lock_release(eb_run_lock *l) {
    if (l->fd < 0) return;
    unlink(l->path); /* while still held: a waiting writer then creates and locks a fresh file */
    close(l->fd);
    l->fd = -1;
}

int eb_run_ckpt_name_step(const char *name, int64_t *step) {
    size_t n = strlen(name);
    const size_t pre = 5, suf = 12; /* "ckpt-", ".safetensors" */
    if (n < pre + 8 + suf || n > pre + 18 + suf || strncmp(name, "ckpt-", pre) || strcmp(name + n - suf, ".safetensors"))
        return 0;
    int64_t v = 0;
    for (size_t i = pre; i < n - suf; i++) {
        if (!isdigit((unsigned char)name[i])) return 0;
        v = v * 10 + (name[i] - '0');
    }
    *step = v;
    return 1;
}

/* "<base>.tmp.<pid>" where base is a file the trainer writes atomically; *pid set. */
static int is_our_tmp(const char *name, long *pid) {
    const char *t = strstr(name, ".tmp.");
    if (!t || !t[5]) return 0;
    for (const char *p = t + 5; *p; p++)
        if (!isdigit((unsigned char)*p)) return 0;
    *pid = strtol(t + 5, NULL, 10);
    char base[512];
    size_t bl = (size_t)(t - name);
    if (bl >= sizeof base) return 0;
    memcpy(base, name, bl);
    base[bl] = '\0';
    int64_t s;
    return eb_run_ckpt_name_step(base, &s) || !strcmp(base, "config.txt") || !strcmp(base, "samples.png") ||
           !strcmp(base, "metrics.jsonl");
}

int eb_run_dir_remove_stale_tmp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid;
        if (!is_our_tmp(e->d_name, &pid) || pid == (long)getpid()) continue;
        if (pid > 0 && kill((pid_t)pid, 0) == 0) continue; /* alive (another host's pid space?): leave it */
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) == 0) removed++;
    }
    closedir(d);
    return removed;
}

eb_status eb_run_dir_check_fresh(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return EB_OK;
    char found[300] = "";
    struct dirent *e;
    while ((e = readdir(d)) && !found[0]) {
        int64_t s;
        if (eb_run_ckpt_name_step(e->d_name, &s)) snprintf(found, sizeof found, "%s", e->d_name);
    }
    closedir(d);
    if (!found[0]) {
        char p[4200];
        struct stat sb;
        snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
        if (stat(p, &sb) == 0 && sb.st_size > 0) snprintf(found, sizeof found, "metrics.jsonl");
    }
    if (found[0])
        return EB_FAIL(EB_ERR_ARG, "--out %s already holds a run (%s): continue it with --resume %s, or choose "
                       "another --out (nothing was changed)", dir, found, dir);
    return EB_OK;
}

void eb_run_id_make(char *buf, size_t cap) {
    unsigned char r[EB_RUN_ID_LEN / 2];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, r, sizeof r) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long x = (unsigned long long)ts.tv_sec * 1000003ULL ^ (unsigned long long)ts.tv_nsec << 20 ^
                               (unsigned long long)getpid();
        for (size_t i = 0; i < sizeof r; i++) r[i] = (unsigned char)(x >> (8 * i));
    }
    size_t k = 0;
    for (size_t i = 0; i < sizeof r && k + 2 < cap; i++) k += (size_t)snprintf(buf + k, cap - k, "%02x", r[i]);
    if (cap) buf[k < cap ? k : cap - 1] = '\0';
}

/* The "step" of one metrics record, or -1 when it has none. */
static long long record_step(const char *line, size_t len) {
    const char *k = memmem(line, len, "\"step\":", 7);
    if (!k) return -1;
    k += 7;
    while (k < line + len && *k == ' ') k++;
    if (k >= line + len || !isdigit((unsigned char)*k)) return -1;
    return strtoll(k, NULL, 10);
}

eb_status eb_run_metrics_trim(const char *path, int64_t max_step, int *dropped) {
    *dropped = 0;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size == 0) return EB_OK;
    FILE *f = fopen(path, "rb");
    if (!f) return EB_FAIL(EB_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    size_t n = (size_t)sb.st_size;
    char *text = malloc(n + 1), *out = malloc(n + 1);
    size_t got = text ? fread(text, 1, n, f) : 0;
    fclose(f);
    if (!text || !out) {
        free(text);
        free(out);
        return EB_FAIL(EB_ERR_OOM, "cannot read %s: %zu bytes", path, n);
    }
    size_t keep = 0;
    for (size_t at = 0; at < got;) {
        const char *nl = memchr(text + at, '\n', got - at);
        size_t L = nl ? (size_t)(nl - (text + at)) + 1 : got - at;
        long long s = record_step(text + at, L);
        if (!nl || s > (long long)max_step) (*dropped)++; /* a torn last line, or a step to be replayed */
        else {
            memcpy(out + keep, text + at, L);
            keep += L;
        }
        at += L;
    }
    eb_status st = EB_OK;
    if (*dropped) st = eb_atomic_write_file(path, out, keep);
    free(text);
    free(out);
    return st;
}
