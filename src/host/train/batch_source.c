/* Minibatches of real data on the backend: toys are drawn by the toy_sample op; datasets are uploaded once at
 * start-up and each batch is an index draw plus a gather (with the uint8 -> [-1, 1] map) on the backend. */
#include "batch_source.h"

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
        return EB_OK;
    }
    if (ds->n < 1 || ds->n > INT32_MAX)
        return EB_FAIL(EB_ERR_ARG, "data %s: %lld rows; 1 to 2^31 - 1 are supported", ds->name, (long long)ds->n);
    s->row_elems = eb_dataset_row_elems(ds);
    size_t esz = ds->storage == EB_DATA_U8 ? 1 : sizeof(float);
    size_t bytes = (size_t)ds->n * (size_t)s->row_elems * esz;
    /* [rows | indices], the indices EB_TENSOR_ALIGN_BYTES-aligned (align.h) */
    const size_t rows_bytes = (bytes + EB_TENSOR_ALIGN_BYTES - 1) / EB_TENSOR_ALIGN_BYTES * EB_TENSOR_ALIGN_BYTES;
    EB_TRY(be->ops->mem_alloc(be->ctx, &s->dev_rows, rows_bytes + (size_t)max_batch * sizeof(int32_t)));
    s->idx_dev = (int32_t *)((char *)s->dev_rows + rows_bytes);
    const void *src = ds->storage == EB_DATA_U8 ? (const void *)ds->u8 : (const void *)ds->f32;
    return be->ops->mem_upload(be->ctx, s->dev_rows, src, bytes);
}

void eb_batch_source_free(eb_batch_source *s, const eb_backend *be) {
    if (s->dev_rows) be->ops->mem_free(be->ctx, s->dev_rows);
    memset(s, 0, sizeof *s);
}

uint64_t eb_batch_source_counters(const eb_batch_source *s, int n) {
    return (s->is_toy ? 3u : 1u) * (uint64_t)n;
}

eb_status eb_batch_source_next(eb_batch_source *s, const eb_backend *be, eb_rng_pos pos, int n, eb_real *x) {
    const eb_ops *o = be->ops;
    if (n > s->max_batch) return EB_FAIL(EB_ERR_ARG, "batch source: %d rows asked, %d allocated", n, s->max_batch);
    if (s->is_toy) return o->toy_sample(be->ctx, s->toy, x, (size_t)n, pos);
    EB_TRY(o->rng_index(be->ctx, s->idx_dev, (size_t)n, (uint32_t)s->ds->n, pos));
    if (s->ds->storage == EB_DATA_U8)
        return o->gather_rows_u8(be->ctx, x, s->dev_rows, s->idx_dev, (size_t)n, (size_t)s->row_elems,
                                 EB_DATA_U8_SCALE, EB_DATA_U8_SHIFT);
    return o->gather_rows(be->ctx, x, s->dev_rows, s->idx_dev, (size_t)n, (size_t)s->row_elems);
}
