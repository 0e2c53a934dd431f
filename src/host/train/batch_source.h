/* Where minibatches of real data come from: toys drawn fresh on the host, or a dataset kept resident on
 * the backend (uint8 images stay uint8) and gathered + normalised there by index (DESIGN.md §4). */
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
    void *dev_rows;        /* the dataset on the backend (uint8 or float), one allocation */
    int32_t *idx_dev;      /* [max_batch] */
    int32_t *idx_host;     /* [max_batch] */
    float *toy_host;       /* [max_batch, 2] */
} eb_batch_source;

/* ds == NULL: the toy `toy`. */
eb_status eb_batch_source_init(eb_batch_source *s, const eb_backend *be, const eb_dataset *ds, eb_toy_kind toy,
                               int max_batch);
void eb_batch_source_free(eb_batch_source *s, const eb_backend *be);
/* x[n, row] on the backend, drawing from rng. */
eb_status eb_batch_source_next(eb_batch_source *s, const eb_backend *be, eb_rng *rng, int n, eb_real *x);

#endif
