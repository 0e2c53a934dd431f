/* The run's TensorBoard event file: where it goes (--tensorboard on | off | DIR), the restart marker of a
 * resumed run, and one Event of scalars per metrics line (tags as metrics.jsonl's names, grouped). */
#include <stdlib.h>
#include <string.h>

#include "ebgan/tfevents.h"
#include "ebgan/train.h"

eb_status eb_trainer_tb_open(eb_trainer *t) {
    const char *v = t->cfg.tensorboard;
    if (!strcmp(v, "off")) return EB_OK;
    const char *dir = (!v[0] || !strcmp(v, "on")) ? t->run_dir : v;
    t->tb = calloc(1, sizeof *t->tb);
    if (!t->tb) return EB_FAIL(EB_ERR_OOM, "TensorBoard writer: out of memory");
    double now = eb_tfevents_now();
    eb_status st = eb_tfevents_open(t->tb, dir, now);
    /* a resumed session replays the steps after its checkpoint: START at step + 1 tells TensorBoard to drop
     * what an interrupted session logged from there on (and keep the checkpoint's own step) */
    if (st == EB_OK && t->step > 0) st = eb_tfevents_session_start(t->tb, t->step + 1, now);
    if (st != EB_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", eb_error_message());
        eb_trainer_tb_close(t);
        return EB_FAIL(st, "%s (--tensorboard off trains without the event file)", msg);
    }
    return EB_OK;
}

eb_status eb_trainer_tb_scalars(eb_trainer *t, int64_t step, const eb_tb_scalar *v, int n) {
    if (!t->tb) return EB_OK;
    return eb_tfevents_scalars(t->tb, step, eb_tfevents_now(), v, n);
}

void eb_trainer_tb_close(eb_trainer *t) {
    if (!t->tb) return;
    eb_tfevents_close(t->tb);
    free(t->tb);
    t->tb = NULL;
}
