/* The resolved configuration of a training run: every setting `ebgan-gpu train` takes, in one struct
 * filled from one option table (src/host/cli/options.c), saved to and re-read from <run>/config.txt. */
#ifndef EBGAN_TRAIN_CFG_H
#define EBGAN_TRAIN_CFG_H

#include <stdint.h>

#define EB_CFG_PATH_MAX 1024

typedef struct eb_train_cfg {
    /* model and data */
    char model[512];     /* toy | mnist | cifar | a U spec string (net.h) */
    char dataset[EB_CFG_PATH_MAX]; /* 8gaussians | 25gaussians | swissroll | fashion-mnist | *.npy | *idx*[.gz] | cifar10:DIR */
    int stack;           /* stack K random images into K channels (StackedMNIST); 0 = off */
    int z_dim;           /* 0 = the preset's */
    int dim;             /* network width; 0 = the preset's */
    /* method */
    char penalty[16];    /* score | wgan-gp | none */
    double lambda;       /* < 0 = the preset's (full-norm definition, DESIGN.md §1) */
    int penalty_every;   /* K: the penalty on every K-th U step only, weighted K lambda (lazy); 1 = every step */
    char entropy[16];    /* dim | infogan | vera | none */
    double mi_weight;    /* weight of the entropy surrogate (infogan: lambda2, vera: lambda_H) */
    int vera_k;          /* vera (gan.h eb_vera_cfg): importance samples, sigma's range, eta's start and lr */
    double vera_sigma_min, vera_sigma_max, vera_eta_init, vera_post_lr;
    int n_critic;        /* U steps per G step */
    int train_mcmc;      /* MALA steps refining the U step's fake latents (0: off, as the paper's code) */
    double train_mcmc_alpha; /* their step size */
    /* optimisation */
    int batch;           /* 0 = the preset's */
    int64_t iters;
    double lr, beta1, beta2, eps;
    char lr_decay[16];   /* none | linear (to 0 at iters: sharper samples at the end of short runs) */
    char on_divergence[24]; /* stop | rollback[:N]: what a non-finite loss, gradient or weight does (DESIGN.md §4.8) */
    double g_ema;        /* decay of the generator's moving average (g_ema.h); 0 = off, as the paper */
    uint64_t seed;
    /* run directory and outputs */
    char out[EB_CFG_PATH_MAX];    /* run directory; "" = runs/<timestamp> */
    char resume[EB_CFG_PATH_MAX]; /* continue the run in this directory */
    int log_every;       /* steps between metrics lines */
    int ckpt_every;      /* steps between checkpoints (and one at the end) */
    int keep;            /* checkpoints kept */
    int plot_every;      /* steps between pictures (and one at the end) */
    int eval_every;      /* steps between in-training evaluations (eval_during.c); 0 = off */
    int eval_n;          /* their sample count; 0 = eval's default */
    char eval_classifier[EB_CFG_PATH_MAX]; /* stacked images: the classifier --eval-every needs there */
    char tensorboard[EB_CFG_PATH_MAX]; /* on (event file in the run directory) | off | a directory; "" = on */
    char holdout_class[16]; /* anomaly protocol (anomaly.h): the class id held out of training; "" = none */
    /* execution */
    char device[8];      /* auto | cpu | cuda */
    char precision[8];   /* fp32 | tf32 | bf16 (CUDA) */
    char cuda_graph[8];  /* on | off: replay one captured CUDA graph per iteration (CUDA only) */
    char conv_algo[12];  /* heuristic | search: how cuDNN convolution algorithms are chosen (conv_algo.h) */
    int progress;        /* -1 auto (a terminal gets a live line), 0 plain lines, 1 live line */
    /* data parallelism: this process's place in the job (not saved in config.txt: it differs per rank) */
    int rank, world_size, local_rank; /* -1: from the launcher's environment (ranks.h) */
    char comm[8];        /* auto | none | mpi | nccl (comm.h) */
    double comm_timeout; /* seconds without a finished iteration before a rank of a job gives up (watchdog.h) */
    char requeue_signal[16]; /* signal that stops with a checkpoint and the requeue exit status (stop_signal.h) */
    int resume_intact;   /* 1: --resume may continue from the newest intact checkpoint past a damaged newest */
} eb_train_cfg;

#endif
