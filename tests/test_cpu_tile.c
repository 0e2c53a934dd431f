/* The CPU GEMM tile (src/kernels/cpu/conv/tile.c) on each instruction set this CPU has (AVX-512, AVX2 + FMA, the
 * scalar fma chain): the same bits, for the tile itself and for whole conv layers through the op table. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebgan/backend.h"
#include "harness.h"
#include "kernels/cpu/conv/tile.h"

typedef char eb_assert_f32[sizeof(eb_real) == sizeof(float) ? 1 : -1]; /* test_* link the float library */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
/* in [-1, 1): the values only have to be fixed and not special */
static eb_real *rnd_buf(size_t n) { return eb_test_rand_f(n, &rng_state); }
static uint64_t fnv(uint64_t h, const void *p, size_t bytes) { /* FNV-1a over the bits */
    const unsigned char *b = p;
    for (size_t i = 0; i < bytes; i++) h = (h ^ b[i]) * 0x100000001B3ull;
    return h;
}

/* The child: one fixed input through the tile (kc 300, A through offsets, accumulating onto C) and through the
 * three conv ops of two layers (k3 s1 p1; k4 s2 p1, whose 4-wide maps take the gathers), hashed; prints
 * "<isa> <hash>". */
static int emit(void) {
    enum { KC = 300, LDA = 311 };
    eb_real *a = rnd_buf((size_t)EB_TILE_MR * LDA), *b = rnd_buf((size_t)KC * EB_TILE_NR);
    eb_real *c = rnd_buf((size_t)EB_TILE_MR * EB_TILE_NR);
    ptrdiff_t rows[EB_TILE_MR], steps[KC];
    for (int i = 0; i < EB_TILE_MR; i++) rows[i] = (ptrdiff_t)(EB_TILE_MR - 1 - i) * LDA; /* rows in reverse */
    for (int k = 0; k < KC; k++) steps[k] = (k * 7) % 301; /* steps out of order, within a row */
    EB_CHECK(a && b && c, "out of memory");
    eb_cpu_tile_gemm(KC, a, rows, steps, b, c, EB_TILE_NR, 1);
    uint64_t h = fnv(0xCBF29CE484222325ull, c, (size_t)EB_TILE_MR * EB_TILE_NR * sizeof *c);
    free(a), free(b), free(c);

    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    const eb_conv_geom layers[2] = {
        {.n = 3, .c_in = 16, .h_in = 9, .w_in = 9, .c_out = 20, .h_out = 9, .w_out = 9, .k_h = 3, .k_w = 3, .stride = 1, .pad = 1},
        {.n = 4, .c_in = 24, .h_in = 8, .w_in = 8, .c_out = 12, .h_out = 4, .w_out = 4, .k_h = 4, .k_w = 4, .stride = 2, .pad = 1},
    };
    for (int l = 0; l < 2; l++) {
        const eb_conv_geom *g = &layers[l];
        size_t nx = (size_t)g->n * g->c_in * g->h_in * g->w_in, ny = (size_t)g->n * g->c_out * g->h_out * g->w_out;
        size_t nw = (size_t)g->c_out * g->c_in * g->k_h * g->k_w;
        eb_real *x = rnd_buf(nx), *w = rnd_buf(nw), *dy = rnd_buf(ny), *y = rnd_buf(ny), *dx = rnd_buf(nx);
        eb_real *dw = rnd_buf(nw);
        EB_CHECK(x && w && dy && y && dx && dw, "out of memory");
        EB_CHECK_OK(be.ops->conv2d_forward(be.ctx, g, x, w, y, 1, 0));
        EB_CHECK_OK(be.ops->conv2d_backward_data(be.ctx, g, dy, w, dx, 1, 0));
        EB_CHECK_OK(be.ops->conv2d_backward_filter(be.ctx, g, x, dy, dw, 1, 0));
        h = fnv(h, y, ny * sizeof *y);
        h = fnv(h, dx, nx * sizeof *dx);
        h = fnv(h, dw, nw * sizeof *dw);
        free(x), free(w), free(dy), free(y), free(dx), free(dw);
    }
    eb_cpu_backend_free(&be);
    printf("%s %016llx\n", eb_cpu_tile_isa(), (unsigned long long)h);
    return EB_TEST_PASS;
}

EB_TEST(tile_gives_the_same_bits_on_every_instruction_set) {
    /* Each instruction set in a process of its own (the choice is made once per process): this program again,
     * with EBGAN_TILE_EMIT set and EBGAN_CPU_ISA unset (the widest the CPU has), avx2 and scalar. */
    if (getenv("EBGAN_TILE_EMIT")) return emit();
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return EB_TEST_SKIP; /* no /proc: cannot run itself */
    self[len] = '\0';
    const char *isas[3] = {"", "avx2", "scalar"};
    char seen[3][32], hash[3][32];
    for (int i = 0; i < 3; i++) {
        char cmd[4400];
        snprintf(cmd, sizeof cmd, "EBGAN_TILE_EMIT=1 EBGAN_CPU_ISA='%s' OMP_NUM_THREADS=2 '%s' %s", isas[i], self,
                 "tile_gives_the_same_bits_on_every_instruction_set");
        FILE *p = popen(cmd, "r");
        EB_CHECK(p, "cannot run %s", cmd);
        int got = fscanf(p, "%31s %31s", seen[i], hash[i]);
        int rc = pclose(p);
        EB_CHECK(got == 2 && rc == 0, "child for EBGAN_CPU_ISA='%s' failed (rc %d)", isas[i], rc);
        printf("  EBGAN_CPU_ISA='%s': ran %s, hash %s\n", isas[i], seen[i], hash[i]);
    }
    EB_CHECK(strcmp(seen[2], "scalar") == 0, "EBGAN_CPU_ISA=scalar ran '%s'", seen[2]);
    EB_CHECK(strcmp(seen[0], seen[2]) != 0, "only the scalar tile exists here: nothing to compare");
    for (int i = 1; i < 3; i++)
        EB_CHECK(strcmp(hash[i], hash[0]) == 0, "%s gives other bits than %s (%s vs %s)", seen[i], seen[0], hash[i],
                 hash[0]);
    return EB_TEST_PASS;
}

/* A part-filled strip (eb_cpu_tile_gemm_cols): its columns carry the bits of the full tile's, and the columns past
 * its last vector are neither read nor written. */
EB_TEST(a_narrow_tile_gives_the_full_tiles_bits_and_leaves_the_rest) {
    enum { KC = 77, LDA = 90 };
    eb_real *a = rnd_buf((size_t)EB_TILE_MR * LDA), *b = rnd_buf((size_t)KC * EB_TILE_NR);
    eb_real *c0 = rnd_buf((size_t)EB_TILE_MR * EB_TILE_NR), *full = malloc((size_t)EB_TILE_MR * EB_TILE_NR * sizeof *full);
    eb_real *part = malloc((size_t)EB_TILE_MR * EB_TILE_NR * sizeof *part);
    EB_CHECK(a && b && c0 && full && part, "out of memory");
    ptrdiff_t rows[EB_TILE_MR], steps[KC];
    for (int i = 0; i < EB_TILE_MR; i++) rows[i] = (ptrdiff_t)i * LDA;
    for (int k = 0; k < KC; k++) steps[k] = (k * 5) % LDA;
    const size_t bytes = (size_t)EB_TILE_MR * EB_TILE_NR * sizeof *full;
    for (int acc = 0; acc < 2; acc++) {
        memcpy(full, c0, bytes);
        eb_cpu_tile_gemm(KC, a, rows, steps, b, full, EB_TILE_NR, acc);
        for (int cols = 1; cols < EB_TILE_NR; cols += 7) {
            const int done = (cols + EB_TILE_VL - 1) / EB_TILE_VL * EB_TILE_VL; /* whole vectors */
            memcpy(part, c0, bytes);
            eb_cpu_tile_gemm_cols(cols, KC, a, rows, steps, b, part, EB_TILE_NR, acc);
            for (int i = 0; i < EB_TILE_MR; i++) {
                const size_t r = (size_t)i * EB_TILE_NR;
                EB_CHECK(memcmp(part + r, full + r, (size_t)done * sizeof *part) == 0,
                         "cols %d, accumulate %d: row %d differs from the full tile", cols, acc, i);
                EB_CHECK(memcmp(part + r + done, c0 + r + done, (size_t)(EB_TILE_NR - done) * sizeof *part) == 0,
                         "cols %d: row %d was written past column %d", cols, i, done);
            }
        }
    }
    free(a), free(b), free(c0), free(full), free(part);
    return EB_TEST_PASS;
}
