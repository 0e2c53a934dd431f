/* ebgan-gpu: the command-line entry point; dispatches to the subcommands.
 * Library code returns statuses; only this layer prints them and exits. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ebgan-gpu <command> [options]   (ebgan-gpu <command> --help for its options)\n"
               "commands:\n"
               "  train    train an energy-based GAN (default: the toy preset on 25gaussians)\n"
               "  sample   generator samples of a run (.npy + .png)\n"
               "  energy   U(x) and optionally grad_x U(x) of a run for the rows of a .npy\n"
               "  grads    the U-step loss gradient of every U parameter (and the penalty's part)\n"
               "  eval     mode coverage of a 2-D mixture run\n");
}

int main(int argc, char **argv) {
    if (argc < 2) return eb_cli_train(1, argv); /* no arguments: the default training run */
    const char *cmd = argv[1];
    if (!strcmp(cmd, "train")) return eb_cli_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "sample")) return eb_cli_sample(argc - 1, argv + 1);
    if (!strcmp(cmd, "energy")) return eb_cli_energy(argc - 1, argv + 1);
    if (!strcmp(cmd, "grads")) return eb_cli_grads(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return eb_cli_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "ebgan-gpu: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
