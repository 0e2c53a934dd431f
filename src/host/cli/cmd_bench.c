/* `ebgan-gpu bench`: the training iteration's speed with the installed binary alone: one option table, every
 * resolved setting on stderr, then one JSON line per measurement on stdout (README "CPU speed"). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "eb_build_info.h"
#include "ebgan/blas_core.h"
#include "ebgan/cuda.h"
#include "ebgan/json.h"
#include "ebgan/pass_model.h"
#include "ebgan/train.h"
#include "ebgan/train_bench.h"
#include "options.h"

typedef struct bench_cfg {
    char preset[512];               /* toy | mnist | cifar | a U spec string */
    char dataset[EB_CFG_PATH_MAX];  /* "" = stand-in data of the preset's shape */
    int batch, dim;                 /* 0 = the preset's */
    char device[8], precision[8], cuda_graph[8];
    int iters;                      /* timed iterations per measurement; 0 = by device and preset */
    int warmup;                     /* untimed iterations first; -1 = what the trainer needs (train_bench.h) */
    int repeat;                     /* measurements, one JSON line each */
    int threads;                    /* OpenMP and OpenBLAS threads; 0 = OpenMP's default */
    uint64_t seed;
    char penalty[16];               /* as train --penalty */
    int penalty_every;              /* as train --penalty-every: the lazy penalty's K */
} bench_cfg;

#define F(field) EB_OPT_FIELD(bench_cfg, field)
static const eb_opt g_bench_opts[] = {
    {"preset", EB_OPT_STR, F(preset), "toy", "toy | mnist | cifar | a U spec string (as train --model)"},
    {"dataset", EB_OPT_STR, F(dataset), "",
     "\"\": stand-in data of the preset's shape (toy 25gaussians, images random pixels); else as train --dataset"},
    {"batch", EB_OPT_INT, F(batch), "0", "batch size (0: the preset's, toy 256, images 64)"},
    {"dim", EB_OPT_INT, F(dim), "0", "network width (0: the preset's, 512)"},
    {"device", EB_OPT_STR, F(device), "auto", "auto | cpu | cuda"},
    {"precision", EB_OPT_STR, F(precision), "tf32", "fp32 | tf32 | bf16 (CUDA; the CPU computes in fp32)"},
    {"cuda-graph", EB_OPT_STR, F(cuda_graph), "on", "on | off: replay the iteration as a CUDA graph (CUDA)"},
    {"iters", EB_OPT_INT, F(iters), "0", "timed iterations per measurement (0: cuda 50; cpu toy 20, mnist 3, cifar 2)"},
    {"warmup", EB_OPT_INT, F(warmup), "-1",
     "untimed iterations before (-1: 1, or 3 with the CUDA graph: eager, capture, first replay)"},
    {"repeat", EB_OPT_INT, F(repeat), "1", "measurements, one JSON line each"},
    {"threads", EB_OPT_INT, F(threads), "0", "CPU threads of the kernels and OpenBLAS (0: OpenMP's default)"},
    {"seed", EB_OPT_U64, F(seed), "1", "seed of the weights and random draws"},
    {"penalty", EB_OPT_STR, F(penalty), "score", "score | wgan-gp | none (as train --penalty)"},
    {"penalty-every", EB_OPT_INT, F(penalty_every), "1",
     "K: the penalty on every K-th U step, weighted K lambda (as train; warm-up and timing take whole cycles)"},
};
#undef F
#define N_BENCH_OPTS ((int)(sizeof g_bench_opts / sizeof g_bench_opts[0]))

static const char *USAGE =
    "usage: ebgan-gpu bench [options]\n"
    "Times full training iterations (a G step and n_critic U steps, the paper's method and optimiser settings)\n"
    "after an untimed warm-up, and prints one JSON line per measurement: it/s, ms per iteration (mean and\n"
    "best), samples/s, GFLOP/s under the pass model, peak memory, threads, BLAS core, device and versions.\n"
    "Exit status 0 when every measurement ran, 1 when one failed, 2 on a usage error.";

/* The compiler that built this binary, for the JSON line. */
static const char *compiler_name(void) {
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown";
#endif
}

/* The CPU's model name from /proc/cpuinfo ("unknown" elsewhere). */
static void cpu_model_name(char *out, size_t cap) {
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        colon++;
        while (*colon == ' ') colon++;
        snprintf(out, cap, "%.*s", (int)strcspn(colon, "\n"), colon);
        break;
    }
    fclose(f);
}

/* The usage errors that need no trainer, as one line; 0 when none. */
static int bench_check(const bench_cfg *b) {
    const char *what = NULL;
    if (b->iters < 0) what = "--iters must be 0 (by device) or more";
    else if (b->warmup < -1) what = "--warmup must be -1 (what the trainer needs) or more";
    else if (b->repeat < 1) what = "--repeat must be 1 or more";
    else if (b->threads < 0) what = "--threads must be 0 (OpenMP's default) or more";
    else if (b->batch < 0 || b->dim < 0) what = "--batch and --dim must be 0 (the preset's) or more";
    else if (b->penalty_every < 1) what = "--penalty-every must be 1 or more";
    else if (!strchr(b->preset, ':') && strcmp(b->preset, "toy") && strcmp(b->preset, "mnist") &&
             strcmp(b->preset, "cifar"))
        what = "--preset must be toy, mnist, cifar or a U spec string (containing ':')";
    if (what) fprintf(stderr, "ebgan-gpu bench: %s\n", what);
    return what != NULL;
}

/* train's own defaults (its option table), then the bench's choices: no run directory, nothing written. */
static int bench_train_cfg(const bench_cfg *b, const char *dataset, eb_train_cfg *c) {
    char *argv0[] = {"ebgan-gpu", NULL};
    if (eb_cli_train_parse(1, argv0, c)) return -1;
    snprintf(c->model, sizeof c->model, "%s", b->preset);
    snprintf(c->dataset, sizeof c->dataset, "%s", dataset);
    snprintf(c->device, sizeof c->device, "%s", b->device);
    snprintf(c->precision, sizeof c->precision, "%s", b->precision);
    snprintf(c->cuda_graph, sizeof c->cuda_graph, "%s", b->cuda_graph);
    snprintf(c->tensorboard, sizeof c->tensorboard, "off");
    c->batch = b->batch;
    c->dim = b->dim;
    c->seed = b->seed;
    snprintf(c->penalty, sizeof c->penalty, "%s", b->penalty);
    c->penalty_every = b->penalty_every;
    return 0;
}

/* v to 6 significant digits: a timer's last digits are noise, and the line stays readable. */
static double sig6(double v) {
    if (!(v > 0) || !isfinite(v)) return v;
    const double scale = pow(10.0, 5 - (int)floor(log10(v)));
    return round(v * scale) / scale;
}

/* One measurement as a JSON line on stdout. */
static void bench_print(const eb_trainer *t, const bench_cfg *b, const eb_train_timing *tm, int round) {
    const eb_backend *be = &t->be;
    const int cuda = eb_backend_is_cuda(be);
    const double flops = eb_pass_model_flops(&t->gan, t->cfg.batch, t->cfg.n_critic);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru); /* ru_maxrss: KiB on Linux */
    char cpu[256], gpu[256] = "";
    cpu_model_name(cpu, sizeof cpu);
    eb_json_line l;
    eb_json_line_begin(&l);
    eb_json_line_str(&l, "impl", "ebgan");
    eb_json_line_str(&l, "model", b->preset);
    eb_json_line_str(&l, "device", cuda ? "cuda" : "cpu");
    eb_json_line_str(&l, "backend", be->ops->name);
    eb_json_line_str(&l, "precision", cuda ? t->cfg.precision : "fp32");
    eb_json_line_bool(&l, "cuda_graph", t->use_graph);
    eb_json_line_int(&l, "batch", t->cfg.batch);
    eb_json_line_int(&l, "dim", t->cfg.dim);
    eb_json_line_int(&l, "z_dim", t->cfg.z_dim);
    eb_json_line_int(&l, "n_critic", t->cfg.n_critic);
    eb_json_line_str(&l, "penalty", t->cfg.penalty);
    eb_json_line_int(&l, "penalty_every", t->cfg.penalty_every);
    eb_json_line_int(&l, "round", round);
    eb_json_line_int(&l, "warmup", b->warmup);
    eb_json_line_int(&l, "iters", tm->iters);
    eb_json_line_num(&l, "it_per_s", sig6(1.0 / tm->mean_s));
    eb_json_line_num(&l, "ms_per_it", sig6(1e3 * tm->mean_s));
    eb_json_line_num(&l, "min_ms_per_it", sig6(1e3 * tm->best_s));
    eb_json_line_num(&l, "samples_per_s", sig6(t->cfg.batch / tm->mean_s));
    eb_json_line_num(&l, "gflop_per_it", sig6(flops * 1e-9));
    eb_json_line_num(&l, "gflop_per_s", sig6(flops * 1e-9 / tm->mean_s));
    eb_json_line_num(&l, "peak_rss_mb", (double)ru.ru_maxrss / 1024.0);
    size_t free_b = 0, total_b = 0;
    if (cuda && eb_cuda_mem_info(be, &free_b, &total_b) == EB_OK) /* no allocation in the step: after = peak */
        eb_json_line_num(&l, "gpu_mem_used_mb", (double)(total_b - free_b) / (1024.0 * 1024.0));
    eb_json_line_int(&l, "threads", omp_get_max_threads());
    eb_json_line_str(&l, "blas_core", eb_blas_core_name());
    eb_json_line_str(&l, "blas", eb_blas_config());
    eb_json_line_str(&l, "cpu", cpu);
    if (cuda) {
        int major = 0, minor = 0, drv = 0, rt = 0;
        size_t mem = 0;
        if (eb_cuda_device_info(0, gpu, sizeof gpu, &major, &minor, &mem) != EB_OK) gpu[0] = '\0';
        eb_cuda_versions(&drv, &rt);
        eb_json_line_str(&l, "gpu", gpu);
        eb_json_line_int(&l, "cuda_driver", drv);
        eb_json_line_int(&l, "cuda_runtime", rt);
    }
    eb_json_line_str(&l, "commit", EB_BUILD_COMMIT);
    eb_json_line_str(&l, "compiler", compiler_name());
    eb_json_line_end(&l);
    printf("%s\n", l.buf);
    fflush(stdout);
}

/* Times the iteration `b->repeat` times on the trainer; 0 when every measurement ran. */
static int bench_measure(eb_trainer *t, bench_cfg *b) {
    for (int r = 0; r < b->repeat; r++) {
        eb_train_timing tm;
        /* the warm-up once: later rounds continue in steady state */
        if (eb_train_bench_time(t, r == 0 ? b->warmup : 0, b->iters, &tm) != EB_OK) {
            fprintf(stderr, "ebgan-gpu bench: %s\n", eb_error_message());
            return 1;
        }
        bench_print(t, b, &tm, r + 1);
    }
    return 0;
}

int eb_cli_bench(int argc, char **argv) {
    bench_cfg b;
    char err[1200];
    memset(&b, 0, sizeof b);
    const int prc = eb_opts_parse(g_bench_opts, N_BENCH_OPTS, &b, argc, argv, USAGE, err, sizeof err);
    if (prc == 1) return 0;
    if (prc < 0) {
        fprintf(stderr, "ebgan-gpu bench: %s\n", err);
        return 2;
    }
    if (bench_check(&b)) return 2;
    if (b.threads > 0) {
        omp_set_num_threads(b.threads);
        eb_blas_threads_set(b.threads);
    }
    /* stand-in images: a temp .npy of the preset's shape (its pixels do not change the speed) */
    char dir[] = "/tmp/ebgan_bench_XXXXXX", npy[64] = "", dataset[EB_CFG_PATH_MAX];
    const int images = !strcmp(b.preset, "mnist") || !strcmp(b.preset, "cifar");
    snprintf(dataset, sizeof dataset, "%s", b.dataset[0] ? b.dataset : "25gaussians");
    if (!b.dataset[0] && images) {
        const int hw = !strcmp(b.preset, "mnist") ? 28 : 32;
        if (!mkdtemp(dir)) {
            perror("ebgan-gpu bench: mkdtemp");
            return 1;
        }
        snprintf(npy, sizeof npy, "%s/images.npy", dir);
        if (eb_npy_write_random_images(npy, 256, 3, hw, hw, 12345) != EB_OK) {
            fprintf(stderr, "ebgan-gpu bench: %s\n", eb_error_message());
            rmdir(dir);
            return 1;
        }
        snprintf(dataset, sizeof dataset, "%s", npy);
    }
    eb_train_cfg cfg;
    eb_trainer t;
    const char *notice = NULL;
    int rc = bench_train_cfg(&b, dataset, &cfg) ? 2 : 0;
    if (!rc && eb_trainer_init(&t, &cfg, &notice) != EB_OK) {
        fprintf(stderr, "ebgan-gpu bench: %s\n", eb_error_message());
        rc = 1;
    }
    if (npy[0]) { /* the trainer holds the images in memory */
        unlink(npy);
        rmdir(dir);
    }
    if (rc) return rc;
    if (notice) fprintf(stderr, "ebgan-gpu bench: %s\n", notice);
    /* every setting resolved: what was asked for "0" / "auto" is what runs */
    const int cuda = eb_backend_is_cuda(&t.be);
    snprintf(b.device, sizeof b.device, "%s", cuda ? "cuda" : "cpu");
    b.batch = t.cfg.batch;
    b.dim = t.cfg.dim;
    if (b.iters == 0) b.iters = cuda ? 50 : !strcmp(t.preset.family, "toy") ? 20 : !strcmp(t.preset.family, "mnist") ? 3 : 2;
    if (b.warmup < 0) b.warmup = eb_train_bench_warmup(&t);
    if (b.threads == 0) b.threads = omp_get_max_threads();
    if (!cuda) { /* the CPU computes in fp32, eagerly */
        snprintf(b.precision, sizeof b.precision, "fp32");
        snprintf(b.cuda_graph, sizeof b.cuda_graph, "off");
    }
    if (npy[0]) snprintf(b.dataset, sizeof b.dataset, "random pixels [256, %d, %d, %d]", t.preset.data.c,
                                 t.preset.data.h, t.preset.data.w);
    else if (!b.dataset[0]) snprintf(b.dataset, sizeof b.dataset, "%s", dataset);
    const char *wait = getenv("OMP_WAIT_POLICY");
    fprintf(stderr, "ebgan-gpu bench: resolved settings:\n");
    eb_opts_print(g_bench_opts, N_BENCH_OPTS, &b, stderr, "  ");
    fprintf(stderr, "  (run) backend %s, BLAS core %s (%s), OMP_WAIT_POLICY %s, commit %s, %s\n", t.be.ops->name,
            eb_blas_core_name(), eb_blas_config(), wait ? wait : "unset", EB_BUILD_COMMIT[0] ? EB_BUILD_COMMIT : "unknown",
            compiler_name());
    rc = bench_measure(&t, &b);
    eb_trainer_free(&t);
    return rc;
}
