/* The OpenBLAS core type: which kernel set a set of CPU features maps to (a pure function), that ebgan-gpu
 * runs AVX2-or-wider kernels on a CPU that has them whatever OpenBLAS's model table says, that a user's own
 * OPENBLAS_CORETYPE wins, and that config.txt names the core in a comment that resume reads past. */
#include "cli_util.h"
#include "harness.h"

#include <strings.h>
#include <sys/wait.h>

#include "ebgan/blas_core.h"

static eb_cpu_features avx512_cpu(void) {
    eb_cpu_features f = {.avx = 1, .fma = 1, .avx2 = 1, .avx512f = 1, .avx512dq = 1, .avx512bw = 1, .avx512vl = 1,
                         .os_avx = 1, .os_avx512 = 1};
    return f;
}

static int names(const char *got, const char *want) { return got && want && !strcasecmp(got, want); }

EB_TEST(avx512_f_bw_vl_dq_with_the_os_zmm_state_map_to_skylakex) {
    eb_cpu_features f = avx512_cpu();
    EB_CHECK(names(eb_blas_core_for(&f), "SkylakeX"), "got %s", eb_blas_core_for(&f));
    return EB_TEST_PASS;
}

EB_TEST(avx512_without_the_os_zmm_state_or_without_bw_maps_to_haswell) {
    eb_cpu_features f = avx512_cpu();
    f.os_avx512 = 0; /* an OS (or hypervisor) that does not save the ZMM registers */
    EB_CHECK(names(eb_blas_core_for(&f), "Haswell"), "no OS state: got %s", eb_blas_core_for(&f));
    f = avx512_cpu();
    f.avx512bw = 0; /* AVX-512 F alone (Knights Landing): not SkylakeX's instruction set */
    EB_CHECK(names(eb_blas_core_for(&f), "Haswell"), "no BW: got %s", eb_blas_core_for(&f));
    return EB_TEST_PASS;
}

EB_TEST(avx2_with_fma_maps_to_haswell) {
    eb_cpu_features f = {.avx = 1, .fma = 1, .avx2 = 1, .os_avx = 1};
    EB_CHECK(names(eb_blas_core_for(&f), "Haswell"), "got %s", eb_blas_core_for(&f));
    return EB_TEST_PASS;
}

EB_TEST(avx_without_avx2_maps_to_sandybridge) {
    eb_cpu_features f = {.avx = 1, .os_avx = 1};
    EB_CHECK(names(eb_blas_core_for(&f), "SandyBridge"), "got %s", eb_blas_core_for(&f));
    f.fma = 1; /* FMA without AVX2 (AMD Piledriver) still has no AVX2 kernels */
    EB_CHECK(names(eb_blas_core_for(&f), "SandyBridge"), "with FMA: got %s", eb_blas_core_for(&f));
    return EB_TEST_PASS;
}

EB_TEST(no_avx_or_no_os_avx_state_leaves_openblas_to_choose) {
    eb_cpu_features none = {0};
    EB_CHECK(eb_blas_core_for(&none) == NULL, "no features: got %s", eb_blas_core_for(&none));
    eb_cpu_features f = avx512_cpu();
    f.os_avx = f.os_avx512 = 0; /* the CPU has AVX but the OS does not save the YMM state */
    EB_CHECK(eb_blas_core_for(&f) == NULL, "no OS AVX state: got %s", eb_blas_core_for(&f));
    EB_CHECK(eb_blas_core_choose(&none, "Prescott") == NULL, "a pre-AVX CPU keeps OpenBLAS's Prescott");
    return EB_TEST_PASS;
}

EB_TEST(choose_replaces_a_narrower_pick_and_keeps_one_as_wide) {
    eb_cpu_features f = avx512_cpu();
    /* OpenBLAS 0.3.21 on a model it does not know (family 6 model 207): its SSE3 kernels */
    EB_CHECK(names(eb_blas_core_choose(&f, "Prescott"), "SkylakeX"), "Prescott on AVX-512");
    EB_CHECK(names(eb_blas_core_choose(&f, "Haswell"), "SkylakeX"), "Haswell on AVX-512");
    EB_CHECK(eb_blas_core_choose(&f, "Cooperlake") == NULL, "a known AVX-512 model's own pick stays");
    EB_CHECK(eb_blas_core_choose(&f, "SKYLAKEX") == NULL, "names compare without case");
    eb_cpu_features h = {.avx = 1, .fma = 1, .avx2 = 1, .os_avx = 1};
    EB_CHECK(eb_blas_core_choose(&h, "Zen") == NULL, "Zen (AVX2 kernels tuned for AMD) stays");
    EB_CHECK(names(eb_blas_core_choose(&h, "Sandybridge"), "Haswell"), "Sandybridge on AVX2");
    EB_CHECK(names(eb_blas_core_choose(&h, "unknown"), "Haswell"), "an unknown name counts as pre-AVX");
    return EB_TEST_PASS;
}

static char g_exe[2048], g_tmp[2048], g_log[2200];

/* ebgan-gpu bench on a small toy net with OPENBLAS_CORETYPE = core (NULL: unset, as a user who never heard
 * of it); the core its JSON line names in out. 0 on success. */
static int bench_core(const char *core, char *out, size_t cap) {
    if (core) setenv("OPENBLAS_CORETYPE", core, 1);
    else unsetenv("OPENBLAS_CORETYPE");
    char *args[] = {g_exe, "bench", "--preset", "toy", "--dim", "16", "--batch", "8", "--iters", "1", "--device",
                    "cpu", NULL};
    pid_t pid = eb_test_spawn_logged(g_exe, args, g_log, 0);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
    FILE *f = fopen(g_log, "rb");
    if (!f) return -1;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *key = "\"blas_core\":\"", *at = strstr(buf, key);
    if (!at) return -1;
    at += strlen(key);
    snprintf(out, cap, "%.*s", (int)strcspn(at, "\""), at);
    return 0;
}

/* Whether this OpenBLAS can switch kernel sets at all (a DYNAMIC_ARCH build) and the executable is there. */
static int cli_ready(const char *tmp_name) {
    if (!strstr(eb_blas_config(), "DYNAMIC_ARCH")) return 0;
    if (!eb_test_cli_locate(g_exe, sizeof g_exe, g_tmp, sizeof g_tmp, tmp_name)) return 0;
    snprintf(g_log, sizeof g_log, "%s/log", g_tmp);
    return 1;
}

EB_TEST(cli_runs_avx2_or_wider_kernels_on_a_cpu_with_avx2_and_fma) {
    eb_cpu_features f;
    eb_cpu_features_detect(&f);
    if (!(f.avx2 && f.fma && f.os_avx)) return EB_TEST_SKIP; /* nothing to choose on an older CPU */
    if (!cli_ready("test-blas-core-cpu")) return EB_TEST_SKIP;
    char core[64];
    EB_CHECK(bench_core(NULL, core, sizeof core) == 0, "bench failed (%s)", g_log);
    EB_CHECK(eb_blas_core_level(core) >= eb_blas_core_level(eb_blas_core_for(&f)),
             "core %s is narrower than this CPU's %s", core, eb_blas_core_for(&f));
    EB_CHECK(eb_blas_core_level(core) >= 2, "core %s is a pre-AVX2 kernel set", core);
    return EB_TEST_PASS;
}

EB_TEST(a_users_own_openblas_coretype_wins) {
    if (!cli_ready("test-blas-core-user")) return EB_TEST_SKIP;
    char core[64];
    EB_CHECK(bench_core("Prescott", core, sizeof core) == 0, "bench failed (%s)", g_log);
    EB_CHECK(!strcasecmp(core, "Prescott"), "asked for Prescott, ran %s", core);
    return EB_TEST_PASS;
}

EB_TEST(config_txt_names_the_blas_core_and_resume_reads_past_it) {
    if (!eb_test_cli_locate(g_exe, sizeof g_exe, g_tmp, sizeof g_tmp, "test-blas-core-config")) return EB_TEST_SKIP;
    char cmd[9000], path[2400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/run' && '%s' train --dim 16 --batch 16 --iters 2 --ckpt-every 2 "
             "--plot-every 0 --device cpu --progress 0 --out '%s/run' > '%s/log' 2>&1", g_tmp, g_exe, g_tmp, g_tmp);
    EB_CHECK(system(cmd) == 0, "train failed (%s/log)", g_tmp);
    snprintf(path, sizeof path, "%s/run/config.txt", g_tmp);
    EB_CHECK(eb_test_file_has(path, "\n# BLAS core "), "%s has no BLAS core line", path);
    snprintf(cmd, sizeof cmd, "'%s' train --resume '%s/run' --iters 3 --progress 0 > '%s/log' 2>&1", g_exe, g_tmp,
             g_tmp);
    EB_CHECK(system(cmd) == 0, "resume failed (%s/log)", g_tmp);
    snprintf(path, sizeof path, "%s/log", g_tmp);
    EB_CHECK(!eb_test_file_has(path, "differs"), "resume reported a changed configuration (%s)", path);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "cleanup of %s failed\n", g_tmp);
    return EB_TEST_PASS;
}
