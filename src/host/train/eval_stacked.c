/* Mode coverage of stacked images (the paper's StackedMNIST protocol, on Fashion-MNIST here): the classes of a
 * sample's channels form its mode; count the modes hit and the KL of the mode histogram from uniform. */
#include "ebgan/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

eb_status eb_eval_stacked(const int32_t *labels, size_t n, int stack, int n_classes, eb_stacked_eval *out) {
    memset(out, 0, sizeof *out);
    if (n == 0) return EB_FAIL(EB_ERR_ARG, "eval: no samples");
    if (stack < 1 || n_classes < 2)
        return EB_FAIL(EB_ERR_ARG, "eval: %d channels of %d classes (need >= 1 and >= 2)", stack, n_classes);
    int64_t modes = 1;
    for (int j = 0; j < stack; j++) {
        modes *= n_classes;
        if (modes > EB_STACKED_MAX_MODES)
            return EB_FAIL(EB_ERR_ARG, "eval: %d^%d modes is more than %d to count", n_classes, stack,
                           EB_STACKED_MAX_MODES);
    }
    int64_t *counts = calloc((size_t)modes, sizeof *counts);
    if (!counts) return EB_FAIL(EB_ERR_OOM, "eval: mode table of %lld entries", (long long)modes);
    for (size_t i = 0; i < n; i++) {
        int64_t mode = 0, place = 1;
        for (int j = 0; j < stack; j++) {
            const int32_t y = labels[i * (size_t)stack + (size_t)j];
            if (y < 0 || y >= n_classes) {
                free(counts);
                return EB_FAIL(EB_ERR_ARG, "eval: class %d of channel %d of sample %zu outside [0, %d)", (int)y, j, i,
                               n_classes);
            }
            mode += y * place; /* channel j is digit j (eb_dataset_stack: label_j * B^j) */
            place *= n_classes;
        }
        counts[mode]++;
    }
    double kl = 0;
    int64_t covered = 0;
    for (int64_t m = 0; m < modes; m++) {
        if (!counts[m]) continue;
        covered++;
        const double p = (double)counts[m] / (double)n;
        kl += p * log(p * (double)modes);
    }
    out->stack = stack;
    out->n_classes = n_classes;
    out->n_modes = modes;
    out->samples = (int64_t)n;
    out->modes_covered = covered;
    out->kl_uniform = kl;
    out->counts = counts;
    return EB_OK;
}

void eb_stacked_eval_free(eb_stacked_eval *e) {
    if (!e) return;
    free(e->counts);
    memset(e, 0, sizeof *e);
}
