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

void eb_test_fill_uniform_f(float *p, size_t n, uint64_t *state) {
    uint64_t x = *state;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        p[i] = (float)((double)(x >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
    *state = x;
}

float *eb_test_rand_f(size_t n, uint64_t *state) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (p) eb_test_fill_uniform_f(p, n, state);
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
