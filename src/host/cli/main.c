/* ebgan-gpu: the command-line entry point; dispatches to the subcommands.
 * Library code returns statuses; only this layer prints them and exits. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "process_env.h"

/* The CPU kernels and OpenBLAS run on OpenMP threads. OpenMP's default is to spin at every join; on a machine
 * shared with other jobs the spinning thread burns the core its partner needs and an iteration takes many times
 * longer (bench/PROFILE.md). libgomp reads OMP_WAIT_POLICY once, as it loads, before main: when the user has
 * not chosen, run this program again with passive waiting. The same run again sets the OpenBLAS core type
 * when OpenBLAS's model table does not know this CPU (process_env.h); the user's own settings win. */
static void process_env_settle(char **argv) {
    int again = 0;
    if (!getenv("OMP_WAIT_POLICY") && setenv("OMP_WAIT_POLICY", "passive", 1) == 0) again = 1;
    if (eb_process_env_blas_core()) again = 1;
    if (again) eb_process_env_reexec(argv);
}

static void usage(FILE *f) {
    fprintf(f, "usage: ebgan-gpu <command> [options]   (ebgan-gpu <command> --help for its options)\n"
               "commands:\n"
               "  train    train an energy-based GAN (the paper's settings by default)\n"
               "  demo     the quick toy demo on 25gaussians (what no arguments run), minutes on a CPU\n"
               "  sample   generator samples of a run (.npy + .png)\n"
               "  merge    join the shards of `sample --shards R`, checking the set is complete\n"
               "  energy   U(x) and optionally grad_x U(x) of a run for the rows of a .npy\n"
               "  grads    the U-step loss gradient of every U parameter (and the penalty's part)\n"
               "  eval     mode coverage of a run (2-D mixtures, and exp(-U) as a density; stacked images with the classifier)\n"
               "  train-classifier  train the Fashion-MNIST classifier that eval uses on stacked runs\n"
               "  devices  the usable CUDA GPUs with driver and runtime versions, or why there is none\n"
               "  bench    the training iteration's speed on this machine, as JSON lines\n");
}

/* The quick demo (also what no arguments run): it must show a result within minutes on a CPU. It is the
 * toy preset with a narrower width, a larger decaying learning rate and a lighter entropy weight; the
 * paper's settings are train's option defaults (width 512, lr 1e-4, 100000 iterations, weight 1).
 * Further train options (argv[1..]) follow the demo's and override them. */
static int demo(int argc, char **argv, int announce) {
    static char *flags[] = {"--dim", "128", "--lr", "1e-3", "--lr-decay", "linear", "--mi-weight", "0.1",
                            "--iters", "6000", "--log-every", "250", "--plot-every", "1000", "--ckpt-every", "1000"};
    /* --entropy vera: its entropy term is calibrated (the G step's optimum is q ~ exp(-U / lambda_H)), so
     * lambda_H = 1 makes exp(-U) the density; the score penalty must then let U be as steep as the modes, and
     * MALA on the negatives' latents moves them to the modes U has made too deep, which holds the modes'
     * relative depths (README, "An energy that is a density: --entropy vera") */
    static char *vera_flags[] = {"--mi-weight", "1", "--lambda", "1e-3", "--vera-sigma-max", "0.05",
                                 "--train-mcmc", "2"};
    enum { NF = sizeof flags / sizeof flags[0], NV = sizeof vera_flags / sizeof vera_flags[0] };
    int vera = 0;
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--entropy") && !strcmp(argv[i + 1], "vera")) vera = 1;
    char *av[NF + NV + 64];
    int n = 0;
    av[n++] = argv[0];
    for (int i = 0; i < NF; i++) av[n++] = flags[i];
    for (int i = 0; vera && i < NV; i++) av[n++] = vera_flags[i];
    for (int i = 1; i < argc && n < NF + NV + 63; i++) av[n++] = argv[i];
    av[n] = NULL;
    if (announce)
        printf("ebgan-gpu: the quick toy demo (25gaussians; --dim 128 --lr 1e-3 --lr-decay linear --mi-weight 0.1 "
               "--iters 6000%s); `ebgan-gpu train --help` for all options\n",
               vera ? "; vera: --mi-weight 1 --lambda 1e-3 --vera-sigma-max 0.05 --train-mcmc 2" : "");
    return eb_cli_train(n, av);
}

int main(int argc, char **argv) {
    process_env_settle(argv);
    if (argc < 2) return demo(argc, argv, 1);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "train")) return eb_cli_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "demo")) return demo(argc - 1, argv + 1, 1);
    if (!strcmp(cmd, "sample")) return eb_cli_sample(argc - 1, argv + 1);
    if (!strcmp(cmd, "merge")) return eb_cli_merge(argc - 1, argv + 1);
    if (!strcmp(cmd, "energy")) return eb_cli_energy(argc - 1, argv + 1);
    if (!strcmp(cmd, "grads")) return eb_cli_grads(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return eb_cli_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "train-classifier")) return eb_cli_train_classifier(argc - 1, argv + 1);
    if (!strcmp(cmd, "devices")) return eb_cli_devices(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return eb_cli_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "ebgan-gpu: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
