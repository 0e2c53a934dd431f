/* The anomaly protocol's split (anomaly.h): normals pooled over the sources, shuffled by a fixed-seed
 * Fisher-Yates, 80% for training; the rest of the normals and the whole held-out class for testing. */
#include "ebgan/anomaly.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Row r of the pooled sources. */
static void pooled_row(const eb_dataset *const *srcs, int n_srcs, int64_t r, const eb_dataset **ds, int64_t *row) {
    for (int s = 0; s < n_srcs; s++) {
        if (r < srcs[s]->n) {
            *ds = srcs[s];
            *row = r;
            return;
        }
        r -= srcs[s]->n;
    }
    *ds = NULL;
    *row = -1;
}

static void copy_rows(eb_dataset *dst, const eb_dataset *const *srcs, int n_srcs, const int64_t *rows, int64_t n) {
    size_t re = (size_t)eb_dataset_row_elems(dst);
    for (int64_t i = 0; i < n; i++) {
        const eb_dataset *ds;
        int64_t r;
        pooled_row(srcs, n_srcs, rows[i], &ds, &r);
        if (dst->storage == EB_DATA_U8) memcpy(dst->u8 + (size_t)i * re, ds->u8 + (size_t)r * re, re);
        else memcpy(dst->f32 + (size_t)i * re, ds->f32 + (size_t)r * re, re * sizeof(float));
        dst->labels[i] = ds->labels[r];
    }
}

eb_status eb_dataset_holdout_split(const eb_dataset *const *srcs, int n_srcs, int k, eb_dataset *train,
                                   eb_dataset *test) {
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (n_srcs < 1) return EB_FAIL(EB_ERR_ARG, "--holdout-class: no data");
    const eb_dataset *a = srcs[0];
    int64_t total = 0;
    int n_classes = 0;
    for (int s = 0; s < n_srcs; s++) {
        const eb_dataset *d = srcs[s];
        if (!d->labels)
            return EB_FAIL(EB_ERR_ARG, "--holdout-class needs labelled data: %s has no labels", d->name);
        if (d->c != a->c || d->h != a->h || d->w != a->w || d->storage != a->storage)
            return EB_FAIL(EB_ERR_ARG, "--holdout-class: %s and %s differ in sample shape or type", a->name, d->name);
        if (d->n_classes > n_classes) n_classes = d->n_classes;
        total += d->n;
    }
    if (k < 0 || k >= n_classes)
        return EB_FAIL(EB_ERR_ARG, "--holdout-class %d is out of range: %s has classes 0..%d", k, a->name,
                       n_classes - 1);
    int64_t *normal = malloc((size_t)total * sizeof *normal), *held = malloc((size_t)total * sizeof *held);
    if (!normal || !held) {
        free(normal);
        free(held);
        return EB_FAIL(EB_ERR_OOM, "--holdout-class: index buffers");
    }
    int64_t nn = 0, nh = 0;
    for (int64_t r = 0; r < total; r++) {
        const eb_dataset *ds;
        int64_t row;
        pooled_row(srcs, n_srcs, r, &ds, &row);
        if (ds->labels[row] == k) held[nh++] = r;
        else normal[nn++] = r;
    }
    eb_rng rng;
    eb_rng_init(&rng, EB_HOLDOUT_SEED);
    for (int64_t i = nn - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)eb_rng_below(&rng, (uint32_t)(i + 1));
        int64_t tmp = normal[i];
        normal[i] = normal[j];
        normal[j] = tmp;
    }
    int64_t n_train = nn * EB_HOLDOUT_TRAIN_PERCENT / 100, n_test = nn - n_train + nh;
    eb_status st = EB_OK;
    if (nh == 0 || n_train < 2)
        st = EB_FAIL(EB_ERR_ARG, "--holdout-class %d: %s has %lld images of that class and %lld others", k, a->name,
                     (long long)nh, (long long)nn);
    char name[1100];
    snprintf(name, sizeof name, "%s (without class %d)", a->name, k);
    if (st == EB_OK) st = eb_dataset_init(train, name, n_train, a->c, a->h, a->w, a->storage, 1);
    snprintf(name, sizeof name, "%s (anomaly test split, class %d)", a->name, k);
    if (st == EB_OK) st = eb_dataset_init(test, name, n_test, a->c, a->h, a->w, a->storage, 1);
    if (st == EB_OK) {
        train->n_classes = test->n_classes = n_classes;
        copy_rows(train, srcs, n_srcs, normal, n_train);
        copy_rows(test, srcs, n_srcs, normal + n_train, nn - n_train);
        eb_dataset tail = *test; /* the held-out class after the test normals */
        size_t re = (size_t)eb_dataset_row_elems(test), off = (size_t)(nn - n_train);
        if (tail.u8) tail.u8 += off * re;
        if (tail.f32) tail.f32 += off * re;
        tail.labels += off;
        copy_rows(&tail, srcs, n_srcs, held, nh);
    } else {
        eb_dataset_free(train);
        eb_dataset_free(test);
    }
    free(normal);
    free(held);
    return st;
}
