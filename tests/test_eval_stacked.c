/* Stacked-image evaluation: mode counting and KL from uniform on synthetic labels (known answers), and the
 * evaluation classifier — its file round trip, and a short training run on the real Fashion-MNIST. */
#include "harness.h"

#include "ebgan/backend.h"
#include "ebgan/classifier.h"
#include "ebgan/eval.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Every one of the 1000 modes hit exactly twice: 1000 covered, KL = 0 (each term is p log(p * 1000) with
 * p * 1000 = 1 exactly: bound 1e-15). */
EB_TEST(stacked_uniform_all_modes) {
    const size_t n = 2000;
    int32_t *y = malloc(n * 3 * sizeof *y);
    EB_CHECK(y, "oom");
    for (size_t i = 0; i < n; i++) {
        int m = (int)((i * 7919) % 1000); /* 7919 is prime to 1000: i -> m is 2-to-1 onto 0..999 */
        for (int j = 0; j < 3; j++, m /= 10) y[i * 3 + (size_t)j] = m % 10;
    }
    eb_stacked_eval ev;
    EB_CHECK_OK(eb_eval_stacked(y, n, 3, 10, &ev));
    printf("uniform over 1000 modes: covered %lld, KL %.3g (expected 1000, 0)\n", (long long)ev.modes_covered,
           ev.kl_uniform);
    EB_CHECK(ev.n_modes == 1000 && ev.modes_covered == 1000, "covered %lld of %lld", (long long)ev.modes_covered,
             (long long)ev.n_modes);
    EB_CHECK(fabs(ev.kl_uniform) < 1e-15, "KL %.17g", ev.kl_uniform);
    for (int m = 0; m < 1000; m++)
        EB_CHECK(ev.counts[m] == 2, "mode %d counted %lld times", m, (long long)ev.counts[m]);
    eb_stacked_eval_free(&ev);
    free(y);
    return EB_TEST_PASS;
}

/* Known histograms: channel j is digit j of the mode (classes (1, 2, 3) -> mode 321); 3 samples in mode 321 and
 * 1 in mode 7 give KL = 0.75 log(750) + 0.25 log(250) (bound 1e-14: a handful of roundings of numbers ~ 5);
 * 2 stacks of 4 classes check the base (classes (3, 1) -> mode 3 + 1 * 4 = 7 of 16). */
EB_TEST(stacked_known_histograms) {
    const int32_t y1[4 * 3] = {1, 2, 3, 7, 0, 0, 1, 2, 3, 1, 2, 3};
    eb_stacked_eval ev;
    EB_CHECK_OK(eb_eval_stacked(y1, 4, 3, 10, &ev));
    const double kl = 0.75 * log(750.0) + 0.25 * log(250.0);
    printf("modes {321 x3, 7 x1}: covered %lld, KL %.17g (expected 2, %.17g)\n", (long long)ev.modes_covered,
           ev.kl_uniform, kl);
    EB_CHECK(ev.modes_covered == 2 && ev.counts[321] == 3 && ev.counts[7] == 1 && ev.counts[123] == 0,
             "covered %lld, counts[321] %lld counts[7] %lld counts[123] %lld", (long long)ev.modes_covered,
             (long long)ev.counts[321], (long long)ev.counts[7], (long long)ev.counts[123]);
    EB_CHECK(fabs(ev.kl_uniform - kl) < 1e-14 * kl, "KL %.17g vs %.17g", ev.kl_uniform, kl);
    eb_stacked_eval_free(&ev);

    const int32_t y2[2 * 2] = {3, 1, 3, 1};
    EB_CHECK_OK(eb_eval_stacked(y2, 2, 2, 4, &ev));
    EB_CHECK(ev.n_modes == 16 && ev.modes_covered == 1 && ev.counts[7] == 2, "base 4: modes %lld covered %lld",
             (long long)ev.n_modes, (long long)ev.modes_covered);
    EB_CHECK(fabs(ev.kl_uniform - log(16.0)) < 1e-15 * log(16.0), "one mode of 16: KL %.17g vs log 16", ev.kl_uniform);
    eb_stacked_eval_free(&ev);
    return EB_TEST_PASS;
}

EB_TEST(stacked_rejects_bad_input) {
    const int32_t y[3] = {1, 10, 2};
    eb_stacked_eval ev;
    eb_status st = eb_eval_stacked(y, 1, 3, 10, &ev);
    printf("class 10 of 10: %s\n", eb_error_message());
    EB_CHECK(st == EB_ERR_ARG && strstr(eb_error_message(), "channel 1"), "status %d: %s", (int)st,
             eb_error_message());
    EB_CHECK(eb_eval_stacked(y, 0, 3, 10, &ev) == EB_ERR_ARG, "n = 0 must fail");
    EB_CHECK(eb_eval_stacked(y, 1, 9, 10, &ev) == EB_ERR_ARG, "10^9 modes must be refused");
    return EB_TEST_PASS;
}

/* Save / load: a freshly initialised classifier predicts the same labels from the reloaded file (the same
 * float weights: bit-identical logits), and the metadata carry the spec and the test accuracy. */
EB_TEST(classifier_file_roundtrip) {
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_classifier a, b;
    eb_shape in = {1, 28, 28};
    EB_CHECK_OK(eb_classifier_init(&a, &be, NULL, in, 16));
    const uint64_t seed = eb_test_seed((uint64_t)time(NULL)); /* weights and inputs: any draw must pass */
    printf("seed %llu\n", (unsigned long long)seed);
    eb_rng rng;
    eb_rng_init(&rng, seed);
    EB_CHECK_OK(eb_classifier_init_weights(&a, &be, &rng));
    const size_t n = 40, d = 28 * 28;
    float *x = malloc(n * d * sizeof *x);
    int32_t *la = malloc(n * sizeof *la), *lb = malloc(n * sizeof *lb);
    EB_CHECK(x && la && lb, "oom");
    uint64_t state = eb_test_rand_init(seed);
    eb_test_fill_uniform_f(x, n * d, &state);
    EB_CHECK_OK(eb_classifier_predict(&a, &be, x, n, la));
    a.test_accuracy = 0.8125;
    char path[256];
    snprintf(path, sizeof path, "/tmp/eb_test_classifier_%d.safetensors", (int)getpid());
    EB_CHECK_OK(eb_classifier_save(&a, &be, path));
    EB_CHECK_OK(eb_classifier_load(&b, &be, path, 7)); /* another batch size: predictions must not depend on it */
    EB_CHECK_OK(eb_classifier_predict(&b, &be, x, n, lb));
    unlink(path);
    int distinct = 0;
    for (size_t i = 1; i < n; i++) distinct |= la[i] != la[0];
    EB_CHECK(memcmp(la, lb, n * sizeof *la) == 0, "labels differ after the round trip");
    EB_CHECK(b.test_accuracy == 0.8125, "test accuracy from metadata %g", b.test_accuracy);
    EB_CHECK(!strcmp(b.net.spec, EB_CLASSIFIER_SPEC) && b.n_classes == 10, "spec '%s', %d classes", b.net.spec,
             b.n_classes);
    eb_classifier none; /* its own struct: loading into `b` again would drop b's buffers unfreed */
    EB_CHECK(eb_classifier_load(&none, &be, "/nonexistent/c.safetensors", 4) == EB_ERR_IO, "missing file: %s",
             eb_error_message());
    printf("round trip: %zu labels identical (%s)\n", n, distinct ? "not all the same class" : "all one class");
    free(x);
    free(la);
    free(lb);
    eb_classifier_free(&a, &be);
    eb_classifier_free(&b, &be);
    eb_cpu_backend_free(&be);
    return EB_TEST_PASS;
}

/* A short training run on the real Fashion-MNIST (skipped when the dataset is not installed): 300 Adam steps
 * of batch 64 (19200 images, a third of an epoch) must reach test accuracy > 0.75; a net that learned nothing
 * scores ~0.10, and this one reaches ~0.83 in ~17 s on 2 cores. */
EB_TEST(classifier_learns_fashion_mnist) {
    struct stat sb;
    if (stat(EB_FASHION_MNIST_DIR "/t10k-images-idx3-ubyte.gz", &sb) != 0) {
        printf("classifier_learns_fashion_mnist: %s not installed: skipped\n", EB_FASHION_MNIST_DIR);
        return EB_TEST_SKIP;
    }
    eb_dataset train, test;
    EB_CHECK_OK(eb_fashion_mnist_load(&train, 0));
    EB_CHECK_OK(eb_fashion_mnist_load(&test, 1));
    EB_CHECK(train.n == 60000 && test.n == 10000 && train.n_classes == 10, "sizes %lld %lld", (long long)train.n,
             (long long)test.n);
    eb_backend be;
    EB_CHECK_OK(eb_cpu_backend_init(&be));
    eb_classifier c;
    EB_CHECK_OK(eb_classifier_init(&c, &be, NULL, eb_dataset_shape(&train), 256));
    eb_rng rng;
    eb_rng_init(&rng, 7);
    EB_CHECK_OK(eb_classifier_init_weights(&c, &be, &rng));
    eb_classifier_train_cfg cfg = {.steps = 300, .batch = 64, .seed = 11, .lr = 1e-3, .log_every = 100};
    clock_t t0 = clock();
    EB_CHECK_OK(eb_classifier_train(&c, &be, &train, &cfg, stdout));
    double acc = 0;
    EB_CHECK_OK(eb_classifier_accuracy(&c, &be, &test, &acc));
    printf("test accuracy after %d steps of %d: %.4f (bound > 0.75), %.1f s CPU\n", cfg.steps, cfg.batch, acc,
           (double)(clock() - t0) / CLOCKS_PER_SEC);
    EB_CHECK(acc > 0.75, "test accuracy %.4f", acc);
    eb_classifier_free(&c, &be);
    eb_cpu_backend_free(&be);
    eb_dataset_free(&train);
    eb_dataset_free(&test);
    return EB_TEST_PASS;
}
