/* The divergence watch (docs/DESIGN.md §4.8): device-side marks of the first non-finite loss, gradient or weight,
 * read when the run logs or saves, and what --on-divergence does then: stop, or roll back on a shifted stream. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ebgan/cuda.h"
#include "ebgan/train.h"

eb_status eb_divergence_policy_parse(const char *text, int *rollback_max) {
    *rollback_max = 0;
    if (!strcmp(text, "stop")) return EB_OK;
    if (!strcmp(text, "rollback")) {
        *rollback_max = 3;
        return EB_OK;
    }
    if (!strncmp(text, "rollback:", 9)) {
        char *end;
        errno = 0;
        long n = strtol(text + 9, &end, 10);
        if (!errno && end != text + 9 && !*end && n >= 1 && n <= 1000000) {
            *rollback_max = (int)n;
            return EB_OK;
        }
    }
    return EB_FAIL(EB_ERR_ARG, "--on-divergence '%s': expected stop, rollback or rollback:N with N >= 1", text);
}

static void term_add(eb_divergence *d, const char *what, const eb_net *net, const eb_real *x0, size_t n0,
                     const eb_real *x1, size_t n1) {
    eb_divergence_term *k = &d->term[d->n_terms++];
    snprintf(k->name, sizeof k->name, "%s%s", what, net ? net->name : "");
    k->x[0] = x0, k->n[0] = n0, k->x[1] = x1, k->n[1] = n1;
    k->every_iteration = !net;
}

/* The terms in the order an iteration computes them (the G step's, then the U steps'), so that of the terms that
 * went non-finite in the same iteration the first named is the cause, the later ones its consequences. The losses
 * are marked in every iteration (two scalars); the nets' state (the last gradients, Adam's moments, the weights
 * with their buffers) where the run logs or saves: a non-finite gradient never leaves them finite (Adam turns it
 * into a NaN moment and weight), so the check is as strict at a fraction of the reads. The moments count: a
 * squared gradient that overflows leaves the weights finite but the checkpoint not. */
eb_status eb_divergence_init(eb_trainer *t) {
    eb_divergence *d = &t->div;
    EB_TRY(eb_divergence_policy_parse(t->cfg.on_divergence[0] ? t->cfg.on_divergence : "stop", &d->rollback_max));
    const eb_iteration_plan *p = &t->plan;
    d->n_terms = 0;
    term_add(d, "G loss", NULL, t->gs.terms + EB_GTERM_LOSS, 1, NULL, 0);
    for (int i = 0; i < p->n_g_nets; i++)
        term_add(d, "gradient of ", p->g_nets[i], p->g_nets[i]->grads, p->g_nets[i]->n_params, NULL, 0);
    for (int i = 0; i < p->n_g_nets; i++)
        term_add(d, "Adam moments of ", p->g_nets[i], p->g_opts[i]->m, p->g_opts[i]->n, p->g_opts[i]->v,
                 p->g_opts[i]->n);
    for (int i = 0; i < p->n_g_nets; i++)
        term_add(d, "weights of ", p->g_nets[i], p->g_nets[i]->params, p->g_nets[i]->n_params,
                 p->g_nets[i]->buffers, p->g_nets[i]->n_buffers);
    term_add(d, "U loss", NULL, t->us.terms + EB_UTERM_LOSS, 1, NULL, 0);
    term_add(d, "gradient of ", p->u_net, p->u_net->grads, p->u_net->n_params, NULL, 0);
    term_add(d, "Adam moments of ", p->u_net, p->u_opt->m, p->u_opt->n, p->u_opt->v, p->u_opt->n);
    term_add(d, "weights of ", p->u_net, p->u_net->params, p->u_net->n_params, p->u_net->buffers,
             p->u_net->n_buffers);
    /* one more slot: the clock of a check of the state (mark_state) */
    EB_TRY(t->be.ops->mem_alloc(t->be.ctx, (void **)&d->first, (EB_DIVERGENCE_TERMS_MAX + 1) * sizeof(int64_t)));
    int64_t none[EB_DIVERGENCE_TERMS_MAX];
    for (int i = 0; i < EB_DIVERGENCE_TERMS_MAX; i++) none[i] = -1;
    return t->be.ops->mem_upload(t->be.ctx, d->first, none, sizeof none);
}

void eb_divergence_free(eb_trainer *t) {
    if (t->div.first && t->be.ops) t->be.ops->mem_free(t->be.ctx, t->div.first);
    t->div.first = NULL;
}

static eb_status mark_terms(eb_trainer *t, int every_iteration, const int64_t *clock) {
    const eb_divergence *d = &t->div;
    for (int i = 0; i < d->n_terms; i++)
        for (int j = 0; j < 2; j++)
            if (d->term[i].every_iteration == every_iteration && d->term[i].x[j] && d->term[i].n[j])
                EB_TRY(t->be.ops->nonfinite_mark(t->be.ctx, d->term[i].x[j], d->term[i].n[j], clock, d->first + i));
    return EB_OK;
}

eb_status eb_divergence_mark(eb_trainer *t) { return mark_terms(t, 1, t->clock); }

/* The nets' state after t->step iterations, marked as of the last of them (clock step - 1, as the iteration's). */
static eb_status mark_state(eb_trainer *t) {
    int64_t *clock = t->div.first + EB_DIVERGENCE_TERMS_MAX, last = t->step - 1;
    EB_TRY(t->be.ops->mem_upload(t->be.ctx, clock, &last, sizeof last));
    return mark_terms(t, 0, clock);
}

int eb_divergence_due(const eb_trainer *t, int64_t s) {
    const eb_train_cfg *c = &t->cfg;
    return s % c->log_every == 0 || s == c->iters || (c->ckpt_every > 0 && s % c->ckpt_every == 0) ||
           (c->plot_every > 0 && s % c->plot_every == 0) || (c->eval_every > 0 && s % c->eval_every == 0);
}

/* The earliest mark over the terms (and with `agree` over the ranks: every rank then decides alike); -1 when
 * none. `term` gets the first term marked at that iteration. */
static eb_status earliest(eb_trainer *t, int agree, int64_t *iter, int *term) {
    const eb_divergence *d = &t->div;
    int64_t first[EB_DIVERGENCE_TERMS_MAX];
    EB_TRY(mark_state(t));
    EB_TRY(t->be.ops->mem_download(t->be.ctx, first, d->first, (size_t)d->n_terms * sizeof(int64_t)));
    double v[EB_DIVERGENCE_TERMS_MAX]; /* -iteration, so that the ranks' maximum is the earliest; -inf: unmarked */
    for (int i = 0; i < d->n_terms; i++) v[i] = first[i] >= 0 ? -(double)first[i] : -1e300;
    if (agree) EB_TRY(eb_comm_host_allreduce(t->comm, v, (size_t)d->n_terms, EB_COMM_MAX));
    *iter = -1, *term = -1;
    for (int i = 0; i < d->n_terms; i++)
        if (v[i] > -1e299 && (*iter < 0 || (int64_t)-v[i] < *iter)) *iter = (int64_t)-v[i], *term = i;
    return EB_OK;
}

/* "is" or "are" for a term's name */
static const char *verb(const char *term) { return strncmp(term, "weights", 7) && strncmp(term, "Adam", 4) ? "is" : "are"; }

eb_status eb_divergence_check_save(eb_trainer *t) {
    int64_t it;
    int k;
    if (!t->div.first) return EB_OK;
    EB_TRY(earliest(t, 0, &it, &k)); /* rank 0 alone saves: its own marks (the run loop agreed on them before) */
    if (it < 0) return EB_OK;
    return EB_FAIL(EB_ERR_NUMERIC, "the %s %s not finite since step %lld: training diverged; not checkpointed "
                   "(earlier checkpoints are kept)", t->div.term[k].name, verb(t->div.term[k].name), (long long)it + 1);
}

/* metrics.jsonl loses the records after `step` (the abandoned attempt's) and gains one naming the rollback;
 * TensorBoard drops the attempt's events from step + 1 on, as on a resume (tb_log.c). */
static eb_status log_rollback(eb_trainer *t, int64_t diverged, const char *term, const char *ckpt) {
    if (t->comm->rank != 0) return EB_OK;
    char path[EB_CFG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/metrics.jsonl", t->run_dir);
    int dropped = 0;
    eb_jsonl_close(&t->metrics);
    EB_TRY(eb_run_metrics_trim(path, t->step, &dropped));
    EB_TRY(eb_jsonl_open(&t->metrics, path, 0));
    eb_json_line l;
    eb_json_line_begin(&l);
    eb_json_line_int(&l, "step", t->step);
    eb_json_line_str(&l, "event", "rollback");
    eb_json_line_int(&l, "rollback", t->div.stream_epoch);
    eb_json_line_int(&l, "rollback_max", t->div.rollback_max);
    eb_json_line_int(&l, "diverged_at", diverged);
    eb_json_line_str(&l, "term", term);
    eb_json_line_str(&l, "checkpoint", ckpt);
    eb_json_line_int(&l, "stream_epoch", t->div.stream_epoch);
    eb_json_line_end(&l);
    EB_TRY(eb_jsonl_append(&t->metrics, &l));
    if (!t->tb) return EB_OK;
    EB_TRY(eb_tfevents_session_start(t->tb, t->step + 1, eb_tfevents_now()));
    const eb_tb_scalar v[] = {{"divergence/rollback", (double)t->div.stream_epoch},
                              {"divergence/diverged_at", (double)diverged}};
    return eb_trainer_tb_scalars(t, t->step, v, 2);
}

/* Back to the newest intact checkpoint of the run, then one stream epoch further than any attempt so far:
 * the checkpoint's counter moves by whole epochs, so a resume of a later checkpoint replays exactly. */
static eb_status rollback(eb_trainer *t, char *ckpt, size_t cap) {
    eb_divergence *d = &t->div;
    char note[1400];
    EB_TRY(eb_ckpt_find(t->run_dir, 1, ckpt, cap, note, sizeof note));
    const int64_t epoch = d->stream_epoch + 1;
    const double wall_offset = t->wall_offset;
    /* eb_trainer_load checks the file's counter against the stream's start (the counter at step 0, epoch 0) */
    t->rng.counter -= (uint64_t)t->step * t->plan.stride + (uint64_t)d->stream_epoch * EB_STREAM_EPOCH_COUNTERS;
    t->step = 0;
    EB_TRY(eb_trainer_load(t, ckpt));
    t->wall_offset = wall_offset; /* the run's wall clock goes on */
    t->rng.counter += (uint64_t)(epoch - d->stream_epoch) * EB_STREAM_EPOCH_COUNTERS;
    d->stream_epoch = epoch;
    int64_t none[EB_DIVERGENCE_TERMS_MAX];
    for (int i = 0; i < EB_DIVERGENCE_TERMS_MAX; i++) none[i] = -1;
    EB_TRY(t->be.ops->mem_upload(t->be.ctx, d->first, none, sizeof none));
    EB_TRY(t->be.ops->mem_upload(t->be.ctx, t->clock, &t->step, sizeof t->step));
    /* the captured graphs hold the old stream position: each pattern's next iteration captures again */
    for (int i = 0; t->graphs && i < EB_PLAN_PATTERNS_MAX(t->plan.n_critic); i++) {
        eb_cuda_graph_free(t->graphs[i]);
        t->graphs[i] = NULL;
    }
    return EB_OK;
}

eb_status eb_divergence_poll(eb_trainer *t, FILE *log, int *rolled_back) {
    *rolled_back = 0;
    int64_t it;
    int k;
    EB_TRY(earliest(t, 1, &it, &k));
    if (it < 0) return EB_OK;
    eb_divergence *d = &t->div;
    char term[sizeof d->term[0].name];
    snprintf(term, sizeof term, "%s", d->term[k].name);
    const int64_t step = it + 1; /* the iteration run at clock `it` completes step it + 1 */
    if (d->stream_epoch < d->rollback_max) {
        char ckpt[EB_CFG_PATH_MAX + 80];
        eb_status st = rollback(t, ckpt, sizeof ckpt);
        if (st == EB_OK) {
            EB_TRY(log_rollback(t, step, term, ckpt));
            if (t->comm->rank == 0) {
                fprintf(log, "\ndiverged at step %lld (%s not finite): rolled back to step %lld (%s) on fresh random "
                        "draws, stream epoch %lld; rollback %lld of %d\n", (long long)step, term, (long long)t->step,
                        ckpt, (long long)d->stream_epoch, (long long)d->stream_epoch, d->rollback_max);
                fflush(log);
            }
            *rolled_back = 1;
            return EB_OK;
        }
        char why[1200];
        snprintf(why, sizeof why, "%s", eb_error_message());
        return EB_FAIL(EB_ERR_NUMERIC, "training diverged at step %lld: the %s %s not finite; no checkpoint to roll "
                       "back to (%s)", (long long)step, term, verb(term), why);
    }
    if (d->rollback_max > 0)
        return EB_FAIL(EB_ERR_NUMERIC, "training diverged at step %lld: the %s %s not finite, after %d rollbacks "
                       "(--on-divergence rollback:%d); stopped there, the last good checkpoint is %s", (long long)step,
                       term, verb(term), d->rollback_max, d->rollback_max, t->saved_step >= 0 ? t->last_ckpt : "none");
    return EB_FAIL(EB_ERR_NUMERIC, "training diverged at step %lld: the %s %s not finite; stopped there without "
                   "checkpointing it (last good checkpoint: %s); try a smaller --lr or --lambda, or --on-divergence "
                   "rollback", (long long)step, term, verb(term), t->saved_step >= 0 ? t->last_ckpt : "none");
}
