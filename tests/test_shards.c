/* Sharded MALA sampling (`sample --mcmc mala --shards R`, then `merge`): chains are keyed by their global
 * index, so the merged shards equal the unsharded run (up to float rounding of the chunked GEMMs), for any R
 * and for shards taken from a SLURM job array's variables; an incomplete or mixed set is refused by name. */
#include "cli_util.h"
#include "harness.h"

#include <unistd.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ebgan/data.h"
#include "ebgan/shards.h"

static char g_exe[1024], g_tmp[1024];

static int setup(void) { return eb_test_cli_locate(g_exe, sizeof g_exe, g_tmp, sizeof g_tmp, "test-runs/shards"); }

static int sh(const char *fmt, const char *a, const char *b) {
    char cmd[8000], inner[6000];
    snprintf(inner, sizeof inner, fmt, a, b);
    snprintf(cmd, sizeof cmd, "%s >> %s/log 2>&1", inner, g_tmp);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A small trained toy run, once per process, in a folder of its own (ctest runs the cases in parallel). */
static const char *trained_run(void) {
    static char run[1200];
    if (run[0]) return run;
    snprintf(run, sizeof run, "%s/run-%ld", g_tmp, (long)getpid());
    char cmd[6000];
    snprintf(cmd, sizeof cmd, "rm -rf %s && %s train --dim 32 --batch 32 --iters 20 --n-critic 2 --plot-every 0 "
             "--ckpt-every 20 --log-every 10 --device cpu --progress 0 --out %s > %s/log 2>&1", run, g_exe, run, g_tmp);
    if (system(cmd)) run[0] = '\0';
    return run[0] ? run : NULL;
}

static double max_abs_diff(const char *pa, const char *pb, int64_t *rows) {
    eb_npy a, b;
    if (eb_npy_read(&a, pa) != EB_OK) return -1;
    if (eb_npy_read(&b, pb) != EB_OK) {
        eb_npy_free(&a);
        return -1;
    }
    double d = a.ndim == b.ndim && a.shape[0] == b.shape[0] && a.shape[1] == b.shape[1] ? 0 : -1;
    size_t n = (size_t)a.shape[0] * (size_t)a.shape[1];
    for (size_t i = 0; d >= 0 && i < n; i++) {
        double e = fabs((double)((float *)a.data)[i] - ((float *)b.data)[i]);
        d = e > d ? e : d;
    }
    *rows = a.shape[0];
    eb_npy_free(&a);
    eb_npy_free(&b);
    return d;
}

#define MALA "sample --run %s --n 50 --mcmc mala --steps 6 --alpha 1.5 --seed 9 --device cpu %s"
/* |x| <= 2 for the toy; MALA's arithmetic per chain is the same, only GEMM blocking over the chunk differs */
#define ABS_BOUND 1e-4

static int merged_equals_unsharded(int R, int from_env) {
    if (!setup()) return EB_TEST_SKIP;
    const char *run = trained_run();
    EB_CHECK(run, "training failed (%s/log)", g_tmp);
    char out[1300], one[1300], extra[3000];
    snprintf(one, sizeof one, "%s/one-%ld.npy", g_tmp, (long)getpid());
    snprintf(out, sizeof out, "%s/sh%d%s.npy", g_tmp, R, from_env ? "env" : "");
    snprintf(extra, sizeof extra, "--out %s", one);
    char cmd[6000];
    snprintf(cmd, sizeof cmd, "%s " MALA, g_exe, run, extra);
    EB_CHECK(sh("%s%s", cmd, "") == 0, "unsharded sample failed (%s/log)", g_tmp);
    for (int k = 0; k < R; k++) {
        if (from_env) { /* a SLURM job array --array=3-(3+R-1) */
            char v[16];
            snprintf(v, sizeof v, "%d", 3 + k), setenv("SLURM_ARRAY_TASK_ID", v, 1);
            setenv("SLURM_ARRAY_TASK_MIN", "3", 1);
            snprintf(v, sizeof v, "%d", R), setenv("SLURM_ARRAY_TASK_COUNT", v, 1);
            snprintf(extra, sizeof extra, "--out %s --shards -1", out);
        } else {
            snprintf(extra, sizeof extra, "--out %s --shards %d --shard %d", out, R, k);
        }
        snprintf(cmd, sizeof cmd, "%s " MALA, g_exe, run, extra);
        EB_CHECK(sh("%s%s", cmd, "") == 0, "shard %d of %d failed (%s/log)", k, R, g_tmp);
    }
    unsetenv("SLURM_ARRAY_TASK_ID"), unsetenv("SLURM_ARRAY_TASK_MIN"), unsetenv("SLURM_ARRAY_TASK_COUNT");
    char rs[16];
    snprintf(rs, sizeof rs, "%d", R);
    snprintf(cmd, sizeof cmd, "%s merge --out %s --shards %s", g_exe, out, rs);
    EB_CHECK(sh("%s%s", cmd, "") == 0, "merge failed (%s/log)", g_tmp);
    int64_t rows = 0;
    double d = max_abs_diff(one, out, &rows);
    EB_CHECK(d >= 0 && rows == 50, "merged samples have another shape (%lld rows)", (long long)rows);
    EB_CHECK(d <= ABS_BOUND, "merged %d shards differ from the unsharded samples by %g (bound %g)", R, d, ABS_BOUND);
    char oz[1400], mz[1400];
    snprintf(oz, sizeof oz, "%s/one-%ld_z.npy", g_tmp, (long)getpid());
    snprintf(mz, sizeof mz, "%s/sh%d%s_z.npy", g_tmp, R, from_env ? "env" : "");
    d = max_abs_diff(oz, mz, &rows);
    EB_CHECK(d >= 0 && d <= ABS_BOUND, "merged latents differ by %g", d);
    printf("%d shards merged vs unsharded: max |diff| %g\n", R, d);
    return EB_TEST_PASS;
}

EB_TEST(three_uneven_shards_merge_to_the_unsharded_chains) { return merged_equals_unsharded(3, 0); }

EB_TEST(shards_from_a_slurm_job_array_merge_to_the_unsharded_chains) { return merged_equals_unsharded(2, 1); }

EB_TEST(merge_refuses_a_missing_or_foreign_shard) {
    if (!setup()) return EB_TEST_SKIP;
    char base[1300], p[1400];
    snprintf(base, sizeof base, "%s/bad.npy", g_tmp);
    float rows[10 * 2] = {0};
    int64_t s4[2] = {4, 2}, s3[2] = {3, 2}, s1[2] = {1, 2};
    eb_shard_path(base, "", 0, 3, p, sizeof p);
    EB_CHECK_OK(eb_npy_write(p, EB_F32, 2, s3, rows));
    eb_shard_path(base, "", 2, 3, p, sizeof p);
    EB_CHECK_OK(eb_npy_write(p, EB_F32, 2, s4, rows));
    eb_shard_path(base, "", 1, 3, p, sizeof p);
    remove(p);
    int64_t n = 0;
    EB_CHECK(eb_shards_merge(base, "", 3, &n) == EB_ERR_IO, "a set without shard 1 merged");
    EB_CHECK(strstr(eb_error_message(), "shard 1 of 3 is missing"), "message: %s", eb_error_message());
    eb_shard_path(base, "", 1, 3, p, sizeof p);
    EB_CHECK_OK(eb_npy_write(p, EB_F32, 2, s1, rows));
    EB_CHECK(eb_shards_merge(base, "", 3, &n) == EB_ERR_FORMAT, "shards of 3, 1, 4 rows merged");
    EB_CHECK(strstr(eb_error_message(), "has 3 rows, but shard 0 of 3 of 8 rows has 2"), "message: %s", eb_error_message());
    return EB_TEST_PASS;
}
