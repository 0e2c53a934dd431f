/* The pass model of one training iteration: how many GEMM multiply-adds its forward and backward passes take,
 * from the networks' shapes, for FLOP rates in the benchmarks (ebgan-gpu bench, bench/). */
#ifndef EBGAN_PASS_MODEL_H
#define EBGAN_PASS_MODEL_H

#include "ebgan/gan.h"

/* FLOPs (2 per multiply-add of the linear, conv and conv-transpose layers; eb_net_macs_per_sample) of one
 * iteration on `batch` samples: a G step and n_critic U steps with the score penalty (DESIGN.md §2). */
double eb_pass_model_flops(const eb_gan *m, int batch, int n_critic);

#endif
