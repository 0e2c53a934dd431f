/* CPU reference of the random ops: normals, uniforms, minibatch indices, permutations, toy points and the
 * clock. Every value is a pure function of (seed, counter) (rng.h), so the CUDA kernels reproduce it. */
#include "cpu_ops.h"

#include <math.h>
#include <stdlib.h>

#include "ebgan/rng.h"

uint64_t eb_cpu_rng_base(eb_rng_pos p) {
    return p.offset + (p.clock ? p.stride * (uint64_t)*p.clock : 0);
}

/* (w0 << 32) | w1 of block `index`: the 64-bit key of rng_index and rng_perm */
static uint64_t key64(uint64_t seed, uint64_t index) {
    const uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), 0, 0};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t w[4];
    eb_philox4x32(ctr, key, w);
    return ((uint64_t)w[0] << 32) | w[1];
}

eb_status eb_cpu_rng_normal(void *ctx, eb_real *x, size_t n, eb_rng_pos p) {
    (void)ctx;
    const uint64_t base = eb_cpu_rng_base(p);
    for (size_t i = 0; i < n; i++) x[i] = (eb_real)eb_rng_normal_at(p.seed, base + i);
    return EB_OK;
}

eb_status eb_cpu_rng_uniform(void *ctx, eb_real *x, size_t n, eb_rng_pos p) {
    (void)ctx;
    const uint64_t base = eb_cpu_rng_base(p);
    for (size_t i = 0; i < n; i++) {
        double u = eb_rng_uniform_at(p.seed, base + i);
#ifdef EB_REAL_F64
        x[i] = u;
#else
        /* Truncate to the top 24 bits (= word 0 >> 8, scaled by 2^-24): rounding to nearest could give
         * 1.0f, and truncation is what the CUDA kernel computes from the same integer. */
        x[i] = (float)(floor(u * 0x1p24) * 0x1p-24);
#endif
    }
    return EB_OK;
}

eb_status eb_cpu_rng_index(void *ctx, int32_t *idx, size_t n, uint32_t range, eb_rng_pos p) {
    (void)ctx;
    if (range < 1 || range > (uint32_t)INT32_MAX)
        return EB_FAIL(EB_ERR_ARG, "rng_index: range %u outside [1, 2^31)", range);
    const uint64_t base = eb_cpu_rng_base(p);
    for (size_t i = 0; i < n; i++)
        idx[i] = (int32_t)(((unsigned __int128)key64(p.seed, base + i) * range) >> 64);
    return EB_OK;
}

typedef struct perm_key { uint64_t key; int64_t idx; } perm_key;

static int perm_key_cmp(const void *a, const void *b) {
    const perm_key *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

eb_status eb_cpu_rng_perm(void *ctx, int32_t *perm, size_t n, eb_rng_pos p) {
    if (n > (size_t)INT32_MAX) return EB_FAIL(EB_ERR_ARG, "rng_perm: %zu elements exceed 2^31 - 1", n);
    if (n == 0) return EB_OK;
    perm_key *k = (perm_key *)eb_cpu_scratch(ctx, (n * sizeof(perm_key) + sizeof(eb_real) - 1) / sizeof(eb_real));
    if (!k) return EB_ERR_OOM;
    const uint64_t base = eb_cpu_rng_base(p);
    for (size_t i = 0; i < n; i++) {
        k[i].key = key64(p.seed, base + i);
        k[i].idx = (int64_t)i;
    }
    qsort(k, n, sizeof *k, perm_key_cmp);
    for (size_t i = 0; i < n; i++) perm[i] = (int32_t)k[i].idx;
    return EB_OK;
}

eb_status eb_cpu_toy_sample(void *ctx, eb_toy_kind kind, eb_real *x, size_t n, eb_rng_pos p) {
    (void)ctx;
    if (kind != EB_TOY_8GAUSSIANS && kind != EB_TOY_25GAUSSIANS && kind != EB_TOY_SWISSROLL)
        return EB_FAIL(EB_ERR_ARG, "toy_sample: unknown toy kind %d", (int)kind);
    const uint64_t base = eb_cpu_rng_base(p);
    for (size_t i = 0; i < n; i++) {
        const uint64_t c = base + 3 * (uint64_t)i;
        double pt[2];
        eb_toy_point(kind, eb_rng_uniform_at(p.seed, c), eb_rng_normal_at(p.seed, c + 1),
                     eb_rng_normal_at(p.seed, c + 2), pt);
        x[2 * i] = (eb_real)(float)pt[0]; /* rounded to float as the host's eb_toy_fill, in both builds */
        x[2 * i + 1] = (eb_real)(float)pt[1];
    }
    return EB_OK;
}

eb_status eb_cpu_clock_add(void *ctx, int64_t *clock, int64_t v) {
    (void)ctx;
    *clock += v;
    return EB_OK;
}
