/* The SLURM scripts on a real single-node SLURM (Debian's munge, slurmctld, slurmd on loopback, started and
 * stopped here: scripts/slurm/local_cluster.sh): the training batch script with 2 tasks, interrupted by the
 * requeue signal, requeued and resumed, ends with the checkpoint of an uninterrupted run; a job array of
 * sampling shards merges into the unsharded samples. Skipped (77) without SLURM, MPI or root. */
#include "harness.h"
#include "ckpt_same.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ebgan/comm.h"
#include "ebgan/data.h"
#include "ebgan/safetensors.h"

static char g_exe[512], g_src[512], g_tmp[512], g_state[128];

static int sh(const char *cmd) {
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* Starts the cluster (77 when it cannot exist here); SLURM_CONF is exported for the calls below. */
static int cluster_start(const char *tag) {
    const char *bin = getenv("EBGAN_BINARY_DIR"), *src = getenv("EBGAN_SOURCE_DIR");
    snprintf(g_exe, sizeof g_exe, "%s/ebgan-gpu", bin ? bin : ".");
    snprintf(g_src, sizeof g_src, "%s", src ? src : "..");
    snprintf(g_tmp, sizeof g_tmp, "%s/test-runs/slurm-%s", bin ? bin : ".", tag);
    snprintf(g_state, sizeof g_state, "/tmp/ebgan-slurm-%ld", (long)getpid()); /* short paths: unix sockets */
    if (!eb_comm_have_mpi()) {
        printf("build without MPI: skipped\n");
        return EB_TEST_SKIP;
    }
    char cmd[4000];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s && mkdir -p %s", g_tmp, g_state, g_tmp);
    if (sh(cmd)) return EB_TEST_FAIL;
    snprintf(cmd, sizeof cmd, "bash %s/scripts/slurm/local_cluster.sh start %s 4 > %s/cluster.log 2>&1", g_src, g_state,
             g_tmp);
    int rc = sh(cmd);
    if (rc == 77) {
        printf("SLURM (munge, slurmctld, slurmd) not installed or not root: skipped\n");
        return EB_TEST_SKIP;
    }
    if (rc) {
        printf("cluster did not start (%s/cluster.log)\n", g_tmp);
        return EB_TEST_FAIL;
    }
    snprintf(cmd, sizeof cmd, "%s/slurm.conf", g_state);
    setenv("SLURM_CONF", cmd, 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("EBGAN_EXE", g_exe, 1);
    return EB_TEST_PASS;
}

static void cluster_stop(void) {
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "bash %s/scripts/slurm/local_cluster.sh stop %s >> %s/cluster.log 2>&1; rm -rf %s", g_src,
             g_state, g_tmp, g_state);
    sh(cmd);
}

/* sbatch ARGS; the job id (0 on failure). */
static long submit(const char *args) {
    char cmd[6000];
    snprintf(cmd, sizeof cmd, "cd %s && timeout 30 sbatch --parsable %s", g_tmp, args);
    FILE *p = popen(cmd, "r");
    long id = 0;
    if (p && fscanf(p, "%ld", &id) != 1) id = 0;
    if (p) pclose(p);
    return id;
}

/* `scontrol show job -o ID` has "key=value" fields; the value of `key` (empty when the job is unknown). */
static void job_field(const char *id, const char *key, char *out, size_t cap) {
    char cmd[256], line[8192];
    snprintf(cmd, sizeof cmd, "timeout 10 scontrol show job -o %s 2>/dev/null", id);
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p) return;
    char want[64];
    snprintf(want, sizeof want, " %s=", key);
    while (fgets(line, sizeof line, p)) {
        const char *v = strstr(line, want);
        if (v) {
            v += strlen(want);
            size_t n = strcspn(v, " \n");
            snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), v);
            break;
        }
    }
    pclose(p);
}

/* Waits (at most `limit` s) until job `id` reaches a final state; that state, or "" on timeout. */
static void wait_final(const char *id, int limit, char *state, size_t cap) {
    const time_t t0 = time(NULL);
    while (time(NULL) - t0 < limit) {
        job_field(id, "JobState", state, cap);
        if (!strcmp(state, "COMPLETED") || !strcmp(state, "FAILED") || !strcmp(state, "CANCELLED") ||
            !strcmp(state, "TIMEOUT") || !strcmp(state, "NODE_FAIL") || !strcmp(state, "OUT_OF_MEMORY"))
            return;
        usleep(200000);
    }
    state[0] = '\0';
}


#define TRAIN_FLAGS "--dim 32 --batch 32 --n-critic 2 --log-every 20 --ckpt-every 500 --plot-every 0 --seed 4 " \
                    "--device cpu --comm-timeout 120"
#define ITERS "1200"

/* The batch script with 2 tasks, USR1 to its shell mid-run (what --signal=B:USR1@T sends before the time
 * limit): the ranks stop at one iteration, rank 0 checkpoints and requeues, the job comes back by itself
 * (Restarts=1), resumes, and its last checkpoint equals the uninterrupted 2-rank run's bit for bit. */
EB_TEST(requeued_training_job_resumes_to_the_uninterrupted_result) {
    int rc = cluster_start("train");
    if (rc != EB_TEST_PASS) return rc;
    char cmd[8000], state[64], restarts[32], why[1600], ref[1300], got[1300];
    /* the uninterrupted reference: the same 2 ranks under mpirun */
    snprintf(cmd, sizeof cmd, "timeout 300 mpirun -np 2 %s train " TRAIN_FLAGS " --iters " ITERS " --progress 0 --out "
             "%s/ref > %s/ref.log 2>&1", g_exe, g_tmp, g_tmp);
    if (sh(cmd)) {
        cluster_stop();
        EB_CHECK(0, "reference run failed (%s/ref.log)", g_tmp);
    }
    char args[4000];
    snprintf(args, sizeof args, "-n 2 --cpus-per-task=1 --output=%s/job-%%j.out %s/scripts/slurm/train.sbatch %s/run "
             TRAIN_FLAGS " --iters " ITERS, g_tmp, g_src, g_tmp);
    long id = submit(args);
    if (!id) cluster_stop();
    EB_CHECK(id > 0, "sbatch failed");
    /* mid-run: once the job's metrics show progress, the requeue signal to the batch shell */
    const time_t t0 = time(NULL);
    int seen = 0;
    char metrics[1400];
    snprintf(metrics, sizeof metrics, "%s/run/metrics.jsonl", g_tmp);
    while (!seen && time(NULL) - t0 < 120) {
        struct stat s;
        seen = stat(metrics, &s) == 0 && s.st_size > 0;
        usleep(100000);
    }
    if (seen) {
        snprintf(cmd, sizeof cmd, "timeout 10 scancel --batch --signal=USR1 %ld", id);
        seen = sh(cmd) == 0;
    }
    char jid[32];
    snprintf(jid, sizeof jid, "%ld", id);
    wait_final(jid, 240, state, sizeof state);
    job_field(jid, "Restarts", restarts, sizeof restarts);
    snprintf(ref, sizeof ref, "%s/ref/ckpt-%08d.safetensors", g_tmp, atoi(ITERS));
    snprintf(got, sizeof got, "%s/run/ckpt-%08d.safetensors", g_tmp, atoi(ITERS));
    int same = eb_test_ckpt_same(ref, got, 0, why, sizeof why);
    snprintf(cmd, sizeof cmd, "grep -h -E 'ebgan:|stopped by|requeue|error|resuming at' %s/job-%ld.out | head -20", g_tmp, id);
    sh(cmd);
    cluster_stop();
    EB_CHECK(seen, "the job never showed progress or the signal could not be sent");
    EB_CHECK(!strcmp(state, "COMPLETED"), "job %ld ended as '%s' (see %s/job-%ld.out)", id, state, g_tmp, id);
    EB_CHECK(atoi(restarts) == 1, "job %ld was restarted %s times, expected 1", id, restarts);
    EB_CHECK(same, "the requeued job's final checkpoint differs from the uninterrupted run's: %s", why);
    return EB_TEST_PASS;
}

/* sample.sbatch as a 2-task job array, merged: the same samples as one unsharded `sample`. */
EB_TEST(sampling_job_array_merges_to_the_unsharded_samples) {
    int rc = cluster_start("sample");
    if (rc != EB_TEST_PASS) return rc;
    char cmd[8000], args[4000], state[160];
    snprintf(cmd, sizeof cmd, "timeout 120 %s train --dim 32 --batch 32 --iters 20 --n-critic 2 --plot-every 0 "
             "--ckpt-every 20 --device cpu --progress 0 --out %s/run > %s/train.log 2>&1 && timeout 120 %s sample --run "
             "%s/run --n 40 --mcmc mala --steps 5 --alpha 1.5 --seed 3 --device cpu --out %s/one.npy >> %s/train.log 2>&1",
             g_exe, g_tmp, g_tmp, g_exe, g_tmp, g_tmp, g_tmp);
    const int setup = sh(cmd);
    if (setup) cluster_stop();
    EB_CHECK(setup == 0, "training or the unsharded sample failed (status %d; %s/train.log)", setup, g_tmp);
    snprintf(args, sizeof args, "--array=0-1 --cpus-per-task=1 --output=%s/sample-%%A_%%a.out %s/scripts/slurm/sample.sbatch "
             "%s/run %s/sh.npy --n 40 --mcmc mala --steps 5 --alpha 1.5 --seed 3 --device cpu", g_tmp, g_src, g_tmp, g_tmp);
    long id = submit(args);
    if (!id) cluster_stop();
    EB_CHECK(id > 0, "sbatch --array failed");
    int done = 1;
    for (int k = 0; k < 2; k++) { /* array task ids: JOBID_k */
        char task[64], st[64];
        snprintf(task, sizeof task, "%ld_%d", id, k);
        wait_final(task, 120, st, sizeof st);
        if (strcmp(st, "COMPLETED")) done = 0, snprintf(state, sizeof state, "task %s: '%s'", task, st);
    }
    snprintf(cmd, sizeof cmd, "timeout 60 %s merge --out %s/sh.npy --shards 2 >> %s/train.log 2>&1", g_exe, g_tmp, g_tmp);
    int merged = done && sh(cmd) == 0;
    cluster_stop();
    EB_CHECK(done, "array job %ld: %s", id, state);
    EB_CHECK(merged, "merge failed (%s/train.log)", g_tmp);
    char pa[1300], pb[1300];
    snprintf(pa, sizeof pa, "%s/one.npy", g_tmp);
    snprintf(pb, sizeof pb, "%s/sh.npy", g_tmp);
    eb_npy a, b;
    EB_CHECK_OK(eb_npy_read(&a, pa));
    EB_CHECK_OK(eb_npy_read(&b, pb));
    int same = a.shape[0] == b.shape[0] && a.shape[1] == b.shape[1];
    double d = 0;
    for (int64_t i = 0; same && i < a.shape[0] * a.shape[1]; i++) {
        double e = fabs((double)((float *)a.data)[i] - ((float *)b.data)[i]);
        d = e > d ? e : d;
    }
    eb_npy_free(&a), eb_npy_free(&b);
    EB_CHECK(same && d <= 1e-4, "merged array shards differ from the unsharded samples (max |diff| %g)", d);
    return EB_TEST_PASS;
}
