/* TensorBoard event files: CRC-32C against published vectors, and what we write read back by TensorBoard's
 * own reader (tensorboard's EventAccumulator): every scalar and every image equal; errors name the cause. */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ebgan/png_write.h"
#include "ebgan/tfevents.h"
#include "harness.h"

/* (names without "tfevents": TensorBoard takes any path containing it for an event file) */
static void scratch(char *dir, size_t cap, const char *name) {
    const char *bin = getenv("EBGAN_BINARY_DIR");
    snprintf(dir, cap, "%s/test-runs/%s", bin ? bin : ".", name);
    char cmd[2 * 1024 + 64]; /* two paths of up to `cap` (1024) bytes */
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not reset %s\n", dir);
}

/* RFC 3720 (iSCSI) appendix B.4 and the usual check value. */
EB_TEST(crc32c_matches_published_vectors) {
    uint8_t zeros[32] = {0}, ones[32], inc[32], dec[32];
    for (int i = 0; i < 32; i++) ones[i] = 0xFF, inc[i] = (uint8_t)i, dec[i] = (uint8_t)(31 - i);
    EB_CHECK(eb_crc32c("123456789", 9) == 0xE3069283u, "check value: %08x", eb_crc32c("123456789", 9));
    EB_CHECK(eb_crc32c(zeros, 32) == 0x8A9136AAu, "32 zeros: %08x", eb_crc32c(zeros, 32));
    EB_CHECK(eb_crc32c(ones, 32) == 0x62A8AB43u, "32 x 0xff: %08x", eb_crc32c(ones, 32));
    EB_CHECK(eb_crc32c(inc, 32) == 0x46DD794Eu, "0..31: %08x", eb_crc32c(inc, 32));
    EB_CHECK(eb_crc32c(dec, 32) == 0x113FDB5Cu, "31..0: %08x", eb_crc32c(dec, 32));
    EB_CHECK(eb_crc32c("", 0) == 0, "empty: %08x", eb_crc32c("", 0));
    /* TFRecord's mask of crc 0 is the constant alone */
    EB_CHECK(eb_crc32c_masked("", 0) == 0xA282EAD8u, "masked empty: %08x", eb_crc32c_masked("", 0));
    uint32_t c = 0xE3069283u, m = ((c >> 15) | (c << 17)) + 0xA282EAD8u;
    EB_CHECK(eb_crc32c_masked("123456789", 9) == m, "masked check value");
    return EB_TEST_PASS;
}

static int have_tensorboard(void) {
    return system("python3 -c 'from tensorboard.backend.event_processing import event_accumulator' >/dev/null 2>&1") == 0;
}

/* Scalars over many steps (values of every magnitude and sign, tags grouped), a restart marker, a gray and
 * an RGB PNG (long enough for multi-byte varint lengths): tensorboard reads each back exactly. */
EB_TEST(tensorboard_reads_back_every_scalar_and_image) {
    if (!have_tensorboard()) {
        printf("  python3 with the tensorboard package not importable: skipped\n");
        return EB_TEST_SKIP;
    }
    char dir[1024], path[1200];
    scratch(dir, sizeof dir, "tb-events-readback");
    snprintf(path, sizeof path, "%s/expected.txt", dir);
    FILE *exp = fopen(path, "w");
    EB_CHECK(exp, "open %s", path);
    eb_tfevents w;
    EB_CHECK_OK(eb_tfevents_open(&w, dir, 1700000000.25));
    const char *tags[4] = {"loss/u_loss", "energy/u_real", "speed/it_per_s", "a tag with spaces/and é"};
    /* a first session logs steps 0..297; a resumed one restarts after step 150 (SessionLog START at 151)
     * and logs 151..297 again with other values: the reader keeps the first session's steps <= 150 and the
     * second session's after. The second session leaves out the last tag: only START (not the reader's
     * per-tag out-of-order rule) drops that tag's steps >= 151. */
    for (int session = 0; session < 2; session++) {
        int64_t first = session ? 151 : 0;
        if (session) EB_CHECK_OK(eb_tfevents_session_start(&w, first, 1700001000.0));
        for (int64_t step = first; step < 300; step += 3) {
            eb_tb_scalar v[4];
            const int n_tags = session ? 3 : 4;
            for (int k = 0; k < n_tags; k++) {
                double x = (k == 0) ? -1.0 / (double)(step + 1) : (k == 1) ? 1e-30 * (double)step
                         : (k == 2) ? 1e30 : step * 0.1;
                v[k] = (eb_tb_scalar){tags[k], x + 1000.0 * session};
                if (session == 1 || step < 151) /* what the reader must show */
                    fprintf(exp, "scalar\t%s\t%lld\t%.9g\n", tags[k], (long long)step, (double)(float)v[k].value);
            }
            EB_CHECK_OK(eb_tfevents_scalars(&w, step, 1700000000.0 + (double)step, v, n_tags));
        }
    }
    for (int c = 1; c <= 3; c += 2) {
        int W = 161, H = 121; /* noise: incompressible, so the PNG is larger than 16 KiB */
        uint8_t *px = malloc((size_t)W * H * c);
        uint32_t r = 12345u + (uint32_t)c;
        for (int i = 0; i < W * H * c; i++) r = r * 1664525u + 1013904223u, px[i] = (uint8_t)(r >> 24);
        void *png;
        size_t bytes;
        EB_CHECK_OK(eb_png_encode(px, W, H, c, &png, &bytes));
        EB_CHECK(bytes > 16384, "PNG of %zu bytes: expected a 3-byte varint length", bytes);
        char pp[1300];
        snprintf(pp, sizeof pp, "%s/image%d.png", dir, c);
        FILE *f = fopen(pp, "wb");
        EB_CHECK(f && fwrite(png, 1, bytes, f) == bytes && fclose(f) == 0, "write %s", pp);
        for (int64_t step = 100; step <= 200; step += 100) {
            EB_CHECK_OK(eb_tfevents_image(&w, step, 1700000500.0, c == 1 ? "images/gray" : "images/rgb", png, bytes,
                                          W, H, c));
            fprintf(exp, "image\t%s\t%lld\t%s\t%d\t%d\n", c == 1 ? "images/gray" : "images/rgb", (long long)step, pp, W, H);
        }
        free(png);
        free(px);
    }
    fclose(exp);
    eb_tfevents_close(&w);
    const char *src = getenv("EBGAN_SOURCE_DIR");
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/py/check_tfevents.py' '%s' '%s'", src ? src : "..", dir, path);
    int rc = system(cmd);
    EB_CHECK(rc == 0, "tensorboard's reader disagrees (status %d); files in %s", rc, dir);
    return EB_TEST_PASS;
}

/* A directory that cannot exist (below a regular file): EB_ERR_IO naming the path and the cause. */
EB_TEST(unwritable_tensorboard_dir_is_io_error_naming_it) {
    char dir[1024], bad[1200];
    scratch(dir, sizeof dir, "tb-events-unwritable");
    snprintf(bad, sizeof bad, "%s/plainfile", dir);
    FILE *f = fopen(bad, "w");
    EB_CHECK(f && fclose(f) == 0, "create %s", bad);
    strcat(bad, "/tb");
    eb_tfevents w;
    eb_status st = eb_tfevents_open(&w, bad, 1.0);
    EB_CHECK(st == EB_ERR_IO, "status %d", (int)st);
    const char *msg = eb_error_message();
    EB_CHECK(strstr(msg, "plainfile") && strstr(msg, "Not a directory") && !strchr(msg, '\n'), "message: %s", msg);
    EB_CHECK(w.fp == NULL, "no file left open");
    return EB_TEST_PASS;
}
