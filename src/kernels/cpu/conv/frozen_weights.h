/* Frozen weights (ops.h: weights_freeze / weights_thaw) and the forms the CPU backend derives from them: the
 * Winograd-transformed weights of conv2d_forward and conv2d_backward_data, kept in the backend's context. */
#ifndef EBGAN_CPU_FROZEN_WEIGHTS_H
#define EBGAN_CPU_FROZEN_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "ebgan/ops.h"

/* Regions the callers froze and forms made for them; both tables are fixed when the context is made. A form is
 * keyed by its weight pointer, the op (EB_WINO_FORWARD, EB_WINO_DATA) and the layer's geometry less the batch
 * (the transformed weights do not depend on it); it is valid while its generation is that of the frozen region
 * holding the weights. Each outermost freeze gives its region a new generation, so forms made before are stale. */
enum { EB_CPU_FROZEN_REGIONS = 16, EB_CPU_FROZEN_FORMS = 64 };

typedef struct eb_cpu_frozen_region {
    const eb_real *w; /* NULL: a free slot */
    size_t n;         /* eb_reals from w */
    int depth;        /* nested freezes */
    uint64_t gen;
} eb_cpu_frozen_region;

typedef struct eb_cpu_frozen_form {
    const eb_real *w; /* NULL: a free slot */
    int op;
    eb_conv_geom g;   /* g.n = 1 */
    uint64_t gen;     /* the region's generation it was made in */
    eb_real *data;    /* backend memory (eb_cpu_mem_alloc), cap eb_reals */
    size_t cap;
} eb_cpu_frozen_form;

typedef struct eb_cpu_frozen {
    eb_cpu_frozen_region regions[EB_CPU_FROZEN_REGIONS];
    eb_cpu_frozen_form forms[EB_CPU_FROZEN_FORMS];
    uint64_t next_gen;
    uint64_t made; /* forms made since the context was (transforms of w run), for the tests */
} eb_cpu_frozen;

/* The op-table entries (ops.h). A freeze past the region table's capacity is not tracked: its weights are
 * then transformed per call, as for weights never frozen. */
void eb_cpu_weights_freeze(void *ctx, const eb_real *w, size_t n);
void eb_cpu_weights_thaw(void *ctx, const eb_real *w);

/* The transformed weights of op (EB_WINO_FORWARD or EB_WINO_DATA) for w and g, when w lies in a frozen region,
 * the layer takes that op's Winograd path and EBGAN_CPU_PREP is not 0 (read once per process); made from w on
 * the first call of the region's generation, read by the later ones (the same bits: the per-call path transforms
 * w with the same function). *form = NULL otherwise: the caller transforms w itself. A form's storage is
 * allocated on a layer's first frozen call and kept for the context's life, so a training step after the first
 * allocates nothing (as the scratch, ops.h); where it cannot be allocated, or every slot holds a form still
 * valid, *form is NULL as well. */
eb_status eb_cpu_frozen_form_get(void *ctx, const eb_conv_geom *g, int op, const eb_real *w, const eb_real **form);

/* Forgets a freeze of the weights at w when their memory is released (eb_cpu_mem_free): a later allocation at
 * the same address holds other weights, whose first freeze must not count as nested. */
void eb_cpu_frozen_release(void *ctx, const void *w);

/* Forms made since the context was (transforms of frozen weights run), and regions frozen now: what the tests
 * observe of the cache. */
uint64_t eb_cpu_frozen_forms_made(void *ctx);
int eb_cpu_frozen_regions(void *ctx);

/* The forms' storage, released with the context. */
void eb_cpu_frozen_free(eb_cpu_frozen *f);

#endif
