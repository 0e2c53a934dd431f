/* The subcommands of the ebgan-gpu executable; each returns the process exit code
 * (0 success, 1 runtime failure with a one-line message, 2 usage error). */
#ifndef EBGAN_CLI_H
#define EBGAN_CLI_H

#include "ebgan/train_cfg.h"

int eb_cli_train(int argc, char **argv);
/* Parses train's options (and on --resume the run's config.txt); 0 ok, 1 help shown, -1 error. */
int eb_cli_train_parse(int argc, char **argv, eb_train_cfg *cfg);

struct eb_trainer;
/* Rebuilds a run from <dir>/config.txt and loads its newest checkpoint (device: "" keeps the run's), then, when
 * g_weights is not NULL, makes those generator weights the ones sampled (ema | raw; "" the run's default). Returns
 * the exit code of a failure, with its line printed: 2 when dir is no run (no config.txt, no checkpoint) or the
 * run lacks the weights asked for, else 1. */
int eb_cli_load_run(const char *dir, const char *device, const char *g_weights, struct eb_trainer *t);

int eb_cli_sample(int argc, char **argv);
int eb_cli_merge(int argc, char **argv);
int eb_cli_energy(int argc, char **argv);
int eb_cli_grads(int argc, char **argv);
int eb_cli_eval(int argc, char **argv);
int eb_cli_train_classifier(int argc, char **argv);
/* The training iteration's speed as JSON lines (cmd_bench.c). */
int eb_cli_bench(int argc, char **argv);
/* The usable CUDA GPUs, or why none (cmd_devices.c). */
int eb_cli_devices(int argc, char **argv);
/* eval on a stacked-image run (cmd_classifier.c): n samples, each channel classified by the classifier file,
 * modes covered and KL from uniform as one JSON line on stdout and in <run>/eval.json. Returns the exit code. */
int eb_cli_eval_stacked(struct eb_trainer *t, const char *run, const char *classifier, int n, unsigned long long seed);

/* eval --anomaly on a --holdout-class run (cmd_anomaly.c): the test split scored by U(x) and ||grad_x U(x)||,
 * AUPRC / average precision / ROC AUC and the base rate as one JSON line on stdout and in
 * <run>/eval_anomaly.json, <run>/anomaly_scores.npy and <run>/pr_curve.png. Returns the exit code. */
int eb_cli_eval_anomaly(struct eb_trainer *t, const char *run);

#endif
