/* What a run directory offers other tools, run as a user runs it (the executable of the build directory):
 * config.txt numbers a person reads, TensorBoard's event file, the anomaly protocol's train/eval commands,
 * and a one-line error naming the cause for each misuse. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ebgan/data.h"

static char g_exe[2048], g_tmp[2048], g_src[2048];

static int setup(void) {
    const char *bin = getenv("EBGAN_BINARY_DIR"), *src = getenv("EBGAN_SOURCE_DIR");
    snprintf(g_exe, sizeof g_exe, "%s/ebgan-gpu", bin ? bin : ".");
    snprintf(g_tmp, sizeof g_tmp, "%s/test-runs/outputs", bin ? bin : ".");
    snprintf(g_src, sizeof g_src, "%s", src ? src : "..");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", g_tmp);
    struct stat s;
    return system(cmd) == 0 && stat(g_exe, &s) == 0;
}

/* Runs `ebgan-gpu ARGS --device cpu` (train: --progress 0); stdout+stderr to <tmp>/<log>. Exit status. */
static int run(const char *log, const char *args) {
    char cmd[12000];
    int train = !strncmp(args, "train", 5);
    snprintf(cmd, sizeof cmd, "%s %s --device cpu%s > '%s/%s' 2>&1", g_exe, args, train ? " --progress 0" : "", g_tmp,
             log);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (b) b[n] = '\0';
    fclose(f);
    return b;
}

/* The log of a failed command: exactly one line, containing `want`. */
static int one_line_error(const char *log, const char *want, char *why, size_t cap) {
    char path[2200];
    snprintf(path, sizeof path, "%s/%s", g_tmp, log);
    char *s = slurp(path);
    int ok = s && strstr(s, want) && strchr(s, '\n') == s + strlen(s) - 1;
    snprintf(why, cap, "%s: expected one line containing '%s', got: %s", log, want, s ? s : "(no log)");
    free(s);
    return ok;
}

static int have_py(const char *module) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "python3 -c 'import %s' >/dev/null 2>&1", module);
    return system(cmd) == 0;
}

static int have_fashion(void) {
    struct stat s;
    return stat("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", &s) == 0;
}

#define TOY "train --dim 32 --batch 32 --n-critic 1 --log-every 5 --ckpt-every 10 --plot-every 10 --seed 5"

EB_TEST(config_prints_numbers_in_shortest_round_trip_form) {
    if (!setup()) return EB_TEST_SKIP;
    char args[6000], path[2200], why[4000];
    snprintf(args, sizeof args, TOY " --iters 0 --lambda 0.1 --lr 3e-4 --beta2 0.999 --out '%s/cfg-a'", g_tmp);
    EB_CHECK(run("cfg-a.log", args) == 0, "train --iters 0 failed");
    snprintf(path, sizeof path, "%s/cfg-a/config.txt", g_tmp);
    char *a = slurp(path);
    EB_CHECK(a, "no %s", path);
    EB_CHECK(strstr(a, "\nlambda = 0.1\n") && strstr(a, "\nlr = 0.0003\n") && strstr(a, "\nbeta2 = 0.999\n") &&
                 strstr(a, "\neps = 1e-08\n") && strstr(a, "\nmi-weight = 1\n"), "config.txt:\n%s", a);
    /* read back by --config: the same doubles, so the same text */
    snprintf(args, sizeof args, "train --config '%s' --out '%s/cfg-b'", path, g_tmp);
    EB_CHECK(run("cfg-b.log", args) == 0, "train --config failed");
    snprintf(path, sizeof path, "%s/cfg-b/config.txt", g_tmp);
    char *b = slurp(path);
    EB_CHECK(b && strchr(a, '\n') && strchr(b, '\n'), "no %s", path);
    const char *ra = strstr(strchr(a, '\n'), "\nout = "), *rb = strstr(strchr(b, '\n'), "\nout = ");
    size_t la = (size_t)(ra - strchr(a, '\n')), lb = (size_t)(rb - strchr(b, '\n'));
    EB_CHECK(la == lb && !memcmp(strchr(a, '\n'), strchr(b, '\n'), la), "settings differ after --config");
    snprintf(why, sizeof why, "ok");
    free(a);
    free(b);
    return EB_TEST_PASS;
}

/* A whole number is written out in config.txt and the start banner ("comm-timeout = 900", not 9e+02), and a
 * resume reads such a config.txt back to the very settings its checkpoint embeds (no "differs" report). */
EB_TEST(config_writes_whole_numbers_out_and_resume_reads_them_back) {
    if (!setup()) return EB_TEST_SKIP;
    char args[6000], path[2200], cmd[4600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/cfg-whole'", g_tmp);
    EB_CHECK(system(cmd) == 0, "rm");
    snprintf(args, sizeof args, TOY " --iters 10 --lambda 1000 --out '%s/cfg-whole'", g_tmp);
    EB_CHECK(run("cfg-whole.log", args) == 0, "train failed");
    snprintf(path, sizeof path, "%s/cfg-whole/config.txt", g_tmp);
    char *a = slurp(path);
    EB_CHECK(a && strstr(a, "\ncomm-timeout = 900\n") && strstr(a, "\nlambda = 1000\n"), "config.txt:\n%s",
             a ? a : "(none)");
    free(a);
    snprintf(path, sizeof path, "%s/cfg-whole.log", g_tmp);
    char *banner = slurp(path);
    EB_CHECK(banner && strstr(banner, "  comm-timeout = 900\n"), "start banner:\n%s", banner ? banner : "(none)");
    free(banner);
    snprintf(args, sizeof args, "train --resume '%s/cfg-whole' --iters 20", g_tmp);
    EB_CHECK(run("cfg-whole-resume.log", args) == 0, "resume failed");
    snprintf(path, sizeof path, "%s/cfg-whole-resume.log", g_tmp);
    char *log = slurp(path);
    EB_CHECK(log && !strstr(log, "differs"), "resume log:\n%s", log ? log : "(none)");
    free(log);
    return EB_TEST_PASS;
}

/* 20 toy iterations, logged every 5, pictures every 10: TensorBoard's reader sees every metrics.jsonl scalar
 * and both pictures; a resumed run continues the same directory, read back without duplicates. */
EB_TEST(train_writes_tensorboard_events_matching_metrics_and_pictures) {
    if (!setup()) return EB_TEST_SKIP;
    if (!have_py("tensorboard")) {
        printf("  python3 with the tensorboard package not importable: skipped\n");
        return EB_TEST_SKIP;
    }
    char args[6000], cmd[9000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/tb'", g_tmp);
    EB_CHECK(system(cmd) == 0, "rm");
    snprintf(args, sizeof args, TOY " --iters 20 --out '%s/tb'", g_tmp);
    EB_CHECK(run("tb.log", args) == 0, "train failed");
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/py/check_run_events.py' '%s/tb' 10,20 two_d", g_src, g_tmp);
    EB_CHECK(system(cmd) == 0, "event file disagrees with the run (see above)");
    snprintf(args, sizeof args, "train --resume '%s/tb' --iters 30", g_tmp);
    EB_CHECK(run("tb-resume.log", args) == 0, "resume failed");
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/py/check_run_events.py' '%s/tb' 10,20,30 two_d", g_src, g_tmp);
    EB_CHECK(system(cmd) == 0, "event files of the resumed run disagree with it (see above)");
    return EB_TEST_PASS;
}

/* A session interrupted after logging past its last checkpoint (here: the step-20 checkpoint lost), resumed:
 * it replays steps 11..20 and logs 15 and 20 again; TensorBoard shows each step once, with the replay's values
 * (the SessionLog START of the resumed session). */
EB_TEST(resumed_run_after_a_lost_checkpoint_shows_each_step_once) {
    if (!setup()) return EB_TEST_SKIP;
    if (!have_py("tensorboard")) {
        printf("  python3 with the tensorboard package not importable: skipped\n");
        return EB_TEST_SKIP;
    }
    char args[6000], cmd[9000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/tb-replay'", g_tmp);
    EB_CHECK(system(cmd) == 0, "rm");
    snprintf(args, sizeof args, TOY " --iters 20 --out '%s/tb-replay'", g_tmp);
    EB_CHECK(run("tb-replay.log", args) == 0, "train failed");
    snprintf(cmd, sizeof cmd, "rm '%s/tb-replay/ckpt-00000020.safetensors' && sleep 1", g_tmp);
    EB_CHECK(system(cmd) == 0, "drop the last checkpoint");
    snprintf(args, sizeof args, "train --resume '%s/tb-replay' --iters 20 --log-every 5", g_tmp);
    EB_CHECK(run("tb-replay-resume.log", args) == 0, "resume failed");
    /* the resume drops the records after the checkpoint's step (README "The run directory's rules") */
    snprintf(cmd, sizeof cmd, "test $(grep -c '\"step\": *15,' '%s/tb-replay/metrics.jsonl') = 1", g_tmp);
    EB_CHECK(system(cmd) == 0, "step 15 should be logged once in metrics.jsonl");
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/py/check_run_events.py' '%s/tb-replay' 10,20 two_d", g_src, g_tmp);
    EB_CHECK(system(cmd) == 0, "TensorBoard's view of the replayed steps is wrong (see above)");
    return EB_TEST_PASS;
}

EB_TEST(tensorboard_off_writes_no_event_file) {
    if (!setup()) return EB_TEST_SKIP;
    char args[6000], cmd[9000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/tb-off'", g_tmp);
    EB_CHECK(system(cmd) == 0, "rm");
    snprintf(args, sizeof args, TOY " --iters 5 --tensorboard off --out '%s/tb-off'", g_tmp);
    EB_CHECK(run("tb-off.log", args) == 0, "train failed");
    snprintf(cmd, sizeof cmd, "ls '%s/tb-off' | grep -q tfevents", g_tmp);
    EB_CHECK(system(cmd) != 0, "an event file was written with --tensorboard off");
    snprintf(cmd, sizeof cmd, "test -s '%s/tb-off/metrics.jsonl'", g_tmp);
    EB_CHECK(system(cmd) == 0, "metrics.jsonl missing");
    return EB_TEST_PASS;
}

EB_TEST(unwritable_tensorboard_dir_fails_before_training_with_one_line_error) {
    if (!setup()) return EB_TEST_SKIP;
    char args[6000], cmd[9000], why[4000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/tb-bad' && touch '%s/plain-file'", g_tmp, g_tmp);
    EB_CHECK(system(cmd) == 0, "setup");
    snprintf(args, sizeof args, TOY " --iters 5 --tensorboard '%s/plain-file/tb' --out '%s/tb-bad' 2>&1 >/dev/null",
             g_tmp, g_tmp);
    EB_CHECK(run("tb-bad.log", args) == 1, "expected exit 1");
    EB_CHECK(one_line_error("tb-bad.log", "cannot create TensorBoard directory", why, sizeof why), "%s", why);
    EB_CHECK(one_line_error("tb-bad.log", "Not a directory", why, sizeof why), "%s", why);
    snprintf(cmd, sizeof cmd, "ls '%s/tb-bad' | grep -q ckpt", g_tmp);
    EB_CHECK(system(cmd) != 0, "trained although the event file could not be written");
    return EB_TEST_PASS;
}

EB_TEST(holdout_class_misuse_fails_with_one_line_error) {
    if (!setup()) return EB_TEST_SKIP;
    char args[6000], why[4000];
    snprintf(args, sizeof args, TOY " --iters 1 --holdout-class 2 --out '%s/ho-toy' 2>&1 >/dev/null", g_tmp);
    EB_CHECK(run("ho-toy.log", args) == 1, "toy: expected exit 1");
    EB_CHECK(one_line_error("ho-toy.log", "--holdout-class needs labelled data: the toy '25gaussians' has no classes",
                            why, sizeof why), "%s", why);
    snprintf(args, sizeof args, TOY " --iters 1 --holdout-class two --out '%s/ho-word' 2>&1 >/dev/null", g_tmp);
    EB_CHECK(run("ho-word.log", args) == 1, "word: expected exit 1");
    EB_CHECK(one_line_error("ho-word.log", "expected a class id", why, sizeof why), "%s", why);
    /* a float .npy has no labels */
    char npy[2200];
    snprintf(npy, sizeof npy, "%s/nolabels.npy", g_tmp);
    const float rows[8] = {0};
    const int64_t shape[2] = {4, 2};
    EB_CHECK_OK(eb_npy_write(npy, EB_F32, 2, shape, rows));
    snprintf(args, sizeof args, TOY " --iters 1 --batch 2 --dataset '%s' --holdout-class 0 --out '%s/ho-npy' 2>&1 >/dev/null",
             npy, g_tmp);
    EB_CHECK(run("ho-npy.log", args) == 1, "npy: expected exit 1");
    EB_CHECK(one_line_error("ho-npy.log", "has no labels", why, sizeof why), "%s", why);
    if (!have_fashion()) {
        printf("  fashion-mnist not installed: the out-of-range case skipped\n");
        return EB_TEST_PASS;
    }
    snprintf(args, sizeof args, "train --model mnist --dim 32 --dataset fashion-mnist --iters 1 --holdout-class 10 "
             "--out '%s/ho-range' 2>&1 >/dev/null", g_tmp);
    EB_CHECK(run("ho-range.log", args) == 1, "range: expected exit 1");
    EB_CHECK(one_line_error("ho-range.log", "--holdout-class 10 is out of range", why, sizeof why), "%s", why);
    return EB_TEST_PASS;
}

EB_TEST(eval_anomaly_on_a_run_without_holdout_class_fails_with_one_line_error) {
    if (!setup()) return EB_TEST_SKIP;
    char args[6000], why[4000], cmd[9000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/no-holdout'", g_tmp); /* a fresh --out must not hold a run */
    EB_CHECK(system(cmd) == 0, "rm");
    snprintf(args, sizeof args, TOY " --iters 2 --out '%s/no-holdout'", g_tmp);
    EB_CHECK(run("no-holdout.log", args) == 0, "train failed");
    snprintf(args, sizeof args, "eval --run '%s/no-holdout' --anomaly 2>&1 >/dev/null", g_tmp);
    EB_CHECK(run("no-holdout-eval.log", args) == 1, "expected exit 1");
    EB_CHECK(one_line_error("no-holdout-eval.log", "was trained without --holdout-class", why, sizeof why), "%s", why);
    return EB_TEST_PASS;
}

/* A short --holdout-class run on Fashion-MNIST (reduced width), scored by eval --anomaly: the split's sizes
 * (70000 pooled images, 7000 per class), the paper's lambda under our norm, the JSON line and its files; with
 * scikit-learn the figures recomputed from the written scores. */
EB_TEST(holdout_train_and_eval_anomaly_end_to_end) {
    if (!setup()) return EB_TEST_SKIP;
    if (!have_fashion()) {
        printf("  dataset-fashion-mnist not installed: skipped\n");
        return EB_TEST_SKIP;
    }
    char args[6000], path[2200], cmd[12000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/ho'", g_tmp); /* a fresh --out must not hold a run */
    EB_CHECK(system(cmd) == 0, "rm");
    snprintf(args, sizeof args, "train --model mnist --dim 32 --dataset fashion-mnist --holdout-class 4 --n-critic 1 "
             "--iters 3 --log-every 1 --plot-every 0 --out '%s/ho'", g_tmp);
    EB_CHECK(run("ho.log", args) == 0, "train failed");
    snprintf(path, sizeof path, "%s/ho/config.txt", g_tmp);
    char *cfg = slurp(path);
    EB_CHECK(cfg && strstr(cfg, "\nlambda = 0.12755102040816327\n") && strstr(cfg, "\nholdout-class = 4\n"),
             "config.txt: lambda should be 100/784:\n%s", cfg ? cfg : "");
    free(cfg);
    snprintf(args, sizeof args, "eval --run '%s/ho' --anomaly", g_tmp);
    EB_CHECK(run("ho-eval.log", args) == 0, "eval --anomaly failed");
    snprintf(cmd, sizeof cmd, "cat '%s/ho/eval_anomaly.json' >> '%s/ho-eval.log'", g_tmp, g_tmp);
    EB_CHECK(system(cmd) == 0, "no eval_anomaly.json");
    snprintf(path, sizeof path, "%s/ho-eval.log", g_tmp);
    char *js = slurp(path);
    EB_CHECK(js && strstr(js, "\"anomaly_class\": 4") && strstr(js, "\"test_samples\": 19600") &&
                 strstr(js, "\"anomalies\": 7000") && strstr(js, "\"base_rate\": 0.357143") &&
                 strstr(js, "\"energy_auprc\": ") && strstr(js, "\"grad_norm_roc_auc\": "),
             "eval output: %s", js ? js : "");
    char *nl = strchr(js, '\n');
    EB_CHECK(nl && !strncmp(js, nl + 1, (size_t)(nl - js)), "eval_anomaly.json differs from the printed line");
    free(js);
    snprintf(cmd, sizeof cmd, "test -s '%s/ho/pr_curve.png' && test -s '%s/ho/anomaly_scores.npy'", g_tmp, g_tmp);
    EB_CHECK(system(cmd) == 0, "pr_curve.png or anomaly_scores.npy missing");
    if (have_py("sklearn")) {
        snprintf(cmd, sizeof cmd,
                 "python3 -c \"import json, numpy as np; from sklearn.metrics import *; d = '%s/ho'; "
                 "t = np.load(d + '/anomaly_scores.npy'); j = json.load(open(d + '/eval_anomaly.json')); "
                 "y = t[:, 2];\n"
                 "for c, name in ((0, 'energy'), (1, 'grad_norm')):\n"
                 "    p, r, _ = precision_recall_curve(y, t[:, c])\n"
                 "    for k, v in (('auprc', auc(r, p)), ('average_precision', average_precision_score(y, t[:, c])), "
                 "('roc_auc', roc_auc_score(y, t[:, c]))):\n"
                 "        assert abs(j[name + '_' + k] - v) < 2e-6, (name, k, j[name + '_' + k], v)\n"
                 "print('  eval --anomaly figures equal scikit-learn on the written scores')\"", g_tmp);
        EB_CHECK(system(cmd) == 0, "eval --anomaly disagrees with scikit-learn on its own scores");
    }
    return EB_TEST_PASS;
}
