/* The trainer's checks and reductions across ranks (DESIGN.md §4 scale-out): logged scalars averaged over
 * the global batch, and a periodic proof that every rank still holds the same weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ebgan/stop_signal.h"
#include "ebgan/train.h"

eb_status eb_trainer_reduce_terms(eb_trainer *t, double u[EB_UTERM_COUNT], double g[EB_GTERM_COUNT]) {
    if (t->comm->world <= 1) return EB_OK;
    double v[EB_UTERM_COUNT + EB_GTERM_COUNT];
    memcpy(v, u, sizeof(double) * EB_UTERM_COUNT);
    memcpy(v + EB_UTERM_COUNT, g, sizeof(double) * EB_GTERM_COUNT);
    EB_TRY(eb_comm_host_allreduce(t->comm, v, EB_UTERM_COUNT + EB_GTERM_COUNT, EB_COMM_SUM));
    /* every term is a mean over a rank's slice, the slices equal: the global mean is their mean */
    for (int i = 0; i < EB_UTERM_COUNT; i++) u[i] = v[i] / t->comm->world;
    for (int i = 0; i < EB_GTERM_COUNT; i++) g[i] = v[EB_UTERM_COUNT + i] / t->comm->world;
    return EB_OK;
}

/* FNV-1a over bytes: equal weights give equal hashes, and one flipped bit changes it. */
static uint64_t fnv1a(const void *p, size_t n, uint64_t h) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

eb_status eb_trainer_check_agreement(eb_trainer *t) {
    if (t->comm->world <= 1) return EB_OK;
    eb_net *nets[EB_GAN_NETS_MAX];
    eb_optim *opts[EB_GAN_NETS_MAX];
    const int k = eb_gan_nets(&t->gan, nets, opts);
    double mine[2 * EB_GAN_NETS_MAX] = {0}, root[2 * EB_GAN_NETS_MAX];
    size_t cap = 0;
    for (int i = 0; i < k; i++) {
        size_t n = nets[i]->n_params + nets[i]->n_buffers;
        if (n > cap) cap = n;
    }
    eb_real *host = malloc(cap * sizeof(eb_real) + 1);
    if (!host) return EB_FAIL(EB_ERR_OOM, "weight check: %zu bytes of host staging", cap * sizeof(eb_real));
    for (int i = 0; i < k; i++) {
        uint64_t h = 0xcbf29ce484222325ULL;
        eb_status st = t->be.ops->mem_download(t->be.ctx, host, nets[i]->params, nets[i]->n_params * sizeof(eb_real));
        if (st == EB_OK && nets[i]->n_buffers)
            st = t->be.ops->mem_download(t->be.ctx, host + nets[i]->n_params, nets[i]->buffers,
                                         nets[i]->n_buffers * sizeof(eb_real));
        if (st != EB_OK) {
            free(host);
            return st;
        }
        h = fnv1a(host, (nets[i]->n_params + nets[i]->n_buffers) * sizeof(eb_real), h);
        mine[2 * i] = (double)(h >> 32); /* two exact halves: a double holds 53 bits */
        mine[2 * i + 1] = (double)(h & 0xffffffffu);
    }
    free(host);
    memcpy(root, mine, sizeof mine);
    EB_TRY(eb_comm_host_bcast(t->comm, root, sizeof root, 0));
    int first_bad = -1;
    for (int i = 0; i < k && first_bad < 0; i++)
        if (mine[2 * i] != root[2 * i] || mine[2 * i + 1] != root[2 * i + 1]) first_bad = i;
    /* which rank and net: the highest rank that differs, and its first differing net */
    double flag[2] = {first_bad >= 0 ? t->comm->rank + 1 : 0, first_bad >= 0 ? first_bad : 0};
    double who[1] = {flag[0]};
    EB_TRY(eb_comm_host_allreduce(t->comm, who, 1, EB_COMM_MAX));
    if (who[0] == 0) return EB_OK;
    double net_of[1] = {flag[0] == who[0] ? flag[1] : 0};
    EB_TRY(eb_comm_host_allreduce(t->comm, net_of, 1, EB_COMM_MAX));
    return EB_FAIL(EB_ERR_NUMERIC,
                   "at step %lld the weights of %s on rank %d differ from rank 0's (checksums disagree): the ranks "
                   "no longer train one model (different checkpoints or data files per node?); stopping",
                   (long long)t->step, nets[(int)net_of[0]]->name, (int)who[0] - 1);
}

int eb_trainer_agree_stop(eb_trainer *t, int signo) {
    if (!eb_comm_active(t->comm)) return signo;
    /* one all-reduce (max) per iteration: any rank's signal stops every rank after this same iteration; the
     * requeue signal ranks above the others, so a preempted job is requeued even if a rank also saw SIGTERM */
    double key[1] = {signo == 0 ? 0 : eb_stop_signal_is_requeue(signo) ? 1000 + signo : signo};
    if (eb_comm_host_allreduce(t->comm, key, 1, EB_COMM_MAX) != EB_OK) return signo;
    const int k = (int)key[0];
    return k >= 1000 ? k - 1000 : k;
}
