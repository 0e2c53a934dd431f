/* The companion commands on hostile inputs, run as a user runs them (the built ebgan-gpu in a child): shapes
 * whose products overflow, allocations that fail under a memory limit, and the messages each must print. */
#include "cli_util.h"
#include "harness.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_exe[2048], g_tmp[2048], g_run[2200], g_log[2200];

/* The built executable and one small toy run that every case reads (made once per process). */
static int setup(void) {
    char name[64];
    snprintf(name, sizeof name, "test-cli-inputs-%d", (int)getpid());
    if (!eb_test_cli_locate(g_exe, sizeof g_exe, g_tmp, sizeof g_tmp, name)) return 0;
    snprintf(g_run, sizeof g_run, "%s/run", g_tmp);
    snprintf(g_log, sizeof g_log, "%s/log", g_tmp);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "%s train --dim 16 --batch 16 --iters 2 --ckpt-every 2 --plot-every 0 --device cpu "
             "--progress 0 --out %s > %s 2>&1", g_exe, g_run, g_log);
    return system(cmd) == 0;
}

static void cleanup(void) {
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", g_tmp);
}

/* Runs ebgan-gpu with argv[1..] under an address-space limit (0: none), output to g_log; exit code, -1 if
 * killed. */
static int run_limited(char *const *args, rlim_t as_bytes) {
    pid_t pid = eb_test_spawn_logged(g_exe, args, g_log, as_bytes);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int log_has(const char *needle) { return eb_test_file_has(g_log, needle); }

EB_TEST(energy_refuses_a_zero_row_array_whose_row_size_overflows) {
    if (!setup()) return EB_TEST_SKIP;
    /* shape (0, 2, 119537721, 77158673929): 0 values, but 119537721 * 77158673929 = 2^63 + 1, so the row size
     * 2 * (2^63 + 1) wraps to exactly 2 (the toy's) in 64-bit arithmetic: a product computed in int64
     * (undefined on overflow) would accept it */
    char p[2400];
    snprintf(p, sizeof p, "%s/wrap.npy", g_tmp);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2, 119537721, 77158673929), }";
    char hdr[256];
    size_t len = strlen(dict), total = (10 + len + 1 + 63) / 64 * 64;
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)((total - 10) & 0xff);
    hdr[9] = (char)((total - 10) >> 8);
    memcpy(hdr + 10, dict, len);
    memset(hdr + 10 + len, ' ', total - 10 - len);
    hdr[total - 1] = '\n';
    FILE *f = fopen(p, "wb");
    EB_CHECK(f && fwrite(hdr, 1, total, f) == total && fclose(f) == 0, "write %s", p);
    char out[2400], grad[2400];
    snprintf(out, sizeof out, "%s/E.npy", g_tmp);
    snprintf(grad, sizeof grad, "%s/G.npy", g_tmp);
    char *args[] = {g_exe, "energy", "--run", g_run, "--input", p, "--out", out, "--grad", grad, "--device", "cpu", NULL};
    int rc = run_limited(args, 0);
    EB_CHECK(rc == 1, "energy accepted a [0, 2*(2^32+1)*...] array (exit %d)", rc);
    EB_CHECK(log_has("values per row"), "the message does not say what is wrong");
    cleanup();
    return EB_TEST_PASS;
}

EB_TEST(eval_out_of_memory_prints_what_failed) {
    if (!setup()) return EB_TEST_SKIP;
    /* 2e9 samples of 2 floats = 16 GB of host buffer under an 8 GB address-space limit (room for the
     * CUDA libraries a CUDA build maps) */
    char *args[] = {g_exe, "eval", "--run", g_run, "--n", "2000000000", "--device", "cpu", NULL};
    int rc = run_limited(args, (rlim_t)8 << 30);
    EB_CHECK(rc == 1, "eval exit %d", rc);
    EB_CHECK(log_has("ebgan-gpu eval: out of memory: --n 2000000000"), "eval printed no cause");
    cleanup();
    return EB_TEST_PASS;
}

EB_TEST(sample_out_of_memory_prints_what_failed) {
    if (!setup()) return EB_TEST_SKIP;
    char out[2400];
    snprintf(out, sizeof out, "%s/S.npy", g_tmp);
    char *args[] = {g_exe, "sample", "--run", g_run, "--n", "1000000000", "--out", out, "--device", "cpu", NULL};
    int rc = run_limited(args, (rlim_t)8 << 30); /* 2 x 8 GB of samples and latents */
    EB_CHECK(rc == 1, "sample exit %d", rc);
    EB_CHECK(log_has("ebgan-gpu sample: out of memory: 1000000000 samples"), "sample printed no cause");
    cleanup();
    return EB_TEST_PASS;
}
