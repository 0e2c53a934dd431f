/* Data parallelism on the CPU backend, run as a user runs it: `mpirun -np R ebgan-gpu train` with real MPI
 * ranks. R ranks with the same global batch reproduce the single process (every checkpoint tensor, within a
 * stated bound), a 2-rank run resumes exactly (also on another world size), and bad jobs stop with one clear
 * line instead of hanging. Skipped (77) when mpirun is absent or the build has no MPI. */
#include "ckpt_same.h"
#include "cli_util.h"
#include "harness.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ebgan/comm.h"
#include "ebgan/safetensors.h"

static char g_exe[1024], g_tmp[1024], g_mpirun[128];

static int setup(void) {
    int found = eb_test_cli_locate(g_exe, sizeof g_exe, g_tmp, sizeof g_tmp, "test-runs/dist");
    if (!found || !eb_comm_have_mpi() || system("command -v mpirun > /dev/null 2>&1")) {
        printf("mpirun, an MPI build or the executable is missing: skipped\n");
        return 0;
    }
    /* as root (CI containers) Open MPI wants both variables; more ranks than cores need --oversubscribe */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 1);
    snprintf(g_mpirun, sizeof g_mpirun, "timeout 300 mpirun --oversubscribe");
    return 1;
}

/* Runs `ebgan-gpu ARGS` on R ranks (R = 0: without mpirun), output to LOG; the exit status. */
static int run_ranks(int R, const char *args, const char *log) {
    char cmd[16384];
    if (R == 0) snprintf(cmd, sizeof cmd, "timeout 300 %s %s > %s 2>&1", g_exe, args, log);
    else snprintf(cmd, sizeof cmd, "%s -np %d %s %s > %s 2>&1", g_mpirun, R, g_exe, args, log);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The toy settings: narrow nets, few iterations (2 cores on CI). */
#define TOY "train --dim 32 --batch 16 --n-critic 2 --log-every 2 --plot-every 0 --seed 5 --device cpu --progress 0"
/* mnist geometry with batch norm in G and the dim entropy (T's trunk and head) at a tiny width */
#define MNIST "train --model mnist --dataset fashion-mnist --dim 16 --z-dim 8 --batch 8 --n-critic 1 --log-every 1 " \
              "--plot-every 0 --seed 5 --device cpu --progress 0"

/* Float rounding differs between one process and R ranks only in the order of sums (per-rank partial sums of
 * the gradients and batch statistics, then the all-reduce). After K iterations of Adam that stays within
 * REL_BOUND of each tensor's largest entry (measured: 5e-7 toy, 7e-6 mnist at K = 6 / 3). */
#define REL_BOUND 1e-4

static int ranks_equal_single(const char *tag, const char *flags, int iters) {
    char out[2300], log[2400], args[4000], ref[2600], got[2600], worst[80] = "";
    int Rs[3] = {0, 2, 4};
    for (int i = 0; i < 3; i++) {
        snprintf(out, sizeof out, "%s/%s-np%d", g_tmp, tag, Rs[i]);
        snprintf(log, sizeof log, "%s.log", out);
        snprintf(args, sizeof args, "%s --iters %d --ckpt-every %d --out %s", flags, iters, iters, out);
        char rm[2400];
        snprintf(rm, sizeof rm, "rm -rf %s", out);
        EB_CHECK(system(rm) == 0, "cleanup");
        EB_CHECK(run_ranks(Rs[i], args, log) == 0, "%s on %d ranks failed (see %s)", tag, Rs[i], log);
    }
    snprintf(ref, sizeof ref, "%s/%s-np0/ckpt-%08d.safetensors", g_tmp, tag, iters);
    for (int i = 1; i < 3; i++) {
        snprintf(got, sizeof got, "%s/%s-np%d/ckpt-%08d.safetensors", g_tmp, tag, Rs[i], iters);
        int same = 0;
        double d = eb_test_ckpt_rel_diff(ref, got, 1, &same, worst, sizeof worst);
        EB_CHECK(d >= 0, "%s: %d-rank checkpoint lacks tensors or its step / RNG state differs", tag, Rs[i]);
        EB_CHECK(d <= REL_BOUND, "%s: %d ranks differ from one process by %.3g (bound %g) in %s", tag, Rs[i], d,
                 REL_BOUND, worst);
        printf("%s: %d ranks vs one process after %d iterations: max rel diff %.3g (%s)\n", tag, Rs[i], iters, d,
               worst);
    }
    return EB_TEST_PASS;
}

EB_TEST(toy_on_2_and_4_ranks_equals_one_process) {
    if (!setup()) return EB_TEST_SKIP;
    return ranks_equal_single("toy", TOY, 6);
}

/* the other method branches: interpolation weights (wgan-gp), the encoder (infogan) and the U step's MALA
 * chains (--train-mcmc: chains keyed by global index) */
EB_TEST(toy_wgan_gp_infogan_train_mcmc_on_2_and_4_ranks_equals_one_process) {
    if (!setup()) return EB_TEST_SKIP;
    return ranks_equal_single("toy-wgan", TOY " --penalty wgan-gp --entropy infogan --train-mcmc 2", 6);
}

EB_TEST(mnist_bn_dim_on_2_and_4_ranks_equals_one_process) {
    if (!setup()) return EB_TEST_SKIP;
    if (system("test -d /usr/share/dataset-fashion-mnist || ls /usr/share/*/fashion* > /dev/null 2>&1")) {
        printf("Fashion-MNIST not installed: skipped\n");
        return EB_TEST_SKIP;
    }
    return ranks_equal_single("mnist", MNIST, 3);
}

/* 2 ranks to step 6 against 2 ranks to 3 resumed to 6 (bit for bit), and the same half resumed on 4 ranks and
 * on one process (the semantics do not depend on R: within the bound). */
EB_TEST(resume_of_a_2_rank_run_replays_it_on_any_world_size) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2300], b[2300], cmd[16384], log[2400], args[4000], pa[2400], pb[2400], worst[80] = "";
    snprintf(a, sizeof a, "%s/resume-a", g_tmp);
    snprintf(b, sizeof b, "%s/resume-b", g_tmp);
    snprintf(log, sizeof log, "%s/resume.log", g_tmp);
    snprintf(cmd, sizeof cmd, "rm -rf %s %s %s-1 %s-4", a, b, b, b);
    EB_CHECK(system(cmd) == 0, "cleanup");
    snprintf(args, sizeof args, TOY " --iters 6 --ckpt-every 3 --out %s", a);
    EB_CHECK(run_ranks(2, args, log) == 0, "uninterrupted 2-rank run failed (%s)", log);
    snprintf(args, sizeof args, TOY " --iters 3 --ckpt-every 3 --out %s", b);
    EB_CHECK(run_ranks(2, args, log) == 0, "first half failed (%s)", log);
    snprintf(cmd, sizeof cmd, "cp -r %s %s-1 && cp -r %s %s-4", b, b, b, b);
    EB_CHECK(system(cmd) == 0, "copy");
    snprintf(pa, sizeof pa, "%s/ckpt-00000006.safetensors", a);
    const int Rs[3] = {2, 4, 0};
    const char *suffix[3] = {"", "-4", "-1"};
    for (int i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "train --resume %s%s --iters 6 --progress 0", b, suffix[i]);
        EB_CHECK(run_ranks(Rs[i], args, log) == 0, "resume on %d ranks failed (%s)", Rs[i], log);
        snprintf(pb, sizeof pb, "%s%s/ckpt-00000006.safetensors", b, suffix[i]);
        int same = 0;
        double d = eb_test_ckpt_rel_diff(pa, pb, 1, &same, worst, sizeof worst);
        EB_CHECK(d >= 0 && d <= REL_BOUND, "resumed on %d ranks: rel diff %.3g in %s", Rs[i], d, worst);
        if (i == 0) EB_CHECK(same, "the 2-rank resume is not bit-identical to the 2-rank run (%s: %.3g)", worst, d);
    }
    return EB_TEST_PASS;
}

EB_TEST(world_size_that_does_not_divide_the_batch_is_refused) {
    if (!setup()) return EB_TEST_SKIP;
    char log[2400], args[3000];
    snprintf(log, sizeof log, "%s/indivisible.log", g_tmp);
    snprintf(args, sizeof args, TOY " --batch 18 --iters 2 --out %s/indivisible", g_tmp);
    EB_CHECK(run_ranks(4, args, log) != 0, "batch 18 on 4 ranks ran");
    EB_CHECK(eb_test_file_has(log, "--batch 18 is not divisible by the world size 4"), "no clear message in %s", log);
    return EB_TEST_PASS;
}

EB_TEST(ranks_that_disagree_on_the_configuration_stop_at_start) {
    if (!setup()) return EB_TEST_SKIP;
    char log[2400], cmd[16384], out[2300];
    snprintf(log, sizeof log, "%s/disagree.log", g_tmp);
    snprintf(out, sizeof out, "%s/disagree", g_tmp);
    snprintf(cmd, sizeof cmd, "rm -rf %s; %s -np 1 %s " TOY " --iters 2 --out %s : -np 1 %s " TOY
             " --iters 2 --seed 7 --out %s > %s 2>&1", out, g_mpirun, g_exe, out, g_exe, out, log);
    int rc = system(cmd);
    EB_CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) != 0 && WEXITSTATUS(rc) != 124, "mismatched ranks ran (rc %d)", rc);
    EB_CHECK(eb_test_file_has(log, "rank 1: configuration differs from rank 0's: 'seed = 7' here, 'seed = 5' on rank 0"),
             "no message naming the option in %s", log);
    struct stat s;
    char ck[2400];
    snprintf(ck, sizeof ck, "%s/ckpt-00000002.safetensors", out);
    EB_CHECK(stat(ck, &s) != 0, "a checkpoint was written");
    return EB_TEST_PASS;
}

/* Starts a long 2-rank job in the background (extra flags), waits for rank 1's layout line and returns its pid
 * (0 on failure); the job's exit status lands in LOG.rc. */
static long start_job(const char *log, const char *flags) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "rm -rf %s.rc %s.run; (%s -np 2 %s " TOY " --iters 1000000 --ckpt-every 0 %s --out %s.run "
             "> %s 2>&1; echo $? > %s.rc) &", log, log, g_mpirun, g_exe, flags, log, log, log);
    if (system(cmd)) return 0;
    long pid = 0;
    for (int i = 0; i < 600 && !pid; i++) { /* the layout line names each rank's pid */
        usleep(100000);
        FILE *f = fopen(log, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f)) {
            const char *p = strstr(line, "rank 1 of 2");
            if (p && (p = strstr(line, "pid "))) pid = atol(p + 4);
        }
        if (f) fclose(f);
    }
    sleep(1); /* training */
    return pid;
}

/* The job's exit status once it ends, -1 if it still runs after `limit` seconds; *took = seconds waited. */
static int wait_job(const char *log, int limit, long *took) {
    const time_t t0 = time(NULL);
    char rcpath[2500];
    snprintf(rcpath, sizeof rcpath, "%s.rc", log);
    struct stat s;
    while (stat(rcpath, &s) && time(NULL) - t0 < limit) usleep(100000);
    *took = (long)(time(NULL) - t0);
    usleep(300000);
    FILE *f = fopen(rcpath, "r");
    int rc = -1;
    if (!f || fscanf(f, "%d", &rc) != 1) rc = -1;
    if (f) fclose(f);
    return rc;
}

/* kill -9 of rank 1 mid-run: mpirun ends rank 0 too and exits non-zero, well before the run would end. */
EB_TEST(a_dying_rank_stops_the_others_instead_of_hanging) {
    if (!setup()) return EB_TEST_SKIP;
    char log[2400];
    snprintf(log, sizeof log, "%s/dying.log", g_tmp);
    long pid = start_job(log, "");
    EB_CHECK(pid > 0, "rank 1 never started (%s)", log);
    EB_CHECK(kill((pid_t)pid, SIGKILL) == 0, "kill rank 1 (pid %ld)", pid);
    long took = 0;
    int rc = wait_job(log, 120, &took);
    EB_CHECK(rc != -1, "the job still runs 120 s after rank 1 died");
    EB_CHECK(rc != 0 && rc != 124, "job exit status %d after a rank died", rc);
    printf("job ended %ld s after rank 1 was killed, exit status %d\n", took, rc);
    return EB_TEST_PASS;
}

/* A rank that hangs (SIGSTOP: alive, so the launcher sees nothing) leaves rank 0 waiting in an all-reduce;
 * after --comm-timeout rank 0 says so and exits, and the launcher ends the job. */
EB_TEST(a_hanging_rank_ends_the_job_after_the_collective_timeout) {
    if (!setup()) return EB_TEST_SKIP;
    char log[2400];
    snprintf(log, sizeof log, "%s/hanging.log", g_tmp);
    long pid = start_job(log, "--comm-timeout 3");
    EB_CHECK(pid > 0, "rank 1 never started (%s)", log);
    EB_CHECK(kill((pid_t)pid, SIGSTOP) == 0, "stop rank 1 (pid %ld)", pid);
    long took = 0;
    int rc = wait_job(log, 60, &took);
    if (rc == -1) kill((pid_t)pid, SIGKILL);
    EB_CHECK(rc != -1, "the job still runs 60 s after rank 1 hung");
    EB_CHECK(rc != 0 && rc != 124, "job exit status %d", rc);
    EB_CHECK(eb_test_file_has(log, "rank 0: no progress for 3 s (--comm-timeout)"), "no timeout message in %s", log);
    kill((pid_t)pid, SIGKILL); /* normally gone already (mpirun kills it) */
    printf("job ended %ld s after rank 1 hung, exit status %d\n", took, rc);
    return EB_TEST_PASS;
}

/* A float32 .npy of n 2-D points (a ring of radius r): a user data file. */
static int write_points(const char *path, int n, float r) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    char hdr[128];
    int len = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, 2), }", n);
    int total = 10 + len + 1, pad = (64 - total % 64) % 64;
    unsigned short hl = (unsigned short)(len + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hl & 0xff, f), fputc(hl >> 8, f);
    fwrite(hdr, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
        float p[2] = {r * cosf(6.2831853f * i / n), r * sinf(6.2831853f * i / n)};
        fwrite(p, sizeof(float), 2, f);
    }
    return fclose(f);
}

/* Each rank resumes "the same" run directory, but the nodes see different files (the same relative paths in
 * two working directories, so the configurations agree): the weight check at start names the rank and net. */
EB_TEST(ranks_whose_weights_differ_stop_with_the_rank_and_net) {
    if (!setup()) return EB_TEST_SKIP;
    char da[1200], db[1200], cmd[16384], log[1300], pa[1300];
    snprintf(da, sizeof da, "%s/node-a", g_tmp);
    snprintf(db, sizeof db, "%s/node-b", g_tmp);
    snprintf(log, sizeof log, "%s/diverged.log", g_tmp);
    snprintf(cmd, sizeof cmd, "rm -rf %s %s && mkdir -p %s %s", da, db, da, db);
    EB_CHECK(system(cmd) == 0, "dirs");
    snprintf(pa, sizeof pa, "%s/data.npy", da);
    EB_CHECK(write_points(pa, 64, 1.0f) == 0, "data a");
    snprintf(pa, sizeof pa, "%s/data.npy", db);
    EB_CHECK(write_points(pa, 64, 1.5f) == 0, "data b");
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "cd %s && timeout 120 %s " TOY " --dataset data.npy --iters 4 --ckpt-every 4 --out run "
                 "> %s 2>&1", i ? db : da, g_exe, log);
        EB_CHECK(system(cmd) == 0, "single-process run in %s failed (%s)", i ? db : da, log);
    }
    snprintf(cmd, sizeof cmd, "%s -np 1 -wdir %s %s train --resume run --iters 8 --progress 0 : -np 1 -wdir %s %s train "
             "--resume run --iters 8 --progress 0 > %s 2>&1", g_mpirun, da, g_exe, db, g_exe, log);
    int rc = system(cmd);
    EB_CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) != 0 && WEXITSTATUS(rc) != 124, "diverged ranks ran (rc %d)", rc);
    EB_CHECK(eb_test_file_has(log, "at step 4 the weights of U on rank 1 differ from rank 0's"), "no clear message in %s", log);
    return EB_TEST_PASS;
}

/* --comm mpi with one rank (MPI singleton, no mpirun) runs every collective and the synchronised batch norm
 * for real: the same run as without a communicator, within the bound (mnist geometry: bn + dim). */
EB_TEST(one_rank_through_mpi_equals_no_communicator) {
    if (!setup()) return EB_TEST_SKIP;
    if (system("test -d /usr/share/dataset-fashion-mnist || ls /usr/share/*/fashion* > /dev/null 2>&1")) {
        printf("Fashion-MNIST not installed: skipped\n");
        return EB_TEST_SKIP;
    }
    char a[1200], b[1200], args[4000], log[1300], pa[1300], pb[1300], worst[80] = "";
    snprintf(a, sizeof a, "%s/one-mpi", g_tmp);
    snprintf(b, sizeof b, "%s/one-none", g_tmp);
    snprintf(log, sizeof log, "%s/one.log", g_tmp);
    snprintf(args, sizeof args, "rm -rf %s %s", a, b);
    EB_CHECK(system(args) == 0, "cleanup");
    snprintf(args, sizeof args, MNIST " --iters 3 --ckpt-every 3 --comm mpi --out %s", a);
    EB_CHECK(run_ranks(0, args, log) == 0, "--comm mpi on one rank failed (%s)", log);
    EB_CHECK(eb_test_file_has(log, "comm mpi"), "not run through MPI (%s)", log);
    snprintf(args, sizeof args, MNIST " --iters 3 --ckpt-every 3 --comm none --out %s", b);
    EB_CHECK(run_ranks(0, args, log) == 0, "--comm none failed (%s)", log);
    snprintf(pa, sizeof pa, "%s/ckpt-00000003.safetensors", a);
    snprintf(pb, sizeof pb, "%s/ckpt-00000003.safetensors", b);
    int same = 0;
    double d = eb_test_ckpt_rel_diff(pb, pa, 1, &same, worst, sizeof worst);
    EB_CHECK(d >= 0 && d <= REL_BOUND, "one MPI rank differs from no communicator by %g in %s", d, worst);
    return EB_TEST_PASS;
}

/* SIGTERM to rank 1 only: the stop flag is all-reduced every iteration, so both ranks stop after the same
 * iteration, rank 0 checkpoints it and the job exits with the stop status (3); resumed on 2 ranks to the end,
 * it equals the uninterrupted 2-rank run bit for bit. */
EB_TEST(a_signal_on_one_rank_stops_every_rank_at_the_same_iteration) {
    if (!setup()) return EB_TEST_SKIP;
    char log[1300], run[1400], ref[1300], args[4000], cmd[16384], pa[1500], pb[1500], worst[80] = "";
    snprintf(log, sizeof log, "%s/sigterm.log", g_tmp);
    snprintf(run, sizeof run, "%s.run", log); /* start_job's --out */
    snprintf(ref, sizeof ref, "%s/sigterm-ref", g_tmp);
    /* long enough to be interrupted a second after it starts (a toy iteration of these sizes takes ~0.1 ms on
     * 2 cores: a run of 2000 ended before the signal), then compared at its end */
    enum { ITERS = 50000 };
    char flags[128];
    snprintf(flags, sizeof flags, "--iters %d --ckpt-every %d --log-every 500", ITERS, ITERS);
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", run, ref);
    EB_CHECK(system(cmd) == 0, "cleanup");
    long pid = start_job(log, flags);
    EB_CHECK(pid > 0, "rank 1 never started (%s)", log);
    EB_CHECK(kill((pid_t)pid, SIGTERM) == 0, "SIGTERM to rank 1 (pid %ld)", pid);
    long took = 0;
    int rc = wait_job(log, 120, &took);
    EB_CHECK(rc == 3, "job exit status %d after SIGTERM to rank 1, expected 3 (stopped with a checkpoint); %s", rc, log);
    FILE *f = fopen(log, "r");
    char line[1024];
    long long step = -1;
    while (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "stopped by SIGTERM at step ");
        if (p) step = atoll(p + strlen("stopped by SIGTERM at step "));
    }
    if (f) fclose(f);
    EB_CHECK(step > 0 && step < ITERS, "no stop line naming the step in %s", log);
    snprintf(pa, sizeof pa, "%s/ckpt-%08lld.safetensors", run, step);
    struct stat s;
    EB_CHECK(stat(pa, &s) == 0, "no checkpoint of the stop step %lld", step);
    snprintf(args, sizeof args, "train --resume %s %s --progress 0", run, flags);
    EB_CHECK(run_ranks(2, args, log) == 0, "resume failed (%s)", log);
    snprintf(args, sizeof args, TOY " %s --out %s", flags, ref);
    EB_CHECK(run_ranks(2, args, log) == 0, "uninterrupted run failed (%s)", log);
    snprintf(pa, sizeof pa, "%s/ckpt-%08d.safetensors", ref, ITERS);
    snprintf(pb, sizeof pb, "%s/ckpt-%08d.safetensors", run, ITERS);
    int same = 0;
    double d = eb_test_ckpt_rel_diff(pa, pb, 1, &same, worst, sizeof worst);
    EB_CHECK(d >= 0 && same, "stopped at %lld and resumed differs from the uninterrupted run (%s: %g)", step, worst, d);
    printf("stopped at step %lld by SIGTERM to rank 1; resumed = uninterrupted bit for bit\n", step);
    return EB_TEST_PASS;
}
