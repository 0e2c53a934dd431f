/* The CUDA trainer through the NCCL communicator on one GPU (`--comm nccl`, one rank: every all-reduce,
 * the z all-gather and the synchronised batch norm run for real, captured in the CUDA graph) gives the run
 * without a communicator, within a stated bound. Exit 77 without a usable GPU or an NCCL build. */
#include "ckpt_same.h"
#include "harness.h"

#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebgan/backend.h"
#include "ebgan/comm.h"
#include "ebgan/data.h"
#include "ebgan/rng.h"
#include "ebgan/safetensors.h"

static char g_exe[512], g_tmp[512];

static int setup(void) {
    char why[512];
    if (eb_cuda_devices(why, sizeof why) == 0) {
        printf("no usable CUDA GPU (%s): skipped\n", why);
        return 0;
    }
    if (!eb_comm_have_nccl()) {
        printf("no NCCL in this build: skipped\n");
        return 0;
    }
    char self[480] = "";
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    const char *bin = getenv("EBGAN_BINARY_DIR");
    snprintf(g_exe, sizeof g_exe, "%s/ebgan-gpu", bin ? bin : dirname(self));
    snprintf(g_tmp, sizeof g_tmp, "%s", getenv("OUT") ? getenv("OUT") : "/tmp");
    return access(g_exe, X_OK) == 0;
}

/* fp32 so that the two runs differ only where cuDNN may pick another algorithm and NCCL sums (one rank:
 * identity); after 5 iterations of Adam that stays below 1e-3 of each tensor's largest entry. */
#define BOUND 1e-3
#define FLAGS "train --model mnist --dataset %s/images.npy --dim 32 --batch 32 --iters 5 --n-critic 2 --log-every 1 " \
              "--ckpt-every 5 --plot-every 0 --device cuda --precision fp32 --progress 0"

EB_TEST(nccl_one_rank_training_equals_no_communicator) {
    if (!setup()) return EB_TEST_SKIP;
    char cmd[8000], pa[1300], pb[1300], worst[80] = "";
    /* 28x28 images (the mnist geometry: batch norm in G, dim's trunk), random, written here */
    enum { NI = 256 };
    static uint8_t px[NI * 28 * 28];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (uint8_t)(eb_rng_uniform_at(5, i) * 256);
    int64_t shp[4] = {NI, 1, 28, 28};
    snprintf(pa, sizeof pa, "%s/images.npy", g_tmp);
    EB_CHECK_OK(eb_npy_write(pa, EB_U8, 4, shp, px));
    snprintf(cmd, sizeof cmd, "rm -rf %s/nccl1 %s/none1 && %s " FLAGS " --comm nccl --out %s/nccl1 > %s/nccl1.log 2>&1",
             g_tmp, g_tmp, g_exe, g_tmp, g_tmp, g_tmp);
    EB_CHECK(system(cmd) == 0, "--comm nccl run failed (%s/nccl1.log)", g_tmp);
    snprintf(cmd, sizeof cmd, "grep -q 'comm nccl' %s/nccl1.log", g_tmp);
    EB_CHECK(system(cmd) == 0, "the run did not use NCCL (%s/nccl1.log)", g_tmp);
    snprintf(cmd, sizeof cmd, "%s " FLAGS " --comm none --out %s/none1 > %s/none1.log 2>&1", g_exe, g_tmp, g_tmp, g_tmp);
    EB_CHECK(system(cmd) == 0, "--comm none run failed (%s/none1.log)", g_tmp);
    snprintf(pa, sizeof pa, "%s/none1/ckpt-00000005.safetensors", g_tmp);
    snprintf(pb, sizeof pb, "%s/nccl1/ckpt-00000005.safetensors", g_tmp);
    double d = eb_test_ckpt_rel_diff(pa, pb, 0, NULL, worst, sizeof worst);
    EB_CHECK(d >= 0 && d <= BOUND, "NCCL one rank differs from no communicator by %g in %s (bound %g)", d, worst, BOUND);
    printf("nccl 1 rank vs none: max rel diff %g (%s)\n", d, worst);
    return EB_TEST_PASS;
}
