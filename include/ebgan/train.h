/* `ebgan-gpu train`: the MEG training loop (DESIGN.md §1) with its run directory — resolved config,
 * metrics.jsonl, atomic safetensors checkpoints, pictures — and exact resume. */
#ifndef EBGAN_TRAIN_H
#define EBGAN_TRAIN_H

#include <stdio.h>
#include "ebgan/backend.h"
#include "ebgan/comm.h"
#include "ebgan/conv_algo.h"
#include "ebgan/data.h"
#include "ebgan/g_ema.h"
#include "ebgan/gstep.h"
#include "ebgan/iteration_plan.h"
#include "ebgan/mala.h"
#include "ebgan/json.h"
#include "ebgan/presets.h"
#include "ebgan/run_dir.h"
#include "ebgan/tfevents.h"
#include "ebgan/train_cfg.h"
#include "ebgan/ustep.h"

typedef struct eb_batch_source eb_batch_source;
typedef struct eb_cuda_graph eb_cuda_graph;

/* The divergence watch (src/host/train/divergence.c, docs/DESIGN.md §4.8): the terms an iteration marks on the
 * device when they go non-finite, in the order the iteration computes them, and what --on-divergence does. */
#define EB_DIVERGENCE_TERMS_MAX (2 + 3 * EB_GAN_NETS_MAX)
/* A rollback moves the run's stream by this many counters per epoch: 2^48, far past what a run draws, so the
 * draws after a rollback are fresh and never repeat those of an earlier attempt. */
#define EB_STREAM_EPOCH_COUNTERS (1ULL << 48)
typedef struct eb_divergence_term {
    char name[40];          /* "U loss", "gradient of G", "Adam moments of U", "weights of U" (with batch-norm buffers) */
    const eb_real *x[2];    /* the values checked, on the backend (x[1] may be NULL) */
    size_t n[2];
    int every_iteration;    /* 1: marked in every iteration (the losses); 0: where the run logs or saves */
} eb_divergence_term;
typedef struct eb_divergence {
    int n_terms;
    eb_divergence_term term[EB_DIVERGENCE_TERMS_MAX];
    int64_t *first;         /* [TERMS_MAX + 1] on the backend: the iteration (clock) each term first went non-finite,
                             * -1: not yet; the last slot holds the clock of a check of the state */
    int rollback_max;       /* --on-divergence rollback:N: N; stop: 0 */
    int64_t stream_epoch;   /* rollbacks the run made so far = its stream shift, in EB_STREAM_EPOCH_COUNTERS (checkpointed) */
} eb_divergence;

typedef struct eb_trainer {
    eb_train_cfg cfg;      /* resolved: preset defaults filled in */
    eb_backend be;
    eb_preset preset;
    int is_toy;
    eb_toy_kind toy;
    eb_dataset data;       /* empty for toys */
    eb_gan gan;
    eb_gstep gs;
    eb_ustep us;           /* with the fakes' own latents and G workspace (eb_ustep_fakes_init) */
    eb_mala mala;          /* --train-mcmc only */
    eb_g_ema g_ema;        /* --g-ema: the average of G (off: nothing allocated) */
    eb_batch_source *src;
    eb_rng rng;            /* the run's stream (checkpointed): counter = start + step * plan.stride */
    eb_iteration_plan plan; /* what one iteration runs, updates and draws (iteration_plan.h) */
    int64_t step;          /* completed G iterations */
    int64_t *clock;        /* [1] on the backend: the iteration being run (random draws and schedules) */
    int use_graph;         /* CUDA and --cuda-graph on */
    int64_t eager_done;    /* iterations run without the graph in this session */
    /* one captured iteration per pattern of U steps (iteration_plan.h: one at --penalty-every 1), replayed;
     * each captured after one iteration of its pattern ran eagerly (its warm-up); [plan.n_critic + 1] */
    eb_cuda_graph **graphs;
    unsigned char *pattern_warm;
    eb_real *x_real;       /* [B, x] on the backend */
    eb_real *t_interp;     /* [B] wgan-gp interpolation weights */
    void *arena;
    eb_penalty_kind penalty;
    eb_conv_algo_mode conv_algo; /* --conv-algo (CUDA) */
    eb_entropy_kind entropy;
    /* data parallelism (DESIGN.md §4): the global batch cfg.batch is split over comm->world ranks; rank r
     * runs global samples [r * b_local, (r + 1) * b_local) and draws what one process draws for them */
    eb_comm *comm;         /* never NULL after init: &comm_single for one process */
    eb_comm comm_single;
    int b_local;           /* cfg.batch / world */
    int32_t *perm_all;     /* [cfg.batch] dim's permutation of the global batch */
    int64_t check_every;   /* iterations between weight-agreement checks across ranks */
    char run_dir[EB_CFG_PATH_MAX];
    eb_jsonl metrics;      /* <run>/metrics.jsonl, appended (records after the resumed step dropped first) */
    eb_run_lock lock;      /* held from eb_trainer_open_run to eb_trainer_free */
    char run_id[EB_RUN_ID_LEN + 8]; /* marks this run's checkpoints (metadata run_id) */
    long stale_lock_pid;   /* pid of a dead writer whose lock was taken over (0: none) */
    int stale_tmp_removed; /* leftover temp files of a dead writer removed at open */
    int metrics_dropped;   /* metrics records after the resumed step removed at open */
    int64_t saved_step;    /* step of the last checkpoint written or loaded (-1: none) */
    char last_ckpt[EB_CFG_PATH_MAX + 64];
    char resume_note[1400]; /* why another checkpoint than the newest was resumed ("" normally) */
    int stop_signo;        /* the signal that stopped eb_trainer_run early (0: ran to --iters) */
    char *config_text;     /* this session's config.txt (owned; NULL: checkpoints read the file) */
    eb_tfevents *tb;       /* TensorBoard event file (tb_log.c); NULL with --tensorboard off */
    int holdout_class;     /* --holdout-class resolved; -1 = none */
    eb_dataset holdout_test; /* its anomaly test split (labels = classes; anomaly.h); else empty */
    double wall_start, wall_offset; /* seconds; offset carries the time of earlier sessions on resume */
    eb_divergence div;     /* non-finite values and --on-divergence (divergence.c) */
} eb_trainer;

/* Resolves `cfg` (data, preset, defaults), opens the backend, builds the model; with cfg->resume set,
 * reloads the run's config (command-line settings other than iters are ignored) and its last checkpoint.
 * `notice` receives a one-line backend notice (e.g. running on the CPU) or NULL. */
eb_status eb_trainer_init(eb_trainer *t, const eb_train_cfg *cfg, const char **notice);
/* The same as one rank of a data-parallel job: the backend on GPU ranks->local_rank, then the communicator
 * `comm` (the caller's, initialised by eb_comm_single) opened as `comm_kind` (comm.h) on that backend. The
 * caller closes `comm` after eb_trainer_free, or calls eb_comm_abort on it when init or the run fails. */
eb_status eb_trainer_init_dist(eb_trainer *t, const eb_train_cfg *cfg, const eb_ranks *ranks, const char *comm_kind,
                               eb_comm *comm, const char **notice);
void eb_trainer_free(eb_trainer *t);
/* Creates the run directory (or reuses it on resume) and writes config.txt. */
eb_status eb_trainer_open_run(eb_trainer *t);
/* Runs G iterations step..cfg.iters-1 with logging, checkpoints and pictures; progress to `log`. Between
 * iterations it polls eb_stop_signal_pending(): on a stop signal it writes a checkpoint of the finished
 * iteration (unless one of that step exists), sets t->stop_signo and returns EB_OK. */
eb_status eb_trainer_run(eb_trainer *t, FILE *log);

/* Across ranks (src/host/train/trainer_dist.c; no-ops for one process): the logged terms averaged over
 * the ranks (each is a mean over a rank's equal slice), and the check that every rank's weights and batch-norm
 * buffers are bit-identical to rank 0's (EB_ERR_NUMERIC naming the rank, the net and the step). */
eb_status eb_trainer_reduce_terms(eb_trainer *t, double u[EB_UTERM_COUNT], double g[EB_GTERM_COUNT]);
eb_status eb_trainer_check_agreement(eb_trainer *t);
/* The stop signal every rank acts on: the pending signal of any rank (0: none), the requeue signal first;
 * called before each iteration so that all ranks stop after the same one. One process: `signo` itself. */
int eb_trainer_agree_stop(eb_trainer *t, int signo);

/* Wall-clock seconds of the run so far, earlier sessions of a resumed run included. */
double eb_trainer_wall_s(const eb_trainer *t);
/* One iteration (a G step and n_critic U steps): eager on the CPU or with --cuda-graph off; on CUDA the
 * first iteration of a session runs eagerly, the second is captured, and every later one replays it. */
eb_status eb_trainer_iteration(eb_trainer *t);

/* Checkpoints (src/host/train/checkpoint.c): <run>/ckpt-<step>.safetensors, atomic, the last `keep` kept. */
eb_status eb_trainer_save(eb_trainer *t);
/* Loads the newest checkpoint of `dir` (or the file `path` when it ends in .safetensors). */
eb_status eb_trainer_load(eb_trainer *t, const char *path);
/* The newest checkpoint file of a run directory, or `path` itself when it names a .safetensors file. */
eb_status eb_trainer_find_checkpoint(const char *path, char *out, size_t cap);
/* The same with its integrity checked: only exact ckpt-<8 digits>.safetensors names, ordered by metadata step,
 * the newest one's format and tensor checksum verified. A damaged newest one fails naming it, its reason and
 * the newest intact one, unless fallback_intact (then `note` says what was skipped). */
eb_status eb_ckpt_find(const char *path, int fallback_intact, char *out, size_t cap, char *note, size_t note_cap);
/* --holdout-class (src/host/train/holdout.c): parses cfg.holdout_class into t->holdout_class; then, given the
 * opened data (ownership passes), makes t->data the training split and t->holdout_test the test split. */
eb_status eb_trainer_holdout_parse(eb_trainer *t);
eb_status eb_trainer_holdout_split(eb_trainer *t, eb_dataset *raw);
/* TensorBoard (src/host/train/tb_log.c): opens the event file per cfg.tensorboard (on resume also marks the
 * restart), logs one step's scalars, closes. */
eb_status eb_trainer_tb_open(eb_trainer *t);
eb_status eb_trainer_tb_scalars(eb_trainer *t, int64_t step, const eb_tb_scalar *v, int n);
void eb_trainer_tb_close(eb_trainer *t);
/* The divergence watch (src/host/train/divergence.c, docs/DESIGN.md §4.8). policy_parse reads --on-divergence
 * (stop | rollback | rollback:N, N >= 1, rollback alone = rollback:3) into *rollback_max (stop: 0). init parses
 * t->cfg.on_divergence and allocates the device marks after the nets and steps exist; mark issues the marks of
 * one iteration (backend ops only, no sync: inside the captured graph); due says whether step s logs, saves or
 * plots (then poll reads the marks). poll: all finite → EB_OK; else with rollbacks left it goes back to the newest
 * good checkpoint on a shifted stream, logs it and sets *rolled_back; else EB_ERR_NUMERIC with one line naming
 * the step and the term. check_save: EB_ERR_NUMERIC when a mark is set, so that no such state is checkpointed. */
eb_status eb_divergence_policy_parse(const char *text, int *rollback_max);
eb_status eb_divergence_init(eb_trainer *t);
void eb_divergence_free(eb_trainer *t);
eb_status eb_divergence_mark(eb_trainer *t);
int eb_divergence_due(const eb_trainer *t, int64_t s);
eb_status eb_divergence_poll(eb_trainer *t, FILE *log, int *rolled_back);
eb_status eb_divergence_check_save(eb_trainer *t);
/* The generator the sampling commands use (--g-weights): "ema" (the average; an error without one), "raw"
 * (G's trained tensors), or "" (the average when the run keeps one). */
eb_status eb_trainer_select_g(eb_trainer *t, const char *which);
/* Pictures (src/host/train/plots.c): <run>/samples.png (+ energy heat map for 2-D data). */
eb_status eb_trainer_plot(eb_trainer *t);
/* n generator samples [n, x] on the host, G in inference mode, z from the Philox stream `seed`. */
eb_status eb_trainer_samples(eb_trainer *t, int n, uint64_t seed, float *out);
/* U(x) on n host points ([n, x] floats), inference mode. */
eb_status eb_trainer_energy(eb_trainer *t, const float *pts, int n, float *out);

#endif
