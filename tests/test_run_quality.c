/* The run's sample-quality tools, run as a user runs them: the generator's moving average (--g-ema) in
 * checkpoints and the sampling commands, evaluation during training (--eval-every), and sample --png-dir. */
#include "cli_util.h"
#include "harness.h"

#include <unistd.h>
#include "ckpt_same.h"

#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ebgan/backend.h"
#include "ebgan/classifier.h"
#include "ebgan/data.h"
#include "ebgan/png_write.h"
#include "ebgan/safetensors.h"

static char g_exe[2048], g_tmp[2048];

static int setup(void) { return eb_test_cli_locate(g_exe, sizeof g_exe, g_tmp, sizeof g_tmp, "test-quality"); }

/* Runs `ebgan-gpu <args> --device cpu` (training quietly), output to the test folder's last-<pid>.log (ctest runs
 * this file's cases in parallel processes); exit status. */
static int run(const char *args) {
    char cmd[20000];
    snprintf(cmd, sizeof cmd, "%s %s --device cpu%s > %s/last-%ld.log 2>&1", g_exe, args,
             strncmp(args, "train", 5) ? "" : " --progress 0", g_tmp, (long)getpid());
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* d = g_tmp/name, removed (a run directory to be made); 1 on success. */
static int fresh(char *d, size_t cap, const char *name) {
    char cmd[4400];
    snprintf(d, cap, "%s/%s", g_tmp, name);
    snprintf(cmd, sizeof cmd, "rm -rf %s", d);
    return system(cmd) == 0;
}

/* Every float32 tensor called name from the checkpoint into *out (malloc'd); its element count, or -1. */
static long read_tensor(const char *path, const char *name, float **out) {
    eb_safetensors st;
    if (eb_safetensors_open(&st, path) != EB_OK) return -1;
    const eb_st_info *in = eb_safetensors_find(&st, name);
    long n = in ? (long)((in->end - in->begin) / sizeof(float)) : -1;
    *out = n > 0 ? malloc((size_t)n * sizeof(float)) : NULL;
    if (n > 0 && (!*out || eb_safetensors_read(&st, in, *out, (size_t)n * sizeof(float)) != EB_OK)) n = -1;
    eb_safetensors_close(&st);
    return n;
}

/* The G tensor names of a checkpoint (G.<...>), up to cap; their count. */
static int g_names(const char *path, char names[][64], int cap) {
    eb_safetensors st;
    if (eb_safetensors_open(&st, path) != EB_OK) return 0;
    int k = 0;
    for (int i = 0; i < eb_safetensors_count(&st) && k < cap; i++)
        if (!strncmp(eb_safetensors_at(&st, i)->name, "G.", 2)) snprintf(names[k++], 64, "%s", eb_safetensors_at(&st, i)->name);
    eb_safetensors_close(&st);
    return k;
}

/* The toy settings of these tests: small nets; G has batch norm only in image presets, so the toy checks the
 * parameters and the image run below the buffers. */
#define SMALL "train --dim 64 --batch 64 --log-every 5 --plot-every 0 --seed 3"

/* The average in the checkpoint of step k equals a * raw_k + b * average_{k-1} in float, with a = 1 - decay and
 * b = decay rounded once (the update's order), from the first saved step on, for every tensor of G; at the
 * first step it already differs from G somewhere (it started at the initial weights). */
static int check_ema_recurrence(const char *dir, int steps, double decay, int want_buffers) {
    char first[2300], name[96];
    snprintf(first, sizeof first, "%s/ckpt-00000001.safetensors", dir);
    char names[64][64];
    int nt = g_names(first, names, 64);
    EB_CHECK(nt > 0, "no G tensors in %s", first);
    const float a = (float)(1.0 - decay), b = (float)decay;
    int buffers = 0, moved = 0;
    for (int t = 0; t < nt; t++) {
        snprintf(name, sizeof name, "G_ema%s", names[t] + 1);
        buffers += strstr(names[t], "running_") != NULL;
        float *e = NULL;
        long n = read_tensor(first, name, &e);
        EB_CHECK(n > 0, "%s: no %s", first, name);
        float *w1 = NULL;
        EB_CHECK(read_tensor(first, names[t], &w1) == n, "%s: %s", first, names[t]);
        moved += memcmp(w1, e, (size_t)n * sizeof(float)) != 0;
        free(w1);
        for (int k = 2; k <= steps; k++) {
            char p[2300];
            snprintf(p, sizeof p, "%s/ckpt-%08d.safetensors", dir, k);
            float *w = NULL, *got = NULL;
            EB_CHECK(read_tensor(p, names[t], &w) == n && read_tensor(p, name, &got) == n, "%s: %s", p, name);
            for (long i = 0; i < n; i++) e[i] = a * w[i] + b * e[i];
            long bad = -1;
            for (long i = 0; i < n && bad < 0; i++)
                if (memcmp(&e[i], &got[i], sizeof(float))) bad = i;
            EB_CHECK(bad < 0, "%s step %d element %ld: checkpoint %.9g, recomputed %.9g", name, k, bad,
                     bad >= 0 ? got[bad] : 0, bad >= 0 ? e[bad] : 0);
            free(w), free(got);
        }
        free(e);
    }
    EB_CHECK(moved > 0, "the average is a copy of G at the first checkpoint");
    EB_CHECK(buffers > 0 || !want_buffers, "no batch-norm buffers in G");
    printf("  %d tensors of G (%d batch-norm buffers) follow the average over %d steps\n", nt, buffers, steps);
    return EB_TEST_PASS;
}

EB_TEST(ema_in_checkpoints_equals_an_ema_of_the_saved_weights) {
    if (!setup()) return EB_TEST_SKIP;
    char d[2100], args[6000];
    EB_CHECK(fresh(d, sizeof d, "ema-toy"), "cleanup");
    snprintf(args, sizeof args, SMALL " --g-ema 0.9 --iters 6 --ckpt-every 1 --keep 0 --out %s", d);
    EB_CHECK(run(args) == 0, "train --g-ema failed");
    return check_ema_recurrence(d, 6, 0.9, 0);
}

/* 28x28 images, n of them, at path (.npy): float32 uniform in [-1, 1), or uint8 uniform in 0..255 (what
 * --stack takes); 1 on success. */
static int write_images_as(const char *path, int n, int c, int as_u8) {
    const size_t count = (size_t)n * (size_t)c * 28 * 28;
    float *img = malloc(count * sizeof *img);
    uint8_t *px = malloc(count);
    eb_rng r;
    eb_rng_init(&r, 11);
    for (size_t i = 0; img && px && i < count; i++) {
        const double u = eb_rng_uniform(&r);
        img[i] = (float)(2 * u - 1);
        px[i] = (uint8_t)(u * 256);
    }
    const int64_t shape[4] = {n, c, 28, 28};
    const int ok = img && px && eb_npy_write(path, as_u8 ? EB_U8 : EB_F32, 4, shape, as_u8 ? (void *)px : img) == EB_OK;
    free(img);
    free(px);
    return ok;
}

static int write_images(const char *path, int n, int c) { return write_images_as(path, n, c, 0); }

EB_TEST(ema_follows_the_batch_norm_buffers_of_an_image_generator) {
    if (!setup()) return EB_TEST_SKIP;
    char d[2100], data[2200], args[8000];
    EB_CHECK(fresh(d, sizeof d, "ema-img"), "cleanup");
    snprintf(data, sizeof data, "%s-images.npy", d);
    EB_CHECK(write_images(data, 32, 1), "cannot write %s", data);
    snprintf(args, sizeof args, "train --model mnist --dim 8 --batch 8 --iters 3 --plot-every 0 --ckpt-every 1 "
             "--keep 0 --g-ema 0.5 --dataset %s --out %s", data, d);
    EB_CHECK(run(args) == 0, "train --g-ema on images failed");
    return check_ema_recurrence(d, 3, 0.5, 1);
}

/* dir_a/file and dir_b/file hold the same tensors and random-stream position; `what` names the claim. */
static int check_same_ckpt(const char *da, const char *db, const char *file, const char *what) {
    char pa[2300], pb[2300], why[256];
    snprintf(pa, sizeof pa, "%s/%s", da, file);
    snprintf(pb, sizeof pb, "%s/%s", db, file);
    EB_CHECK(eb_test_ckpt_same(pa, pb, 1, why, sizeof why), "%s: %s", what, why);
    return EB_TEST_PASS;
}

EB_TEST(resume_with_ema_replays_bit_for_bit) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2100], b[2100], args[6000], pb[2200];
    EB_CHECK(fresh(a, sizeof a, "ema-resume-a") && fresh(b, sizeof b, "ema-resume-b"), "cleanup");
    snprintf(args, sizeof args, SMALL " --g-ema 0.99 --ckpt-every 10 --iters 20 --out %s", a);
    EB_CHECK(run(args) == 0, "uninterrupted run failed");
    snprintf(args, sizeof args, SMALL " --g-ema 0.99 --ckpt-every 10 --iters 10 --out %s", b);
    EB_CHECK(run(args) == 0, "first half failed");
    snprintf(args, sizeof args, "train --resume %s --iters 20", b);
    EB_CHECK(run(args) == 0, "resume failed");
    snprintf(pb, sizeof pb, "%s/ckpt-00000020.safetensors", b);
    float *e = NULL;
    EB_CHECK(read_tensor(pb, "G_ema.0.weight", &e) > 0, "the resumed checkpoint holds no average");
    free(e);
    if (check_same_ckpt(a, b, "ckpt-00000020.safetensors", "resumed run differs") != EB_TEST_PASS) return EB_TEST_FAIL;
    snprintf(args, sizeof args, "train --resume %s --iters 30 --g-ema 0.9", b);
    EB_CHECK(run(args) != 0, "resume with another --g-ema was accepted");
    return EB_TEST_PASS;
}

/* samples of `sample --run dir --n 50 extra` into *out (malloc'd); element count, or -1. */
static long sample_run(const char *dir, const char *extra, const char *out, float **x) {
    char args[12000];
    snprintf(args, sizeof args, "sample --run %s --n 50 --seed 4 --out %s %s", dir, out, extra);
    if (run(args) != 0) return -1;
    eb_npy a;
    if (eb_npy_read(&a, out) != EB_OK || a.dtype != EB_F32) return -1;
    long n = 1;
    for (int i = 0; i < a.ndim; i++) n *= (long)a.shape[i];
    *x = a.data;
    return n;
}

EB_TEST(sample_uses_the_average_unless_raw_weights_are_asked_for) {
    if (!setup()) return EB_TEST_SKIP;
    char d[2100], plain[2100], args[6000], p[4][2300];
    EB_CHECK(fresh(d, sizeof d, "ema-sample") && fresh(plain, sizeof plain, "ema-sample-off"), "cleanup");
    snprintf(args, sizeof args, SMALL " --g-ema 0.9 --iters 10 --ckpt-every 10 --out %s", d);
    EB_CHECK(run(args) == 0, "train --g-ema failed");
    const char *which[3] = {"", "--g-weights ema", "--g-weights raw"};
    float *x[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        snprintf(p[i], sizeof p[i], "%s-s%d.npy", d, i);
        EB_CHECK(sample_run(d, which[i], p[i], &x[i]) == 100, "sample %s failed", which[i]);
    }
    EB_CHECK(!memcmp(x[0], x[1], 100 * sizeof(float)), "the default is not the average");
    EB_CHECK(memcmp(x[0], x[2], 100 * sizeof(float)), "--g-weights raw gives the average's samples");
    for (int i = 0; i < 3; i++) free(x[i]);
    snprintf(args, sizeof args, SMALL " --iters 10 --ckpt-every 10 --out %s", plain);
    EB_CHECK(run(args) == 0, "train without --g-ema failed");
    snprintf(p[3], sizeof p[3], "%s-s.npy", plain);
    float *y = NULL;
    EB_CHECK(sample_run(plain, "--g-weights ema", p[3], &y) < 0, "--g-weights ema on a run without the average ran");
    free(y);
    return EB_TEST_PASS;
}

/* The value of "key" in a one-line JSON text (a number), NaN when absent. */
static double json_num(const char *line, const char *key) {
    char k[128];
    snprintf(k, sizeof k, "\"%.100s\":", key);
    const char *at = strstr(line, k);
    return at ? strtod(at + strlen(k), NULL) : NAN;
}

/* The last line of a text file into buf; 1 when one was read. */
static int last_line(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int got = 0;
    char line[16384];
    while (fgets(line, sizeof line, f)) {
        snprintf(buf, cap, "%s", line);
        got = 1;
    }
    fclose(f);
    return got;
}

EB_TEST(eval_curve_last_point_equals_eval_of_the_checkpoint) {
    if (!setup()) return EB_TEST_SKIP;
    char d[2100], args[6000], path[2300], curve[16384], ev[16384];
    EB_CHECK(fresh(d, sizeof d, "eval-curve"), "cleanup");
    snprintf(args, sizeof args, SMALL " --g-ema 0.9 --iters 12 --ckpt-every 12 --eval-every 5 --eval-n 3000 --out %s", d);
    EB_CHECK(run(args) == 0, "train --eval-every failed");
    snprintf(path, sizeof path, "%s/metrics.jsonl", d);
    EB_CHECK(last_line(path, curve, sizeof curve), "no metrics");
    EB_CHECK(json_num(curve, "step") == 12 && json_num(curve, "eval_samples") == 3000, "last point: %s", curve);
    EB_CHECK(json_num(curve, "eval_s") >= 0, "no eval time in %s", curve);
    const char *gens[2][2] = {{"raw", "eval_"}, {"ema", "eval_ema_"}};
    const char *keys[3] = {"modes_covered", "high_quality_fraction", "kl_modes_uniform"};
    for (int g = 0; g < 2; g++) {
        snprintf(args, sizeof args, "eval --run %s --n 3000 --g-weights %s", d, gens[g][0]);
        EB_CHECK(run(args) == 0, "eval --g-weights %s failed", gens[g][0]);
        snprintf(path, sizeof path, "%s/eval.json", d);
        EB_CHECK(last_line(path, ev, sizeof ev), "no eval.json");
        for (int k = 0; k < 3; k++) {
            char key[96];
            snprintf(key, sizeof key, "%s%s", gens[g][1], keys[k]);
            double a = json_num(curve, key), b = json_num(ev, keys[k]);
            EB_CHECK(a == b, "%s: the curve says %.9g, eval --g-weights %s says %.9g", key, a, gens[g][0], b);
        }
    }
    return EB_TEST_PASS;
}

/* A classifier of 28x28 images with freshly drawn weights saved at path (its labels are arbitrary but fixed:
 * enough to check that the curve and `eval` count the same modes); 1 on success. */
static int write_classifier(const char *path) {
    eb_backend be;
    if (eb_cpu_backend_init(&be) != EB_OK) return 0;
    eb_classifier c;
    eb_rng rng;
    eb_rng_init(&rng, 5);
    int ok = eb_classifier_init(&c, &be, NULL, (eb_shape){1, 28, 28}, 16) == EB_OK;
    if (ok) {
        ok = eb_classifier_init_weights(&c, &be, &rng) == EB_OK && eb_classifier_save(&c, &be, path) == EB_OK;
        eb_classifier_free(&c, &be);
    }
    eb_backend_close(&be);
    return ok;
}

EB_TEST(stacked_eval_curve_last_point_equals_eval_with_the_classifier) {
    if (!setup()) return EB_TEST_SKIP;
    char d[2100], data[2200], cl[2200], args[9000], path[2300], curve[16384], ev[16384];
    EB_CHECK(fresh(d, sizeof d, "eval-stacked"), "cleanup");
    snprintf(data, sizeof data, "%s-images.npy", d);
    snprintf(cl, sizeof cl, "%s-classifier.safetensors", d);
    EB_CHECK(write_images_as(data, 40, 1, 1) && write_classifier(cl), "cannot write %s or %s", data, cl);
    snprintf(args, sizeof args, "train --model mnist --dim 8 --batch 8 --stack 2 --iters 2 --plot-every 0 --ckpt-every 2 "
             "--eval-every 2 --eval-n 400 --eval-classifier %s --dataset %s --out %s", cl, data, d);
    EB_CHECK(run(args) == 0, "train --stack 2 --eval-every failed");
    snprintf(path, sizeof path, "%s/metrics.jsonl", d);
    EB_CHECK(last_line(path, curve, sizeof curve), "no metrics");
    snprintf(args, sizeof args, "eval --run %s --n 400 --classifier %s", d, cl);
    EB_CHECK(run(args) == 0, "eval --classifier failed");
    snprintf(path, sizeof path, "%s/eval.json", d);
    EB_CHECK(last_line(path, ev, sizeof ev), "no eval.json");
    EB_CHECK(json_num(curve, "eval_samples") == 400 && json_num(ev, "samples") == 400, "sample counts");
    EB_CHECK(json_num(curve, "eval_modes_covered") == json_num(ev, "modes_covered") &&
                 json_num(curve, "eval_kl_modes_uniform") == json_num(ev, "kl_modes_uniform"),
             "the curve's last point %s differs from eval's %s", curve, ev);
    return EB_TEST_PASS;
}

EB_TEST(eval_every_leaves_the_checkpoints_bit_identical) {
    if (!setup()) return EB_TEST_SKIP;
    char a[2100], b[2100], args[6000];
    EB_CHECK(fresh(a, sizeof a, "eval-bits-a") && fresh(b, sizeof b, "eval-bits-b"), "cleanup");
    snprintf(args, sizeof args, SMALL " --g-ema 0.9 --iters 12 --ckpt-every 12 --eval-every 3 --eval-n 500 --out %s", a);
    EB_CHECK(run(args) == 0, "train --eval-every failed");
    snprintf(args, sizeof args, SMALL " --g-ema 0.9 --iters 12 --ckpt-every 12 --out %s", b);
    EB_CHECK(run(args) == 0, "train without --eval-every failed");
    return check_same_ckpt(a, b, "ckpt-00000012.safetensors", "evaluation changed the training");
}

EB_TEST(eval_every_on_a_run_without_modes_fails_before_training) {
    if (!setup()) return EB_TEST_SKIP;
    char d[2100], args[6000], ck[2300];
    EB_CHECK(fresh(d, sizeof d, "eval-swiss"), "cleanup");
    snprintf(args, sizeof args, SMALL " --dataset swissroll --iters 5 --eval-every 5 --out %s", d);
    EB_CHECK(run(args) == 1, "train --eval-every on swissroll did not fail");
    snprintf(ck, sizeof ck, "%s/last-%ld.log", g_tmp, (long)getpid());
    EB_CHECK(eb_test_file_has(ck, "no modes to evaluate"), "the message does not say why");
    return EB_TEST_PASS;
}

/* The PNG at path as 8-bit pixels of `channels` (libpng's simplified reader); NULL when unreadable. */
static uint8_t *read_png(const char *path, int *w, int *h, int *channels) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path)) return NULL;
    *channels = (im.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    im.format = *channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(im));
    if (px && !png_image_finish_read(&im, NULL, px, 0, NULL)) {
        free(px);
        px = NULL;
    }
    *w = (int)im.width;
    *h = (int)im.height;
    return px;
}

/* sample --png-dir on a run of c-channel images: one PNG per sample, 28x28, c channels, the .npy's pixels. */
static int check_png_dir(const char *tag, int c) {
    char d[2100], data[2200], args[8000], npy[2300], dir[2300], p[2400];
    EB_CHECK(fresh(d, sizeof d, tag), "cleanup");
    snprintf(data, sizeof data, "%s-images.npy", d);
    EB_CHECK(write_images(data, 32, c), "cannot write %s", data);
    snprintf(args, sizeof args, "train --model mnist --dim 8 --batch 8 --iters 1 --plot-every 0 --ckpt-every 1 "
             "--dataset %s --out %s", data, d);
    EB_CHECK(run(args) == 0, "train on %d-channel images failed", c);
    snprintf(npy, sizeof npy, "%s/s.npy", d);
    snprintf(dir, sizeof dir, "%s/png", d);
    const int n = 12;
    snprintf(args, sizeof args, "sample --run %s --n %d --out %s --png-dir %s", d, n, npy, dir);
    EB_CHECK(run(args) == 0, "sample --png-dir failed");
    eb_npy x;
    EB_CHECK(eb_npy_read(&x, npy) == EB_OK && x.shape[0] == n && x.shape[1] == c, "samples %s", npy);
    const float *v = x.data;
    for (int i = 0; i < n; i++) {
        int w = 0, h = 0, ch = 0;
        snprintf(p, sizeof p, "%s/%06d.png", dir, i);
        uint8_t *px = read_png(p, &w, &h, &ch);
        EB_CHECK(px, "cannot read %s", p);
        EB_CHECK(w == 28 && h == 28 && ch == c, "%s: %dx%d with %d channels, want 28x28 with %d", p, w, h, ch, c);
        for (int k = 0; k < c; k++)
            for (int q = 0; q < 28 * 28; q++) {
                uint8_t want = eb_grid_pixel(v[((size_t)i * c + k) * 784 + q]);
                EB_CHECK(px[q * c + k] == want, "%s channel %d pixel %d: %d, the sample says %d", p, k, q,
                         px[q * c + k], want);
            }
        free(px);
    }
    snprintf(p, sizeof p, "%s/%06d.png", dir, n);
    struct stat sb;
    EB_CHECK(stat(p, &sb) != 0, "more PNG files than samples");
    eb_npy_free(&x);
    return EB_TEST_PASS;
}

EB_TEST(png_dir_writes_one_gray_png_per_sample_matching_the_npy) { return setup() ? check_png_dir("png-gray", 1) : EB_TEST_SKIP; }

EB_TEST(png_dir_writes_one_rgb_png_per_sample_matching_the_npy) { return setup() ? check_png_dir("png-rgb", 3) : EB_TEST_SKIP; }
