/* `ebgan-gpu train`: parses the one option table, prints every resolved setting, writes config.txt and
 * runs the trainer. The only place (with main.c) that turns a status into an exit code. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ebgan/atomic_file.h"
#include "ebgan/blas_core.h"
#include "ebgan/safetensors.h"
#include "ebgan/slurm.h"
#include "ebgan/stop_signal.h"
#include "ebgan/train.h"
#include "ebgan/watchdog.h"
#include "options.h"

#define F(field) EB_OPT_FIELD(eb_train_cfg, field)
static const eb_opt g_train_opts[] = {
    {"model", EB_OPT_STR, F(model), "toy", "toy | mnist | cifar | a U spec string (see README)"},
    {"dataset", EB_OPT_STR, F(dataset), "25gaussians",
     "8gaussians | 25gaussians | swissroll | fashion-mnist | FILE.npy | IDX file | cifar10:DIR"},
    {"stack", EB_OPT_INT, F(stack), "0", "stack K random images into K channels (StackedMNIST: 3)"},
    {"z-dim", EB_OPT_INT, F(z_dim), "0", "latent size (0: the preset's, toy 2, images 128)"},
    {"dim", EB_OPT_INT, F(dim), "0", "network width (0: the preset's, 512)"},
    {"penalty", EB_OPT_STR, F(penalty), "score", "score | wgan-gp | none"},
    {"lambda", EB_OPT_DBL, F(lambda), "-1",
     "penalty weight on the full per-sample norm (<0: the preset's; toy 0.1, images 10/(H*W))"},
    {"penalty-every", EB_OPT_INT, F(penalty_every), "1",
     "K: the penalty on every K-th U step only, weighted K*lambda (lazy, as StyleGAN2's R1; 1: every step)"},
    {"entropy", EB_OPT_STR, F(entropy), "dim", "dim | infogan | vera | none"},
    {"mi-weight", EB_OPT_DBL, F(mi_weight), "1", "weight of the entropy surrogate (infogan: lambda2, vera: lambda_H)"},
    {"vera-k", EB_OPT_INT, F(vera_k), "20", "vera: importance samples of the posterior per fake"},
    {"vera-sigma-min", EB_OPT_DBL, F(vera_sigma_min), "0.01", "vera: lower clamp of the generator's output noise"},
    {"vera-sigma-max", EB_OPT_DBL, F(vera_sigma_max), "0.3", "vera: upper clamp of the generator's output noise"},
    {"vera-eta-init", EB_OPT_DBL, F(vera_eta_init), "0.5", "vera: the posterior's starting scale"},
    {"vera-post-lr", EB_OPT_DBL, F(vera_post_lr), "1e-3", "vera: the posterior's Adam learning rate"},
    {"n-critic", EB_OPT_INT, F(n_critic), "5", "U steps per G step"},
    {"train-mcmc", EB_OPT_INT, F(train_mcmc), "0", "MALA steps on the fakes' latents before each U step (0: off)"},
    {"train-mcmc-alpha", EB_OPT_DBL, F(train_mcmc_alpha), "0.01", "step size of those MALA steps (beta 1, Gaussian prior)"},
    {"batch", EB_OPT_INT, F(batch), "0", "batch size (0: the preset's, toy 256, images 64)"},
    {"iters", EB_OPT_I64, F(iters), "100000", "G iterations (the paper's 100000)"},
    {"lr", EB_OPT_DBL, F(lr), "1e-4", "Adam learning rate, all networks"},
    {"lr-decay", EB_OPT_STR, F(lr_decay), "none", "none | linear (lr falls linearly to 0 at --iters)"},
    {"on-divergence", EB_OPT_STR, F(on_divergence), "stop",
     "stop | rollback[:N]: at a non-finite loss, gradient or weight, exit 1, or go back to the newest good "
     "checkpoint on fresh random draws, at most N times (rollback: 3)"},
    {"g-ema", EB_OPT_DBL, F(g_ema), "0",
     "decay of the generator's moving average, kept beside G and used by sample and eval (0: off; e.g. 0.999)"},
    {"beta1", EB_OPT_DBL, F(beta1), "0.5", "Adam beta1"},
    {"beta2", EB_OPT_DBL, F(beta2), "0.9", "Adam beta2"},
    {"eps", EB_OPT_DBL, F(eps), "1e-8", "Adam epsilon"},
    {"seed", EB_OPT_U64, F(seed), "1", "seed of every random draw (Philox stream)"},
    {"out", EB_OPT_STR, F(out), "", "run directory (default runs/<timestamp>)"},
    {"resume", EB_OPT_STR, F(resume), "",
     "continue the run in this directory from its last checkpoint; auto: --out's run if it has one, else start it"},
    {"resume-intact", EB_OPT_INT, F(resume_intact), "0",
     "1: when the newest checkpoint is damaged, --resume continues from the newest intact one"},
    {"requeue-signal", EB_OPT_STR, F(requeue_signal), "USR1",
     "signal that stops with a checkpoint and exit status 4 (SLURM --signal); none to disable"},
    {"log-every", EB_OPT_INT, F(log_every), "50", "steps between metrics lines"},
    {"ckpt-every", EB_OPT_INT, F(ckpt_every), "500", "steps between checkpoints (and one at the end)"},
    {"keep", EB_OPT_INT, F(keep), "3", "checkpoints kept"},
    {"plot-every", EB_OPT_INT, F(plot_every), "500", "steps between pictures (and one at the end)"},
    {"eval-every", EB_OPT_INT, F(eval_every), "0",
     "steps between evaluations during training into metrics and TensorBoard (fixed z; 0: off)"},
    {"eval-n", EB_OPT_INT, F(eval_n), "0", "samples of those evaluations (0: eval's default)"},
    {"eval-classifier", EB_OPT_STR, F(eval_classifier), "",
     "stacked images: the classifier file those evaluations need (made by train-classifier)"},
    {"tensorboard", EB_OPT_STR, F(tensorboard), "on",
     "on (event file in the run directory) | off | DIR (event file in DIR)"},
    {"holdout-class", EB_OPT_STR, F(holdout_class), "",
     "anomaly protocol: hold this class out, train on 80% of the others (see README; \"\": off)"},
    {"device", EB_OPT_STR, F(device), "auto", "auto | cpu | cuda"},
    {"precision", EB_OPT_STR, F(precision), "tf32", "fp32 | tf32 | bf16 (CUDA)"},
    {"cuda-graph", EB_OPT_STR, F(cuda_graph), "on", "on | off: capture one iteration as a CUDA graph and replay it (CUDA)"},
    {"conv-algo", EB_OPT_STR, F(conv_algo), "heuristic", "heuristic | search: cuDNN algorithm choice; heuristic is reproducible across processes, search times candidates (CUDA; recorded in checkpoints)"},
    {"progress", EB_OPT_INT, F(progress), "-1", "-1 auto (live line on a terminal), 0 log lines, 1 live line"},
    {"rank", EB_OPT_INT, F(rank), "-1", "this process's rank (-1: RANK, SLURM_PROCID or OMPI_COMM_WORLD_RANK)"},
    {"world-size", EB_OPT_INT, F(world_size), "-1", "processes in the job (-1: WORLD_SIZE, SLURM_NTASKS, OMPI_...)"},
    {"local-rank", EB_OPT_INT, F(local_rank), "-1", "rank on this node = GPU index (-1: LOCAL_RANK, SLURM_LOCALID, ...)"},
    {"comm", EB_OPT_STR, F(comm), "auto", "auto | none | mpi | nccl: collectives of a multi-rank job"},
    {"comm-timeout", EB_OPT_DBL, F(comm_timeout), "900",
     "seconds without a finished iteration before a rank of a multi-rank job exits (a peer died or hangs)"},
};
#undef F
#define N_TRAIN_OPTS ((int)(sizeof g_train_opts / sizeof g_train_opts[0]))

/* The options that may differ on --resume: the run's length, cadence and execution, none of which changes
 * the method or the data stream. Every other option given with --resume must equal the run's value. */
static const char *const k_resume_ok[] = {"iters", "log-every", "ckpt-every", "keep", "plot-every", "tensorboard", "device",
                                          "precision", "cuda-graph", "conv-algo", "progress", "requeue-signal",
                                          "resume-intact",
                                          /* evaluation during training reads the run, it does not change it */
                                          "eval-every", "eval-n", "eval-classifier",
                                          /* per process (job_settings): a run resumes on any world size */
                                          "rank", "world-size", "local-rank", "comm", "comm-timeout"};

static int resume_ok(const char *name) {
    for (size_t i = 0; i < sizeof k_resume_ok / sizeof k_resume_ok[0]; i++)
        if (!strcmp(k_resume_ok[i], name)) return 1;
    return 0;
}

static const char *USAGE =
    "usage: ebgan-gpu train [options]\n"
    "Trains an energy-based GAN (MEG). With no options: the toy preset on 25gaussians.\n"
    "With --resume DIR only these may change: --iters (not below the current step), --log-every, --ckpt-every,\n"
    "--keep, --plot-every, --eval-every, --eval-n, --eval-classifier, --tensorboard, --device, --precision,\n"
    "--cuda-graph, --conv-algo, --progress, --requeue-signal, --resume-intact; any other option must equal the\n"
    "run's value.\n"
    "SIGTERM, SIGINT, SIGHUP: checkpoint and exit 3; the requeue signal: checkpoint and exit 4; a second SIGINT:\n"
    "exit 130 at once.";

/* --resume: the run's own settings (as its newest checkpoint embeds them), then the options that may change on
 * resume (k_resume_ok); any other option given with a different value is an error, since the run
 * could not continue exactly (README "Output formats"). */
static int resume_config(int argc, char **argv, eb_train_cfg *cfg) {
    eb_train_cfg cl = *cfg;
    const char *dir = cl.resume;
    char err[1200], ck[EB_CFG_PATH_MAX + 80], note[1400], path[EB_CFG_PATH_MAX + 16];
    unsigned char given[N_TRAIN_OPTS];
    int config_given = 0;
    eb_opts_given(g_train_opts, N_TRAIN_OPTS, argc, argv, given, &config_given);
    if (config_given) {
        fprintf(stderr, "ebgan-gpu train: --config cannot be combined with --resume: the run's settings are "
                        "fixed by its checkpoint (--help marks what may change on --resume)\n");
        return -1;
    }
    if (eb_ckpt_find(dir, cl.resume_intact, ck, sizeof ck, note, sizeof note) != EB_OK) {
        fprintf(stderr, "ebgan-gpu train: --resume %s: %s\n", dir, eb_error_message());
        return -1;
    }
    eb_safetensors st;
    if (eb_safetensors_open(&st, ck) != EB_OK) {
        fprintf(stderr, "ebgan-gpu train: --resume %s: %s\n", dir, eb_error_message());
        return -1;
    }
    const char *emb = eb_safetensors_meta(&st, "config"), *stp = eb_safetensors_meta(&st, "step");
    char *embedded = emb && emb[0] ? strdup(emb) : NULL;
    long long ck_step = stp ? strtoll(stp, NULL, 10) : 0;
    eb_safetensors_close(&st);
    snprintf(path, sizeof path, "%s/config.txt", dir);
    memset(cfg, 0, sizeof *cfg);
    int rc = eb_opts_parse(g_train_opts, N_TRAIN_OPTS, cfg, 1, argv, USAGE, err, sizeof err);
    if (rc == 0 && embedded) {
        /* the checkpoint's copy is what its weights were trained with; config.txt is only reported */
        char origin[EB_CFG_PATH_MAX + 120];
        snprintf(origin, sizeof origin, "the configuration embedded in %s", ck);
        rc = eb_opts_load_text(g_train_opts, N_TRAIN_OPTS, cfg, embedded, strlen(embedded), origin, err, sizeof err);
        FILE *f = fopen(path, "rb");
        if (rc == 0 && !f) {
            fprintf(stderr, "ebgan-gpu train: --resume %s: config.txt is missing; using the configuration embedded "
                            "in %s (config.txt is written again from it)\n", dir, ck);
        } else if (rc == 0) {
            size_t n = strlen(embedded);
            char *txt = malloc(n + 2);
            size_t got = txt ? fread(txt, 1, n + 1, f) : 0;
            if (!txt || got != n || memcmp(txt, embedded, n))
                fprintf(stderr, "ebgan-gpu train: --resume %s: config.txt differs from the configuration embedded in "
                                "%s (edited after the run began?); using the checkpoint's (config.txt is written again from it)\n", dir, ck);
            free(txt);
        }
        if (f) fclose(f);
    } else if (rc == 0) {
        rc = eb_opts_load_file(g_train_opts, N_TRAIN_OPTS, cfg, path, err, sizeof err); /* an older checkpoint */
    }
    free(embedded);
    if (rc < 0) {
        fprintf(stderr, "ebgan-gpu train: --resume %s: %s\n", dir, err);
        return -1;
    }
    for (int i = 0; i < N_TRAIN_OPTS; i++) {
        const eb_opt *o = &g_train_opts[i];
        if (!given[i] || !strcmp(o->name, "resume") || !strcmp(o->name, "out")) continue;
        char mine[1100], run[1100];
        eb_opts_format(o, &cl, mine, sizeof mine);
        eb_opts_format(o, cfg, run, sizeof run);
        if (resume_ok(o->name)) {
            memcpy((char *)cfg + o->offset, (const char *)&cl + o->offset, o->size);
        } else if (strcmp(mine, run)) {
            fprintf(stderr, "ebgan-gpu train: --resume %s: --%s %s differs from the run's %s: it changes the method "
                            "or the data stream, so the run could not continue exactly (drop the option, or start a "
                            "new run with --out; --help marks what may change on --resume)\n", dir, o->name, mine, run);
            return -1;
        }
    }
    for (int i = 0; i < N_TRAIN_OPTS; i++)
        if (given[i] && !strcmp(g_train_opts[i].name, "out") && cl.out[0] && strcmp(cl.out, dir)) {
            fprintf(stderr, "ebgan-gpu train: --out %s with --resume %s: a resumed run stays in its directory\n",
                    cl.out, dir);
            return -1;
        }
    if (cfg->iters < ck_step) {
        fprintf(stderr, "ebgan-gpu train: --resume %s: --iters %lld is below the run's current step %lld (%s)\n", dir,
                (long long)cfg->iters, ck_step, ck);
        return -1;
    }
    if (note[0]) fprintf(stderr, "ebgan-gpu train: --resume %s: %s\n", dir, note);
    snprintf(cfg->resume, sizeof cfg->resume, "%s", dir);
    snprintf(cfg->out, sizeof cfg->out, "%s", dir);
    return 0;
}

/* Values no run can use, refused before anything starts with one line naming the option (exit 2). Of the
 * options whose 0 or negative value stands for the preset's, only a value given on the command line is checked. */
static int check_values(int argc, char **argv, const eb_train_cfg *c) {
    unsigned char given[N_TRAIN_OPTS];
    int config_given = 0, rollback_max = 0;
    eb_opts_given(g_train_opts, N_TRAIN_OPTS, argc, argv, given, &config_given);
    int lambda_given = 0, batch_given = 0;
    for (int i = 0; i < N_TRAIN_OPTS; i++) {
        lambda_given |= given[i] && !strcmp(g_train_opts[i].name, "lambda");
        batch_given |= given[i] && !strcmp(g_train_opts[i].name, "batch");
    }
    char why[200] = "";
    if (lambda_given && !(c->lambda >= 0 && isfinite(c->lambda)))
        snprintf(why, sizeof why, "--lambda %g: must be a finite number >= 0 (leave it out for the preset's)", c->lambda);
    else if (!(c->lr > 0) || !isfinite(c->lr))
        snprintf(why, sizeof why, "--lr %g: must be a finite positive number", c->lr);
    else if (c->batch < 0 || c->batch == 1 || (batch_given && c->batch < 2))
        snprintf(why, sizeof why, "--batch %d: must be >= 2 (leave it out for the preset's)", c->batch);
    else if (c->iters < 0)
        snprintf(why, sizeof why, "--iters %lld: must be >= 0", (long long)c->iters);
    else if (c->n_critic < 1)
        snprintf(why, sizeof why, "--n-critic %d: must be >= 1", c->n_critic);
    else if (!(c->mi_weight >= 0) || !isfinite(c->mi_weight))
        snprintf(why, sizeof why, "--mi-weight %g: must be a finite number >= 0", c->mi_weight);
    else if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
        snprintf(why, sizeof why, "--beta%d %g: must be in [0, 1)", c->beta1 >= 0 && c->beta1 < 1 ? 2 : 1,
                 c->beta1 >= 0 && c->beta1 < 1 ? c->beta2 : c->beta1);
    else if (!(c->eps > 0) || !isfinite(c->eps))
        snprintf(why, sizeof why, "--eps %g: must be a finite positive number", c->eps);
    else if (c->keep < 0 || c->ckpt_every < 0 || c->plot_every < 0)
        snprintf(why, sizeof why, "--%s %d: must be >= 0", c->keep < 0 ? "keep" : c->ckpt_every < 0 ? "ckpt-every"
                 : "plot-every", c->keep < 0 ? c->keep : c->ckpt_every < 0 ? c->ckpt_every : c->plot_every);
    else if (eb_divergence_policy_parse(c->on_divergence, &rollback_max) != EB_OK)
        snprintf(why, sizeof why, "%s", eb_error_message());
    if (!why[0]) return 0;
    fprintf(stderr, "ebgan-gpu train: %s\n", why);
    return -1;
}

int eb_cli_train_parse(int argc, char **argv, eb_train_cfg *cfg) {
    char err[1200];
    memset(cfg, 0, sizeof *cfg);
    int rc = eb_opts_parse(g_train_opts, N_TRAIN_OPTS, cfg, argc, argv, USAGE, err, sizeof err);
    if (rc == 1) return 1;
    if (rc < 0) {
        fprintf(stderr, "ebgan-gpu train: %s\n", err);
        return -1;
    }
    if (!strcmp(cfg->resume, "auto")) {
        /* a (re)queued job: continue --out's run when it has a checkpoint, else start it there */
        char ck[EB_CFG_PATH_MAX + 64];
        if (!cfg->out[0]) {
            fprintf(stderr, "ebgan-gpu train: --resume auto needs --out DIR (the run to continue or start)\n");
            return -1;
        }
        if (eb_trainer_find_checkpoint(cfg->out, ck, sizeof ck) == EB_OK) snprintf(cfg->resume, sizeof cfg->resume, "%s", cfg->out);
        else cfg->resume[0] = '\0';
        eb_error_clear();
    }
    if (cfg->resume[0] && resume_config(argc, argv, cfg)) return -1;
    if (check_values(argc, argv, cfg)) return -1;
    if (cfg->log_every < 1) cfg->log_every = 1;
    return 0;
}

/* The settings every rank of a job must share: the per-process ones reset to their defaults. */
static void job_settings(eb_train_cfg *c) {
    c->rank = c->world_size = c->local_rank = -1;
    snprintf(c->comm, sizeof c->comm, "auto");
    c->comm_timeout = 900;
}

/* Ranks that disagree on the configuration would silently train different models: rank 0 broadcasts its
 * resolved settings, every rank compares them line by line and names the first difference. */
static int check_same_config(eb_trainer *t) {
    eb_comm *cm = t->comm;
    if (cm->world <= 1) return 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return -1;
    eb_train_cfg c = t->cfg;
    job_settings(&c);
    c.resume[0] = '\0';
    eb_opts_print(g_train_opts, N_TRAIN_OPTS, &c, m, "");
    fclose(m);
    double n0 = (double)len;
    int bad = eb_comm_host_bcast(cm, &n0, sizeof n0, 0) != EB_OK;
    char *root = bad ? NULL : calloc((size_t)n0 + 1, 1);
    if (!root || eb_comm_host_bcast(cm, cm->rank == 0 ? buf : root, (size_t)n0, 0) != EB_OK) bad = 1;
    if (!bad && cm->rank == 0) memcpy(root, buf, len);
    double differs = 0;
    if (!bad && ((size_t)n0 != len || memcmp(root, buf, len))) {
        /* the first differing line, for the message */
        const char *a = buf, *b = root;
        while (*a && *b) {
            size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
            if (la != lb || memcmp(a, b, la)) break;
            a += la + (a[la] != 0), b += lb + (b[lb] != 0);
        }
        fprintf(stderr, "ebgan-gpu train: rank %d: configuration differs from rank 0's: '%.*s' here, '%.*s' on "
                        "rank 0\n", cm->rank, (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
        differs = cm->rank + 1;
    }
    free(root);
    free(buf);
    if (bad) {
        fprintf(stderr, "ebgan-gpu train: rank %d: %s\n", cm->rank, eb_error_message());
        return -1;
    }
    if (eb_comm_host_allreduce(cm, &differs, 1, EB_COMM_MAX) != EB_OK) return -1;
    if (differs > 0) {
        if (cm->rank == 0)
            fprintf(stderr, "ebgan-gpu train: the ranks disagree on the configuration (rank %d differs, above): every "
                            "rank must be started with the same options\n", (int)differs - 1);
        return -1;
    }
    return 0;
}

static int write_config(eb_trainer *t) {
    char path[EB_CFG_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/config.txt", t->run_dir);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return -1;
    fprintf(m, "# ebgan-gpu train: resolved configuration; re-run with: ebgan-gpu train --config %s\n", path);
    /* a comment (every reader skips it): where the CPU's GEMMs ran, for comparing runs' speed */
    fprintf(m, "# BLAS core %s (%s)\n", eb_blas_core_name(), eb_blas_config());
    eb_train_cfg c = t->cfg;
    c.resume[0] = '\0'; /* a re-run starts fresh */
    job_settings(&c);
    eb_opts_print(g_train_opts, N_TRAIN_OPTS, &c, m, "");
    fclose(m);
    eb_status st = eb_atomic_write_file(path, buf, len);
    free(t->config_text);
    t->config_text = buf; /* what every checkpoint of this session embeds */
    if (st != EB_OK) {
        fprintf(stderr, "ebgan-gpu train: %s\n", eb_error_message());
        return -1;
    }
    return 0;
}

/* A failure on one rank of a job must end every rank (the others would wait in a collective): the
 * communicator's abort; one process just returns its exit status. */
static int train_fail(eb_trainer *t, eb_comm *comm, int rank, const char *lead, const char *what) {
    if (what && comm->world > 1) fprintf(stderr, "%sebgan-gpu train: rank %d: %s\n", lead, rank, what);
    else if (what) fprintf(stderr, "%sebgan-gpu train: %s\n", lead, what);
    if (t) eb_trainer_free(t);
    if (comm->world > 1) {
        fprintf(stderr, "ebgan-gpu train: rank %d failed: stopping every rank of the job\n", rank);
        eb_comm_abort(comm, 1);
    }
    eb_comm_close(comm);
    return 1;
}

int eb_cli_train(int argc, char **argv) {
    eb_train_cfg cfg;
    int rc = eb_cli_train_parse(argc, argv, &cfg);
    if (rc) return rc > 0 ? 0 : 2;
    eb_ranks ranks;
    if (eb_ranks_resolve(cfg.rank, cfg.world_size, cfg.local_rank, &ranks) != EB_OK) {
        fprintf(stderr, "ebgan-gpu train: %s\n", eb_error_message());
        return 2;
    }
    int requeue = 0;
    if (eb_stop_signal_parse(cfg.requeue_signal, &requeue) != EB_OK) {
        fprintf(stderr, "ebgan-gpu train: %s\n", eb_error_message());
        return 2;
    }
    /* from here a stop signal is a request: the loop finishes the iteration and checkpoints */
    if (eb_stop_signal_install(requeue) != EB_OK) {
        fprintf(stderr, "ebgan-gpu train: %s\n", eb_error_message());
        return 1;
    }
    eb_trainer t;
    eb_comm comm;
    eb_comm_single(&comm);
    const char *notice = NULL;
    char msg[1400];
    if (eb_trainer_init_dist(&t, &cfg, &ranks, cfg.comm, &comm, &notice) != EB_OK) {
        /* when the communicator did not open, say which rank anyway */
        if (ranks.world > 1 && comm.world <= 1) snprintf(msg, sizeof msg, "rank %d: %s", ranks.rank, eb_error_message());
        else snprintf(msg, sizeof msg, "%s", eb_error_message());
        return train_fail(NULL, &comm, ranks.rank, "", msg);
    }
    if (notice && comm.rank == 0) fprintf(stderr, "ebgan-gpu: %s\n", notice);
    char where[160];
    eb_ranks_describe(&ranks, where, sizeof where);
    char dev[32] = "cpu";
    if (eb_backend_is_cuda(&t.be)) snprintf(dev, sizeof dev, "GPU %d", ranks.local_rank);
    if (eb_comm_active(&comm)) { /* a job's layout, one line per rank (one process needs none) */
        printf("ebgan-gpu train: %s, pid %ld, comm %s, device %s, global batch %d = %d x %d\n", where,
               (long)getpid(), eb_comm_kind_name(comm.kind), dev, t.cfg.batch, comm.world, t.b_local);
        fflush(stdout);
    }
    if (comm.world > 1 && eb_watchdog_start(cfg.comm_timeout, comm.rank, 1) != EB_OK)
        return train_fail(&t, &comm, comm.rank, "", eb_error_message());
    if (check_same_config(&t)) { /* every rank knows: a clean exit everywhere */
        eb_watchdog_stop();
        eb_trainer_free(&t);
        eb_comm_close(&comm);
        return 1;
    }
    if (eb_trainer_open_run(&t) != EB_OK) return train_fail(&t, &comm, comm.rank, "", eb_error_message());
    if (comm.rank == 0) {
        if (t.stale_lock_pid)
            fprintf(stderr, "ebgan-gpu train: took over the lock of process %ld, which is no longer running\n",
                    t.stale_lock_pid);
        if (t.stale_tmp_removed)
            fprintf(stderr, "ebgan-gpu train: removed %d temp file(s) a dead writer left in %s\n", t.stale_tmp_removed,
                    t.run_dir);
        if (t.metrics_dropped)
            fprintf(stderr, "ebgan-gpu train: dropped %d metrics record(s) after step %lld (they are replayed)\n",
                    t.metrics_dropped, (long long)t.step);
        printf("ebgan-gpu train: backend %s, BLAS core %s, run directory %s%s\n", t.be.ops->name,
               eb_blas_core_name(), t.run_dir, cfg.resume[0] ? " (resumed)" : "");
        printf("resolved settings:\n");
        eb_opts_print(g_train_opts, N_TRAIN_OPTS, &t.cfg, stdout, "  ");
        printf("  (networks) U %s | G %s | T %s%s%s | E %s\n", t.preset.u_spec, t.preset.g_spec,
               t.preset.t_trunk_spec, t.preset.t_trunk_spec[0] ? " -> " : "", t.preset.t_head_spec, t.preset.e_spec);
        if (t.step > 0) printf("  resuming at step %lld\n", (long long)t.step);
        fflush(stdout);
        /* on resume too: config.txt describes the run as of this session (a longer --iters, a new cadence) */
        if (write_config(&t)) return train_fail(&t, &comm, comm.rank, "", NULL);
    }
    eb_status st = eb_trainer_check_agreement(&t); /* the weights every rank starts from (a resume reads files) */
    if (st == EB_OK) st = eb_trainer_run(&t, stdout);
    if (st != EB_OK) {
        snprintf(msg, sizeof msg, "%s", eb_error_message());
        return train_fail(&t, &comm, comm.rank, "\n", msg);
    }
    if (t.stop_signo) {
        int code = eb_stop_signal_exit_code(t.stop_signo);
        char job[64];
        if (comm.rank == 0) {
            fprintf(stderr, "ebgan-gpu train: stopped by %s at step %lld; checkpoint %s; continue with: ebgan-gpu "
                            "train --resume %s (exit status %d)\n", eb_stop_signal_name(t.stop_signo),
                    (long long)t.step, t.last_ckpt, t.run_dir, code);
            /* under SLURM, rank 0 requeues the job (or array task) once the checkpoint is on disk; the job
             * restarts after this one exits and `--resume auto` continues it (README "Data parallelism") */
            if (eb_stop_signal_is_requeue(t.stop_signo) && eb_slurm_job_id(job, sizeof job)) {
                if (eb_slurm_requeue(job) == EB_OK) fprintf(stderr, "ebgan-gpu train: requeued SLURM job %s\n", job);
                else fprintf(stderr, "ebgan-gpu train: %s\n", eb_error_message());
            }
        }
        /* nobody exits before rank 0 has its checkpoint (and the requeue) done: a launcher ends the whole job
         * when the first rank exits non-zero */
        if (eb_comm_barrier(&comm) != EB_OK) fprintf(stderr, "ebgan-gpu train: %s\n", eb_error_message());
        eb_watchdog_stop();
        eb_trainer_free(&t);
        eb_comm_close(&comm);
        eb_stop_signal_uninstall();
        return code;
    }
    if (comm.rank == 0)
        printf("done: %lld steps; run directory %s (samples.png, metrics.jsonl, checkpoints)\n", (long long)t.step,
               t.run_dir);
    eb_watchdog_stop();
    eb_trainer_free(&t);
    eb_comm_close(&comm);
    return 0;
}

int eb_cli_load_run(const char *dir, const char *device, const char *g_weights, eb_trainer *t) {
    eb_train_cfg cfg;
    char err[1200], path[EB_CFG_PATH_MAX + 16];
    char *argv0[] = {"ebgan-gpu", NULL};
    memset(&cfg, 0, sizeof cfg);
    snprintf(path, sizeof path, "%s/config.txt", dir);
    int rc = eb_opts_parse(g_train_opts, N_TRAIN_OPTS, &cfg, 1, argv0, USAGE, err, sizeof err);
    struct stat sb;
    char ck[EB_CFG_PATH_MAX + 80];
    eb_safetensors st;
    if (rc == 0 && stat(path, &sb) != 0 && eb_trainer_find_checkpoint(dir, ck, sizeof ck) != EB_OK) {
        eb_error_clear();
        fprintf(stderr, "ebgan-gpu: --run %s: no config.txt and no checkpoint: not a run directory\n", dir);
        return 2; /* a usage error: the option names something else than a run */
    }
    if (rc == 0 && stat(path, &sb) != 0 && eb_trainer_find_checkpoint(dir, ck, sizeof ck) == EB_OK &&
        eb_safetensors_open(&st, ck) == EB_OK) {
        /* config.txt lost: the checkpoint embeds the same settings */
        const char *emb = eb_safetensors_meta(&st, "config");
        if (emb && emb[0]) {
            fprintf(stderr, "ebgan-gpu: --run %s: config.txt is missing; using the configuration embedded in %s\n",
                    dir, ck);
            rc = eb_opts_load_text(g_train_opts, N_TRAIN_OPTS, &cfg, emb, strlen(emb), ck, err, sizeof err);
        } else {
            rc = eb_opts_load_file(g_train_opts, N_TRAIN_OPTS, &cfg, path, err, sizeof err);
        }
        eb_safetensors_close(&st);
    } else if (rc == 0) {
        rc = eb_opts_load_file(g_train_opts, N_TRAIN_OPTS, &cfg, path, err, sizeof err);
    }
    if (rc) {
        fprintf(stderr, "ebgan-gpu: --run %s: %s\n", dir, err);
        return 1;
    }
    snprintf(cfg.resume, sizeof cfg.resume, "%s", dir);
    snprintf(cfg.out, sizeof cfg.out, "%s", dir);
    if (device && device[0]) snprintf(cfg.device, sizeof cfg.device, "%s", device);
    const char *notice = NULL;
    if (eb_trainer_init(t, &cfg, &notice) != EB_OK) {
        fprintf(stderr, "ebgan-gpu: --run %s: %s\n", dir, eb_error_message());
        return 1;
    }
    snprintf(t->run_dir, sizeof t->run_dir, "%s", dir);
    if (g_weights && eb_trainer_select_g(t, g_weights) != EB_OK) {
        fprintf(stderr, "ebgan-gpu: --run %s: %s\n", dir, eb_error_message());
        eb_trainer_free(t);
        return 2; /* a usage error: --g-weights names weights this run does not have */
    }
    return 0;
}
