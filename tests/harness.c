/* The test runner behind EB_TEST: `exe` runs every case, `exe NAME` runs one, `exe --list` names them,
 * `exe --skip A,B` runs all but A and B.
 * A run of several cases fails if any fails and is skipped only if all are skipped. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define EB_MAX_TESTS 256
static const char *g_names[EB_MAX_TESTS];
static eb_test_fn g_fns[EB_MAX_TESTS];
static int g_count;

void eb_test_register(const char *name, eb_test_fn fn) {
    if (g_count < EB_MAX_TESTS) {
        g_names[g_count] = name;
        g_fns[g_count] = fn;
        g_count++;
    }
}

uint64_t eb_test_seed(uint64_t dflt) {
    const char *s = getenv("EBGAN_TEST_SEED");
    return s ? strtoull(s, NULL, 10) : dflt;
}

uint64_t eb_test_rand_init(uint64_t seed) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z ? z : 0x9E3779B97F4A7C15ull; /* xorshift stays at 0 forever */
}

uint64_t eb_test_rand_u64(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return *state = x;
}

double eb_test_rand_unit(uint64_t *state) { return (double)(eb_test_rand_u64(state) >> 11) / 9007199254740992.0; }

int eb_test_rand_int(int lo, int hi, uint64_t *state) {
    return lo + (int)(eb_test_rand_unit(state) * ((double)hi - (double)lo + 1.0));
}

double eb_test_rand_normal(uint64_t *state) {
    const double u = 1.0 - eb_test_rand_unit(state), v = eb_test_rand_unit(state); /* u in (0, 1]: log(u) finite */
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

void eb_test_fill_range(double *p, size_t n, double lo, double hi, uint64_t *state) {
    for (size_t i = 0; i < n; i++) p[i] = lo + (hi - lo) * eb_test_rand_unit(state);
}

void eb_test_fill_uniform_f(float *p, size_t n, uint64_t *state) {
    for (size_t i = 0; i < n; i++) p[i] = (float)(eb_test_rand_unit(state) * 2.0 - 1.0);
}

float *eb_test_rand_f(size_t n, uint64_t *state) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (p) eb_test_fill_uniform_f(p, n, state);
    return p;
}

double *eb_test_rand_d(size_t n, uint64_t *state) {
    double *p = malloc((n ? n : 1) * sizeof *p);
    if (p) eb_test_fill_range(p, n, -1.0, 1.0, state);
    return p;
}

double eb_test_rel_err(const double *a, const double *b, size_t n, double floor) {
    double num = 0.0, den = floor;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= num)) num = d; /* NaN propagates */
        if (fabs(b[i]) > den) den = fabs(b[i]);
    }
    return num / den;
}

double eb_test_rel_err_f(const float *a, const float *b, size_t n, double floor) {
    double num = 0.0, den = floor;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= num)) num = d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return num / den;
}

int eb_test_has_nonfinite(const double *a, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i])) return 1;
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--list")) { /* the case names, one per line (scripts/gpu_check.sh) */
        for (int i = 0; i < g_count; i++) printf("%s\n", g_names[i]);
        return 0;
    }
    /* `exe --skip A,B`: every case but those (compute-sanitizer runs without the deliberate OOM case) */
    const char *skip = argc > 2 && !strcmp(argv[1], "--skip") ? argv[2] : NULL;
    int failed = 0, skipped = 0, ran = 0;
    for (int i = 0; i < g_count; i++) {
        if (skip) {
            const size_t len = strlen(g_names[i]);
            const char *p = strstr(skip, g_names[i]);
            while (p && !((p == skip || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))) p = strstr(p + 1, g_names[i]);
            if (p) continue;
        } else if (argc > 1 && strcmp(argv[1], g_names[i]) != 0) {
            continue;
        }
        ran++;
        int rc = g_fns[i]();
        const char *verdict = rc == EB_TEST_PASS ? "ok" : rc == EB_TEST_SKIP ? "skipped" : "FAILED";
        printf("%-40s %s\n", g_names[i], verdict);
        fflush(stdout);
        if (rc == EB_TEST_SKIP) skipped++;
        else if (rc != EB_TEST_PASS) failed++;
    }
    if (ran == 0) {
        fprintf(stderr, "no test case named '%s'\n", argc > 1 ? argv[1] : "");
        return 1;
    }
    if (failed) return 1;
    if (skipped == ran) return 77;
    return 0;
}
