/* The run directory as a contract, tested as a user and a scheduler meet it: the built ebgan-gpu run as a child
 * process, real signals sent to it, its exit status and the files it leaves read back (README "Output formats"). */
#define _GNU_SOURCE
#include "cli_util.h"
#include "harness.h"
#include "ckpt_same.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ebgan/safetensors.h"

static char g_exe[2048], g_tmp[2048];

static int setup(void) { return eb_test_cli_locate(g_exe, sizeof g_exe, g_tmp, sizeof g_tmp, "test-rundir"); }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A fresh directory path under the build tree (removed if it exists). */
static const char *fresh_dir(const char *tag, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", g_tmp, tag);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", buf);
    if (system(cmd) != 0) return NULL;
    return buf;
}

/* Starts `ebgan-gpu train ARGS... --device cpu --progress 0` (args split on spaces), stdout and stderr to `log`. */
static pid_t spawn_train(const char *args, const char *log) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", args);
    char *av[128];
    int n = 0;
    av[n++] = g_exe;
    av[n++] = "train";
    for (char *tok = strtok(buf, " "); tok && n < 120; tok = strtok(NULL, " ")) av[n++] = tok;
    av[n++] = "--device";
    av[n++] = "cpu";
    av[n++] = "--progress";
    av[n++] = "0";
    av[n] = NULL;
    return eb_test_spawn_logged(g_exe, av, log, 0);
}

/* Waits up to `limit_s` for the child; its wait status, or -1 after killing a child that hung. */
static int wait_child(pid_t pid, double limit_s) {
    double t0 = now_s();
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0) return -1;
        if (now_s() - t0 > limit_s) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(20000);
    }
}

/* Runs train to completion (at most 120 s); its exit code, -1 when it hung or died by a signal. */
static int run_train(const char *args, const char *log) {
    int st = wait_child(spawn_train(args, log), 120);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)(n > 0 ? n : 0) + 1);
    size_t got = s ? fread(s, 1, (size_t)(n > 0 ? n : 0), f) : 0;
    fclose(f);
    if (s) s[got] = '\0';
    if (len) *len = got;
    return s;
}


static int exists(const char *dir, const char *name) {
    char p[4400];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0;
}

/* Waits until the child's metrics.jsonl holds a record of step >= `step` (the run is mid-way). */
static int wait_for_step(const char *dir, int step, pid_t pid, double limit_s) {
    char p[4400], needle[64], spaced[64];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    snprintf(needle, sizeof needle, "{\"step\":%d,", step);
    snprintf(spaced, sizeof spaced, "{\"step\": %d,", step); /* the format of earlier versions */
    double t0 = now_s();
    while (now_s() - t0 < limit_s) {
        if (eb_test_file_has(p, needle) || eb_test_file_has(p, spaced)) return 1;
        if (waitpid(pid, NULL, WNOHANG) == pid) return 0;
        usleep(10000);
    }
    return 0;
}

/* Kills and reaps a child a failing case leaves behind (returns 0, for use in a failing check). */
static int reap(pid_t pid) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

/* The single checkpoint name in `dir` (ckpt-*.safetensors), its step in *step; 0 when not exactly one. */
static int only_ckpt(const char *dir, long *step) {
    char cmd[9000];
    const int me = (int)getpid(); /* scratch names of this case's process: cases run in parallel */
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '^ckpt-[0-9]*\\.safetensors$' > '%s/count-%d' && ls '%s' | "
             "grep '^ckpt-[0-9]*\\.safetensors$' > '%s/name-%d' || true", dir, g_tmp, me, dir, g_tmp, me);
    if (system(cmd) != 0) return 0;
    char p[4400];
    snprintf(p, sizeof p, "%s/count-%d", g_tmp, me);
    char *c = slurp(p, NULL);
    int n = c ? atoi(c) : 0;
    free(c);
    if (n != 1) return 0;
    snprintf(p, sizeof p, "%s/name-%d", g_tmp, me);
    char *nm = slurp(p, NULL);
    *step = nm ? strtol(nm + 5, NULL, 10) : -1;
    free(nm);
    return 1;
}


/* Every "step" of metrics.jsonl appears once and in increasing order. */
static int steps_once_in_order(const char *dir, int *count) {
    char p[4400];
    snprintf(p, sizeof p, "%s/metrics.jsonl", dir);
    char *s = slurp(p, NULL);
    if (!s) return 0;
    long last = -1;
    int ok = 1;
    *count = 0;
    for (char *q = strstr(s, "\"step\":"); q; q = strstr(q + 1, "\"step\":")) {
        long v = strtol(q + 7, NULL, 10);
        if (v <= last) ok = 0;
        last = v;
        (*count)++;
    }
    free(s);
    return ok;
}

/* The toy settings of these tests: small nets, every step logged so that a test can see the run progress. */
#define SMALL "--dim 64 --batch 64 --log-every 1 --plot-every 0 --seed 5"

/* A real signal to a real run mid-way: it finishes the iteration, checkpoints, exits with `want_code` naming
 * the signal; resuming then reaches exactly the checkpoint an uninterrupted run writes. */
static int check_stop(const char *tag, int signo, const char *extra, int want_code, const char *signame) {
    char a[2200], b[2300], log[2300], args[3000], pa[2400], pb[2400], why[256];
    EB_CHECK(fresh_dir(tag, a, sizeof a), "dir");
    snprintf(b, sizeof b, "%s-straight", a);
    EB_CHECK(fresh_dir(strrchr(b, '/') + 1, b, sizeof b), "dir");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(args, sizeof args, SMALL " --iters 1000000 --ckpt-every 1000000 --out %s %s", a, extra);
    pid_t pid = spawn_train(args, log);
    EB_CHECK(wait_for_step(a, 5, pid, 60) || reap(pid), "the run did not reach step 5");
    kill(pid, signo);
    int st = wait_child(pid, 60);
    EB_CHECK(st >= 0 && WIFEXITED(st), "%s: the run died (status %d) instead of exiting", signame, st);
    EB_CHECK(WEXITSTATUS(st) == want_code, "%s: exit status %d, want %d", signame, WEXITSTATUS(st), want_code);
    long step = -1;
    EB_CHECK(only_ckpt(a, &step) && step >= 5, "%s: no single checkpoint of the interrupted step", signame);
    char line[2400];
    snprintf(line, sizeof line, "stopped by %s at step %ld; checkpoint %s/ckpt-%08ld.safetensors", signame, step, a,
             step);
    EB_CHECK(eb_test_file_has(log, line), "%s: log lacks '%s'", signame, line);
    /* resume to step+7 and compare with one uninterrupted run to step+7 */
    snprintf(args, sizeof args, "--resume %s --iters %ld", a, step + 7);
    EB_CHECK(run_train(args, log) == 0, "resume failed (see %s)", log);
    snprintf(args, sizeof args, SMALL " --iters %ld --ckpt-every 1000000 --out %s %s", step + 7, b, extra);
    EB_CHECK(run_train(args, log) == 0, "uninterrupted run failed (see %s)", log);
    snprintf(pa, sizeof pa, "%s/ckpt-%08ld.safetensors", a, step + 7);
    snprintf(pb, sizeof pb, "%s/ckpt-%08ld.safetensors", b, step + 7);
    EB_CHECK(eb_test_ckpt_same(pa, pb, 1, why, sizeof why), "stopped + resumed run differs from the uninterrupted one: %s",
             why);
    int n = 0;
    EB_CHECK(steps_once_in_order(a, &n) && n == step + 7, "metrics of the resumed run: %d records for %ld steps", n,
             step + 7);
    return EB_TEST_PASS;
}

EB_TEST(sigterm_checkpoints_exits_3_and_resume_is_bit_exact) {
    if (!setup()) return EB_TEST_SKIP;
    return check_stop("sigterm", SIGTERM, "", 3, "SIGTERM");
}

EB_TEST(sighup_checkpoints_and_exits_3) {
    if (!setup()) return EB_TEST_SKIP;
    return check_stop("sighup", SIGHUP, "", 3, "SIGHUP");
}

EB_TEST(sigint_checkpoints_and_exits_3) {
    if (!setup()) return EB_TEST_SKIP;
    return check_stop("sigint", SIGINT, "", 3, "SIGINT");
}

EB_TEST(requeue_signal_usr1_checkpoints_and_exits_4) {
    if (!setup()) return EB_TEST_SKIP;
    return check_stop("sigusr1", SIGUSR1, "", 4, "SIGUSR1");
}

EB_TEST(requeue_signal_is_configurable) {
    if (!setup()) return EB_TEST_SKIP;
    return check_stop("sigusr2", SIGUSR2, "--requeue-signal USR2", 4, "SIGUSR2");
}

EB_TEST(second_sigint_exits_at_once) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2200], log[2300], args[3000];
    EB_CHECK(fresh_dir("sigint2", a, sizeof a), "dir");
    snprintf(log, sizeof log, "%s.log", a);
    /* wide nets and a large batch: an iteration takes long enough for the second SIGINT to land inside it */
    snprintf(args, sizeof args, "--dim 512 --batch 2048 --log-every 1 --plot-every 0 --iters 1000000 "
             "--ckpt-every 1000000 --out %s", a);
    pid_t pid = spawn_train(args, log);
    EB_CHECK(wait_for_step(a, 1, pid, 120) || reap(pid), "the run did not reach step 1");
    kill(pid, SIGINT);
    double t0 = now_s();
    while (!eb_test_file_has(log, "SIGINT again") && now_s() - t0 < 30) usleep(1000);
    kill(pid, SIGINT);
    int st = wait_child(pid, 60); /* kills the child when it hangs */
    EB_CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 130, "second SIGINT: status %d (exit %d), want exit 130",
             st, st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    EB_CHECK(eb_test_file_has(log, "second SIGINT"), "no message on the second SIGINT");
    return EB_TEST_PASS;
}

EB_TEST(second_writer_is_refused_while_a_run_holds_the_directory) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2200], log[2300], log2[2300], args[3000];
    EB_CHECK(fresh_dir("locked", a, sizeof a), "dir");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(log2, sizeof log2, "%s-second.log", a);
    snprintf(args, sizeof args, SMALL " --iters 1000000 --ckpt-every 3 --out %s", a);
    pid_t pid = spawn_train(args, log);
    EB_CHECK(wait_for_step(a, 4, pid, 60) || reap(pid), "the run did not reach step 4");
    snprintf(args, sizeof args, "--resume %s --iters 1000000", a);
    int rc = run_train(args, log2);
    kill(pid, SIGTERM);
    int st = wait_child(pid, 60);
    EB_CHECK(rc != 0, "a second writer was let into a directory in use");
    char msg[128];
    snprintf(msg, sizeof msg, "is in use by process %ld", (long)pid);
    EB_CHECK(eb_test_file_has(log2, msg), "the refusal does not name the holder ('%s')", msg);
    EB_CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 3, "the first run did not stop cleanly");
    return EB_TEST_PASS;
}

EB_TEST(stale_lock_of_a_dead_process_is_taken_over) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2200], log[2300], args[3000], p[2400];
    EB_CHECK(fresh_dir("stale-lock", a, sizeof a), "dir");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(args, sizeof args, SMALL " --iters 4 --ckpt-every 2 --out %s", a);
    EB_CHECK(run_train(args, log) == 0, "first run");
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0); /* a pid that no longer runs, as a killed trainer leaves in its lock file */
    snprintf(p, sizeof p, "%s/train.lock", a);
    FILE *f = fopen(p, "w");
    EB_CHECK(f && fprintf(f, "%ld\n", (long)dead) > 0 && fclose(f) == 0, "write lock file");
    snprintf(args, sizeof args, "--resume %s --iters 6", a);
    EB_CHECK(run_train(args, log) == 0, "resume refused by a stale lock (see %s)", log);
    char msg[128];
    snprintf(msg, sizeof msg, "took over the lock of process %ld", (long)dead);
    EB_CHECK(eb_test_file_has(log, msg), "no notice '%s'", msg);
    EB_CHECK(!exists(a, "train.lock"), "the lock file outlived the run");
    return EB_TEST_PASS;
}

EB_TEST(fresh_run_into_another_runs_directory_is_refused) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2200], log[2300], args[3000], p[2400];
    EB_CHECK(fresh_dir("taken", a, sizeof a), "dir");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(args, sizeof args, SMALL " --iters 6 --ckpt-every 2 --keep 3 --out %s", a);
    EB_CHECK(run_train(args, log) == 0, "first run");
    snprintf(p, sizeof p, "%s/metrics.jsonl", a);
    size_t n0 = 0, n1 = 0;
    char *before = slurp(p, &n0);
    snprintf(args, sizeof args, SMALL " --iters 2 --ckpt-every 1 --keep 1 --out %s", a);
    int rc = run_train(args, log);
    char *after = slurp(p, &n1);
    int same = before && after && n0 == n1 && !memcmp(before, after, n0);
    free(before);
    free(after);
    EB_CHECK(rc != 0, "a fresh run was let into another run's directory");
    EB_CHECK(eb_test_file_has(log, "already holds a run") && eb_test_file_has(log, "--resume"), "the refusal does not say why/how");
    EB_CHECK(same, "the other run's metrics.jsonl was changed");
    EB_CHECK(exists(a, "ckpt-00000002.safetensors") && exists(a, "ckpt-00000004.safetensors") &&
             exists(a, "ckpt-00000006.safetensors"), "the other run's checkpoints were pruned");
    return EB_TEST_PASS;
}

static int copy_file(const char *from, const char *to) {
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    return system(cmd) == 0;
}

EB_TEST(only_this_runs_exact_checkpoint_names_are_pruned_or_resumed) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2200], o[2200], log[2300], args[3000], p[2400], q[2400];
    EB_CHECK(fresh_dir("ours", a, sizeof a), "dir");
    EB_CHECK(fresh_dir("other", o, sizeof o), "dir");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(args, sizeof args, SMALL " --iters 4 --ckpt-every 2 --keep 1 --out %s", a);
    EB_CHECK(run_train(args, log) == 0, "first run");
    snprintf(args, sizeof args, SMALL " --iters 2 --ckpt-every 2 --out %s", o);
    EB_CHECK(run_train(args, log) == 0, "other run");
    /* the user's files next to the run: a favourite, a hand-named one, another run's checkpoint */
    snprintf(p, sizeof p, "%s/ckpt-00000004.safetensors", a);
    snprintf(q, sizeof q, "%s/ckpt-best.safetensors", a);
    EB_CHECK(copy_file(p, q), "copy");
    snprintf(q, sizeof q, "%s/ckpt-0-mine.safetensors", a);
    EB_CHECK(copy_file(p, q), "copy");
    snprintf(p, sizeof p, "%s/ckpt-00000002.safetensors", o);
    snprintf(q, sizeof q, "%s/ckpt-00000002.safetensors", a);
    EB_CHECK(copy_file(p, q), "copy");
    snprintf(args, sizeof args, "--resume %s --iters 8 --ckpt-every 2", a);
    EB_CHECK(run_train(args, log) == 0, "resume (see %s)", log);
    EB_CHECK(eb_test_file_has(log, "resuming at step 4"), "did not resume from the run's newest checkpoint");
    EB_CHECK(exists(a, "ckpt-best.safetensors") && exists(a, "ckpt-0-mine.safetensors"), "a user's file was deleted");
    EB_CHECK(exists(a, "ckpt-00000002.safetensors"), "another run's checkpoint was pruned");
    EB_CHECK(!exists(a, "ckpt-00000004.safetensors") && !exists(a, "ckpt-00000006.safetensors") &&
             exists(a, "ckpt-00000008.safetensors"), "this run's checkpoints were not pruned to --keep 1");
    return EB_TEST_PASS;
}

EB_TEST(leftover_temp_files_of_a_dead_writer_are_removed) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2200], log[2300], args[3000], p[2400];
    EB_CHECK(fresh_dir("leftover", a, sizeof a), "dir");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(args, sizeof args, SMALL " --iters 2 --ckpt-every 2 --out %s", a);
    EB_CHECK(run_train(args, log) == 0, "first run");
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char tmpname[128], mine[] = "notes.txt.tmp.1";
    snprintf(tmpname, sizeof tmpname, "ckpt-00000004.safetensors.tmp.%ld", (long)dead);
    const char *names[2] = {tmpname, mine};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", a, names[i]);
        FILE *f = fopen(p, "w");
        EB_CHECK(f && fputs("half", f) >= 0 && fclose(f) == 0, "write %s", p);
    }
    snprintf(args, sizeof args, "--resume %s --iters 3", a);
    EB_CHECK(run_train(args, log) == 0, "resume (see %s)", log);
    EB_CHECK(!exists(a, tmpname), "the dead writer's %s was left", tmpname);
    EB_CHECK(exists(a, mine), "a user's file %s was removed", mine);
    EB_CHECK(eb_test_file_has(log, "removed 1 temp file"), "no notice of the removal");
    return EB_TEST_PASS;
}

/* Flips one byte of a file at `from_end` bytes before its end. */
static int flip_byte(const char *path, long from_end) {
    FILE *f = fopen(path, "r+b");
    if (!f) return 0;
    fseek(f, -from_end, SEEK_END);
    int c = fgetc(f);
    fseek(f, -from_end, SEEK_END);
    fputc(c ^ 0x40, f);
    return fclose(f) == 0;
}

EB_TEST(damaged_newest_checkpoint_is_named_and_the_intact_one_offered) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2200], log[2300], args[3000], p[2400];
    EB_CHECK(fresh_dir("damaged", a, sizeof a), "dir");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(args, sizeof args, SMALL " --iters 4 --ckpt-every 2 --out %s", a);
    EB_CHECK(run_train(args, log) == 0, "first run");
    snprintf(p, sizeof p, "%s/ckpt-00000004.safetensors", a);
    EB_CHECK(flip_byte(p, 3), "damage");
    snprintf(args, sizeof args, "--resume %s --iters 6", a);
    EB_CHECK(run_train(args, log) != 0, "resumed from a damaged checkpoint");
    EB_CHECK(eb_test_file_has(log, "ckpt-00000004.safetensors is damaged") && eb_test_file_has(log, "checksum"),
             "the damaged checkpoint and its reason are not named (see %s)", log);
    EB_CHECK(eb_test_file_has(log, "ckpt-00000002.safetensors") && eb_test_file_has(log, "--resume-intact 1"),
             "the intact one and the option are not offered");
    snprintf(args, sizeof args, "--resume %s --iters 6 --resume-intact 1", a);
    EB_CHECK(run_train(args, log) == 0, "--resume-intact 1 failed (see %s)", log);
    EB_CHECK(eb_test_file_has(log, "resuming at step 2") && eb_test_file_has(log, "is damaged"), "did not say what it skipped");
    return EB_TEST_PASS;
}

/* Rewrites checkpoint `path` with one metadata value replaced (tensors and their order kept). */
static int rewrite_meta(const char *path, const char *key, const char *value) {
    eb_safetensors st;
    if (eb_safetensors_open(&st, path) != EB_OK) return 0;
    int n = eb_safetensors_count(&st), nm = eb_safetensors_meta_count(&st);
    eb_st_entry *ent = calloc((size_t)n, sizeof *ent);
    eb_st_meta *meta = calloc((size_t)nm, sizeof *meta);
    char *data = malloc(st.data_bytes + 1);
    int ok = ent && meta && data;
    for (int i = 0; ok && i < n; i++) {
        const eb_st_info *in = eb_safetensors_at(&st, i);
        ok = eb_safetensors_read(&st, in, data + in->begin, in->end - in->begin) == EB_OK;
        ent[i] = (eb_st_entry){in->name, in->dtype, in->ndim, {0}, data + in->begin};
        memcpy(ent[i].shape, in->shape, sizeof in->shape);
    }
    for (int i = 0; ok && i < nm; i++) {
        eb_safetensors_meta_at(&st, i, &meta[i].key, &meta[i].value);
        if (!strcmp(meta[i].key, key)) meta[i].value = value;
    }
    char tmp[2500];
    snprintf(tmp, sizeof tmp, "%s.edited", path);
    ok = ok && eb_safetensors_write(tmp, ent, n, meta, nm) == EB_OK;
    eb_safetensors_close(&st);
    free(ent);
    free(meta);
    free(data);
    return ok && rename(tmp, path) == 0;
}

EB_TEST(checkpoint_metadata_out_of_range_is_refused) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2200], log[2300], args[3000], p[2400];
    EB_CHECK(fresh_dir("badmeta", a, sizeof a), "dir");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(args, sizeof args, SMALL " --iters 4 --ckpt-every 4 --out %s", a);
    EB_CHECK(run_train(args, log) == 0, "first run");
    snprintf(p, sizeof p, "%s/ckpt-00000004.safetensors", a);
    EB_CHECK(rewrite_meta(p, "rng_counter", "-1"), "rewrite");
    snprintf(args, sizeof args, "--resume %s --iters 8", a);
    EB_CHECK(run_train(args, log) != 0, "a negative rng_counter was accepted");
    EB_CHECK(eb_test_file_has(log, "rng_counter"), "the bad value is not named (see %s)", log);
    EB_CHECK(rewrite_meta(p, "rng_counter", "99"), "rewrite");
    EB_CHECK(run_train(args, log) != 0, "an rng_counter off this configuration's stream was accepted");
    EB_CHECK(rewrite_meta(p, "step", "-4"), "rewrite");
    EB_CHECK(run_train(args, log) != 0 && eb_test_file_has(log, "'step'"), "a negative step was accepted (see %s)", log);
    return EB_TEST_PASS;
}

EB_TEST(resume_refuses_options_that_change_the_method_and_iters_below_the_step) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2200], log[2300], args[3000];
    EB_CHECK(fresh_dir("strict", a, sizeof a), "dir");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(args, sizeof args, SMALL " --iters 4 --ckpt-every 4 --out %s", a);
    EB_CHECK(run_train(args, log) == 0, "first run");
    snprintf(args, sizeof args, "--resume %s --iters 8 --lr 0.5", a);
    EB_CHECK(run_train(args, log) != 0, "--lr changed on resume without an error");
    EB_CHECK(eb_test_file_has(log, "--lr 0.5 differs from the run's 0.0001"), "message lacks the option and both values");
    snprintf(args, sizeof args, "--resume %s --iters 8 --batch 32", a);
    EB_CHECK(run_train(args, log) != 0 && eb_test_file_has(log, "--batch 32 differs from the run's 64"), "--batch changed");
    snprintf(args, sizeof args, "--resume %s --iters 8 --seed 5", a);
    EB_CHECK(run_train(args, log) == 0, "an option equal to the run's value was refused");
    snprintf(args, sizeof args, "--resume %s --iters 2", a);
    EB_CHECK(run_train(args, log) != 0 && eb_test_file_has(log, "below the run's current step 8"), "--iters below the step");
    snprintf(args, sizeof args, "--resume %s --iters 10 --ckpt-every 1 --keep 2 --log-every 2", a);
    EB_CHECK(run_train(args, log) == 0, "a cadence option was refused on resume (see %s)", log);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "%s train --help > %s 2>&1", g_exe, log);
    EB_CHECK(system(cmd) == 0 && eb_test_file_has(log, "With --resume DIR only these may change: --iters"),
             "--help does not list what may change on resume");
    return EB_TEST_PASS;
}

EB_TEST(missing_or_edited_config_txt_is_reported_and_the_checkpoints_used) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2200], b[2200], log[2300], args[3000], p[2400], pa[2400], pb[2400], why[256];
    EB_CHECK(fresh_dir("cfg-edit", a, sizeof a), "dir");
    EB_CHECK(fresh_dir("cfg-edit-straight", b, sizeof b), "dir");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(args, sizeof args, SMALL " --iters 3 --ckpt-every 3 --out %s", a);
    EB_CHECK(run_train(args, log) == 0, "first run");
    snprintf(p, sizeof p, "%s/config.txt", a);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "sed -i 's/^lr = .*/lr = 0.5/' '%s'", p);
    EB_CHECK(system(cmd) == 0, "edit");
    snprintf(args, sizeof args, "--resume %s --iters 6", a);
    EB_CHECK(run_train(args, log) == 0, "resume with an edited config.txt (see %s)", log);
    EB_CHECK(eb_test_file_has(log, "config.txt differs from the configuration embedded in"), "the edit is not reported");
    snprintf(args, sizeof args, SMALL " --iters 6 --ckpt-every 3 --out %s", b);
    EB_CHECK(run_train(args, log) == 0, "uninterrupted run");
    snprintf(pa, sizeof pa, "%s/ckpt-00000006.safetensors", a);
    snprintf(pb, sizeof pb, "%s/ckpt-00000006.safetensors", b);
    EB_CHECK(eb_test_ckpt_same(pa, pb, 1, why, sizeof why), "the edited config.txt was used: %s", why);
    EB_CHECK(unlink(p) == 0, "remove config.txt");
    snprintf(args, sizeof args, "--resume %s --iters 7", a);
    EB_CHECK(run_train(args, log) == 0, "resume without config.txt (see %s)", log);
    EB_CHECK(eb_test_file_has(log, "config.txt is missing; using the configuration embedded"), "the loss is not reported");
    return EB_TEST_PASS;
}

EB_TEST(metrics_are_trimmed_to_the_checkpoint_on_resume) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2200], log[2300], args[3000], p[2400];
    EB_CHECK(fresh_dir("trim", a, sizeof a), "dir");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(args, sizeof args, SMALL " --iters 8 --ckpt-every 4 --out %s", a);
    EB_CHECK(run_train(args, log) == 0, "first run");
    /* as a kill -9 after step 8's record but before its checkpoint leaves it; and a torn last line */
    snprintf(p, sizeof p, "%s/ckpt-00000008.safetensors", a);
    EB_CHECK(unlink(p) == 0, "remove");
    snprintf(p, sizeof p, "%s/metrics.jsonl", a);
    FILE *f = fopen(p, "ab");
    EB_CHECK(f && fputs("{\"step\":9,\"wall_s\":", f) >= 0 && fclose(f) == 0, "tear");
    snprintf(args, sizeof args, "--resume %s --iters 10", a);
    EB_CHECK(run_train(args, log) == 0, "resume (see %s)", log);
    int n = 0;
    EB_CHECK(steps_once_in_order(a, &n) && n == 10, "metrics hold %d records for 10 steps (a step twice?)", n);
    EB_CHECK(eb_test_file_has(log, "dropped 5 metrics record"), "the trim is not reported");
    return EB_TEST_PASS;
}

EB_TEST(failed_metrics_write_stops_the_run_with_one_line) {
    if (!setup()) return EB_TEST_SKIP;
    struct stat sb;
    if (stat("/dev/full", &sb) != 0) return EB_TEST_SKIP;
    char a[2200], log[2300], args[3000], p[2400];
    EB_CHECK(fresh_dir("full", a, sizeof a), "dir");
    EB_CHECK(mkdir(a, 0777) == 0, "mkdir");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(p, sizeof p, "%s/metrics.jsonl", a);
    EB_CHECK(symlink("/dev/full", p) == 0, "symlink"); /* every write fails: a full disk */
    snprintf(args, sizeof args, SMALL " --iters 20 --ckpt-every 5 --out %s", a);
    int rc = run_train(args, log);
    EB_CHECK(rc == 1, "a failing metrics write was ignored (exit %d)", rc);
    EB_CHECK(eb_test_file_has(log, "metrics.jsonl: No space left on device"), "the error does not name file and cause");
    return EB_TEST_PASS;
}

/* `train` with this argument list must fail within 60 s (never hang) with a message holding `needle`. */
static int refuses_quickly(const char *args, const char *needle) {
    char log[2300];
    snprintf(log, sizeof log, "%s/refuse-%d.log", g_tmp, (int)getpid()); /* cases run in parallel */
    double t0 = now_s();
    int st = wait_child(spawn_train(args, log), 60);
    EB_CHECK(st >= 0, "'train %s' hung (killed after %.0f s)", args, now_s() - t0);
    EB_CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0, "'train %s' was accepted", args);
    EB_CHECK(eb_test_file_has(log, needle), "'train %s': message lacks '%s'", args, needle);
    return EB_TEST_PASS;
}

EB_TEST(special_files_as_config_dataset_or_checkpoint_are_refused) {
    if (!setup()) return EB_TEST_SKIP;
    char d[2200], p[2400], args[6000];
    EB_CHECK(fresh_dir("special", d, sizeof d), "dir");
    EB_CHECK(mkdir(d, 0777) == 0, "mkdir");
    snprintf(p, sizeof p, "%s/fifo", d);
    EB_CHECK(mkfifo(p, 0666) == 0, "mkfifo");
    snprintf(args, sizeof args, "--config %s --iters 1 --out %s/o1", p, d);
    EB_CHECK(refuses_quickly(args, "is a FIFO") == EB_TEST_PASS, "FIFO --config");
    snprintf(args, sizeof args, "--dataset %s --iters 1 --out %s/o2", p, d);
    EB_CHECK(refuses_quickly(args, "is a FIFO") == EB_TEST_PASS, "FIFO dataset");
    snprintf(args, sizeof args, "--config /dev/zero --iters 1 --out %s/o3", d);
    EB_CHECK(refuses_quickly(args, "is a device") == EB_TEST_PASS, "--config /dev/zero");
    snprintf(args, sizeof args, "--config %s --iters 1 --out %s/o4", d, d);
    EB_CHECK(refuses_quickly(args, "is a directory") == EB_TEST_PASS, "directory --config");
    snprintf(p, sizeof p, "%s/nul.txt", d);
    FILE *f = fopen(p, "wb");
    EB_CHECK(f && fwrite("\0iters = 1\n", 1, 11, f) == 11 && fclose(f) == 0, "write");
    snprintf(args, sizeof args, "--config %s --out %s/o5", p, d);
    EB_CHECK(refuses_quickly(args, "NUL byte") == EB_TEST_PASS, "NUL-led --config");
    /* a run whose only checkpoint is a FIFO */
    snprintf(p, sizeof p, "%s/run", d);
    EB_CHECK(mkdir(p, 0777) == 0, "mkdir");
    snprintf(p, sizeof p, "%s/run/ckpt-00000004.safetensors", d);
    EB_CHECK(mkfifo(p, 0666) == 0, "mkfifo");
    snprintf(args, sizeof args, "--resume %s/run --iters 8", d);
    EB_CHECK(refuses_quickly(args, "is a FIFO") == EB_TEST_PASS, "FIFO checkpoint");
    return EB_TEST_PASS;
}

EB_TEST(infinite_lr_is_reported_as_not_finite) {
    if (!setup()) return EB_TEST_SKIP;
    char d[2200], args[3000];
    EB_CHECK(fresh_dir("lr-inf", d, sizeof d), "dir");
    snprintf(args, sizeof args, "--lr inf --iters 1 --out %s", d);
    EB_CHECK(refuses_quickly(args, "--lr inf: must be a finite positive number") == EB_TEST_PASS, "lr inf");
    return EB_TEST_PASS;
}

EB_TEST(config_txt_follows_the_resumed_session_and_companions_survive_its_loss) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2200], log[2300], args[3000], p[2400], cmd[9000];
    EB_CHECK(fresh_dir("cfg-follow", a, sizeof a), "dir");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(args, sizeof args, SMALL " --iters 3 --ckpt-every 3 --out %s", a);
    EB_CHECK(run_train(args, log) == 0, "first run");
    snprintf(args, sizeof args, "--resume %s --iters 6", a);
    EB_CHECK(run_train(args, log) == 0, "resume to 6 (see %s)", log);
    snprintf(p, sizeof p, "%s/config.txt", a);
    EB_CHECK(eb_test_file_has(p, "\niters = 6\n"), "config.txt does not record the session's --iters 6");
    /* the run's own length now: a resume without --iters finds nothing to do, and is not an error */
    snprintf(args, sizeof args, "--resume %s", a);
    EB_CHECK(run_train(args, log) == 0, "resume without --iters after an extension (see %s)", log);
    EB_CHECK(unlink(p) == 0, "remove config.txt");
    snprintf(cmd, sizeof cmd, "%s eval --run %s --n 500 --device cpu > %s 2>&1", g_exe, a, log);
    EB_CHECK(system(cmd) == 0, "eval without config.txt (see %s)", log);
    EB_CHECK(eb_test_file_has(log, "config.txt is missing; using the configuration embedded") &&
             eb_test_file_has(log, "\"step\":6"), "eval did not say it used the checkpoint's configuration");
    return EB_TEST_PASS;
}
