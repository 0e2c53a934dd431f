/* Tests of the data layer (include/ebgan/data.h): toy samplers against their documented laws, .npy / IDX /
 * CIFAR-10 readers on files the tests write (good, truncated, corrupt), stacking, and the shape check. */
#define _POSIX_C_SOURCE 200809L
#include "ebgan/backend.h"
#include "ebgan/data.h"
#include "harness.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define EB_TEST_PI 3.14159265358979323846

/* ---------------------------------------------------------------- helpers */

/* A fresh temp directory per case, removed at the end of the case by tmp_done. */
static char g_dir[256];
static const char *tmp_dir(void) {
    const char *base = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/eb_test_data.XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(g_dir);
}
static void tmp_done(void) {
    DIR *d = opendir(g_dir);
    if (!d) return;
    struct dirent *e;
    char p[600];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(g_dir);
}
static const char *tmp_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", g_dir, name);
    return buf;
}

static int write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}
static int write_gz(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    if (!g) return -1;
    int w = gzwrite(g, data, (unsigned)n);
    return gzclose(g) == Z_OK && (size_t)w == n ? 0 : -1;
}

/* An error case passes only when the status is the expected one AND the message names the file. */
#define CHECK_FAILS_NAMING(expr, want_st, fname)                                                         \
    do {                                                                                                 \
        eb_error_clear();                                                                                \
        eb_status st_ = (expr);                                                                          \
        EB_CHECK(st_ == (want_st), "%s returned %s, expected %s (message: %s)", #expr,                   \
                 eb_status_name(st_), eb_status_name(want_st), eb_error_message());                     \
        EB_CHECK(strstr(eb_error_message(), (fname)) != NULL, "message '%s' does not name %s",           \
                 eb_error_message(), (fname));                                                           \
        printf("  expected error: %s\n", eb_error_message());                                            \
    } while (0)

/* IDX images file: magic, N, H, W big-endian, then pixels; pixel (i, p) = (7*i + 3*p) mod 251. */
static size_t make_idx_images(unsigned char *buf, uint32_t magic, uint32_t n, uint32_t h, uint32_t w) {
    uint32_t hdr[4] = {magic, n, h, w};
    for (int k = 0; k < 4; k++)
        for (int b = 0; b < 4; b++) buf[4 * k + b] = (unsigned char)(hdr[k] >> (24 - 8 * b));
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t p = 0; p < h * w; p++) buf[16 + i * h * w + p] = (unsigned char)((7 * i + 3 * p) % 251);
    return 16 + (size_t)n * h * w;
}
static size_t make_idx_labels(unsigned char *buf, uint32_t n) {
    uint32_t hdr[2] = {0x801, n};
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 4; b++) buf[4 * k + b] = (unsigned char)(hdr[k] >> (24 - 8 * b));
    for (uint32_t i = 0; i < n; i++) buf[8 + i] = (unsigned char)(i % 10);
    return 8 + n;
}

/* A raw .npy with a hand-written header dict (for the error cases). */
static int write_raw_npy(const char *path, const char *dict, const void *data, size_t bytes) {
    char hdr[256];
    size_t len = strlen(dict);
    size_t total = (10 + len + 1 + 63) / 64 * 64;
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)((total - 10) & 0xff);
    hdr[9] = (char)((total - 10) >> 8);
    memcpy(hdr + 10, dict, len);
    memset(hdr + 10 + len, ' ', total - 10 - len);
    hdr[total - 1] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fwrite(hdr, 1, total, f);
    if (bytes) fwrite(data, 1, bytes, f);
    return fclose(f);
}

/* Monte-Carlo moments of column `col` of x[n, 2]: mean, variance, 4th central moment. */
static void moments(const float *x, size_t n, int col, double *mean, double *var, double *m4) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += x[2 * i + col];
    *mean = s / (double)n;
    double v = 0, q = 0;
    for (size_t i = 0; i < n; i++) {
        double d = x[2 * i + col] - *mean;
        v += d * d;
        q += d * d * d * d;
    }
    *var = v / (double)n;
    *m4 = q / (double)n;
}

/* Shared check of a Gaussian-mixture toy: moments, nearest-centre distance, mode balance, within-mode std. */
static int check_gaussian_toy(eb_toy_kind kind, int want_modes, double want_var, double want_std) {
    enum { N = 200000 };
    double centres[2 * EB_TOY_MAX_MODES], mstd;
    int m = eb_toy_modes(kind, centres, &mstd);
    EB_CHECK(m == want_modes, "%d modes, expected %d", m, want_modes);
    EB_CHECK(fabs(mstd - want_std) < 1e-15, "mode std %.17g, expected %.17g", mstd, want_std);
    float *x = malloc(sizeof(float) * 2 * N);
    EB_CHECK(x != NULL, "oom");
    eb_rng rng;
    eb_rng_init(&rng, 1234);
    eb_toy_fill(kind, &rng, x, N);
    /* Moments: the mixture is symmetric, so each coordinate has mean 0 and the documented variance.
     * Bounds: 6 standard errors (mean: sqrt(var/N); variance: sqrt((m4 - var^2)/N)); false-failure odds ~1e-9. */
    for (int col = 0; col < 2; col++) {
        double mean, var, m4;
        moments(x, N, col, &mean, &var, &m4);
        double se_mean = sqrt(var / N), se_var = sqrt((m4 - var * var) / N);
        printf("  col %d: mean %.5f (bound %.5f), var %.5f vs %.5f (bound %.5f)\n", col, mean, 6 * se_mean, var,
               want_var, 6 * se_var);
        EB_CHECK(fabs(mean) < 6 * se_mean, "col %d mean %g", col, mean);
        EB_CHECK(fabs(var - want_var) < 6 * se_var, "col %d var %g vs %g", col, var, want_var);
    }
    /* Every sample lies near a documented centre: radius of 2-D N(0, s^2 I) exceeds 7s with probability
     * exp(-49/2) = 2.3e-11, so over 2e5 samples a false failure has odds ~5e-6. */
    long count[EB_TOY_MAX_MODES] = {0};
    double ss[EB_TOY_MAX_MODES] = {0};
    double worst = 0;
    for (size_t i = 0; i < N; i++) {
        int best = 0;
        double bd = 1e30;
        for (int k = 0; k < m; k++) {
            double dx = x[2 * i] - centres[2 * k], dy = x[2 * i + 1] - centres[2 * k + 1];
            double d = dx * dx + dy * dy;
            if (d < bd) { bd = d; best = k; }
        }
        count[best]++;
        ss[best] += bd;
        if (sqrt(bd) > worst) worst = sqrt(bd);
    }
    printf("  farthest sample from its centre: %.2f mode stds (bound 7)\n", worst / mstd);
    EB_CHECK(worst < 7 * mstd, "a sample lies %.2f stds from every centre", worst / mstd);
    /* Modes are equally likely: each count within 6 binomial standard deviations of N/m. */
    double p = 1.0 / m, sd = sqrt(N * p * (1 - p));
    for (int k = 0; k < m; k++) {
        EB_CHECK(fabs(count[k] - N * p) < 6 * sd, "mode %d holds %ld samples, expected %.0f +- %.0f", k, count[k], N * p, 6 * sd);
        /* within-mode std per coordinate: sqrt(ss / (2 n_k)); its standard error is ~ s / sqrt(4 n_k) */
        double s_hat = sqrt(ss[k] / (2.0 * count[k]));
        EB_CHECK(fabs(s_hat - mstd) < 6 * mstd / sqrt(4.0 * count[k]), "mode %d std %g, expected %g", k, s_hat, mstd);
    }
    free(x);
    return EB_TEST_PASS;
}

/* ---------------------------------------------------------------- toys */

EB_TEST(toy_8gaussians_law) {
    /* per coordinate: E c^2 = scale^2 * (1+1+0+0+4*0.5)/8 = 2, plus noise 0.02^2, over 1.414^2 */
    return check_gaussian_toy(EB_TOY_8GAUSSIANS, 8, (2.0 + 0.02 * 0.02) / (1.414 * 1.414), 0.02 / 1.414);
}

EB_TEST(toy_25gaussians_law) {
    /* per coordinate: E c^2 = (16+4+0+4+16)/5 = 8, plus noise 0.05^2, over 2.828^2 */
    return check_gaussian_toy(EB_TOY_25GAUSSIANS, 25, (8.0 + 0.05 * 0.05) / (2.828 * 2.828), 0.05 / 2.828);
}

EB_TEST(toy_mode_centres_documented) {
    double c[2 * EB_TOY_MAX_MODES], s;
    EB_CHECK(eb_toy_modes(EB_TOY_8GAUSSIANS, c, &s) == 8, "8 modes");
    /* the paper's list order: (1,0), (-1,0), (0,1), (0,-1), then the diagonals; times 2, over 1.414 */
    EB_CHECK(fabs(c[0] - 2.0 / 1.414) < 1e-15 && c[1] == 0.0, "centre 0 (%g, %g)", c[0], c[1]);
    EB_CHECK(fabs(c[8] - 2.0 * sqrt(0.5) / 1.414) < 1e-15 && fabs(c[9] - 2.0 * sqrt(0.5) / 1.414) < 1e-15, "centre 4");
    EB_CHECK(eb_toy_modes(EB_TOY_25GAUSSIANS, c, &s) == 25, "25 modes");
    /* loop order x outer, y inner, -2..2: centre 0 = (-4, -4), 24 = (4, 4), 12 = origin; over 2.828 */
    EB_CHECK(fabs(c[0] + 4.0 / 2.828) < 1e-15 && fabs(c[1] + 4.0 / 2.828) < 1e-15, "centre 0");
    EB_CHECK(c[24] == 0.0 && c[25] == 0.0, "centre 12");
    EB_CHECK(fabs(c[2 * 1 + 1] + 2.0 / 2.828) < 1e-15 && fabs(c[2] + 4.0 / 2.828) < 1e-15, "centre 1 = (-4,-2)/2.828");
    EB_CHECK(eb_toy_modes(EB_TOY_SWISSROLL, c, &s) == 0, "swissroll has no modes");
    eb_toy_kind k;
    EB_CHECK(eb_toy_from_name("25gaussians", &k) && k == EB_TOY_25GAUSSIANS, "name");
    EB_CHECK(!eb_toy_from_name("26gaussians", &k), "unknown name accepted");
    EB_CHECK(strcmp(eb_toy_name(EB_TOY_SWISSROLL), "swissroll") == 0, "name back");
    return EB_TEST_PASS;
}

EB_TEST(toy_swissroll_law) {
    enum { N = 200000, NC = 20000, NNEAR = 4000 };
    float *x = malloc(sizeof(float) * 2 * N);
    EB_CHECK(x != NULL, "oom");
    eb_rng rng;
    eb_rng_init(&rng, 99);
    eb_toy_fill(EB_TOY_SWISSROLL, &rng, x, N);
    /* Expected moments by quadrature over t ~ U[1.5π, 4.5π] (midpoint rule, 1e6 nodes: error << MC error):
     * x = (t cos t + 0.25 e1) / 7.5, y = (t sin t + 0.25 e2) / 7.5. */
    const double a = 1.5 * EB_TEST_PI, b = 4.5 * EB_TEST_PI;
    double ex = 0, ey = 0, ex2 = 0, ey2 = 0;
    const int Q = 1000000;
    for (int i = 0; i < Q; i++) {
        double t = a + (b - a) * (i + 0.5) / Q;
        ex += t * cos(t); ey += t * sin(t);
        ex2 += t * t * cos(t) * cos(t); ey2 += t * t * sin(t) * sin(t);
    }
    ex /= Q; ey /= Q; ex2 /= Q; ey2 /= Q;
    double want_mean[2] = {ex / 7.5, ey / 7.5};
    double want_var[2] = {(ex2 - ex * ex + 0.0625) / 56.25, (ey2 - ey * ey + 0.0625) / 56.25};
    for (int col = 0; col < 2; col++) {
        double mean, var, m4;
        moments(x, N, col, &mean, &var, &m4);
        double se_mean = sqrt(var / N), se_var = sqrt((m4 - var * var) / N);
        printf("  col %d: mean %.5f vs %.5f (bound %.5f), var %.5f vs %.5f (bound %.5f)\n", col, mean,
               want_mean[col], 6 * se_mean, var, want_var[col], 6 * se_var);
        EB_CHECK(fabs(mean - want_mean[col]) < 6 * se_mean, "col %d mean", col);
        EB_CHECK(fabs(var - want_var[col]) < 6 * se_var, "col %d var", col);
    }
    /* Every sample near the curve (t cos t, t sin t)/7.5: the noise moves a point by a 2-D N(0, s^2 I) with
     * s = 0.25/7.5, so its distance to the curve is at most 7s (odds 2.3e-11 each); curve sampled at NC
     * points (spacing ~6e-4 << s). */
    double *cv = malloc(sizeof(double) * 2 * NC);
    EB_CHECK(cv != NULL, "oom");
    for (int j = 0; j < NC; j++) {
        double t = a + (b - a) * j / (NC - 1);
        cv[2 * j] = t * cos(t) / 7.5;
        cv[2 * j + 1] = t * sin(t) / 7.5;
    }
    double s = 0.25 / 7.5, worst = 0;
    for (int i = 0; i < NNEAR; i++) {
        double bd = 1e30;
        for (int j = 0; j < NC; j++) {
            double dx = x[2 * i] - cv[2 * j], dy = x[2 * i + 1] - cv[2 * j + 1];
            double d = dx * dx + dy * dy;
            if (d < bd) bd = d;
        }
        if (sqrt(bd) > worst) worst = sqrt(bd);
    }
    printf("  farthest of %d samples from the curve: %.2f noise stds (bound 7)\n", NNEAR, worst / s);
    EB_CHECK(worst < 7 * s, "a sample lies %.2f stds off the roll", worst / s);
    free(cv);
    free(x);
    return EB_TEST_PASS;
}

EB_TEST(toy_streams_repeat_and_advance) {
    float a[64], b[64], c[64];
    for (int kind = 0; kind < 3; kind++) {
        eb_rng r1, r2;
        eb_rng_init(&r1, 7);
        eb_rng_init(&r2, 7);
        eb_toy_fill((eb_toy_kind)kind, &r1, a, 32);
        eb_toy_fill((eb_toy_kind)kind, &r2, b, 32);
        EB_CHECK(memcmp(a, b, sizeof a) == 0, "kind %d: same seed, different samples", kind);
        eb_toy_fill((eb_toy_kind)kind, &r1, c, 32);
        EB_CHECK(memcmp(a, c, sizeof a) != 0, "kind %d: the next batch repeats the first", kind);
    }
    return EB_TEST_PASS;
}

/* The backend op toy_sample (what training draws on the device) and the host's eb_toy_fill give the same
 * points from the same counters, bit for bit: the formula lives once, in toy_formula.h. */
EB_TEST(toy_sample_op_equals_host_fill) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    enum { N = 500 };
    static float a[2 * N], b[2 * N];
    for (int kind = 0; kind < 3; kind++) {
        eb_rng r;
        eb_rng_init(&r, 31);
        eb_rng_reserve(&r, 12345);
        const uint64_t off = r.counter;
        eb_toy_fill((eb_toy_kind)kind, &r, a, N);
        EB_CHECK(r.counter == off + 3 * N, "kind %d: eb_toy_fill took %llu counters for %d points", kind,
                 (unsigned long long)(r.counter - off), N);
        EB_CHECK_OK(be.ops->toy_sample(be.ctx, (eb_toy_kind)kind, b, N, eb_rng_at(31, off)));
        EB_CHECK(memcmp(a, b, sizeof a) == 0, "kind %d: op and host fill differ", kind);
    }
    EB_CHECK(be.ops->toy_sample(be.ctx, (eb_toy_kind)7, b, 1, eb_rng_at(1, 0)) == EB_ERR_ARG, "unknown kind accepted");
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

EB_TEST(toy_25gaussians_paper_set) {
    /* The paper's fixed set: 100000 points, exactly 4000 per centre, shuffled. */
    eb_dataset ds;
    eb_rng rng;
    eb_rng_init(&rng, 5);
    EB_CHECK_OK(eb_toy_dataset_init(&ds, EB_TOY_25GAUSSIANS, EB_TOY_PAPER_25G_N, &rng));
    EB_CHECK(ds.n == 100000 && ds.c == 2 && ds.h == 1 && ds.w == 1 && ds.storage == EB_DATA_F32, "shape");
    double c[2 * EB_TOY_MAX_MODES], s;
    eb_toy_modes(EB_TOY_25GAUSSIANS, c, &s);
    long count[25] = {0};
    int in_loop_order = 0;
    for (int64_t i = 0; i < ds.n; i++) {
        int best = 0;
        double bd = 1e30;
        for (int k = 0; k < 25; k++) {
            double dx = ds.f32[2 * i] - c[2 * k], dy = ds.f32[2 * i + 1] - c[2 * k + 1];
            if (dx * dx + dy * dy < bd) { bd = dx * dx + dy * dy; best = k; }
        }
        EB_CHECK(sqrt(bd) < 7 * s, "point %lld is %.1f stds from every centre", (long long)i, sqrt(bd) / s);
        count[best]++;
        in_loop_order += best == (int)(i % 25);
    }
    for (int k = 0; k < 25; k++) EB_CHECK(count[k] == 4000, "centre %d holds %ld points", k, count[k]);
    /* unshuffled, all 100000 would sit in loop order; shuffled, about 1/25 of them do */
    EB_CHECK(in_loop_order < 6000, "%d of 100000 points in loop order: not shuffled", in_loop_order);
    eb_dataset_free(&ds);
    return EB_TEST_PASS;
}

/* ---------------------------------------------------------------- .npy */

EB_TEST(npy_round_trip) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    char p[512];
    eb_rng rng;
    eb_rng_init(&rng, 11);
    /* float32 [N, D], float32 [N, C, H, W], int32 rank 1, uint8 rank 3 */
    float f2[5 * 3], f4[2 * 3 * 4 * 5];
    int32_t i1[7];
    uint8_t u3[2 * 3 * 4];
    for (size_t i = 0; i < 15; i++) f2[i] = (float)(eb_rng_uniform(&rng) * 2 - 1);
    for (size_t i = 0; i < 120; i++) f4[i] = (float)(eb_rng_uniform(&rng) * 10 - 5);
    for (size_t i = 0; i < 7; i++) i1[i] = (int32_t)eb_rng_u32(&rng);
    for (size_t i = 0; i < 24; i++) u3[i] = (uint8_t)eb_rng_below(&rng, 256);
    const int64_t s2[2] = {5, 3}, s4[4] = {2, 3, 4, 5}, s1[1] = {7}, s3[3] = {2, 3, 4};
    struct { const char *name; eb_dtype t; int nd; const int64_t *sh; const void *d; size_t bytes; } cases[] = {
        {"f2.npy", EB_F32, 2, s2, f2, sizeof f2}, {"f4.npy", EB_F32, 4, s4, f4, sizeof f4},
        {"i1.npy", EB_I32, 1, s1, i1, sizeof i1}, {"u3.npy", EB_U8, 3, s3, u3, sizeof u3}};
    for (size_t c = 0; c < 4; c++) {
        tmp_path(p, sizeof p, cases[c].name);
        EB_CHECK_OK(eb_npy_write(p, cases[c].t, cases[c].nd, cases[c].sh, cases[c].d));
        struct stat sb;
        EB_CHECK(stat(p, &sb) == 0 && (sb.st_size - (off_t)cases[c].bytes) % 64 == 0, "%s: data not 64-aligned", p);
        eb_npy a;
        EB_CHECK_OK(eb_npy_read(&a, p));
        EB_CHECK(a.dtype == cases[c].t && a.ndim == cases[c].nd, "%s: dtype/rank", p);
        for (int k = 0; k < a.ndim; k++) EB_CHECK(a.shape[k] == cases[c].sh[k], "%s: dim %d", p, k);
        EB_CHECK(memcmp(a.data, cases[c].d, cases[c].bytes) == 0, "%s: data differ", p);
        eb_npy_free(&a);
    }
    /* as datasets: [5, 3] -> dense rows [3, 1, 1]; [2, 3, 4, 5] -> images as stored */
    eb_dataset ds;
    EB_CHECK_OK(eb_dataset_open(&ds, tmp_path(p, sizeof p, "f2.npy")));
    EB_CHECK(ds.n == 5 && ds.c == 3 && ds.h == 1 && ds.w == 1 && ds.storage == EB_DATA_F32, "f2 dataset shape");
    EB_CHECK(memcmp(ds.f32, f2, sizeof f2) == 0 && ds.labels == NULL, "f2 dataset data");
    eb_dataset_free(&ds);
    EB_CHECK_OK(eb_dataset_load_npy(&ds, tmp_path(p, sizeof p, "f4.npy")));
    EB_CHECK(ds.n == 2 && ds.c == 3 && ds.h == 4 && ds.w == 5, "f4 dataset shape");
    EB_CHECK(memcmp(ds.f32, f4, sizeof f4) == 0, "f4 dataset data");
    eb_dataset_free(&ds);
    /* the writer replaces an existing file and leaves no temp file behind */
    tmp_path(p, sizeof p, "f2.npy");
    EB_CHECK_OK(eb_npy_write(p, EB_I32, 1, s1, i1));
    eb_npy a;
    EB_CHECK_OK(eb_npy_read(&a, p));
    EB_CHECK(a.dtype == EB_I32 && a.shape[0] == 7, "not replaced");
    eb_npy_free(&a);
    DIR *d = opendir(g_dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        EB_CHECK(strstr(e->d_name, ".tmp.") == NULL, "temp file %s left behind", e->d_name);
        files += e->d_name[0] != '.';
    }
    closedir(d);
    EB_CHECK(files == 4, "%d files in the dir, expected 4", files);
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(npy_write_errors) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    char p[512];
    const int64_t s[1] = {3};
    double v[3] = {1, 2, 3};
    tmp_path(p, sizeof p, "no_such_dir/out.npy");
    CHECK_FAILS_NAMING(eb_npy_write(p, EB_F32, 1, s, v), EB_ERR_IO, "no_such_dir/out.npy");
    tmp_path(p, sizeof p, "f64.npy");
    CHECK_FAILS_NAMING(eb_npy_write(p, EB_F64, 1, s, v), EB_ERR_ARG, "f64.npy");
    tmp_done();
    return EB_TEST_PASS;
}

static int have_numpy(void) { return system("python3 -c 'import numpy' >/dev/null 2>&1") == 0; }

EB_TEST(npy_numpy_cross_check) {
    if (!have_numpy()) {
        printf("  skipped: python3 with numpy not available\n");
        return EB_TEST_SKIP;
    }
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    char p[512], q[512], r[512], cmd[3072];
    /* ours -> numpy: values are k * 0.25 - 3 (exact in float32) and k * 1000003 - 7 (int32, wraps) */
    float f[3 * 2 * 4 * 5];
    int32_t i[6];
    for (int k = 0; k < 120; k++) f[k] = (float)k * 0.25f - 3.0f;
    for (int k = 0; k < 6; k++) i[k] = (int32_t)((uint32_t)k * 1000003u * 977u) - 7;
    const int64_t sf[4] = {3, 2, 4, 5}, si[2] = {2, 3};
    EB_CHECK_OK(eb_npy_write(tmp_path(p, sizeof p, "ours_f.npy"), EB_F32, 4, sf, f));
    EB_CHECK_OK(eb_npy_write(tmp_path(q, sizeof q, "ours_i.npy"), EB_I32, 2, si, i));
    char ilist[256];
    int il = snprintf(ilist, sizeof ilist, "[");
    for (int k = 0; k < 6; k++) il += snprintf(ilist + il, sizeof ilist - (size_t)il, "%s%d", k ? ", " : "", (int)i[k]);
    snprintf(ilist + il, sizeof ilist - (size_t)il, "]");
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import numpy as np; a=np.load('%s'); b=np.load('%s');"
             " assert a.dtype==np.float32 and a.shape==(3,2,4,5), (a.dtype,a.shape);"
             " assert (a.ravel()==np.arange(120,dtype=np.float32)*np.float32(0.25)-np.float32(3)).all();"
             " assert b.dtype==np.int32 and b.shape==(2,3), (b.dtype,b.shape);"
             " assert b.ravel().tolist()==%s, b\"",
             p, q, ilist);
    int rc = system(cmd);
    EB_CHECK(rc == 0, "numpy rejected our files (rc %d)", rc);
    /* numpy -> ours: a v1.0 float32 file, a v2.0 one (forced), an int32 file */
    tmp_path(r, sizeof r, "np_");
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import numpy as np; a=(np.arange(24,dtype=np.float32)/8-1).reshape(6,4); np.save('%sv1.npy', a);"
             " f=open('%sv2.npy','wb'); np.lib.format.write_array(f, a.reshape(1,2,3,4), version=(2,0)); f.close();"
             " np.save('%si.npy', np.array([-5, 0, 2**31-1], dtype=np.int32))\"",
             r, r, r);
    rc = system(cmd);
    EB_CHECK(rc == 0, "numpy could not write (rc %d)", rc);
    eb_npy a;
    EB_CHECK_OK(eb_npy_read(&a, tmp_path(p, sizeof p, "np_v1.npy")));
    EB_CHECK(a.dtype == EB_F32 && a.ndim == 2 && a.shape[0] == 6 && a.shape[1] == 4, "v1 shape");
    for (int k = 0; k < 24; k++) EB_CHECK(((float *)a.data)[k] == (float)k / 8 - 1, "v1 element %d", k);
    eb_npy_free(&a);
    EB_CHECK_OK(eb_npy_read(&a, tmp_path(p, sizeof p, "np_v2.npy")));
    EB_CHECK(a.dtype == EB_F32 && a.ndim == 4 && a.shape[3] == 4 && a.shape[2] == 3, "v2 shape");
    for (int k = 0; k < 24; k++) EB_CHECK(((float *)a.data)[k] == (float)k / 8 - 1, "v2 element %d", k);
    eb_npy_free(&a);
    EB_CHECK_OK(eb_npy_read(&a, tmp_path(p, sizeof p, "np_i.npy")));
    EB_CHECK(a.dtype == EB_I32 && a.ndim == 1 && a.shape[0] == 3, "int shape");
    EB_CHECK(((int32_t *)a.data)[0] == -5 && ((int32_t *)a.data)[2] == INT32_MAX, "int values");
    eb_npy_free(&a);
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(npy_bad_magic) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    char p[512];
    const char junk[] = "\x93NUMPX\x01\x00\x10\x00{'descr': '<f4'}";
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "bad_magic.npy"), junk, sizeof junk) == 0, "write");
    eb_npy a;
    CHECK_FAILS_NAMING(eb_npy_read(&a, p), EB_ERR_FORMAT, "bad_magic.npy");
    EB_CHECK(strstr(eb_error_message(), "magic") != NULL, "message does not say magic");
    eb_dataset ds;
    CHECK_FAILS_NAMING(eb_dataset_open(&ds, p), EB_ERR_FORMAT, "bad_magic.npy");
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(npy_truncated) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    char p[512];
    float v[12] = {0};
    /* header says 4x3 float32 (48 bytes), file holds 40 */
    EB_CHECK(write_raw_npy(tmp_path(p, sizeof p, "short.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }",
                           v, 40) == 0, "write");
    eb_npy a;
    CHECK_FAILS_NAMING(eb_npy_read(&a, p), EB_ERR_FORMAT, "short.npy");
    EB_CHECK(strstr(eb_error_message(), "truncated") != NULL, "message does not say truncated");
    /* cut inside the header */
    const char head[] = "\x93NUMPY\x01\x00\x76\x00{'descr'";
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "cut_header.npy"), head, sizeof head - 1) == 0, "write");
    CHECK_FAILS_NAMING(eb_npy_read(&a, p), EB_ERR_FORMAT, "cut_header.npy");
    /* more data than the header describes */
    EB_CHECK(write_raw_npy(tmp_path(p, sizeof p, "long.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                           v, 48) == 0, "write");
    CHECK_FAILS_NAMING(eb_npy_read(&a, p), EB_ERR_FORMAT, "long.npy");
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(npy_wrong_dtype) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    char p[512];
    double v[6] = {1, 2, 3, 4, 5, 6};
    EB_CHECK(write_raw_npy(tmp_path(p, sizeof p, "f8.npy"), "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
                           v, sizeof v) == 0, "write");
    eb_npy a;
    CHECK_FAILS_NAMING(eb_npy_read(&a, p), EB_ERR_FORMAT, "f8.npy");
    EB_CHECK(strstr(eb_error_message(), "<f8") != NULL, "message does not name the dtype");
    EB_CHECK(write_raw_npy(tmp_path(p, sizeof p, "big_endian.npy"), "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }",
                           v, 24) == 0, "write");
    CHECK_FAILS_NAMING(eb_npy_read(&a, p), EB_ERR_FORMAT, "big_endian.npy");
    /* int32 is readable, but not a dataset */
    EB_CHECK(write_raw_npy(tmp_path(p, sizeof p, "ints.npy"), "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }",
                           v, 24) == 0, "write");
    eb_dataset ds;
    CHECK_FAILS_NAMING(eb_dataset_load_npy(&ds, p), EB_ERR_FORMAT, "ints.npy");
    /* float32 of rank 3 is not a dataset shape */
    EB_CHECK(write_raw_npy(tmp_path(p, sizeof p, "rank3.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }",
                           v, 24) == 0, "write");
    CHECK_FAILS_NAMING(eb_dataset_load_npy(&ds, p), EB_ERR_FORMAT, "rank3.npy");
    /* a NaN in the data */
    float nanv[6] = {0, 1, 2, NAN, 4, 5};
    EB_CHECK(write_raw_npy(tmp_path(p, sizeof p, "nan.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
                           nanv, sizeof nanv) == 0, "write");
    CHECK_FAILS_NAMING(eb_dataset_load_npy(&ds, p), EB_ERR_NUMERIC, "nan.npy");
    EB_CHECK(strstr(eb_error_message(), "sample 1") != NULL, "message does not name the sample");
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(npy_fortran_order) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    char p[512];
    float v[6] = {1, 2, 3, 4, 5, 6};
    EB_CHECK(write_raw_npy(tmp_path(p, sizeof p, "fortran.npy"), "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                           v, sizeof v) == 0, "write");
    eb_npy a;
    CHECK_FAILS_NAMING(eb_npy_read(&a, p), EB_ERR_FORMAT, "fortran.npy");
    EB_CHECK(strstr(eb_error_message(), "fortran_order") != NULL, "message does not say fortran_order");
    /* a mangled header dict */
    EB_CHECK(write_raw_npy(tmp_path(p, sizeof p, "mangled.npy"), "{'descr': '<f4', 'shape': [2, 3], }", v, sizeof v) == 0,
             "write");
    CHECK_FAILS_NAMING(eb_npy_read(&a, p), EB_ERR_FORMAT, "mangled.npy");
    tmp_done();
    return EB_TEST_PASS;
}

/* ---------------------------------------------------------------- IDX */

static int check_idx_dataset(const eb_dataset *ds, uint32_t n, uint32_t h, uint32_t w, int with_labels) {
    EB_CHECK(ds->n == n && ds->c == 1 && ds->h == (int)h && ds->w == (int)w && ds->storage == EB_DATA_U8, "shape");
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t p = 0; p < h * w; p++)
            EB_CHECK(ds->u8[i * h * w + p] == (7 * i + 3 * p) % 251, "pixel %u,%u", i, p);
    if (with_labels) {
        EB_CHECK(ds->labels != NULL && ds->n_classes == 10, "labels");
        for (uint32_t i = 0; i < n; i++) EB_CHECK(ds->labels[i] == (int32_t)(i % 10), "label %u", i);
    } else {
        EB_CHECK(ds->labels == NULL && ds->n_classes == 0, "unexpected labels");
    }
    return EB_TEST_PASS;
}

EB_TEST(idx_good_plain_and_gzipped) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    enum { N = 37, H = 5, W = 6 };
    static unsigned char img[16 + N * H * W], lab[8 + N];
    size_t ni = make_idx_images(img, 0x803, N, H, W), nl = make_idx_labels(lab, N);
    char p[512], q[512];
    eb_dataset ds;
    /* plain, labels given explicitly */
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "train-images-idx3-ubyte"), img, ni) == 0, "write");
    EB_CHECK(write_bytes(tmp_path(q, sizeof q, "train-labels-idx1-ubyte"), lab, nl) == 0, "write");
    EB_CHECK_OK(eb_dataset_load_idx(&ds, p, q));
    if (check_idx_dataset(&ds, N, H, W, 1)) return EB_TEST_FAIL;
    eb_dataset_free(&ds);
    /* plain, no labels */
    EB_CHECK_OK(eb_dataset_load_idx(&ds, p, NULL));
    if (check_idx_dataset(&ds, N, H, W, 0)) return EB_TEST_FAIL;
    eb_dataset_free(&ds);
    /* gzipped, opened by content with the labels file found beside it */
    EB_CHECK(write_gz(tmp_path(p, sizeof p, "t10k-images-idx3-ubyte.gz"), img, ni) == 0, "write");
    EB_CHECK(write_gz(tmp_path(q, sizeof q, "t10k-labels-idx1-ubyte.gz"), lab, nl) == 0, "write");
    EB_CHECK_OK(eb_dataset_open(&ds, p));
    if (check_idx_dataset(&ds, N, H, W, 1)) return EB_TEST_FAIL;
    eb_dataset_free(&ds);
    /* the directory form prefers train-images-idx3-ubyte.gz, then the plain one (present here) */
    EB_CHECK_OK(eb_dataset_open(&ds, g_dir));
    if (check_idx_dataset(&ds, N, H, W, 1)) return EB_TEST_FAIL;
    eb_dataset_free(&ds);
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(idx_truncated) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    enum { N = 20, H = 28, W = 28 };
    static unsigned char img[16 + N * H * W];
    size_t ni = make_idx_images(img, 0x803, N, H, W);
    char p[512];
    eb_dataset ds;
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "cut-images-idx3-ubyte"), img, ni - 100) == 0, "write");
    CHECK_FAILS_NAMING(eb_dataset_load_idx(&ds, p, NULL), EB_ERR_FORMAT, "cut-images-idx3-ubyte");
    EB_CHECK(strstr(eb_error_message(), "truncated: header says 20 images of 28x28, file holds 15580 bytes") != NULL,
             "message lacks the counts: %s", eb_error_message());
    /* a gzip stream cut in the middle */
    EB_CHECK(write_gz(tmp_path(p, sizeof p, "full.gz"), img, ni) == 0, "write");
    FILE *f = fopen(p, "rb");
    static unsigned char gz[32768];
    size_t gn = fread(gz, 1, sizeof gz, f);
    fclose(f);
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "cut-images-idx3-ubyte.gz"), gz, gn / 2) == 0, "write");
    CHECK_FAILS_NAMING(eb_dataset_load_idx(&ds, p, NULL), EB_ERR_FORMAT, "cut-images-idx3-ubyte.gz");
    /* cut inside the header */
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "stub-images-idx3-ubyte"), img, 10) == 0, "write");
    CHECK_FAILS_NAMING(eb_dataset_load_idx(&ds, p, NULL), EB_ERR_FORMAT, "stub-images-idx3-ubyte");
    /* extra bytes after the pixels the header describes */
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "long-images-idx3-ubyte"), img, ni) == 0, "write");
    f = fopen(p, "ab");
    fputc(0, f);
    fclose(f);
    CHECK_FAILS_NAMING(eb_dataset_load_idx(&ds, p, NULL), EB_ERR_FORMAT, "long-images-idx3-ubyte");
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(idx_corrupt_gzip) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    enum { N = 20, H = 28, W = 28 };
    static unsigned char img[16 + N * H * W];
    size_t ni = make_idx_images(img, 0x803, N, H, W);
    char p[512];
    EB_CHECK(write_gz(tmp_path(p, sizeof p, "x.gz"), img, ni) == 0, "write");
    FILE *f = fopen(p, "rb");
    static unsigned char gz[32768];
    size_t gn = fread(gz, 1, sizeof gz, f);
    fclose(f);
    /* flip a byte of the CRC in the trailer: the inflated bytes all arrive, only the check can tell */
    gz[gn - 6] ^= 0x5a;
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "crc-images-idx3-ubyte.gz"), gz, gn) == 0, "write");
    eb_dataset ds;
    CHECK_FAILS_NAMING(eb_dataset_load_idx(&ds, p, NULL), EB_ERR_FORMAT, "crc-images-idx3-ubyte.gz");
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(idx_wrong_magic) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    enum { N = 4, H = 3, W = 3 };
    unsigned char img[16 + N * H * W], lab[8 + N];
    size_t ni = make_idx_images(img, 0x0803 + 0x0100, N, H, W); /* 0x0903: signed bytes */
    char p[512], q[512];
    eb_dataset ds;
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "odd-images-idx3-ubyte"), img, ni) == 0, "write");
    CHECK_FAILS_NAMING(eb_dataset_load_idx(&ds, p, NULL), EB_ERR_FORMAT, "odd-images-idx3-ubyte");
    EB_CHECK(strstr(eb_error_message(), "0x00000903") != NULL, "message lacks the magic");
    /* a labels file passed as images */
    size_t nl = make_idx_labels(lab, N);
    EB_CHECK(write_bytes(tmp_path(q, sizeof q, "swapped-labels-idx1-ubyte"), lab, nl) == 0, "write");
    CHECK_FAILS_NAMING(eb_dataset_load_idx(&ds, q, NULL), EB_ERR_FORMAT, "swapped-labels-idx1-ubyte");
    EB_CHECK(strstr(eb_error_message(), "labels file") != NULL, "message lacks the hint");
    /* images passed as labels */
    ni = make_idx_images(img, 0x803, N, H, W);
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "good-images-idx3-ubyte"), img, ni) == 0, "write");
    CHECK_FAILS_NAMING(eb_dataset_load_idx(&ds, p, p), EB_ERR_FORMAT, "good-images-idx3-ubyte");
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(idx_label_count_mismatch) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    unsigned char img[16 + 12 * 4], lab[8 + 11];
    size_t ni = make_idx_images(img, 0x803, 12, 2, 2), nl = make_idx_labels(lab, 11);
    char p[512], q[512];
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "a-images-idx3-ubyte"), img, ni) == 0, "write");
    EB_CHECK(write_gz(tmp_path(q, sizeof q, "b-labels-idx1-ubyte.gz"), lab, nl) == 0, "write");
    eb_dataset ds;
    CHECK_FAILS_NAMING(eb_dataset_load_idx(&ds, p, q), EB_ERR_FORMAT, "b-labels-idx1-ubyte.gz");
    EB_CHECK(strstr(eb_error_message(), "a-images-idx3-ubyte") != NULL, "message does not name the images file");
    EB_CHECK(strstr(eb_error_message(), "11 labels") != NULL && strstr(eb_error_message(), "12 images") != NULL,
             "message lacks the counts");
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(fashion_mnist_loads) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        printf("  skipped: %s not present (Debian package dataset-fashion-mnist)\n", dir);
        return EB_TEST_SKIP;
    }
    eb_dataset ds;
    EB_CHECK_OK(eb_dataset_open(&ds, "fashion-mnist"));
    EB_CHECK(ds.n == 60000 && ds.c == 1 && ds.h == 28 && ds.w == 28 && ds.storage == EB_DATA_U8,
             "shape %lldx%dx%dx%d", (long long)ds.n, ds.c, ds.h, ds.w);
    EB_CHECK(ds.labels && ds.n_classes == 10, "labels");
    /* Fashion-MNIST's training set is balanced: 6000 images per class */
    long count[10] = {0};
    double mean = 0;
    for (int64_t i = 0; i < ds.n; i++) count[ds.labels[i]]++;
    for (int k = 0; k < 10; k++) EB_CHECK(count[k] == 6000, "class %d has %ld images", k, count[k]);
    for (size_t i = 0; i < (size_t)ds.n * 784; i++) mean += ds.u8[i];
    mean /= (double)ds.n * 784;
    /* its published mean pixel is 0.2860 * 255 = 72.94 */
    printf("  mean pixel %.3f (published 72.94)\n", mean);
    EB_CHECK(fabs(mean - 72.94) < 0.05, "mean pixel %g", mean);
    eb_dataset_free(&ds);
    return EB_TEST_PASS;
}

/* ---------------------------------------------------------------- stacking */

EB_TEST(stack_three_channels_1000_modes) {
    /* a 1-channel source of 50 images; image i is filled with the value i, label i % 10 */
    eb_dataset src, st;
    EB_CHECK_OK(eb_dataset_init(&src, "src", 50, 1, 4, 4, EB_DATA_U8, 1));
    for (int i = 0; i < 50; i++) {
        memset(src.u8 + 16 * i, i, 16);
        src.labels[i] = i % 10;
    }
    src.n_classes = 10;
    eb_rng rng;
    eb_rng_init(&rng, 3);
    int64_t n = eb_stack_paper_n(3);
    EB_CHECK(n == 128000, "paper n %lld", (long long)n);
    EB_CHECK_OK(eb_dataset_stack(&st, &src, 3, n, &rng));
    EB_CHECK(st.n == n && st.c == 3 && st.h == 4 && st.w == 4 && st.storage == EB_DATA_U8, "shape");
    EB_CHECK(st.n_classes == 1000 && st.labels, "classes %d", st.n_classes);
    static int seen[1000];
    memset(seen, 0, sizeof seen);
    int distinct = 0;
    for (int64_t i = 0; i < n; i++) {
        int label = st.labels[i];
        EB_CHECK(label >= 0 && label < 1000, "label %d", label);
        distinct += !seen[label]++;
        /* channel j holds one whole source image, whose label is digit j of the stack's label */
        for (int j = 0; j < 3; j++) {
            const uint8_t *ch = st.u8 + (i * 3 + j) * 16;
            for (int p = 1; p < 16; p++) EB_CHECK(ch[p] == ch[0], "sample %lld channel %d is not one image", (long long)i, j);
            int digit = label / (j == 0 ? 1 : j == 1 ? 10 : 100) % 10;
            EB_CHECK(ch[0] % 10 == digit, "sample %lld channel %d: image %d, digit %d", (long long)i, j, ch[0], digit);
        }
    }
    /* 128000 draws over 1000 equally likely labels: P(some label missing) <= 1000 * (1 - 1/1000)^128000 ~ 3e-53 */
    printf("  %d distinct labels in %lld stacks\n", distinct, (long long)n);
    EB_CHECK(distinct == 1000, "%d distinct labels", distinct);
    eb_dataset_free(&st);
    /* stacking needs a 1-channel uint8 set */
    eb_dataset three;
    EB_CHECK_OK(eb_dataset_init(&three, "rgb-set", 5, 3, 4, 4, EB_DATA_U8, 0));
    CHECK_FAILS_NAMING(eb_dataset_stack(&st, &three, 3, 10, &rng), EB_ERR_ARG, "rgb-set");
    eb_dataset_free(&three);
    eb_dataset_free(&src);
    return EB_TEST_PASS;
}

/* ---------------------------------------------------------------- CIFAR-10 */

static void make_cifar(unsigned char *buf, int records, int first) {
    for (int r = 0; r < records; r++) {
        unsigned char *rec = buf + (size_t)r * EB_CIFAR_RECORD_BYTES;
        rec[0] = (unsigned char)((first + r) % 10);
        for (int p = 0; p < 3072; p++) rec[1 + p] = (unsigned char)((first + r) * 31 + p * 7);
    }
}

EB_TEST(cifar_good) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    static unsigned char b1[3 * EB_CIFAR_RECORD_BYTES], b2[2 * EB_CIFAR_RECORD_BYTES];
    make_cifar(b1, 3, 0);
    make_cifar(b2, 2, 3);
    char p[512], q[512], both[1100];
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "data_batch_1.bin"), b1, sizeof b1) == 0, "write");
    EB_CHECK(write_bytes(tmp_path(q, sizeof q, "data_batch_2.bin"), b2, sizeof b2) == 0, "write");
    snprintf(both, sizeof both, "%s,%s", p, q);
    char prefixed[1100];
    snprintf(prefixed, sizeof prefixed, "cifar10:%s", g_dir);
    const char *specs[4] = {both, g_dir, p, prefixed};
    const int64_t want_n[4] = {5, 5, 3, 5};
    for (int s = 0; s < 4; s++) {
        eb_dataset ds;
        EB_CHECK_OK(eb_dataset_open(&ds, specs[s]));
        EB_CHECK(ds.n == want_n[s] && ds.c == 3 && ds.h == 32 && ds.w == 32 && ds.storage == EB_DATA_U8, "shape");
        EB_CHECK(ds.labels && ds.n_classes == 10, "labels");
        for (int64_t r = 0; r < ds.n; r++) {
            EB_CHECK(ds.labels[r] == r % 10, "label %lld", (long long)r);
            for (int px = 0; px < 3072; px++)
                EB_CHECK(ds.u8[r * 3072 + px] == (unsigned char)(r * 31 + px * 7), "pixel %lld,%d", (long long)r, px);
        }
        eb_dataset_free(&ds);
    }
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(cifar_truncated_or_corrupt) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    static unsigned char b[2 * EB_CIFAR_RECORD_BYTES];
    make_cifar(b, 2, 0);
    char p[512], q[512], both[1100];
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "data_batch_1.bin"), b, sizeof b) == 0, "write");
    EB_CHECK(write_bytes(tmp_path(q, sizeof q, "data_batch_2.bin"), b, sizeof b - 5) == 0, "write");
    eb_dataset ds;
    const char *one = q;
    CHECK_FAILS_NAMING(eb_dataset_load_cifar(&ds, &one, 1), EB_ERR_FORMAT, "data_batch_2.bin");
    /* in a list, the message names the bad file, not the good one */
    snprintf(both, sizeof both, "%s,%s", p, q);
    CHECK_FAILS_NAMING(eb_dataset_open(&ds, both), EB_ERR_FORMAT, "data_batch_2.bin");
    EB_CHECK(strstr(eb_error_message(), "data_batch_1") == NULL, "message names the good file");
    /* a label byte outside 0-9 */
    b[EB_CIFAR_RECORD_BYTES] = 42;
    EB_CHECK(write_bytes(tmp_path(q, sizeof q, "data_batch_3.bin"), b, sizeof b) == 0, "write");
    one = q;
    CHECK_FAILS_NAMING(eb_dataset_load_cifar(&ds, &one, 1), EB_ERR_FORMAT, "data_batch_3.bin");
    EB_CHECK(strstr(eb_error_message(), "record 1 has label 42") != NULL, "message lacks the record");
    /* an empty file */
    EB_CHECK(write_bytes(tmp_path(q, sizeof q, "empty.bin"), b, 0) == 0, "write");
    CHECK_FAILS_NAMING(eb_dataset_open(&ds, q), EB_ERR_FORMAT, "empty.bin");
    tmp_done();
    return EB_TEST_PASS;
}

/* ---------------------------------------------------------------- shape check, sampling, open errors */

EB_TEST(shape_mismatch_message) {
    eb_dataset ds;
    EB_CHECK_OK(eb_dataset_init(&ds, "/data/train-images-idx3-ubyte.gz", 3, 1, 28, 28, EB_DATA_U8, 0));
    eb_shape cifar = {3, 32, 32}, mnist = {1, 28, 28}, dense = {784, 1, 1}, dense_bad = {785, 1, 1};
    CHECK_FAILS_NAMING(eb_dataset_check_shape(&ds, cifar, "cifar"), EB_ERR_ARG, "train-images-idx3-ubyte.gz");
    EB_CHECK(strncmp(eb_error_message(),
                     "data /data/train-images-idx3-ubyte.gz has samples of shape 1x28x28 but model 'cifar' expects 3x32x32",
                     99) == 0, "message: %s", eb_error_message());
    EB_CHECK_OK(eb_dataset_check_shape(&ds, mnist, "mnist"));
    EB_CHECK_OK(eb_dataset_check_shape(&ds, dense, "mlp"));
    CHECK_FAILS_NAMING(eb_dataset_check_shape(&ds, dense_bad, "mlp"), EB_ERR_ARG, "train-images-idx3-ubyte.gz");
    eb_dataset_free(&ds);
    /* a toy against an image model */
    eb_rng rng;
    eb_rng_init(&rng, 1);
    EB_CHECK_OK(eb_toy_dataset_init(&ds, EB_TOY_8GAUSSIANS, 10, &rng));
    eb_shape toy = {2, 1, 1};
    EB_CHECK_OK(eb_dataset_check_shape(&ds, toy, "toy"));
    CHECK_FAILS_NAMING(eb_dataset_check_shape(&ds, mnist, "mnist"), EB_ERR_ARG, "8gaussians");
    eb_dataset_free(&ds);
    return EB_TEST_PASS;
}

EB_TEST(sample_indices_and_gather) {
    eb_dataset ds;
    EB_CHECK_OK(eb_dataset_init(&ds, "ramp", 256, 1, 1, 2, EB_DATA_U8, 0));
    for (int i = 0; i < 256; i++) {
        ds.u8[2 * i] = (uint8_t)i;
        ds.u8[2 * i + 1] = (uint8_t)(255 - i);
    }
    /* minibatch indices as training draws them: the rng_index op (uniform with replacement, as the paper's
     * np.random.randint) */
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    enum { B = 25600 };
    static int32_t idx[B];
    EB_CHECK_OK(be.ops->rng_index(be.ctx, idx, B, (uint32_t)ds.n, eb_rng_at(8, 0)));
    eb_cpu_backend_free(&be);
    long count[256] = {0};
    for (int i = 0; i < B; i++) {
        EB_CHECK(idx[i] >= 0 && idx[i] < 256, "index %d", idx[i]);
        count[idx[i]]++;
    }
    /* uniform: each count 100 +- 6 binomial sds (sd ~ 10) */
    for (int k = 0; k < 256; k++) EB_CHECK(labs(count[k] - 100) < 60, "row %d drawn %ld times", k, count[k]);
    int32_t sel[3] = {0, 255, 128};
    float out[6];
    EB_CHECK_OK(eb_dataset_gather(&ds, sel, 3, out));
    /* 0 -> -1, 255 -> 1 (to float rounding), 128 -> 1/255 */
    EB_CHECK(out[0] == -1.0f && fabsf(out[1] - 1.0f) < 1e-6f && fabsf(out[2] - 1.0f) < 1e-6f && out[3] == -1.0f, "ends");
    EB_CHECK(fabsf(out[4] - 1.0f / 255.0f) < 1e-6f, "mid %g", out[4]);
    int32_t badi = 256;
    CHECK_FAILS_NAMING(eb_dataset_gather(&ds, &badi, 1, out), EB_ERR_ARG, "ramp");
    eb_dataset_free(&ds);
    return EB_TEST_PASS;
}

EB_TEST(open_errors) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    eb_dataset ds;
    char p[512];
    CHECK_FAILS_NAMING(eb_dataset_open(&ds, tmp_path(p, sizeof p, "missing.npy")), EB_ERR_IO, "missing.npy");
    CHECK_FAILS_NAMING(eb_dataset_open(&ds, "swissroll"), EB_ERR_ARG, "swissroll");
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "notes.txt"), "hello", 5) == 0, "write");
    CHECK_FAILS_NAMING(eb_dataset_open(&ds, p), EB_ERR_FORMAT, "notes.txt");
    unlink(p);
    CHECK_FAILS_NAMING(eb_dataset_open(&ds, g_dir), EB_ERR_IO, g_dir);
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(npy_header_with_junk_after_the_dict_is_rejected) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    char p[512];
    float v[6] = {1, 2, 3, 4, 5, 6};
    /* numpy's reader refuses this header (literal_eval of "{...} junk" fails); so must we */
    EB_CHECK(write_raw_npy(tmp_path(p, sizeof p, "junk.npy"),
                           "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk", v, sizeof v) == 0, "write");
    eb_npy a;
    CHECK_FAILS_NAMING(eb_npy_read(&a, p), EB_ERR_FORMAT, "junk.npy");
    EB_CHECK(strstr(eb_error_message(), "after the dict") != NULL, "message does not say what is wrong");
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(npy_header_with_a_repeated_key_is_rejected) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    char p[512];
    float v[6] = {1, 2, 3, 4, 5, 6};
    /* which 'shape' would win is a guess: numpy's header check refuses it */
    EB_CHECK(write_raw_npy(tmp_path(p, sizeof p, "twice.npy"),
                           "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'shape': (3, 2), }", v,
                           sizeof v) == 0, "write");
    eb_npy a;
    CHECK_FAILS_NAMING(eb_npy_read(&a, p), EB_ERR_FORMAT, "twice.npy");
    EB_CHECK(strstr(eb_error_message(), "repeats a key") != NULL, "message does not say what is wrong");
    tmp_done();
    return EB_TEST_PASS;
}

EB_TEST(idx_header_larger_than_the_file_fails_before_allocating) {
    EB_CHECK(tmp_dir() != NULL, "mkdtemp");
    char p[512];
    static unsigned char img[16 + 4 * 28 * 28];
    make_idx_images(img, 0x803, 4, 28, 28);
    /* the header claims 2e9 images (1.5 TB of pixels) in a 3 kB file: a truncation, not an out-of-memory */
    const uint32_t big = 2000000000u;
    for (int b = 0; b < 4; b++) img[4 + b] = (unsigned char)(big >> (24 - 8 * b));
    eb_dataset ds;
    EB_CHECK(write_bytes(tmp_path(p, sizeof p, "huge-images-idx3-ubyte"), img, sizeof img) == 0, "write");
    CHECK_FAILS_NAMING(eb_dataset_load_idx(&ds, p, NULL), EB_ERR_FORMAT, "huge-images-idx3-ubyte");
    EB_CHECK(strstr(eb_error_message(), "truncated") != NULL, "message does not say truncated");
    EB_CHECK(write_gz(tmp_path(p, sizeof p, "huge-images-idx3-ubyte.gz"), img, sizeof img) == 0, "write");
    CHECK_FAILS_NAMING(eb_dataset_load_idx(&ds, p, NULL), EB_ERR_FORMAT, "huge-images-idx3-ubyte.gz");
    tmp_done();
    return EB_TEST_PASS;
}
