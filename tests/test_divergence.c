/* A run that diverges, as a user meets it: the built ebgan-gpu trained into a temp folder with a learning rate
 * that makes it blow up; its exit status, its one line, and its checkpoints read back (docs/DESIGN.md §4.8). */
#define _GNU_SOURCE
#include "cli_util.h"
#include "harness.h"
#include "ckpt_same.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ebgan/data.h"
#include "ebgan/safetensors.h"

static char g_exe[2048], g_tmp[2048];

static int setup(void) { return eb_test_cli_locate(g_exe, sizeof g_exe, g_tmp, sizeof g_tmp, "test-divergence"); }

/* The toy preset, small and on the CPU; this learning rate sends the weights to infinity within a few steps. */
#define SMALL "--dim 32 --batch 64 --log-every 1 --plot-every 0 --device cpu --progress 0"
/* Learning rates past what Adam can take here: U's squared gradients overflow (Adam's second moment) ... */
#define BLOWS_UP "--lr 1e30 --seed 5"      /* ... in the first step, on every draw */
#define DIVERGES_LATE "--lr 64 --seed 3"   /* ... at step 15 */
/* ... in the first step of the first attempt, and not on the draws after one rollback */
#define DIVERGES_ONCE "--lr 70 --seed 2 --ckpt-every 5 --keep 2 --on-divergence rollback:3"

static const char *fresh_dir(const char *tag, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s", g_tmp, tag);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", buf);
    return system(cmd) == 0 ? buf : NULL;
}

/* `ebgan-gpu ARGS`, output to `log`; the exit status, -1 when it died by a signal. */
static int run(const char *log, const char *fmt, ...) {
    char args[6000], cmd[9000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s > '%s' 2>&1", g_exe, args, log);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Lines of `path` that contain `needle`. */
static int count_lines(const char *path, const char *needle) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f)) n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* The checkpoints of `dir` (their count), each read back whole: 0 in *bad when every float of every one is
 * finite, else the count of files holding a NaN or an infinity. */
static int read_checkpoints(const char *dir, int *bad, int64_t *newest) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    *bad = 0, *newest = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        long long step;
        if (sscanf(e->d_name, "ckpt-%8lld.safetensors", &step) != 1) continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        eb_safetensors st;
        if (eb_safetensors_open(&st, p) != EB_OK) {
            (*bad)++;
            continue;
        }
        int finite = 1;
        for (int i = 0; i < eb_safetensors_count(&st); i++) {
            const eb_st_info *t = eb_safetensors_at(&st, i);
            size_t bytes = t->end - t->begin;
            float *v = malloc(bytes + 4);
            finite &= v && eb_safetensors_read(&st, t, v, bytes) == EB_OK;
            for (size_t j = 0; finite && j < bytes / sizeof(float); j++) finite = isfinite(v[j]);
            free(v);
        }
        eb_safetensors_close(&st);
        *bad += !finite;
        if (step > *newest) *newest = step;
        n++;
    }
    closedir(d);
    return n;
}

EB_TEST(a_diverging_run_stops_with_one_line_and_keeps_its_good_checkpoints) {
    if (!setup()) return EB_TEST_SKIP;
    char d[2200], log[2300];
    EB_CHECK(fresh_dir("stop", d, sizeof d), "dir");
    snprintf(log, sizeof log, "%s.log", d);
    EB_CHECK(run(log, "train " SMALL " " DIVERGES_LATE " --iters 50 --ckpt-every 1 --keep 2 --out %s", d) == 1,
             "a diverging run did not exit 1 (see %s)", log);
    EB_CHECK(count_lines(log, "training diverged at step ") == 1 && count_lines(log, " not finite") == 1,
             "no one line naming the step and the term (see %s)", log);
    int bad = 0;
    int64_t newest = -1;
    int n = read_checkpoints(d, &bad, &newest);
    EB_CHECK(bad == 0, "%d checkpoint(s) hold a NaN or an infinity", bad);
    EB_CHECK(n == 2, "--keep 2 left %d checkpoints, not the 2 good ones", n);
    /* the line names the step; the newest checkpoint is before it */
    char needle[64];
    snprintf(needle, sizeof needle, "at step %lld:", (long long)newest + 1);
    EB_CHECK(count_lines(log, needle) == 1, "the run did not stop at the step after its newest good checkpoint %lld "
             "(see %s)", (long long)newest, log);
    return EB_TEST_PASS;
}

EB_TEST(rollback_goes_back_to_the_newest_good_checkpoint_and_gives_up_after_n) {
    if (!setup()) return EB_TEST_SKIP;
    char d[2200], log[2300], metrics[2400];
    EB_CHECK(fresh_dir("rollback", d, sizeof d), "dir");
    snprintf(log, sizeof log, "%s.log", d);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", d);
    EB_CHECK(run(log, "train " SMALL " " BLOWS_UP " --iters 50 --ckpt-every 1 --keep 2 --on-divergence rollback:2 "
                 "--out %s", d) == 1, "a run that diverges every time did not exit 1 (see %s)", log);
    EB_CHECK(count_lines(metrics, "\"event\":\"rollback\"") == 2, "not 2 rollback records in %s", metrics);
    EB_CHECK(count_lines(metrics, "\"rollback\":1,") == 1 && count_lines(metrics, "\"rollback\":2,") == 1,
             "the rollbacks are not numbered 1 and 2 in %s", metrics);
    EB_CHECK(count_lines(log, "rolled back to step ") == 2, "not 2 rollback lines (see %s)", log);
    EB_CHECK(count_lines(log, "after 2 rollbacks") == 1, "the final line does not say it gave up (see %s)", log);
    int bad = 0;
    int64_t newest = -1;
    EB_CHECK(read_checkpoints(d, &bad, &newest) >= 1 && bad == 0, "a non-finite checkpoint, or none (%d bad)", bad);
    return EB_TEST_PASS;
}

EB_TEST(a_rolled_back_run_finishes_and_resumes_exactly) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2200], b[2200], log[2300], metrics[2400], pa[2400], pb[2400], why[512];
    EB_CHECK(fresh_dir("once-a", a, sizeof a) && fresh_dir("once-b", b, sizeof b), "dirs");
    snprintf(log, sizeof log, "%s.log", a);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", a);
    EB_CHECK(run(log, "train " SMALL " " DIVERGES_ONCE " --iters 30 --out %s", a) == 0,
             "the run did not finish after its rollback (see %s)", log);
    EB_CHECK(count_lines(metrics, "\"event\":\"rollback\"") == 1 && count_lines(metrics, "\"diverged_at\":1,") == 1 &&
             count_lines(metrics, "ckpt-00000000.safetensors\",\"stream_epoch\":1}") == 1,
             "no record of one rollback from step 1 to the step-0 checkpoint in %s", metrics);
    EB_CHECK(count_lines(metrics, "{\"step\":1,") == 1, "the abandoned attempt's step 1 was kept in %s", metrics);
    int bad = 0;
    int64_t newest = -1;
    EB_CHECK(read_checkpoints(a, &bad, &newest) == 2 && bad == 0 && newest == 30, "checkpoints after the rollback");
    /* the same run in two sessions: the shifted stream is in the checkpoint, and the resume replays it */
    snprintf(log, sizeof log, "%s.log", b);
    EB_CHECK(run(log, "train " SMALL " " DIVERGES_ONCE " --iters 15 --out %s", b) == 0, "first session (see %s)", log);
    EB_CHECK(run(log, "train --resume %s --iters 30 --device cpu --progress 0", b) == 0, "resume (see %s)", log);
    snprintf(pa, sizeof pa, "%s/ckpt-00000030.safetensors", a);
    snprintf(pb, sizeof pb, "%s/ckpt-00000030.safetensors", b);
    EB_CHECK(eb_test_ckpt_same(pa, pb, 1, why, sizeof why), "resumed run differs from the uninterrupted one: %s", why);
    return EB_TEST_PASS;
}

EB_TEST(on_divergence_cannot_change_on_resume) {
    if (!setup()) return EB_TEST_SKIP;
    char d[2200], log[2300];
    EB_CHECK(fresh_dir("strict", d, sizeof d), "dir");
    snprintf(log, sizeof log, "%s.log", d);
    EB_CHECK(run(log, "train " SMALL " --iters 2 --ckpt-every 2 --out %s", d) == 0, "first run (see %s)", log);
    EB_CHECK(run(log, "train --resume %s --iters 4 --on-divergence rollback --device cpu", d) == 2,
             "a changed --on-divergence was accepted on --resume (see %s)", log);
    EB_CHECK(count_lines(log, "--on-divergence rollback differs from the run's stop") == 1, "message (see %s)", log);
    return EB_TEST_PASS;
}

/* Every refusal: exit status 2 and one line naming the option. */
static int refused(const char *args, const char *needle) {
    char log[2300];
    snprintf(log, sizeof log, "%s/refused-%d.log", g_tmp, (int)getpid());
    int rc = run(log, "%s", args);
    EB_CHECK(rc == 2, "'%s' exited %d, not 2 (see %s)", args, rc, log);
    EB_CHECK(count_lines(log, needle) == 1, "'%s': no line with '%s' (see %s)", args, needle, log);
    return EB_TEST_PASS;
}

EB_TEST(options_that_make_no_sense_are_refused_naming_them) {
    if (!setup()) return EB_TEST_SKIP;
    char d[2200], a[3000];
    EB_CHECK(fresh_dir("refused", d, sizeof d), "dir");
    const char *cases[][2] = {
        {"--lambda -0.5", "--lambda -0.5: must be a finite number >= 0"},
        {"--lambda nan", "--lambda nan: must be a finite number >= 0"},
        {"--lr 0", "--lr 0: must be a finite positive number"},
        {"--lr -1e-4", "--lr -0.0001: must be a finite positive number"},
        {"--batch 0", "--batch 0: must be >= 2"},
        {"--batch -8", "--batch -8: must be >= 2"},
        {"--iters -1", "--iters -1: must be >= 0"},
        {"--n-critic 0", "--n-critic 0: must be >= 1"},
        {"--keep -1", "--keep -1: must be >= 0"},
        {"--beta2 1", "--beta2 1: must be in [0, 1)"},
        {"--on-divergence sometimes", "--on-divergence 'sometimes': expected stop, rollback or rollback:N"},
        {"--on-divergence rollback:0", "--on-divergence 'rollback:0'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(a, sizeof a, "train --iters 1 --device cpu --out %s/o%zu %s", d, i, cases[i][0]);
        EB_CHECK(refused(a, cases[i][1]) == EB_TEST_PASS, "%s", cases[i][0]);
    }
    return EB_TEST_PASS;
}

EB_TEST(a_run_directory_that_is_not_a_run_is_refused_by_every_reader) {
    if (!setup()) return EB_TEST_SKIP;
    char d[2200], a[6000];
    EB_CHECK(fresh_dir("not-a-run", d, sizeof d), "dir");
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d);
    EB_CHECK(system(cmd) == 0, "mkdir");
    const float x[8] = {0};
    const int64_t shape[2] = {4, 2};
    snprintf(cmd, sizeof cmd, "%s/x.npy", d);
    EB_CHECK(eb_npy_write(cmd, EB_F32, 2, shape, x) == EB_OK, "x.npy"); /* energy and grads read it first */
    const char *forms[] = {"sample --run %s --n 4 --out %s/s.npy", "eval --run %s --n 4",
                           "energy --run %s --input %s/x.npy --out %s/e.npy",
                           "grads --run %s --real %s/x.npy --fake %s/x.npy --out %s/g.safetensors"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        snprintf(a, sizeof a, forms[i], d, d, d, d);
        EB_CHECK(refused(a, "no config.txt and no checkpoint: not a run directory") == EB_TEST_PASS, "%s", a);
    }
    return EB_TEST_PASS;
}
