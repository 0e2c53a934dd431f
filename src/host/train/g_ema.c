/* The generator's exponential moving average (g_ema.h): its update as backend ops after each iteration,
 * its swap with G for evaluation, and its tensors in checkpoints under G_ema.<name>. */
#include "ebgan/g_ema.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t ema_len(const eb_net *G) { return G->n_params + G->n_buffers; }

static eb_status copy_from_net(const eb_backend *be, eb_real *dst, const eb_net *G) {
    EB_TRY(be->ops->mem_copy(be->ctx, dst, G->params, G->n_params * sizeof(eb_real)));
    if (!G->n_buffers) return EB_OK;
    return be->ops->mem_copy(be->ctx, dst + G->n_params, G->buffers, G->n_buffers * sizeof(eb_real));
}

static eb_status copy_to_net(const eb_backend *be, eb_net *G, const eb_real *src) {
    EB_TRY(be->ops->mem_copy(be->ctx, G->params, src, G->n_params * sizeof(eb_real)));
    if (!G->n_buffers) return EB_OK;
    return be->ops->mem_copy(be->ctx, G->buffers, src + G->n_params, G->n_buffers * sizeof(eb_real));
}

eb_status eb_g_ema_init(eb_g_ema *e, const eb_backend *be, const eb_net *G, double decay) {
    memset(e, 0, sizeof *e);
    if (!(decay >= 0 && decay < 1))
        return EB_FAIL(EB_ERR_ARG, "--g-ema %g: expected a decay in [0, 1) (0: off; e.g. 0.999)", decay);
    e->decay = decay;
    if (decay == 0) return EB_OK;
    /* one allocation: the average, then the spare that holds G's raw tensors during a swap */
    eb_real *both = NULL;
    EB_TRY(be->ops->mem_alloc(be->ctx, (void **)&both, 2 * ema_len(G) * sizeof(eb_real)));
    e->w = both;
    e->spare = both + ema_len(G);
    return copy_from_net(be, e->w, G);
}

void eb_g_ema_free(eb_g_ema *e, const eb_backend *be) {
    if (e->w) be->ops->mem_free(be->ctx, e->w);
    memset(e, 0, sizeof *e);
}

eb_status eb_g_ema_update(const eb_g_ema *e, const eb_backend *be, const eb_net *G) {
    if (!e->w) return EB_OK;
    /* axpby: y = a x + b y, with a = 1 - decay and b = decay rounded to eb_real once */
    const eb_real a = (eb_real)(1.0 - e->decay), b = (eb_real)e->decay;
    EB_TRY(be->ops->axpby(be->ctx, e->w, a, G->params, b, G->n_params));
    if (!G->n_buffers) return EB_OK;
    return be->ops->axpby(be->ctx, e->w + G->n_params, a, G->buffers, b, G->n_buffers);
}

eb_status eb_g_ema_stand_in(const eb_g_ema *e, const eb_backend *be, eb_net *G) {
    if (!e->w) return EB_OK;
    EB_TRY(copy_from_net(be, e->spare, G));
    return copy_to_net(be, G, e->w);
}

eb_status eb_g_ema_stand_down(const eb_g_ema *e, const eb_backend *be, eb_net *G) {
    if (!e->w) return EB_OK;
    return copy_to_net(be, G, e->spare);
}

eb_status eb_g_ema_apply(const eb_g_ema *e, const eb_backend *be, eb_net *G) {
    if (!e->w) return EB_FAIL(EB_ERR_ARG, "--g-weights ema: this run keeps no average of G (train with --g-ema)");
    return copy_to_net(be, G, e->w);
}

void eb_g_ema_name(const char *g_name, char *out, size_t cap) {
    const char *dot = strchr(g_name, '.');
    snprintf(out, cap, "G_ema%s", dot ? dot : g_name);
}

eb_status eb_g_ema_download(const eb_g_ema *e, const eb_backend *be, const eb_net *G, float *host) {
    EB_TRY(be->ops->mem_download(be->ctx, host, e->w, ema_len(G) * sizeof(float)));
    for (size_t j = 0; j < ema_len(G); j++)
        if (!isfinite(host[j]))
            return EB_FAIL(EB_ERR_NUMERIC, "the average of G (--g-ema) is not finite: training diverged; not "
                           "checkpointed (earlier checkpoints are kept)");
    return EB_OK;
}

int eb_g_ema_in_checkpoint(const eb_safetensors *st, const eb_net *G) {
    eb_param_info first;
    if (eb_net_param_list(G, &first, 1) < 1) return 0;
    char name[96];
    eb_g_ema_name(first.name, name, sizeof name);
    return eb_safetensors_find(st, name) != NULL;
}

eb_status eb_g_ema_load(eb_g_ema *e, const eb_backend *be, const eb_net *G, const eb_safetensors *st) {
    if (!e->w) return EB_FAIL(EB_ERR_ARG, "G_ema: the average is off");
    int np = eb_net_param_list(G, NULL, 0);
    eb_param_info *info = calloc((size_t)np + 1, sizeof *info);
    float *host = calloc(ema_len(G) + 1, sizeof(float)); /* zero alignment padding (net.h) */
    eb_status rc = EB_OK;
    if (!info || !host) rc = EB_FAIL(EB_ERR_OOM, "checkpoint load: host staging of G_ema");
    if (rc == EB_OK) eb_net_param_list(G, info, np);
    for (int j = 0; j < np && rc == EB_OK; j++) {
        char name[96];
        eb_g_ema_name(info[j].name, name, sizeof name);
        float *dst = host + (info[j].is_buffer ? G->n_params : 0) + info[j].offset;
        rc = eb_safetensors_get(st, name, EB_ST_F32, info[j].ndim, info[j].shape, dst, info[j].len * sizeof(float));
    }
    if (rc == EB_OK) rc = be->ops->mem_upload(be->ctx, e->w, host, ema_len(G) * sizeof(float));
    free(info);
    free(host);
    return rc;
}
