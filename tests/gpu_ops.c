/* GPU parity: every entry of the op table on the CUDA backend against the CPU reference (both float),
 * on fresh random inputs, backward and tangent paths included; exit 77 (skipped) without a usable GPU.
 *
 * Error measure: max_i |gpu_i - cpu_i| / max_i |cpu_i| (eb_test_rel_err_f); NaN or Inf never passes and
 * every output buffer is poisoned with NaN first, so an element the GPU did not write fails the case.
 * Bounds, per precision (the CPU evaluates in double or through float BLAS; the GPU in float):
 *   TOL_ELEM  1e-5  elementwise ops, activations, batch norm, losses, optimiser, reductions (sums in
 *                   double on both sides; what is left is a few float roundings of each element, < 1e-6).
 *   TOL_FP32  1e-4  GEMM / conv in strict fp32: the same products summed in another order; for K <= ~600
 *                   terms of either sign the difference is ~sqrt(K) * 6e-8 relative to the largest output.
 *   TOL_TF32  5e-3  tf32 tensor cores: inputs keep 10 mantissa bits (unit roundoff 2^-11, or 2^-10 when the
 *                   library truncates), so each product is off by up to ~1e-3 relative; random signs average
 *                   that down to ~1e-3 of the largest output.
 *   TOL_BF16  3e-2  bf16 GEMMs: 7 mantissa bits, each product off by up to ~8e-3 relative.
 * The seed is printed; set EBGAN_TEST_SEED to replay a failure. */
#include "harness.h"

#include "ebgan/backend.h"
#include "ebgan/cuda.h"
#include "ebgan/rng.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef EB_HAVE_CUDA
#include <cuda_runtime_api.h> /* graph capture of the backend's stream (graph_capture case) */
#endif

#define TOL_ELEM 1e-5
#define TOL_FP32 1e-4
#define TOL_TF32 5e-3
#define TOL_BF16 3e-2

/* ---- fixture: both backends opened once per process; buffers released at the start of the next case ---- */

#define FX_MAX_BUFS 128

typedef struct fx {
    int open;
    eb_backend cpu, gpu;
    void *dev[FX_MAX_BUFS];
    int ndev;
    void *host[FX_MAX_BUFS];
    int nhost;
    uint64_t rng; /* the harness's stream: every random input and geometry */
} fx;

static fx g_fx;

static void fx_release(void) {
    for (int i = 0; i < g_fx.ndev; i++) g_fx.gpu.ops->mem_free(g_fx.gpu.ctx, g_fx.dev[i]);
    for (int i = 0; i < g_fx.nhost; i++) free(g_fx.host[i]);
    g_fx.ndev = g_fx.nhost = 0;
}

static void fx_shutdown(void) {
    if (!g_fx.open) return;
    fx_release();
    eb_cuda_backend_free(&g_fx.gpu);
    eb_cpu_backend_free(&g_fx.cpu);
    g_fx.open = 0;
}

/* Test-only failure of the fixture itself (not library code): report and end the process as failed. */
static void fx_die(const char *what) {
    fprintf(stderr, "fixture: %s: %s\n", what, eb_error_message());
    exit(EB_TEST_FAIL);
}

static int fx_open(const char *name) {
    char why[512];
    if (eb_cuda_devices(why, sizeof why) == 0) {
        printf("%s: no usable CUDA GPU (%s): skipped\n", name, why);
        return EB_TEST_SKIP;
    }
    if (!g_fx.open) {
        if (eb_cpu_backend_init(&g_fx.cpu) != EB_OK) fx_die("CPU backend");
        if (eb_cuda_backend_init(&g_fx.gpu, 0) != EB_OK) fx_die("CUDA backend");
        g_fx.open = 1;
        atexit(fx_shutdown);
    }
    fx_release();
    /* Strict fp32 unless a case asks for tf32 / bf16. */
    if (eb_cuda_set_precision(&g_fx.gpu, EB_PRECISION_FP32) != EB_OK) fx_die("set precision");
    const uint64_t seed = eb_test_seed((uint64_t)time(NULL) * 2654435761u ^ (uint64_t)clock());
    g_fx.rng = eb_test_rand_init(seed);
    printf("%s: seed %llu\n", name, (unsigned long long)seed);
    return EB_TEST_PASS;
}

#define FX_OPEN()                                                                                         \
    do {                                                                                                  \
        int fx_rc_ = fx_open(__func__);                                                                   \
        if (fx_rc_ != EB_TEST_PASS) return fx_rc_;                                                        \
    } while (0)

#define GPU(fn, ...) g_fx.gpu.ops->fn(g_fx.gpu.ctx, __VA_ARGS__)
#define CPU(fn, ...) g_fx.cpu.ops->fn(g_fx.cpu.ctx, __VA_ARGS__)

static double fx_u(void) { return eb_test_rand_unit(&g_fx.rng); }
static int fx_int(int lo, int hi) { return eb_test_rand_int(lo, hi, &g_fx.rng); } /* [lo, hi] */

static void *fx_hmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p || g_fx.nhost == FX_MAX_BUFS) fx_die("host buffer");
    g_fx.host[g_fx.nhost++] = p;
    return p;
}

/* n values uniform in [lo, hi), never exactly zero. */
static float *fx_rand(size_t n, double lo, double hi) {
    float *h = fx_hmalloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) {
        float v = (float)(lo + (hi - lo) * fx_u());
        h[i] = v != 0.0f ? v : 0.125f;
    }
    return h;
}

static float *fx_hcopy(const float *src, size_t n) {
    float *h = fx_hmalloc(n * sizeof *h);
    memcpy(h, src, n * sizeof *h);
    return h;
}

static void *fx_dmalloc(size_t bytes) {
    void *p = NULL;
    if (g_fx.ndev == FX_MAX_BUFS || g_fx.gpu.ops->mem_alloc(g_fx.gpu.ctx, &p, bytes) != EB_OK) fx_die("device buffer");
    g_fx.dev[g_fx.ndev++] = p;
    return p;
}

/* A device copy of host data. */
static void *fx_up(const void *h, size_t bytes) {
    void *d = fx_dmalloc(bytes);
    if (GPU(mem_upload, d, h, bytes) != EB_OK) fx_die("upload");
    return d;
}
#define FX_UPF(h, n) ((float *)fx_up((h), (n) * sizeof(float)))

/* A device buffer of n floats filled with NaN (an output that must be overwritten). */
static float *fx_nan(size_t n) {
    float *d = fx_dmalloc(n * sizeof(float));
    if (n && GPU(fill, d, NAN, n) != EB_OK) fx_die("fill NaN");
    return d;
}

/* A host buffer of n NaNs (the CPU side of an overwritten output). */
static float *fx_hnan(size_t n) {
    float *h = fx_hmalloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = NAN;
    return h;
}

/* Download a device result and compare with the CPU's: finite everywhere and within tol. 0 if it passes. */
static int fx_cmp(const char *what, const float *d, const float *ref, size_t n, double tol) {
    float *h = fx_hmalloc(n * sizeof *h);
    if (GPU(mem_download, h, d, n * sizeof *h) != EB_OK) {
        fprintf(stderr, "%s: download failed: %s\n", what, eb_error_message());
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(h[i]) || !isfinite(ref[i])) {
            fprintf(stderr, "%s: non-finite at %zu of %zu (gpu %g, cpu %g)\n", what, i, n, h[i], ref[i]);
            return 1;
        }
    double e = eb_test_rel_err_f(h, ref, n, 1e-30);
    printf("  %-34s n=%-8zu rel err %.3g (bound %.0e)\n", what, n, e, tol);
    if (!(e <= tol)) {
        fprintf(stderr, "%s: relative error %.3g exceeds %.1g\n", what, e, tol);
        return 1;
    }
    return 0;
}

#define FX_CMP(what, d, ref, n, tol)                                                                      \
    do {                                                                                                  \
        if (fx_cmp((what), (d), (ref), (n), (tol))) return EB_TEST_FAIL;                                  \
    } while (0)

/* ---- memory ---- */

EB_TEST(mem_roundtrip) {
    FX_OPEN();
    size_t n = (size_t)fx_int(1, 100000);
    float *h = fx_rand(n, -10, 10);
    float *d = FX_UPF(h, n);
    float *d2 = fx_nan(n);
    EB_CHECK_OK(GPU(mem_copy, d2, d, n * sizeof(float)));
    EB_CHECK_OK(g_fx.gpu.ops->sync(g_fx.gpu.ctx));
    float *back = fx_hmalloc(n * sizeof *back);
    EB_CHECK_OK(GPU(mem_download, back, d2, n * sizeof *back));
    EB_CHECK(memcmp(back, h, n * sizeof *h) == 0, "upload + copy + download changed the data (n=%zu)", n);
    return EB_TEST_PASS;
}

/* An impossible allocation fails with EB_ERR_OOM and a message naming the bytes asked and free. */
EB_TEST(mem_alloc_oom_message) {
    FX_OPEN();
    void *p = (void *)1;
    eb_status st = GPU(mem_alloc, &p, (size_t)1 << 52);
    EB_CHECK(st == EB_ERR_OOM, "4 PiB allocation returned %s", eb_status_name(st));
    EB_CHECK(p == NULL, "failed allocation left a pointer");
    const char *msg = eb_error_message();
    printf("  message: %s\n", msg);
    EB_CHECK(strstr(msg, "4503599627370496 bytes") && strstr(msg, "free") && strstr(msg, "--batch"),
             "message lacks the bytes asked / free / --batch hint: %s", msg);
    return EB_TEST_PASS;
}

/* A second backend can be created and freed beside the fixture's (init / free pair, no leaks of handles). */
EB_TEST(backend_lifecycle) {
    FX_OPEN();
    for (int i = 0; i < 2; i++) {
        eb_backend be;
        EB_CHECK_OK(eb_cuda_backend_init(&be, 0));
        EB_CHECK(eb_backend_is_cuda(&be), "init gave a backend named %s", be.ops->name);
        EB_CHECK(eb_cuda_get_precision(&be) == EB_PRECISION_TF32, "default precision is not tf32");
        EB_CHECK(eb_cuda_stream(&be) != NULL, "no stream");
        eb_cuda_backend_free(&be);
    }
    eb_backend bad;
    EB_CHECK(eb_cuda_backend_init(&bad, 1 << 20) == EB_ERR_ARG, "device 2^20 accepted");
    return EB_TEST_PASS;
}

/* ---- elementwise and data movement ---- */

EB_TEST(fill) {
    FX_OPEN();
    size_t n = (size_t)fx_int(1, 300000);
    float v = (float)(fx_u() * 8 - 4);
    float *ref = fx_hnan(n);
    EB_CHECK_OK(CPU(fill, ref, v, n));
    float *d = fx_nan(n);
    EB_CHECK_OK(GPU(fill, d, v, n));
    FX_CMP("fill", d, ref, n, 0.0);
    return EB_TEST_PASS;
}

EB_TEST(axpby) {
    FX_OPEN();
    size_t n = (size_t)fx_int(1, 300000);
    float *x = fx_rand(n, -3, 3), *y = fx_rand(n, -3, 3);
    float a = (float)(fx_u() * 2 - 1), b = (float)(fx_u() * 2 - 1);
    float *dx = FX_UPF(x, n), *dy = FX_UPF(y, n);
    EB_CHECK_OK(CPU(axpby, y, a, x, b, n));
    EB_CHECK_OK(GPU(axpby, dy, a, dx, b, n));
    FX_CMP("axpby b != 0", dy, y, n, TOL_ELEM);
    /* b == 0 overwrites a NaN-filled y */
    float *y0 = fx_hnan(n), *dy0 = fx_nan(n);
    EB_CHECK_OK(CPU(axpby, y0, a, x, 0.0f, n));
    EB_CHECK_OK(GPU(axpby, dy0, a, dx, 0.0f, n));
    FX_CMP("axpby b == 0 over NaN", dy0, y0, n, TOL_ELEM);
    return EB_TEST_PASS;
}

EB_TEST(mul) {
    FX_OPEN();
    size_t n = (size_t)fx_int(1, 300000);
    float *a = fx_rand(n, -3, 3), *b = fx_rand(n, -3, 3);
    float *y = fx_hnan(n), *dy = fx_nan(n);
    EB_CHECK_OK(CPU(mul, y, a, b, n));
    EB_CHECK_OK(GPU(mul, dy, FX_UPF(a, n), FX_UPF(b, n), n));
    FX_CMP("mul", dy, y, n, TOL_ELEM);
    return EB_TEST_PASS;
}

EB_TEST(copy_2d) {
    FX_OPEN();
    size_t rows = (size_t)fx_int(1, 200), cols = (size_t)fx_int(1, 300);
    size_t src_ld = cols + (size_t)fx_int(0, 50), dst_ld = cols + (size_t)fx_int(0, 50);
    float *src = fx_rand(rows * src_ld, -1, 1), *dst = fx_rand(rows * dst_ld, -1, 1);
    float *ddst = FX_UPF(dst, rows * dst_ld);
    EB_CHECK_OK(CPU(copy_2d, dst, dst_ld, src, src_ld, rows, cols));
    EB_CHECK_OK(GPU(copy_2d, ddst, dst_ld, FX_UPF(src, rows * src_ld), src_ld, rows, cols));
    FX_CMP("copy_2d (columns beyond cols kept)", ddst, dst, rows * dst_ld, 0.0);
    return EB_TEST_PASS;
}

EB_TEST(gather_rows) {
    FX_OPEN();
    size_t src_rows = (size_t)fx_int(1, 500), rows = (size_t)fx_int(1, 300), cols = (size_t)fx_int(1, 200);
    float *src = fx_rand(src_rows * cols, -5, 5);
    int32_t *idx = fx_hmalloc(rows * sizeof *idx);
    for (size_t r = 0; r < rows; r++) idx[r] = (int32_t)fx_int(0, (int)src_rows - 1);
    float *dst = fx_hnan(rows * cols), *ddst = fx_nan(rows * cols);
    EB_CHECK_OK(CPU(gather_rows, dst, src, idx, rows, cols));
    EB_CHECK_OK(GPU(gather_rows, ddst, FX_UPF(src, src_rows * cols), fx_up(idx, rows * sizeof *idx), rows, cols));
    FX_CMP("gather_rows", ddst, dst, rows * cols, 0.0);
    return EB_TEST_PASS;
}

EB_TEST(gather_rows_u8) {
    FX_OPEN();
    size_t src_rows = (size_t)fx_int(1, 500), rows = (size_t)fx_int(1, 300), cols = (size_t)fx_int(1, 3072);
    uint8_t *src = fx_hmalloc(src_rows * cols);
    for (size_t i = 0; i < src_rows * cols; i++) src[i] = (uint8_t)fx_int(0, 255);
    int32_t *idx = fx_hmalloc(rows * sizeof *idx);
    for (size_t r = 0; r < rows; r++) idx[r] = (int32_t)fx_int(0, (int)src_rows - 1);
    float *dst = fx_hnan(rows * cols), *ddst = fx_nan(rows * cols);
    const float scale = 2.0f / 255.0f, shift = -1.0f;
    EB_CHECK_OK(CPU(gather_rows_u8, dst, src, idx, rows, cols, scale, shift));
    EB_CHECK_OK(GPU(gather_rows_u8, ddst, fx_up(src, src_rows * cols), fx_up(idx, rows * sizeof *idx), rows, cols,
                    scale, shift));
    FX_CMP("gather_rows_u8", ddst, dst, rows * cols, TOL_ELEM);
    return EB_TEST_PASS;
}

EB_TEST(lerp_rows) {
    FX_OPEN();
    size_t rows = (size_t)fx_int(1, 300), cols = (size_t)fx_int(1, 800);
    float *t = fx_rand(rows, 0, 1), *x = fx_rand(rows * cols, -2, 2), *y = fx_rand(rows * cols, -2, 2);
    float *out = fx_hnan(rows * cols), *dout = fx_nan(rows * cols);
    EB_CHECK_OK(CPU(lerp_rows, out, t, x, y, rows, cols));
    EB_CHECK_OK(GPU(lerp_rows, dout, FX_UPF(t, rows), FX_UPF(x, rows * cols), FX_UPF(y, rows * cols), rows, cols));
    FX_CMP("lerp_rows", dout, out, rows * cols, TOL_ELEM);
    return EB_TEST_PASS;
}

/* Also: many blocks (n up to 3M), beta == 0 over NaN, and bit-identical results on a rerun. */
EB_TEST(reduce_sum) {
    FX_OPEN();
    size_t n = (size_t)fx_int(1, 3000000);
    float *x = fx_rand(n, -1, 2);
    float *dx = FX_UPF(x, n);
    float out = (float)(fx_u() * 10 - 5), alpha = (float)(fx_u() * 2 - 1), beta = (float)(fx_u() * 2 - 1);
    float *dout = FX_UPF(&out, 1);
    EB_CHECK_OK(CPU(reduce_sum, x, n, &out, alpha, beta));
    EB_CHECK_OK(GPU(reduce_sum, dx, n, dout, alpha, beta));
    FX_CMP("reduce_sum alpha, beta", dout, &out, 1, TOL_ELEM);
    float o0 = NAN, *do0 = fx_nan(1), *do1 = fx_nan(1);
    EB_CHECK_OK(CPU(reduce_sum, x, n, &o0, 1.0f, 0.0f));
    EB_CHECK_OK(GPU(reduce_sum, dx, n, do0, 1.0f, 0.0f));
    EB_CHECK_OK(GPU(reduce_sum, dx, n, do1, 1.0f, 0.0f));
    FX_CMP("reduce_sum beta == 0 over NaN", do0, &o0, 1, TOL_ELEM);
    float r0, r1;
    EB_CHECK_OK(GPU(mem_download, &r0, do0, sizeof r0));
    EB_CHECK_OK(GPU(mem_download, &r1, do1, sizeof r1));
    EB_CHECK(memcmp(&r0, &r1, sizeof r0) == 0, "reduce_sum not deterministic: %.9g vs %.9g", r0, r1);
    /* n == 0: out = beta * out */
    float e = 3.0f, *de = FX_UPF(&e, 1);
    EB_CHECK_OK(CPU(reduce_sum, x, 0, &e, 1.0f, 0.5f));
    EB_CHECK_OK(GPU(reduce_sum, dx, 0, de, 1.0f, 0.5f));
    FX_CMP("reduce_sum n == 0", de, &e, 1, 0.0);
    return EB_TEST_PASS;
}

EB_TEST(row_sqnorm) {
    FX_OPEN();
    size_t rows = (size_t)fx_int(1, 300), cols = (size_t)fx_int(1, 3072);
    float *x = fx_rand(rows * cols, -2, 2);
    float *out = fx_hnan(rows), *dout = fx_nan(rows);
    EB_CHECK_OK(CPU(row_sqnorm, x, rows, cols, out));
    EB_CHECK_OK(GPU(row_sqnorm, FX_UPF(x, rows * cols), rows, cols, dout));
    FX_CMP("row_sqnorm", dout, out, rows, TOL_ELEM);
    return EB_TEST_PASS;
}

/* The divergence watch marks the clock's iteration on both backends alike: not for finite data, at once for a
 * NaN or an infinity anywhere, and never over an earlier mark. */
EB_TEST(nonfinite_mark) {
    FX_OPEN();
    const size_t n = (size_t)fx_int(1, 200000);
    float *x = fx_rand(n, -1e30, 1e30);
    const int64_t clk = fx_int(0, 1 << 20), unset = -1;
    int64_t *dclk = fx_up(&clk, sizeof clk);
    int64_t h_first = -1, d_first = 0;
    int64_t *df = fx_up(&unset, sizeof unset);
    EB_CHECK_OK(CPU(nonfinite_mark, x, n, &clk, &h_first));
    EB_CHECK_OK(GPU(nonfinite_mark, FX_UPF(x, n), n, dclk, df));
    EB_CHECK_OK(GPU(mem_download, &d_first, df, sizeof d_first));
    EB_CHECK(h_first == -1 && d_first == -1, "finite data marked: cpu %lld, cuda %lld", (long long)h_first,
             (long long)d_first);
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        x[fx_int(0, (int)n - 1)] = bad[k];
        h_first = -1;
        df = fx_up(&unset, sizeof unset);
        EB_CHECK_OK(CPU(nonfinite_mark, x, n, &clk, &h_first));
        EB_CHECK_OK(GPU(nonfinite_mark, FX_UPF(x, n), n, dclk, df));
        EB_CHECK_OK(GPU(mem_download, &d_first, df, sizeof d_first));
        EB_CHECK(h_first == clk && d_first == clk, "%g not marked at iteration %lld: cpu %lld, cuda %lld",
                 (double)bad[k], (long long)clk, (long long)h_first, (long long)d_first);
    }
    const int64_t earlier = clk + 1; /* a mark stays */
    df = fx_up(&earlier, sizeof earlier);
    EB_CHECK_OK(GPU(nonfinite_mark, FX_UPF(x, n), n, dclk, df));
    EB_CHECK_OK(GPU(mem_download, &d_first, df, sizeof d_first));
    EB_CHECK(d_first == earlier, "an earlier mark %lld was overwritten with %lld", (long long)earlier,
             (long long)d_first);
    return EB_TEST_PASS;
}

/* ---- random numbers: the CUDA stream equals the CPU stream for the same (seed, offset) ---- */

EB_TEST(rng_uniform) {
    FX_OPEN();
    size_t n = (size_t)fx_int(1000, 500000);
    uint64_t seed = eb_test_rand_u64(&g_fx.rng);
    uint64_t offset = eb_test_rand_u64(&g_fx.rng) >> 12; /* below 2^52: crosses 2^32 at times */
    float *ref = fx_hnan(n), *d = fx_nan(n);
    EB_CHECK_OK(CPU(rng_uniform, ref, n, eb_rng_at(seed, offset)));
    EB_CHECK_OK(GPU(rng_uniform, d, n, eb_rng_at(seed, offset)));
    float *h = fx_hmalloc(n * sizeof *h);
    EB_CHECK_OK(GPU(mem_download, h, d, n * sizeof *h));
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += memcmp(&h[i], &ref[i], sizeof *h) != 0;
    printf("  rng_uniform: %zu of %zu values differ bitwise (must be 0)\n", diff, n);
    EB_CHECK(diff == 0, "CUDA uniform stream differs from the CPU stream (seed %llu, offset %llu)",
             (unsigned long long)seed, (unsigned long long)offset);
    for (size_t i = 0; i < n; i++) EB_CHECK(h[i] >= 0.0f && h[i] < 1.0f, "uniform %g outside [0, 1)", h[i]);
    /* two chunks at offset and offset + k give the same stream */
    size_t k = (size_t)fx_int(1, (int)n - 1);
    float *d2 = fx_nan(n);
    EB_CHECK_OK(GPU(rng_uniform, d2, k, eb_rng_at(seed, offset)));
    EB_CHECK_OK(GPU(rng_uniform, d2 + k, n - k, eb_rng_at(seed, offset + k)));
    FX_CMP("rng_uniform chunked", d2, ref, n, 0.0);
    return EB_TEST_PASS;
}

/* Normals: the same integers through Box-Muller in double on both sides; the GPU's double log / cos may
 * differ from glibc's in the last double bit, which can flip the final float rounding: 1e-6 relative. */
EB_TEST(rng_normal) {
    FX_OPEN();
    size_t n = (size_t)fx_int(1000, 500000);
    uint64_t seed = eb_test_rand_u64(&g_fx.rng);
    uint64_t offset = eb_test_rand_u64(&g_fx.rng) >> 32;
    float *ref = fx_hnan(n), *d = fx_nan(n);
    EB_CHECK_OK(CPU(rng_normal, ref, n, eb_rng_at(seed, offset)));
    EB_CHECK_OK(GPU(rng_normal, d, n, eb_rng_at(seed, offset)));
    FX_CMP("rng_normal", d, ref, n, 1e-6);
    float *h = fx_hmalloc(n * sizeof *h);
    EB_CHECK_OK(GPU(mem_download, h, d, n * sizeof *h));
    size_t diff = 0;
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) {
        diff += memcmp(&h[i], &ref[i], sizeof *h) != 0;
        mean += h[i];
        var += (double)h[i] * h[i];
    }
    mean /= (double)n;
    var = var / (double)n - mean * mean;
    printf("  rng_normal: %zu of %zu differ in the last float bit; mean %.4f var %.4f\n", diff, n, mean, var);
    EB_CHECK(diff <= n / 1000, "%zu of %zu normals differ from the CPU's", diff, n);
    EB_CHECK(fabs(mean) < 6 / sqrt((double)n) && fabs(var - 1) < 10 / sqrt((double)n), "moments off: %g %g", mean,
             var);
    return EB_TEST_PASS;
}

/* ---- linear layers ---- */

typedef struct lin_case { int n, in, out; float *x, *w, *b, *dy; } lin_case;

static lin_case lin_draw(void) {
    lin_case L;
    L.n = fx_int(1, 70);
    L.in = fx_int(1, 300);
    L.out = fx_int(1, 200);
    L.x = fx_rand((size_t)L.n * L.in, -1, 1);
    L.w = fx_rand((size_t)L.out * L.in, -1, 1);
    L.b = fx_rand((size_t)L.out, -1, 1);
    L.dy = fx_rand((size_t)L.n * L.out, -1, 1);
    return L;
}

/* Backward direction dir of L's linear layer on backend be (0 data: dy, w -> dx; 1 weight: x, dy -> dw),
 * out = alpha * result + beta * out. */
static eb_status lin_backward(const eb_backend *be, int dir, const lin_case *L, const float *x, const float *w,
                              const float *dy, float *out, float alpha, float beta) {
    if (dir == 0) return be->ops->linear_backward_data(be->ctx, dy, w, out, L->n, L->in, L->out, alpha, beta);
    return be->ops->linear_backward_weight(be->ctx, x, dy, out, L->n, L->in, L->out, alpha, beta);
}

/* forward (with and without bias), backward-data and backward-weight (alpha, beta != 0, and beta == 0 over
 * NaN) at the precision already set, against the CPU's float results with bound tol. */
static int lin_check(const char *tag, double tol) {
    lin_case L = lin_draw();
    const size_t nx = (size_t)L.n * L.in, nw = (size_t)L.out * L.in, ny = (size_t)L.n * L.out;
    float *dx = FX_UPF(L.x, nx), *dw = FX_UPF(L.w, nw), *db = FX_UPF(L.b, L.out), *ddy = FX_UPF(L.dy, ny);
    char what[96];
    float *y = fx_hnan(ny), *gy = fx_nan(ny);
    EB_CHECK_OK(CPU(linear_forward, L.x, L.w, L.b, y, L.n, L.in, L.out));
    EB_CHECK_OK(GPU(linear_forward, dx, dw, db, gy, L.n, L.in, L.out));
    snprintf(what, sizeof what, "%s linear_forward bias", tag);
    if (fx_cmp(what, gy, y, ny, tol)) return EB_TEST_FAIL;
    float *y2 = fx_hnan(ny), *gy2 = fx_nan(ny);
    EB_CHECK_OK(CPU(linear_forward, L.x, L.w, NULL, y2, L.n, L.in, L.out));
    EB_CHECK_OK(GPU(linear_forward, dx, dw, NULL, gy2, L.n, L.in, L.out));
    snprintf(what, sizeof what, "%s linear_forward no bias", tag);
    if (fx_cmp(what, gy2, y2, ny, tol)) return EB_TEST_FAIL;

    const float alpha = (float)(0.5 + fx_u()), beta = (float)(fx_u() - 0.5);
    static const char *const names[2] = {"linear_backward_data", "linear_backward_weight"};
    const size_t nout[2] = {nx, nw};
    for (int dir = 0; dir < 2; dir++) {
        const size_t n = nout[dir];
        float *g = fx_rand(n, -1, 1), *dg = FX_UPF(g, n);
        EB_CHECK_OK(lin_backward(&g_fx.cpu, dir, &L, L.x, L.w, L.dy, g, alpha, beta));
        EB_CHECK_OK(lin_backward(&g_fx.gpu, dir, &L, dx, dw, ddy, dg, alpha, beta));
        snprintf(what, sizeof what, "%s %s", tag, names[dir]);
        if (fx_cmp(what, dg, g, n, tol)) return EB_TEST_FAIL;
        float *g0 = fx_hnan(n), *dg0 = fx_nan(n);
        EB_CHECK_OK(lin_backward(&g_fx.cpu, dir, &L, L.x, L.w, L.dy, g0, 1.0f, 0.0f));
        EB_CHECK_OK(lin_backward(&g_fx.gpu, dir, &L, dx, dw, ddy, dg0, 1.0f, 0.0f));
        snprintf(what, sizeof what, "%s %s beta 0", tag, names[dir]);
        if (fx_cmp(what, dg0, g0, n, tol)) return EB_TEST_FAIL;
    }
    return EB_TEST_PASS;
}

EB_TEST(linear_forward) {
    FX_OPEN();
    lin_case L = lin_draw();
    const size_t ny = (size_t)L.n * L.out;
    float *y = fx_hnan(ny), *gy = fx_nan(ny);
    EB_CHECK_OK(CPU(linear_forward, L.x, L.w, L.b, y, L.n, L.in, L.out));
    EB_CHECK_OK(GPU(linear_forward, FX_UPF(L.x, (size_t)L.n * L.in), FX_UPF(L.w, (size_t)L.out * L.in),
                    FX_UPF(L.b, L.out), gy, L.n, L.in, L.out));
    FX_CMP("fp32 linear_forward", gy, y, ny, TOL_FP32);
    return EB_TEST_PASS;
}

/* Backward direction dir of L's layer alone over a batch of n (L->n, or 0: an empty batch leaves beta * out) onto
 * fresh random out, against the CPU's with bound tol. */
static int lin_backward_cmp(const char *what, int dir, const lin_case *L, int n, float alpha, float beta, double tol) {
    const size_t nx = (size_t)L->n * L->in, nw = (size_t)L->out * L->in, ny = (size_t)L->n * L->out;
    const size_t nout = dir == 0 ? nx : nw;
    lin_case B = *L;
    B.n = n;
    float *out = fx_rand(nout, -1, 1), *gout = FX_UPF(out, nout);
    EB_CHECK_OK(lin_backward(&g_fx.cpu, dir, &B, L->x, L->w, L->dy, out, alpha, beta));
    EB_CHECK_OK(lin_backward(&g_fx.gpu, dir, &B, FX_UPF(L->x, nx), FX_UPF(L->w, nw), FX_UPF(L->dy, ny), gout, alpha,
                             beta));
    FX_CMP(what, gout, out, nout, tol);
    return EB_TEST_PASS;
}

EB_TEST(linear_backward_data) {
    FX_OPEN();
    lin_case L = lin_draw();
    const float alpha = (float)(0.5 + fx_u()), beta = (float)(fx_u() - 0.5);
    return lin_backward_cmp("fp32 linear_backward_data", 0, &L, L.n, alpha, beta, TOL_FP32);
}

EB_TEST(linear_backward_weight) {
    FX_OPEN();
    lin_case L = lin_draw();
    const float alpha = (float)(0.5 + fx_u()), beta = (float)(fx_u() - 0.5);
    if (lin_backward_cmp("fp32 linear_backward_weight", 1, &L, L.n, alpha, beta, TOL_FP32)) return EB_TEST_FAIL;
    return lin_backward_cmp("fp32 linear_backward_weight n = 0", 1, &L, 0, alpha, beta, TOL_ELEM);
}

EB_TEST(linear_all_fp32) {
    FX_OPEN();
    return lin_check("fp32", TOL_FP32);
}

EB_TEST(linear_all_tf32) {
    FX_OPEN();
    EB_CHECK_OK(eb_cuda_set_precision(&g_fx.gpu, EB_PRECISION_TF32));
    return lin_check("tf32", TOL_TF32);
}

EB_TEST(linear_all_bf16) {
    FX_OPEN();
    EB_CHECK_OK(eb_cuda_set_precision(&g_fx.gpu, EB_PRECISION_BF16));
    return lin_check("bf16", TOL_BF16);
}

/* ---- bias ---- */

EB_TEST(bias_add) {
    FX_OPEN();
    for (int dense = 0; dense < 2; dense++) {
        int n = fx_int(1, 64), c = fx_int(1, 300), hw = dense ? 1 : fx_int(2, 256);
        size_t ny = (size_t)n * c * hw;
        float *y = fx_rand(ny, -1, 1), *b = fx_rand((size_t)c, -1, 1);
        float *dy = FX_UPF(y, ny);
        EB_CHECK_OK(CPU(bias_add, y, b, n, c, hw));
        EB_CHECK_OK(GPU(bias_add, dy, FX_UPF(b, (size_t)c), n, c, hw));
        FX_CMP(dense ? "bias_add dense" : "bias_add NCHW", dy, y, ny, TOL_ELEM);
    }
    return EB_TEST_PASS;
}

EB_TEST(bias_backward) {
    FX_OPEN();
    for (int dense = 0; dense < 2; dense++) {
        int n = fx_int(1, 64), c = fx_int(1, 300), hw = dense ? 1 : fx_int(2, 256);
        size_t ny = (size_t)n * c * hw;
        float *dy = fx_rand(ny, -1, 1), *db = fx_rand((size_t)c, -1, 1);
        float *ddy = FX_UPF(dy, ny), *ddb = FX_UPF(db, (size_t)c);
        const float alpha = (float)(0.5 + fx_u()), beta = (float)(fx_u() - 0.5);
        EB_CHECK_OK(CPU(bias_backward, dy, db, n, c, hw, alpha, beta));
        EB_CHECK_OK(GPU(bias_backward, ddy, ddb, n, c, hw, alpha, beta));
        FX_CMP(dense ? "bias_backward dense" : "bias_backward NCHW", ddb, db, (size_t)c, TOL_ELEM);
        float *db0 = fx_hnan((size_t)c), *ddb0 = fx_nan((size_t)c);
        EB_CHECK_OK(CPU(bias_backward, dy, db0, n, c, hw, 1.0f, 0.0f));
        EB_CHECK_OK(GPU(bias_backward, ddy, ddb0, n, c, hw, 1.0f, 0.0f));
        FX_CMP("bias_backward beta 0 over NaN", ddb0, db0, (size_t)c, TOL_ELEM);
    }
    return EB_TEST_PASS;
}

/* ---- conv2d ---- */

/* A random conv2d geometry; with transpose_pad, h_in / w_in are the output of a conv_transpose2d with
 * output_padding in [1, stride) (larger than a conv2d needs: the rows past the last window are untouched). */
static eb_conv_geom conv_draw(int transpose_pad) {
    eb_conv_geom g;
    g.n = fx_int(1, 4);
    g.c_in = fx_int(1, 8);
    g.c_out = fx_int(1, 8);
    g.k_h = g.k_w = fx_int(1, 5);
    g.stride = fx_int(1, 2);
    g.pad = fx_int(0, g.k_h / 2);
    if (transpose_pad) {
        g.stride = 2;
        g.h_out = fx_int(2, 9);
        g.w_out = fx_int(2, 9);
        /* conv_transpose2d output: (in - 1) * stride - 2 pad + k + output_padding, output_padding = 1 */
        g.h_in = (g.h_out - 1) * g.stride - 2 * g.pad + g.k_h + 1;
        g.w_in = (g.w_out - 1) * g.stride - 2 * g.pad + g.k_w + 1;
    } else {
        g.h_in = fx_int(g.k_h, 20);
        g.w_in = fx_int(g.k_w, 20);
        g.h_out = (g.h_in + 2 * g.pad - g.k_h) / g.stride + 1;
        g.w_out = (g.w_in + 2 * g.pad - g.k_w) / g.stride + 1;
    }
    return g;
}

static void conv_print(const char *tag, const eb_conv_geom *g) {
    printf("  %s: n=%d c_in=%d %dx%d -> c_out=%d %dx%d, k=%d stride=%d pad=%d\n", tag, g->n, g->c_in, g->h_in, g->w_in,
           g->c_out, g->h_out, g->w_out, g->k_h, g->stride, g->pad);
}

/* Direction dir of conv2d on backend be (0 forward: x, w -> y; 1 backward data: dy, w -> dx; 2 backward filter:
 * x, dy -> dw), out = alpha * result + beta * out. */
static eb_status conv_run(const eb_backend *be, int dir, const eb_conv_geom *g, const float *x, const float *w,
                          const float *dy, float *out, float alpha, float beta) {
    switch (dir) {
    case 0: return be->ops->conv2d_forward(be->ctx, g, x, w, out, alpha, beta);
    case 1: return be->ops->conv2d_backward_data(be->ctx, g, dy, w, out, alpha, beta);
    default: return be->ops->conv2d_backward_filter(be->ctx, g, x, dy, out, alpha, beta);
    }
}

/* The directions asked for (forward, backward data, backward filter), each with alpha / beta != 0 and with
 * beta == 0 over NaN, at the precision already set. */
static int conv_check(const char *tag, const eb_conv_geom *g, double tol, int fwd, int bwd_data, int bwd_filter) {
    static const char *const names[3] = {"conv2d_forward", "conv2d_backward_data", "conv2d_backward_filter"};
    conv_print(tag, g);
    const size_t nx = (size_t)g->n * g->c_in * g->h_in * g->w_in;
    const size_t ny = (size_t)g->n * g->c_out * g->h_out * g->w_out;
    const size_t nw = (size_t)g->c_out * g->c_in * g->k_h * g->k_w;
    float *x = fx_rand(nx, -1, 1), *w = fx_rand(nw, -1, 1), *dy = fx_rand(ny, -1, 1);
    float *gx_ = FX_UPF(x, nx), *gw_ = FX_UPF(w, nw), *gdy = FX_UPF(dy, ny);
    const float alpha = (float)(0.5 + fx_u()), beta = (float)(fx_u() - 0.5);
    const int want[3] = {fwd, bwd_data, bwd_filter};
    const size_t nout[3] = {ny, nx, nw};
    char what[96];
    for (int dir = 0; dir < 3; dir++) {
        if (!want[dir]) continue;
        const size_t n = nout[dir];
        float *out = fx_rand(n, -1, 1), *gout = FX_UPF(out, n);
        EB_CHECK_OK(conv_run(&g_fx.cpu, dir, g, x, w, dy, out, alpha, beta));
        EB_CHECK_OK(conv_run(&g_fx.gpu, dir, g, gx_, gw_, gdy, gout, alpha, beta));
        snprintf(what, sizeof what, "%s %s", tag, names[dir]);
        if (fx_cmp(what, gout, out, n, tol)) return EB_TEST_FAIL;
        float *out0 = fx_hnan(n), *gout0 = fx_nan(n);
        EB_CHECK_OK(conv_run(&g_fx.cpu, dir, g, x, w, dy, out0, 1.0f, 0.0f));
        EB_CHECK_OK(conv_run(&g_fx.gpu, dir, g, gx_, gw_, gdy, gout0, 1.0f, 0.0f));
        snprintf(what, sizeof what, "%s %s beta 0", tag, names[dir]);
        if (fx_cmp(what, gout0, out0, n, tol)) return EB_TEST_FAIL;
    }
    return EB_TEST_PASS;
}

/* conv_check on a geometry from conv_draw(transpose[i]) for each i < count, in order, tagged "<prec> random" or
 * "<prec> convT output_padding". */
static int conv_check_draws(const char *prec, double tol, const int *transpose, int count, int fwd, int bwd_data,
                            int bwd_filter) {
    for (int i = 0; i < count; i++) {
        eb_conv_geom g = conv_draw(transpose[i]);
        char tag[48];
        snprintf(tag, sizeof tag, "%s %s", prec, transpose[i] ? "convT output_padding" : "random");
        if (conv_check(tag, &g, tol, fwd, bwd_data, bwd_filter)) return EB_TEST_FAIL;
    }
    return EB_TEST_PASS;
}

/* The paper's DCGAN-style layer (k4 s2 p1, 32x32 -> 16x16) plus two random geometries. */
EB_TEST(conv2d_forward) {
    FX_OPEN();
    eb_conv_geom g = {.n = 4, .c_in = 3, .h_in = 32, .w_in = 32, .c_out = 16, .h_out = 16, .w_out = 16,
                      .k_h = 4, .k_w = 4, .stride = 2, .pad = 1};
    if (conv_check("fp32 dcgan", &g, TOL_FP32, 1, 0, 0)) return EB_TEST_FAIL;
    return conv_check_draws("fp32", TOL_FP32, (const int[]){0, 0}, 2, 1, 0, 0);
}

/* Includes the conv-transpose geometry (h_in larger than a conv2d needs: output_padding). */
EB_TEST(conv2d_backward_data) {
    FX_OPEN();
    return conv_check_draws("fp32", TOL_FP32, (const int[]){1, 0}, 2, 0, 1, 0);
}

EB_TEST(conv2d_backward_filter) {
    FX_OPEN();
    return conv_check_draws("fp32", TOL_FP32, (const int[]){0, 1}, 2, 0, 0, 1);
}

EB_TEST(conv2d_all_tf32) {
    FX_OPEN();
    EB_CHECK_OK(eb_cuda_set_precision(&g_fx.gpu, EB_PRECISION_TF32));
    return conv_check_draws("tf32", TOL_TF32, (const int[]){0, 1}, 2, 1, 1, 1);
}

/* --conv-algo search: the timed search (cudnnFind*Ex in the project's workspace, with a scratch output) leaves
 * the op's own output alone, so the first call of a geometry, which searches, still accumulates (beta != 0)
 * correctly; fp32 and tf32. */
EB_TEST(conv2d_search_mode_keeps_the_output) {
    FX_OPEN();
    EB_CHECK_OK(eb_cuda_set_conv_algo_mode(&g_fx.gpu, EB_CONV_ALGO_SEARCH));
    int rc = EB_TEST_PASS;
    for (int i = 0; i < 2 && rc == EB_TEST_PASS; i++) {
        eb_conv_geom g = conv_draw(i);
        g.n += 4 * i + 1; /* geometries no earlier case has chosen for */
        rc = conv_check("fp32 search", &g, TOL_FP32, 1, 1, 1);
    }
    if (rc == EB_TEST_PASS) {
        EB_CHECK_OK(eb_cuda_set_precision(&g_fx.gpu, EB_PRECISION_TF32));
        eb_conv_geom g = conv_draw(0);
        g.n += 9;
        rc = conv_check("tf32 search", &g, TOL_TF32, 1, 1, 1);
    }
    EB_CHECK_OK(eb_cuda_set_conv_algo_mode(&g_fx.gpu, EB_CONV_ALGO_HEURISTIC));
    return rc;
}

/* Runs the three directions of the mnist U's convolutions (and a conv-transpose one) on `be`. */
static eb_status conv_exercise(eb_backend *be, float *x, float *w, float *y) {
    const eb_conv_geom gs[] = {{64, 1, 28, 28, 64, 14, 14, 5, 5, 2, 2}, {64, 64, 14, 14, 128, 7, 7, 5, 5, 2, 2},
                               {64, 64, 15, 15, 32, 7, 7, 4, 4, 2, 1}};
    for (int i = 0; i < 3; i++) {
        EB_TRY(be->ops->conv2d_forward(be->ctx, &gs[i], x, w, y, 1.0f, 0.0f));
        EB_TRY(be->ops->conv2d_backward_data(be->ctx, &gs[i], y, w, x, 1.0f, 0.0f));
        EB_TRY(be->ops->conv2d_backward_filter(be->ctx, &gs[i], x, y, w, 1.0f, 1.0f));
    }
    return be->ops->sync(be->ctx);
}

/* The default (heuristic) choice is a function of geometry, precision, device and library: two backends
 * pick alike; the record of one, imported by a third, is what the third then uses (a resume). */
EB_TEST(conv_algorithms_are_reproducible_and_recorded) {
    FX_OPEN();
    const size_t n = (size_t)64 * 64 * 15 * 15; /* the largest tensor of conv_exercise */
    eb_backend be[3];
    char *rec[3] = {NULL, NULL, NULL};
    int rc = EB_TEST_PASS;
    for (int b = 0; b < 3 && rc == EB_TEST_PASS; b++) {
        EB_CHECK_OK(eb_cuda_backend_init(&be[b], 0));
        void *x, *w, *y;
        EB_CHECK_OK(be[b].ops->mem_alloc(be[b].ctx, &x, n * sizeof(float)));
        EB_CHECK_OK(be[b].ops->mem_alloc(be[b].ctx, &w, (size_t)128 * 64 * 25 * sizeof(float)));
        EB_CHECK_OK(be[b].ops->mem_alloc(be[b].ctx, &y, n * sizeof(float)));
        EB_CHECK_OK(be[b].ops->fill(be[b].ctx, (float *)x, 0.5f, n));
        EB_CHECK_OK(be[b].ops->fill(be[b].ctx, (float *)w, 0.25f, (size_t)128 * 64 * 25));
        if (b == 2) {
            EB_CHECK_OK(eb_cuda_set_conv_algo_mode(&be[b], EB_CONV_ALGO_SEARCH)); /* the record must win */
            EB_CHECK_OK(eb_cuda_conv_algos_import(&be[b], rec[0]));
        }
        EB_CHECK_OK(conv_exercise(&be[b], (float *)x, (float *)w, (float *)y));
        rec[b] = eb_cuda_conv_algos_export(&be[b]);
        EB_CHECK(rec[b] != NULL, "export failed");
        be[b].ops->mem_free(be[b].ctx, x);
        be[b].ops->mem_free(be[b].ctx, w);
        be[b].ops->mem_free(be[b].ctx, y);
    }
    printf("record:\n%s", rec[0]);
    EB_CHECK(strchr(rec[0], '\n') && strlen(rec[0]) > 40, "record too short:\n%s", rec[0]);
    EB_CHECK(!strcmp(rec[0], rec[1]), "two backends chose differently:\n%s\nvs\n%s", rec[0], rec[1]);
    EB_CHECK(!strcmp(rec[0], rec[2]), "an imported record was not followed:\n%s\nvs\n%s", rec[0], rec[2]);
    for (int b = 0; b < 3; b++) {
        free(rec[b]);
        eb_cuda_backend_free(&be[b]);
    }
    EB_CHECK(eb_cuda_conv_algos_import(&g_fx.gpu, "fwd 1 2\n") == EB_ERR_FORMAT, "a malformed record was taken");
    return rc;
}

/* A geometry inconsistent with the formula of ops.h is refused with EB_ERR_ARG, not passed to cuDNN. */
EB_TEST(conv2d_bad_geometry) {
    FX_OPEN();
    eb_conv_geom g = conv_draw(0);
    g.h_out += 1;
    float *d = fx_nan(1 << 16);
    eb_status st = GPU(conv2d_forward, &g, d, d, d, 1.0f, 0.0f);
    EB_CHECK(st == EB_ERR_ARG, "bad geometry gave %s", eb_status_name(st));
    printf("  message: %s\n", eb_error_message());
    return EB_TEST_PASS;
}

/* ---- activations (every kind) ---- */

static const eb_act_kind k_acts[] = {EB_ACT_IDENTITY, EB_ACT_RELU, EB_ACT_LEAKY_RELU,
                                     EB_ACT_TANH,     EB_ACT_SOFTPLUS, EB_ACT_SIGMOID};
static const char *k_act_names[] = {"identity", "relu", "lrelu", "tanh", "softplus", "sigmoid"};

EB_TEST(act_forward) {
    FX_OPEN();
    for (int i = 0; i < 6; i++) {
        size_t n = (size_t)fx_int(1, 100000);
        float slope = (float)(0.01 + 0.3 * fx_u());
        float *a = fx_rand(n, -25, 25), *y = fx_hnan(n), *gy = fx_nan(n);
        EB_CHECK_OK(CPU(act_forward, k_acts[i], slope, a, y, n));
        EB_CHECK_OK(GPU(act_forward, k_acts[i], slope, FX_UPF(a, n), gy, n));
        char what[64];
        snprintf(what, sizeof what, "act_forward %s", k_act_names[i]);
        FX_CMP(what, gy, y, n, TOL_ELEM);
    }
    return EB_TEST_PASS;
}

/* dx = sigma'(a) dy + beta dx (the backward and, with dy a tangent, the tangent pass). */
EB_TEST(act_backward) {
    FX_OPEN();
    for (int i = 0; i < 6; i++) {
        size_t n = (size_t)fx_int(1, 100000);
        float slope = (float)(0.01 + 0.3 * fx_u()), beta = (float)(fx_u() - 0.5);
        float *a = fx_rand(n, -8, 8), *dy = fx_rand(n, -1, 1), *dx = fx_rand(n, -1, 1);
        float *y = fx_hnan(n);
        EB_CHECK_OK(CPU(act_forward, k_acts[i], slope, a, y, n));
        float *ga = FX_UPF(a, n), *gy = FX_UPF(y, n), *gdy = FX_UPF(dy, n), *gdx = FX_UPF(dx, n);
        EB_CHECK_OK(CPU(act_backward, k_acts[i], slope, a, y, dy, dx, n, beta));
        EB_CHECK_OK(GPU(act_backward, k_acts[i], slope, ga, gy, gdy, gdx, n, beta));
        char what[64];
        snprintf(what, sizeof what, "act_backward %s", k_act_names[i]);
        FX_CMP(what, gdx, dx, n, TOL_ELEM);
        float *dx0 = fx_hnan(n), *gdx0 = fx_nan(n);
        EB_CHECK_OK(CPU(act_backward, k_acts[i], slope, a, y, dy, dx0, n, 0.0f));
        EB_CHECK_OK(GPU(act_backward, k_acts[i], slope, ga, gy, gdy, gdx0, n, 0.0f));
        snprintf(what, sizeof what, "act_backward %s beta 0", k_act_names[i]);
        FX_CMP(what, gdx0, dx0, n, TOL_ELEM);
    }
    return EB_TEST_PASS;
}

/* c = g sigma''(a) t + beta c (zero for the piecewise-linear kinds). */
EB_TEST(act_curvature) {
    FX_OPEN();
    for (int i = 0; i < 6; i++) {
        size_t n = (size_t)fx_int(1, 100000);
        float slope = (float)(0.01 + 0.3 * fx_u()), beta = (float)(fx_u() - 0.5);
        float *a = fx_rand(n, -8, 8), *gg = fx_rand(n, -1, 1), *t = fx_rand(n, -1, 1), *c = fx_rand(n, -1, 1);
        float *y = fx_hnan(n);
        EB_CHECK_OK(CPU(act_forward, k_acts[i], slope, a, y, n));
        float *ga = FX_UPF(a, n), *gy = FX_UPF(y, n), *ggg = FX_UPF(gg, n), *gt = FX_UPF(t, n), *gc = FX_UPF(c, n);
        EB_CHECK_OK(CPU(act_curvature, k_acts[i], slope, a, y, gg, t, c, n, beta));
        EB_CHECK_OK(GPU(act_curvature, k_acts[i], slope, ga, gy, ggg, gt, gc, n, beta));
        char what[64];
        snprintf(what, sizeof what, "act_curvature %s", k_act_names[i]);
        FX_CMP(what, gc, c, n, TOL_ELEM);
        float *c0 = fx_hnan(n), *gc0 = fx_nan(n);
        EB_CHECK_OK(CPU(act_curvature, k_acts[i], slope, a, y, gg, t, c0, n, 0.0f));
        EB_CHECK_OK(GPU(act_curvature, k_acts[i], slope, ga, gy, ggg, gt, gc0, n, 0.0f));
        snprintf(what, sizeof what, "act_curvature %s beta 0", k_act_names[i]);
        FX_CMP(what, gc0, c0, n, TOL_ELEM);
    }
    return EB_TEST_PASS;
}

/* ---- batch norm (dense hw = 1 and NCHW) ---- */

typedef struct bn_case {
    int n, c, hw;
    size_t nx;
    float *x, *gamma, *beta, *rm, *rv, *mean, *invstd;
} bn_case;

/* Random shapes and inputs (x with a non-zero mean per channel), and the CPU's saved statistics. */
static int bn_draw(bn_case *B, int dense) {
    B->n = fx_int(2, 16);
    B->c = fx_int(1, 12);
    B->hw = dense ? 1 : fx_int(2, 64);
    B->nx = (size_t)B->n * B->c * B->hw;
    B->x = fx_rand(B->nx, -2, 3);
    B->gamma = fx_rand((size_t)B->c, 0.5, 1.5);
    B->beta = fx_rand((size_t)B->c, -0.5, 0.5);
    B->rm = fx_rand((size_t)B->c, -0.5, 0.5);
    B->rv = fx_rand((size_t)B->c, 0.5, 2);
    B->mean = fx_hnan((size_t)B->c);
    B->invstd = fx_hnan((size_t)B->c);
    float *y = fx_hnan(B->nx), *rm = fx_hcopy(B->rm, (size_t)B->c), *rv = fx_hcopy(B->rv, (size_t)B->c);
    EB_CHECK_OK(CPU(bn_forward_train, B->x, B->gamma, B->beta, y, B->mean, B->invstd, rm, rv, 0.1f, 1e-5f, B->n, B->c,
                    B->hw));
    return EB_TEST_PASS;
}

EB_TEST(bn_forward_train) {
    FX_OPEN();
    for (int dense = 0; dense < 2; dense++) {
        bn_case B;
        if (bn_draw(&B, dense)) return EB_TEST_FAIL;
        const size_t c = (size_t)B.c;
        float *y = fx_hnan(B.nx), *sm = fx_hnan(c), *si = fx_hnan(c), *rm = fx_hcopy(B.rm, c), *rv = fx_hcopy(B.rv, c);
        float *gy = fx_nan(B.nx), *gsm = fx_nan(c), *gsi = fx_nan(c), *grm = FX_UPF(B.rm, c), *grv = FX_UPF(B.rv, c);
        EB_CHECK_OK(CPU(bn_forward_train, B.x, B.gamma, B.beta, y, sm, si, rm, rv, 0.1f, 1e-5f, B.n, B.c, B.hw));
        EB_CHECK_OK(GPU(bn_forward_train, FX_UPF(B.x, B.nx), FX_UPF(B.gamma, c), FX_UPF(B.beta, c), gy, gsm, gsi, grm,
                        grv, 0.1f, 1e-5f, B.n, B.c, B.hw));
        printf("  %s: n=%d c=%d hw=%d\n", dense ? "dense" : "NCHW", B.n, B.c, B.hw);
        FX_CMP("bn_forward_train y", gy, y, B.nx, TOL_ELEM);
        FX_CMP("bn_forward_train save_mean", gsm, sm, c, TOL_ELEM);
        FX_CMP("bn_forward_train save_invstd", gsi, si, c, TOL_ELEM);
        FX_CMP("bn_forward_train running_mean", grm, rm, c, TOL_ELEM);
        FX_CMP("bn_forward_train running_var", grv, rv, c, TOL_ELEM);
    }
    return EB_TEST_PASS;
}

EB_TEST(bn_forward_infer) {
    FX_OPEN();
    for (int dense = 0; dense < 2; dense++) {
        bn_case B;
        if (bn_draw(&B, dense)) return EB_TEST_FAIL;
        const size_t c = (size_t)B.c;
        float *y = fx_hnan(B.nx), *gy = fx_nan(B.nx);
        EB_CHECK_OK(CPU(bn_forward_infer, B.x, B.gamma, B.beta, B.rm, B.rv, 1e-5f, y, B.n, B.c, B.hw));
        EB_CHECK_OK(GPU(bn_forward_infer, FX_UPF(B.x, B.nx), FX_UPF(B.gamma, c), FX_UPF(B.beta, c), FX_UPF(B.rm, c),
                        FX_UPF(B.rv, c), 1e-5f, gy, B.n, B.c, B.hw));
        FX_CMP(dense ? "bn_forward_infer dense" : "bn_forward_infer NCHW", gy, y, B.nx, TOL_ELEM);
    }
    return EB_TEST_PASS;
}

/* bn_backward_train (batch statistics) or, with infer, bn_backward_infer (running statistics), in the NCHW and
 * dense layouts: dx, and dgamma / dbeta accumulated onto what they held (beta_acc). */
static int bn_backward_check(int infer) {
    static const char *const names[2] = {"bn_backward_train", "bn_backward_infer"};
    char what[64];
    for (int dense = 0; dense < 2; dense++) {
        bn_case B;
        if (bn_draw(&B, dense)) return EB_TEST_FAIL;
        const size_t c = (size_t)B.c;
        float *dy = fx_rand(B.nx, -1, 1), *dg = fx_rand(c, -1, 1), *dbt = fx_rand(c, -1, 1);
        float *gdg = FX_UPF(dg, c), *gdbt = FX_UPF(dbt, c);
        const float beta_acc = (float)(fx_u() + 0.1);
        float *dx = fx_hnan(B.nx), *gdx = fx_nan(B.nx);
        float *gx = FX_UPF(B.x, B.nx), *gdy = FX_UPF(dy, B.nx), *ggamma = FX_UPF(B.gamma, c);
        if (infer) {
            EB_CHECK_OK(CPU(bn_backward_infer, B.x, dy, B.gamma, B.rm, B.rv, 1e-5f, dx, dg, dbt, beta_acc, B.n, B.c,
                            B.hw));
            EB_CHECK_OK(GPU(bn_backward_infer, gx, gdy, ggamma, FX_UPF(B.rm, c), FX_UPF(B.rv, c), 1e-5f, gdx, gdg, gdbt,
                            beta_acc, B.n, B.c, B.hw));
        } else {
            EB_CHECK_OK(CPU(bn_backward_train, B.x, dy, B.gamma, B.mean, B.invstd, dx, dg, dbt, beta_acc, B.n, B.c,
                            B.hw));
            EB_CHECK_OK(GPU(bn_backward_train, gx, gdy, ggamma, FX_UPF(B.mean, c), FX_UPF(B.invstd, c), gdx, gdg, gdbt,
                            beta_acc, B.n, B.c, B.hw));
        }
        snprintf(what, sizeof what, "%s dx %s", names[infer], dense ? "dense" : "NCHW");
        FX_CMP(what, gdx, dx, B.nx, TOL_ELEM);
        snprintf(what, sizeof what, "%s dgamma (accumulated)", names[infer]);
        FX_CMP(what, gdg, dg, c, TOL_ELEM);
        snprintf(what, sizeof what, "%s dbeta (accumulated)", names[infer]);
        FX_CMP(what, gdbt, dbt, c, TOL_ELEM);
    }
    return EB_TEST_PASS;
}

EB_TEST(bn_backward_train) {
    FX_OPEN();
    return bn_backward_check(0);
}

EB_TEST(bn_tangent_train) {
    FX_OPEN();
    for (int dense = 0; dense < 2; dense++) {
        bn_case B;
        if (bn_draw(&B, dense)) return EB_TEST_FAIL;
        const size_t c = (size_t)B.c;
        float *tx = fx_rand(B.nx, -1, 1), *ty = fx_hnan(B.nx), *gty = fx_nan(B.nx);
        EB_CHECK_OK(CPU(bn_tangent_train, B.x, tx, B.gamma, B.mean, B.invstd, ty, B.n, B.c, B.hw));
        EB_CHECK_OK(GPU(bn_tangent_train, FX_UPF(B.x, B.nx), FX_UPF(tx, B.nx), FX_UPF(B.gamma, c), FX_UPF(B.mean, c),
                        FX_UPF(B.invstd, c), gty, B.n, B.c, B.hw));
        FX_CMP(dense ? "bn_tangent_train dense" : "bn_tangent_train NCHW", gty, ty, B.nx, TOL_ELEM);
    }
    return EB_TEST_PASS;
}

EB_TEST(bn_backward_infer) {
    FX_OPEN();
    return bn_backward_check(1);
}

/* ---- losses ---- */

EB_TEST(bce_logits) {
    FX_OPEN();
    const float targets[] = {0.0f, 1.0f, 0.3f};
    for (int i = 0; i < 3; i++) {
        size_t n = (size_t)fx_int(1, 200000);
        float *l = fx_rand(n, -40, 40); /* large |l| too: the stable form must stay finite */
        float scale = (float)(1.0 / (double)n), loss = (float)fx_u();
        float *dl = fx_hnan(n), *gdl = fx_nan(n), *gloss = FX_UPF(&loss, 1);
        EB_CHECK_OK(CPU(bce_logits, l, targets[i], n, scale, &loss, dl));
        EB_CHECK_OK(GPU(bce_logits, FX_UPF(l, n), targets[i], n, scale, gloss, gdl));
        FX_CMP("bce_logits loss (accumulated)", gloss, &loss, 1, TOL_ELEM);
        FX_CMP("bce_logits dlogit", gdl, dl, n, TOL_ELEM);
    }
    return EB_TEST_PASS;
}

EB_TEST(sqdiff) {
    FX_OPEN();
    size_t n = (size_t)fx_int(1, 200000);
    float *a = fx_rand(n, -2, 2), *b = fx_rand(n, -2, 2);
    float scale = (float)(0.5 + fx_u()), loss = (float)fx_u();
    float *da = fx_hnan(n), *gda = fx_nan(n), *gloss = FX_UPF(&loss, 1);
    float *ga = FX_UPF(a, n), *gb = FX_UPF(b, n);
    EB_CHECK_OK(CPU(sqdiff, a, b, n, scale, &loss, da));
    EB_CHECK_OK(GPU(sqdiff, ga, gb, n, scale, gloss, gda));
    FX_CMP("sqdiff loss (accumulated)", gloss, &loss, 1, TOL_ELEM);
    FX_CMP("sqdiff da", gda, da, n, TOL_ELEM);
    /* da == NULL: loss only */
    float loss2 = 0.25f, *gloss2 = FX_UPF(&loss2, 1);
    EB_CHECK_OK(CPU(sqdiff, a, b, n, scale, &loss2, NULL));
    EB_CHECK_OK(GPU(sqdiff, ga, gb, n, scale, gloss2, NULL));
    FX_CMP("sqdiff loss only", gloss2, &loss2, 1, TOL_ELEM);
    return EB_TEST_PASS;
}

/* Both penalty kinds; wgan-gp with one all-zero row (the documented gbar_r = 0 case). */
EB_TEST(penalty_seed) {
    FX_OPEN();
    for (int kind = 0; kind < 2; kind++) {
        eb_penalty_kind k = kind ? EB_PENALTY_WGAN_GP : EB_PENALTY_SCORE;
        size_t rows = (size_t)fx_int(2, 300), cols = (size_t)fx_int(1, 3072);
        float *g = fx_rand(rows * cols, -0.05, 0.05);
        if (k == EB_PENALTY_WGAN_GP) memset(g + (rows / 2) * cols, 0, cols * sizeof *g);
        float lambda = (float)(0.1 + 10 * fx_u()), loss = (float)fx_u();
        float *gbar = fx_hnan(rows * cols), *ggbar = fx_nan(rows * cols), *gloss = FX_UPF(&loss, 1);
        float *gg = FX_UPF(g, rows * cols);
        EB_CHECK_OK(CPU(penalty_seed, k, g, rows, cols, lambda, gbar, &loss));
        EB_CHECK_OK(GPU(penalty_seed, k, gg, rows, cols, lambda, ggbar, gloss));
        FX_CMP(kind ? "penalty_seed wgan-gp loss" : "penalty_seed score loss", gloss, &loss, 1, TOL_ELEM);
        FX_CMP(kind ? "penalty_seed wgan-gp gbar" : "penalty_seed score gbar", ggbar, gbar, rows * cols, TOL_ELEM);
        /* deterministic: a rerun gives the same bits */
        float l1 = 0.0f, l2 = 0.0f, *gl1 = FX_UPF(&l1, 1), *gl2 = FX_UPF(&l2, 1);
        EB_CHECK_OK(GPU(penalty_seed, k, gg, rows, cols, lambda, ggbar, gl1));
        EB_CHECK_OK(GPU(penalty_seed, k, gg, rows, cols, lambda, ggbar, gl2));
        EB_CHECK_OK(GPU(mem_download, &l1, gl1, sizeof l1));
        EB_CHECK_OK(GPU(mem_download, &l2, gl2, sizeof l2));
        EB_CHECK(memcmp(&l1, &l2, sizeof l1) == 0, "penalty not deterministic: %.9g vs %.9g", l1, l2);
    }
    return EB_TEST_PASS;
}

/* ---- optimisers ---- */

/* Fused bias + activation against the CPU's: dense and NCHW, every kind, b == NULL. */
EB_TEST(bias_act_forward) {
    FX_OPEN();
    const eb_act_kind kinds[6] = {EB_ACT_IDENTITY, EB_ACT_RELU, EB_ACT_LEAKY_RELU, EB_ACT_TANH, EB_ACT_SOFTPLUS, EB_ACT_SIGMOID};
    for (int k = 0; k < 6; k++)
        for (int layout = 0; layout < 3; layout++) {
            const int n = fx_int(1, 64), c = fx_int(1, 300), hw = layout == 0 ? 1 : fx_int(2, 1024);
            const size_t total = (size_t)n * c * hw;
            float *a = fx_rand(total, -3, 3), *b = layout == 2 ? NULL : fx_rand((size_t)c, -1, 1), *y = fx_hnan(total);
            float *da = FX_UPF(a, total), *db = b ? FX_UPF(b, (size_t)c) : NULL, *dy = fx_nan(total);
            EB_CHECK_OK(CPU(bias_act_forward, a, b, kinds[k], 0.2f, y, n, c, hw));
            EB_CHECK_OK(GPU(bias_act_forward, da, db, kinds[k], 0.2f, dy, n, c, hw));
            FX_CMP("bias_act_forward a", da, a, total, TOL_ELEM);
            FX_CMP("bias_act_forward y", dy, y, total, TOL_ELEM);
        }
    return EB_TEST_PASS;
}

EB_TEST(adam_update) {
    FX_OPEN();
    size_t n = (size_t)fx_int(1, 300000);
    float *p = fx_rand(n, -1, 1), *g = fx_rand(n, -1, 1), *m = fx_rand(n, -0.1, 0.1), *v = fx_rand(n, 1e-6, 0.01);
    float *gp = FX_UPF(p, n), *gm = FX_UPF(m, n), *gv = FX_UPF(v, n);
    const int t = fx_int(1, 1000);
    const float b1 = 0.5f, b2 = 0.9f, eps = 1e-8f;
    float hyper[3] = {1e-3f, (float)(1 - pow(b1, t)), (float)(1 - pow(b2, t))};
    EB_CHECK_OK(CPU(adam_update, p, g, m, v, n, hyper, b1, b2, eps));
    EB_CHECK_OK(GPU(adam_update, gp, FX_UPF(g, n), gm, gv, n, FX_UPF(hyper, 3), b1, b2, eps));
    FX_CMP("adam_update p", gp, p, n, TOL_ELEM);
    FX_CMP("adam_update m", gm, m, n, TOL_ELEM);
    FX_CMP("adam_update v", gv, v, n, TOL_ELEM);
    return EB_TEST_PASS;
}

EB_TEST(sgd_update) {
    FX_OPEN();
    size_t n = (size_t)fx_int(1, 300000);
    float *p = fx_rand(n, -1, 1), *g = fx_rand(n, -1, 1);
    float *gp = FX_UPF(p, n);
    float hyper[3] = {(float)(0.1 * fx_u() + 1e-3), 1, 1};
    EB_CHECK_OK(CPU(sgd_update, p, g, n, hyper));
    EB_CHECK_OK(GPU(sgd_update, gp, FX_UPF(g, n), n, FX_UPF(hyper, 3)));
    FX_CMP("sgd_update", gp, p, n, TOL_ELEM);
    return EB_TEST_PASS;
}

/* The schedule from the device clock: {lr_s, bc1, bc2} equal the CPU's bit for bit up to the last rounding of
 * pow (both in double, rounded once to float): with and without a clock, with and without decay. */
EB_TEST(optim_hyper_follows_the_clock) {
    FX_OPEN();
    int64_t clk = fx_int(0, 99999);
    int64_t *dclk = fx_up(&clk, sizeof clk);
    for (int with_clock = 0; with_clock < 2; with_clock++)
        for (int decay = 0; decay < 2; decay++) {
            eb_optim_sched hs = {1e-4 + 1e-3 * fx_u(), 0.5, 0.9, NULL, fx_int(1, 7), fx_int(1, 7), decay ? 100000 : 0};
            eb_optim_sched hd = hs;
            hs.clock = with_clock ? &clk : NULL;
            hd.clock = with_clock ? dclk : NULL;
            float ref[3], *d = fx_nan(3);
            EB_CHECK_OK(CPU(optim_hyper, ref, &hs));
            EB_CHECK_OK(GPU(optim_hyper, d, &hd));
            FX_CMP("optim_hyper", d, ref, 3, 1e-6);
        }
    return EB_TEST_PASS;
}

/* ---- random draws that keep an iteration on the device (DESIGN.md §4) ---- */

static void *fx_ddown(const void *d, size_t bytes) {
    void *h = fx_hmalloc(bytes);
    if (GPU(mem_download, h, d, bytes) != EB_OK) fx_die("download");
    return h;
}

/* Indices are an integer function of the Philox words: identical on both backends, also through the clock. */
EB_TEST(rng_index_matches_cpu_exactly) {
    FX_OPEN();
    const size_t n = (size_t)fx_int(1, 200000);
    const uint32_t range = (uint32_t)fx_int(1, 70000);
    int64_t clk = fx_int(0, 1000);
    int64_t *dclk = fx_up(&clk, sizeof clk);
    const uint64_t seed = (uint64_t)fx_int(0, 1 << 30), off = (uint64_t)fx_int(0, 1 << 30), stride = 7919;
    int32_t *ref = fx_hmalloc(n * sizeof *ref), *d = fx_dmalloc(n * sizeof *d);
    EB_CHECK_OK(CPU(rng_index, ref, n, range, ((eb_rng_pos){seed, off, &clk, stride})));
    EB_CHECK_OK(GPU(rng_index, d, n, range, ((eb_rng_pos){seed, off, dclk, stride})));
    int32_t *h = fx_ddown(d, n * sizeof *h);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += h[i] != ref[i] || h[i] < 0 || (uint32_t)h[i] >= range;
    EB_CHECK(bad == 0, "rng_index: %zu of %zu indices differ from the CPU or fall outside [0, %u)", bad, n, range);
    return EB_TEST_PASS;
}

/* The permutation is the stable argsort of 64-bit keys: identical on both backends and a permutation, for
 * sizes below, at and above one 256-thread tile. */
EB_TEST(rng_perm_matches_cpu_exactly) {
    FX_OPEN();
    const size_t sizes[4] = {1, 256, (size_t)fx_int(2, 255), (size_t)fx_int(257, 5000)};
    for (int k = 0; k < 4; k++) {
        const size_t n = sizes[k];
        const uint64_t seed = (uint64_t)fx_int(0, 1 << 30), off = (uint64_t)fx_int(0, 1 << 30);
        int32_t *ref = fx_hmalloc(n * sizeof *ref), *d = fx_dmalloc(n * sizeof *d);
        EB_CHECK_OK(CPU(rng_perm, ref, n, eb_rng_at(seed, off)));
        EB_CHECK_OK(GPU(rng_perm, d, n, eb_rng_at(seed, off)));
        int32_t *h = fx_ddown(d, n * sizeof *h);
        char *seen = fx_hmalloc(n);
        memset(seen, 0, n);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            bad += h[i] != ref[i];
            if (h[i] >= 0 && (size_t)h[i] < n) seen[h[i]] = 1;
        }
        for (size_t i = 0; i < n; i++) bad += !seen[i];
        EB_CHECK(bad == 0, "rng_perm n = %zu: %zu mismatches against the CPU or missing indices", n, bad);
    }
    return EB_TEST_PASS;
}

/* Toy points: the same formula (toy_formula.h) in double on both sides, rounded to float once. */
EB_TEST(toy_sample_matches_cpu) {
    FX_OPEN();
    const eb_toy_kind kinds[3] = {EB_TOY_8GAUSSIANS, EB_TOY_25GAUSSIANS, EB_TOY_SWISSROLL};
    int64_t clk = fx_int(0, 1000);
    int64_t *dclk = fx_up(&clk, sizeof clk);
    for (int k = 0; k < 3; k++) {
        const size_t n = (size_t)fx_int(1, 100000);
        const uint64_t seed = (uint64_t)fx_int(0, 1 << 30), off = (uint64_t)fx_int(0, 1 << 30);
        float *ref = fx_hnan(2 * n), *d = fx_nan(2 * n);
        EB_CHECK_OK(CPU(toy_sample, kinds[k], ref, n, ((eb_rng_pos){seed, off, &clk, 3 * n})));
        EB_CHECK_OK(GPU(toy_sample, kinds[k], d, n, ((eb_rng_pos){seed, off, dclk, 3 * n})));
        FX_CMP("toy_sample", d, ref, 2 * n, 1e-6);
    }
    return EB_TEST_PASS;
}

/* The clock moves the draw: normals at clock c equal the CPU's at offset + c * stride; clock_add advances it. */
EB_TEST(rng_normal_follows_the_clock) {
    FX_OPEN();
    const size_t n = (size_t)fx_int(1, 100000);
    const uint64_t seed = 5, off = (uint64_t)fx_int(0, 1 << 20), stride = (uint64_t)fx_int(1, 1 << 20);
    int64_t zero = 0;
    int64_t *dclk = fx_up(&zero, sizeof zero);
    const int64_t steps = fx_int(1, 50);
    for (int64_t i = 0; i < steps; i++) EB_CHECK_OK(GPU(clock_add, dclk, 1));
    float *ref = fx_hnan(n), *d = fx_nan(n);
    EB_CHECK_OK(CPU(rng_normal, ref, n, eb_rng_at(seed, off + (uint64_t)steps * stride)));
    EB_CHECK_OK(GPU(rng_normal, d, n, ((eb_rng_pos){seed, off, dclk, stride})));
    FX_CMP("rng_normal at the clock", d, ref, n, 1e-6);
    int64_t back = 0;
    EB_CHECK_OK(GPU(mem_download, &back, dclk, sizeof back));
    EB_CHECK(back == steps, "clock_add: %lld after %lld ticks", (long long)back, (long long)steps);
    return EB_TEST_PASS;
}

/* MALA: the same Philox stream on both backends (DESIGN.md §3), so the proposals agree to float rounding and
 * the accept decisions agree (a decision could only flip where log u is within rounding of log gamma). */
EB_TEST(mala_propose_and_accept) {
    FX_OPEN();
    size_t n = (size_t)fx_int(1, 5000), d = (size_t)fx_int(1, 130);
    float *z = fx_rand(n * d, -2, 2), *g = fx_rand(n * d, -1, 1), *gp = fx_rand(n * d, -1, 1);
    float *e = fx_rand(n, -1, 1), *ep = fx_rand(n, -1, 1), *acc = fx_rand(n, 0, 0), *zp = fx_hnan(n * d);
    const float alpha = (float)(0.05 * fx_u() + 1e-3);
    const uint64_t seed = 99, base = (uint64_t)fx_int(0, 1 << 20);
    float *dz = FX_UPF(z, n * d), *dg = FX_UPF(g, n * d), *dzp = fx_nan(n * d), *de = FX_UPF(e, n);
    float *dacc = FX_UPF(acc, n);
    EB_CHECK_OK(CPU(mala_propose, z, g, zp, n, d, alpha, eb_rng_at(seed, base)));
    EB_CHECK_OK(GPU(mala_propose, dz, dg, dzp, n, d, alpha, eb_rng_at(seed, base)));
    FX_CMP("mala_propose", dzp, zp, n * d, TOL_ELEM);
    /* accept from identical inputs: the CPU's proposal on both sides */
    EB_CHECK_OK(GPU(mem_upload, dzp, zp, n * d * sizeof(float)));
    EB_CHECK_OK(CPU(mala_accept, z, e, g, zp, ep, gp, n, d, alpha, 0, eb_rng_at(seed, base), acc));
    EB_CHECK_OK(GPU(mala_accept, dz, de, dg, dzp, FX_UPF(ep, n), FX_UPF(gp, n * d), n, d, alpha, 0, eb_rng_at(seed, base), dacc));
    FX_CMP("mala_accept z", dz, z, n * d, TOL_ELEM);
    FX_CMP("mala_accept e", de, e, n, TOL_ELEM);
    FX_CMP("mala_accept accepted", dacc, acc, n, 0.0);
    return EB_TEST_PASS;
}

/* VERA's ops (ops.h): the same arithmetic in double on both sides, so they agree to float rounding. log sigma is
 * drawn inside and outside its clamp; the score over random k, sizes and a posterior of random scale. */
EB_TEST(vera_noise_score_and_gradients) {
    FX_OPEN();
    const size_t n = (size_t)fx_int(1, 300), k = (size_t)fx_int(1, 40), xd = (size_t)fx_int(1, 70);
    const size_t zd = (size_t)fx_int(1, 20);
    const float lo = (float)log(0.01), hi = (float)log(0.3);
    for (int clamp = 0; clamp < 3; clamp++) {
        float ls = clamp == 0 ? (float)log(0.1) : clamp == 1 ? (float)log(0.001) : (float)log(0.9);
        float *dls = FX_UPF(&ls, 1);
        float *x = fx_rand(n * xd, -2, 2), *eps = fx_rand(n * xd, -2, 2), *xc = fx_hcopy(x, n * xd);
        float *dx = FX_UPF(x, n * xd);
        EB_CHECK_OK(CPU(vera_noise, xc, eps, &ls, lo, hi, n * xd));
        EB_CHECK_OK(GPU(vera_noise, dx, FX_UPF(eps, n * xd), dls, lo, hi, n * xd));
        FX_CMP("vera_noise", dx, xc, n * xd, TOL_ELEM);
        float *gsum = fx_rand(1, -1, 1), *dgsum = FX_UPF(gsum, 1);
        float *dy = fx_rand(n * xd, -1, 1);
        /* a sum of a random-sign product over n * xd terms: float rounding of the inputs only */
        EB_CHECK_OK(CPU(vera_sigma_grad, dy, eps, &ls, lo, hi, n * xd, gsum));
        EB_CHECK_OK(GPU(vera_sigma_grad, FX_UPF(dy, n * xd), FX_UPF(eps, n * xd), dls, lo, hi, n * xd, dgsum));
        FX_CMP("vera_sigma_grad", dgsum, gsum, 1, TOL_ELEM);
        float *g = fx_rand(n * xd, -2, 2), *seed = fx_hnan(n * xd), *dseed = fx_nan(n * xd);
        EB_CHECK_OK(CPU(vera_post_seed, x, g, &ls, lo, hi, n * xd, 0.5f, seed));
        EB_CHECK_OK(GPU(vera_post_seed, FX_UPF(x, n * xd), FX_UPF(g, n * xd), dls, lo, hi, n * xd, 0.5f, dseed));
        FX_CMP("vera_post_seed", dseed, seed, n * xd, TOL_ELEM);
    }
    float ls = (float)log(0.2);
    float *dls = FX_UPF(&ls, 1);
    float *leta = fx_rand(zd, -1.5, 0), *z0 = fx_rand(n * zd, -2, 2), *epk = fx_rand(k * n * zd, -2, 2);
    float *zk = fx_hnan(k * n * zd), *dzk = fx_nan(k * n * zd), *dleta = FX_UPF(leta, zd);
    EB_CHECK_OK(CPU(vera_post_sample, z0, epk, leta, n, k, zd, zk));
    EB_CHECK_OK(GPU(vera_post_sample, FX_UPF(z0, n * zd), FX_UPF(epk, k * n * zd), dleta, n, k, zd, dzk));
    FX_CMP("vera_post_sample", dzk, zk, k * n * zd, TOL_ELEM);
    /* the score from identical samples: x near the G outputs, so the weights are neither uniform nor one-hot */
    float *x = fx_rand(n * xd, -1, 1), *g = fx_rand(k * n * xd, -1, 1), *c = fx_hnan(n * xd), *dc = fx_nan(n * xd);
    for (size_t i = 0; i < k * n * xd; i++) g[i] = x[i % (n * xd)] + 0.1f * g[i];
    EB_CHECK_OK(CPU(vera_score, x, g, zk, z0, leta, &ls, (float)log(0.01), (float)log(0.3), n, k, xd, zd, c));
    EB_CHECK_OK(GPU(vera_score, FX_UPF(x, n * xd), FX_UPF(g, k * n * xd), FX_UPF(zk, k * n * zd), FX_UPF(z0, n * zd),
                    dleta, dls, (float)log(0.01), (float)log(0.3), n, k, xd, zd, dc));
    FX_CMP("vera_score", dc, c, n * xd, TOL_ELEM);
    float *dz = fx_rand(n * zd, -1, 1), *gr = fx_hnan(zd), *dgr = fx_nan(zd);
    EB_CHECK_OK(CPU(vera_post_grad, dz, zk, epk, leta, n, zd, 0.25f, gr));
    EB_CHECK_OK(GPU(vera_post_grad, FX_UPF(dz, n * zd), FX_UPF(zk, n * zd), FX_UPF(epk, n * zd), dleta, n, zd, 0.25f,
                    dgr));
    FX_CMP("vera_post_grad", dgr, gr, zd, TOL_ELEM);
    return EB_TEST_PASS;
}

/* ---- CUDA-graph capture: the ops of a step run inside a captured graph and replay to the eager result ---- */

/* A sequence of idempotent ops (outputs overwritten from unchanged inputs): fill, rng, linear forward and
 * weight gradient, activation backward, conv forward / backward-data / backward-filter, penalty seed and
 * reduce_sum. conv geometry `gb` is first met inside the capture (cuDNN heuristics path, no search). */
#ifdef EB_HAVE_CUDA
typedef struct cap_bufs {
    int n, in, out;
    eb_conv_geom ga, gb;
    float *x, *w, *y, *dy, *dw, *cx, *cw, *cy, *cdx, *cdw, *bx, *bw, *by, *gbar, *loss, *sum, *noise;
} cap_bufs;

static eb_status cap_sequence(const cap_bufs *B, int with_gb) {
    EB_TRY(GPU(fill, B->loss, 0.0f, 1));
    EB_TRY(GPU(rng_normal, B->noise, (size_t)B->n * B->in, eb_rng_at(1234u, 77u)));
    EB_TRY(GPU(linear_forward, B->x, B->w, NULL, B->y, B->n, B->in, B->out));
    EB_TRY(GPU(act_backward, EB_ACT_SOFTPLUS, 0.0f, B->y, NULL, B->y, B->dy, (size_t)B->n * B->out, 0.0f));
    EB_TRY(GPU(linear_backward_weight, B->x, B->dy, B->dw, B->n, B->in, B->out, 1.0f, 0.0f));
    EB_TRY(GPU(conv2d_forward, &B->ga, B->cx, B->cw, B->cy, 1.0f, 0.0f));
    EB_TRY(GPU(conv2d_backward_data, &B->ga, B->cy, B->cw, B->cdx, 1.0f, 0.0f));
    EB_TRY(GPU(conv2d_backward_filter, &B->ga, B->cx, B->cy, B->cdw, 1.0f, 0.0f));
    if (with_gb) EB_TRY(GPU(conv2d_forward, &B->gb, B->bx, B->bw, B->by, 1.0f, 0.0f));
    EB_TRY(GPU(penalty_seed, EB_PENALTY_SCORE, B->noise, (size_t)B->n, (size_t)B->in, 10.0f, B->gbar, B->loss));
    EB_TRY(GPU(reduce_sum, B->y, (size_t)B->n * B->out, B->sum, 1.0f, 0.0f));
    return EB_OK;
}

static size_t cap_count(const eb_conv_geom *g, int what) {
    return what == 0 ? (size_t)g->n * g->c_in * g->h_in * g->w_in
           : what == 1 ? (size_t)g->c_out * g->c_in * g->k_h * g->k_w
                       : (size_t)g->n * g->c_out * g->h_out * g->w_out;
}
#endif

EB_TEST(graph_capture) {
    FX_OPEN();
#ifndef EB_HAVE_CUDA
    printf("  built without CUDA\n");
    return EB_TEST_SKIP;
#else
    EB_CHECK_OK(eb_cuda_set_precision(&g_fx.gpu, EB_PRECISION_TF32));
    cap_bufs B;
    B.n = 64;
    B.in = 128;
    B.out = 256;
    B.ga = (eb_conv_geom){.n = 8, .c_in = 3, .h_in = 32, .w_in = 32, .c_out = 32, .h_out = 16, .w_out = 16,
                          .k_h = 4, .k_w = 4, .stride = 2, .pad = 1};
    B.gb = conv_draw(0);
    const size_t nx = (size_t)B.n * B.in, ny = (size_t)B.n * B.out, nw = (size_t)B.out * B.in;
    B.x = FX_UPF(fx_rand(nx, -1, 1), nx);
    B.w = FX_UPF(fx_rand(nw, -0.1, 0.1), nw);
    B.y = fx_nan(ny);
    B.dy = fx_nan(ny);
    B.dw = fx_nan(nw);
    B.cx = FX_UPF(fx_rand(cap_count(&B.ga, 0), -1, 1), cap_count(&B.ga, 0));
    B.cw = FX_UPF(fx_rand(cap_count(&B.ga, 1), -0.1, 0.1), cap_count(&B.ga, 1));
    B.cy = fx_nan(cap_count(&B.ga, 2));
    B.cdx = fx_nan(cap_count(&B.ga, 0));
    B.cdw = fx_nan(cap_count(&B.ga, 1));
    B.bx = FX_UPF(fx_rand(cap_count(&B.gb, 0), -1, 1), cap_count(&B.gb, 0));
    B.bw = FX_UPF(fx_rand(cap_count(&B.gb, 1), -1, 1), cap_count(&B.gb, 1));
    B.by = fx_nan(cap_count(&B.gb, 2));
    B.gbar = fx_nan(nx);
    B.loss = fx_nan(1);
    B.sum = fx_nan(1);
    B.noise = fx_nan(nx);
    float *outs[] = {B.y, B.dy, B.dw, B.cy, B.cdx, B.cdw, B.gbar, B.loss, B.sum, B.noise, B.by};
    const size_t lens[] = {ny, ny, nw, cap_count(&B.ga, 2), cap_count(&B.ga, 0), cap_count(&B.ga, 1), nx, 1, 1, nx,
                           cap_count(&B.gb, 2)};
    const char *names[] = {"linear y", "act dy", "linear dw", "conv y", "conv dx", "conv dw", "gbar", "loss", "sum",
                           "noise", "conv (first met in capture) y"};
    const int nout = 11;

    /* warm-up: chooses the algorithms of geometry ga (cudnnFind, outside any capture) */
    EB_CHECK_OK(cap_sequence(&B, 0));
    cudaStream_t s = (cudaStream_t)eb_cuda_stream(&g_fx.gpu);
    cudaGraph_t graph = NULL;
    cudaGraphExec_t exec = NULL;
    EB_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess, "begin capture failed");
    eb_status st = cap_sequence(&B, 1);
    cudaError_t ce = cudaStreamEndCapture(s, &graph);
    EB_CHECK(st == EB_OK, "an op failed inside the capture: %s", eb_error_message());
    EB_CHECK(ce == cudaSuccess, "end capture: %s (an op did something a graph cannot hold)", cudaGetErrorString(ce));
    EB_CHECK(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess, "instantiate failed");
    for (int i = 0; i < nout; i++) EB_CHECK_OK(GPU(fill, outs[i], NAN, lens[i]));
    for (int r = 0; r < 2; r++) EB_CHECK(cudaGraphLaunch(exec, s) == cudaSuccess, "graph launch failed");
    EB_CHECK_OK(g_fx.gpu.ops->sync(g_fx.gpu.ctx));
    float *replay[11];
    for (int i = 0; i < nout; i++) {
        replay[i] = fx_hmalloc(lens[i] * sizeof(float));
        EB_CHECK_OK(GPU(mem_download, replay[i], outs[i], lens[i] * sizeof(float)));
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    /* eager rerun (gb now has the algorithms chosen inside the capture) must match the replay: same kernels,
     * same order; deterministic algorithms give identical bits, 1e-6 allows a nondeterministic fallback */
    for (int i = 0; i < nout; i++) EB_CHECK_OK(GPU(fill, outs[i], NAN, lens[i]));
    EB_CHECK_OK(cap_sequence(&B, 1));
    for (int i = 0; i < nout; i++) {
        char what[80];
        snprintf(what, sizeof what, "graph replay vs eager: %s", names[i]);
        FX_CMP(what, outs[i], replay[i], lens[i], 1e-6);
    }
    return EB_TEST_PASS;
#endif
}

/* Softmax cross-entropy: k = 10 (the classifier), a random k, and k > 32 (a warp loops over the row); logits up
 * to |l| = 60 and one row at +-1000 (the max-subtracted form stays finite); dlogit == NULL; deterministic. */
EB_TEST(softmax_xent) {
    FX_OPEN();
    const size_t ks[3] = {10, (size_t)fx_int(2, 31), (size_t)fx_int(33, 200)};
    for (int i = 0; i < 3; i++) {
        size_t rows = (size_t)fx_int(1, i == 0 ? 100000 : 5000), k = ks[i], n = rows * k;
        float *l = fx_rand(n, -60, 60);
        for (size_t j = 0; j < k; j++) l[j] = (j & 1) ? -1000.0f : 1000.0f;
        int32_t *y = fx_hmalloc(rows * sizeof *y);
        for (size_t r = 0; r < rows; r++) y[r] = (int32_t)fx_int(0, (int)k - 1);
        int32_t *gy = fx_up(y, rows * sizeof *y);
        float scale = (float)(1.0 / (double)rows), loss = (float)fx_u();
        float *dl = fx_hnan(n), *gdl = fx_nan(n), *gloss = FX_UPF(&loss, 1), *gl = FX_UPF(l, n);
        EB_CHECK_OK(CPU(softmax_xent, l, y, rows, k, scale, &loss, dl));
        EB_CHECK_OK(GPU(softmax_xent, gl, gy, rows, k, scale, gloss, gdl));
        FX_CMP("softmax_xent loss (accumulated)", gloss, &loss, 1, TOL_ELEM);
        FX_CMP("softmax_xent dlogit", gdl, dl, n, TOL_ELEM);
        /* dlogit == NULL: loss only, and a rerun gives the same bits */
        float l1 = 0.0f, l2 = 0.0f, *gl1 = FX_UPF(&l1, 1), *gl2 = FX_UPF(&l2, 1);
        EB_CHECK_OK(GPU(softmax_xent, gl, gy, rows, k, scale, gl1, NULL));
        EB_CHECK_OK(GPU(softmax_xent, gl, gy, rows, k, scale, gl2, NULL));
        float ref = 0.0f;
        EB_CHECK_OK(CPU(softmax_xent, l, y, rows, k, scale, &ref, NULL));
        FX_CMP("softmax_xent loss only", gl1, &ref, 1, TOL_ELEM);
        EB_CHECK_OK(GPU(mem_download, &l1, gl1, sizeof l1));
        EB_CHECK_OK(GPU(mem_download, &l2, gl2, sizeof l2));
        EB_CHECK(memcmp(&l1, &l2, sizeof l1) == 0, "softmax_xent not deterministic: %.9g vs %.9g", l1, l2);
    }
    return EB_TEST_PASS;
}
