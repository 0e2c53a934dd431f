/* What the tests that run the ebgan-gpu executable share (test_cli_inputs, test_dist_mpi, test_run_dir,
 * test_shards, test_train_e2e): where it is, a scratch folder for them, a child whose output goes to a log. */
#ifndef EBGAN_TESTS_CLI_UTIL_H
#define EBGAN_TESTS_CLI_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* exe = $EBGAN_BINARY_DIR/ebgan-gpu (ctest sets the variable; "." otherwise), tmp = $EBGAN_BINARY_DIR/`tmp_name`,
 * created with its parents. 1 when the executable exists and the folder could be made. */
static inline int eb_test_cli_locate(char *exe, size_t exe_cap, char *tmp, size_t tmp_cap, const char *tmp_name) {
    const char *bin = getenv("EBGAN_BINARY_DIR");
    if (!bin) bin = ".";
    snprintf(exe, exe_cap, "%s/ebgan-gpu", bin);
    snprintf(tmp, tmp_cap, "%s/%s", bin, tmp_name);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tmp);
    struct stat s;
    return system(cmd) == 0 && stat(exe, &s) == 0;
}

/* Starts `exe` with argv (argv[0] included, NULL-terminated), stdout and stderr to `log`, under an address-space
 * limit of `as_bytes` when non-zero (OpenBLAS then on one thread: its per-thread buffers must not eat the
 * limit). The child's pid, or -1. */
static inline pid_t eb_test_spawn_logged(const char *exe, char *const *argv, const char *log, rlim_t as_bytes) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (as_bytes) {
            setenv("OPENBLAS_NUM_THREADS", "1", 1);
            struct rlimit rl = {as_bytes, as_bytes};
            setrlimit(RLIMIT_AS, &rl);
        }
        execv(exe, argv);
        _exit(127);
    }
    return pid;
}

/* Whether the first MiB of the file at `path` contains `needle`. */
static inline int eb_test_file_has(const char *path, const char *needle) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

#endif
