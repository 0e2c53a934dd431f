/* --g-weights of the sampling commands: which of a run's generators (the trained G or its moving average,
 * g_ema.h) `sample`, `eval` and their MCMC chains run. */
#include <string.h>

#include "ebgan/train.h"

eb_status eb_trainer_select_g(eb_trainer *t, const char *which) {
    if (!which[0]) which = t->g_ema.w ? "ema" : "raw"; /* the average when the run keeps one */
    if (!strcmp(which, "raw")) return EB_OK;
    if (strcmp(which, "ema")) return EB_FAIL(EB_ERR_ARG, "--g-weights '%s': expected ema or raw", which);
    return eb_g_ema_apply(&t->g_ema, &t->be, &t->gan.G);
}
