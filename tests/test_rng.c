/* The Philox4x32-10 generator and its mapping to numbers (float build): known-answer vectors, the
 * documented word -> value mapping, Monte-Carlo moments, chunk invariance and the host stream. */
#include "harness.h"

#include "ebgan/backend.h"
#include "ebgan/rng.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MC_DRAWS 1000000

/* Random123 tests/kat_vectors, the three "philox4x32 10" lines: counter[4] key[2] -> output[4]. */
EB_TEST(philox_known_answers) {
    static const uint32_t ctr[3][4] = {{0, 0, 0, 0},
                                       {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                                       {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
    static const uint32_t key[3][2] = {{0, 0}, {0xffffffffu, 0xffffffffu}, {0xa4093822u, 0x299f31d0u}};
    static const uint32_t want[3][4] = {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
                                        {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
                                        {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}};
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        eb_philox4x32(ctr[v], key[v], out);
        for (int w = 0; w < 4; w++)
            EB_CHECK(out[w] == want[v][w], "vector %d word %d: %08x, want %08x", v, w, out[w], want[v][w]);
    }
    return EB_TEST_PASS;
}

/* The word -> value mapping documented in rng.h, which the CUDA kernels reproduce: checked on the
 * known-answer block (seed 0, index 0 -> words 6627e8d5 e169c58d) and on random (seed, index). */
EB_TEST(mapping_matches_rng_h) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const double u00 = (double)(((uint64_t)0x6627e8d5u << 21) | (0xe169c58du >> 11)) * 0x1p-53;
    EB_CHECK(eb_rng_uniform_at(0, 0) == u00, "uniform_at(0, 0) = %.17g, want %.17g", eb_rng_uniform_at(0, 0), u00);
    eb_rng r;
    eb_rng_init(&r, 0x1234abcd5678ef01ull);
    for (int j = 0; j < 1000; j++) {
        uint64_t seed = ((uint64_t)eb_rng_u32(&r) << 32) | eb_rng_u32(&r);
        uint64_t index = ((uint64_t)eb_rng_u32(&r) << 32) | eb_rng_u32(&r);
        const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
        const uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), 0, 0};
        uint32_t w[4];
        eb_philox4x32(ctr, key, w);
        double u = (double)(((uint64_t)w[0] << 21) | (w[1] >> 11)) * 0x1p-53;
        double u1 = ((double)w[0] + 1.0) * 0x1p-32, u2 = (double)w[1] * 0x1p-32;
        double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        EB_CHECK(eb_rng_uniform_at(seed, index) == u, "uniform_at mapping (case %d)", j);
        EB_CHECK(eb_rng_normal_at(seed, index) == z, "normal_at mapping (case %d)", j);
        float f = -1, g = -1;
        EB_CHECK_OK(be.ops->rng_uniform(be.ctx, &f, 1, eb_rng_at(seed, index)));
        EB_CHECK_OK(be.ops->rng_normal(be.ctx, &g, 1, eb_rng_at(seed, index)));
        /* f32 uniform: the top 24 bits of word 0, exactly; normal: the double value rounded once */
        EB_CHECK(f == (float)((double)(w[0] >> 8) * 0x1p-24), "f32 uniform mapping (case %d): %.9g", j, f);
        EB_CHECK(g == (float)z, "f32 normal (case %d): %.9g vs %.9g", j, g, z);
        /* host stream: u32 is word 0 of block `counter` */
        eb_rng h = {seed, index};
        EB_CHECK(eb_rng_u32(&h) == w[0] && h.counter == index + 1, "eb_rng_u32 mapping (case %d)", j);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* Moments of N = 1e6 draws through the op table. Bounds are 5 standard errors of each estimator
 * (two-sided 5.7e-7 chance of a false failure per statistic):
 *   uniform: mean 1/2, s.e. sqrt(1/12 / N) = 2.89e-4 -> 1.44e-3;
 *            variance 1/12, s.e. sqrt((1/80 - 1/144) / N) = 7.45e-5 -> 3.73e-4. */
EB_TEST(uniform_moments) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    float *x = malloc(MC_DRAWS * sizeof *x);
    EB_CHECK(x != NULL, "host buffer");
    EB_CHECK_OK(be.ops->rng_uniform(be.ctx, x, MC_DRAWS, eb_rng_at(0x5eedu, 12345)));
    double s = 0, s2 = 0;
    for (size_t i = 0; i < MC_DRAWS; i++) {
        EB_CHECK(x[i] >= 0.0f && x[i] < 1.0f, "draw %zu = %.9g outside [0, 1)", i, x[i]);
        s += x[i];
    }
    const double mean = s / MC_DRAWS;
    for (size_t i = 0; i < MC_DRAWS; i++) s2 += (x[i] - mean) * (x[i] - mean);
    const double var = s2 / MC_DRAWS;
    printf("uniform: mean %.6f (|err| %.2e, bound 1.44e-3), var %.6f (|err| %.2e, bound 3.73e-4)\n", mean,
           fabs(mean - 0.5), var, fabs(var - 1.0 / 12));
    EB_CHECK(fabs(mean - 0.5) < 1.44e-3, "mean %.6f", mean);
    EB_CHECK(fabs(var - 1.0 / 12) < 3.73e-4, "variance %.6f", var);
    free(x);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* normal: mean 0, s.e. 1e-3 -> 5e-3; variance 1, s.e. sqrt(2 / N) = 1.41e-3 -> 7.07e-3;
 * kurtosis m4 / m2^2 = 3, s.e. sqrt(24 / N) = 4.9e-3 -> 2.45e-2. All draws finite (u1 > 0). */
EB_TEST(normal_moments) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    float *x = malloc(MC_DRAWS * sizeof *x);
    EB_CHECK(x != NULL, "host buffer");
    EB_CHECK_OK(be.ops->rng_normal(be.ctx, x, MC_DRAWS, eb_rng_at(0xfeedbeefu, 777)));
    double s = 0, m2 = 0, m4 = 0;
    for (size_t i = 0; i < MC_DRAWS; i++) {
        EB_CHECK(isfinite(x[i]), "draw %zu not finite", i);
        s += x[i];
    }
    const double mean = s / MC_DRAWS;
    for (size_t i = 0; i < MC_DRAWS; i++) {
        double d = x[i] - mean;
        m2 += d * d;
        m4 += d * d * d * d;
    }
    m2 /= MC_DRAWS;
    m4 /= MC_DRAWS;
    const double kurt = m4 / (m2 * m2);
    printf("normal: mean %.2e (bound 5e-3), var %.6f (|err| %.2e, bound 7.07e-3), kurtosis %.4f (|err| %.2e, "
           "bound 2.45e-2)\n", mean, m2, fabs(m2 - 1), kurt, fabs(kurt - 3));
    EB_CHECK(fabs(mean) < 5e-3, "mean %.6f", mean);
    EB_CHECK(fabs(m2 - 1) < 7.07e-3, "variance %.6f", m2);
    EB_CHECK(fabs(kurt - 3) < 2.45e-2, "kurtosis %.6f", kurt);
    free(x);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* Element i depends only on (seed, offset + i): chunks drawn at consecutive offsets concatenate to the
 * stream of one call, bit for bit, including across the 2^32 boundary of the counter's low word. */
EB_TEST(chunks_concatenate) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    enum { N = 1000 };
    static float whole[N], parts[N];
    const uint64_t offsets[2] = {5, 0xfffffff0ull};
    const size_t cut[4] = {0, 37, 38, 611};
    for (int o = 0; o < 2; o++)
        for (int kind = 0; kind < 2; kind++) {
            eb_status (*draw)(void *, float *, size_t, eb_rng_pos) = kind ? be.ops->rng_uniform : be.ops->rng_normal;
            EB_CHECK_OK(draw(be.ctx, whole, N, eb_rng_at(99, offsets[o])));
            for (int c = 0; c < 4; c++) {
                size_t end = c + 1 < 4 ? cut[c + 1] : N;
                EB_CHECK_OK(draw(be.ctx, parts + cut[c], end - cut[c], eb_rng_at(99, offsets[o] + cut[c])));
            }
            EB_CHECK(memcmp(whole, parts, sizeof whole) == 0, "kind %d offset %llu: chunks differ", kind,
                     (unsigned long long)offsets[o]);
        }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* Different seeds (low key word, high key word) and different offsets give unrelated streams: among 1000
 * float draws at most a handful may coincide (a chance equality of two 24-bit uniforms is 6e-8 each). */
EB_TEST(seeds_give_different_streams) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    enum { N = 1000 };
    static float a[N], b[N];
    const uint64_t base = 0x0123456789abcdefull;
    const uint64_t other_seed[3] = {base + 1, base ^ (1ull << 32), base ^ (1ull << 63)};
    EB_CHECK_OK(be.ops->rng_uniform(be.ctx, a, N, eb_rng_at(base, 0)));
    for (int s = 0; s < 4; s++) {
        if (s < 3) EB_CHECK_OK(be.ops->rng_uniform(be.ctx, b, N, eb_rng_at(other_seed[s], 0)));
        else EB_CHECK_OK(be.ops->rng_uniform(be.ctx, b, N, eb_rng_at(base, 1ull << 32))); /* offset's high word */
        int same = 0;
        for (int i = 0; i < N; i++) same += a[i] == b[i];
        EB_CHECK(same <= 2, "variant %d: %d of %d draws equal", s, same, N);
    }
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* eb_rng_below(n) is in [0, n) and uniform. n = 10: chi-square over 10 cells of 1e5 draws, 9 degrees of
 * freedom, bound 40 (P[chi2_9 > 40] ~ 7e-6). n = 3e9: 2^32 mod n = 1294967296 values are rejected; a
 * biased x % n would put 60% of draws below that value instead of 43.2%; bound 5 s.e. = 7.8e-3. */
EB_TEST(below_in_range_and_uniform) {
    eb_rng r;
    eb_rng_init(&r, 4242);
    enum { N = 100000 };
    long cnt[10] = {0};
    for (int i = 0; i < N; i++) {
        uint32_t v = eb_rng_below(&r, 10);
        EB_CHECK(v < 10, "below(10) = %u", v);
        cnt[v]++;
    }
    double chi2 = 0;
    for (int c = 0; c < 10; c++) chi2 += (cnt[c] - N / 10.0) * (cnt[c] - N / 10.0) / (N / 10.0);
    const uint32_t big = 3000000000u, low = 1294967296u;
    long below_low = 0;
    for (int i = 0; i < N; i++) {
        uint32_t v = eb_rng_below(&r, big);
        EB_CHECK(v < big, "below(3e9) = %u", v);
        below_low += v < low;
    }
    const double frac = (double)below_low / N, want = (double)low / big;
    printf("below(10): chi2 %.2f (9 dof, bound 40); below(3e9): fraction under 2^32 mod n %.4f (want %.4f, "
           "bound 7.8e-3)\n", chi2, frac, want);
    EB_CHECK(chi2 < 40, "chi2 %.2f", chi2);
    EB_CHECK(fabs(frac - want) < 7.8e-3, "fraction %.4f", frac);
    EB_CHECK(eb_rng_below(&r, 1) == 0 && eb_rng_below(&r, 0) == 0, "below(1), below(0) must be 0");
    return EB_TEST_PASS;
}

/* The host stream: reserve returns the current counter and advances it by n; host uniforms are in [0, 1)
 * and come from the same counter space, so a device draw at a reserved offset never reuses a host block. */
EB_TEST(host_stream_reserve_and_uniform) {
    eb_rng r;
    eb_rng_init(&r, 77);
    EB_CHECK(r.seed == 77 && r.counter == 0, "init");
    (void)eb_rng_u32(&r);
    (void)eb_rng_u32(&r);
    uint64_t off = eb_rng_reserve(&r, 1000);
    EB_CHECK(off == 2 && r.counter == 1002, "reserve: offset %llu counter %llu", (unsigned long long)off,
             (unsigned long long)r.counter);
    double u = eb_rng_uniform(&r);
    EB_CHECK(u == eb_rng_uniform_at(77, 1002) && r.counter == 1003, "uniform is uniform_at(seed, counter)");
    double lo = 1, hi = 0;
    for (int i = 0; i < 100000; i++) {
        double v = eb_rng_uniform(&r);
        EB_CHECK(v >= 0 && v < 1, "host uniform %.17g outside [0, 1)", v);
        lo = fmin(lo, v);
        hi = fmax(hi, v);
    }
    EB_CHECK(lo < 1e-3 && hi > 1 - 1e-3, "range of 1e5 uniforms [%g, %g]", lo, hi);
    return EB_TEST_PASS;
}

/* ---- positions that follow the backend clock, and the draws that keep an iteration on the device ---- */

/* A draw at clock c with stride s is the draw at offset + c * s: what lets a replayed CUDA graph take
 * fresh numbers each iteration (DESIGN.md §4). */
EB_TEST(clock_moves_a_draw_by_its_stride) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    enum { N = 300 };
    static float a[N], b[N];
    int64_t clk = 0;
    EB_CHECK_OK(be.ops->clock_add(be.ctx, &clk, 3));
    EB_CHECK_OK(be.ops->clock_add(be.ctx, &clk, 4));
    EB_CHECK(clk == 7, "clock_add: 0 + 3 + 4 gave %lld", (long long)clk);
    EB_CHECK_OK(be.ops->rng_normal(be.ctx, a, N, (eb_rng_pos){17, 1000, &clk, 5000}));
    EB_CHECK_OK(be.ops->rng_normal(be.ctx, b, N, eb_rng_at(17, 1000 + 7 * 5000)));
    EB_CHECK(memcmp(a, b, sizeof a) == 0, "the clocked draw is not the draw at offset + clock * stride");
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* rng_index: floor(key * range / 2^64) with key = (w0 << 32) | w1 (ops.h), checked against eb_philox4x32
 * directly; in range; uniform over 10 cells (chi-square, 9 d.o.f., 1e5 draws, bound 40). */
EB_TEST(rng_index_is_the_documented_map_and_uniform) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    enum { N = 100000 };
    static int32_t idx[N];
    const uint64_t seed = 0xabcdef12345ull, off = 987654321ull;
    EB_CHECK_OK(be.ops->rng_index(be.ctx, idx, N, 10, eb_rng_at(seed, off)));
    long cells[10] = {0};
    for (int i = 0; i < N; i++) {
        EB_CHECK(idx[i] >= 0 && idx[i] < 10, "index %d out of [0, 10)", (int)idx[i]);
        cells[idx[i]]++;
    }
    for (int i = 0; i < 50; i++) {
        const uint64_t c = off + (uint64_t)i;
        const uint32_t ctr[4] = {(uint32_t)c, (uint32_t)(c >> 32), 0, 0}, key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
        uint32_t w[4];
        eb_philox4x32(ctr, key, w);
        const uint64_t k = ((uint64_t)w[0] << 32) | w[1];
        EB_CHECK(idx[i] == (int32_t)(((unsigned __int128)k * 10u) >> 64), "index %d differs from the formula", i);
    }
    double chi2 = 0;
    for (int k = 0; k < 10; k++) chi2 += (cells[k] - N / 10.0) * (cells[k] - N / 10.0) / (N / 10.0);
    printf("rng_index over 10 cells: chi2 = %.2f (bound 40)\n", chi2);
    EB_CHECK(chi2 < 40, "chi2 %.2f: indices not uniform", chi2);
    int32_t one;
    EB_CHECK(be.ops->rng_index(be.ctx, &one, 1, 0, eb_rng_at(1, 0)) == EB_ERR_ARG, "range 0 accepted");
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* rng_perm gives a permutation, and every one of the 6 orders of 3 elements is equally likely: 60000
 * permutations at consecutive offsets, chi-square over 6 cells (5 d.o.f., bound 30). */
EB_TEST(rng_perm_is_a_uniform_permutation) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    int32_t p[1000];
    EB_CHECK_OK(be.ops->rng_perm(be.ctx, p, 1000, eb_rng_at(3, 0)));
    static char seen[1000];
    int fixed = 0;
    for (int i = 0; i < 1000; i++) {
        EB_CHECK(p[i] >= 0 && p[i] < 1000 && !seen[p[i]], "not a permutation at %d", i);
        seen[p[i]] = 1;
        fixed += p[i] == i;
    }
    EB_CHECK(fixed < 10, "%d fixed points of 1000 (expected about 1)", fixed);
    long cells[6] = {0};
    enum { T = 60000 };
    for (int t = 0; t < T; t++) {
        int32_t q[3];
        EB_CHECK_OK(be.ops->rng_perm(be.ctx, q, 3, eb_rng_at(11, 3 * (uint64_t)t)));
        cells[q[0] * 2 + (q[1] > q[2])]++; /* first element and the order of the other two */
    }
    double chi2 = 0;
    for (int k = 0; k < 6; k++) chi2 += (cells[k] - T / 6.0) * (cells[k] - T / 6.0) / (T / 6.0);
    printf("rng_perm of 3 elements over 6 orders: chi2 = %.2f (bound 30)\n", chi2);
    EB_CHECK(chi2 < 30, "chi2 %.2f: permutations not uniform", chi2);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}
