/* Minibatches of real data on the backend: toys are drawn on the host and uploaded; datasets are uploaded
 * once at start-up and each batch is an index gather (with the uint8 -> [-1, 1] map) on the backend. */
#include "batch_source.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(eb_real) == sizeof(float), "the trainer runs in the float build");

eb_status eb_batch_source_init(eb_batch_source *s, const eb_backend *be, const eb_dataset *ds, eb_toy_kind toy,
                               int max_batch) {
    memset(s, 0, sizeof *s);
    s->max_batch = max_batch;
    s->is_toy = ds == NULL;
    s->toy = toy;
    s->ds = ds;
    if (s->is_toy) {
        s->row_elems = EB_TOY_DIM;
        s->toy_host = malloc((size_t)max_batch * EB_TOY_DIM * sizeof(float));
        if (!s->toy_host) return EB_FAIL(EB_ERR_OOM, "batch source: host buffer of %d rows", max_batch);
        return EB_OK;
    }
    s->row_elems = eb_dataset_row_elems(ds);
    size_t esz = ds->storage == EB_DATA_U8 ? 1 : sizeof(float);
    size_t bytes = (size_t)ds->n * (size_t)s->row_elems * esz;
    s->idx_host = malloc((size_t)max_batch * sizeof(int32_t));
    if (!s->idx_host) return EB_FAIL(EB_ERR_OOM, "batch source: index buffer");
    EB_TRY(be->ops->mem_alloc(be->ctx, &s->dev_rows, bytes + (size_t)max_batch * sizeof(int32_t) + 64));
    s->idx_dev = (int32_t *)((char *)s->dev_rows + ((bytes + 63) & ~(size_t)63));
    const void *src = ds->storage == EB_DATA_U8 ? (const void *)ds->u8 : (const void *)ds->f32;
    return be->ops->mem_upload(be->ctx, s->dev_rows, src, bytes);
}

void eb_batch_source_free(eb_batch_source *s, const eb_backend *be) {
    if (s->dev_rows) be->ops->mem_free(be->ctx, s->dev_rows);
    free(s->idx_host);
    free(s->toy_host);
    memset(s, 0, sizeof *s);
}

eb_status eb_batch_source_next(eb_batch_source *s, const eb_backend *be, eb_rng *rng, int n, eb_real *x) {
    if (n > s->max_batch) return EB_FAIL(EB_ERR_ARG, "batch source: %d rows asked, %d allocated", n, s->max_batch);
    if (s->is_toy) {
        eb_toy_fill(s->toy, rng, s->toy_host, (size_t)n);
        return be->ops->mem_upload(be->ctx, x, s->toy_host, (size_t)n * EB_TOY_DIM * sizeof(float));
    }
    eb_dataset_sample_indices(s->ds, rng, s->idx_host, (size_t)n);
    EB_TRY(be->ops->mem_upload(be->ctx, s->idx_dev, s->idx_host, (size_t)n * sizeof(int32_t)));
    if (s->ds->storage == EB_DATA_U8)
        return be->ops->gather_rows_u8(be->ctx, x, s->dev_rows, s->idx_dev, (size_t)n, (size_t)s->row_elems,
                                       EB_DATA_U8_SCALE, EB_DATA_U8_SHIFT);
    return be->ops->gather_rows(be->ctx, x, s->dev_rows, s->idx_dev, (size_t)n, (size_t)s->row_elems);
}
