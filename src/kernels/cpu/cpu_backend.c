/* The CPU backend: the op table of the plain-C reference implementation and its context.
 * Always built; it is the oracle every other backend is tested against. */
#include "ebgan/backend.h"
#include "cpu_ops.h"

#include <stdlib.h>
#include <string.h>

static const eb_ops g_cpu_ops = {
    .name = "cpu",
    .mem_alloc = eb_cpu_mem_alloc,
    .mem_free = eb_cpu_mem_free,
    .mem_upload = eb_cpu_mem_upload,
    .mem_download = eb_cpu_mem_download,
    .mem_copy = eb_cpu_mem_copy,
    .sync = eb_cpu_sync,
    .fill = eb_cpu_fill,
    .axpby = eb_cpu_axpby,
    .mul = eb_cpu_mul,
    .copy_2d = eb_cpu_copy_2d,
    .gather_rows = eb_cpu_gather_rows,
    .gather_rows_u8 = eb_cpu_gather_rows_u8,
    .lerp_rows = eb_cpu_lerp_rows,
    .reduce_sum = eb_cpu_reduce_sum,
    .row_sqnorm = eb_cpu_row_sqnorm,
    .nonfinite_mark = eb_cpu_nonfinite_mark,
    .rng_normal = eb_cpu_rng_normal,
    .rng_uniform = eb_cpu_rng_uniform,
    .rng_index = eb_cpu_rng_index,
    .rng_perm = eb_cpu_rng_perm,
    .toy_sample = eb_cpu_toy_sample,
    .clock_add = eb_cpu_clock_add,
    .linear_forward = eb_cpu_linear_forward,
    .linear_backward_data = eb_cpu_linear_backward_data,
    .linear_backward_weight = eb_cpu_linear_backward_weight,
    .bias_add = eb_cpu_bias_add,
    .bias_backward = eb_cpu_bias_backward,
    .conv2d_forward = eb_cpu_conv2d_forward,
    .conv2d_backward_data = eb_cpu_conv2d_backward_data,
    .conv2d_backward_filter = eb_cpu_conv2d_backward_filter,
    .weights_freeze = eb_cpu_weights_freeze,
    .weights_thaw = eb_cpu_weights_thaw,
    .act_forward = eb_cpu_act_forward,
    .bias_act_forward = eb_cpu_bias_act_forward,
    .act_backward = eb_cpu_act_backward,
    .act_curvature = eb_cpu_act_curvature,
    .bn_forward_train = eb_cpu_bn_forward_train,
    .bn_forward_infer = eb_cpu_bn_forward_infer,
    .bn_backward_train = eb_cpu_bn_backward_train,
    .bn_tangent_train = eb_cpu_bn_tangent_train,
    .bn_backward_infer = eb_cpu_bn_backward_infer,
    .bn_channel_sums = eb_cpu_bn_channel_sums,
    .bn_forward_global = eb_cpu_bn_forward_global,
    .bn_backward_global = eb_cpu_bn_backward_global,
    .bce_logits = eb_cpu_bce_logits,
    .sqdiff = eb_cpu_sqdiff,
    .penalty_seed = eb_cpu_penalty_seed,
    .softmax_xent = eb_cpu_softmax_xent,
    .mala_propose = eb_cpu_mala_propose,
    .mala_accept = eb_cpu_mala_accept,
    .vera_noise = eb_cpu_vera_noise,
    .vera_post_sample = eb_cpu_vera_post_sample,
    .vera_score = eb_cpu_vera_score,
    .vera_sigma_grad = eb_cpu_vera_sigma_grad,
    .vera_post_seed = eb_cpu_vera_post_seed,
    .vera_post_grad = eb_cpu_vera_post_grad,
    .optim_hyper = eb_cpu_optim_hyper,
    .adam_update = eb_cpu_adam_update,
    .sgd_update = eb_cpu_sgd_update,
};

eb_real *eb_cpu_scratch(void *ctx, size_t elems) {
    eb_cpu_ctx *c = ctx;
    if (elems <= c->scratch_elems) return c->scratch;
    eb_real *p = realloc(c->scratch, elems * sizeof(eb_real));
    if (!p) {
        EB_FAIL(EB_ERR_OOM, "CPU scratch: cannot allocate %zu bytes", elems * sizeof(eb_real));
        return NULL;
    }
    c->scratch = p;
    c->scratch_elems = elems;
    return p;
}

int eb_cpu_env_switch(const char *name, int *cache) {
    int m = __atomic_load_n(cache, __ATOMIC_RELAXED);
    if (m < 0) {
        const char *e = getenv(name);
        m = !(e && strcmp(e, "0") == 0);
        __atomic_store_n(cache, m, __ATOMIC_RELAXED);
    }
    return m;
}

eb_status eb_cpu_backend_init(eb_backend *be) {
    eb_cpu_ctx *c = calloc(1, sizeof *c);
    if (c) c->frozen = calloc(1, sizeof *c->frozen);
    if (!c || !c->frozen) {
        free(c);
        return EB_FAIL(EB_ERR_OOM, "CPU backend: cannot allocate its context");
    }
    be->ops = &g_cpu_ops;
    be->ctx = c;
    return EB_OK;
}

void eb_cpu_backend_free(eb_backend *be) {
    if (!be || !be->ctx) return;
    eb_cpu_ctx *c = be->ctx;
    free(c->scratch);
    eb_cpu_frozen_free(c->frozen);
    free(c->frozen);
    free(c);
    be->ctx = NULL;
}
