/* Where minibatches of real data come from: toys drawn on the backend, or a dataset kept resident on the
 * backend (uint8 images stay uint8) and gathered + normalised there by index (DESIGN.md §4). */
#ifndef EBGAN_TRAIN_BATCH_SOURCE_H
#define EBGAN_TRAIN_BATCH_SOURCE_H

#include "ebgan/data.h"
#include "ebgan/ops.h"

typedef struct eb_batch_source {
    int is_toy;
    eb_toy_kind toy;
    const eb_dataset *ds;  /* not owned */
    int64_t row_elems;
    int max_batch;
    void *dev_rows;        /* the dataset on the backend (uint8 or float) and idx_dev: one allocation */
    int32_t *idx_dev;      /* [max_batch] minibatch indices, drawn on the backend */
} eb_batch_source;

/* ds == NULL: the toy `toy`. */
eb_status eb_batch_source_init(eb_batch_source *s, const eb_backend *be, const eb_dataset *ds, eb_toy_kind toy,
                               int max_batch);
void eb_batch_source_free(eb_batch_source *s, const eb_backend *be);
/* Counters of the stream one batch of n rows takes (toys 3 per point, datasets 1 per index). */
uint64_t eb_batch_source_counters(const eb_batch_source *s, int n);
/* x[n, row] on the backend from the stream at `pos` (rows drawn with replacement): only backend ops, no
 * host transfer, so the trainer's CUDA graph captures it. */
eb_status eb_batch_source_next(eb_batch_source *s, const eb_backend *be, eb_rng_pos pos, int n, eb_real *x);

#endif
