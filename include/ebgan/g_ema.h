/* The generator's exponential moving average (--g-ema): a copy of G's parameters and batch-norm buffers
 * that follows G on the backend, saved in checkpoints as G_ema.<name> and used for samples when present. */
#ifndef EBGAN_G_EMA_H
#define EBGAN_G_EMA_H

#include "ebgan/backend.h"
#include "ebgan/net.h"
#include "ebgan/safetensors.h"

typedef struct eb_g_ema {
    double decay;   /* ema = decay * ema + (1 - decay) * w after each iteration; 0: off (nothing allocated) */
    eb_real *w;     /* on the backend: [G params | G buffers], G's own layout and padding (net.h) */
    eb_real *spare; /* the same size: G's raw tensors while the average stands in for them (eb_g_ema_stand_in) */
} eb_g_ema;

/* decay in [0, 1); with decay > 0 allocates the average and starts it at G's current tensors. */
eb_status eb_g_ema_init(eb_g_ema *e, const eb_backend *be, const eb_net *G, double decay);
void eb_g_ema_free(eb_g_ema *e, const eb_backend *be);
/* ema = decay * ema + (1 - decay) * G, parameters and buffers: two axpby launches, no host transfer (so it
 * lives inside a captured iteration, DESIGN.md §4). A no-op when off. */
eb_status eb_g_ema_update(const eb_g_ema *e, const eb_backend *be, const eb_net *G);
/* Evaluation of the averaged generator in place: stand_in keeps G's tensors in the spare and puts the average
 * in G; stand_down puts G's own tensors back. Copies only: the addresses stay (a captured iteration uses them). */
eb_status eb_g_ema_stand_in(const eb_g_ema *e, const eb_backend *be, eb_net *G);
eb_status eb_g_ema_stand_down(const eb_g_ema *e, const eb_backend *be, eb_net *G);
/* G's tensors overwritten by the average (the sampling commands' --g-weights ema). */
eb_status eb_g_ema_apply(const eb_g_ema *e, const eb_backend *be, eb_net *G);

/* Checkpoints: the G_ema.<name> tensor name of G's tensor "G.<name>". */
void eb_g_ema_name(const char *g_name, char *out, size_t cap);
/* Downloads the average into host staging [n_params | n_buffers] (floats), EB_ERR_NUMERIC if not finite. */
eb_status eb_g_ema_download(const eb_g_ema *e, const eb_backend *be, const eb_net *G, float *host);
/* 1 when the checkpoint holds an average of G (its first tensor's name is there). */
int eb_g_ema_in_checkpoint(const eb_safetensors *st, const eb_net *G);
/* Reads every G_ema.<name> tensor of the checkpoint into the average (the average must be on). */
eb_status eb_g_ema_load(eb_g_ema *e, const eb_backend *be, const eb_net *G, const eb_safetensors *st);

#endif
